/*
 * The server side of a client's TLS handshake, on the event loop: SSL_accept
 * until it is done, within --handshake-timeout-ms. Then the SSL goes to the
 * session, which runs its frames over the framed-connection module
 * (src/daemon/fconn.h) with the OpenSSL transport (fconn_ssl.c): this file
 * does no frame I/O.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>

#include "tls.h"

struct tls_handshake {
	SSL *ssl;
	int in_fd, out_fd;
	struct event *rev, *wev, *timer;
	tls_handshake_done done;
	void *ctx;
};

/* Frees the state; the SSL and the fds go with it unless handed over. */
static void
hs_free(tls_handshake *h, bool keep_ssl)
{
	event_free(h->rev);
	event_free(h->wev);
	event_free(h->timer);
	if (!keep_ssl) {
		if (h->ssl != NULL)
			SSL_free(h->ssl);
		close(h->in_fd);
		if (h->out_fd != h->in_fd)
			close(h->out_fd);
	}
	free(h);
}

/* The caller hears of the outcome after the state is gone, so that it may
 * free whatever it likes from the callback. */
static void
hs_fail(tls_handshake *h, const char *why)
{
	tls_handshake_done done = h->done;
	void *ctx = h->ctx;
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", why);
	hs_free(h, false);
	done(NULL, buf, ctx);
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

static void
step(tls_handshake *h)
{
	ERR_clear_error();
	errno = 0;
	int r = SSL_accept(h->ssl);
	if (r == 1) {
		SSL *ssl = h->ssl;
		tls_handshake_done done = h->done;
		void *ctx = h->ctx;
		hs_free(h, true);
		done(ssl, NULL, ctx);
		return;
	}
	int code = SSL_get_error(h->ssl, r);
	char buf[256];
	if (code == SSL_ERROR_WANT_READ) {
		event_del(h->wev);
		event_add(h->rev, NULL);
	} else if (code == SSL_ERROR_WANT_WRITE) {
		event_del(h->rev);
		event_add(h->wev, NULL);
	} else if (code == SSL_ERROR_ZERO_RETURN) {
		hs_fail(h, "peer closed");
	} else {
		hs_fail(h, ssl_reason(code, buf, sizeof(buf)));
	}
}

static void
on_io(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	step(arg);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	hs_fail(arg, "handshake timed out");
}

tls_handshake *
handshake_start(tls_daemon *d, int in_fd, int out_fd, pt_err *verify_note,
    tls_handshake_done done, void *ctx, pt_err *err)
{
	tls_handshake *h = calloc(1, sizeof(*h));
	if (h == NULL) {
		pt_fail(err, "out of memory");
		return NULL;
	}
	h->in_fd = in_fd;
	h->out_fd = out_fd;
	h->done = done;
	h->ctx = ctx;
	h->ssl = SSL_new(d->ctx);
	h->rev = event_new(d->base, in_fd, EV_READ | EV_PERSIST, on_io, h);
	h->wev = event_new(d->base, out_fd, EV_WRITE | EV_PERSIST, on_io, h);
	h->timer = evtimer_new(d->base, on_timer, h);
	if (h->ssl == NULL || h->rev == NULL || h->wev == NULL ||
	    h->timer == NULL || SSL_set_rfd(h->ssl, in_fd) != 1 ||
	    SSL_set_wfd(h->ssl, out_fd) != 1) {
		pt_fail(err, "cannot set up a TLS connection");
		if (h->ssl != NULL)
			SSL_free(h->ssl);
		if (h->rev != NULL)
			event_free(h->rev);
		if (h->wev != NULL)
			event_free(h->wev);
		if (h->timer != NULL)
			event_free(h->timer);
		free(h);
		return NULL;
	}
	/* tlsctx.c's verify callback notes the first failure here. */
	SSL_set_app_data(h->ssl, verify_note);
	int64_t ms = d->o.handshake_timeout_ms;
	struct timeval tv = {(time_t)(ms / 1000),
	    (suseconds_t)(ms % 1000) * 1000};
	evtimer_add(h->timer, &tv);
	event_add(h->rev, NULL);
	return h;
}

void
handshake_free(tls_handshake *h)
{
	if (h != NULL)
		hs_free(h, false);
}
