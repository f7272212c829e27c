#include "util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
pt_utf8_trim_tail(char *s)
{
	size_t n = strlen(s);
	/* Find the start of the last sequence (at most 4 bytes back). */
	size_t i = n;
	while (i > 0 && n - i < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
		i--;
	if (i == 0)
		return;
	unsigned char lead = (unsigned char)s[i - 1];
	size_t want = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 :
	    lead >= 0xC0 ? 2 : 1;
	if (n - (i - 1) < want)
		s[i - 1] = '\0';
}

int
pt_fail(pt_err *err, const char *fmt, ...)
{
	if (err != NULL) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
		pt_utf8_trim_tail(err->msg);
	}
	return -1;
}

int
pt_fail_prefix(pt_err *err, const char *fmt, ...)
{
	if (err != NULL) {
		char prefix[sizeof(err->msg)];
		char old[sizeof(err->msg)];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(prefix, sizeof(prefix), fmt, ap);
		va_end(ap);
		memcpy(old, err->msg, sizeof(old));
		/* Truncation is fine: the message is for humans. */
		size_t n = strlen(prefix);
		if (n > sizeof(err->msg) - 3)
			n = sizeof(err->msg) - 3;
		memcpy(err->msg, prefix, n);
		memcpy(err->msg + n, ": ", 2);
		size_t room = sizeof(err->msg) - n - 3;
		size_t m = strnlen(old, room);
		memcpy(err->msg + n + 2, old, m);
		err->msg[n + 2 + m] = '\0';
		pt_utf8_trim_tail(err->msg);
	}
	return -1;
}

void
pt_buf_free(pt_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

void
pt_buf_reset(pt_buf *b)
{
	b->len = 0;
}

int
pt_buf_reserve(pt_buf *b, size_t extra)
{
	if (b->oom)
		return -1;
	if (extra > SIZE_MAX / 2 - b->len) {
		b->oom = true;
		return -1;
	}
	size_t need = b->len + extra;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	uint8_t *p = realloc(b->data, cap);
	if (p == NULL) {
		b->oom = true;
		return -1;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

int
pt_buf_append(pt_buf *b, const void *p, size_t n)
{
	if (pt_buf_reserve(b, n) < 0)
		return -1;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int
pt_buf_append_byte(pt_buf *b, uint8_t v)
{
	return pt_buf_append(b, &v, 1);
}

int
pt_buf_printf(pt_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || pt_buf_reserve(b, (size_t)n + 1) < 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

int
pt_buf_insert(pt_buf *b, size_t off, const void *p, size_t n)
{
	if (off > b->len || pt_buf_reserve(b, n) < 0)
		return -1;
	memmove(b->data + off + n, b->data + off, b->len - off);
	memcpy(b->data + off, p, n);
	b->len += n;
	return 0;
}

struct pt_arena_chunk {
	pt_arena_chunk *next;
	size_t size;
	size_t used;
	_Alignas(16) unsigned char mem[];
};

#define ARENA_CHUNK 4096

void *
pt_arena_alloc(pt_arena *a, size_t n)
{
	size_t rounded = (n + 15) & ~(size_t)15;
	if (rounded < n)
		return NULL;
	if (a->limit != 0 && (rounded > a->limit || a->total > a->limit - rounded))
		return NULL;
	pt_arena_chunk *c = a->head;
	if (c == NULL || c->size - c->used < rounded) {
		size_t size = rounded > ARENA_CHUNK ? rounded : ARENA_CHUNK;
		if (size > SIZE_MAX - sizeof(*c))
			return NULL;
		c = malloc(sizeof(*c) + size);
		if (c == NULL)
			return NULL;
		c->size = size;
		c->used = 0;
		/* A big one-off allocation goes behind the head so the
		 * head's free space stays usable for small ones. */
		if (a->head != NULL && size > ARENA_CHUNK) {
			c->next = a->head->next;
			a->head->next = c;
		} else {
			c->next = a->head;
			a->head = c;
		}
	}
	void *p = c->mem + c->used;
	c->used += rounded;
	a->total += rounded;
	memset(p, 0, n);
	return p;
}

void *
pt_arena_calloc(pt_arena *a, size_t n, size_t sz)
{
	if (sz != 0 && n > SIZE_MAX / sz)
		return NULL;
	return pt_arena_alloc(a, n * sz == 0 ? 1 : n * sz);
}

char *
pt_arena_strndup(pt_arena *a, const char *s, size_t n)
{
	if (n == SIZE_MAX)
		return NULL;
	char *p = pt_arena_alloc(a, n + 1);
	if (p == NULL)
		return NULL;
	if (n > 0)
		memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void *
pt_arena_memdup(pt_arena *a, const void *p, size_t n)
{
	void *q = pt_arena_alloc(a, n == 0 ? 1 : n);
	if (q != NULL && n > 0)
		memcpy(q, p, n);
	return q;
}

void
pt_arena_free(pt_arena *a)
{
	pt_arena_chunk *c = a->head;
	while (c != NULL) {
		pt_arena_chunk *next = c->next;
		free(c);
		c = next;
	}
	a->head = NULL;
	a->total = 0;
}

void
pt_hex_encode(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

long
pt_hex_decode(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;
	int hi = -1;
	for (; *s != '\0'; s++) {
		if (isspace((unsigned char)*s))
			continue;
		int v = hexval((unsigned char)*s);
		if (v < 0)
			return -1;
		if (hi < 0) {
			hi = v;
			continue;
		}
		if (n >= cap)
			return -1;
		out[n++] = (uint8_t)(hi << 4 | v);
		hi = -1;
	}
	return hi < 0 ? (long)n : -1;
}
