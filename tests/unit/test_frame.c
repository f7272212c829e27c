/* Unit tests for frame.c: the length-prefixed frame reader and writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frame.h"

static void
push_ok(pt_frame_reader *r, const void *p, size_t n)
{
	assert_int_equal(pt_frame_reader_push(r, p, n), 0);
}

static void
expect_frame(pt_frame_reader *r, const void *body, size_t n)
{
	const uint8_t *b;
	size_t len;
	assert_int_equal(pt_frame_reader_next(r, &b, &len), PT_FRAME_OK);
	assert_int_equal(len, n);
	assert_memory_equal(b, body, n);
}

static void
expect_status(pt_frame_reader *r, pt_frame_status st)
{
	const uint8_t *b;
	size_t len;
	assert_int_equal(pt_frame_reader_next(r, &b, &len), st);
	assert_null(b);
	assert_int_equal(len, 0);
}

static void
test_writer(void **state)
{
	(void)state;
	pt_buf out = {0};
	assert_int_equal(pt_frame_append(&out, (const uint8_t *)"abc", 3), 0);
	assert_int_equal(pt_frame_append(&out, NULL, 0), 0);
	assert_int_equal(pt_frame_append_end(&out), 0);
	assert_int_equal(out.len, 15);
	assert_memory_equal(out.data,
	    "\x00\x00\x00\x03" "abc" "\x00\x00\x00\x00" "\x00\x00\x00\x00", 15);
	assert_int_equal(pt_frame_append(&out, (const uint8_t *)"",
	    (size_t)INT32_MAX + 1), -1);
	pt_buf_free(&out);
}

static void
test_partial_pushes(void **state)
{
	(void)state;
	pt_frame_reader r;
	pt_frame_reader_init(&r, PT_FRAME_DEFAULT_MAX);
	expect_status(&r, PT_FRAME_NEED_MORE);
	push_ok(&r, "\x00\x00", 2);
	expect_status(&r, PT_FRAME_NEED_MORE);
	push_ok(&r, "\x00\x05he", 4);
	expect_status(&r, PT_FRAME_NEED_MORE);
	assert_int_equal(pt_frame_reader_pending(&r), 6);
	push_ok(&r, "llo\x00", 4);
	expect_frame(&r, "hello", 5);
	assert_int_equal(pt_frame_reader_pending(&r), 1);
	expect_status(&r, PT_FRAME_NEED_MORE);
	push_ok(&r, "\x00\x00\x01" "x", 4);
	expect_frame(&r, "x", 1);
	assert_int_equal(pt_frame_reader_pending(&r), 0);
	pt_frame_reader_free(&r);
}

static void
test_byte_by_byte(void **state)
{
	(void)state;
	static const uint8_t stream[] = "\x00\x00\x00\x02" "ab"
	    "\x00\x00\x00\x01" "c" "\x00\x00\x00\x00";
	pt_frame_reader r;
	pt_frame_reader_init(&r, 100);
	int frames = 0, ends = 0;
	for (size_t i = 0; i < sizeof(stream) - 1; i++) {
		push_ok(&r, stream + i, 1);
		const uint8_t *b;
		size_t len;
		pt_frame_status st = pt_frame_reader_next(&r, &b, &len);
		if (st == PT_FRAME_OK) {
			frames++;
			if (frames == 1) {
				assert_int_equal(i, 5);
				assert_memory_equal(b, "ab", 2);
			} else {
				assert_int_equal(i, 10);
				assert_memory_equal(b, "c", 1);
			}
		} else if (st == PT_FRAME_END) {
			ends++;
			assert_int_equal(i, 14);
		} else {
			assert_int_equal(st, PT_FRAME_NEED_MORE);
		}
	}
	assert_int_equal(frames, 2);
	assert_int_equal(ends, 1);
	pt_frame_reader_free(&r);
}

static void
test_many_in_one_push(void **state)
{
	(void)state;
	pt_buf out = {0};
	for (int i = 0; i < 1000; i++) {
		/* Lengths 1..4: a zero length would be an end marker. */
		uint8_t body[4] = {(uint8_t)i, (uint8_t)(i >> 8), 0x55, 0};
		assert_int_equal(pt_frame_append(&out, body,
		    (size_t)(i % 4 + 1)), 0);
	}
	assert_int_equal(pt_frame_append_end(&out), 0);
	pt_frame_reader r;
	pt_frame_reader_init(&r, 16);
	push_ok(&r, out.data, out.len);
	for (int i = 0; i < 1000; i++) {
		const uint8_t *b;
		size_t len;
		assert_int_equal(pt_frame_reader_next(&r, &b, &len),
		    PT_FRAME_OK);
		assert_int_equal(len, (size_t)(i % 4 + 1));
		assert_int_equal(b[0], (uint8_t)i);
	}
	expect_status(&r, PT_FRAME_END);
	expect_status(&r, PT_FRAME_NEED_MORE);
	pt_frame_reader_free(&r);
	pt_buf_free(&out);
}

static void
test_end_markers(void **state)
{
	(void)state;
	pt_frame_reader r;
	pt_frame_reader_init(&r, 100);
	/* Zero and any negative length are the end marker. */
	push_ok(&r, "\x00\x00\x00\x00" "\xff\xff\xff\xff" "\x80\x00\x00\x00",
	    12);
	expect_status(&r, PT_FRAME_END);
	expect_status(&r, PT_FRAME_END);
	expect_status(&r, PT_FRAME_END);
	expect_status(&r, PT_FRAME_NEED_MORE);
	/* The reader goes on after an end marker (streams end, the
	 * conversation may not). */
	push_ok(&r, "\x00\x00\x00\x01" "z", 5);
	expect_frame(&r, "z", 1);
	pt_frame_reader_free(&r);
}

static void
test_too_big(void **state)
{
	(void)state;
	pt_frame_reader r;
	pt_frame_reader_init(&r, 10);
	push_ok(&r, "\x00\x00\x00\x0a" "0123456789", 14);
	expect_frame(&r, "0123456789", 10);
	push_ok(&r, "\x00\x00\x00\x0b" "0123", 8);
	expect_status(&r, PT_FRAME_TOO_BIG);
	/* Sticky: asking again does not skip it. */
	expect_status(&r, PT_FRAME_TOO_BIG);
	pt_frame_reader_free(&r);
}

/* A forged length must not make the reader allocate it up front. */
static void
test_step_bound(void **state)
{
	(void)state;
	pt_frame_reader r;
	pt_frame_reader_init(&r, (size_t)2 << 30);
	push_ok(&r, "\x40\x00\x00\x00", 4); /* 1 GiB */
	expect_status(&r, PT_FRAME_NEED_MORE);
	assert_true(r.cap <= PT_FRAME_STEP + 4);
	size_t avail;
	assert_non_null(pt_frame_reader_space(&r, &avail));
	assert_true(avail > 0);
	assert_true(r.cap <= PT_FRAME_STEP + 4);
	/* Feeding 1 MiB grows it only in proportion to what arrived. */
	uint8_t *chunk = calloc(1, 4096);
	assert_non_null(chunk);
	for (int i = 0; i < 256; i++)
		push_ok(&r, chunk, 4096);
	expect_status(&r, PT_FRAME_NEED_MORE);
	assert_int_equal(pt_frame_reader_pending(&r), 4 + (1 << 20));
	assert_true(r.cap <= 2 * (r.len + PT_FRAME_STEP));
	free(chunk);
	pt_frame_reader_free(&r);
}

/* The space offered never runs past what the current frame needs by
 * more than the step, and a large frame completes through space/commit. */
static void
test_space_commit(void **state)
{
	(void)state;
	size_t body_len = 300000;
	pt_buf out = {0};
	uint8_t *body = malloc(body_len);
	assert_non_null(body);
	for (size_t i = 0; i < body_len; i++)
		body[i] = (uint8_t)(i * 7);
	assert_int_equal(pt_frame_append(&out, body, body_len), 0);
	pt_frame_reader r;
	pt_frame_reader_init(&r, PT_FRAME_DEFAULT_MAX);
	size_t off = 0;
	while (off < out.len) {
		size_t avail;
		uint8_t *dst = pt_frame_reader_space(&r, &avail);
		assert_non_null(dst);
		assert_true(avail > 0);
		size_t k = out.len - off < avail ? out.len - off : avail;
		if (k > 1000)
			k = 1000 + (off % 3000); /* ragged reads */
		if (k > out.len - off)
			k = out.len - off;
		if (k > avail)
			k = avail;
		memcpy(dst, out.data + off, k);
		pt_frame_reader_commit(&r, k);
		off += k;
	}
	expect_frame(&r, body, body_len);
	/* After the big frame, the buffer shrinks back. */
	size_t avail;
	assert_non_null(pt_frame_reader_space(&r, &avail));
	assert_true(r.cap <= 4 * PT_FRAME_STEP);
	free(body);
	pt_buf_free(&out);
	pt_frame_reader_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writer),
		cmocka_unit_test(test_partial_pushes),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_many_in_one_push),
		cmocka_unit_test(test_end_markers),
		cmocka_unit_test(test_too_big),
		cmocka_unit_test(test_step_bound),
		cmocka_unit_test(test_space_commit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
