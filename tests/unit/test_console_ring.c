/* Unit tests for console_ring.c: line splitting and the ring of lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "console_ring.h"

typedef struct {
	char lines[16][1024];
	size_t len[16];
	size_t n;
} collected;

static void
collect(const char *line, size_t len, void *ctx)
{
	collected *c = ctx;
	assert_true(c->n < 16);
	assert_true(len > 0);
	memcpy(c->lines[c->n], line, len);
	c->len[c->n++] = len;
}

static void
feed_str(pt_line_splitter *s, const char *p, collected *c)
{
	pt_line_splitter_feed(s, (const uint8_t *)p, strlen(p), collect, c);
}

static void
test_split_basic(void **state)
{
	(void)state;
	pt_line_splitter s;
	collected c = {0};
	pt_line_splitter_init(&s);
	feed_str(&s, "hello\n\nwor", &c);
	assert_int_equal(c.n, 1);
	feed_str(&s, "ld\nrest", &c);
	assert_int_equal(c.n, 2);
	assert_memory_equal(c.lines[0], "hello", 5);
	assert_memory_equal(c.lines[1], "world", 5);
	pt_line_splitter_flush(&s, collect, &c);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.len[2], 4);
}

/* A line of exactly the limit is kept whole, whatever the reads; one byte
 * more is cut and marked, and its tail dropped up to the newline. */
static void
test_split_limit(void **state)
{
	(void)state;
	for (size_t chunk = 1; chunk <= 600; chunk += 97) {
		pt_line_splitter s;
		collected c = {0};
		pt_line_splitter_init(&s);
		/* exactly 512, newline, then 513 'b', newline, then "x\n" */
		uint8_t in[2048];
		size_t n = 0;
		memset(in, 'a', 512);
		n = 512;
		in[n++] = '\n';
		memset(in + n, 'b', 513);
		n += 513;
		in[n++] = '\n';
		in[n++] = 'x';
		in[n++] = '\n';
		for (size_t off = 0; off < n; off += chunk) {
			size_t k = n - off < chunk ? n - off : chunk;
			pt_line_splitter_feed(&s, in + off, k, collect, &c);
		}
		assert_int_equal(c.n, 3);
		assert_int_equal(c.len[0], 512);
		assert_int_equal(c.len[1], 512 + strlen(PT_CONSOLE_TRUNCATED));
		assert_memory_equal(c.lines[1] + 512, PT_CONSOLE_TRUNCATED,
		    strlen(PT_CONSOLE_TRUNCATED));
		assert_int_equal(c.lines[1][0], 'b');
		assert_int_equal(c.len[2], 1);
		assert_int_equal(c.lines[2][0], 'x');
	}
}

static void
test_ring_wrap_and_queries(void **state)
{
	(void)state;
	pt_console_ring r;
	pt_console_ring_init(&r, 100);
	char buf[32];
	for (int i = 0; i < 250; i++) {
		int n = snprintf(buf, sizeof(buf), "line %d", i);
		assert_int_equal(pt_console_ring_add(&r, 1000 + i, buf,
		    (size_t)n), 0);
	}
	assert_int_equal(r.count, 100);
	assert_int_equal(r.total, 250);
	assert_string_equal(pt_console_ring_at(&r, 0)->line, "line 150");
	assert_string_equal(pt_console_ring_at(&r, 99)->line, "line 249");
	assert_null(pt_console_ring_at(&r, 100));
	assert_int_equal(pt_console_ring_last(&r, 10), 90);
	assert_int_equal(pt_console_ring_last(&r, 1000), 0);
	assert_int_equal(pt_console_ring_last(&r, 0), 100);
	assert_int_equal(pt_console_ring_last(&r, -5), 100);
	assert_int_equal(pt_console_ring_last(&r, INT64_MAX), 0);
	assert_int_equal(pt_console_ring_since(&r, 1200), 50);
	assert_int_equal(pt_console_ring_since(&r, 0), 0);
	assert_int_equal(pt_console_ring_since(&r, INT64_MAX), 100);
	assert_true(pt_console_ring_bytes(&r) > 100 * 8);
	pt_console_ring_free(&r);
}

static void
test_ring_small_and_clamped(void **state)
{
	(void)state;
	pt_console_ring r;
	pt_console_ring_init(&r, 0);
	assert_int_equal(r.capacity, 1);
	assert_int_equal(pt_console_ring_add(&r, 1, "a", 1), 0);
	assert_int_equal(pt_console_ring_add(&r, 2, "b", 1), 0);
	assert_int_equal(r.count, 1);
	assert_string_equal(pt_console_ring_at(&r, 0)->line, "b");
	pt_console_ring_free(&r);
	pt_console_ring_init(&r, SIZE_MAX);
	assert_int_equal(r.capacity, PT_CONSOLE_RING_MAX);
	/* A quiet ring costs nothing until lines arrive. */
	assert_int_equal(pt_console_ring_bytes(&r), 0);
	pt_console_ring_free(&r);
}

static void
test_utf8_sanitize(void **state)
{
	(void)state;
	char out[64];
	size_t n = pt_utf8_sanitize("h\xc3\xa9llo", 6, out);
	assert_int_equal(n, 6);
	assert_memory_equal(out, "h\xc3\xa9llo", 6);
	/* NUL, a lone continuation byte, an overlong '/', a surrogate and a
	 * truncated sequence each become U+FFFD. */
	n = pt_utf8_sanitize("a\0b\x80\xc0\xaf\xed\xa0\x80\xe2\x82", 11, out);
	assert_memory_equal(out, "a\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd"
	    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
	    "\xef\xbf\xbd", n);
	assert_int_equal(n, 2 + 9 * 3);
	n = pt_utf8_sanitize("\xf0\x9f\x98\x80", 4, out);
	assert_int_equal(n, 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_basic),
		cmocka_unit_test(test_split_limit),
		cmocka_unit_test(test_ring_wrap_and_queries),
		cmocka_unit_test(test_ring_small_and_clamped),
		cmocka_unit_test(test_utf8_sanitize),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
