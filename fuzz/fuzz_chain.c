/*
 * libFuzzer target: pt_chain_process, certificate chain processing
 * (§9.3): the albatross extension of every certificate, names from CNs,
 * delegated policies. The input is a chain in a small framing:
 *
 *   count (1 byte, taken mod 12 so that too-long chains occur)
 *   per certificate: flags (bit 0: has CN, bit 1: has extension),
 *     CN length (1 byte), CN, extension length (2 bytes BE), extension
 *
 * Oracle: a refusal has a reason; an accepted chain gives a canonical
 * name whose path lies under every delegated path, those paths nested
 * deepest first, each policy within the one above, and a leaf command
 * the leaf may carry.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "chain.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t
parse(const uint8_t *p, size_t n, pt_chain_cert *certs, size_t max)
{
	if (n == 0)
		return 0;
	size_t count = p[0] % 12, off = 1, i;
	if (count > max)
		count = max;
	for (i = 0; i < count; i++) {
		pt_chain_cert *c = &certs[i];
		memset(c, 0, sizeof(*c));
		if (off + 2 > n)
			break;
		uint8_t flags = p[off];
		size_t cnlen = p[off + 1];
		off += 2;
		if (off + cnlen + 2 > n)
			break;
		c->has_cn = flags & 1;
		c->cn.data = p + off;
		c->cn.len = cnlen;
		off += cnlen;
		size_t extlen = ((size_t)p[off] << 8) | p[off + 1];
		off += 2;
		if (off + extlen > n)
			extlen = n - off;
		c->has_ext = (flags & 2) != 0;
		c->ext.data = p + off;
		c->ext.len = extlen;
		off += extlen;
	}
	return i;
}

static void
check_result(const pt_chain_result *r, size_t n, const uint8_t *data,
    size_t size)
{
	pt_name again;
	pt_err err;
	if (pt_name_parse(r->name.text, r->name.len, &again, &err) < 0 ||
	    !pt_name_equal(&again, &r->name))
		fuzz_die("name", "not canonical", data, size);
	if (r->npolicies >= n)
		fuzz_die("policies", "more than CAs", data, size);
	if (!pt_chain_leaf_allowed(r->command.kind))
		fuzz_die("command", "not allowed in a leaf", data, size);
	for (size_t i = 0; i < r->npolicies; i++) {
		const pt_chain_policy *cp = &r->policies[i];
		if (cp->path.has_label || !pt_name_is_prefix(&cp->path,
		    &r->name))
			fuzz_die("policy path", "not above the name", data,
			    size);
		if (i + 1 < r->npolicies) {
			const pt_chain_policy *up = &r->policies[i + 1];
			if (up->path.npath >= cp->path.npath ||
			    !pt_name_is_prefix(&up->path, &cp->path))
				fuzz_die("policy order", "not deepest first",
				    data, size);
			if (pt_policy_is_smaller(&cp->policy, &up->policy,
			    &err) < 0)
				fuzz_die("policy", "exceeds the one above",
				    data, size);
		}
	}
	pt_buf line = {0};
	pt_command_print(&r->command, &line);
	fuzz_check_line(&line, data, size);
	pt_buf_free(&line);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pt_chain_cert certs[12];
	size_t n = parse(data, size, certs, 12);
	pt_arena a = {.limit = FUZZ_ARENA_LIMIT};
	pt_chain_result r;
	pt_err err;
	memset(&err, 0, sizeof(err));
	if (pt_chain_process(certs, n, &a, &r, &err) != 0) {
		if (err.msg[0] == '\0')
			fuzz_die("chain", "refused without a reason", data,
			    size);
	} else {
		check_result(&r, n, data, size);
	}
	pt_arena_free(&a);
	return 0;
}
