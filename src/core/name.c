/*
 * Names (albatross-wire.md §4). Every pt_name is built by name_build, which
 * validates and lower-cases each label and enforces petrel's length limits,
 * so a pt_name in hand is always valid and canonical.
 */
#include "name.h"

#include <stdio.h>
#include <string.h>

/* A label as a (pointer, length) pair; not NUL-terminated. */
typedef struct {
	const char *s;
	size_t n;
} label_ref;

static bool
label_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '-';
}

bool
pt_label_valid(const char *s, size_t n)
{
	if (s == NULL || n == 0 || n > PT_LABEL_MAX || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!label_char_ok(s[i]))
			return false;
	return true;
}

/* Renders hostile bytes for an error message: printable ASCII as is, the
 * rest as \xNN, cut after a few dozen characters. */
static void
quote_for_error(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (o + 8 >= cap) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
	}
	out[o] = '\0';
}

static int
fail_label(pt_err *err, const char *s, size_t n)
{
	char q[80];
	quote_for_error(s, n, q, sizeof(q));
	return pt_fail(err, "invalid label '%s'", q);
}

static char
ascii_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Appends one label (lower-cased) to out->text and records its place.
 * The caller has checked that it fits. */
static void
put_label(pt_name *out, size_t idx, const label_ref *l)
{
	out->off[idx] = (unsigned char)out->len;
	out->lablen[idx] = (unsigned char)l->n;
	for (size_t i = 0; i < l->n; i++)
		out->text[out->len + i] = ascii_lower(l->s[i]);
	out->len = (unsigned short)(out->len + l->n);
}

/*
 * The one constructor: labels[0..count) where the last one is the label if
 * has_label. Canonical text: join(":", path) ":" label-or-empty.
 */
static int
name_build(const label_ref *labels, size_t count, bool has_label,
    pt_name *out, pt_err *err)
{
	size_t npath = has_label ? count - 1 : count;
	size_t total = 0;

	if (has_label && count == 0)
		return pt_fail(err, "name without label");
	if (count > PT_NAME_MAX_LABELS)
		return pt_fail(err, "name too long (more than %d labels)",
		    PT_NAME_MAX_LABELS);
	for (size_t i = 0; i < count; i++) {
		if (!pt_label_valid(labels[i].s, labels[i].n))
			return fail_label(err, labels[i].s, labels[i].n);
		total += labels[i].n;
	}
	/* One ':' after every path label; an empty path still writes one
	 * (":" and ":foo"). */
	total += npath + (npath == 0 ? 1 : 0);
	if (total > PT_NAME_TEXT_MAX)
		return pt_fail(err, "name too long (%zu bytes, at most %d)",
		    total, PT_NAME_TEXT_MAX);

	memset(out, 0, sizeof(*out));
	out->npath = (unsigned char)npath;
	out->has_label = has_label;
	for (size_t i = 0; i < npath; i++) {
		put_label(out, i, &labels[i]);
		out->text[out->len++] = ':';
	}
	if (npath == 0)
		out->text[out->len++] = ':';
	if (has_label)
		put_label(out, npath, &labels[npath]);
	out->text[out->len] = '\0';
	return 0;
}

/* Splits s[0..n) on ':' into labels (no validation yet). One leading empty
 * element is dropped, as albatross does. */
static int
split_labels(const char *s, size_t n, label_ref *labels, size_t *count,
    pt_err *err)
{
	size_t c = 0;
	size_t start = 0;
	bool first = true;

	if (n == 0) {
		*count = 0;
		return 0;
	}
	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != ':')
			continue;
		bool drop = first && i == 0;
		first = false;
		if (!drop) {
			if (c == PT_NAME_MAX_LABELS)
				return pt_fail(err, "name too long");
			labels[c].s = s + start;
			labels[c].n = i - start;
			c++;
		}
		start = i + 1;
	}
	*count = c;
	return 0;
}

int
pt_name_parse(const char *s, size_t n, pt_name *out, pt_err *err)
{
	label_ref labels[PT_NAME_MAX_LABELS];
	size_t count = 0;
	bool is_path;

	if (s == NULL || n == 0)
		return pt_fail(err, "empty name");
	/* The input is at most one byte longer than its canonical form (an
	 * extra leading ':'); refuse anything bigger before looking at it. */
	if (n > PT_NAME_TEXT_MAX + 1)
		return pt_fail(err, "name too long (%zu bytes, at most %d)", n,
		    PT_NAME_TEXT_MAX);
	is_path = s[n - 1] == ':';
	if (split_labels(s, is_path ? n - 1 : n, labels, &count, err) != 0)
		return -1;
	return name_build(labels, count, !is_path, out, err);
}

int
pt_name_parse_str(const char *s, pt_name *out, pt_err *err)
{
	if (s == NULL)
		return pt_fail(err, "empty name");
	return pt_name_parse(s, strnlen(s, PT_NAME_TEXT_MAX + 2), out, err);
}

void
pt_name_root(pt_name *out)
{
	(void)name_build(NULL, 0, false, out, NULL);
}

bool
pt_name_is_root(const pt_name *n)
{
	return n->npath == 0 && !n->has_label;
}

bool
pt_name_equal(const pt_name *a, const pt_name *b)
{
	return a->len == b->len && memcmp(a->text, b->text, a->len) == 0;
}

const char *
pt_name_path_label(const pt_name *n, size_t i, size_t *len)
{
	if (i >= n->npath) {
		*len = 0;
		return NULL;
	}
	*len = n->lablen[i];
	return n->text + n->off[i];
}

const char *
pt_name_label(const pt_name *n, size_t *len)
{
	if (!n->has_label) {
		*len = 0;
		return NULL;
	}
	*len = n->lablen[n->npath];
	return n->text + n->off[n->npath];
}

size_t
pt_name_nlabels(const pt_name *n)
{
	return (size_t)n->npath + (n->has_label ? 1 : 0);
}

const char *
pt_name_nth_label(const pt_name *n, size_t i, size_t *len)
{
	if (i >= pt_name_nlabels(n)) {
		*len = 0;
		return NULL;
	}
	*len = n->lablen[i];
	return n->text + n->off[i];
}

/* Labels [from, to) of n (path then label) as refs. */
static size_t
collect_labels(const pt_name *n, size_t from, size_t to, label_ref *out)
{
	size_t c = 0;
	for (size_t i = from; i < to; i++) {
		out[c].s = n->text + n->off[i];
		out[c].n = n->lablen[i];
		c++;
	}
	return c;
}

void
pt_name_path(const pt_name *n, pt_name *out)
{
	label_ref labels[PT_NAME_MAX_LABELS];
	size_t c = collect_labels(n, 0, n->npath, labels);
	(void)name_build(labels, c, false, out, NULL);
}

int
pt_name_parent(const pt_name *n, pt_name *out)
{
	label_ref labels[PT_NAME_MAX_LABELS];
	size_t c;

	if (n->has_label) {
		pt_name_path(n, out);
		return 0;
	}
	if (n->npath == 0)
		return -1;
	c = collect_labels(n, 0, (size_t)n->npath - 1, labels);
	return name_build(labels, c, false, out, NULL);
}

static int
extend(const pt_name *path, const char *label, size_t n, bool as_label,
    pt_name *out, pt_err *err)
{
	label_ref labels[PT_NAME_MAX_LABELS + 1];
	size_t c;

	if (path->has_label)
		return pt_fail(err, "%s is not a path", path->text);
	c = collect_labels(path, 0, path->npath, labels);
	labels[c].s = label;
	labels[c].n = n;
	return name_build(labels, c + 1, as_label, out, err);
}

int
pt_name_with_label(const pt_name *path, const char *label, size_t n,
    pt_name *out, pt_err *err)
{
	return extend(path, label, n, true, out, err);
}

int
pt_name_append_path(const pt_name *path, const char *label, size_t n,
    pt_name *out, pt_err *err)
{
	return extend(path, label, n, false, out, err);
}

bool
pt_name_is_prefix(const pt_name *prefix, const pt_name *n)
{
	/* Paths are compared as paths: "a:b:" does not cover the unikernel
	 * "a:b", which is the label b of the path "a:" and belongs to "a:"
	 * (issue 9 item 12; a tenant at a:b: must not see a:'s unikernel). */
	if (prefix->npath > n->npath)
		return false;
	for (size_t i = 0; i < prefix->npath; i++) {
		if (prefix->lablen[i] != n->lablen[i] ||
		    memcmp(prefix->text + prefix->off[i], n->text + n->off[i],
		    prefix->lablen[i]) != 0)
			return false;
	}
	return true;
}

/*
 * The prefix must cover part of n's path: a prefix that also swallows n's
 * label ("a:b:" against the unikernel "a:b") has no relative form that
 * keeps the label, so it is refused like a non-prefix.
 */
int
pt_name_drop_prefix(const pt_name *prefix, const pt_name *n, pt_name *out)
{
	label_ref labels[PT_NAME_MAX_LABELS];
	size_t c;

	if (prefix->npath > n->npath || !pt_name_is_prefix(prefix, n)) {
		/* A caller that forgets the result still gets a valid name. */
		*out = *n;
		return -1;
	}
	c = collect_labels(n, prefix->npath, pt_name_nlabels(n), labels);
	return name_build(labels, c, n->has_label, out, NULL);
}

int
pt_name_to_file(const char *dir, const pt_name *n, const char *suffix,
    char *out, size_t cap, pt_err *err)
{
	size_t slen = suffix == NULL ? 0 : strlen(suffix);

	if (dir == NULL || dir[0] == '\0')
		return pt_fail(err, "%s: no directory for its file", n->text);
	if (suffix != NULL && strchr(suffix, '/') != NULL)
		return pt_fail(err, "%s: file suffix contains '/'", n->text);
	/* A canonical text always contains ':', so it is never "." or ".."
	 * and holds no '/'; only the component length remains to check. */
	if (n->len == 0 || memchr(n->text, '/', n->len) != NULL ||
	    memchr(n->text, ':', n->len) == NULL)
		return pt_fail(err, "%s: not a canonical name", n->text);
	if (n->len + slen > 255)
		return pt_fail(err, "%s: file name too long", n->text);
	int w = snprintf(out, cap, "%s/%s%s", dir, n->text,
	    suffix == NULL ? "" : suffix);
	if (w < 0 || (size_t)w >= cap)
		return pt_fail(err, "%s: file path too long", n->text);
	return 0;
}
