/*
 * Console lines, the pure part of petrel-console (albatross-wire.md §6.8,
 * §8.3):
 *
 *  - a line splitter that turns the bytes read from a unikernel's console
 *    FIFO into lines exactly as albatross does: split on '\n' (not kept),
 *    drop empty lines, and cut a line longer than PT_CONSOLE_LINE_MAX
 *    bytes: emit its first PT_CONSOLE_LINE_MAX bytes followed by
 *    " [truncated]" and discard the rest up to the next newline.
 *    (albatross decides on the bytes of one read, so whether a line of
 *    513..1023 bytes is cut depends on read boundaries there; petrel cuts
 *    every line above the limit and no other, whatever the reads.)
 *  - a ring of the last N lines with their timestamps, queried by count or
 *    by time.
 *
 * No I/O and no clock: the caller passes the time the bytes were read.
 */
#ifndef PETREL_CONSOLE_RING_H
#define PETREL_CONSOLE_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define PT_CONSOLE_LINE_MAX 512
#define PT_CONSOLE_TRUNCATED " [truncated]"
#define PT_CONSOLE_RING_DEFAULT 1024
/* Bounded so that a whole ring, as history, fits a subscriber's output
 * cap in petrel-console (4 MiB): 2048 lines of at most 524 bytes, even
 * with every byte replaced by U+FFFD, and their framing. */
#define PT_CONSOLE_RING_MAX 2048

/* ---- line splitter ---- */

typedef struct {
	char pending[PT_CONSOLE_LINE_MAX];
	size_t npending;
	bool discarding; /* after a truncation, until the next newline */
} pt_line_splitter;

/* Called once per complete line (without the newline; never empty). */
typedef void (*pt_line_cb)(const char *line, size_t len, void *ctx);

void pt_line_splitter_init(pt_line_splitter *s);
void pt_line_splitter_feed(pt_line_splitter *s, const uint8_t *p, size_t n,
    pt_line_cb cb, void *ctx);
/* At end of input: a pending partial line is emitted as is. */
void pt_line_splitter_flush(pt_line_splitter *s, pt_line_cb cb, void *ctx);

/* Unikernels print arbitrary bytes, but a console line travels as a
 * UTF8String, which petrel's decoders require to be valid UTF-8 without
 * NUL. Replaces every invalid sequence and every NUL with U+FFFD. out needs
 * 3 * n bytes; returns the length written. */
size_t pt_utf8_sanitize(const char *in, size_t n, char *out);

/* ---- ring of lines ---- */

typedef struct {
	int64_t time_ms;
	char *line;      /* heap, NUL-terminated */
	size_t len;
} pt_console_line;

typedef struct {
	pt_console_line *slots; /* grows up to capacity as lines arrive */
	size_t nslots;
	size_t capacity;        /* at most this many lines are kept */
	size_t start;           /* index of the oldest line */
	size_t count;           /* lines held */
	uint64_t total;         /* lines ever added (sequence numbers) */
} pt_console_ring;

/* capacity is clamped to 1..PT_CONSOLE_RING_MAX. */
void pt_console_ring_init(pt_console_ring *r, size_t capacity);
void pt_console_ring_free(pt_console_ring *r);
/* Copies the line in; the oldest line goes when full. -1 on no memory
 * (the ring is unchanged). */
int pt_console_ring_add(pt_console_ring *r, int64_t time_ms,
    const char *line, size_t len);
/* Line i, 0 = oldest held. */
const pt_console_line *pt_console_ring_at(const pt_console_ring *r,
    size_t i);
/* Index of the first line of the last `n` lines (n <= 0 → count, i.e.
 * none; n larger than held → 0). */
size_t pt_console_ring_last(const pt_console_ring *r, int64_t n);
/* Index of the first line with time >= since (count if none). */
size_t pt_console_ring_since(const pt_console_ring *r, int64_t since_ms);
/* Bytes of memory held by the lines (for the RSS benchmark and limits). */
size_t pt_console_ring_bytes(const pt_console_ring *r);

#endif
