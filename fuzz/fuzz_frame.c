/*
 * libFuzzer target: the frame reader (frame.h) fed in random chunk sizes,
 * alternating pt_frame_reader_push with pt_frame_reader_space/commit.
 *
 * Input layout: byte 0 picks the maximum frame size, byte 1 seeds the
 * chunk sizes, the rest is the byte stream from the peer.
 *
 * Oracle: a reference parse of the whole stream at once (§2: signed
 * big-endian length, <= 0 is the end marker, bigger than the maximum is
 * refused). Whatever the chunking, the reader must hand out exactly the
 * reference's frames, end markers and refusal, in order; each frame
 * re-framed with pt_frame_append gives back the bytes it came from; and
 * the buffer never grows much beyond what has arrived (a forged length
 * must not reserve memory).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
	pt_frame_status status;
	size_t off;  /* offset of the frame's prefix in the stream */
	size_t len;  /* body length (OK) */
} event;

typedef struct {
	const uint8_t *stream;
	size_t n;
	size_t max_frame;
	size_t pos;        /* reference position */
	bool stopped;      /* TOO_BIG seen: the peer is dropped */
} reference;

static void
die(const char *why)
{
	fprintf(stderr, "fuzz_frame oracle: %s\n", why);
	abort();
}

/* The next event of the reference parse of the complete stream, looking
 * only at the first `avail` bytes (what the reader has been given). */
static event
reference_next(reference *ref, size_t avail)
{
	event e = {.status = PT_FRAME_NEED_MORE, .off = ref->pos};
	if (ref->stopped) {
		e.status = PT_FRAME_TOO_BIG;
		return e;
	}
	if (avail - ref->pos < 4)
		return e;
	const uint8_t *p = ref->stream + ref->pos;
	int32_t l = (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3]);
	if (l <= 0) {
		e.status = PT_FRAME_END;
		ref->pos += 4;
	} else if ((size_t)l > ref->max_frame) {
		e.status = PT_FRAME_TOO_BIG;
		ref->stopped = true;
	} else if (avail - ref->pos - 4 >= (size_t)l) {
		e.status = PT_FRAME_OK;
		e.len = (size_t)l;
		ref->pos += 4 + (size_t)l;
	}
	return e;
}

/* Takes frames from the reader until it needs more, comparing each with
 * the reference. Returns false once the peer would be dropped. */
static bool
drain(pt_frame_reader *r, reference *ref, size_t fed)
{
	for (;;) {
		const uint8_t *body;
		size_t len;
		pt_frame_status st = pt_frame_reader_next(r, &body, &len);
		event e = reference_next(ref, fed);
		if (st != e.status) {
			fprintf(stderr, "at stream offset %zu: reader %d, "
			    "reference %d\n", e.off, (int)st, (int)e.status);
			die("status differs from the reference");
		}
		switch (st) {
		case PT_FRAME_OK: {
			if (len != e.len || memcmp(body, ref->stream + e.off + 4,
			    len) != 0)
				die("frame body differs from the stream");
			pt_buf again = {0};
			if (pt_frame_append(&again, body, len) != 0 ||
			    again.len != len + 4 ||
			    memcmp(again.data, ref->stream + e.off, len + 4) != 0)
				die("re-framing does not give the stream back");
			pt_buf_free(&again);
			break;
		}
		case PT_FRAME_END:
			if (body != NULL || len != 0)
				die("end marker with a body");
			break;
		case PT_FRAME_NEED_MORE:
			if (pt_frame_reader_pending(r) != fed - ref->pos)
				die("pending bytes differ from the reference");
			return true;
		case PT_FRAME_TOO_BIG:
			/* asking again gives the same answer */
			if (pt_frame_reader_next(r, &body, &len) !=
			    PT_FRAME_TOO_BIG)
				die("refusal not sticky");
			return false;
		default:
			die("unexpected status");
		}
	}
}

/* What the reader may hold: what arrived plus bounded steps, never an
 * announced length. */
static void
check_memory(const pt_frame_reader *r)
{
	size_t bound = 4 * (size_t)PT_FRAME_STEP + 2 * r->len + 4096;
	if (r->cap > bound)
		die("buffer grew beyond what arrived");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t max_frames[] = {1, 16, 300, 4096, PT_FRAME_STEP + 7,
	    PT_FRAME_DEFAULT_MAX};
	if (size < 2)
		return 0;
	reference ref = {.stream = data + 2, .n = size - 2,
	    .max_frame = max_frames[data[0] % (sizeof(max_frames) /
	    sizeof(max_frames[0]))]};
	uint32_t rng = data[1] * 2654435761u + 1;
	pt_frame_reader r;
	pt_frame_reader_init(&r, ref.max_frame);
	size_t fed = 0;
	bool alive = true;
	while (alive && fed < ref.n) {
		rng = rng * 1103515245u + 12345u;
		size_t chunk = 1 + (rng >> 16) % ((rng & 1) ? 7 : 700);
		if (chunk > ref.n - fed)
			chunk = ref.n - fed;
		if (rng & 2) {
			if (pt_frame_reader_push(&r, ref.stream + fed, chunk) != 0)
				die("push failed");
		} else {
			size_t avail;
			uint8_t *space = pt_frame_reader_space(&r, &avail);
			if (space == NULL || avail == 0)
				die("no space offered");
			check_memory(&r);
			if (chunk > avail)
				chunk = avail;
			memcpy(space, ref.stream + fed, chunk);
			pt_frame_reader_commit(&r, chunk);
		}
		fed += chunk;
		alive = drain(&r, &ref, fed);
	}
	pt_frame_reader_free(&r);
	return 0;
}
