/*
 * Shared by the codec fuzz targets: the oracle checks run on every input
 * the decoder accepts, and a hard stop that libFuzzer reports as a crash.
 *
 * What a decoded value must satisfy:
 *   - it encodes, the encoding decodes, and re-encoding gives the same
 *     bytes (the canonical form is a fixed point);
 *   - the second decoding equals the first (tests/unit/wire_testlib.h),
 *     once legacy markers are brought to the current form: legacy
 *     configurations and restart arguments are encoded in the current
 *     form, so only their version fields may differ;
 *   - it prints as one line without control characters.
 */
#ifndef PETREL_FUZZ_COMMON_H
#define PETREL_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>

#include "wire.h"
#include "wire_testlib.h"

/* Decoded values may hold up to this much (a frame is at most a few MB
 * in the fuzzer; this only stops a runaway allocation). */
#define FUZZ_ARENA_LIMIT (64u << 20)

static inline void
fuzz_die(const char *what, const char *detail, const uint8_t *p, size_t n)
{
	fprintf(stderr, "fuzz oracle: %s: %s\n", what, detail);
	tl_dump("input", p, n > 512 ? 512 : n);
	abort();
}

/* The version markers a legacy input leaves, set to what the current
 * encoding decodes to. */
static inline void
fuzz_current_form(pt_command *c)
{
	if (c->kind == PT_CMD_UK_CREATE || c->kind == PT_CMD_UK_FORCE_CREATE)
		c->config_version = PT_WIRE_VERSION;
	if (c->kind == PT_CMD_UK_RESTART && c->u.restart.has_args)
		c->u.restart.args_version = 3;
}

static inline void
fuzz_check_line(const pt_buf *line, const uint8_t *p, size_t n)
{
	if (line->oom)
		fuzz_die("print", "out of memory", p, n);
	for (size_t i = 0; i < line->len; i++)
		if (line->data[i] < 0x20 || line->data[i] == 0x7F)
			fuzz_die("print", "control character in the line", p, n);
}

static inline void
fuzz_check_same_bytes(const pt_buf *a, const pt_buf *b, const uint8_t *p,
    size_t n)
{
	if (a->len != b->len || memcmp(a->data, b->data, a->len) != 0) {
		tl_diff(a->data, a->len, b->data, b->len);
		fuzz_die("encoding", "not a fixed point", p, n);
	}
}

#endif
