/*
 * Small building blocks shared by the whole pure core: an error carrier,
 * a growable byte buffer and an arena for decoded messages.
 *
 * Nothing in here does I/O.
 */
#ifndef PETREL_UTIL_H
#define PETREL_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A UTF8String from the wire: NUL-terminated copy (in an arena or on the
 * heap) plus its length (the text may contain no NUL: decoders reject it). */
typedef struct {
	const char *s;
	size_t len;
} pt_text;

/* An OCTET STRING from the wire; may point into the decoded frame. */
typedef struct {
	const uint8_t *data;
	size_t len;
} pt_blob;

/* A human readable reason for a failure. Functions that can fail take a
 * `pt_err *` (which may be NULL) and fill it in before returning -1. */
typedef struct {
	char msg[256];
} pt_err;

/* Sets err->msg (if err is non-NULL) and returns -1, so callers can write
 * `return pt_fail(err, "…")`. */
int pt_fail(pt_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Cuts an incomplete UTF-8 sequence off the end of s (what a truncating
 * snprintf can leave), so that a cut message is still valid text. */
void pt_utf8_trim_tail(char *s);

/* Prefixes an existing message: "ctx: old message". Returns -1. */
int pt_fail_prefix(pt_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A growable, heap-allocated byte buffer. Zero-initialise before use. */
typedef struct {
	uint8_t *data;
	size_t len;
	size_t cap;
	bool oom; /* set once an allocation failed; later appends are no-ops */
} pt_buf;

void pt_buf_free(pt_buf *b);
void pt_buf_reset(pt_buf *b);             /* len = 0, keeps memory */
int pt_buf_reserve(pt_buf *b, size_t extra); /* 0 or -1 (sets oom) */
int pt_buf_append(pt_buf *b, const void *p, size_t n);
int pt_buf_append_byte(pt_buf *b, uint8_t v);
int pt_buf_printf(pt_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Inserts n bytes at offset off (used by the DER writer to prepend lengths). */
int pt_buf_insert(pt_buf *b, size_t off, const void *p, size_t n);

/* An arena: every decoded message lives in one, and is released at once
 * with pt_arena_free. Allocation failures return NULL. */
typedef struct pt_arena_chunk pt_arena_chunk;
typedef struct {
	pt_arena_chunk *head;
	size_t total;   /* bytes handed out, for limits */
	size_t limit;   /* 0 = no limit; else allocations beyond fail */
} pt_arena;

void *pt_arena_alloc(pt_arena *a, size_t n);          /* zeroed, 16-aligned */
void *pt_arena_calloc(pt_arena *a, size_t n, size_t sz); /* overflow-checked */
char *pt_arena_strndup(pt_arena *a, const char *s, size_t n); /* NUL-terminated */
void *pt_arena_memdup(pt_arena *a, const void *p, size_t n);
void pt_arena_free(pt_arena *a); /* frees all chunks; arena is reusable */

/* Hex helpers (for logs, tests and `--socket=-`). */
void pt_hex_encode(const uint8_t *p, size_t n, char *out /* 2n+1 */);
/* Accepts hex with optional whitespace; returns bytes written or -1. */
long pt_hex_decode(const char *s, uint8_t *out, size_t cap);

#endif
