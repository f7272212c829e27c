/*
 * Strict decoding (albatross-wire.md §3.3 and wire.h): malformed input is
 * rejected with a reason, never crashes, never reads outside the input.
 *
 * Inputs are written with a small DER assembler so that each one shows
 * only what is wrong with it:
 *
 *   "30{ 02 01 05 0C{':foo'} }"
 *
 * is a SEQUENCE whose length is computed (minimal DER); raw bytes are
 * written as hex, text in single quotes. A deliberately wrong length is
 * written out as raw bytes. Every group also checks a well-formed
 * neighbour of its bad inputs, so a broken assembler cannot make the
 * rejections pass vacuously.
 *
 * Every decode runs on a heap copy of exactly the input's size, so that
 * ASan catches a read past the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wire.h"
#include "wire_testlib.h"

/* ---- the assembler ---- */

static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void
put_length(pt_buf *out, size_t n)
{
	if (n < 128) {
		pt_buf_append_byte(out, (uint8_t)n);
		return;
	}
	uint8_t tmp[8];
	int k = 0;
	for (size_t v = n; v > 0; v >>= 8)
		tmp[k++] = (uint8_t)v;
	pt_buf_append_byte(out, (uint8_t)(0x80 | k));
	while (k > 0)
		pt_buf_append_byte(out, tmp[--k]);
}

/* Assembles until the end of the string or a closing brace; returns the
 * position after it. Aborts on syntax errors (a bug in the test). */
static const char *
assemble_into(const char *s, pt_buf *out, int depth)
{
	for (;;) {
		while (*s == ' ' || *s == '\n' || *s == '\t')
			s++;
		if (*s == '\0') {
			if (depth > 0)
				abort();
			return s;
		}
		if (*s == '}') {
			if (depth == 0)
				abort();
			return s + 1;
		}
		if (*s == '\'') {
			const char *end = strchr(s + 1, '\'');
			if (end == NULL)
				abort();
			pt_buf_append(out, s + 1, (size_t)(end - s - 1));
			s = end + 1;
			continue;
		}
		int hi = hex_digit(s[0]), lo = hi < 0 ? -1 : hex_digit(s[1]);
		if (lo < 0) {
			fprintf(stderr, "assembler: bad input at \"%.20s\"\n", s);
			abort();
		}
		uint8_t byte = (uint8_t)(hi << 4 | lo);
		s += 2;
		pt_buf_append_byte(out, byte);
		if (*s == '{') {
			pt_buf content = {0};
			s = assemble_into(s + 1, &content, depth + 1);
			put_length(out, content.len);
			pt_buf_append(out, content.data, content.len);
			pt_buf_free(&content);
		}
	}
}

/* The assembled bytes in a heap block of exactly their size. */
static uint8_t *
assemble(const char *src, size_t *n)
{
	pt_buf b = {0};
	assemble_into(src, &b, 0);
	if (b.oom)
		abort();
	*n = b.len;
	uint8_t *p = malloc(b.len == 0 ? 1 : b.len);
	if (p == NULL)
		abort();
	if (b.len > 0)
		memcpy(p, b.data, b.len);
	pt_buf_free(&b);
	return p;
}

/* ---- decoding ---- */

typedef enum { DEC_WIRE, DEC_CERTEXT, DEC_STATE } decoder;

/* Decodes a heap copy of exactly n bytes. On success, also checks that
 * the value encodes and that the encoding decodes again (a value the
 * decoder accepts must be one the codec can carry). */
static int
decode_exact(decoder d, const uint8_t *p, size_t n, pt_err *err)
{
	uint8_t *copy = malloc(n == 0 ? 1 : n);
	if (copy == NULL)
		abort();
	if (n > 0)
		memcpy(copy, p, n);
	memset(err, 0, sizeof(*err));
	pt_arena a = {0}, a2 = {0};
	pt_buf enc = {0};
	pt_err err2;
	int rc, rc2 = 0;
	switch (d) {
	case DEC_WIRE: {
		pt_wire w, w2;
		rc = pt_wire_decode(n == 0 ? NULL : copy, n, &a, &w, err);
		if (rc == 0 && (pt_wire_encode(&w, &enc, &err2) != 0 ||
		    pt_wire_decode(enc.data, enc.len, &a2, &w2, &err2) != 0))
			rc2 = -1;
		break;
	}
	case DEC_CERTEXT: {
		pt_certext c, c2;
		rc = pt_certext_decode(n == 0 ? NULL : copy, n, &a, &c, err);
		if (rc == 0 && (pt_certext_encode(&c, &enc, &err2) != 0 ||
		    pt_certext_decode(enc.data, enc.len, &a2, &c2, &err2) != 0))
			rc2 = -1;
		break;
	}
	default: {
		pt_state s, s2;
		rc = pt_state_decode(n == 0 ? NULL : copy, n, &a, &s, err);
		if (rc == 0 && (pt_state_encode(&s, &enc, &err2) != 0 ||
		    pt_state_decode(enc.data, enc.len, &a2, &s2, &err2) != 0))
			rc2 = -1;
		break;
	}
	}
	if (rc2 != 0) {
		tl_dump("accepted input whose value does not re-encode/decode",
		    p, n);
		fprintf(stderr, "  reason: %s\n", err2.msg);
		rc = -2;
	}
	pt_buf_free(&enc);
	pt_arena_free(&a2);
	pt_arena_free(&a);
	free(copy);
	return rc;
}

static bool
has_word(const char *msg, const char *words)
{
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", words);
	char *save = NULL;
	for (char *w = strtok_r(buf, "|", &save); w != NULL;
	    w = strtok_r(NULL, "|", &save))
		if (strcasestr(msg, w) != NULL)
			return true;
	return false;
}

/* The input must be rejected with a non-empty reason containing one of
 * the '|'-separated words (NULL: any reason). Returns false (after
 * printing why) otherwise, so a test can check many inputs and report
 * all that fail. */
static bool
rejected(decoder d, const char *what, const char *src, const char *words)
{
	size_t n;
	uint8_t *p = assemble(src, &n);
	pt_err err;
	int rc = decode_exact(d, p, n, &err);
	bool ok = rc == -1 && err.msg[0] != '\0' &&
	    (words == NULL || has_word(err.msg, words));
	if (!ok) {
		fprintf(stderr, "NOT REJECTED AS EXPECTED: %s: rc %d, reason "
		    "\"%s\"%s%s\n", what, rc, err.msg,
		    words ? ", wanted one of: " : "", words ? words : "");
		tl_dump("  input", p, n);
	}
	free(p);
	return ok;
}

static bool
accepted(decoder d, const char *what, const char *src)
{
	size_t n;
	uint8_t *p = assemble(src, &n);
	pt_err err;
	int rc = decode_exact(d, p, n, &err);
	if (rc != 0) {
		fprintf(stderr, "NOT ACCEPTED: %s: rc %d, reason \"%s\"\n", what,
		    rc, err.msg);
		tl_dump("  input", p, n);
	}
	free(p);
	return rc == 0;
}

#define REJECT(src, words) (failures += !rejected(DEC_WIRE, #src, src, words))
#define ACCEPT(src) (failures += !accepted(DEC_WIRE, #src, src))

/* ---- message templates ---- */

#define HDR(name) "30{ 02 01 05 04 08 00 00 00 00 00 00 00 00 0C{'" name "'} }"
#define CMD(name, body) "30{" HDR(name) "A0{" body "}}"
#define OK(name, body) "30{" HDR(name) "A1{" body "}}"
#define DATA(name, body) "30{" HDR(name) "A3{" body "}}"
#define FAILURE(bytes) "30{" HDR(":hello") "A2{ 0C{" bytes "}}}"
/* console add <integer bytes> (§13.9), the simplest INTEGER carrier */
#define CONSOLE_ADD(intbytes) CMD("foo:bar", "A0{ A0{" intbytes "}}")
/* create with configuration fields */
#define CREATE(cfg) CMD(":hello", "A3{ B4{ 30{" cfg "}}}")
#define CFG_HEAD "A0{05 00} 01 01 00 04{'ABC'} 01 01 FF A0{05 00}"
#define CFG_REST "31{02 01 00} 02 01 20"
#define CFG_CPUS "A3{02 01 01}"
#define CFG_OK CFG_HEAD CFG_REST CFG_CPUS
#define POLICY_ADD(pol) CMD("foo:", "A4{ A1{ 30{" pol "}}}")
#define POL_OK "30{02 01 00} 02 01 01 02 02 02 00 30{0C{'service'}}"
#define ARGV_CREATE(arg) CREATE(CFG_HEAD CFG_REST "A2{30{0C{" arg "}}}" \
	CFG_CPUS)

/* The bytes of §13.1 (console subscribe count 20 for :foo). */
#define V13_1 "30 20 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 04 " \
	"3A 66 6F 6F A0 09 A0 07 A2 05 A1 03 02 01 14"
#define V13_1_TAIL "0C 04 3A 66 6F 6F A0 09 A0 07 A2 05 A1 03 02 01 14"

/* ---- the tests ---- */

static void
test_assembler_matches_spec(void **state)
{
	(void)state;
	size_t n1, n2;
	uint8_t *a = assemble(CMD(":foo", "A0{ A2{ A1{ 02 01 14 }}}"), &n1);
	uint8_t *b = assemble(V13_1, &n2);
	bool same = n1 == n2 && memcmp(a, b, n1) == 0;
	if (!same)
		tl_diff(b, n2, a, n1);
	free(a);
	free(b);
	assert_true(same);
	int failures = 0;
	ACCEPT(V13_1);
	ACCEPT(CREATE(CFG_OK));
	ACCEPT(POLICY_ADD(POL_OK));
	ACCEPT(CONSOLE_ADD("02 01 05"));
	assert_int_equal(failures, 0);
}

static void
test_trailing_bytes(void **state)
{
	(void)state;
	int failures = 0;
	REJECT(V13_1 " 00", "trailing");
	REJECT(V13_1 " 30 00", "trailing");
	REJECT(V13_1 " " V13_1, "trailing");
	/* inside a constructed value: an extra component */
	REJECT(CMD(":foo", "A0{ A2{ A1{ 02 01 14 }} 05 00 }"), NULL);
	REJECT(CMD(":foo", "A0{ A2{ A1{ 02 01 14 } 05 00 }}"), NULL);
	REJECT("30{" HDR(":foo") "A0{ A0{ A2{ A1{ 02 01 14 }}}} 05 00 }", NULL);
	REJECT("30{ 30{ 02 01 05 04 08 00 00 00 00 00 00 00 00 0C{':foo'} "
	    "05 00 } A0{ A0{ A2{ A1{ 02 01 14 }}}}}", NULL);
	assert_int_equal(failures, 0);
}

static void
test_wrong_tags(void **state)
{
	(void)state;
	int failures = 0;
	/* outer and header SEQUENCE as SET, as a context tag */
	REJECT("31{" HDR(":foo") "A0{ A0{ A2{ A1{ 02 01 14 }}}}}", NULL);
	REJECT("A0{" HDR(":foo") "A0{ A0{ A2{ A1{ 02 01 14 }}}}}", NULL);
	REJECT("30{ 31{ 02 01 05 04 08 00 00 00 00 00 00 00 00 0C{':foo'}} "
	    "A0{ A0{ A2{ A1{ 02 01 14 }}}}}", NULL);
	/* version as OCTET STRING, sequence as INTEGER */
	REJECT("30{ 30{ 04 01 05 04 08 00 00 00 00 00 00 00 00 0C{':foo'}} "
	    "A0{ A0{ A2{ A1{ 02 01 14 }}}}}", NULL);
	REJECT("30{ 30{ 02 01 05 02 01 00 0C{':foo'}} "
	    "A0{ A0{ A2{ A1{ 02 01 14 }}}}}", NULL);
	/* name as OCTET STRING, PrintableString, IA5String */
	REJECT("30{ 30{ 02 01 05 04 08 00 00 00 00 00 00 00 00 04{':foo'}} "
	    "A0{ A0{ A2{ A1{ 02 01 14 }}}}}", NULL);
	REJECT("30{ 30{ 02 01 05 04 08 00 00 00 00 00 00 00 00 13{':foo'}} "
	    "A0{ A0{ A2{ A1{ 02 01 14 }}}}}", NULL);
	REJECT("30{ 30{ 02 01 05 04 08 00 00 00 00 00 00 00 00 16{':foo'}} "
	    "A0{ A0{ A2{ A1{ 02 01 14 }}}}}", NULL);
	/* a context tag written primitive (80 instead of A0) */
	REJECT("30{" HDR(":foo") "80{ A0{ A2{ A1{ 02 01 14 }}}}}", NULL);
	/* a universal tag where a context tag belongs */
	REJECT("30{" HDR(":foo") "30{ A0{ A2{ A1{ 02 01 14 }}}}}", NULL);
	/* count as OCTET STRING / BOOLEAN */
	REJECT(CMD(":foo", "A0{ A2{ A1{ 04 01 14 }}}"), NULL);
	REJECT(CMD(":foo", "A0{ A2{ A1{ 01 01 14 }}}"), NULL);
	/* configuration: compressed as INTEGER, image as UTF8String, typ's
	 * NULL as BOOLEAN, cpuids as SEQUENCE (it is a SET OF) */
	REJECT(CREATE("A0{05 00} 02 01 00 04{'ABC'} 01 01 FF A0{05 00}"
	    CFG_REST CFG_CPUS), NULL);
	REJECT(CREATE("A0{05 00} 01 01 00 0C{'ABC'} 01 01 FF A0{05 00}"
	    CFG_REST CFG_CPUS), NULL);
	REJECT(CREATE("A0{01 01 00} 01 01 00 04{'ABC'} 01 01 FF A0{05 00}"
	    CFG_REST CFG_CPUS), NULL);
	REJECT(CREATE(CFG_HEAD "30{02 01 00} 02 01 20" CFG_CPUS), NULL);
	/* policy cpuids as SET (it is a SEQUENCE OF) */
	REJECT(POLICY_ADD("31{02 01 00} 02 01 01 02 02 02 00 30{}"), NULL);
	/* multi-byte (high) tag numbers are never used */
	REJECT("30{" HDR(":foo") "BF 1F 09 A0 07 A2 05 A1 03 02 01 14}", NULL);
	/* a MAC is 6 octets */
	ACCEPT(CREATE(CFG_HEAD CFG_REST "A1{31{30{0C{'service'} 04 06 00 80 "
	    "41 01 02 03}}}" CFG_CPUS));
	REJECT(CREATE(CFG_HEAD CFG_REST "A1{31{30{0C{'service'} 04 05 00 80 "
	    "41 01 02}}}" CFG_CPUS), NULL);
	REJECT(CREATE(CFG_HEAD CFG_REST "A1{31{30{0C{'service'} 04 07 00 80 "
	    "41 01 02 03 04}}}" CFG_CPUS), NULL);
	/* Int64 is exactly 8 octets (albatross drops the connection on
	 * fewer; wire.h: petrel rejects any other length) */
	REJECT("30{ 30{ 02 01 05 04 07 00 00 00 00 00 00 00 0C{':foo'}} "
	    "A0{ A0{ A2{ A1{ 02 01 14 }}}}}", NULL);
	REJECT("30{ 30{ 02 01 05 04 09 00 00 00 00 00 00 00 00 00 "
	    "0C{':foo'}} A0{ A0{ A2{ A1{ 02 01 14 }}}}}", NULL);
	REJECT("30{ 30{ 02 01 05 04 00 0C{':foo'}} "
	    "A0{ A0{ A2{ A1{ 02 01 14 }}}}}", NULL);
	/* NULL with content, BOOLEAN of 0 or 2 octets */
	REJECT(CMD(":hello", "A3{ A3{ 05 01 00 }}"), NULL);
	ACCEPT(CMD("foo:disk", "A5{ A7{ 01 01 00 }}"));
	REJECT(CMD("foo:disk", "A5{ A7{ 01 00 }}"), NULL);
	REJECT(CMD("foo:disk", "A5{ A7{ 01 02 00 00 }}"), NULL);
	/* constructed OCTET STRING / UTF8String / GeneralizedTime */
	REJECT(CREATE("A0{05 00} 01 01 00 24{04{'ABC'}} 01 01 FF A0{05 00}"
	    CFG_REST CFG_CPUS), NULL);
	REJECT("30{" HDR(":hello") "A2{ 2C{ 0C{'no'} }}}", NULL);
	REJECT(CMD("a:b", "A0{ A2{ A0{ 38{ 18{'20240102030405Z'} }}}}"), NULL);
	assert_int_equal(failures, 0);
}

static void
test_lengths(void **state)
{
	(void)state;
	int failures = 0;
	/* long forms for lengths below 128 (§13.16 and variants) */
	REJECT("30 81 20 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 "
	    V13_1_TAIL, "length|redundant|minimal|canonical");
	REJECT("30 21 30 81 13 02 01 05 04 08 00 00 00 00 00 00 00 00 "
	    V13_1_TAIL, "length|redundant|minimal|canonical");
	REJECT("30 22 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 04 "
	    "3A 66 6F 6F A0 82 00 09 A0 07 A2 05 A1 03 02 01 14",
	    "length|redundant|minimal|canonical");
	/* a long form with a leading zero octet, for a length >= 128 */
#define TEXT160 "'0123456789012345678901234567890123456789" \
	"0123456789012345678901234567890123456789" \
	"0123456789012345678901234567890123456789" \
	"0123456789012345678901234567890123456789'"
	ACCEPT("30{" HDR(":hello") "A2 81 A3 0C 81 A0" TEXT160 "}");
	REJECT("30{" HDR(":hello") "A2 82 00 A3 0C 81 A0" TEXT160 "}",
	    "length|redundant|minimal|canonical");
	REJECT("30{" HDR(":hello") "A2 81 A3 0C 82 00 A0" TEXT160 "}",
	    "length|redundant|minimal|canonical");
#undef TEXT160
	/* indefinite length, constructed and primitive */
	REJECT("30 80 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 "
	    V13_1_TAIL " 00 00", "length|indefinite");
	REJECT("30 20 30 13 02 01 05 04 80 00 00 00 00 00 00 00 00 00 00 "
	    V13_1_TAIL, NULL);
	/* more length octets than any value needs, and a reserved 0xFF */
	REJECT("30 89 00 00 00 00 00 00 00 00 20 30 13 02 01 05 04 08 00 00 "
	    "00 00 00 00 00 00 " V13_1_TAIL, NULL);
	REJECT("30 84 00 00 00 20 30 13 02 01 05 04 08 00 00 00 00 00 00 00 "
	    "00 " V13_1_TAIL, NULL);
	REJECT("30 FF 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 "
	    V13_1_TAIL, NULL);
	/* lengths beyond the input */
	REJECT("30 21 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 "
	    V13_1_TAIL, NULL);
	REJECT("30 7F 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 "
	    V13_1_TAIL, NULL);
	REJECT("30 84 7F FF FF FF 30 13", NULL);
	REJECT("30 84 FF FF FF FF 30 13", NULL);
	REJECT("30 88 7F FF FF FF FF FF FF FF 30", NULL);
	REJECT("30 88 FF FF FF FF FF FF FF FF 30", NULL);
	/* an inner length beyond its parent (but inside the input) */
	REJECT("30 20 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 05 "
	    "3A 66 6F 6F A0 09 A0 07 A2 05 A1 03 02 01 14", NULL);
	REJECT("30 20 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 04 "
	    "3A 66 6F 6F A0 0A A0 07 A2 05 A1 03 02 01 14", NULL);
	/* length octets missing entirely */
	REJECT("30", NULL);
	REJECT("30 82 01", NULL);
	REJECT("", NULL);
	REJECT("30 00", NULL);
	assert_int_equal(failures, 0);
}

static void
test_integers(void **state)
{
	(void)state;
	int failures = 0;
	/* the 63-bit range boundaries are accepted (vmmd sends the maximum,
	 * §8.3) */
	ACCEPT(CONSOLE_ADD("02 08 3F FF FF FF FF FF FF FF"));
	ACCEPT(CONSOLE_ADD("02 08 C0 00 00 00 00 00 00 00"));
	ACCEPT(CONSOLE_ADD("02 01 80"));
	ACCEPT(CONSOLE_ADD("02 02 00 80"));
	/* one beyond, on each side; 9 octets; 64-bit extremes */
	REJECT(CONSOLE_ADD("02 08 40 00 00 00 00 00 00 00"),
	    "overflow|range|large|big|integer|int");
	REJECT(CONSOLE_ADD("02 08 BF FF FF FF FF FF FF FF"),
	    "overflow|range|large|big|small|integer|int");
	REJECT(CONSOLE_ADD("02 08 7F FF FF FF FF FF FF FF"), NULL);
	REJECT(CONSOLE_ADD("02 08 80 00 00 00 00 00 00 00"), NULL);
	REJECT(CONSOLE_ADD("02 09 00 80 00 00 00 00 00 00 00"), NULL);
	REJECT(CONSOLE_ADD("02 09 01 00 00 00 00 00 00 00 00"), NULL);
	REJECT(CONSOLE_ADD("02 10 01 00 00 00 00 00 00 00 00 00 00 00 00 00 "
	    "00 00"), NULL);
	/* empty and redundant forms */
	REJECT(CONSOLE_ADD("02 00"), NULL);
	REJECT(CONSOLE_ADD("02 02 00 05"), "redundant|minimal|canonical|integer");
	REJECT(CONSOLE_ADD("02 02 FF 80"), "redundant|minimal|canonical|integer");
	REJECT(CONSOLE_ADD("02 02 00 7F"), NULL);
	REJECT(CONSOLE_ADD("02 03 00 00 80"), NULL);
	/* 32-bit statistics fields beyond 32 bits are not ours to keep:
	 * albatross truncates them; petrel may reject or truncate, but must
	 * not crash (checked by decode_exact either way) */
	assert_int_equal(failures, 0);
}

static void
test_utf8(void **state)
{
	(void)state;
	int failures = 0;
	static const char *bad[] = {
		"FF", "C0 80", "C1 BF", "E0 80 80", "ED A0 80", "ED BF BF",
		"F4 90 80 80", "F5 80 80 80", "F8 88 80 80 80", "E2 82",
		"80", "'a' 80 'b'", "'abc' E2", "C3", "F0 9F 90",
	};
	/* positive controls: valid multi-byte text is accepted */
	ACCEPT(FAILURE("'ok' C3 A9 E2 82 AC F0 9F 90 A7 EF BB BF"));
	ACCEPT(FAILURE("F4 8F BF BF"));
	ACCEPT(FAILURE(""));
	ACCEPT(ARGV_CREATE("'-l' E2 80 AE"));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char src[512];
		snprintf(src, sizeof(src), FAILURE("%s"), bad[i]);
		failures += !rejected(DEC_WIRE, src, src, "utf");
		snprintf(src, sizeof(src), ARGV_CREATE("%s"), bad[i]);
		failures += !rejected(DEC_WIRE, src, src, NULL);
		snprintf(src, sizeof(src),
		    CMD("foo:hello", "A1{ A0{ 30{ 0C{%s} 02 01 01 30{}}}}"),
		    bad[i]);
		failures += !rejected(DEC_WIRE, src, src, NULL);
		snprintf(src, sizeof(src), "30{ 30{ 02 01 05 04 08 00 00 00 00 "
		    "00 00 00 00 0C{':' %s}} A0{ A3{ A3{ 05 00 }}}}", bad[i]);
		failures += !rejected(DEC_WIRE, src, src, NULL);
	}
	/* embedded NUL, in text and in a name */
	REJECT(FAILURE("'a' 00 'b'"), "nul|\\0|zero");
	REJECT(FAILURE("00"), NULL);
	REJECT(ARGV_CREATE("'-l' 00"), NULL);
	REJECT("30{ 30{ 02 01 05 04 08 00 00 00 00 00 00 00 00 0C{':f' 00 'o'}}"
	    " A0{ A3{ A3{ 05 00 }}}}", NULL);
	assert_int_equal(failures, 0);
}

static void
test_names(void **state)
{
	(void)state;
	int failures = 0;
	ACCEPT(CMD(":Hello", "A3{ A3{ 05 00 }}"));
	ACCEPT(CMD("hello", "A3{ A3{ 05 00 }}"));
	REJECT(CMD("", "A3{ A3{ 05 00 }}"), "empty");
	REJECT(CMD("::", "A3{ A3{ 05 00 }}"), NULL);
	REJECT(CMD("a::b", "A3{ A3{ 05 00 }}"), NULL);
	REJECT(CMD("::a", "A3{ A3{ 05 00 }}"), NULL);
	REJECT(CMD(":-a", "A3{ A3{ 05 00 }}"), NULL);
	REJECT(CMD(":a/b", "A3{ A3{ 05 00 }}"), NULL);
	REJECT(CMD(":a b", "A3{ A3{ 05 00 }}"), NULL);
	REJECT(CMD(":a_b", "A3{ A3{ 05 00 }}"), NULL);
	/* a label of 64 characters */
	REJECT(CMD(":aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaa", "A3{ A3{ 05 00 }}"), NULL);
	/* names inside payloads are checked too */
	REJECT(OK("foo:", "AC{ 30{ 0C{'a::b'} }}"), NULL);
	REJECT(OK("foo:", "A4{ 30{ 30{ 0C{''} 02 01 64 01 01 00 }}}"), NULL);
	assert_int_equal(failures, 0);
}

static void
test_versions(void **state)
{
	(void)state;
	int failures = 0;
	static const char *versions[] = {"02 01 04", "02 01 06", "02 01 00",
	    "02 01 FB", "02 02 01 05", "02 02 00 05", "02 00",
	    "04 08 00 00 00 00 00 00 00 05", "05 00"};
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		char src[512];
		snprintf(src, sizeof(src), "30{ 30{ %s 04 08 00 00 00 00 00 00 00 "
		    "00 0C{':foo'}} A0{ A0{ A2{ A1{ 02 01 14 }}}}}", versions[i]);
		failures += !rejected(DEC_WIRE, src, src, NULL);
	}
	REJECT("30{ 30{ 02 01 04 04 08 00 00 00 00 00 00 00 00 0C{':foo'}} "
	    "A0{ A0{ A2{ A1{ 02 01 14 }}}}}", "version");
	/* the version missing entirely */
	REJECT("30{ 30{ 04 08 00 00 00 00 00 00 00 00 0C{':foo'}} "
	    "A0{ A0{ A2{ A1{ 02 01 14 }}}}}", NULL);
	/* certificate extension and its version */
	failures += !accepted(DEC_CERTEXT, "certext v5",
	    "30{ 02 01 05 A0{ A2{ A1{ 02 01 14 }}}}");
	failures += !rejected(DEC_CERTEXT, "certext v4",
	    "30{ 02 01 04 A0{ A2{ A1{ 02 01 14 }}}}", "version");
	failures += !rejected(DEC_CERTEXT, "certext v6",
	    "30{ 02 01 06 A0{ A2{ A1{ 02 01 14 }}}}", "version");
	failures += !rejected(DEC_CERTEXT, "certext log",
	    "30{ 02 01 05 A2{ 05 00 }}", NULL);
	failures += !rejected(DEC_CERTEXT, "certext no command",
	    "30{ 02 01 05 }", NULL);
	failures += !rejected(DEC_CERTEXT, "certext wire instead",
	    V13_1, NULL);
	assert_int_equal(failures, 0);
}

/* Unassigned and obsolete CHOICE alternatives (§6.10). */
static void
test_unknown_choices(void **state)
{
	(void)state;
	int failures = 0;
	char src[512];
	/* payload [4]..[6] */
	REJECT("30{" HDR(":foo") "A4{ 05 00 }}", NULL);
	REJECT("30{" HDR(":foo") "A5{ 05 00 }}", NULL);
	/* WireCommand: log [2], [6], [7] */
	REJECT(CMD(":foo", "A2{ 05 00 }"), NULL);
	REJECT(CMD(":foo", "A6{ 05 00 }"), NULL);
	REJECT(CMD(":foo", "A7{ 05 00 }"), NULL);
	/* ConsoleCmd [1] (old subscribe), [4] */
	REJECT(CMD(":foo", "A0{ A1{ 05 00 }}"), NULL);
	REJECT(CMD(":foo", "A0{ A4{ 05 00 }}"), NULL);
	/* SubscribeArg [2] */
	REJECT(CMD(":foo", "A0{ A2{ A2{ 02 01 14 }}}"), NULL);
	/* StatsCmd [4] */
	REJECT(CMD(":foo", "A1{ A4{ 05 00 }}"), NULL);
	/* UnikernelCmd: every unassigned tag */
	static const int uk_unassigned[] = {0, 1, 2, 4, 5, 6, 7, 8, 12, 13, 22,
	    23, 30};
	ACCEPT(CMD(":hello", "A3{ A3{ 05 00 }}"));
	for (size_t i = 0; i < sizeof(uk_unassigned) / sizeof(int); i++) {
		snprintf(src, sizeof(src), CMD(":hello", "A3{ %02X{ 05 00 }}"),
		    0xA0 | uk_unassigned[i]);
		failures += !rejected(DEC_WIRE, src, src, NULL);
	}
	/* RestartCmd [4], PolicyCmd [3], BlockCmd [8] */
	REJECT(CMD(":hello", "A3{ AE{ A4{ 05 00 }}}"), NULL);
	REJECT(CMD("foo:", "A4{ A3{ 05 00 }}"), NULL);
	REJECT(CMD("foo:d", "A5{ A8{ 05 00 }}"), NULL);
	/* Success [3], [5], [8], [14] */
	static const int ok_unassigned[] = {3, 5, 8, 14};
	for (size_t i = 0; i < sizeof(ok_unassigned) / sizeof(int); i++) {
		snprintf(src, sizeof(src), OK("foo:", "%02X{ 30{} }"),
		    0xA0 | ok_unassigned[i]);
		failures += !rejected(DEC_WIRE, src, src, NULL);
	}
	/* Data [0], log [2], [5]; block choice [2] */
	REJECT(DATA(":foo", "A0{ 30{} }"), NULL);
	REJECT(DATA(":foo", "A2{ 05 00 }"), NULL);
	REJECT(DATA(":foo", "A5{ 05 00 }"), NULL);
	ACCEPT(DATA("foo:d", "A4{ A1{ 05 00 }}"));
	REJECT(DATA("foo:d", "A4{ A2{ 05 00 }}"), NULL);
	/* Typ [2], FailBehaviour [2] */
	REJECT(CREATE("A2{05 00} 01 01 00 04{'ABC'} 01 01 FF A0{05 00}"
	    CFG_REST CFG_CPUS), NULL);
	REJECT(CREATE("A0{05 00} 01 01 00 04{'ABC'} 01 01 FF A2{05 00}"
	    CFG_REST CFG_CPUS), NULL);
	/* State [7] (albatross aborts), [8] */
	failures += !accepted(DEC_STATE, "state [6]", "A6{ 30{ 30{} 30{} }}");
	failures += !rejected(DEC_STATE, "state [7]", "A7{ 05 00 }", NULL);
	failures += !rejected(DEC_STATE, "state [8]", "A8{ 30{ 30{} 30{} }}",
	    NULL);
	failures += !rejected(DEC_STATE, "state as SEQUENCE",
	    "30{ 30{} 30{} }", NULL);
	assert_int_equal(failures, 0);
}

/* SEQUENCE components: order, presence, explicit wrappers. */
static void
test_sequences(void **state)
{
	(void)state;
	int failures = 0;
	/* a missing required component */
	REJECT(POLICY_ADD("30{02 01 00} 02 01 01 02 02 02 00"), NULL);
	REJECT(CREATE(CFG_HEAD "31{02 01 00}" CFG_CPUS), NULL);
	REJECT(CREATE("A0{05 00} 01 01 00 01 01 FF A0{05 00}" CFG_REST
	    CFG_CPUS), NULL);
	REJECT("30{ 30{ 02 01 05 04 08 00 00 00 00 00 00 00 00 } "
	    "A0{ A0{ A2{ A1{ 02 01 14 }}}}}", NULL);
	REJECT("30{" HDR(":foo") "}", NULL);
	/* an extra component */
	REJECT(POLICY_ADD(POL_OK " 02 01 00"), NULL);
	/* optional components out of order: cpus [3] before arguments [2],
	 * an unknown optional [5] */
	ACCEPT(CREATE(CFG_HEAD CFG_REST "A2{30{0C{'-l'}}}" CFG_CPUS));
	REJECT(CREATE(CFG_HEAD CFG_REST CFG_CPUS "A2{30{0C{'-l'}}}"), NULL);
	REJECT(CREATE(CFG_OK "A5{02 01 01}"), NULL);
	/* explicit wrapper holding two values, or none */
	REJECT("30{" HDR(":foo") "A1{ A0{ 05 00 05 00 }}}", NULL);
	REJECT("30{" HDR(":foo") "A1{ A0{ 05 00 } A0{ 05 00 }}}", NULL);
	REJECT("30{" HDR(":foo") "A1{ A0{} }}", NULL);
	REJECT("30{" HDR(":foo") "A1{}}", NULL);
	/* SET OF must hold INTEGERs */
	REJECT(CREATE(CFG_HEAD "31{0C{'0'}} 02 01 20" CFG_CPUS), NULL);
	assert_int_equal(failures, 0);
}

static void
test_times(void **state)
{
	(void)state;
	int failures = 0;
#define SINCE(t) CMD("a:b", "A0{ A2{ A0{ 18{'" t "'} }}}")
	ACCEPT(SINCE("20240102030405Z"));
	ACCEPT(SINCE("20240102030405.250Z"));
	REJECT(SINCE(""), NULL);
	REJECT(SINCE("2024"), NULL);
	REJECT(SINCE("2024010203040XZ"), NULL);
	REJECT(SINCE("20241302030405Z"), NULL);
	REJECT(SINCE("20240102250405Z"), NULL);
	REJECT(SINCE("20240102030405.Z"), NULL);
	REJECT(SINCE("20240102030405Z0"), NULL);
	REJECT(SINCE("-0240102030405Z"), NULL);
#undef SINCE
	assert_int_equal(failures, 0);
}

/* ---- systematic: truncation, length octets, mutations ---- */

static const struct {
	decoder dec;
	const char *src;
} bases[] = {
	{DEC_WIRE, V13_1},
	{DEC_WIRE, CREATE(CFG_HEAD CFG_REST "A0{31{30{0C{'data'}} 30{0C{'st'} "
	    "0C{'disk1'} 02 02 10 00}}} A1{31{30{0C{'service'} 0C{'br0'} "
	    "04 06 00 80 41 AA BB CC}}} A2{30{0C{'-l'} 0C{'*:debug'}}}"
	    CFG_CPUS "A4{0C{'boot'}}")},
	{DEC_WIRE, CMD("foo:hello", "A1{ A0{ 30{ 0C{'solo5-1234'} 02 02 04 D2 "
	    "30{ 30{ 0C{'service'} 0C{'vmmtap0'} }}}}}")},
	{DEC_WIRE, OK("foo:", "AD{ 30{ 30{ 0C{':hello'} 30{ A0{05 00} "
	    "02 01 03 A1{31{02 01 02}} 31{02 01 00} 02 01 20 04{'digest'} "
	    "A0{31{30{0C{'storage'} 0C{'disk'} 02 02 02 00 02 01 64}}} "
	    "A1{31{30{0C{'service'} 0C{'br0'} 04 06 00 80 41 01 02 03}}} "
	    "A2{30{0C{'-l'}}} A3{18{'20240102030405.250Z'}} A4{02 01 01} "
	    "A5{0C{'p'}} }}}}")},
	{DEC_WIRE, OK("foo:", "A2{ 30{ 30{ 0C{':'} 30{" POL_OK "}}}}")},
	{DEC_WIRE, DATA(":hello", "A1{ 30{ 30{ 30{04 08 00 00 00 00 00 00 00 "
	    "01 02 01 02} 30{04 08 00 00 00 00 00 00 00 03 02 01 04} "
	    "04 08 00 00 00 00 00 00 00 05 04 08 00 00 00 00 00 00 00 06 "
	    "04 08 00 00 00 00 00 00 00 07 04 08 00 00 00 00 00 00 00 08 "
	    "04 08 00 00 00 00 00 00 00 09 04 08 00 00 00 00 00 00 00 0A "
	    "04 08 00 00 00 00 00 00 00 0B 04 08 00 00 00 00 00 00 00 0C "
	    "04 08 00 00 00 00 00 00 00 0D 04 08 00 00 00 00 00 00 00 0E "
	    "04 08 00 00 00 00 00 00 00 0F 04 08 00 00 00 00 00 00 00 10 "
	    "04 08 00 00 00 00 00 00 00 11 04 08 00 00 00 00 00 00 00 12 } "
	    "30{} A0{30{30{0C{'k'} 04 08 00 00 00 00 00 00 00 01}}} "
	    "A1{04 08 00 00 00 00 00 00 00 01 04 08 00 00 00 00 00 00 00 02 "
	    "04 08 00 00 00 00 00 00 00 03 04 08 00 00 00 00 00 00 00 04 "
	    "04 08 00 00 00 00 00 00 00 05 04 08 00 00 00 00 00 00 00 06 "
	    "02 01 07 30{04 08 00 00 00 00 00 00 00 08 02 01 09}}}}")},
	{DEC_WIRE, CMD(":hello", "A3{ AE{ A3{ 30{ A1{31{}} 02 01 05 01 01 FF "
	    "31{02 01 00} 02 01 40 A3{02 01 01} }}}}")},
	{DEC_WIRE, DATA("foo:hello", "A3{ 30{ 18{'20240102030405Z'} "
	    "0C{'hi'} }}")},
	{DEC_CERTEXT, "30{ 02 01 05 A4{ A1{ 30{" POL_OK "}}}}"},
	{DEC_STATE, "A6{ 30{ 30{ 30{ 0C{'foo:hello'} 30{" CFG_OK "}}} "
	    "30{ 30{ 0C{':'} 30{" POL_OK "}} 30{ 0C{'foo:'} 30{" POL_OK "}}}}}"},
	{DEC_STATE, "A3{ 30{ 30{ 0C{'bar:hello'} 30{ A0{05 00} 01 01 00 04{} "
	    "A0{05 00} 02 01 02 02 01 0A A1{31{30{0C{'service'} 0C{'b'} "
	    "04 06 00 DE AD BE EF 00}}} }}}}"},
};
#define NBASES (sizeof(bases) / sizeof(bases[0]))

static void
test_bases_valid(void **state)
{
	(void)state;
	int failures = 0;
	for (size_t i = 0; i < NBASES; i++)
		failures += !accepted(bases[i].dec, bases[i].src, bases[i].src);
	assert_int_equal(failures, 0);
}

/* Every proper prefix of a valid message is rejected cleanly. */
static void
test_truncation_everywhere(void **state)
{
	(void)state;
	int failures = 0;
	for (size_t i = 0; i < NBASES; i++) {
		size_t n;
		uint8_t *p = assemble(bases[i].src, &n);
		for (size_t len = 0; len < n; len++) {
			pt_err err;
			int rc = decode_exact(bases[i].dec, p, len, &err);
			if (rc != -1 || err.msg[0] == '\0') {
				fprintf(stderr, "base %zu truncated to %zu of %zu "
				    "bytes: rc %d, reason \"%s\"\n", i, len, n,
				    rc, err.msg);
				failures++;
			}
		}
		free(p);
	}
	assert_int_equal(failures, 0);
}

/* Offsets of the short-form length octets of every TLV in p. */
static size_t
length_octets(const uint8_t *p, size_t n, size_t base, size_t *out,
    size_t max, size_t count)
{
	size_t i = 0;
	while (i + 2 <= n && count < max) {
		uint8_t tag = p[i], len = p[i + 1];
		size_t hdr = 2, clen = len;
		if (len & 0x80) {
			size_t k = len & 0x7F;
			clen = 0;
			for (size_t j = 0; j < k && i + 2 + j < n; j++)
				clen = clen << 8 | p[i + 2 + j];
			hdr += k;
		} else {
			out[count++] = base + i + 1;
		}
		if (i + hdr + clen > n)
			break;
		if (tag & 0x20)
			count = length_octets(p + i + hdr, clen, base + i + hdr,
			    out, max, count);
		i += hdr + clen;
	}
	return count;
}

/* Changing any length octet by one breaks the nesting: a value then
 * overruns its parent or leaves a stray byte in it. Either way the
 * message must be rejected. */
static void
test_every_length_off_by_one(void **state)
{
	(void)state;
	int failures = 0;
	size_t offs[1024];
	for (size_t i = 0; i < NBASES; i++) {
		size_t n;
		uint8_t *p = assemble(bases[i].src, &n);
		size_t count = length_octets(p, n, 0, offs, 1024, 0);
		assert_true(count > 3);
		for (size_t k = 0; k < count; k++) {
			for (int delta = -1; delta <= 1; delta += 2) {
				uint8_t old = p[offs[k]];
				if ((delta < 0 && old == 0) ||
				    (delta > 0 && old == 0x7F))
					continue;
				p[offs[k]] = (uint8_t)(old + delta);
				pt_err err;
				int rc = decode_exact(bases[i].dec, p, n, &err);
				if (rc != -1 || err.msg[0] == '\0') {
					fprintf(stderr, "base %zu: length at %zu "
					    "%+d: rc %d \"%s\"\n", i, offs[k],
					    delta, rc, err.msg);
					failures++;
				}
				p[offs[k]] = old;
			}
		}
		free(p);
	}
	assert_int_equal(failures, 0);
}

/* Byte mutations at every offset: each result is either rejected with a
 * reason, or accepted as a value that encodes and decodes again. No crash,
 * no read outside the input (ASan). */
static void
test_mutations_fail_cleanly(void **state)
{
	(void)state;
	int failures = 0;
	for (size_t i = 0; i < NBASES; i++) {
		size_t n;
		uint8_t *p = assemble(bases[i].src, &n);
		for (size_t off = 0; off < n; off++) {
			uint8_t old = p[off];
			const uint8_t vals[] = {0x00, 0xFF, 0x80, 0x7F,
			    (uint8_t)(old ^ 0x01), (uint8_t)(old ^ 0x20),
			    (uint8_t)(old ^ 0x80), (uint8_t)(old + 1)};
			for (size_t v = 0; v < sizeof(vals); v++) {
				if (vals[v] == old)
					continue;
				p[off] = vals[v];
				pt_err err;
				int rc = decode_exact(bases[i].dec, p, n, &err);
				if (rc == -2 || (rc == -1 && err.msg[0] == '\0')) {
					fprintf(stderr, "base %zu: byte %zu -> "
					    "%02X: rc %d, reason \"%s\"\n", i, off,
					    vals[v], rc, err.msg);
					failures++;
				}
			}
			p[off] = old;
		}
		free(p);
	}
	assert_int_equal(failures, 0);
}

/* Decoding is allocation-bounded: with a small arena limit it fails with
 * a reason instead of crashing; with room it succeeds. */
static void
test_arena_limit(void **state)
{
	(void)state;
	size_t n;
	uint8_t *p = assemble(bases[3].src, &n);
	for (size_t limit = 16; limit <= 64 * 1024; limit *= 2) {
		pt_arena a = {.limit = limit};
		pt_wire w;
		pt_err err;
		memset(&err, 0, sizeof(err));
		int rc = pt_wire_decode(p, n, &a, &w, &err);
		pt_arena_free(&a);
		assert_true(rc == 0 || (rc == -1 && err.msg[0] != '\0'));
		if (limit == 16)
			assert_int_equal(rc, -1);
		if (limit == 64 * 1024)
			assert_int_equal(rc, 0);
	}
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_assembler_matches_spec),
		cmocka_unit_test(test_trailing_bytes),
		cmocka_unit_test(test_wrong_tags),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_unknown_choices),
		cmocka_unit_test(test_sequences),
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_bases_valid),
		cmocka_unit_test(test_truncation_everywhere),
		cmocka_unit_test(test_every_length_off_by_one),
		cmocka_unit_test(test_mutations_fail_cleanly),
		cmocka_unit_test(test_arena_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
