/*
 * Frames over TLS: the handshake, then frames in (the core's bounded frame
 * reader fed by SSL_read) and frames out (an evbuffer drained by
 * SSL_write). The only file that touches an SSL* after the context is
 * made, so that it can become a transport of the shared framed-connection
 * module (src/daemon/fconn.h) once that has a pluggable one.
 *
 * Timers: the handshake must finish within --handshake-timeout-ms; after
 * it a peer that the session waits on (an upload) or that takes none of
 * its output is dropped after --idle-timeout-ms without progress.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/err.h>

#include "frame.h"
#include "tls.h"

/* Client frames (upload chunks) are at most this big; albatross's client
 * sends 4 KiB. */
#define TCONN_MAX_FRAME (4u << 20)
/* The largest reply frame relayed, plus slack: the output cap. */
#define TCONN_MAX_OUT (PT_FRAME_DEFAULT_MAX + (1u << 20))
#define TCONN_LOW_WATER (128u * 1024)
#define TCONN_WRITE_STEP (64u * 1024)

struct tls_tconn {
	tls_daemon *d;
	SSL *ssl;
	int in_fd, out_fd;
	struct event *rev, *wev, *timer;
	struct evbuffer *out;
	pt_frame_reader in;
	tls_tconn_ops ops;
	void *ctx;
	bool open;          /* handshake done */
	bool paused;
	bool closing;
	bool dead;
	bool waiting;       /* the session waits for input from the peer */
	bool want_drained;  /* output went above the low-water mark */
	pt_err verify_note; /* the first verification failure (tlsctx.c) */
	int depth;          /* callbacks running, to defer the free */
	bool free_pending;
};

static void
arm_timer(tls_tconn *t, int64_t ms)
{
	struct timeval tv = {(time_t)(ms / 1000),
	    (suseconds_t)(ms % 1000) * 1000};
	evtimer_add(t->timer, &tv);
}

static void
report_closed(tls_tconn *t, const char *why)
{
	if (t->dead)
		return;
	t->dead = true;
	event_del(t->rev);
	event_del(t->wev);
	evtimer_del(t->timer);
	t->ops.closed(t, why, t->ctx);
}

/* The reason OpenSSL gives for the last failure, or errno's. */
static const char *
ssl_reason(int code, char *buf, size_t cap)
{
	unsigned long e = ERR_get_error();
	if (e != 0) {
		ERR_error_string_n(e, buf, cap);
		ERR_clear_error();
		return buf;
	}
	if (code == SSL_ERROR_SYSCALL)
		return errno != 0 ? strerror(errno) : "peer closed";
	return "TLS error";
}

/* Handles SSL_get_error for a call that returned r <= 0: 0 to retry on
 * readiness (events armed), -1 when the connection is gone. */
static int
ssl_wait(tls_tconn *t, int r)
{
	int code = SSL_get_error(t->ssl, r);
	char buf[256];
	switch (code) {
	case SSL_ERROR_WANT_READ:
		/* A paused reader is re-armed on resume. */
		if (!t->paused)
			event_add(t->rev, NULL);
		return 0;
	case SSL_ERROR_WANT_WRITE:
		event_add(t->wev, NULL);
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		report_closed(t, "peer closed");
		return -1;
	default:
		report_closed(t, ssl_reason(code, buf, sizeof(buf)));
		return -1;
	}
}

static void
deliver(tls_tconn *t)
{
	while (!t->dead && !t->paused && !t->free_pending) {
		const uint8_t *body;
		size_t len;
		pt_frame_status st = pt_frame_reader_next(&t->in, &body, &len);
		if (st == PT_FRAME_NEED_MORE)
			return;
		if (st == PT_FRAME_OK)
			t->ops.frame(t, body, len, t->ctx);
		else if (st == PT_FRAME_END && t->ops.end != NULL)
			t->ops.end(t, t->ctx);
		else if (st == PT_FRAME_END)
			report_closed(t, "end of stream");
		else if (st == PT_FRAME_TOO_BIG)
			report_closed(t, "frame too big");
		else
			report_closed(t, "out of memory");
	}
}

static void
do_read(tls_tconn *t)
{
	while (!t->dead && !t->paused && !t->closing && !t->free_pending) {
		size_t avail;
		uint8_t *space = pt_frame_reader_space(&t->in, &avail);
		if (space == NULL) {
			report_closed(t, "out of memory");
			return;
		}
		if (avail > INT32_MAX)
			avail = INT32_MAX;
		ERR_clear_error();
		int n = SSL_read(t->ssl, space, (int)avail);
		if (n <= 0) {
			ssl_wait(t, n);
			return;
		}
		pt_frame_reader_commit(&t->in, (size_t)n);
		if (t->open && t->d->o.idle_timeout_ms > 0)
			arm_timer(t, t->d->o.idle_timeout_ms);
		deliver(t);
	}
}

static void
do_write(tls_tconn *t)
{
	bool progress = false;
	while (!t->dead && evbuffer_get_length(t->out) > 0) {
		struct evbuffer_iovec v;
		if (evbuffer_peek(t->out, TCONN_WRITE_STEP, NULL, &v, 1) < 1)
			break;
		size_t n = v.iov_len > TCONN_WRITE_STEP ? TCONN_WRITE_STEP :
		    v.iov_len;
		ERR_clear_error();
		int r = SSL_write(t->ssl, v.iov_base, (int)n);
		if (r <= 0) {
			ssl_wait(t, r);
			break;
		}
		evbuffer_drain(t->out, (size_t)r);
		progress = true;
	}
	if (t->dead)
		return;
	if (progress && t->d->o.idle_timeout_ms > 0)
		arm_timer(t, t->d->o.idle_timeout_ms);
	size_t left = evbuffer_get_length(t->out);
	if (left == 0)
		event_del(t->wev);
	if (t->want_drained && left < TCONN_LOW_WATER) {
		t->want_drained = false;
		if (t->ops.drained != NULL)
			t->ops.drained(t, t->ctx);
	}
	if (!t->dead && t->closing && evbuffer_get_length(t->out) == 0) {
		/* close_notify, once; a full socket loses it, which the
		 * peer sees as a plain end of the connection. */
		SSL_shutdown(t->ssl);
		report_closed(t, "done");
	}
}

static void
do_handshake(tls_tconn *t)
{
	ERR_clear_error();
	int r = SSL_accept(t->ssl);
	if (r <= 0) {
		ssl_wait(t, r);
		return;
	}
	t->open = true;
	evtimer_del(t->timer);
	if (t->d->o.idle_timeout_ms > 0)
		arm_timer(t, t->d->o.idle_timeout_ms);
	t->ops.handshake(t, t->ctx);
	if (!t->dead && !t->free_pending && !t->paused)
		event_add(t->rev, NULL);
}

static void
finish_free(tls_tconn *t)
{
	event_free(t->rev);
	event_free(t->wev);
	event_free(t->timer);
	evbuffer_free(t->out);
	pt_frame_reader_free(&t->in);
	SSL_free(t->ssl);
	close(t->in_fd);
	if (t->out_fd != t->in_fd)
		close(t->out_fd);
	free(t);
}

static void
run_io(tls_tconn *t)
{
	t->depth++;
	if (!t->open) {
		do_handshake(t);
	} else {
		do_write(t);
		do_read(t);
	}
	t->depth--;
	if (t->free_pending && t->depth == 0)
		finish_free(t);
}

static void
on_io(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	run_io(arg);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	tls_tconn *t = arg;
	t->depth++;
	if (!t->open)
		report_closed(t, "handshake timed out");
	else if (t->waiting || evbuffer_get_length(t->out) > 0)
		report_closed(t, "idle: the peer neither sent nor took data "
		    "in time");
	else if (t->d->o.idle_timeout_ms > 0)
		arm_timer(t, t->d->o.idle_timeout_ms);
	t->depth--;
	if (t->free_pending && t->depth == 0)
		finish_free(t);
}

tls_tconn *
tconn_new(tls_daemon *d, int in_fd, int out_fd, const tls_tconn_ops *ops,
    void *ctx, pt_err *err)
{
	tls_tconn *t = calloc(1, sizeof(*t));
	if (t == NULL) {
		pt_fail(err, "out of memory");
		return NULL;
	}
	t->d = d;
	t->in_fd = in_fd;
	t->out_fd = out_fd;
	t->ops = *ops;
	t->ctx = ctx;
	pt_frame_reader_init(&t->in, TCONN_MAX_FRAME);
	t->ssl = SSL_new(d->ctx);
	t->out = evbuffer_new();
	t->rev = event_new(d->base, in_fd, EV_READ | EV_PERSIST, on_io, t);
	t->wev = event_new(d->base, out_fd, EV_WRITE | EV_PERSIST, on_io, t);
	t->timer = evtimer_new(d->base, on_timer, t);
	if (t->ssl == NULL || t->out == NULL || t->rev == NULL ||
	    t->wev == NULL || t->timer == NULL ||
	    SSL_set_rfd(t->ssl, in_fd) != 1 ||
	    SSL_set_wfd(t->ssl, out_fd) != 1) {
		pt_fail(err, "cannot set up a TLS connection");
		if (t->ssl != NULL)
			SSL_free(t->ssl);
		if (t->out != NULL)
			evbuffer_free(t->out);
		if (t->rev != NULL)
			event_free(t->rev);
		if (t->wev != NULL)
			event_free(t->wev);
		if (t->timer != NULL)
			event_free(t->timer);
		free(t);
		return NULL;
	}
	SSL_set_app_data(t->ssl, &t->verify_note);
	SSL_set_mode(t->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	arm_timer(t, d->o.handshake_timeout_ms);
	event_add(t->rev, NULL);
	return t;
}

void
tconn_free(tls_tconn *t)
{
	if (t == NULL)
		return;
	t->dead = true;
	event_del(t->rev);
	event_del(t->wev);
	evtimer_del(t->timer);
	if (t->depth > 0) {
		t->free_pending = true;
		return;
	}
	finish_free(t);
}

SSL *
tconn_ssl(tls_tconn *t)
{
	return t->ssl;
}

int
tconn_send(tls_tconn *t, const uint8_t *p, size_t n)
{
	if (t->dead || t->closing)
		return -1;
	if (n > INT32_MAX || evbuffer_get_length(t->out) + n + 4 >
	    TCONN_MAX_OUT)
		return -1;
	uint8_t prefix[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16),
	    (uint8_t)(n >> 8), (uint8_t)n};
	if (evbuffer_add(t->out, prefix, 4) < 0 ||
	    evbuffer_add(t->out, p, n) < 0)
		return -1;
	if (evbuffer_get_length(t->out) >= TCONN_LOW_WATER)
		t->want_drained = true;
	event_add(t->wev, NULL);
	return 0;
}

int
tconn_send_wire(tls_tconn *t, const pt_wire *w)
{
	pt_buf b = {0};
	pt_err err;
	int r = pt_wire_encode(w, &b, &err);
	if (r == 0)
		r = tconn_send(t, b.data, b.len);
	pt_buf_free(&b);
	return r;
}

void
tconn_pause(tls_tconn *t)
{
	t->paused = true;
	/* Level-triggered: a readable socket nobody reads would spin. */
	if (t->open)
		event_del(t->rev);
}

void
tconn_resume(tls_tconn *t)
{
	if (t->dead || !t->paused)
		return;
	t->paused = false;
	event_add(t->rev, NULL);
	/* Decrypted data may already wait inside the SSL or the reader:
	 * no read event would announce it. */
	run_io(t);
}

size_t
tconn_queued(const tls_tconn *t)
{
	return evbuffer_get_length(t->out);
}

void
tconn_close_when_flushed(tls_tconn *t)
{
	if (t->dead)
		return;
	t->closing = true;
	t->paused = true;
	event_del(t->rev);
	event_add(t->wev, NULL);
}

void
tconn_touch(tls_tconn *t)
{
	if (!t->dead && t->open && t->d->o.idle_timeout_ms > 0)
		arm_timer(t, t->d->o.idle_timeout_ms);
}

void
tconn_set_waiting(tls_tconn *t, bool waiting)
{
	t->waiting = waiting;
	tconn_touch(t);
}
