#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "x509.h"

#define RECORD 16384

struct pt_tls {
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
	uint8_t out[RECORD];
	size_t outlen;
};

static int
tcp_connect(const char *host, const char *port, pt_err *err)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
	    .ai_family = AF_UNSPEC};
	struct addrinfo *res, *ai;
	int e = 0, fd = -1;

	int r = getaddrinfo(host, port, &hints, &res);
	if (r != 0)
		return pt_fail(err, "cannot resolve %s: %s", host,
		    gai_strerror(r));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		e = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return pt_fail(err, "cannot connect to %s port %s: %s", host,
		    port, strerror(e));
	return fd;
}

/* The SSL_CTX: TLS 1.3 only, our chain, the server checked against the
 * given CA (no host name check: albatross-client does none either, the
 * CA is the operator's own). */
static SSL_CTX *
make_ctx(const pt_tls_params *p, pt_err *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	char r[160];

	if (ctx == NULL) {
		pt_fail(err, "TLS: %s", pt_ossl_reason(r, sizeof(r)));
		return NULL;
	}
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	bool ok = SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) == 1 &&
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) == 1 &&
	    SSL_CTX_use_certificate(ctx, p->leaf) == 1 &&
	    SSL_CTX_use_PrivateKey(ctx, p->leaf_key) == 1;
	for (int i = 0; ok && i < sk_X509_num(p->chain); i++)
		ok = SSL_CTX_add1_chain_cert(ctx, sk_X509_value(p->chain, i))
		    == 1;
	for (int i = 0; ok && i < sk_X509_num(p->server_ca); i++)
		ok = X509_STORE_add_cert(store,
		    sk_X509_value(p->server_ca, i)) == 1;
	if (!ok) {
		pt_fail(err, "TLS setup: %s", pt_ossl_reason(r, sizeof(r)));
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	/* Frames carry their length: a close without close_notify cannot
	 * cut a message unnoticed, and albatross's endpoint may just close. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	return ctx;
}

static int
handshake_error(pt_tls *t, const pt_tls_params *p, pt_err *err)
{
	char r[160];
	long v = SSL_get_verify_result(t->ssl);

	if (v != X509_V_OK) {
		ERR_clear_error();
		return pt_fail(err, "the server's certificate does not verify "
		    "against %s: %s", p->server_ca_file,
		    X509_verify_cert_error_string(v));
	}
	return pt_fail(err, "TLS handshake with %s failed: %s", p->host,
	    pt_ossl_reason(r, sizeof(r)));
}

pt_tls *
pt_tls_connect(const pt_tls_params *p, int *fd, pt_err *err)
{
	pt_tls *t = calloc(1, sizeof(*t));

	if (t == NULL) {
		pt_fail(err, "out of memory");
		return NULL;
	}
	t->fd = -1;
	/* SSL_write on a closed connection must be an error, not a
	 * signal. */
	signal(SIGPIPE, SIG_IGN);
	t->ctx = make_ctx(p, err);
	if (t->ctx == NULL)
		goto fail;
	t->fd = tcp_connect(p->host, p->port, err);
	if (t->fd < 0)
		goto fail;
	t->ssl = SSL_new(t->ctx);
	if (t->ssl == NULL || SSL_set_fd(t->ssl, t->fd) != 1) {
		char r[160];
		pt_fail(err, "TLS: %s", pt_ossl_reason(r, sizeof(r)));
		goto fail;
	}
	if (SSL_connect(t->ssl) != 1) {
		handshake_error(t, p, err);
		goto fail;
	}
	*fd = t->fd;
	return t;
fail:
	pt_tls_free(t);
	return NULL;
}

/* An error of SSL_read/SSL_write as a message. */
static int
io_error(pt_tls *t, int ret, const char *what, pt_err *err)
{
	char r[160];
	int e = SSL_get_error(t->ssl, ret);

	if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
		return pt_fail(err, "TLS %s: %s", what,
		    errno != 0 ? strerror(errno) : "connection closed");
	return pt_fail(err, "TLS %s: %s", what, pt_ossl_reason(r, sizeof(r)));
}

ssize_t
pt_tls_read(pt_tls *t, void *buf, size_t n, pt_err *err)
{
	size_t got = 0;

	errno = 0;
	int r = SSL_read_ex(t->ssl, buf, n, &got);
	if (r == 1)
		return (ssize_t)got;
	if (SSL_get_error(t->ssl, r) == SSL_ERROR_ZERO_RETURN) {
		ERR_clear_error();
		return 0;
	}
	return io_error(t, r, "read", err);
}

static int
flush_out(pt_tls *t, pt_err *err)
{
	size_t off = 0;

	while (off < t->outlen) {
		size_t w = 0;
		errno = 0;
		int r = SSL_write_ex(t->ssl, t->out + off, t->outlen - off, &w);
		if (r != 1)
			return io_error(t, r, "write", err);
		off += w;
	}
	t->outlen = 0;
	return 0;
}

int
pt_tls_writev(pt_tls *t, const struct iovec *iov, int iovcnt, pt_err *err)
{
	for (int i = 0; i < iovcnt; i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t n = iov[i].iov_len;
		while (n > 0) {
			size_t k = sizeof(t->out) - t->outlen;
			if (k > n)
				k = n;
			memcpy(t->out + t->outlen, p, k);
			t->outlen += k;
			p += k;
			n -= k;
			if (t->outlen == sizeof(t->out) &&
			    flush_out(t, err) != 0)
				return -1;
		}
	}
	return flush_out(t, err);
}

bool
pt_tls_readable(pt_tls *t)
{
	struct pollfd p = {.fd = t->fd, .events = POLLIN};
	int r;
	char b;

	if (SSL_pending(t->ssl) > 0)
		return true;
	do
		r = poll(&p, 1, 0);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return false;
	/* Readable bytes may be a TLS 1.3 session ticket only: peek without
	 * blocking to see whether application data (or the end) came. */
	int fl = fcntl(t->fd, F_GETFL);
	if (fl < 0 || fcntl(t->fd, F_SETFL, fl | O_NONBLOCK) != 0)
		return true;
	r = SSL_peek(t->ssl, &b, 1);
	int e = r > 0 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, r);
	fcntl(t->fd, F_SETFL, fl);
	if (e == SSL_ERROR_WANT_READ) {
		ERR_clear_error();
		return false;
	}
	return true;
}

void
pt_tls_free(pt_tls *t)
{
	if (t == NULL)
		return;
	if (t->ssl != NULL) {
		/* Best effort; the peer may be gone. */
		if (SSL_is_init_finished(t->ssl))
			SSL_shutdown(t->ssl);
		SSL_free(t->ssl);
	}
	SSL_CTX_free(t->ctx);
	if (t->fd >= 0)
		close(t->fd);
	ERR_clear_error();
	free(t);
}
