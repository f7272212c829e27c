/*
 * Unit tests for src/daemon/fconn_ssl.c, the OpenSSL transport of the
 * framed connection: an in-memory TLS 1.3 pair over a socketpair (a
 * self-signed certificate made here with OpenSSL's API), both ends on one
 * event_base. Frames both ways, a frame far larger than the socket buffer
 * and a TLS record (many reads and writes, with the would-block retries),
 * key updates on the way, many frames in one record (input OpenSSL holds
 * with no fd event to announce it), and half-close: the peer's close_notify after its
 * request, the reply still delivered, then our close_notify.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "fconn.h"
#include "fconn_ssl.h"

#define BIG (3u << 20)

/* ---- a TLS pair ---- */

static SSL_CTX *srv_ctx, *cli_ctx;

static SSL_CTX *
make_ctx(bool server)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() :
	    TLS_client_method());
	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION),
	    1);
	SSL_CTX_set_num_tickets(ctx, 0);
	if (!server)
		return ctx;
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	assert_non_null(key);
	assert_non_null(x);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME *n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)"test", -1, -1, 0);
	X509_set_issuer_name(x, n);
	X509_set_pubkey(x, key);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	assert_int_equal(SSL_CTX_use_certificate(ctx, x), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, key), 1);
	X509_free(x);
	EVP_PKEY_free(key);
	return ctx;
}

static int
setup_ctxs(void **state)
{
	(void)state;
	srv_ctx = make_ctx(true);
	cli_ctx = make_ctx(false);
	return 0;
}

static int
teardown_ctxs(void **state)
{
	(void)state;
	SSL_CTX_free(srv_ctx);
	SSL_CTX_free(cli_ctx);
	return 0;
}

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits (a short poll, never a sleep) for either end to be ready. */
static void
wait_either(int a, int b)
{
	struct pollfd p[2] = {{a, POLLIN | POLLOUT, 0},
	    {b, POLLIN | POLLOUT, 0}};
	poll(p, 2, 10);
}

typedef struct {
	int fd[2];        /* 0: server, 1: client */
	SSL *ssl[2];
} pair;

/* A handshaken pair over a socketpair with small buffers, so that large
 * frames take many writes. */
static void
make_pair(pair *p)
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0, p->fd), 0);
	int sz = 16 * 1024;
	for (int i = 0; i < 2; i++) {
		setsockopt(p->fd[i], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		setsockopt(p->fd[i], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	}
	p->ssl[0] = SSL_new(srv_ctx);
	p->ssl[1] = SSL_new(cli_ctx);
	assert_non_null(p->ssl[0]);
	assert_non_null(p->ssl[1]);
	SSL_set_fd(p->ssl[0], p->fd[0]);
	SSL_set_fd(p->ssl[1], p->fd[1]);
	SSL_set_accept_state(p->ssl[0]);
	SSL_set_connect_state(p->ssl[1]);
	bool done[2] = {false, false};
	int64_t deadline = now_ms() + 30000;
	while (!done[0] || !done[1]) {
		assert_true(now_ms() < deadline);
		for (int i = 0; i < 2; i++) {
			if (done[i])
				continue;
			int r = SSL_do_handshake(p->ssl[i]);
			if (r == 1) {
				done[i] = true;
				continue;
			}
			int e = SSL_get_error(p->ssl[i], r);
			assert_true(e == SSL_ERROR_WANT_READ ||
			    e == SSL_ERROR_WANT_WRITE);
		}
		wait_either(p->fd[0], p->fd[1]);
	}
}

/* ---- an end on fconn ---- */

typedef struct {
	struct event_base *base;
	pt_fconn *c;
	char why[160];
	bool echo;            /* the server: send every frame back */
	size_t reply_len;     /* the server: answer each frame with this */
	/* frames received */
	size_t frames;
	size_t bytes;
	bool pattern_ok;
	bool closed;
	pt_fconn_reason reason;
} end;

static uint8_t *big_body;

static void
fill_pattern(uint8_t *p, size_t n, size_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((i * 31 + seed) ^ (i >> 11));
}

static bool
check_pattern(const uint8_t *p, size_t n, size_t seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (uint8_t)((i * 31 + seed) ^ (i >> 11)))
			return false;
	return true;
}

static void
on_frame(pt_fconn *c, const uint8_t *body, size_t len, void *ctx)
{
	end *e = ctx;
	e->frames++;
	e->bytes += len;
	if (!check_pattern(body, len, len))
		e->pattern_ok = false;
	if (e->echo)
		assert_int_equal(pt_fconn_send(c, body, len), 0);
	if (e->reply_len > 0)
		assert_int_equal(pt_fconn_send(c, big_body, e->reply_len), 0);
}

static void
on_closed(pt_fconn *c, const char *why, void *ctx)
{
	(void)why;
	end *e = ctx;
	e->closed = true;
	e->reason = pt_fconn_close_reason(c);
	pt_fconn_free(c);
	e->c = NULL;
}

static const pt_fconn_ops ops = {
	.frame = on_frame,
	.closed = on_closed,
};

static void
open_end(end *e, struct event_base *base, SSL *ssl, int fd)
{
	memset(e, 0, sizeof(*e));
	e->base = base;
	e->pattern_ok = true;
	void *t = pt_fconn_ssl_new(ssl, fd, fd, e->why, sizeof(e->why));
	assert_non_null(t);
	/* Backpressure off (tested in test_fconn.c): both ends here write
	 * megabytes at once, and would each stop reading until the other
	 * read. */
	pt_fconn_params p = {.max_frame = 8u << 20, .pause_out = 64u << 20};
	e->c = pt_fconn_open(base, fd, &pt_fconn_ssl, t, &p, &ops, e);
	assert_non_null(e->c);
}

/* Turns the loop until cond holds, within a deadline. */
#define RUN_UNTIL(base, cond) do { \
	int64_t dl_ = now_ms() + 60000; \
	while (!(cond)) { \
		assert_true(now_ms() < dl_); \
		event_base_loop((base), EVLOOP_ONCE); \
	} \
} while (0)

/* A timer so that EVLOOP_ONCE never blocks for long. */
static void
tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static struct event *
ticker(struct event_base *base)
{
	struct event *ev = event_new(base, -1, EV_PERSIST, tick, NULL);
	struct timeval tv = {0, 20000};
	assert_non_null(ev);
	event_add(ev, &tv);
	return ev;
}

static void
send_patterned(pt_fconn *c, size_t len)
{
	uint8_t *b = malloc(len);
	assert_non_null(b);
	fill_pattern(b, len, len);
	assert_int_equal(pt_fconn_send(c, b, len), 0);
	free(b);
}

/* ---- tests ---- */

static void
test_frames_both_ways(void **state)
{
	(void)state;
	pair p;
	make_pair(&p);
	struct event_base *base = event_base_new();
	struct event *tk = ticker(base);
	end srv, cli;
	open_end(&srv, base, p.ssl[0], p.fd[0]);
	open_end(&cli, base, p.ssl[1], p.fd[1]);
	srv.echo = true;
	static const size_t sizes[] = {1, 100, 4096, 16384, 16385, 65536,
	    200000};
	size_t total = 0;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		send_patterned(cli.c, sizes[i]);
		total += sizes[i];
	}
	RUN_UNTIL(base, cli.frames == sizeof(sizes) / sizeof(sizes[0]));
	assert_int_equal(srv.frames, cli.frames);
	assert_int_equal(cli.bytes, total);
	assert_true(srv.pattern_ok);
	assert_true(cli.pattern_ok);
	assert_false(srv.closed);
	assert_false(cli.closed);
	pt_fconn_free(cli.c);
	RUN_UNTIL(base, srv.closed);
	/* our close_notify reached the server as a clean end of input */
	assert_int_equal(srv.reason, PT_FCONN_PEER_CLOSED);
	assert_string_equal(srv.why, "");
	event_free(tk);
	event_base_free(base);
}

static void
test_large_frame_many_writes(void **state)
{
	(void)state;
	pair p;
	make_pair(&p);
	struct event_base *base = event_base_new();
	struct event *tk = ticker(base);
	end srv, cli;
	open_end(&srv, base, p.ssl[0], p.fd[0]);
	open_end(&cli, base, p.ssl[1], p.fd[1]);
	srv.echo = true;
	/* Post-handshake messages in the middle of the data (TLS 1.3 key
	 * updates, each asking for the other's): the reads then write, the
	 * writes may have to wait for reads. */
	assert_int_equal(SSL_key_update(p.ssl[1], SSL_KEY_UPDATE_REQUESTED),
	    1);
	assert_int_equal(SSL_key_update(p.ssl[0], SSL_KEY_UPDATE_REQUESTED),
	    1);
	/* 3 MiB through 16 KiB socket buffers, both ways at once */
	send_patterned(cli.c, BIG);
	assert_true(pt_fconn_queued(cli.c) > 0);  /* could not go at once */
	send_patterned(cli.c, BIG - 1);
	RUN_UNTIL(base, cli.frames == 2);
	assert_int_equal(cli.bytes, 2 * (size_t)BIG - 1);
	assert_true(srv.pattern_ok);
	assert_true(cli.pattern_ok);
	assert_int_equal(pt_fconn_queued(srv.c), 0);
	pt_fconn_free(cli.c);
	pt_fconn_free(srv.c);
	event_free(tk);
	event_base_free(base);
}

/* Many frames in one TLS record, read by a reader that takes it in small
 * steps: what OpenSSL holds must be handled without a further fd event. */
static void
test_frames_in_one_record(void **state)
{
	(void)state;
	pair p;
	make_pair(&p);
	struct event_base *base = event_base_new();
	struct event *tk = ticker(base);
	end srv;
	open_end(&srv, base, p.ssl[0], p.fd[0]);
	uint8_t rec[100 * 14];
	for (size_t i = 0; i < 100; i++) {
		uint8_t *f = rec + i * 14;
		f[0] = f[1] = f[2] = 0;
		f[3] = 10;
		fill_pattern(f + 4, 10, 10);
	}
	size_t put = 0;
	assert_int_equal(SSL_write_ex(p.ssl[1], rec, sizeof(rec), &put), 1);
	assert_int_equal(put, sizeof(rec));
	RUN_UNTIL(base, srv.frames == 100);
	assert_true(srv.pattern_ok);
	pt_fconn_free(srv.c);
	SSL_free(p.ssl[1]);
	close(p.fd[1]);
	event_free(tk);
	event_base_free(base);
}

/* The client sends its request, then close_notify (its half-close), and
 * still reads: the server's reply, far larger than the socket buffer,
 * arrives whole, then the server's close_notify. */
static void
test_half_close(void **state)
{
	(void)state;
	pair p;
	make_pair(&p);
	struct event_base *base = event_base_new();
	struct event *tk = ticker(base);
	end srv;
	open_end(&srv, base, p.ssl[0], p.fd[0]);
	srv.reply_len = BIG;
	uint8_t req[4 + 10] = {0, 0, 0, 10};
	fill_pattern(req + 4, 10, 10);
	size_t put = 0;
	SSL *c = p.ssl[1];
	assert_int_equal(SSL_write_ex(c, req, sizeof(req), &put), 1);
	assert_int_equal(SSL_shutdown(c), 0);  /* sent, not yet answered */
	size_t cap = BIG + 4, got = 0;
	uint8_t *in = malloc(cap);
	assert_non_null(in);
	bool eof = false;
	int64_t deadline = now_ms() + 60000;
	while (!eof) {
		assert_true(now_ms() < deadline);
		event_base_loop(base, EVLOOP_NONBLOCK);
		size_t n = 0;
		int r = SSL_read_ex(c, in + got, got < cap ? cap - got : 1,
		    &n);
		if (r == 1) {
			got += n;
			assert_true(got <= cap);
			continue;
		}
		int e = SSL_get_error(c, r);
		if (e == SSL_ERROR_ZERO_RETURN)
			eof = true;  /* the server's close_notify */
		else if (e == SSL_ERROR_WANT_READ)
			wait_either(p.fd[0], p.fd[1]);
		else
			fail_msg("client read: SSL error %d", e);
	}
	assert_int_equal(got, cap);
	assert_int_equal(in[0], (BIG >> 24) & 0xff);
	assert_int_equal(in[1], (BIG >> 16) & 0xff);
	assert_int_equal(in[2], (BIG >> 8) & 0xff);
	assert_int_equal(in[3], BIG & 0xff);
	assert_memory_equal(in + 4, big_body, BIG);
	assert_int_equal(srv.frames, 1);
	RUN_UNTIL(base, srv.closed);
	assert_int_equal(srv.reason, PT_FCONN_PEER_CLOSED);
	free(in);
	SSL_free(c);
	close(p.fd[1]);
	event_free(tk);
	event_base_free(base);
}

/* The peer's socket ends without close_notify: a plain end of input. A
 * peer that sends garbage: an error, with OpenSSL's reason. */
static void
test_eof_and_garbage(void **state)
{
	(void)state;
	for (int garbage = 0; garbage < 2; garbage++) {
		pair p;
		make_pair(&p);
		struct event_base *base = event_base_new();
		struct event *tk = ticker(base);
		end srv;
		open_end(&srv, base, p.ssl[0], p.fd[0]);
		if (garbage) {
			static const uint8_t junk[64] = {23, 3, 3, 0, 59};
			assert_int_equal(write(p.fd[1], junk, sizeof(junk)),
			    (ssize_t)sizeof(junk));
		} else {
			shutdown(p.fd[1], SHUT_WR);
		}
		RUN_UNTIL(base, srv.closed);
		if (garbage) {
			assert_int_equal(srv.reason, PT_FCONN_IO_ERROR);
			assert_non_null(strstr(srv.why, "TLS"));
		} else {
			assert_int_equal(srv.reason, PT_FCONN_PEER_CLOSED);
		}
		SSL_free(p.ssl[1]);
		close(p.fd[1]);
		event_free(tk);
		event_base_free(base);
	}
}

int
main(void)
{
	/* As the daemons: OpenSSL's writes to a peer gone are errors. */
	signal(SIGPIPE, SIG_IGN);
	big_body = malloc(BIG);
	if (big_body == NULL)
		return 1;
	fill_pattern(big_body, BIG, 7);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frames_both_ways),
		cmocka_unit_test(test_large_frame_many_writes),
		cmocka_unit_test(test_frames_in_one_record),
		cmocka_unit_test(test_half_close),
		cmocka_unit_test(test_eof_and_garbage),
	};
	int r = cmocka_run_group_tests(tests, setup_ctxs, teardown_ctxs);
	free(big_body);
	return r;
}
