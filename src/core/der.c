/*
 * DER primitives (albatross-wire.md §3); see der.h for the contract.
 */
#include "der.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

/* ---- reading ---- */

void
pt_der_init(pt_der *d, const uint8_t *p, size_t n, pt_arena *arena,
    pt_err *err)
{
	/* An empty input may come as NULL: keep pointer arithmetic defined. */
	static const uint8_t empty[1];
	if (p == NULL)
		p = empty, n = 0;
	d->p = p;
	d->end = p + n;
	d->depth = 0;
	d->arena = arena;
	d->err = err;
}

bool
pt_der_at_end(const pt_der *d)
{
	return d->p == d->end;
}

int
pt_der_peek(const pt_der *d)
{
	return d->p < d->end ? d->p[0] : -1;
}

int
pt_der_done(const pt_der *d, const char *what)
{
	if (d->p != d->end)
		return pt_fail(d->err, "%s: trailing bytes", what);
	return 0;
}

/* Reads the length octets at d->p (§3.3): definite, minimal, at most 4
 * octets; albatross accepts the long form of exactly 127, so do we. */
static int
read_length(pt_der *d, const char *what, size_t *len)
{
	if (d->p >= d->end)
		return pt_fail(d->err, "%s: missing length", what);
	uint8_t first = *d->p++;
	if (first < 0x80) {
		*len = first;
		return 0;
	}
	if (first == 0x80)
		return pt_fail(d->err, "%s: indefinite length", what);
	size_t k = first & 0x7f;
	if (k > 4)
		return pt_fail(d->err, "%s: length of %zu octets", what, k);
	if ((size_t)(d->end - d->p) < k)
		return pt_fail(d->err, "%s: truncated length", what);
	if (d->p[0] == 0)
		return pt_fail(d->err, "%s: redundant length form "
		    "(leading zero)", what);
	size_t v = 0;
	for (size_t i = 0; i < k; i++)
		v = v << 8 | d->p[i];
	d->p += k;
	if (v < 127)
		return pt_fail(d->err, "%s: redundant length form", what);
	*len = v;
	return 0;
}

int
pt_der_any(pt_der *d, const char *what, uint8_t *tag, pt_der *content)
{
	if (d->p >= d->end)
		return pt_fail(d->err, "%s: missing", what);
	if (d->depth >= PT_DER_MAX_DEPTH)
		return pt_fail(d->err, "%s: nested too deeply", what);
	const uint8_t *start = d->p;
	uint8_t t = *d->p;
	if ((t & 0x1f) == 0x1f)
		return pt_fail(d->err, "%s: multi-octet tag", what);
	d->p++;
	size_t len = 0;
	if (read_length(d, what, &len) < 0) {
		d->p = start;
		return -1;
	}
	if ((size_t)(d->end - d->p) < len) {
		d->p = start;
		return pt_fail(d->err, "%s: length %zu exceeds the input",
		    what, len);
	}
	*tag = t;
	content->p = d->p;
	content->end = d->p + len;
	content->depth = d->depth + 1;
	content->arena = d->arena;
	content->err = d->err;
	d->p += len;
	return 0;
}

int
pt_der_expect(pt_der *d, uint8_t tag, const char *what, pt_der *content)
{
	if (d->p < d->end && d->p[0] != tag)
		return pt_fail(d->err, "%s: unexpected tag 0x%02x "
		    "(expected 0x%02x)", what, d->p[0], tag);
	uint8_t t;
	return pt_der_any(d, what, &t, content);
}

int
pt_der_count(const pt_der *d, size_t max, const char *what, size_t *n)
{
	pt_der it = *d;
	size_t count = 0;
	while (!pt_der_at_end(&it)) {
		uint8_t tag;
		pt_der c;
		if (count == max)
			return pt_fail(d->err, "%s: more than %zu elements",
			    what, max);
		if (pt_der_any(&it, what, &tag, &c) < 0)
			return -1;
		count++;
	}
	*n = count;
	return 0;
}

/* A primitive element with tag `tag`: its content bytes. */
static int
primitive(pt_der *d, uint8_t tag, const char *what, const uint8_t **p,
    size_t *n)
{
	pt_der c;
	if (pt_der_expect(d, tag, what, &c) < 0)
		return -1;
	*p = c.p;
	*n = (size_t)(c.end - c.p);
	return 0;
}

int
pt_der_int(pt_der *d, const char *what, int64_t *v)
{
	const uint8_t *p;
	size_t n;
	if (primitive(d, PT_DER_INTEGER, what, &p, &n) < 0)
		return -1;
	if (n == 0)
		return pt_fail(d->err, "%s: empty INTEGER", what);
	if (n > 1 && ((p[0] == 0x00 && !(p[1] & 0x80)) ||
	    (p[0] == 0xff && (p[1] & 0x80))))
		return pt_fail(d->err, "%s: INTEGER in redundant form", what);
	if (n > 8)
		return pt_fail(d->err, "%s: INTEGER overflow", what);
	uint64_t u = p[0] & 0x80 ? UINT64_MAX : 0;
	for (size_t i = 0; i < n; i++)
		u = u << 8 | p[i];
	int64_t x = (int64_t)u;
	if (x < PT_DER_INT_MIN || x > PT_DER_INT_MAX)
		return pt_fail(d->err, "%s: INTEGER overflow (63 bits)", what);
	*v = x;
	return 0;
}

int
pt_der_bool(pt_der *d, const char *what, bool *v)
{
	const uint8_t *p;
	size_t n;
	if (primitive(d, PT_DER_BOOLEAN, what, &p, &n) < 0)
		return -1;
	if (n != 1)
		return pt_fail(d->err, "%s: BOOLEAN of %zu octets", what, n);
	/* albatross takes any non-zero octet as TRUE (§3.3). */
	*v = p[0] != 0;
	return 0;
}

int
pt_der_null(pt_der *d, const char *what)
{
	const uint8_t *p;
	size_t n;
	if (primitive(d, PT_DER_NULL, what, &p, &n) < 0)
		return -1;
	if (n != 0)
		return pt_fail(d->err, "%s: NULL with content", what);
	return 0;
}

int
pt_der_int64(pt_der *d, const char *what, int64_t *v)
{
	const uint8_t *p;
	size_t n;
	if (primitive(d, PT_DER_OCTETS, what, &p, &n) < 0)
		return -1;
	if (n != 8)
		return pt_fail(d->err, "%s: Int64 of %zu octets (expected 8)",
		    what, n);
	uint64_t u = 0;
	for (size_t i = 0; i < 8; i++)
		u = u << 8 | p[i];
	*v = (int64_t)u;
	return 0;
}

int
pt_der_octets(pt_der *d, const char *what, pt_blob *v)
{
	const uint8_t *p;
	size_t n;
	if (primitive(d, PT_DER_OCTETS, what, &p, &n) < 0)
		return -1;
	v->data = p;
	v->len = n;
	return 0;
}

int
pt_der_mac(pt_der *d, const char *what, uint8_t mac[6])
{
	const uint8_t *p;
	size_t n;
	if (primitive(d, PT_DER_OCTETS, what, &p, &n) < 0)
		return -1;
	if (n != 6)
		return pt_fail(d->err, "%s: MAC address of %zu octets", what,
		    n);
	memcpy(mac, p, 6);
	return 0;
}

bool
pt_der_utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = s[i];
		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t k;
		uint32_t cp, min;
		if ((c & 0xe0) == 0xc0)
			k = 1, cp = c & 0x1f, min = 0x80;
		else if ((c & 0xf0) == 0xe0)
			k = 2, cp = c & 0x0f, min = 0x800;
		else if ((c & 0xf8) == 0xf0)
			k = 3, cp = c & 0x07, min = 0x10000;
		else
			return false;
		if (n - i - 1 < k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		/* No overlong forms, surrogates or values past U+10FFFF. */
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

int
pt_der_text(pt_der *d, const char *what, pt_text *v)
{
	const uint8_t *p;
	size_t n;
	if (primitive(d, PT_DER_UTF8, what, &p, &n) < 0)
		return -1;
	if (!pt_der_utf8_valid(p, n))
		return pt_fail(d->err, "%s: invalid UTF-8 or NUL in "
		    "UTF8String", what);
	char *s = pt_arena_strndup(d->arena, (const char *)p, n);
	if (s == NULL)
		return pt_fail(d->err, "%s: out of memory", what);
	v->s = s;
	v->len = n;
	return 0;
}

int
pt_der_name(pt_der *d, const char *what, pt_name *v)
{
	const uint8_t *p;
	size_t n;
	if (primitive(d, PT_DER_UTF8, what, &p, &n) < 0)
		return -1;
	if (memchr(p, 0, n) != NULL)
		return pt_fail(d->err, "%s: NUL in name", what);
	if (pt_name_parse((const char *)p, n, v, d->err) < 0)
		return pt_fail_prefix(d->err, "%s", what);
	return 0;
}

int
pt_der_time(pt_der *d, const char *what, int64_t *ms)
{
	const uint8_t *p;
	size_t n;
	if (primitive(d, PT_DER_GTIME, what, &p, &n) < 0)
		return -1;
	if (pt_gtime_parse((const char *)p, n, ms, d->err) < 0)
		return pt_fail_prefix(d->err, "%s", what);
	return 0;
}

/* ---- writing ---- */

void
pt_derw_init(pt_derw *w, pt_buf *b, pt_err *err)
{
	w->b = b;
	w->err = err;
	w->failed = false;
}

void
pt_derw_fail(pt_derw *w, const char *fmt, ...)
{
	if (w->failed)
		return;
	w->failed = true;
	if (w->err != NULL) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(w->err->msg, sizeof(w->err->msg), fmt, ap);
		va_end(ap);
	}
}

int
pt_derw_finish(pt_derw *w)
{
	if (!w->failed && w->b->oom)
		pt_derw_fail(w, "out of memory");
	return w->failed ? -1 : 0;
}

static bool
usable(pt_derw *w)
{
	if (!w->failed && w->b->oom)
		pt_derw_fail(w, "out of memory");
	return !w->failed;
}

size_t
pt_derw_begin(pt_derw *w, uint8_t tag)
{
	if (usable(w))
		pt_buf_append_byte(w->b, tag);
	return w->b->len;
}

/* Minimal length octets for n; returns how many. */
static size_t
length_octets(size_t n, uint8_t out[5])
{
	if (n < 0x80) {
		out[0] = (uint8_t)n;
		return 1;
	}
	size_t k = 0;
	for (size_t v = n; v > 0; v >>= 8)
		k++;
	out[0] = (uint8_t)(0x80 | k);
	for (size_t i = 0; i < k; i++)
		out[k - i] = (uint8_t)(n >> (8 * i));
	return k + 1;
}

void
pt_derw_end(pt_derw *w, size_t mark)
{
	if (!usable(w))
		return;
	size_t n = w->b->len - mark;
	if (n > UINT32_MAX) {
		pt_derw_fail(w, "value too long for DER (%zu bytes)", n);
		return;
	}
	uint8_t len[5];
	size_t k = length_octets(n, len);
	pt_buf_insert(w->b, mark, len, k);
}

/* Writes a complete primitive TLV. */
static void
put_primitive(pt_derw *w, uint8_t tag, const void *p, size_t n)
{
	if (!usable(w))
		return;
	if (n > UINT32_MAX) {
		pt_derw_fail(w, "value too long for DER (%zu bytes)", n);
		return;
	}
	uint8_t hdr[6];
	hdr[0] = tag;
	size_t k = length_octets(n, hdr + 1);
	if (pt_buf_reserve(w->b, 1 + k + n) < 0)
		return;
	pt_buf_append(w->b, hdr, 1 + k);
	pt_buf_append(w->b, p, n);
}

typedef struct {
	const uint8_t *p;
	size_t n;
} element;

static int
element_cmp(const void *a, const void *b)
{
	const element *x = a, *y = b;
	size_t n = x->n < y->n ? x->n : y->n;
	int c = n > 0 ? memcmp(x->p, y->p, n) : 0;
	if (c != 0)
		return c;
	return (x->n > y->n) - (x->n < y->n);
}

/* Length of the TLV we wrote at p (trusted: our own output). */
static size_t
own_tlv_len(const uint8_t *p)
{
	if (p[1] < 0x80)
		return 2 + (size_t)p[1];
	size_t k = p[1] & 0x7f, v = 0;
	for (size_t i = 0; i < k; i++)
		v = v << 8 | p[2 + i];
	return 2 + k + v;
}

void
pt_derw_sort_set(pt_derw *w, size_t mark)
{
	if (!usable(w))
		return;
	uint8_t *base = w->b->data + mark;
	size_t total = w->b->len - mark, count = 0;
	for (size_t off = 0; off < total; off += own_tlv_len(base + off))
		count++;
	if (count < 2)
		return;
	element *el = calloc(count, sizeof(*el));
	uint8_t *copy = malloc(total);
	if (el == NULL || copy == NULL) {
		free(el);
		free(copy);
		pt_derw_fail(w, "out of memory");
		return;
	}
	memcpy(copy, base, total);
	size_t off = 0;
	for (size_t i = 0; i < count; i++) {
		el[i].p = copy + off;
		el[i].n = own_tlv_len(copy + off);
		off += el[i].n;
	}
	qsort(el, count, sizeof(*el), element_cmp);
	off = 0;
	for (size_t i = 0; i < count; i++) {
		memcpy(base + off, el[i].p, el[i].n);
		off += el[i].n;
	}
	free(el);
	free(copy);
}

void
pt_derw_integer(pt_derw *w, int64_t v)
{
	uint8_t be[8];
	for (int i = 0; i < 8; i++)
		be[i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
	/* Drop leading octets that only repeat the sign (§3.1). */
	size_t skip = 0;
	while (skip < 7 && ((be[skip] == 0x00 && !(be[skip + 1] & 0x80)) ||
	    (be[skip] == 0xff && (be[skip + 1] & 0x80))))
		skip++;
	put_primitive(w, PT_DER_INTEGER, be + skip, 8 - skip);
}

void
pt_derw_int(pt_derw *w, const char *what, int64_t v)
{
	if (v < PT_DER_INT_MIN || v > PT_DER_INT_MAX) {
		pt_derw_fail(w, "%s: %lld is outside the 63-bit range", what,
		    (long long)v);
		return;
	}
	pt_derw_integer(w, v);
}

void
pt_derw_bool(pt_derw *w, bool v)
{
	uint8_t b = v ? 0xff : 0x00;
	put_primitive(w, PT_DER_BOOLEAN, &b, 1);
}

void
pt_derw_null(pt_derw *w)
{
	put_primitive(w, PT_DER_NULL, NULL, 0);
}

void
pt_derw_int64(pt_derw *w, int64_t v)
{
	uint8_t be[8];
	for (int i = 0; i < 8; i++)
		be[i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
	put_primitive(w, PT_DER_OCTETS, be, 8);
}

void
pt_derw_octets(pt_derw *w, const void *p, size_t n)
{
	put_primitive(w, PT_DER_OCTETS, p, n);
}

void
pt_derw_text(pt_derw *w, const char *what, const char *s, size_t n)
{
	if (n > 0 && s == NULL) {
		pt_derw_fail(w, "%s: missing text", what);
		return;
	}
	/* What we would refuse to read, we refuse to write. */
	if (!pt_der_utf8_valid((const uint8_t *)s, n)) {
		pt_derw_fail(w, "%s: invalid UTF-8 or NUL", what);
		return;
	}
	put_primitive(w, PT_DER_UTF8, s, n);
}

void
pt_derw_name(pt_derw *w, const pt_name *n)
{
	put_primitive(w, PT_DER_UTF8, n->text, n->len);
}

void
pt_derw_time(pt_derw *w, int64_t ms)
{
	char buf[20];
	pt_gtime_format(ms, buf);
	pt_time_ms back;
	/* Out-of-range times are clamped by the formatter: detect that. */
	if (pt_gtime_parse(buf, strlen(buf), &back, NULL) < 0 || back != ms) {
		pt_derw_fail(w, "time %lld ms is outside years 0000-9999",
		    (long long)ms);
		return;
	}
	put_primitive(w, PT_DER_GTIME, buf, strlen(buf));
}
