/* Unit tests for der.c and gtime.c: primitive encodings, SET OF order, and
 * each strict-decoding rejection of albatross-wire.md §3.3. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "der.h"
#include "wire.h"

/* Hex with spaces -> bytes (test inputs are small). */
static size_t
hex(const char *s, uint8_t *out, size_t cap)
{
	long n = pt_hex_decode(s, out, cap);
	assert_true(n >= 0);
	return (size_t)n;
}

static void
expect_bytes(const pt_buf *b, const char *want_hex)
{
	uint8_t want[512];
	size_t n = hex(want_hex, want, sizeof(want));
	assert_int_equal(b->len, n);
	assert_memory_equal(b->data, want, n);
}

static void
check_int_encoding(int64_t v, const char *want_hex)
{
	pt_buf b = {0};
	pt_derw w;
	pt_derw_init(&w, &b, NULL);
	pt_derw_int(&w, "v", v);
	assert_int_equal(pt_derw_finish(&w), 0);
	expect_bytes(&b, want_hex);
	/* and back */
	pt_der d;
	pt_err err;
	int64_t back;
	pt_der_init(&d, b.data, b.len, NULL, &err);
	assert_int_equal(pt_der_int(&d, "v", &back), 0);
	assert_true(back == v);
	assert_int_equal(pt_der_done(&d, "v"), 0);
	pt_buf_free(&b);
}

static void
test_integers(void **state)
{
	(void)state;
	check_int_encoding(0, "02 01 00");
	check_int_encoding(1, "02 01 01");
	check_int_encoding(127, "02 01 7f");
	check_int_encoding(128, "02 02 00 80");
	check_int_encoding(255, "02 02 00 ff");
	check_int_encoding(256, "02 02 01 00");
	check_int_encoding(512, "02 02 02 00");
	check_int_encoding(-1, "02 01 ff");
	check_int_encoding(-128, "02 01 80");
	check_int_encoding(-129, "02 02 ff 7f");
	check_int_encoding(0x8843, "02 03 00 88 43");
	check_int_encoding(PT_DER_INT_MAX, "02 08 3f ff ff ff ff ff ff ff");
	check_int_encoding(PT_DER_INT_MIN, "02 08 c0 00 00 00 00 00 00 00");

	/* Out of albatross's 63-bit range: refused by the checked writer. */
	pt_buf b = {0};
	pt_err err;
	pt_derw w;
	pt_derw_init(&w, &b, &err);
	pt_derw_int(&w, "memory", PT_DER_INT_MAX + 1);
	assert_int_equal(pt_derw_finish(&w), -1);
	assert_non_null(strstr(err.msg, "memory"));
	/* The raw writer takes any int64. */
	pt_buf_reset(&b);
	pt_derw_init(&w, &b, &err);
	pt_derw_integer(&w, INT64_MIN);
	assert_int_equal(pt_derw_finish(&w), 0);
	expect_bytes(&b, "02 08 80 00 00 00 00 00 00 00");
	pt_buf_free(&b);
}

static void
check_octets_header(size_t n, const char *want_hdr_hex)
{
	uint8_t *data = calloc(1, n + 1);
	assert_non_null(data);
	pt_buf b = {0};
	pt_derw w;
	pt_derw_init(&w, &b, NULL);
	pt_derw_octets(&w, data, n);
	assert_int_equal(pt_derw_finish(&w), 0);
	uint8_t hdr[8];
	size_t k = hex(want_hdr_hex, hdr, sizeof(hdr));
	assert_int_equal(b.len, k + n);
	assert_memory_equal(b.data, hdr, k);
	pt_der d;
	pt_blob blob;
	pt_der_init(&d, b.data, b.len, NULL, NULL);
	assert_int_equal(pt_der_octets(&d, "x", &blob), 0);
	assert_int_equal(blob.len, n);
	assert_ptr_equal(blob.data, b.data + k); /* not copied */
	pt_buf_free(&b);
	free(data);
}

static void
test_lengths(void **state)
{
	(void)state;
	check_octets_header(0, "04 00");
	check_octets_header(127, "04 7f");
	check_octets_header(128, "04 81 80");
	check_octets_header(255, "04 81 ff");
	check_octets_header(256, "04 82 01 00");
	check_octets_header(65535, "04 82 ff ff");
	check_octets_header(65536, "04 83 01 00 00");
}

static void
test_constructed_lengths(void **state)
{
	(void)state;
	pt_buf b = {0};
	pt_derw w;
	pt_derw_init(&w, &b, NULL);
	size_t outer = pt_derw_begin(&w, PT_DER_SEQ);
	size_t inner = pt_derw_begin(&w, PT_DER_CTX(3));
	uint8_t big[200] = {0};
	pt_derw_octets(&w, big, sizeof(big));
	pt_derw_end(&w, inner);
	pt_derw_null(&w);
	pt_derw_end(&w, outer);
	assert_int_equal(pt_derw_finish(&w), 0);
	/* 30 81 D0  A3 81 CB  04 81 C8 <200>  05 00 */
	assert_int_equal(b.len, 3 + 3 + 3 + 200 + 2);
	assert_memory_equal(b.data, "\x30\x81\xd0\xa3\x81\xcb\x04\x81\xc8", 9);
	assert_memory_equal(b.data + 209, "\x05\x00", 2);
	pt_buf_free(&b);
}

static void
test_set_of_order(void **state)
{
	(void)state;
	pt_buf b = {0};
	pt_derw w;
	pt_derw_init(&w, &b, NULL);
	size_t set = pt_derw_begin(&w, PT_DER_SET);
	pt_derw_integer(&w, 256);
	pt_derw_octets(&w, "ab", 2);
	pt_derw_integer(&w, -1);
	pt_derw_octets(&w, "a", 1);
	pt_derw_integer(&w, 1);
	pt_derw_sort_set(&w, set);
	pt_derw_end(&w, set);
	assert_int_equal(pt_derw_finish(&w), 0);
	/* Byte-wise order of complete encodings: negative INTEGERs sort
	 * after positive ones of the same length, shorter lengths first. */
	expect_bytes(&b, "31 11 02 01 01 02 01 ff 02 02 01 00 04 01 61 "
	    "04 02 61 62");

	/* §13.11: SEQUENCEs order by their length octet first. */
	pt_buf_reset(&b);
	pt_derw_init(&w, &b, NULL);
	set = pt_derw_begin(&w, PT_DER_SET);
	size_t s1 = pt_derw_begin(&w, PT_DER_SEQ);
	pt_derw_text(&w, "n", "storage", 7);
	pt_derw_text(&w, "d", "disk1", 5);
	pt_derw_integer(&w, 4096);
	pt_derw_end(&w, s1);
	size_t s2 = pt_derw_begin(&w, PT_DER_SEQ);
	pt_derw_text(&w, "n", "data", 4);
	pt_derw_end(&w, s2);
	pt_derw_sort_set(&w, set);
	pt_derw_end(&w, set);
	assert_int_equal(pt_derw_finish(&w), 0);
	expect_bytes(&b, "31 1E 30 06 0C 04 64 61 74 61 30 14 0C 07 73 74 "
	    "6F 72 61 67 65 0C 05 64 69 73 6B 31 02 02 10 00");
	pt_buf_free(&b);
}

static void
test_other_primitives(void **state)
{
	(void)state;
	pt_buf b = {0};
	pt_derw w;
	pt_derw_init(&w, &b, NULL);
	pt_derw_bool(&w, true);
	pt_derw_bool(&w, false);
	pt_derw_null(&w);
	pt_derw_int64(&w, 7);
	pt_derw_int64(&w, -2);
	pt_derw_text(&w, "t", "hi", 2);
	pt_name n;
	assert_int_equal(pt_name_parse_str("FOO:Bar", &n, NULL), 0);
	pt_derw_name(&w, &n);
	pt_derw_time(&w, INT64_C(1704164645000));
	assert_int_equal(pt_derw_finish(&w), 0);
	expect_bytes(&b, "01 01 ff 01 01 00 05 00 "
	    "04 08 00 00 00 00 00 00 00 07 04 08 ff ff ff ff ff ff ff fe "
	    "0c 02 68 69 0c 07 66 6f 6f 3a 62 61 72 "
	    "18 0f 32 30 32 34 30 31 30 32 30 33 30 34 30 35 5a");

	pt_arena a = {0};
	pt_err err;
	pt_der d;
	bool v;
	int64_t i;
	pt_text t;
	pt_name nm;
	pt_der_init(&d, b.data, b.len, &a, &err);
	assert_int_equal(pt_der_bool(&d, "b", &v), 0);
	assert_true(v);
	assert_int_equal(pt_der_bool(&d, "b", &v), 0);
	assert_false(v);
	assert_int_equal(pt_der_null(&d, "n"), 0);
	assert_int_equal(pt_der_int64(&d, "i", &i), 0);
	assert_true(i == 7);
	assert_int_equal(pt_der_int64(&d, "i", &i), 0);
	assert_true(i == -2);
	assert_int_equal(pt_der_text(&d, "t", &t), 0);
	assert_string_equal(t.s, "hi");
	assert_int_equal(pt_der_name(&d, "n", &nm), 0);
	assert_string_equal(nm.text, "foo:bar");
	assert_int_equal(pt_der_time(&d, "t", &i), 0);
	assert_true(i == INT64_C(1704164645000));
	assert_true(pt_der_at_end(&d));
	pt_arena_free(&a);

	/* Invalid text is not written either. */
	pt_buf_reset(&b);
	pt_derw_init(&w, &b, &err);
	pt_derw_text(&w, "line", "a\0b", 3);
	assert_int_equal(pt_derw_finish(&w), -1);
	pt_buf_free(&b);
}

/* Decodes hex with `fn` and expects failure with `needle` in the message. */
typedef int (*reader_fn)(pt_der *d);

static int read_int(pt_der *d) { int64_t v; return pt_der_int(d, "x", &v); }
static int read_bool(pt_der *d) { bool v; return pt_der_bool(d, "x", &v); }
static int read_null(pt_der *d) { return pt_der_null(d, "x"); }
static int read_i64(pt_der *d) { int64_t v; return pt_der_int64(d, "x", &v); }
static int read_mac(pt_der *d) { uint8_t m[6]; return pt_der_mac(d, "x", m); }
static int read_text(pt_der *d) { pt_text t; return pt_der_text(d, "x", &t); }
static int read_name(pt_der *d) { pt_name n; return pt_der_name(d, "x", &n); }
static int read_time(pt_der *d) { int64_t v; return pt_der_time(d, "x", &v); }
static int
read_octets(pt_der *d)
{
	pt_blob b;
	return pt_der_octets(d, "x", &b);
}

static void
reject(reader_fn fn, const char *in_hex, const char *needle)
{
	uint8_t in[300];
	size_t n = hex(in_hex, in, sizeof(in));
	pt_arena a = {0};
	pt_err err = {{0}};
	pt_der d;
	pt_der_init(&d, in, n, &a, &err);
	int rc = fn(&d);
	if (rc == 0)
		fail_msg("accepted %s", in_hex);
	if (strstr(err.msg, needle) == NULL)
		fail_msg("%s: message '%s' lacks '%s'", in_hex, err.msg,
		    needle);
	pt_arena_free(&a);
}

static void
accept(reader_fn fn, const char *in_hex)
{
	uint8_t in[300];
	size_t n = hex(in_hex, in, sizeof(in));
	pt_arena a = {0};
	pt_err err = {{0}};
	pt_der d;
	pt_der_init(&d, in, n, &a, &err);
	if (fn(&d) != 0)
		fail_msg("rejected %s: %s", in_hex, err.msg);
	assert_int_equal(pt_der_done(&d, "x"), 0);
	pt_arena_free(&a);
}

static void
test_reject_lengths(void **state)
{
	(void)state;
	reject(read_octets, "04 80 00 00", "indefinite");
	reject(read_octets, "04 81 05 00 00 00 00 00", "redundant length");
	reject(read_octets, "04 82 00 80", "leading zero");
	reject(read_octets, "04 85 01 00 00 00 00", "octets");
	reject(read_octets, "04 84 ff ff ff ff 00", "exceeds");
	reject(read_octets, "04 05 00", "exceeds");
	reject(read_octets, "04 82 01", "truncated");
	reject(read_octets, "04", "missing length");
	reject(read_octets, "", "missing");
	reject(read_octets, "1f 04 00", "tag");
	/* Constructed (segmented) OCTET STRING is a wrong tag. */
	reject(read_octets, "24 02 04 00", "unexpected tag");
	/* The albatross quirk: the long form of exactly 127 is accepted. */
	char buf[3 * 130 + 16] = "04 81 7f";
	for (int i = 0; i < 127; i++)
		strcat(buf, " 00");
	accept(read_octets, buf);
}

static void
test_reject_primitives(void **state)
{
	(void)state;
	reject(read_int, "02 00", "empty");
	reject(read_int, "02 02 00 14", "redundant");
	reject(read_int, "02 02 ff 80", "redundant");
	reject(read_int, "02 09 01 00 00 00 00 00 00 00 00", "overflow");
	reject(read_int, "02 08 40 00 00 00 00 00 00 00", "overflow");
	reject(read_int, "02 08 bf ff ff ff ff ff ff ff", "overflow");
	reject(read_int, "04 01 00", "unexpected tag");
	accept(read_int, "02 02 00 80");
	accept(read_int, "02 02 ff 7f");

	reject(read_bool, "01 00", "BOOLEAN of 0");
	reject(read_bool, "01 02 ff ff", "BOOLEAN of 2");
	accept(read_bool, "01 01 01"); /* any non-zero is TRUE */
	uint8_t one[] = {0x01, 0x01, 0x01};
	pt_der d;
	bool v = false;
	pt_der_init(&d, one, 3, NULL, NULL);
	assert_int_equal(pt_der_bool(&d, "x", &v), 0);
	assert_true(v);

	reject(read_null, "05 01 00", "NULL with content");
	reject(read_i64, "04 07 00 00 00 00 00 00 00", "Int64 of 7");
	reject(read_i64, "04 09 00 00 00 00 00 00 00 00 00", "Int64 of 9");
	reject(read_mac, "04 05 00 00 00 00 00", "MAC");
	reject(read_mac, "04 07 00 00 00 00 00 00 00", "MAC");
	accept(read_mac, "04 06 00 de ad be ef 00");

	reject(read_text, "0c 02 c0 80", "UTF-8");        /* overlong */
	reject(read_text, "0c 03 ed a0 80", "UTF-8");     /* surrogate */
	reject(read_text, "0c 04 f4 90 80 80", "UTF-8");  /* > U+10FFFF */
	reject(read_text, "0c 02 e2 82", "UTF-8");        /* truncated */
	reject(read_text, "0c 01 ff", "UTF-8");
	reject(read_text, "0c 03 61 00 62", "NUL");
	reject(read_text, "13 02 61 62", "unexpected tag"); /* Printable */
	accept(read_text, "0c 07 68 c3 a9 f0 9f 90 90");
	accept(read_text, "0c 00");

	reject(read_name, "0c 00", "empty name");
	reject(read_name, "0c 03 61 3a 3a", "x");
	reject(read_name, "13 04 3a 66 6f 6f", "unexpected tag");
	accept(read_name, "0c 04 3a 46 4f 4f");

	reject(read_time, "18 08 32 30 32 34 30 31 30 32", "YYYYMMDDHH");
	reject(read_time, "0c 0f 32 30 32 34 30 31 30 32 30 33 30 34 30 35 5a",
	    "unexpected tag");
}

static void
test_structure(void **state)
{
	(void)state;
	pt_err err;
	pt_der d, c;
	/* Trailing bytes inside a constructed value. */
	uint8_t seq[] = {0x30, 0x04, 0x05, 0x00, 0x05, 0x00, 0x00};
	pt_der_init(&d, seq, sizeof(seq), NULL, &err);
	assert_int_equal(pt_der_expect(&d, PT_DER_SEQ, "seq", &c), 0);
	assert_int_equal(pt_der_null(&c, "a"), 0);
	assert_int_equal(pt_der_done(&c, "seq"), -1);
	assert_non_null(strstr(err.msg, "trailing"));
	/* ... and after the outermost value. */
	assert_int_equal(pt_der_done(&d, "message"), -1);
	assert_int_equal(pt_der_peek(&d), 0x00);

	/* Counting with a limit. */
	uint8_t list[] = {0x05, 0x00, 0x05, 0x00, 0x05, 0x00};
	size_t n;
	pt_der_init(&d, list, sizeof(list), NULL, &err);
	assert_int_equal(pt_der_count(&d, 3, "list", &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(pt_der_count(&d, 2, "list", &n), -1);
	assert_non_null(strstr(err.msg, "more than 2"));
	/* Counting validates each element. */
	uint8_t badlist[] = {0x05, 0x00, 0x04, 0x05};
	pt_der_init(&d, badlist, sizeof(badlist), NULL, &err);
	assert_int_equal(pt_der_count(&d, 10, "list", &n), -1);

	/* Multi-octet tags are not part of the profile. */
	uint8_t hightag[] = {0x1f, 0x04, 0x00};
	uint8_t tag;
	pt_der_init(&d, hightag, sizeof(hightag), NULL, &err);
	assert_int_equal(pt_der_any(&d, "x", &tag, &c), -1);
	assert_non_null(strstr(err.msg, "multi-octet"));

	/* Nesting is bounded. */
	uint8_t deep[2 * 40];
	for (int i = 0; i < 40; i++) {
		deep[2 * i] = 0xa0;
		deep[2 * i + 1] = (uint8_t)(2 * (40 - i - 1));
	}
	pt_der_init(&d, deep, sizeof(deep), NULL, &err);
	int levels = 0;
	for (;;) {
		if (pt_der_expect(&d, 0xa0, "nest", &c) < 0)
			break;
		d = c;
		levels++;
	}
	assert_int_equal(levels, PT_DER_MAX_DEPTH);
	assert_non_null(strstr(err.msg, "deep"));
}

static void
check_time(const char *text, int64_t want)
{
	pt_time_ms t;
	pt_err err;
	if (pt_gtime_parse(text, strlen(text), &t, &err) != 0)
		fail_msg("%s: %s", text, err.msg);
	if (t != want)
		fail_msg("%s: got %lld want %lld", text, (long long)t,
		    (long long)want);
}

static void
check_time_bad(const char *text)
{
	pt_time_ms t;
	if (pt_gtime_parse(text, strlen(text), &t, NULL) == 0)
		fail_msg("accepted %s", text);
}

static void
test_gtime(void **state)
{
	(void)state;
	char buf[20];
	int64_t base = INT64_C(1704164645000); /* 2024-01-02T03:04:05Z */
	pt_gtime_format(base, buf);
	assert_string_equal(buf, "20240102030405Z");
	pt_gtime_format(base + 250, buf);
	assert_string_equal(buf, "20240102030405.250Z");
	pt_gtime_format(base + 5, buf);
	assert_string_equal(buf, "20240102030405.005Z");
	pt_gtime_format(0, buf);
	assert_string_equal(buf, "19700101000000Z");
	pt_gtime_format(-1, buf);
	assert_string_equal(buf, "19691231235959.999Z");
	pt_gtime_format(INT64_C(951782400000), buf); /* leap day 2000 */
	assert_string_equal(buf, "20000229000000Z");

	check_time("20240102030405Z", base);
	check_time("20240102030405.250Z", base + 250);
	check_time("20240102030405.5Z", base + 5);   /* the albatross quirk */
	check_time("20240102030405.25Z", base + 25);
	check_time("20240102030405", base);          /* no zone: UTC */
	check_time("202401020304Z", base - 5000);
	check_time("2024010203Z", base - 245000);
	check_time("20240102040405+0100", base);
	check_time("20240102023405-0030", base);
	check_time("20240102030460Z", base + 54000); /* leap second */
	check_time("19691231235959.999Z", -1);
	check_time("20000229000000Z", INT64_C(951782400000));

	check_time_bad("");
	check_time_bad("202401020");
	check_time_bad("20241302030405Z");
	check_time_bad("20230229000000Z");
	check_time_bad("20240102240000Z");
	check_time_bad("20240102036000Z");
	check_time_bad("20240102030405.Z");
	check_time_bad("20240102030405.1234Z");
	check_time_bad("20240102030405ZZ");
	check_time_bad("20240102030405+01");
	check_time_bad("20240102030405+2400");
	check_time_bad("2024010203040");
	check_time_bad("20240102030405 ");
	check_time_bad("2024010203.5Z");

	/* The writer refuses times four year digits cannot hold. */
	pt_buf b = {0};
	pt_derw w;
	pt_derw_init(&w, &b, NULL);
	pt_derw_time(&w, INT64_C(253402300800000));
	assert_int_equal(pt_derw_finish(&w), -1);
	pt_buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_constructed_lengths),
		cmocka_unit_test(test_set_of_order),
		cmocka_unit_test(test_other_primitives),
		cmocka_unit_test(test_reject_lengths),
		cmocka_unit_test(test_reject_primitives),
		cmocka_unit_test(test_structure),
		cmocka_unit_test(test_gtime),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
