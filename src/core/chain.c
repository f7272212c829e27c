/*
 * Chain processing (albatross-wire.md §9.3). The order of the checks is
 * albatross's (tls/vmm_tls.ml), so that the same bad chain is refused for
 * the same reason: the length, then the CAs from the top down, then the
 * leaf's name, then the leaf's command.
 */
#include "chain.h"

#include <string.h>

bool
pt_chain_leaf_allowed(pt_cmd_kind k)
{
	switch (k) {
	case PT_CMD_CONSOLE_SUBSCRIBE:
	case PT_CMD_CONSOLE_LIST_INACTIVE:
	case PT_CMD_STATS_SUBSCRIBE:
	case PT_CMD_UK_DESTROY:
	case PT_CMD_UK_CREATE:
	case PT_CMD_UK_FORCE_CREATE:
	case PT_CMD_UK_GET:
	case PT_CMD_UK_RESTART:
	case PT_CMD_UK_INFO:
	case PT_CMD_UK_INFO_OLD4:
	case PT_CMD_UK_INFO_OLD5:
	case PT_CMD_POLICY_INFO:
	case PT_CMD_BLOCK_INFO:
	case PT_CMD_BLOCK_ADD:
	case PT_CMD_BLOCK_REMOVE:
	case PT_CMD_BLOCK_ADD_OLD:
	case PT_CMD_BLOCK_SET_OLD:
	case PT_CMD_BLOCK_DUMP_OLD:
	case PT_CMD_BLOCK_DUMP:
	case PT_CMD_BLOCK_SET:
		return true;
	default:
		/* console add, stats add/remove/initial, policy add/remove,
		 * and petrel's log commands: daemon-to-daemon or operator
		 * only. */
		return false;
	}
}

/* A CN is a label only if it is one byte for byte; the text shown in a
 * refusal is quoted, as the CN is the peer's choice. */
static int
cn_label_error(const pt_blob *cn, pt_err *err)
{
	pt_buf b = {0};
	pt_print_quoted(&b, (const char *)cn->data, cn->len > 80 ? 80 :
	    cn->len);
	int r = pt_fail(err, "invalid label (only [a-zA-Z0-9-.] allowed, 1 "
	    "to 63 chars) in a certificate's common name: %.*s",
	    b.oom ? 0 : (int)b.len, b.oom ? "" : (const char *)b.data);
	pt_buf_free(&b);
	return r;
}

static int
decode_ext(const pt_chain_cert *c, pt_arena *a, pt_certext *out,
    pt_err *err)
{
	pt_err e = {{0}};
	if (pt_certext_decode(c->ext.data, c->ext.len, a, out, &e) < 0)
		return pt_fail(err, "couldn't parse albatross extension: %s",
		    e.msg);
	return 0;
}

/* A delegated policy must be usable and fit within the one above it. */
static int
check_policy(const pt_chain_result *out, const pt_chain_policy *np,
    pt_err *err)
{
	pt_err e = {{0}};
	if (pt_policy_usable(&np->policy, &e) < 0)
		return pt_fail(err, "policy of %s: %s", np->path.text, e.msg);
	if (out->npolicies == 0)
		return 0;
	const pt_chain_policy *up = &out->policies[out->npolicies - 1];
	if (pt_policy_is_smaller(&np->policy, &up->policy, &e) < 0)
		return pt_fail(err, "policy of %s exceeds the policy of %s: %s",
		    np->path.text, up->path.text, e.msg);
	return 0;
}

/* §9.3 step 3 for one CA certificate. */
static int
walk_ca(const pt_chain_cert *c, pt_arena *a, pt_name *path,
    pt_chain_result *out, pt_err *err)
{
	if (!c->has_ext)
		return 0;
	pt_certext ext;
	if (decode_ext(c, a, &ext, err) < 0)
		return -1;
	if (ext.command.kind != PT_CMD_POLICY_ADD)
		return pt_fail(err, "unexpected wire: %s in a CA certificate",
		    pt_cmd_kind_name(ext.command.kind));
	if (!c->has_cn)
		return pt_fail(err, "policy add may not have an empty name");
	if (!pt_label_valid((const char *)c->cn.data, c->cn.len))
		return cn_label_error(&c->cn, err);
	pt_chain_policy np;
	if (pt_name_append_path(path, (const char *)c->cn.data, c->cn.len,
	    &np.path, err) < 0)
		return -1;
	np.policy = ext.command.u.policy;
	pt_policy_normalise(&np.policy);
	if (check_policy(out, &np, err) < 0)
		return -1;
	*path = np.path;
	out->policies[out->npolicies++] = np;
	return 0;
}

/* Commands that need a name of their own: a leaf without a CN stands
 * for its path, which they cannot act on (§9.3 step 4). */
static bool
needs_name(pt_cmd_kind k)
{
	switch (k) {
	case PT_CMD_POLICY_ADD:
	case PT_CMD_POLICY_REMOVE:
	case PT_CMD_BLOCK_ADD:
	case PT_CMD_BLOCK_REMOVE:
	case PT_CMD_BLOCK_ADD_OLD:
	case PT_CMD_BLOCK_SET_OLD:
	case PT_CMD_BLOCK_DUMP_OLD:
	case PT_CMD_BLOCK_DUMP:
	case PT_CMD_BLOCK_SET:
		return true;
	default:
		return false;
	}
}

static bool
cn_is(const pt_blob *cn, const char *s)
{
	return cn->len == strlen(s) && memcmp(cn->data, s, cn->len) == 0;
}

/* §9.3 step 4: the leaf's name. */
static int
leaf_name(const pt_chain_cert *leaf, pt_arena *a, const pt_name *path,
    pt_name *name, pt_err *err)
{
	if (leaf->has_cn && !cn_is(&leaf->cn, ".") && !cn_is(&leaf->cn, ":")) {
		if (!pt_label_valid((const char *)leaf->cn.data, leaf->cn.len))
			return cn_label_error(&leaf->cn, err);
		return pt_name_with_label(path, (const char *)leaf->cn.data,
		    leaf->cn.len, name, err);
	}
	if (!leaf->has_cn && leaf->has_ext) {
		pt_certext ext;
		if (decode_ext(leaf, a, &ext, err) < 0)
			return -1;
		if (needs_name(ext.command.kind))
			return pt_fail(err, "%s may not have an empty name",
			    pt_cmd_kind_name(ext.command.kind));
	}
	*name = *path;
	return 0;
}

int
pt_chain_process(const pt_chain_cert *certs, size_t n, pt_arena *a,
    pt_chain_result *out, pt_err *err)
{
	memset(out, 0, sizeof(*out));
	if (n >= PT_CHAIN_TOO_LONG)
		return pt_fail(err, "certificate chain too long");
	if (n == 0)
		return pt_fail(err, "empty chain");
	pt_name path;
	pt_name_root(&path);
	/* The CAs from the top (next to the trust anchor) down. */
	for (size_t i = n - 1; i >= 1; i--)
		if (walk_ca(&certs[i], a, &path, out, err) < 0)
			return -1;
	const pt_chain_cert *leaf = &certs[0];
	if (leaf_name(leaf, a, &path, &out->name, err) < 0)
		return -1;
	if (!leaf->has_ext)
		return pt_fail(err, "leaf certificate does not contain an "
		    "albatross extension");
	pt_certext ext;
	if (decode_ext(leaf, a, &ext, err) < 0)
		return -1;
	if (!pt_chain_leaf_allowed(ext.command.kind))
		return pt_fail(err, "unexpected command: %s in the leaf "
		    "certificate", pt_cmd_kind_name(ext.command.kind));
	out->version = ext.version;
	out->command = ext.command;
	/* Recorded top-down; sent deepest first (§9.4). */
	for (size_t i = 0; i < out->npolicies / 2; i++) {
		pt_chain_policy t = out->policies[i];
		out->policies[i] = out->policies[out->npolicies - 1 - i];
		out->policies[out->npolicies - 1 - i] = t;
	}
	return 0;
}
