/*
 * libFuzzer target: pt_state_decode, the state file read at start-up
 * (§10), including the legacy choices [0]..[5]. Same oracle as fuzz_wire
 * (fuzz_common.h); the structural comparison is skipped when a trie holds
 * a name twice (albatross aborts on such files; the encoder's pre-order
 * then leaves the order of the twins open).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
names_unique(const pt_state *s)
{
	for (size_t i = 0; i < s->nunikernels; i++)
		for (size_t j = 0; j < i; j++)
			if (pt_name_equal(&s->unikernels[i].name,
			    &s->unikernels[j].name))
				return false;
	for (size_t i = 0; i < s->npolicies; i++)
		for (size_t j = 0; j < i; j++)
			if (pt_name_equal(&s->policies[i].name,
			    &s->policies[j].name))
				return false;
	return true;
}

static void
print_state(const pt_state *s, pt_buf *line)
{
	for (size_t i = 0; i < s->nunikernels; i++)
		pt_ukconfig_print(&s->unikernels[i].config, line);
	for (size_t i = 0; i < s->npolicies; i++)
		pt_policy_print(&s->policies[i].policy, line);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pt_arena a = {.limit = FUZZ_ARENA_LIMIT};
	pt_arena a2 = {.limit = FUZZ_ARENA_LIMIT};
	pt_state s, s2;
	pt_err err;
	memset(&err, 0, sizeof(err));
	if (pt_state_decode(data, size, &a, &s, &err) != 0) {
		if (err.msg[0] == '\0')
			fuzz_die("decode", "rejected without a reason", data,
			    size);
		pt_arena_free(&a);
		return 0;
	}
	pt_buf e1 = {0}, e2 = {0}, line = {0};
	if (pt_state_encode(&s, &e1, &err) != 0)
		fuzz_die("encode of a decoded state", err.msg, data, size);
	if (pt_state_decode(e1.data, e1.len, &a2, &s2, &err) != 0)
		fuzz_die("decode of the re-encoding", err.msg, data, size);
	if (pt_state_encode(&s2, &e2, &err) != 0)
		fuzz_die("second encode", err.msg, data, size);
	fuzz_check_same_bytes(&e1, &e2, data, size);
	s.choice = 6; /* the encoder always writes [6] */
	if (names_unique(&s) && !tl_eq_state(&s, &s2))
		fuzz_die("decode(encode(decode(x)))", "differs (see above)",
		    data, size);
	print_state(&s, &line);
	print_state(&s2, &line);
	fuzz_check_line(&line, data, size);
	pt_buf_free(&line);
	pt_buf_free(&e2);
	pt_buf_free(&e1);
	pt_arena_free(&a2);
	pt_arena_free(&a);
	return 0;
}
