#include "console_ring.h"

#include <stdlib.h>
#include <string.h>

void
pt_line_splitter_init(pt_line_splitter *s)
{
	s->npending = 0;
	s->discarding = false;
}

static void
emit_truncated(pt_line_splitter *s, pt_line_cb cb, void *ctx)
{
	char line[PT_CONSOLE_LINE_MAX + sizeof(PT_CONSOLE_TRUNCATED)];
	memcpy(line, s->pending, PT_CONSOLE_LINE_MAX);
	memcpy(line + PT_CONSOLE_LINE_MAX, PT_CONSOLE_TRUNCATED,
	    sizeof(PT_CONSOLE_TRUNCATED) - 1);
	cb(line, PT_CONSOLE_LINE_MAX + sizeof(PT_CONSOLE_TRUNCATED) - 1, ctx);
	s->npending = 0;
	s->discarding = true;
}

void
pt_line_splitter_feed(pt_line_splitter *s, const uint8_t *p, size_t n,
    pt_line_cb cb, void *ctx)
{
	while (n > 0) {
		const uint8_t *nl = memchr(p, '\n', n);
		size_t take = nl != NULL ? (size_t)(nl - p) : n;
		if (s->discarding) {
			/* The tail of a truncated line: drop it. */
			if (nl == NULL)
				return;
			s->discarding = false;
		} else {
			size_t room = PT_CONSOLE_LINE_MAX - s->npending;
			size_t copy = take < room ? take : room;
			memcpy(s->pending + s->npending, p, copy);
			s->npending += copy;
			if (take > copy) {
				/* The line is longer than the limit. */
				emit_truncated(s, cb, ctx);
				if (nl == NULL)
					return;
				s->discarding = false;
			} else if (nl != NULL) {
				if (s->npending > 0)
					cb(s->pending, s->npending, ctx);
				s->npending = 0;
			}
		}
		if (nl == NULL)
			return;
		take++; /* the newline */
		p += take;
		n -= take;
	}
}

void
pt_line_splitter_flush(pt_line_splitter *s, pt_line_cb cb, void *ctx)
{
	if (!s->discarding && s->npending > 0)
		cb(s->pending, s->npending, ctx);
	s->npending = 0;
	s->discarding = false;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if invalid:
 * no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t
utf8_seq(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	size_t len;
	unsigned lo = 0x80, hi = 0xBF;
	if (c >= 0x01 && c <= 0x7F)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else
		return 0;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
	return len;
}

size_t
pt_utf8_sanitize(const char *in, size_t n, char *out)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq(p + i, n - i);
		if (k == 0) {
			memcpy(out + o, "\xEF\xBF\xBD", 3);
			o += 3;
			i++;
		} else {
			memcpy(out + o, p + i, k);
			o += k;
			i += k;
		}
	}
	return o;
}

void
pt_console_ring_init(pt_console_ring *r, size_t capacity)
{
	memset(r, 0, sizeof(*r));
	if (capacity == 0)
		capacity = 1;
	if (capacity > PT_CONSOLE_RING_MAX)
		capacity = PT_CONSOLE_RING_MAX;
	r->capacity = capacity;
}

void
pt_console_ring_free(pt_console_ring *r)
{
	for (size_t i = 0; i < r->count; i++)
		free(r->slots[(r->start + i) % r->nslots].line);
	free(r->slots);
	memset(r, 0, sizeof(*r));
}

/* Grows the slot array (doubling, up to capacity) while the ring has not
 * wrapped yet, so that a quiet unikernel costs little memory. */
static int
grow(pt_console_ring *r)
{
	size_t want = r->nslots ? r->nslots * 2 : 16;
	if (want > r->capacity)
		want = r->capacity;
	pt_console_line *s = realloc(r->slots, want * sizeof(*s));
	if (s == NULL)
		return -1;
	r->slots = s;
	r->nslots = want;
	return 0;
}

int
pt_console_ring_add(pt_console_ring *r, int64_t time_ms, const char *line,
    size_t len)
{
	char *copy = malloc(len + 1);
	if (copy == NULL)
		return -1;
	memcpy(copy, line, len);
	copy[len] = '\0';
	if (r->count == r->nslots && r->nslots < r->capacity) {
		/* Not wrapped yet (start is 0 until the ring is full). */
		if (grow(r) < 0) {
			free(copy);
			return -1;
		}
	}
	pt_console_line *slot;
	if (r->count == r->capacity) {
		slot = &r->slots[r->start];
		free(slot->line);
		r->start = (r->start + 1) % r->nslots;
	} else {
		slot = &r->slots[(r->start + r->count) % r->nslots];
		r->count++;
	}
	slot->time_ms = time_ms;
	slot->line = copy;
	slot->len = len;
	r->total++;
	return 0;
}

const pt_console_line *
pt_console_ring_at(const pt_console_ring *r, size_t i)
{
	if (i >= r->count)
		return NULL;
	return &r->slots[(r->start + i) % r->nslots];
}

size_t
pt_console_ring_last(const pt_console_ring *r, int64_t n)
{
	if (n <= 0)
		return r->count;
	if ((uint64_t)n >= r->count)
		return 0;
	return r->count - (size_t)n;
}

size_t
pt_console_ring_since(const pt_console_ring *r, int64_t since_ms)
{
	/* Timestamps come from the reader's clock and are normally
	 * ascending, but a clock step may break that: a linear scan from
	 * the oldest line stays correct either way ("all lines >= since"
	 * starting with the first that qualifies). */
	for (size_t i = 0; i < r->count; i++)
		if (pt_console_ring_at(r, i)->time_ms >= since_ms)
			return i;
	return r->count;
}

size_t
pt_console_ring_bytes(const pt_console_ring *r)
{
	size_t bytes = r->nslots * sizeof(pt_console_line);
	for (size_t i = 0; i < r->count; i++)
		bytes += pt_console_ring_at(r, i)->len + 1;
	return bytes;
}
