/*
 * Length-prefixed framing (albatross-wire.md §2).
 *
 * Memory policy: the buffer only grows by what the frame being assembled
 * still needs, and by at most max(PT_FRAME_STEP, bytes already held) at a
 * time. A peer announcing 2 GiB therefore gets PT_FRAME_STEP bytes of
 * buffer, and has to actually send data to make it grow; growth stays
 * geometric so a large image is not copied over and over.
 */
#include "frame.h"

#include <stdlib.h>
#include <string.h>

/* Smallest read offered once the current frame is complete, so that
 * several small frames can arrive with one read. */
#define FRAME_MIN_READ 4096

void
pt_frame_reader_init(pt_frame_reader *r, size_t max_frame)
{
	memset(r, 0, sizeof(*r));
	if (max_frame > INT32_MAX)
		max_frame = INT32_MAX;
	r->max_frame = max_frame;
}

void
pt_frame_reader_free(pt_frame_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->len = r->cap = r->consumed = 0;
}

static int32_t
read_be32(const uint8_t *p)
{
	uint32_t v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
	return (int32_t)v;
}

/* Drops the bytes already handed out, so the next frame starts at buf[0].
 * Done only before writing (never in _next), so that many frames arriving
 * in one read are returned without moving the rest each time. */
static void
compact(pt_frame_reader *r)
{
	if (r->consumed == 0)
		return;
	size_t pending = r->len - r->consumed;
	if (pending > 0)
		memmove(r->buf, r->buf + r->consumed, pending);
	r->len = pending;
	r->consumed = 0;
}

/* How many more bytes the frame at buf[0] needs to be complete; 0 if it is
 * complete, an end marker, or refused as too big. */
static size_t
frame_needs(const pt_frame_reader *r)
{
	if (r->len < 4)
		return 4 - r->len;
	int32_t l = read_be32(r->buf);
	if (l <= 0 || (size_t)l > r->max_frame)
		return 0;
	size_t total = 4 + (size_t)l;
	return total > r->len ? total - r->len : 0;
}

static int
resize(pt_frame_reader *r, size_t cap)
{
	uint8_t *p = realloc(r->buf, cap);
	if (p == NULL)
		return -1;
	r->buf = p;
	r->cap = cap;
	return 0;
}

uint8_t *
pt_frame_reader_space(pt_frame_reader *r, size_t *avail)
{
	compact(r);
	size_t need = frame_needs(r);
	size_t step = r->len > PT_FRAME_STEP ? r->len : PT_FRAME_STEP;
	size_t want = need < step ? need : step;
	if (want < FRAME_MIN_READ)
		want = FRAME_MIN_READ;
	/* Give memory back after a big frame (an image upload) instead of
	 * keeping it for the life of the connection. */
	if (r->cap > 4 * (size_t)PT_FRAME_STEP && r->len + want <= r->cap / 4)
		(void)resize(r, r->len + want);
	if (r->cap - r->len < want && resize(r, r->len + want) < 0) {
		*avail = 0;
		return NULL;
	}
	*avail = r->cap - r->len;
	return r->buf + r->len;
}

void
pt_frame_reader_commit(pt_frame_reader *r, size_t n)
{
	if (n > r->cap - r->len)
		n = r->cap - r->len;
	r->len += n;
}

int
pt_frame_reader_push(pt_frame_reader *r, const uint8_t *p, size_t n)
{
	while (n > 0) {
		size_t avail;
		uint8_t *dst = pt_frame_reader_space(r, &avail);
		if (dst == NULL)
			return -1;
		size_t k = n < avail ? n : avail;
		memcpy(dst, p, k);
		pt_frame_reader_commit(r, k);
		p += k;
		n -= k;
	}
	return 0;
}

pt_frame_status
pt_frame_reader_next(pt_frame_reader *r, const uint8_t **body, size_t *len)
{
	size_t pending = r->len - r->consumed;
	*body = NULL;
	*len = 0;
	if (pending < 4)
		return PT_FRAME_NEED_MORE;
	const uint8_t *p = r->buf + r->consumed;
	int32_t l = read_be32(p);
	if (l <= 0) {
		r->consumed += 4;
		return PT_FRAME_END;
	}
	/* Not consumed: the peer is to be dropped, and asking again gives
	 * the same answer. */
	if ((size_t)l > r->max_frame)
		return PT_FRAME_TOO_BIG;
	if (pending - 4 < (size_t)l)
		return PT_FRAME_NEED_MORE;
	*body = p + 4;
	*len = (size_t)l;
	r->consumed += 4 + (size_t)l;
	return PT_FRAME_OK;
}

size_t
pt_frame_reader_pending(const pt_frame_reader *r)
{
	return r->len - r->consumed;
}

int
pt_frame_append(pt_buf *out, const uint8_t *body, size_t len)
{
	if (len > INT32_MAX)
		return -1;
	uint8_t prefix[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16),
	    (uint8_t)(len >> 8), (uint8_t)len};
	if (pt_buf_reserve(out, 4 + len) < 0)
		return -1;
	pt_buf_append(out, prefix, 4);
	return pt_buf_append(out, body, len);
}

int
pt_frame_append_end(pt_buf *out)
{
	static const uint8_t end[4] = {0, 0, 0, 0};
	return pt_buf_append(out, end, 4);
}
