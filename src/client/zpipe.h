/*
 * zlib (RFC 1950, albatross-wire.md §11) in streaming form: bytes go in
 * piece by piece, the (de)compressed bytes come out through a sink in
 * pieces of bounded size. Used for block uploads and downloads and for
 * images, so that no whole device has to sit in memory.
 */
#ifndef PETREL_CLIENT_ZPIPE_H
#define PETREL_CLIENT_ZPIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "util.h"

/* Receives n (> 0) output bytes; returns 0, or -1 with err set to stop. */
typedef int (*pt_sink_fn)(void *ctx, const uint8_t *p, size_t n,
    pt_err *err);

#define PT_ZPIPE_CHUNK 4096

typedef struct {
	z_stream z;
	bool deflating;
	bool ready;          /* z is initialised */
	bool ended;          /* inflate: the zlib stream is complete */
	uint64_t out_total;
	uint64_t out_max;    /* inflate: refuse more output than this */
	pt_sink_fn sink;
	void *ctx;
	uint8_t buf[PT_ZPIPE_CHUNK];
} pt_zpipe;

int pt_zpipe_deflate_init(pt_zpipe *zp, int level, pt_sink_fn sink,
    void *ctx, pt_err *err);
int pt_zpipe_inflate_init(pt_zpipe *zp, uint64_t out_max, pt_sink_fn sink,
    void *ctx, pt_err *err);
/* Feeds input; output goes to the sink. */
int pt_zpipe_feed(pt_zpipe *zp, const uint8_t *p, size_t n, pt_err *err);
/* Deflate: flushes the end of the stream. Inflate: checks that the stream
 * was complete. */
int pt_zpipe_finish(pt_zpipe *zp, pt_err *err);
void pt_zpipe_free(pt_zpipe *zp);

#endif
