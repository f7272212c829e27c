/*
 * The OpenSSL transport of the framed connection (fconn_ssl.h).
 */
#include "fconn_ssl.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>

typedef struct {
	SSL *ssl;
	int in_fd, out_fd;
	bool failed;     /* a fatal error: no close_notify (OpenSSL's rule) */
	char *why;
	size_t why_cap;
} ssl_tr;

static void
note(ssl_tr *s, const char *fmt, const char *arg)
{
	if (s->why != NULL && s->why_cap > 0 && s->why[0] == '\0')
		snprintf(s->why, s->why_cap, fmt, arg);
}

/* Maps the outcome of a call that did nothing (ok false) to the
 * transport's convention: 0 for the end of input, -1 with errno set. */
static ssize_t
ssl_outcome(ssl_tr *s, int ret, pt_fconn_want *want)
{
	int code = SSL_get_error(s->ssl, ret);
	unsigned long e;
	switch (code) {
	case SSL_ERROR_WANT_READ:
		*want = PT_FCONN_WANT_READ;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		*want = PT_FCONN_WANT_WRITE;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		/* close_notify: the peer's half-close. */
		return 0;
	case SSL_ERROR_SYSCALL:
		s->failed = true;
		ERR_clear_error();
		if (errno == 0) {
			/* The socket ended without close_notify (OpenSSL
			 * before 3): as a plain socket's end of input. */
			return 0;
		}
		note(s, "%s", strerror(errno));
		return -1;
	default:
		s->failed = true;
		e = ERR_peek_last_error();
		ERR_clear_error();
		if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
			return 0;  /* the same, OpenSSL 3 */
		if (e != 0) {
			char buf[200];
			ERR_error_string_n(e, buf, sizeof(buf));
			note(s, "TLS: %s", buf);
		} else {
			note(s, "%s", "TLS error");
		}
		errno = EPROTO;
		return -1;
	}
}

static ssize_t
ssl_read(void *t, uint8_t *p, size_t n, pt_fconn_want *want)
{
	ssl_tr *s = t;
	size_t got = 0;
	ERR_clear_error();
	errno = 0;
	int ret = SSL_read_ex(s->ssl, p, n, &got);
	if (ret == 1)
		return (ssize_t)got;
	return ssl_outcome(s, ret, want);
}

static ssize_t
ssl_write(void *t, const uint8_t *p, size_t n, pt_fconn_want *want)
{
	ssl_tr *s = t;
	size_t put = 0;
	ERR_clear_error();
	errno = 0;
	int ret = SSL_write_ex(s->ssl, p, n, &put);
	if (ret == 1)
		return (ssize_t)put;
	ssize_t r = ssl_outcome(s, ret, want);
	if (r == 0) {
		/* The peer's close_notify does not end our direction, but a
		 * write that finds it has nothing to report but a failure. */
		errno = EPIPE;
		r = -1;
	}
	return r;
}

static size_t
ssl_pending(void *t)
{
	ssl_tr *s = t;
	/* The rest of a record already decrypted. Not SSL_has_pending: it
	 * also counts part of a record, which needs the fd to complete (the
	 * connection would spin); without read-ahead OpenSSL takes no more
	 * from the socket than the record it reads, so whole records still
	 * waiting are announced by the fd. */
	int n = SSL_pending(s->ssl);
	return n > 0 ? (size_t)n : 0;
}

static void
ssl_close(void *t)
{
	ssl_tr *s = t;
	if (!s->failed) {
		/* close_notify, once, without waiting for the peer's: a full
		 * socket loses it, which the peer sees as a plain end. */
		ERR_clear_error();
		SSL_shutdown(s->ssl);
	}
	ERR_clear_error();
	SSL_free(s->ssl);
	close(s->in_fd);
	if (s->out_fd != s->in_fd)
		close(s->out_fd);
	free(s);
}

const pt_fconn_transport pt_fconn_ssl = {
	.read = ssl_read,
	.write = ssl_write,
	.pending = ssl_pending,
	.close = ssl_close,
};

void *
pt_fconn_ssl_new(SSL *ssl, int in_fd, int out_fd, char *why, size_t cap)
{
	ssl_tr *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		SSL_free(ssl);
		close(in_fd);
		if (out_fd != in_fd)
			close(out_fd);
		return NULL;
	}
	s->ssl = ssl;
	s->in_fd = in_fd;
	s->out_fd = out_fd;
	s->why = why;
	s->why_cap = cap;
	if (why != NULL && cap > 0)
		why[0] = '\0';
	/* fconn retries a blocked write from the start of its queue, which
	 * may have moved (and grown) meanwhile; a partial write lets it
	 * drain the queue record by record. */
	SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	return s;
}
