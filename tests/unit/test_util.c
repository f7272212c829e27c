/* Unit tests for util.c: buffers, the arena, hex. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util.h"

static void
test_buf_append_insert(void **state)
{
	(void)state;
	pt_buf b = {0};
	assert_int_equal(pt_buf_append(&b, "world", 5), 0);
	assert_int_equal(pt_buf_insert(&b, 0, "hello ", 6), 0);
	assert_int_equal(pt_buf_printf(&b, " %d", 42), 0);
	assert_int_equal(b.len, 14);
	assert_memory_equal(b.data, "hello world 42", 14);
	assert_int_equal(pt_buf_insert(&b, 15, "x", 1), -1);
	pt_buf_free(&b);
}

static void
test_arena_limit(void **state)
{
	(void)state;
	pt_arena a = {.limit = 100};
	assert_non_null(pt_arena_alloc(&a, 50));
	assert_null(pt_arena_alloc(&a, 60));
	assert_null(pt_arena_calloc(&a, SIZE_MAX / 2, 4));
	char *s = pt_arena_strndup(&a, "abcdef", 3);
	assert_string_equal(s, "abc");
	pt_arena_free(&a);
	pt_arena big = {0};
	uint8_t *p = pt_arena_alloc(&big, 100000);
	assert_non_null(p);
	assert_int_equal(p[99999], 0);
	assert_non_null(pt_arena_alloc(&big, 8));
	pt_arena_free(&big);
}

static void
test_hex(void **state)
{
	(void)state;
	uint8_t out[8];
	assert_int_equal(pt_hex_decode("de ad\nBE ef", out, sizeof(out)), 4);
	assert_memory_equal(out, "\xde\xad\xbe\xef", 4);
	assert_int_equal(pt_hex_decode("abc", out, sizeof(out)), -1);
	assert_int_equal(pt_hex_decode("zz", out, sizeof(out)), -1);
	assert_int_equal(pt_hex_decode("00112233445566778899", out, 8), -1);
	char txt[9];
	pt_hex_encode((const uint8_t *)"\x01\xab\xff\x00", 4, txt);
	assert_string_equal(txt, "01abff00");
}

static void
test_fail(void **state)
{
	(void)state;
	pt_err e;
	assert_int_equal(pt_fail(&e, "bad %s", "thing"), -1);
	assert_int_equal(pt_fail_prefix(&e, "ctx"), -1);
	assert_string_equal(e.msg, "ctx: bad thing");
	assert_int_equal(pt_fail(NULL, "ignored"), -1);
}

/* A message cut in the middle of a multi-byte character stays valid
 * UTF-8: the partial character goes. */
static void
test_fail_cuts_at_utf8_boundary(void **state)
{
	(void)state;
	pt_err e;
	char name[600];
	size_t n = 0;
	for (int i = 0; i < 250; i++) {
		name[n++] = (char)0xc3;  /* é */
		name[n++] = (char)0xa9;
	}
	name[n] = '\0';
	for (int pad = 0; pad < 4; pad++) {
		pt_fail(&e, "%.*sdevice '%s': invalid name", pad, "xxx", name);
		size_t len = strlen(e.msg);
		/* Every é is complete: an even number of bytes after the
		 * ASCII prefix. */
		size_t prefix = (size_t)pad + strlen("device '");
		assert_true(len > prefix);
		assert_int_equal((len - prefix) % 2, 0);
		assert_int_not_equal((unsigned char)e.msg[len - 1], 0xc3);
	}
	char s1[] = "ab\xe2\x82";     /* a cut 3-byte sequence */
	pt_utf8_trim_tail(s1);
	assert_string_equal(s1, "ab");
	char s2[] = "ab\xe2\x82\xac"; /* a complete one stays */
	pt_utf8_trim_tail(s2);
	assert_string_equal(s2, "ab\xe2\x82\xac");
	char s3[] = "\xf0\x9f\x98";
	pt_utf8_trim_tail(s3);
	assert_string_equal(s3, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_append_insert),
		cmocka_unit_test(test_arena_limit),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_fail),
		cmocka_unit_test(test_fail_cuts_at_utf8_boundary),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
