/*
 * One client connection of petreld: the framed connection of
 * src/daemon/fconn.h (bounded input and output, backpressure, half-close,
 * reference counting, streams), plus what is petreld's: commands decoded
 * and dispatched, replies encoded, the list of connections and the slot
 * accounting. A frame that does not decode is not answered (spec 8.1):
 * the connection is logged and closed.
 *
 * Lifetime: the pt_conn lives as long as its pt_fconn (freed by the
 * `released` hook): holders (an asynchronous operation such as a destroy
 * waiting for the process to exit, a producer feeding a subscriber) can
 * reply into the void after the peer went, never into freed memory.
 * While an operation is pending no further command is read.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "petreld.h"

/* Decoded messages may not take more than this (a create refers to the
 * image inside the frame, so its arena stays small). */
#define DECODE_ARENA_LIMIT (64u * 1024 * 1024)
/* A client that sends nothing for this long (no command, a stalled
 * upload) is dropped: it would hold a connection slot, and a stalled
 * upload keeps its block device locked. */
#define IDLE_TIMEOUT_MS (120 * 1000)

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

static void
handle_command(pt_conn *c, const uint8_t *body, size_t len)
{
	pt_arena a = {.limit = DECODE_ARENA_LIMIT};
	pt_wire w;
	pt_err err = {{0}};
	if (pt_wire_decode(body, len, &a, &w, &err) < 0) {
		log_warn("undecodable frame (%zu bytes), closing: %s", len,
		    err.msg);
		conn_abort(c);
	} else if (w.kind != PT_PAYLOAD_COMMAND) {
		log_warn("%s: a reply or data instead of a command, closing",
		    w.header.name.text);
		conn_abort(c);
	} else {
		vmm_dispatch(c, &w);
	}
	pt_arena_free(&a);
}

static void
on_frame(pt_fconn *f, const uint8_t *body, size_t len, void *ctx)
{
	(void)f;
	pt_conn *c = ctx;
	if (conn_streaming(c)) {
		/* A stream that takes no input (a dump, a log subscription):
		 * the client wants it to end. */
		log_info("%s: a frame from the client ends the transfer",
		    c->cmd != NULL ? c->cmd : "stream");
		conn_finish(c, false);
		return;
	}
	handle_command(c, body, len);
}

static void
on_closed(pt_fconn *f, const char *why, void *ctx)
{
	pt_conn *c = ctx;
	const char *cmd = c->cmd != NULL ? c->cmd : "client";
	switch (pt_fconn_close_reason(f)) {
	case PT_FCONN_TOO_BIG:
		log_warn("%s, closing", why);
		break;
	case PT_FCONN_NOMEM:
		log_err("out of memory on a connection, closing");
		break;
	case PT_FCONN_IDLE:
		log_info("closing a connection %s", why);
		break;
	case PT_FCONN_WRITE_TIMEOUT:
		log_warn("%s: closing a connection that %s", cmd, why);
		break;
	case PT_FCONN_CUT:
		log_info("%s: %s", cmd, why);
		break;
	case PT_FCONN_IO_ERROR:
		log_debug("connection: %s", why);
		break;
	default:
		break;
	}
	conn_unlink(c);
	pt_fconn_free(f);  /* the struct stays while held */
}

static void
on_released(pt_fconn *f, void *ctx)
{
	(void)f;
	free(ctx);
}

static const pt_fconn_ops conn_ops = {
	.frame = on_frame,
	.end = NULL,  /* a half-close */
	.closed = on_closed,
	.released = on_released,
};

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
	pt_fconn_params p = {
		.max_frame = d->o.max_frame,
		.idle_ms = IDLE_TIMEOUT_MS,
		.write_timeout_ms = d->o.write_timeout_ms,
	};
	c->f = pt_fconn_open(d->base, fd, NULL, NULL, &p, &conn_ops, c);
	if (c->f == NULL) {  /* fd closed */
		log_err("cannot watch a new connection");
		free(c);
		pt_server_conn_closed(d->server);
		return;
	}
	c->next = d->conns;
	if (d->conns != NULL)
		d->conns->prev = c;
	d->conns = c;
	d->nconns++;
}

/* Encodes one message behind a length prefix patched afterwards, into a
 * buffer the connection then takes without copying (a large reply, a
 * get, is not copied once more). */
static int
encode_frame(const pt_wire *w, pt_buf *b, pt_err *err)
{
	static const uint8_t prefix[4];
	if (pt_buf_append(b, prefix, sizeof(prefix)) < 0)
		return pt_fail(err, "out of memory");
	if (pt_wire_encode(w, b, err) < 0)
		return -1;
	size_t len = b->len - sizeof(prefix);
	if (len > INT32_MAX)
		return pt_fail(err, "%zu bytes do not fit a frame", len);
	b->data[0] = (uint8_t)(len >> 24);
	b->data[1] = (uint8_t)(len >> 16);
	b->data[2] = (uint8_t)(len >> 8);
	b->data[3] = (uint8_t)len;
	return 0;
}

static void
conn_append_wire(pt_conn *c, const pt_wire *w)
{
	if (conn_dead(c))
		return;
	pt_err err = {{0}};
	pt_buf b = {0};
	if (encode_frame(w, &b, &err) < 0 && !b.oom) {
		/* Our own reply does not encode: say so rather than hang. */
		log_err("%s: cannot encode reply: %s", w->header.name.text,
		    err.msg);
		pt_wire f = {.header = w->header, .kind = PT_PAYLOAD_FAILURE};
		char msg[300];
		snprintf(msg, sizeof(msg), "internal error: cannot encode "
		    "reply: %s", err.msg);
		f.u.failure.s = msg;
		f.u.failure.len = strlen(msg);
		pt_buf_reset(&b);
		if (encode_frame(&f, &b, &err) < 0 && !b.oom) {
			pt_buf_free(&b);
			conn_abort(c);
			return;
		}
	}
	if (b.oom) {
		pt_buf_free(&b);
		log_err("out of memory queueing a reply");
		conn_abort(c);
		return;
	}
	if (pt_fconn_send_buf(c->f, &b) < 0 && !conn_dead(c)) {
		log_err("out of memory queueing a reply");
		conn_abort(c);
	}
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
	pt_wire w;
	pt_wire_reply_failure(&w, h, msg);
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
	if (conn_dead(c))
		return;
	pt_fconn_stream_end(c->f);
	if (!keep_open)
		pt_fconn_close_when_flushed(c->f);
}

void
conn_hold(pt_conn *c)
{
	pt_fconn_hold(c->f);
}

void
conn_release(pt_conn *c)
{
	pt_fconn_release(c->f);
}

void
conn_grab(pt_conn *c)
{
	pt_fconn_ref(c->f);
}

void
conn_drop(pt_conn *c)
{
	pt_fconn_unref(c->f);
}

void
conn_abort(pt_conn *c)
{
	pt_fconn_abort(c->f, "aborted");
}

size_t
conn_out_pending(const pt_conn *c)
{
	return pt_fconn_queued(c->f);
}

bool
conn_dead(const pt_conn *c)
{
	return pt_fconn_is_closed(c->f);
}

bool
conn_streaming(const pt_conn *c)
{
	return pt_fconn_streaming(c->f);
}

/* ---- streams: petreld's hooks take the pt_conn ---- */

static int
stream_frame(pt_fconn *f, const uint8_t *p, size_t n, bool end, void *ctx)
{
	(void)f;
	pt_conn *c = ctx;
	return c->stream.on_frame(c, p, n, end);
}

static void
stream_drain(pt_fconn *f, void *ctx)
{
	(void)f;
	pt_conn *c = ctx;
	c->stream.on_drain(c);
}

static void
stream_close(pt_fconn *f, void *ctx)
{
	(void)f;
	pt_conn *c = ctx;
	pt_stream s = c->stream;
	memset(&c->stream, 0, sizeof(c->stream));
	c->stream.ctx = s.ctx;  /* the hook may still look (c->stream.ctx) */
	if (s.on_close != NULL)
		s.on_close(c);
}

void
conn_set_stream(pt_conn *c, const pt_stream *s)
{
	/* Ends the old stream first (its hooks still see c->stream). */
	pt_fconn_stream_end(c->f);
	c->stream = *s;
	pt_fconn_stream st = {
		.frame = s->on_frame != NULL ? stream_frame : NULL,
		.drain = s->on_drain != NULL ? stream_drain : NULL,
		.close = stream_close,
		.ctx = c,
	};
	pt_fconn_set_stream(c->f, &st);
}

void
conn_continue_later(pt_conn *c, const uint8_t *p, size_t n, bool end)
{
	pt_fconn_continue_later(c->f, p, n, end);
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
	if (conn_dead(c))
		return;
	pt_stream st = {.on_frame = discard_frame};
	conn_set_stream(c, &st);
}

void
conn_close_all(pt_daemon *d)
{
	while (d->conns != NULL)
		conn_abort(d->conns);
}
