/*
 * One client connection: frames in (pt_frame_reader), replies out (a
 * pt_buf flushed on EV_WRITE). A frame that does not decode is not answered
 * (spec 8.1): the connection is logged and closed.
 *
 * Lifetime: holders (the event callbacks while they run, and asynchronous
 * operations such as a destroy waiting for the process to exit) keep a
 * reference. If the peer goes away meanwhile the socket is closed at once,
 * but the struct stays until the last reference is dropped, so an operation
 * can complete and reply into the void without touching freed memory.
 * While an operation is pending no further command is read.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/event.h>

#include "petreld.h"

/* Decoded messages may not take more than this (a create refers to the
 * image inside the frame, so its arena stays small). */
#define DECODE_ARENA_LIMIT (64u * 1024 * 1024)
/* Streams refill the output below this many pending bytes. */
#define OUT_LOW_WATER (256u * 1024)
/* A client that sends nothing for this long (no command, a stalled
 * upload) is dropped: it would hold a connection slot, and a stalled
 * upload keeps its block device locked. */
#define IDLE_TIMEOUT_S 120

static void
conn_unlink(pt_conn *c)
{
	pt_daemon *d = c->d;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else if (d->conns == c)
		d->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->next = c->prev = NULL;
	d->nconns--;
	if (d->server != NULL)
		pt_server_conn_closed(d->server);
}

/* Runs the stream's close hook (once), now. */
static void
stream_close(pt_conn *c)
{
	if (!c->streaming && !c->stream_close_pending)
		return;
	c->streaming = false;
	c->stream_close_pending = false;
	if (c->stream.on_close != NULL)
		c->stream.on_close(c);
}

/* Closes the socket and everything attached to it; the struct itself
 * lives on until the last reference is dropped. A stream stops at once
 * (streaming is false), but its close hook waits for the holders: one of
 * them may be the stream's own producer, in the middle of a send that
 * just failed, still using the state the hook frees. */
static void
conn_shutdown(pt_conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	if (c->streaming) {
		c->streaming = false;
		c->stream_close_pending = true;
	}
	if (c->refs == 0)
		stream_close(c);
	event_free(c->rev);
	event_free(c->wev);
	event_free(c->idle);
	event_free(c->wtimer);
	event_free(c->resume);
	c->rev = c->wev = c->idle = c->wtimer = c->resume = NULL;
	c->held = false;  /* it pointed into the reader freed below */
	close(c->fd);
	c->fd = -1;
	pt_frame_reader_free(&c->rd);
	pt_buf_free(&c->out);
	c->out_off = 0;
	conn_unlink(c);
}

static void
conn_ref(pt_conn *c)
{
	c->refs++;
}

/* Drops a reference; closes a connection that is done (its reply flushed)
 * and frees the struct when nobody holds it. */
static void
conn_unref(pt_conn *c)
{
	c->refs--;
	if (!c->dead && c->closing && c->out_off >= c->out.len &&
	    c->ops == 0)
		conn_shutdown(c);
	if (c->refs == 0 && c->dead) {
		/* The hook may grab and drop the connection itself. */
		c->refs++;
		stream_close(c);
		c->refs--;
		if (c->refs == 0)
			free(c);
	}
}

size_t
conn_out_pending(const pt_conn *c)
{
	return c->out.len - c->out_off;
}

/* (Re)starts the wait for the peer to take some of its output. */
static void
write_timer_arm(pt_conn *c)
{
	int64_t ms = c->d->o.write_timeout_ms;
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) *
	    1000};
	evtimer_add(c->wtimer, &tv);
}

/* Writes what the socket takes now; the rest on EV_WRITE. Output that
 * waits starts the write timeout; any progress restarts it. */
static void
conn_flush(pt_conn *c)
{
	bool progress = false;
	while (!c->dead && c->out_off < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->out_off,
		    c->out.len - c->out_off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				event_add(c->wev, NULL);
				if (progress || !evtimer_pending(c->wtimer,
				    NULL))
					write_timer_arm(c);
				return;
			}
			log_debug("connection: send: %s", strerror(errno));
			conn_shutdown(c);
			return;
		}
		c->out_off += (size_t)n;
		progress = true;
	}
	if (c->dead)
		return;
	pt_buf_reset(&c->out);
	c->out_off = 0;
	event_del(c->wev);
	evtimer_del(c->wtimer);
}

static void
on_write(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pt_conn *c = arg;
	conn_ref(c);
	conn_flush(c);
	if (!c->dead && c->streaming && c->stream.on_drain != NULL &&
	    conn_out_pending(c) < OUT_LOW_WATER)
		c->stream.on_drain(c);
	conn_unref(c);
}

static void
handle_command(pt_conn *c, const uint8_t *body, size_t len)
{
	pt_arena a = {.limit = DECODE_ARENA_LIMIT};
	pt_wire w;
	pt_err err = {{0}};
	if (pt_wire_decode(body, len, &a, &w, &err) < 0) {
		log_warn("undecodable frame (%zu bytes), closing: %s", len,
		    err.msg);
		conn_shutdown(c);
	} else if (w.kind != PT_PAYLOAD_COMMAND) {
		log_warn("%s: a reply or data instead of a command, closing",
		    w.header.name.text);
		conn_shutdown(c);
	} else {
		vmm_dispatch(c, &w);
	}
	pt_arena_free(&a);
}

/* Handles buffered frames while the connection wants input. */
static void
conn_process(pt_conn *c)
{
	while (!c->dead && !c->closing && c->ops == 0 && !c->held) {
		const uint8_t *body;
		size_t len;
		pt_frame_status st = pt_frame_reader_next(&c->rd, &body, &len);
		if (st == PT_FRAME_NEED_MORE)
			return;
		if (st == PT_FRAME_TOO_BIG) {
			log_warn("frame larger than %zu bytes, closing",
			    c->rd.max_frame);
			conn_shutdown(c);
			return;
		}
		if (st == PT_FRAME_NOMEM) {
			log_err("out of memory reading a frame, closing");
			conn_shutdown(c);
			return;
		}
		if (c->streaming && c->stream.on_frame == NULL) {
			/* A dump has nothing to read from its client. */
			log_warn("%s: a frame from the client during a transfer "
			    "that takes none, closing", c->cmd != NULL ? c->cmd :
			    "stream");
			conn_shutdown(c);
			return;
		}
		if (c->streaming) {
			bool end = st == PT_FRAME_END;
			if (end) {
				body = NULL;
				len = 0;
			}
			if (c->stream.on_frame(c, body, len, end) > 0)
				conn_continue_later(c, body, len, end);
			continue;
		}
		if (st == PT_FRAME_END) {
			/* The client ended the conversation. */
			conn_shutdown(c);
			return;
		}
		handle_command(c, body, len);
	}
}

static void
on_read(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	pt_conn *c = arg;
	conn_ref(c);
	if (c->ops > 0 || c->closing || c->held) {
		/* Not reading now; resumed by conn_release. */
		event_del(c->rev);
		conn_unref(c);
		return;
	}
	size_t avail;
	uint8_t *space = pt_frame_reader_space(&c->rd, &avail);
	if (space == NULL) {
		log_err("out of memory reading a frame, closing");
		conn_shutdown(c);
		conn_unref(c);
		return;
	}
	ssize_t n = read(fd, space, avail);
	if (n > 0) {
		struct timeval tv = {IDLE_TIMEOUT_S, 0};
		evtimer_add(c->idle, &tv);
		pt_frame_reader_commit(&c->rd, (size_t)n);
	} else if (n == 0) {
		/* EOF: a frame cut short is an error (spec 2); a stream that
		 * is cut is handled by its close hook. */
		if (pt_frame_reader_pending(&c->rd) > 0)
			log_debug("connection closed mid-frame");
		conn_shutdown(c);
	} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		log_debug("connection: read: %s", strerror(errno));
		conn_shutdown(c);
	}
	conn_process(c);
	conn_unref(c);
}

static void
on_idle(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pt_conn *c = arg;
	/* Busy with an operation or an upload, or sending (output that
	 * waits has its own, write timeout): not idle. */
	if (c->ops > 0 || c->held || conn_out_pending(c) > 0 ||
	    (c->streaming && c->stream.on_drain != NULL)) {
		struct timeval tv = {IDLE_TIMEOUT_S, 0};
		evtimer_add(c->idle, &tv);
		return;
	}
	log_info("closing a connection idle for %d s", IDLE_TIMEOUT_S);
	conn_ref(c);
	conn_shutdown(c);
	conn_unref(c);
}

/* The stream's next piece of work on held input; reading resumes when
 * it is done with it. */
static void
on_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pt_conn *c = arg;
	conn_ref(c);
	if (!c->dead && c->held && c->streaming &&
	    c->stream.on_frame != NULL &&
	    c->stream.on_frame(c, c->held_p, c->held_n, c->held_end) > 0 &&
	    !c->dead && c->streaming) {
		static const struct timeval now = {0, 0};
		evtimer_add(c->resume, &now);
	} else if (!c->dead) {
		c->held = false;
		if (!c->closing && c->ops == 0) {
			event_add(c->rev, NULL);
			conn_process(c);
		}
	}
	conn_unref(c);
}

/* Output has waited write_timeout_ms without the peer taking any: a
 * client that sends a command and never reads would otherwise hold its
 * slot, its output and (for a dump) the device forever. */
static void
on_write_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pt_conn *c = arg;
	log_warn("%s: closing a connection that took none of its %zu "
	    "waiting bytes for %lld ms", c->cmd != NULL ? c->cmd : "client",
	    conn_out_pending(c), (long long)c->d->o.write_timeout_ms);
	conn_ref(c);
	conn_shutdown(c);
	conn_unref(c);
}

void
conn_accepted(pt_daemon *d, int fd)
{
	pt_conn *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		log_err("out of memory accepting a connection");
		close(fd);
		pt_server_conn_closed(d->server);
		return;
	}
	c->d = d;
	c->fd = fd;
	pt_frame_reader_init(&c->rd, d->o.max_frame);
	c->rev = event_new(d->base, fd, EV_READ | EV_PERSIST, on_read, c);
	c->wev = event_new(d->base, fd, EV_WRITE | EV_PERSIST, on_write, c);
	c->idle = evtimer_new(d->base, on_idle, c);
	c->wtimer = evtimer_new(d->base, on_write_timeout, c);
	c->resume = evtimer_new(d->base, on_resume, c);
	struct timeval tv = {IDLE_TIMEOUT_S, 0};
	if (c->rev == NULL || c->wev == NULL || c->idle == NULL ||
	    c->wtimer == NULL || c->resume == NULL ||
	    event_add(c->rev, NULL) < 0 ||
	    evtimer_add(c->idle, &tv) < 0) {
		log_err("cannot watch a new connection");
		if (c->rev != NULL)
			event_free(c->rev);
		if (c->wev != NULL)
			event_free(c->wev);
		if (c->idle != NULL)
			event_free(c->idle);
		if (c->wtimer != NULL)
			event_free(c->wtimer);
		if (c->resume != NULL)
			event_free(c->resume);
		pt_frame_reader_free(&c->rd);
		close(fd);
		free(c);
		pt_server_conn_closed(d->server);
		return;
	}
	c->next = d->conns;
	if (d->conns != NULL)
		d->conns->prev = c;
	d->conns = c;
	d->nconns++;
	/* refs counts temporary holders only: an open socket keeps the
	 * struct alive by itself (freed once dead and unreferenced). */
}

/* Encodes one message straight into the output, behind a length prefix
 * patched afterwards: a large reply (a get) is not copied once more. On
 * failure the output is as it was. */
static int
append_frame(pt_conn *c, const pt_wire *w, pt_err *err)
{
	static const uint8_t prefix[4];
	size_t mark = c->out.len;
	if (pt_buf_append(&c->out, prefix, sizeof(prefix)) < 0)
		return pt_fail(err, "out of memory");
	if (pt_wire_encode(w, &c->out, err) < 0) {
		if (!c->out.oom)
			c->out.len = mark;
		return -1;
	}
	size_t len = c->out.len - mark - sizeof(prefix);
	if (len > INT32_MAX) {
		c->out.len = mark;
		return pt_fail(err, "%zu bytes do not fit a frame", len);
	}
	uint8_t *p = c->out.data + mark;
	p[0] = (uint8_t)(len >> 24);
	p[1] = (uint8_t)(len >> 16);
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	return 0;
}

static void
conn_append_wire(pt_conn *c, const pt_wire *w)
{
	if (c->dead)
		return;
	pt_err err = {{0}};
	if (append_frame(c, w, &err) < 0 && !c->out.oom) {
		/* Our own reply does not encode: say so rather than hang. */
		log_err("%s: cannot encode reply: %s", w->header.name.text,
		    err.msg);
		pt_wire f = {.header = w->header, .kind = PT_PAYLOAD_FAILURE};
		char msg[300];
		snprintf(msg, sizeof(msg), "internal error: cannot encode "
		    "reply: %s", err.msg);
		f.u.failure.s = msg;
		f.u.failure.len = strlen(msg);
		if (append_frame(c, &f, &err) < 0 && !c->out.oom) {
			conn_shutdown(c);
			return;
		}
	}
	if (c->out.oom) {
		log_err("out of memory queueing a reply");
		conn_shutdown(c);
		return;
	}
	conn_flush(c);
}

void
conn_send_wire(pt_conn *c, const pt_wire *w)
{
	conn_append_wire(c, w);
}

void
conn_reply(pt_conn *c, const pt_header *h, const pt_success *s)
{
	pt_wire w = {.header = *h, .kind = PT_PAYLOAD_SUCCESS};
	w.u.success = *s;
	conn_append_wire(c, &w);
}

void
conn_reply_string(pt_conn *c, const pt_header *h, const char *text)
{
	pt_success s = {.kind = PT_OK_STRING};
	s.u.string.s = text;
	s.u.string.len = strlen(text);
	conn_reply(c, h, &s);
}

static void
send_failure(pt_conn *c, const pt_header *h, const char *msg)
{
	log_info("%s: failure: %s", h->name.text, msg);
	pt_wire w = {.header = *h, .kind = PT_PAYLOAD_FAILURE};
	w.u.failure.s = msg;
	w.u.failure.len = strlen(msg);
	conn_append_wire(c, &w);
}

void
conn_reply_failure(pt_conn *c, const pt_header *h, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pt_utf8_trim_tail(msg);  /* a cut message must still encode */
	send_failure(c, h, msg);
}

void
conn_refuse(pt_conn *c, const pt_header *h, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pt_utf8_trim_tail(msg);  /* a cut message must still encode */
	send_failure(c, h, msg);
	ev_refused(c->d, &h->name, c->cmd != NULL ? c->cmd : "unknown", msg);
}

void
conn_send_data(pt_conn *c, const pt_header *h, const pt_data *dt)
{
	pt_wire w = {.header = *h, .kind = PT_PAYLOAD_DATA};
	w.u.data = *dt;
	conn_append_wire(c, &w);
}

void
conn_finish(pt_conn *c, bool keep_open)
{
	if (c->dead)
		return;
	stream_close(c);
	if (!keep_open) {
		c->closing = true;
		conn_ref(c);
		conn_unref(c); /* closes now if already flushed */
	}
}

void
conn_hold(pt_conn *c)
{
	conn_ref(c);
	c->ops++;
}

void
conn_release(pt_conn *c)
{
	c->ops--;
	if (!c->dead && !c->closing && c->ops == 0) {
		/* Read the next command (buffered or still to come). */
		event_add(c->rev, NULL);
		event_active(c->rev, EV_READ, 0);
	}
	conn_unref(c);
}

void
conn_grab(pt_conn *c)
{
	conn_ref(c);
}

void
conn_drop(pt_conn *c)
{
	conn_unref(c);
}

void
conn_abort(pt_conn *c)
{
	conn_ref(c);
	conn_shutdown(c);
	conn_unref(c);
}

void
conn_set_stream(pt_conn *c, const pt_stream *s)
{
	/* Whoever replaces a stream is done with the old one. */
	stream_close(c);
	c->stream = *s;
	if (c->dead) {
		/* The peer went before the stream began (a reply failed):
		 * nothing will ever close it otherwise. */
		c->stream_close_pending = true;
		if (c->refs == 0)
			stream_close(c);
		return;
	}
	c->streaming = true;
}

void
conn_continue_later(pt_conn *c, const uint8_t *p, size_t n, bool end)
{
	if (c->dead || !c->streaming)
		return;
	c->held = true;
	c->held_p = p;
	c->held_n = n;
	c->held_end = end;
	/* A zero timeout runs after the next poll for I/O, so every other
	 * connection gets its turn first. */
	static const struct timeval now = {0, 0};
	evtimer_add(c->resume, &now);
}

static int
discard_frame(pt_conn *c, const uint8_t *p, size_t n, bool end)
{
	(void)p;
	(void)n;
	if (end)
		conn_finish(c, false);
	return 0;
}

void
conn_discard_upload(pt_conn *c)
{
	if (c->dead)
		return;
	stream_close(c);
	pt_stream st = {.on_frame = discard_frame};
	conn_set_stream(c, &st);
}

void
conn_close_all(pt_daemon *d)
{
	while (d->conns != NULL)
		conn_abort(d->conns);
}
