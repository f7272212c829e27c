/*
 * Framing (albatross-wire.md §2): a 4-byte signed big-endian length, then
 * that many bytes. A length <= 0 is the end-of-stream marker; writers send
 * exactly 00 00 00 00.
 *
 * The reader is pure: bytes go in (pt_frame_reader_space/commit, from any
 * transport), frames come out. It never allocates for a frame more than what
 * has arrived plus one bounded step (PT_FRAME_STEP, or as much as has
 * arrived if that is more, so growth stays geometric), so a forged length
 * cannot exhaust memory; and it refuses frames above a configurable maximum.
 */
#ifndef PETREL_FRAME_H
#define PETREL_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define PT_FRAME_STEP (64 * 1024)
#define PT_FRAME_DEFAULT_MAX (64 * 1024 * 1024)

typedef struct {
	uint8_t *buf;
	size_t len;        /* bytes held */
	size_t cap;
	size_t consumed;   /* bytes of buf already handed out as frames */
	size_t max_frame;  /* largest accepted body */
} pt_frame_reader;

typedef enum {
	PT_FRAME_NEED_MORE, /* no complete frame buffered yet */
	PT_FRAME_OK,        /* *body / *len describe one frame body */
	PT_FRAME_END,       /* the <= 0 end-of-stream marker */
	PT_FRAME_TOO_BIG,   /* announced length > max_frame: drop the peer */
	PT_FRAME_NOMEM,
} pt_frame_status;

void pt_frame_reader_init(pt_frame_reader *r, size_t max_frame);
void pt_frame_reader_free(pt_frame_reader *r);

/* Space to read into: returns a pointer and sets *avail (> 0) to how many
 * bytes may be written there; NULL if out of memory. The space offered is
 * bounded by what the current frame still needs (at most one step ahead). */
uint8_t *pt_frame_reader_space(pt_frame_reader *r, size_t *avail);
/* n bytes were written into the space. */
void pt_frame_reader_commit(pt_frame_reader *r, size_t n);
/* Convenience: copy bytes in (used by tests and fuzzers). */
int pt_frame_reader_push(pt_frame_reader *r, const uint8_t *p, size_t n);

/* Takes the next frame. The body stays valid until the next call to
 * pt_frame_reader_next/space/push. */
pt_frame_status pt_frame_reader_next(pt_frame_reader *r, const uint8_t **body,
    size_t *len);

/* Bytes received but not yet returned as frames. */
size_t pt_frame_reader_pending(const pt_frame_reader *r);

/* Appends a 4-byte prefix plus body to out (len must be < 2^31). */
int pt_frame_append(pt_buf *out, const uint8_t *body, size_t len);
/* Appends the end-of-stream marker. */
int pt_frame_append_end(pt_buf *out);

#endif
