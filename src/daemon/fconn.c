#include "fconn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "frame.h"

struct pt_fconn {
	int fd;
	struct event *rev;
	struct event *wev;
	struct evbuffer *out;
	pt_frame_reader in;
	size_t max_out;
	pt_fconn_ops ops;
	void *ctx;
	bool paused;
	bool closing;      /* close once the output is flushed */
	bool dead;         /* `closed` was called; ignore further events */
	int in_callback;   /* depth of frame callbacks, to defer freeing */
	bool free_pending;
};

static void
report_closed(pt_fconn *c, const char *why)
{
	if (c->dead)
		return;
	c->dead = true;
	event_del(c->rev);
	event_del(c->wev);
	c->ops.closed(c, why, c->ctx);
}

/* Hands out every complete frame buffered. Stops if the callback closed,
 * paused or freed the connection. */
static void
deliver(pt_fconn *c)
{
	while (!c->dead && !c->paused && !c->free_pending) {
		const uint8_t *body;
		size_t len;
		pt_frame_status st = pt_frame_reader_next(&c->in, &body, &len);
		if (st == PT_FRAME_NEED_MORE)
			return;
		c->in_callback++;
		if (st == PT_FRAME_OK)
			c->ops.frame(c, body, len, c->ctx);
		else if (st == PT_FRAME_END && c->ops.end != NULL)
			c->ops.end(c, c->ctx);
		else if (st == PT_FRAME_END)
			report_closed(c, "end of stream");
		else if (st == PT_FRAME_TOO_BIG)
			report_closed(c, "frame too big");
		else
			report_closed(c, "out of memory");
		c->in_callback--;
	}
}

static void
finish_free(pt_fconn *c)
{
	event_free(c->rev);
	event_free(c->wev);
	evbuffer_free(c->out);
	pt_frame_reader_free(&c->in);
	close(c->fd);
	free(c);
}

static void
on_read(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	pt_fconn *c = arg;
	size_t avail;
	uint8_t *space = pt_frame_reader_space(&c->in, &avail);
	if (space == NULL) {
		report_closed(c, "out of memory");
		return;
	}
	ssize_t n = read(fd, space, avail);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		report_closed(c, n == 0 ? "peer closed" : strerror(errno));
		return;
	}
	pt_frame_reader_commit(&c->in, (size_t)n);
	c->in_callback++;
	deliver(c);
	c->in_callback--;
	if (c->free_pending && c->in_callback == 0)
		finish_free(c);
}

static void
on_write(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	pt_fconn *c = arg;
	while (evbuffer_get_length(c->out) > 0) {
		int n = evbuffer_write(c->out, fd);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			report_closed(c, strerror(errno));
			return;
		}
	}
	event_del(c->wev);
	if (c->closing)
		report_closed(c, "done");
}

pt_fconn *
pt_fconn_new(struct event_base *base, int fd, size_t max_frame,
    size_t max_out, const pt_fconn_ops *ops, void *ctx)
{
	pt_fconn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->fd = fd;
	c->max_out = max_out;
	c->ops = *ops;
	c->ctx = ctx;
	pt_frame_reader_init(&c->in, max_frame);
	c->out = evbuffer_new();
	c->rev = event_new(base, fd, EV_READ | EV_PERSIST, on_read, c);
	c->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, on_write, c);
	if (c->out == NULL || c->rev == NULL || c->wev == NULL ||
	    event_add(c->rev, NULL) < 0) {
		if (c->out)
			evbuffer_free(c->out);
		if (c->rev)
			event_free(c->rev);
		if (c->wev)
			event_free(c->wev);
		pt_frame_reader_free(&c->in);
		free(c);
		return NULL;
	}
	return c;
}

void
pt_fconn_free(pt_fconn *c)
{
	if (c == NULL)
		return;
	c->dead = true;
	event_del(c->rev);
	event_del(c->wev);
	if (c->in_callback > 0) {
		/* Called from inside a frame callback: free on the way out. */
		c->free_pending = true;
		return;
	}
	finish_free(c);
}

int
pt_fconn_send(pt_fconn *c, const uint8_t *body, size_t len)
{
	if (c->dead)
		return -1;
	if (len > INT32_MAX ||
	    evbuffer_get_length(c->out) + len + 4 > c->max_out)
		return -1;
	uint8_t prefix[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16),
	    (uint8_t)(len >> 8), (uint8_t)len};
	if (evbuffer_add(c->out, prefix, 4) < 0 ||
	    evbuffer_add(c->out, body, len) < 0)
		return -1;
	event_add(c->wev, NULL);
	return 0;
}

int
pt_fconn_send_wire(pt_fconn *c, const pt_wire *w)
{
	pt_buf b = {0};
	pt_err err;
	int rc = pt_wire_encode(w, &b, &err);
	if (rc == 0)
		rc = pt_fconn_send(c, b.data, b.len);
	pt_buf_free(&b);
	return rc;
}

void
pt_fconn_pause(pt_fconn *c)
{
	c->paused = true;
	event_del(c->rev);
}

void
pt_fconn_resume(pt_fconn *c)
{
	if (c->dead || !c->paused)
		return;
	c->paused = false;
	event_add(c->rev, NULL);
	/* Frames that arrived with the last read may already be buffered. */
	c->in_callback++;
	deliver(c);
	c->in_callback--;
	if (c->free_pending && c->in_callback == 0)
		finish_free(c);
}

void
pt_fconn_close_when_flushed(pt_fconn *c)
{
	c->closing = true;
	pt_fconn_pause(c);
	if (evbuffer_get_length(c->out) == 0)
		report_closed(c, "done");
	else
		event_add(c->wev, NULL);
}

void
pt_fconn_abort(pt_fconn *c, const char *why)
{
	evbuffer_drain(c->out, evbuffer_get_length(c->out));
	report_closed(c, why);
}

size_t
pt_fconn_queued(const pt_fconn *c)
{
	return evbuffer_get_length(c->out);
}

int
pt_fconn_fd(const pt_fconn *c)
{
	return c->fd;
}
