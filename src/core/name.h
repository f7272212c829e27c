/*
 * Names (albatross-wire.md §4): a path of labels plus an optional label.
 *
 *   root            ":"        path a,b        "a:b:"
 *   label at root   ":foo"     a,b + foo       "a:b:foo"
 *
 * A pt_name is always valid and canonical once constructed: every function
 * that produces one validates it. Names are validated once, at the edge
 * (the wire decoder, the client's argv, certificates, the state file); the
 * rest of the code can rely on it.
 *
 * Limits petrel adds to the spec (which has none): the canonical text is at
 * most PT_NAME_TEXT_MAX bytes, so that "<text>.img" and temporary-file
 * suffixes still fit one 255-byte file-name component.
 */
#ifndef PETREL_NAME_H
#define PETREL_NAME_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define PT_LABEL_MAX 63
#define PT_NAME_TEXT_MAX 200
#define PT_NAME_MAX_LABELS (PT_NAME_TEXT_MAX / 2 + 1)

typedef struct {
	char text[PT_NAME_TEXT_MAX + 1]; /* canonical text, NUL-terminated */
	unsigned short len;              /* strlen(text) */
	unsigned char npath;             /* number of labels in the path */
	bool has_label;
	/* start offset in text of each label: path labels, then the label */
	unsigned char off[PT_NAME_MAX_LABELS];
	unsigned char lablen[PT_NAME_MAX_LABELS];
} pt_name;

/* A valid label: 1..63 chars of [A-Za-z0-9.-], not starting with '-'.
 * (Upper case is accepted here; parsing lower-cases.) */
bool pt_label_valid(const char *s, size_t n);

/* Parses the text form per §4.2 (lower-casing). Errors: "empty name",
 * "invalid label 'x'", "name too long", ... */
int pt_name_parse(const char *s, size_t n, pt_name *out, pt_err *err);
/* Convenience for NUL-terminated strings. */
int pt_name_parse_str(const char *s, pt_name *out, pt_err *err);

void pt_name_root(pt_name *out);
bool pt_name_is_root(const pt_name *n);        /* ":" */
bool pt_name_equal(const pt_name *a, const pt_name *b);

/* Label i of the path (0 <= i < npath). */
const char *pt_name_path_label(const pt_name *n, size_t i, size_t *len);
/* The label; NULL (and *len = 0) if the name is a path. */
const char *pt_name_label(const pt_name *n, size_t *len);

/* The path part of n (its label dropped): "a:b:foo" -> "a:b:". */
void pt_name_path(const pt_name *n, pt_name *out);
/* The parent path: for a name with a label, its path; for a path, the path
 * minus its last label. Returns -1 for the root. */
int pt_name_parent(const pt_name *n, pt_name *out);
/* path + label -> a name with that label ("a:" + "x" -> "a:x"). `path` must
 * be a path (no label). */
int pt_name_with_label(const pt_name *path, const char *label, size_t n,
    pt_name *out, pt_err *err);
/* path + label -> a longer path ("a:" + "b" -> "a:b:"). */
int pt_name_append_path(const pt_name *path, const char *label, size_t n,
    pt_name *out, pt_err *err);

/* All labels of n, path then label: "a:b:c" -> 3, "a:b:" -> 2, ":" -> 0. */
size_t pt_name_nlabels(const pt_name *n);
const char *pt_name_nth_label(const pt_name *n, size_t i, size_t *len);

/* Is the path of `prefix` (its label ignored) a prefix of the PATH of n?
 * ":" is a prefix of everything; "a:b:" covers "a:b:x" and "a:b:c:", not
 * the unikernel "a:b" (a label of the path "a:"). */
bool pt_name_is_prefix(const pt_name *prefix, const pt_name *n);
/* The name relative to prefix's path, as replies use it (§4.3):
 * prefix "a:", n "a:hello" -> ":hello"; n "a:b:x" -> "b:x";
 * n "a:b:" -> "b:"; n "a:" -> ":". -1 if prefix's path is not a prefix
 * of n's PATH (so also for prefix "a:b:" and n "a:b", which has no relative
 * form); *out is then n itself (the full name). */
int pt_name_drop_prefix(const pt_name *prefix, const pt_name *n,
    pt_name *out);

/* "<dir>/<text><suffix>" into out. It cannot escape dir: the canonical text
 * contains no '/', is never "." or "..", and the length is checked.
 * suffix may be NULL; it must not contain '/'. */
int pt_name_to_file(const char *dir, const pt_name *n, const char *suffix,
    char *out, size_t cap, pt_err *err);

#endif
