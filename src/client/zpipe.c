#include "zpipe.h"

#include <string.h>

int
pt_zpipe_deflate_init(pt_zpipe *zp, int level, pt_sink_fn sink, void *ctx,
    pt_err *err)
{
	memset(zp, 0, sizeof(*zp));
	zp->deflating = true;
	zp->sink = sink;
	zp->ctx = ctx;
	/* windowBits 15: the zlib format with a 32 KiB window, as albatross
	 * uses. */
	if (deflateInit2(&zp->z, level, Z_DEFLATED, 15, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK)
		return pt_fail(err, "cannot start zlib compression");
	zp->ready = true;
	return 0;
}

int
pt_zpipe_inflate_init(pt_zpipe *zp, uint64_t out_max, pt_sink_fn sink,
    void *ctx, pt_err *err)
{
	memset(zp, 0, sizeof(*zp));
	zp->out_max = out_max;
	zp->sink = sink;
	zp->ctx = ctx;
	if (inflateInit(&zp->z) != Z_OK)
		return pt_fail(err, "cannot start zlib decompression");
	zp->ready = true;
	return 0;
}

/* Hands what is in buf to the sink and makes buf free again. */
static int
drain(pt_zpipe *zp, pt_err *err)
{
	size_t n = sizeof(zp->buf) - zp->z.avail_out;
	if (n == 0)
		return 0;
	zp->out_total += n;
	if (!zp->deflating && zp->out_total > zp->out_max)
		return pt_fail(err, "decompressed data exceeds %llu bytes",
		    (unsigned long long)zp->out_max);
	if (zp->sink(zp->ctx, zp->buf, n, err) != 0)
		return -1;
	zp->z.next_out = zp->buf;
	zp->z.avail_out = sizeof(zp->buf);
	return 0;
}

static int
run(pt_zpipe *zp, int flush, pt_err *err)
{
	for (;;) {
		zp->z.next_out = zp->buf;
		zp->z.avail_out = sizeof(zp->buf);
		int r = zp->deflating ? deflate(&zp->z, flush) :
		    inflate(&zp->z, Z_NO_FLUSH);
		if (drain(zp, err) != 0)
			return -1;
		if (r == Z_STREAM_END) {
			zp->ended = true;
			if (!zp->deflating && zp->z.avail_in > 0)
				return pt_fail(err, "data after the end of the "
				    "zlib stream");
			return 0;
		}
		if (r == Z_BUF_ERROR)
			return 0; /* needs more input (or nothing to do) */
		if (r != Z_OK)
			return pt_fail(err, "corrupt zlib stream%s%s",
			    zp->z.msg != NULL ? ": " : "",
			    zp->z.msg != NULL ? zp->z.msg : "");
		if (zp->z.avail_in == 0 && zp->z.avail_out > 0 &&
		    flush == Z_NO_FLUSH)
			return 0;
	}
}

int
pt_zpipe_feed(pt_zpipe *zp, const uint8_t *p, size_t n, pt_err *err)
{
	while (n > 0) {
		/* avail_in is a uInt: feed at most 1 GiB at a time. */
		size_t k = n > (1u << 30) ? (1u << 30) : n;
		if (zp->ended)
			return pt_fail(err, "data after the end of the zlib "
			    "stream");
		zp->z.next_in = (Bytef *)(uintptr_t)p;
		zp->z.avail_in = (uInt)k;
		if (run(zp, Z_NO_FLUSH, err) != 0)
			return -1;
		p += k;
		n -= k;
	}
	return 0;
}

int
pt_zpipe_finish(pt_zpipe *zp, pt_err *err)
{
	if (!zp->deflating) {
		if (!zp->ended)
			return pt_fail(err, "truncated zlib stream");
		return 0;
	}
	zp->z.next_in = NULL;
	zp->z.avail_in = 0;
	if (run(zp, Z_FINISH, err) != 0)
		return -1;
	if (!zp->ended)
		return pt_fail(err, "zlib compression did not finish");
	return 0;
}

void
pt_zpipe_free(pt_zpipe *zp)
{
	if (!zp->ready)
		return;
	if (zp->deflating)
		deflateEnd(&zp->z);
	else
		inflateEnd(&zp->z);
	zp->ready = false;
}
