/*
 * The framed connection (fconn.h): state and the event plumbing.
 *
 * Every event handler takes a reference for its duration and ends with
 * settle(), which does the follow-up work in one place: handling input
 * that became wanted again, closing a connection that is done, telling
 * the owner it closed, and (re)arming the fd events. API calls made from
 * outside a handler (a release, a resume) only poke the `kick` event,
 * so that the owner's hooks never run inside the owner's own calls.
 */
#include "fconn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "frame.h"

/* Frames smaller than this are copied into the output queue; larger ones
 * (a get, an upload's reply) are queued by reference, not copied. */
#define COPY_BELOW (16u * 1024)

struct pt_fconn {
	struct event_base *base;
	int fd;
	const pt_fconn_transport *tr;
	void *t;
	struct event *rev, *wev;
	bool rev_on, wev_on;
	struct event *idle;      /* idle_ms without input or work */
	struct event *wtimer;    /* write_timeout_ms without progress */
	struct event *kick;      /* deferred settle() */
	struct event *resume;    /* the held frame, next turn */
	struct evbuffer *out;
	pt_frame_reader in;
	pt_fconn_params p;
	pt_fconn_ops ops;
	void *ctx;

	int refs;                /* holders other than the owner */
	bool owned;              /* pt_fconn_free not called yet */
	bool released;           /* `released` ran */
	int held_ops;            /* pt_fconn_hold */
	bool paused;             /* pt_fconn_pause */
	bool closing;            /* close once flushed */
	bool backpressure;       /* output above pause_out, not yet drained */
	bool rd_eof;             /* the transport gave end of input */
	bool in_over;            /* no further input is handled */
	bool read_wants_write;   /* the transport's last read */
	bool write_wants_read;   /* the transport's last write */

	bool dead;               /* transport closed */
	bool reported;           /* `closed` ran (or the owner freed) */
	pt_fconn_reason reason;
	char why[128];

	bool streaming;
	bool stream_close_pending; /* dead: close hook once refs are 0 */
	pt_fconn_stream st;
	bool held;               /* the stream's frame, handed again later */
	bool held_end;
	const uint8_t *held_p;
	size_t held_n;
};

static const struct timeval zero_tv = {0, 0};

static struct timeval
ms_tv(int64_t ms)
{
	struct timeval tv = {(time_t)(ms / 1000),
	    (suseconds_t)(ms % 1000) * 1000};
	return tv;
}

/* ---- the plain socket ---- */

static ssize_t
plain_read(void *t, uint8_t *p, size_t n, pt_fconn_want *want)
{
	*want = PT_FCONN_WANT_READ;
	return read((int)(intptr_t)t, p, n);
}

static ssize_t
plain_write(void *t, const uint8_t *p, size_t n, pt_fconn_want *want)
{
	*want = PT_FCONN_WANT_WRITE;
	int fd = (int)(intptr_t)t;
	/* MSG_NOSIGNAL: a peer gone is an error here, not a SIGPIPE. */
	ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
	if (r < 0 && errno == ENOTSOCK)
		r = write(fd, p, n);
	return r;
}

static void
plain_close(void *t)
{
	close((int)(intptr_t)t);
}

const pt_fconn_transport pt_fconn_plain = {
	.read = plain_read,
	.write = plain_write,
	.pending = NULL,
	.close = plain_close,
};

/* ---- lifetime ---- */

static void
finish_free(pt_fconn *c)
{
	event_free(c->rev);
	event_free(c->wev);
	event_free(c->idle);
	event_free(c->wtimer);
	event_free(c->kick);
	event_free(c->resume);
	evbuffer_free(c->out);
	pt_frame_reader_free(&c->in);
	free(c);
}

/* Runs the stream's close hook (once), now. */
static void
stream_close_now(pt_fconn *c)
{
	if (!c->streaming && !c->stream_close_pending)
		return;
	c->streaming = false;
	c->stream_close_pending = false;
	c->held = false;
	pt_fconn_stream st = c->st;
	memset(&c->st, 0, sizeof(c->st));
	if (st.close != NULL) {
		/* The hook may grab and drop the connection itself. */
		c->refs++;
		st.close(c, st.ctx);
		c->refs--;
	}
}

/* Frees the struct once nobody can reach it: the owner is done and no
 * reference is left (a stream of a dead connection is closed first). */
static void
maybe_free(pt_fconn *c)
{
	if (c->refs > 0)
		return;
	if (c->dead && c->stream_close_pending) {
		stream_close_now(c);
		if (c->refs > 0)
			return;
	}
	if (c->owned)
		return;
	if (!c->released) {
		c->released = true;
		if (c->ops.released != NULL) {
			c->refs++;
			c->ops.released(c, c->ctx);
			c->refs--;
			if (c->refs > 0)
				return;
		}
	}
	finish_free(c);
}

void
pt_fconn_ref(pt_fconn *c)
{
	c->refs++;
}

void
pt_fconn_unref(pt_fconn *c)
{
	c->refs--;
	maybe_free(c);
}

/* ---- events ---- */

static size_t
queued(const pt_fconn *c)
{
	return c->out != NULL ? evbuffer_get_length(c->out) : 0;
}

/* Backpressure, with hysteresis: on above pause_out, off below
 * low_water. */
static bool
output_blocks_input(pt_fconn *c)
{
	size_t q = queued(c);
	if (q > c->p.pause_out)
		c->backpressure = true;
	else if (q < c->p.low_water)
		c->backpressure = false;
	return c->backpressure;
}

/* Input is handled now (frames already buffered, or new ones). A
 * stream is not held back by its output: a producer bounds that itself,
 * and what the peer sends meanwhile only ends the stream, which must be
 * seen (a dump holds its device until then). */
static bool
input_wanted(pt_fconn *c)
{
	return !c->dead && !c->closing && !c->paused && c->held_ops == 0 &&
	    !c->held && !c->in_over &&
	    (c->streaming || !output_blocks_input(c));
}

static void
set_event(struct event *ev, bool *on, bool want)
{
	if (want && !*on)
		*on = event_add(ev, NULL) == 0;
	else if (!want && *on) {
		event_del(ev);
		*on = false;
	}
}

/* Registers exactly the fd readiness the connection waits for. */
static void
update_events(pt_fconn *c)
{
	bool rd = input_wanted(c) && !c->rd_eof;
	bool wr = !c->dead && queued(c) > 0;
	set_event(c->rev, &c->rev_on, (rd && !c->read_wants_write) ||
	    (wr && c->write_wants_read));
	set_event(c->wev, &c->wev_on, (wr && !c->write_wants_read) ||
	    (rd && c->read_wants_write));
}

static void
poke(pt_fconn *c)
{
	if (c->kick != NULL)
		evtimer_add(c->kick, &zero_tv);
}

/* The transport goes now; the owner is told by settle() (or the kick),
 * not from inside whatever call found the failure. */
static void
shut(pt_fconn *c, pt_fconn_reason reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
shut(pt_fconn *c, pt_fconn_reason reason, const char *fmt, ...)
{
	if (c->dead)
		return;
	c->dead = true;
	c->reason = reason;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
	if (c->streaming) {
		c->streaming = false;
		c->stream_close_pending = true;
	}
	c->held = false;  /* it pointed into the reader freed below */
	set_event(c->rev, &c->rev_on, false);
	set_event(c->wev, &c->wev_on, false);
	evtimer_del(c->idle);
	evtimer_del(c->wtimer);
	evtimer_del(c->resume);
	c->tr->close(c->t);
	c->fd = -1;
	pt_frame_reader_free(&c->in);
	evbuffer_drain(c->out, evbuffer_get_length(c->out));
	if (c->refs == 0)
		stream_close_now(c);
	poke(c);
}

static void
report(pt_fconn *c)
{
	if (!c->dead || c->reported)
		return;
	c->reported = true;
	if (c->ops.closed != NULL)
		c->ops.closed(c, c->why, c->ctx);
}

/* ---- output ---- */

static void
write_timer_arm(pt_fconn *c)
{
	if (c->p.write_timeout_ms <= 0)
		return;
	struct timeval tv = ms_tv(c->p.write_timeout_ms);
	evtimer_add(c->wtimer, &tv);
}

/* Writes what the transport takes now; the rest when the fd is ready.
 * Output that waits starts the write timeout; any progress restarts it. */
static void
flush(pt_fconn *c)
{
	bool progress = false;
	while (!c->dead && queued(c) > 0) {
		struct evbuffer_iovec v;
		if (evbuffer_peek(c->out, -1, NULL, &v, 1) < 1)
			break;
		pt_fconn_want want = PT_FCONN_WANT_WRITE;
		ssize_t n = c->tr->write(c->t, v.iov_base, v.iov_len, &want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			c->write_wants_read = want == PT_FCONN_WANT_READ;
			if (progress || !evtimer_pending(c->wtimer, NULL))
				write_timer_arm(c);
			break;
		}
		if (n <= 0) {
			shut(c, PT_FCONN_IO_ERROR, "%s", n < 0 ?
			    strerror(errno) : "the transport wrote nothing");
			return;
		}
		c->write_wants_read = false;
		evbuffer_drain(c->out, (size_t)n);
		progress = true;
	}
	if (c->dead)
		return;
	if (queued(c) == 0)
		evtimer_del(c->wtimer);
	update_events(c);
}

static int
queue_checked(pt_fconn *c, size_t len)
{
	if (c->dead)
		return -1;
	if (c->p.max_out > 0 && queued(c) + len > c->p.max_out)
		return -1;
	return 0;
}

static void
free_ref(const void *data, size_t len, void *extra)
{
	(void)len;
	(void)extra;
	free((void *)(uintptr_t)data);
}

int
pt_fconn_send_buf(pt_fconn *c, pt_buf *b)
{
	int rc = -1;
	if (b->oom || b->len < 4 || queue_checked(c, b->len) < 0)
		goto out;
	if (b->len < COPY_BELOW) {
		rc = evbuffer_add(c->out, b->data, b->len);
	} else {
		rc = evbuffer_add_reference(c->out, b->data, b->len,
		    free_ref, NULL);
		if (rc == 0)
			*b = (pt_buf){0};  /* the queue owns the memory */
	}
	if (rc == 0)
		flush(c);
out:
	pt_buf_free(b);
	return rc < 0 ? -1 : 0;
}

int
pt_fconn_send(pt_fconn *c, const uint8_t *body, size_t len)
{
	pt_buf b = {0};
	if (len > INT32_MAX || pt_frame_append(&b, body, len) < 0) {
		pt_buf_free(&b);
		return -1;
	}
	return pt_fconn_send_buf(c, &b);
}

int
pt_fconn_send_wire(pt_fconn *c, const pt_wire *w)
{
	static const uint8_t prefix[4];
	pt_buf b = {0};
	pt_err err;
	if (pt_buf_append(&b, prefix, sizeof(prefix)) < 0 ||
	    pt_wire_encode(w, &b, &err) < 0 || b.len - 4 > INT32_MAX) {
		pt_buf_free(&b);
		return -1;
	}
	size_t len = b.len - 4;
	b.data[0] = (uint8_t)(len >> 24);
	b.data[1] = (uint8_t)(len >> 16);
	b.data[2] = (uint8_t)(len >> 8);
	b.data[3] = (uint8_t)len;
	return pt_fconn_send_buf(c, &b);
}

/* ---- input ---- */

/* No further input is handled: a consumer stream is cut, anything else
 * finishes first (settle closes once there is nothing left to do). */
static void
input_over(pt_fconn *c)
{
	c->in_over = true;
	c->rd_eof = true;
	if (c->streaming && c->st.frame != NULL)
		shut(c, PT_FCONN_CUT, "peer closed during a transfer");
}

static void
hold_frame(pt_fconn *c, const uint8_t *p, size_t n, bool end)
{
	c->held = true;
	c->held_p = p;
	c->held_n = n;
	c->held_end = end;
	/* A zero timeout runs after the next poll for I/O, so every other
	 * connection gets its turn first. */
	evtimer_add(c->resume, &zero_tv);
}

static void
deliver(pt_fconn *c, pt_frame_status st, const uint8_t *body, size_t len)
{
	bool end = st == PT_FRAME_END;
	if (c->streaming && c->st.frame != NULL) {
		if (end) {
			body = NULL;
			len = 0;
		}
		if (c->st.frame(c, body, len, end, c->st.ctx) > 0 &&
		    !c->dead && c->streaming)
			hold_frame(c, body, len, end);
	} else if (end && c->ops.end != NULL) {
		c->ops.end(c, c->ctx);
	} else if (end) {
		/* The end marker ends the conversation (spec 2): what is
		 * queued is still delivered. */
		pt_fconn_close_when_flushed(c);
	} else if (c->ops.frame != NULL) {
		c->ops.frame(c, body, len, c->ctx);
	}
}

/* Hands out the frames buffered while input is wanted. */
static void
process(pt_fconn *c)
{
	while (input_wanted(c)) {
		const uint8_t *body;
		size_t len;
		pt_frame_status st = pt_frame_reader_next(&c->in, &body, &len);
		if (st == PT_FRAME_NEED_MORE) {
			if (c->rd_eof)
				input_over(c);
			return;
		}
		if (st == PT_FRAME_TOO_BIG) {
			shut(c, PT_FCONN_TOO_BIG, "frame larger than %zu bytes",
			    c->in.max_frame);
			return;
		}
		if (st == PT_FRAME_NOMEM) {
			shut(c, PT_FCONN_NOMEM, "out of memory");
			return;
		}
		deliver(c, st, body, len);
	}
}

static void
do_read(pt_fconn *c)
{
	size_t avail;
	uint8_t *space = pt_frame_reader_space(&c->in, &avail);
	if (space == NULL) {
		shut(c, PT_FCONN_NOMEM, "out of memory");
		return;
	}
	pt_fconn_want want = PT_FCONN_WANT_READ;
	ssize_t n = c->tr->read(c->t, space, avail, &want);
	if (n > 0) {
		c->read_wants_write = false;
		pt_frame_reader_commit(&c->in, (size_t)n);
		if (c->p.idle_ms > 0) {
			struct timeval tv = ms_tv(c->p.idle_ms);
			evtimer_add(c->idle, &tv);
		}
	} else if (n == 0) {
		c->rd_eof = true;
	} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
		c->read_wants_write = want == PT_FCONN_WANT_WRITE;
	} else if (errno != EINTR) {
		shut(c, PT_FCONN_IO_ERROR, "%s", strerror(errno));
		return;
	}
	process(c);
}

/* Nothing in progress: no operation, stream, held frame or output. */
static bool
quiescent(const pt_fconn *c)
{
	return c->held_ops == 0 && !c->paused && !c->streaming && !c->held &&
	    queued(c) == 0;
}

/* The follow-up of every handler (see the top of the file). */
static void
settle(pt_fconn *c)
{
	if (!c->dead && input_wanted(c))
		process(c);
	if (!c->dead && c->closing && queued(c) == 0 && c->held_ops == 0)
		shut(c, PT_FCONN_DONE, "done");
	else if (!c->dead && c->in_over && quiescent(c))
		shut(c, PT_FCONN_PEER_CLOSED, "peer closed");
	if (c->dead) {
		report(c);
		return;
	}
	update_events(c);
	/* Input the transport holds already announces itself by no fd
	 * event. */
	if (c->tr->pending != NULL && input_wanted(c) && !c->rd_eof &&
	    c->tr->pending(c->t) > 0)
		event_active(c->rev, EV_READ, 0);
}

static void
on_read(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pt_fconn *c = arg;
	pt_fconn_ref(c);
	if (!c->dead && c->write_wants_read)
		flush(c);
	if (input_wanted(c) && !c->rd_eof && !c->read_wants_write)
		do_read(c);
	settle(c);
	pt_fconn_unref(c);
}

static void
on_write(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pt_fconn *c = arg;
	pt_fconn_ref(c);
	if (input_wanted(c) && !c->rd_eof && c->read_wants_write)
		do_read(c);
	if (!c->dead && !c->write_wants_read)
		flush(c);
	if (!c->dead && c->streaming && c->st.drain != NULL &&
	    queued(c) < c->p.low_water)
		c->st.drain(c, c->st.ctx);
	settle(c);
	pt_fconn_unref(c);
}

/* Busy (not idle): an operation, a held frame, output waiting, closing,
 * or a stream that does not wait for input. */
static bool
busy(const pt_fconn *c)
{
	return c->held_ops > 0 || c->paused || c->held || queued(c) > 0 ||
	    c->closing || (c->streaming && (c->st.drain != NULL ||
	    c->st.frame == NULL));
}

static void
on_idle(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pt_fconn *c = arg;
	pt_fconn_ref(c);
	if (busy(c)) {
		struct timeval tv = ms_tv(c->p.idle_ms);
		evtimer_add(c->idle, &tv);
	} else {
		shut(c, PT_FCONN_IDLE, "idle for %lld ms",
		    (long long)c->p.idle_ms);
	}
	settle(c);
	pt_fconn_unref(c);
}

/* Output has waited write_timeout_ms without the peer taking any: a peer
 * that sends a command and never reads would otherwise hold its slot,
 * its output and whatever its request locked, forever. */
static void
on_write_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pt_fconn *c = arg;
	pt_fconn_ref(c);
	shut(c, PT_FCONN_WRITE_TIMEOUT, "took none of its %zu waiting bytes "
	    "for %lld ms", queued(c), (long long)c->p.write_timeout_ms);
	settle(c);
	pt_fconn_unref(c);
}

static void
on_kick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pt_fconn *c = arg;
	pt_fconn_ref(c);
	settle(c);
	pt_fconn_unref(c);
}

/* The stream's next piece of work on the held frame; input resumes when
 * it is done with it. */
static void
on_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pt_fconn *c = arg;
	pt_fconn_ref(c);
	if (!c->dead && c->held && c->streaming && c->st.frame != NULL &&
	    c->st.frame(c, c->held_p, c->held_n, c->held_end,
	    c->st.ctx) > 0 && !c->dead && c->streaming)
		evtimer_add(c->resume, &zero_tv);
	else
		c->held = false;
	settle(c);
	pt_fconn_unref(c);
}

/* ---- the connection ---- */

static void
params_defaults(pt_fconn_params *p)
{
	if (p->max_frame == 0)
		p->max_frame = PT_FRAME_DEFAULT_MAX;
	if (p->pause_out == 0)
		p->pause_out = PT_FCONN_PAUSE_OUT_DEFAULT;
	if (p->low_water == 0 || p->low_water > p->pause_out)
		p->low_water = p->pause_out / 2;
}

pt_fconn *
pt_fconn_open(struct event_base *base, int fd, const pt_fconn_transport *tr,
    void *t, const pt_fconn_params *p, const pt_fconn_ops *ops, void *ctx)
{
	if (tr == NULL) {
		tr = &pt_fconn_plain;
		t = (void *)(intptr_t)fd;
	}
	pt_fconn *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		tr->close(t);
		return NULL;
	}
	c->base = base;
	c->fd = fd;
	c->tr = tr;
	c->t = t;
	c->p = *p;
	params_defaults(&c->p);
	c->ops = *ops;
	c->ctx = ctx;
	c->owned = true;
	pt_frame_reader_init(&c->in, c->p.max_frame);
	c->out = evbuffer_new();
	c->rev = event_new(base, fd, EV_READ | EV_PERSIST, on_read, c);
	c->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, on_write, c);
	c->idle = evtimer_new(base, on_idle, c);
	c->wtimer = evtimer_new(base, on_write_timeout, c);
	c->kick = evtimer_new(base, on_kick, c);
	c->resume = evtimer_new(base, on_resume, c);
	struct timeval idle_tv = ms_tv(c->p.idle_ms);
	if (c->out == NULL || c->rev == NULL || c->wev == NULL ||
	    c->idle == NULL || c->wtimer == NULL || c->kick == NULL ||
	    c->resume == NULL || (c->p.idle_ms > 0 &&
	    evtimer_add(c->idle, &idle_tv) < 0)) {
		struct event *evs[] = {c->rev, c->wev, c->idle, c->wtimer,
		    c->kick, c->resume};
		for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
			if (evs[i] != NULL)
				event_free(evs[i]);
		if (c->out != NULL)
			evbuffer_free(c->out);
		tr->close(t);
		free(c);
		return NULL;
	}
	update_events(c);
	return c;
}

pt_fconn *
pt_fconn_new(struct event_base *base, int fd, size_t max_frame,
    size_t max_out, const pt_fconn_ops *ops, void *ctx)
{
	pt_fconn_params p = {.max_frame = max_frame, .max_out = max_out};
	return pt_fconn_open(base, fd, NULL, NULL, &p, ops, ctx);
}

void
pt_fconn_free(pt_fconn *c)
{
	if (c == NULL)
		return;
	c->reported = true;  /* the owner knows: no `closed` */
	shut(c, PT_FCONN_ABORTED, "closed by its owner");
	c->owned = false;
	maybe_free(c);
}

void
pt_fconn_hold(pt_fconn *c)
{
	c->refs++;
	c->held_ops++;
	update_events(c);
}

void
pt_fconn_release(pt_fconn *c)
{
	c->held_ops--;
	if (!c->dead)
		poke(c);  /* the next command, or the close */
	pt_fconn_unref(c);
}

void
pt_fconn_pause(pt_fconn *c)
{
	c->paused = true;
	update_events(c);
}

void
pt_fconn_resume(pt_fconn *c)
{
	if (c->dead || !c->paused)
		return;
	c->paused = false;
	/* Frames that arrived with the last read may already be buffered. */
	poke(c);
}

void
pt_fconn_close_when_flushed(pt_fconn *c)
{
	if (c->dead)
		return;
	c->closing = true;
	stream_close_now(c);
	if (queued(c) == 0 && c->held_ops == 0) {
		pt_fconn_ref(c);
		shut(c, PT_FCONN_DONE, "done");
		report(c);
		pt_fconn_unref(c);
		return;
	}
	update_events(c);
}

void
pt_fconn_abort(pt_fconn *c, const char *why)
{
	pt_fconn_ref(c);
	shut(c, PT_FCONN_ABORTED, "%s", why);
	report(c);
	pt_fconn_unref(c);
}

/* ---- streams ---- */

void
pt_fconn_set_stream(pt_fconn *c, const pt_fconn_stream *s)
{
	/* Whoever replaces a stream is done with the old one. */
	stream_close_now(c);
	c->st = *s;
	if (c->dead) {
		/* The peer went before the stream began (a reply failed):
		 * nothing would ever close it otherwise. */
		c->stream_close_pending = true;
		if (c->refs == 0)
			stream_close_now(c);
		return;
	}
	c->streaming = true;
	update_events(c);
}

void
pt_fconn_stream_end(pt_fconn *c)
{
	/* A stream cut with the connection ends now too: the caller is done
	 * with it. */
	if (!c->streaming && !c->stream_close_pending)
		return;
	stream_close_now(c);
	if (!c->dead)
		poke(c);  /* input may be wanted again, or the end is due */
}

bool
pt_fconn_streaming(const pt_fconn *c)
{
	return c->streaming;
}

void
pt_fconn_continue_later(pt_fconn *c, const uint8_t *p, size_t n, bool end)
{
	if (c->dead || !c->streaming)
		return;
	hold_frame(c, p, n, end);
	update_events(c);
}

void
pt_fconn_set_idle_timeout(pt_fconn *c, int64_t ms)
{
	c->p.idle_ms = ms;
	if (c->dead || ms <= 0) {
		evtimer_del(c->idle);
		return;
	}
	struct timeval tv = ms_tv(ms);
	evtimer_add(c->idle, &tv);
}

/* ---- state ---- */

bool
pt_fconn_is_closed(const pt_fconn *c)
{
	return c->dead;
}

pt_fconn_reason
pt_fconn_close_reason(const pt_fconn *c)
{
	return c->reason;
}

bool
pt_fconn_input_ended(const pt_fconn *c)
{
	return c->rd_eof || c->in_over;
}

size_t
pt_fconn_queued(const pt_fconn *c)
{
	return queued(c);
}

int
pt_fconn_fd(const pt_fconn *c)
{
	return c->fd;
}
