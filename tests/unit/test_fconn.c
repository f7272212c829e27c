/*
 * Unit tests for src/daemon/fconn.c, the framed connection every daemon
 * uses: over a socketpair on a real event_base, the test playing the
 * client on the other end. Backpressure, half-close (a pending reply, a
 * stream), the end marker, limits, and the lifetime of a connection
 * whose peer went while it was held.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "fconn.h"

#define REPLY_SIZE (64u * 1024)

typedef struct {
	struct event_base *base;
	pt_fconn *c;
	int peer;               /* the client's end */
	size_t frames;          /* frames handled by the server */
	size_t max_queued;      /* seen after each frame */
	bool hold;              /* hold the connection on each frame */
	bool closed;
	pt_fconn_reason reason;
	int released;
	bool free_on_close;     /* the owner frees from `closed` */
	/* a stream */
	size_t chunks_left;
	int stream_closed;
	/* the client's reading */
	uint8_t *in;
	size_t in_len, in_cap;
} fx;

static void
on_frame(pt_fconn *c, const uint8_t *body, size_t len, void *ctx);
static void on_closed(pt_fconn *c, const char *why, void *ctx);
static void on_released(pt_fconn *c, void *ctx);

static const pt_fconn_ops ops = {
	.frame = on_frame,
	.closed = on_closed,
	.released = on_released,
};

static uint8_t reply_body[REPLY_SIZE];

static void
on_frame(pt_fconn *c, const uint8_t *body, size_t len, void *ctx)
{
	(void)body;
	(void)len;
	fx *f = ctx;
	f->frames++;
	if (f->hold) {
		pt_fconn_hold(c);
		return;
	}
	assert_int_equal(pt_fconn_send(c, reply_body, sizeof(reply_body)), 0);
	if (pt_fconn_queued(c) > f->max_queued)
		f->max_queued = pt_fconn_queued(c);
}

static void
on_closed(pt_fconn *c, const char *why, void *ctx)
{
	(void)why;
	fx *f = ctx;
	assert_false(f->closed);
	f->closed = true;
	f->reason = pt_fconn_close_reason(c);
	if (f->free_on_close) {
		pt_fconn_free(c);
		f->c = NULL;
	}
}

static void
on_released(pt_fconn *c, void *ctx)
{
	(void)c;
	fx *f = ctx;
	f->released++;
}

static void
setup_fx_ops(fx *f, const pt_fconn_params *p, const pt_fconn_ops *o)
{
	memset(f, 0, sizeof(*f));
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0, sv), 0);
	f->base = event_base_new();
	assert_non_null(f->base);
	f->peer = sv[1];
	f->free_on_close = true;
	f->c = pt_fconn_open(f->base, sv[0], NULL, NULL, p, o, f);
	assert_non_null(f->c);
}

static void
setup_fx(fx *f, const pt_fconn_params *p)
{
	setup_fx_ops(f, p, &ops);
}

static void
teardown_fx(fx *f)
{
	if (f->c != NULL)
		pt_fconn_free(f->c);
	if (f->peer >= 0)
		close(f->peer);
	event_base_free(f->base);
	free(f->in);
}

/* A few turns of the loop, none waiting. */
static void
spin(fx *f, int turns)
{
	for (int i = 0; i < turns; i++)
		event_base_loop(f->base, EVLOOP_NONBLOCK);
}

static void
client_send_frame(fx *f, size_t len)
{
	uint8_t buf[4 + 256] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16),
	    (uint8_t)(len >> 8), (uint8_t)len};
	assert_true(len <= 256);
	memset(buf + 4, 'x', len);
	assert_int_equal(write(f->peer, buf, 4 + len), (ssize_t)(4 + len));
}

/* Reads what is there; true at EOF. */
static bool
client_read(fx *f)
{
	for (;;) {
		if (f->in_cap - f->in_len < 65536) {
			f->in_cap = f->in_cap * 2 + 65536;
			f->in = realloc(f->in, f->in_cap);
			assert_non_null(f->in);
		}
		ssize_t n = read(f->peer, f->in + f->in_len,
		    f->in_cap - f->in_len);
		if (n == 0)
			return true;
		if (n < 0) {
			assert_true(errno == EAGAIN);
			return false;
		}
		f->in_len += (size_t)n;
	}
}

/* Whole frames the client has: counts them, checks their sizes. */
static size_t
client_frames(fx *f, size_t body_len, bool *end_marker)
{
	size_t n = 0, off = 0;
	*end_marker = false;
	while (f->in_len - off >= 4) {
		const uint8_t *p = f->in + off;
		uint32_t l = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		    (uint32_t)p[2] << 8 | p[3];
		if (l == 0) {
			*end_marker = true;
			off += 4;
			continue;
		}
		if (f->in_len - off - 4 < l)
			break;
		assert_int_equal(l, body_len);
		off += 4 + l;
		n++;
	}
	return n;
}

/* Reads and turns the loop until EOF on the client's side. */
static void
client_drain_to_eof(fx *f)
{
	for (int i = 0; i < 100000; i++) {
		spin(f, 1);
		if (client_read(f))
			return;
	}
	fail_msg("the connection did not close");
}

/* ---- backpressure ---- */

static void
test_backpressure_pauses_and_resumes(void **state)
{
	(void)state;
	fx f;
	pt_fconn_params p = {.max_frame = 1024, .pause_out = 256 * 1024};
	setup_fx(&f, &p);
	const size_t count = 200;  /* 200 replies of 64 KiB: 12.5 MiB */
	for (size_t i = 0; i < count; i++)
		client_send_frame(&f, 16);
	spin(&f, 200);
	/* The socket takes a little, the queue about pause_out, then no
	 * further frame is handled. */
	assert_true(f.frames < count);
	assert_true(f.max_queued <= p.pause_out + REPLY_SIZE + 4);
	size_t stalled = f.frames;
	spin(&f, 200);
	assert_int_equal(f.frames, stalled);
	/* The client reads: everything comes, nothing lost. */
	bool end;
	for (int i = 0; i < 100000 && client_frames(&f, REPLY_SIZE, &end) <
	    count; i++) {
		spin(&f, 1);
		assert_false(client_read(&f));
	}
	assert_int_equal(client_frames(&f, REPLY_SIZE, &end), count);
	assert_int_equal(f.frames, count);
	assert_false(f.closed);
	teardown_fx(&f);
}

/* ---- half-close ---- */

static void
test_half_close_with_a_pending_reply(void **state)
{
	(void)state;
	fx f;
	/* No backpressure: the end of input is seen while output waits. */
	pt_fconn_params p = {.max_frame = 1024, .pause_out = 64u << 20};
	setup_fx(&f, &p);
	f.hold = true;
	client_send_frame(&f, 16);
	shutdown(f.peer, SHUT_WR);
	spin(&f, 50);
	assert_int_equal(f.frames, 1);
	assert_false(f.closed);  /* the operation has not replied yet */
	/* 1 MiB: more than the socket takes at once. */
	for (int i = 0; i < 16; i++)
		assert_int_equal(pt_fconn_send(f.c, reply_body,
		    sizeof(reply_body)), 0);
	pt_fconn_release(f.c);
	client_drain_to_eof(&f);
	bool end;
	assert_int_equal(client_frames(&f, REPLY_SIZE, &end), 16);
	assert_true(f.closed);
	assert_int_equal(f.reason, PT_FCONN_PEER_CLOSED);
	assert_int_equal(f.released, 1);
	teardown_fx(&f);
}

static void
produce(pt_fconn *c, void *ctx)
{
	fx *f = ctx;
	while (f->chunks_left > 0 && pt_fconn_queued(c) < 128 * 1024) {
		f->chunks_left--;
		assert_int_equal(pt_fconn_send(c, reply_body, 4096), 0);
	}
	if (f->chunks_left == 0) {
		static const uint8_t end[4];
		pt_buf b = {0};
		assert_int_equal(pt_buf_append(&b, end, 4), 0);
		assert_int_equal(pt_fconn_send_buf(c, &b), 0);
		pt_fconn_stream_end(c);
	}
}

static void
stream_closed(pt_fconn *c, void *ctx)
{
	(void)c;
	fx *f = ctx;
	f->stream_closed++;
}

static void
start_stream(pt_fconn *c, const uint8_t *body, size_t len, void *ctx)
{
	(void)body;
	(void)len;
	fx *f = ctx;
	f->frames++;
	pt_fconn_stream st = {.drain = produce, .close = stream_closed,
	    .ctx = f};
	pt_fconn_set_stream(c, &st);
	produce(c, f);
}

static void
test_half_close_with_a_stream(void **state)
{
	(void)state;
	fx f;
	pt_fconn_params p = {.max_frame = 1024};
	static const pt_fconn_ops stream_ops = {
		.frame = start_stream,
		.closed = on_closed,
		.released = on_released,
	};
	setup_fx_ops(&f, &p, &stream_ops);
	f.chunks_left = 4096;  /* 16 MiB: far more than the socket takes */
	client_send_frame(&f, 16);
	shutdown(f.peer, SHUT_WR);
	client_drain_to_eof(&f);
	bool end;
	assert_int_equal(client_frames(&f, 4096, &end), 4096);
	assert_true(end);
	assert_int_equal(f.stream_closed, 1);
	assert_true(f.closed);
	assert_int_equal(f.reason, PT_FCONN_PEER_CLOSED);
	teardown_fx(&f);
}

static int
consume(pt_fconn *c, const uint8_t *p, size_t n, bool end, void *ctx)
{
	(void)c;
	(void)p;
	(void)n;
	(void)end;
	fx *f = ctx;
	f->frames++;
	return 0;
}

static void
test_half_close_cuts_an_upload(void **state)
{
	(void)state;
	fx f;
	pt_fconn_params p = {.max_frame = 1024};
	setup_fx(&f, &p);
	pt_fconn_stream st = {.frame = consume, .close = stream_closed,
	    .ctx = &f};
	pt_fconn_set_stream(f.c, &st);
	client_send_frame(&f, 16);
	client_send_frame(&f, 16);
	shutdown(f.peer, SHUT_WR);
	client_drain_to_eof(&f);
	assert_int_equal(f.frames, 2);  /* what came is still handed out */
	assert_int_equal(f.stream_closed, 1);
	assert_true(f.closed);
	assert_int_equal(f.reason, PT_FCONN_CUT);
	teardown_fx(&f);
}

static void
test_end_marker_ends_the_conversation(void **state)
{
	(void)state;
	fx f;
	pt_fconn_params p = {.max_frame = 1024};
	setup_fx(&f, &p);
	client_send_frame(&f, 16);
	static const uint8_t end[4];
	assert_int_equal(write(f.peer, end, 4), 4);
	client_send_frame(&f, 16);  /* after the end: not handled */
	client_drain_to_eof(&f);
	bool em;
	assert_int_equal(client_frames(&f, REPLY_SIZE, &em), 1);
	assert_int_equal(f.frames, 1);
	assert_int_equal(f.reason, PT_FCONN_DONE);
	teardown_fx(&f);
}

/* ---- limits ---- */

static void
test_frame_too_big(void **state)
{
	(void)state;
	fx f;
	pt_fconn_params p = {.max_frame = 16};
	setup_fx(&f, &p);
	client_send_frame(&f, 100);
	client_drain_to_eof(&f);
	assert_int_equal(f.frames, 0);
	assert_true(f.closed);
	assert_int_equal(f.reason, PT_FCONN_TOO_BIG);
	assert_int_equal(f.released, 1);
	teardown_fx(&f);
}

static void
test_output_cap(void **state)
{
	(void)state;
	fx f;
	pt_fconn_params p = {.max_frame = 16, .max_out = 1024 * 1024};
	setup_fx(&f, &p);
	int rc = 0;
	for (int i = 0; i < 64 && rc == 0; i++)
		rc = pt_fconn_send(f.c, reply_body, sizeof(reply_body));
	assert_int_equal(rc, -1);  /* nobody reads: the cap is reached */
	assert_true(pt_fconn_queued(f.c) <= p.max_out);
	teardown_fx(&f);
}

/* ---- lifetime ---- */

static void
test_closed_while_held(void **state)
{
	(void)state;
	fx f;
	pt_fconn_params p = {.max_frame = 1024};
	setup_fx(&f, &p);
	f.hold = true;
	pt_fconn_stream st = {.drain = produce, .close = stream_closed,
	    .ctx = &f};
	client_send_frame(&f, 16);
	spin(&f, 20);
	assert_int_equal(f.frames, 1);
	pt_fconn *c = f.c;
	pt_fconn_set_stream(c, &st);
	/* The peer goes; the holder's send finds out. */
	close(f.peer);
	f.peer = -1;
	while (pt_fconn_send(c, reply_body, sizeof(reply_body)) == 0)
		;
	assert_true(pt_fconn_is_closed(c));
	assert_false(pt_fconn_streaming(c));
	/* The stream's close waits for the holder, the struct too. */
	assert_int_equal(f.stream_closed, 0);
	spin(&f, 20);  /* `closed` comes from the loop: the owner frees */
	assert_true(f.closed);
	assert_null(f.c);
	assert_int_equal(f.released, 0);
	assert_int_equal(f.stream_closed, 0);
	/* Still usable by the holder, harmlessly. */
	assert_int_equal(pt_fconn_send(c, reply_body, 10), -1);
	assert_int_equal(pt_fconn_fd(c), -1);
	pt_fconn_release(c);
	assert_int_equal(f.stream_closed, 1);
	assert_int_equal(f.released, 1);
	teardown_fx(&f);
}

static void
test_abort_from_outside_frees_at_once(void **state)
{
	(void)state;
	fx f;
	pt_fconn_params p = {.max_frame = 1024};
	setup_fx(&f, &p);
	pt_fconn_abort(f.c, "dropped");
	assert_true(f.closed);
	assert_int_equal(f.reason, PT_FCONN_ABORTED);
	assert_int_equal(f.released, 1);
	assert_null(f.c);
	assert_true(client_read(&f));  /* EOF */
	teardown_fx(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backpressure_pauses_and_resumes),
		cmocka_unit_test(test_half_close_with_a_pending_reply),
		cmocka_unit_test(test_half_close_with_a_stream),
		cmocka_unit_test(test_half_close_cuts_an_upload),
		cmocka_unit_test(test_end_marker_ends_the_conversation),
		cmocka_unit_test(test_frame_too_big),
		cmocka_unit_test(test_output_cap),
		cmocka_unit_test(test_closed_while_held),
		cmocka_unit_test(test_abort_from_outside_frees_at_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
