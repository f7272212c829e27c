#include "escape.h"

#include <stdbool.h>
#include <stdint.h>

/* Length of the valid UTF-8 sequence at p (1..4) and its code point, or 0
 * if the bytes there are not valid UTF-8 (overlong forms, surrogates and
 * values above U+10FFFF included). */
static size_t
utf8_next(const uint8_t *p, size_t n, uint32_t *cp)
{
	uint8_t c = p[0];
	size_t len;
	uint32_t v, min;

	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if ((c & 0xe0) == 0xc0) {
		len = 2;
		v = c & 0x1f;
		min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3;
		v = c & 0x0f;
		min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4;
		v = c & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (p[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return len;
}

static int
escape_control(pt_buf *out, uint32_t cp)
{
	switch (cp) {
	case '\n':
		return pt_buf_append(out, "\\n", 2);
	case '\t':
		return pt_buf_append(out, "\\t", 2);
	case '\r':
		return pt_buf_append(out, "\\r", 2);
	default:
		if (cp < 0x80)
			return pt_buf_printf(out, "\\x%02x", (unsigned)cp);
		return pt_buf_printf(out, "\\u%04x", (unsigned)cp);
	}
}

static bool
is_control(uint32_t cp)
{
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f);
}

int
pt_text_escape(pt_buf *out, const char *s, size_t n)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t i = 0;

	while (i < n) {
		uint32_t cp;
		size_t len = utf8_next(p + i, n - i, &cp);
		int rc;
		if (len == 0) {
			rc = pt_buf_printf(out, "\\x%02x", p[i]);
			len = 1;
		} else if (is_control(cp)) {
			rc = escape_control(out, cp);
		} else {
			rc = pt_buf_append(out, p + i, len);
		}
		if (rc != 0)
			return -1;
		i += len;
	}
	return 0;
}

int
pt_json_string(pt_buf *out, const char *s, size_t n)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t i = 0;

	if (pt_buf_append_byte(out, '"') != 0)
		return -1;
	while (i < n) {
		uint32_t cp;
		size_t len = utf8_next(p + i, n - i, &cp);
		int rc;
		if (len == 0) {
			rc = pt_buf_append(out, "\\ufffd", 6);
			len = 1;
		} else if (cp == '"' || cp == '\\') {
			char esc[2] = {'\\', (char)cp};
			rc = pt_buf_append(out, esc, 2);
		} else if (cp == '\n') {
			rc = pt_buf_append(out, "\\n", 2);
		} else if (cp == '\t') {
			rc = pt_buf_append(out, "\\t", 2);
		} else if (cp == '\r') {
			rc = pt_buf_append(out, "\\r", 2);
		} else if (cp < 0x20 || cp == 0x7f) {
			rc = pt_buf_printf(out, "\\u%04x", (unsigned)cp);
		} else {
			rc = pt_buf_append(out, p + i, len);
		}
		if (rc != 0)
			return -1;
		i += len;
	}
	return pt_buf_append_byte(out, '"');
}

static bool
needs_quotes(const uint8_t *p, size_t n)
{
	if (n == 0)
		return true;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (c <= ' ' || c == 0x7f || c >= 0x80 || c == '"' ||
		    c == '\'' || c == '\\')
			return true;
	}
	return false;
}

int
pt_text_quote_arg(pt_buf *out, const char *s, size_t n)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t i = 0;

	if (!needs_quotes(p, n))
		return pt_buf_append(out, s, n);
	if (pt_buf_append_byte(out, '"') != 0)
		return -1;
	while (i < n) {
		uint32_t cp;
		size_t len = utf8_next(p + i, n - i, &cp);
		int rc;
		if (len == 0) {
			rc = pt_buf_printf(out, "\\x%02x", p[i]);
			len = 1;
		} else if (cp == '"' || cp == '\\') {
			char esc[2] = {'\\', (char)cp};
			rc = pt_buf_append(out, esc, 2);
		} else if (is_control(cp)) {
			rc = escape_control(out, cp);
		} else {
			rc = pt_buf_append(out, p + i, len);
		}
		if (rc != 0)
			return -1;
		i += len;
	}
	return pt_buf_append_byte(out, '"');
}
