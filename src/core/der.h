/*
 * DER primitives for the AV5 codec (albatross-wire.md §3). Internal to the
 * codec (wire.c); not a general ASN.1 library: only single-octet tags,
 * definite lengths below 4 GiB, and the universal types albatross uses.
 *
 * Reading: a pt_der is a window [p, end) of the input plus the arena and
 * error sink of the whole decode. Every reader function consumes one
 * element from the window and returns 0, or -1 with a reason in err naming
 * the element (`what`). Strictness follows §3.3, tightened where albatross
 * would crash (Int64 not 8 octets) or where text reaches C code (UTF-8,
 * NUL). Sub-windows carry a depth; going deeper than PT_DER_MAX_DEPTH
 * fails, so no input can drive unbounded nesting.
 *
 * Writing: a pt_derw appends to a pt_buf. Errors are sticky: after the
 * first failure (out of memory, value out of range) further writes are
 * no-ops, and pt_derw_finish reports the first error. This keeps encoders
 * a plain list of fields.
 */
#ifndef PETREL_DER_H
#define PETREL_DER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "name.h"
#include "util.h"

enum {
	PT_DER_BOOLEAN = 0x01,
	PT_DER_INTEGER = 0x02,
	PT_DER_OCTETS = 0x04,
	PT_DER_NULL = 0x05,
	PT_DER_UTF8 = 0x0c,
	PT_DER_GTIME = 0x18,
	PT_DER_SEQ = 0x30,
	PT_DER_SET = 0x31,
};

/* The identifier of an EXPLICIT (constructed, context-specific) tag [n]. */
#define PT_DER_CTX(n) ((uint8_t)(0xa0 | (n)))

#define PT_DER_MAX_DEPTH 32

/* albatross's `int`: 63-bit signed. */
#define PT_DER_INT_MIN (-((int64_t)1 << 62))
#define PT_DER_INT_MAX (((int64_t)1 << 62) - 1)

/* ---- reading ---- */

typedef struct {
	const uint8_t *p;
	const uint8_t *end;
	unsigned depth;
	pt_arena *arena;
	pt_err *err;
} pt_der;

void pt_der_init(pt_der *d, const uint8_t *p, size_t n, pt_arena *arena,
    pt_err *err);
bool pt_der_at_end(const pt_der *d);
/* The identifier octet of the next element, or -1 at the end. */
int pt_der_peek(const pt_der *d);
/* Fails with "<what>: trailing bytes" unless the window is used up. */
int pt_der_done(const pt_der *d, const char *what);

/* Reads the next TLV, whatever its tag: *tag and its content window. */
int pt_der_any(pt_der *d, const char *what, uint8_t *tag, pt_der *content);
/* Reads the next TLV, which must carry `tag`. */
int pt_der_expect(pt_der *d, uint8_t tag, const char *what,
    pt_der *content);
/* Counts the TLVs left in d (without consuming them), failing if there
 * are more than max: lists are sized before they are allocated. */
int pt_der_count(const pt_der *d, size_t max, const char *what, size_t *n);

int pt_der_int(pt_der *d, const char *what, int64_t *v);  /* 63-bit */
int pt_der_bool(pt_der *d, const char *what, bool *v);
int pt_der_null(pt_der *d, const char *what);
/* Int64: OCTET STRING of exactly 8 octets, big-endian two's complement. */
int pt_der_int64(pt_der *d, const char *what, int64_t *v);
/* OCTET STRING; points into the input, not copied. */
int pt_der_octets(pt_der *d, const char *what, pt_blob *v);
int pt_der_mac(pt_der *d, const char *what, uint8_t mac[6]);
/* UTF8String: valid UTF-8 without NUL, copied NUL-terminated into the
 * arena. */
int pt_der_text(pt_der *d, const char *what, pt_text *v);
/* A Name: UTF8String parsed per §4.2. */
int pt_der_name(pt_der *d, const char *what, pt_name *v);
/* GeneralizedTime, in milliseconds since the epoch (lenient, §3.4). */
int pt_der_time(pt_der *d, const char *what, int64_t *ms);

/* Is the text valid UTF-8 without NUL? (Also used by encoders.) */
bool pt_der_utf8_valid(const uint8_t *s, size_t n);

/* ---- writing ---- */

typedef struct {
	pt_buf *b;
	pt_err *err;
	bool failed;
} pt_derw;

void pt_derw_init(pt_derw *w, pt_buf *b, pt_err *err);
/* Records the first failure (later ones are ignored). */
void pt_derw_fail(pt_derw *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* 0, or -1 with err set (first failure, or out of memory). */
int pt_derw_finish(pt_derw *w);

/* Starts a constructed value with identifier `tag`; returns the mark to
 * pass to pt_derw_end, which prepends the minimal length. */
size_t pt_derw_begin(pt_derw *w, uint8_t tag);
void pt_derw_end(pt_derw *w, size_t mark);
/* Sorts the elements written since `mark` by their complete encodings
 * (DER SET OF order); call just before pt_derw_end. */
void pt_derw_sort_set(pt_derw *w, size_t mark);

void pt_derw_integer(pt_derw *w, int64_t v);  /* any int64 */
void pt_derw_int(pt_derw *w, const char *what, int64_t v); /* 63-bit */
void pt_derw_bool(pt_derw *w, bool v);
void pt_derw_null(pt_derw *w);
void pt_derw_int64(pt_derw *w, int64_t v);
void pt_derw_octets(pt_derw *w, const void *p, size_t n);
void pt_derw_text(pt_derw *w, const char *what, const char *s, size_t n);
void pt_derw_name(pt_derw *w, const pt_name *n);
void pt_derw_time(pt_derw *w, int64_t ms);

#endif
