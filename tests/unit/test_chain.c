/* Unit tests for chain.c: certificate chain processing (albatross-wire.md
 * §9.3) with the spec's examples and every refusal, plus petrel's check
 * that a delegated policy fits within the one above it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "chain.h"

/* §13.3 a) and b) */
#define EXT_CONSOLE_20 "30 0C 02 01 05 A0 07 A2 05 A1 03 02 01 14"
#define EXT_ARC_POLICY "30 17 02 01 05 A4 12 A1 10 30 0E 30 03 02 01 00 " \
	"02 01 01 02 02 02 00 30 00"

typedef struct {
	uint8_t bytes[16][256];
	size_t len[16];
	pt_chain_cert certs[16];
	size_t n;
} chain_builder;

static void
add_raw(chain_builder *b, const char *cn, const uint8_t *ext, size_t extlen)
{
	pt_chain_cert *c = &b->certs[b->n];
	memset(c, 0, sizeof(*c));
	if (cn != NULL) {
		c->has_cn = true;
		c->cn.data = (const uint8_t *)cn;
		c->cn.len = strlen(cn);
	}
	if (ext != NULL) {
		assert_true(extlen <= sizeof(b->bytes[0]));
		memcpy(b->bytes[b->n], ext, extlen);
		c->has_ext = true;
		c->ext.data = b->bytes[b->n];
		c->ext.len = extlen;
	}
	b->n++;
}

static void
add_hex(chain_builder *b, const char *cn, const char *hex)
{
	uint8_t buf[256];
	long n = hex ? pt_hex_decode(hex, buf, sizeof(buf)) : 0;
	assert_true(n >= 0);
	add_raw(b, cn, hex ? buf : NULL, (size_t)n);
}

static void
add_cmd(chain_builder *b, const char *cn, const pt_command *cmd)
{
	pt_certext ce = {.version = 5, .command = *cmd};
	pt_buf out = {0};
	pt_err err;
	assert_int_equal(pt_certext_encode(&ce, &out, &err), 0);
	add_raw(b, cn, out.data, out.len);
	pt_buf_free(&out);
}

static void
add_kind(chain_builder *b, const char *cn, pt_cmd_kind k)
{
	pt_command c;
	memset(&c, 0, sizeof(c));
	c.kind = k;
	add_cmd(b, cn, &c);
}

static int64_t cpus01[] = {0, 1};
static int64_t cpus0[] = {0};
static int64_t cpus2[] = {2};

static void
add_policy(chain_builder *b, const char *cn, int64_t uks, int64_t mem,
    int64_t *cpus, size_t ncpus)
{
	pt_command c;
	memset(&c, 0, sizeof(c));
	c.kind = PT_CMD_POLICY_ADD;
	c.u.policy.unikernels = uks;
	c.u.policy.memory = mem;
	c.u.policy.cpuids = cpus;
	c.u.policy.ncpuids = ncpus;
	add_cmd(b, cn, &c);
}

/* Builds the chain leaf first: callers add top-down for readability,
 * so reverse here. */
static int
run(chain_builder *b, pt_arena *a, pt_chain_result *r, pt_err *err)
{
	pt_chain_cert rev[16];
	for (size_t i = 0; i < b->n; i++)
		rev[i] = b->certs[b->n - 1 - i];
	memset(err, 0, sizeof(*err));
	return pt_chain_process(rev, b->n, a, r, err);
}

static void
expect_error(chain_builder *b, const char *want)
{
	pt_arena a = {0};
	pt_chain_result r;
	pt_err err;
	assert_int_equal(run(b, &a, &r, &err), -1);
	if (strstr(err.msg, want) == NULL)
		fail_msg("error \"%s\" does not contain \"%s\"", err.msg, want);
	pt_arena_free(&a);
}

/* §9.3's first example: [leaf foo.bar console subscribe 20; CA arc with
 * a policy] -> arc:foo.bar, one policy. */
static void
test_spec_example_arc(void **state)
{
	(void)state;
	chain_builder b = {0};
	add_hex(&b, "arc", EXT_ARC_POLICY);
	add_hex(&b, "foo.bar", EXT_CONSOLE_20);
	pt_arena a = {0};
	pt_chain_result r;
	pt_err err;
	assert_int_equal(run(&b, &a, &r, &err), 0);
	assert_string_equal(r.name.text, "arc:foo.bar");
	assert_int_equal(r.version, 5);
	assert_int_equal(r.command.kind, PT_CMD_CONSOLE_SUBSCRIBE);
	assert_true(r.command.u.subscribe.by_count);
	assert_int_equal(r.command.u.subscribe.count, 20);
	assert_int_equal(r.npolicies, 1);
	assert_string_equal(r.policies[0].path.text, "arc:");
	assert_int_equal(r.policies[0].policy.unikernels, 1);
	assert_int_equal(r.policies[0].policy.memory, 512);
	assert_false(r.policies[0].policy.has_block);
	assert_int_equal(r.policies[0].policy.ncpuids, 1);
	pt_arena_free(&a);
}

/* §9.3's second example: a root CA without the extension is skipped. */
static void
test_spec_example_root(void **state)
{
	(void)state;
	chain_builder b = {0};
	add_hex(&b, "test", NULL);
	add_hex(&b, "foo", EXT_CONSOLE_20);
	pt_arena a = {0};
	pt_chain_result r;
	pt_err err;
	assert_int_equal(run(&b, &a, &r, &err), 0);
	assert_string_equal(r.name.text, ":foo");
	assert_int_equal(r.npolicies, 0);
	pt_arena_free(&a);
}

static void
test_leaf_only(void **state)
{
	(void)state;
	chain_builder b = {0};
	add_kind(&b, "web", PT_CMD_UK_INFO);
	pt_arena a = {0};
	pt_chain_result r;
	pt_err err;
	assert_int_equal(run(&b, &a, &r, &err), 0);
	assert_string_equal(r.name.text, ":web");
	assert_int_equal(r.command.kind, PT_CMD_UK_INFO);
	pt_arena_free(&a);
}

/* Policies come out deepest first, with their full paths; CAs without
 * the extension contribute nothing; CNs are lower-cased. */
static void
test_deep_chain_order(void **state)
{
	(void)state;
	chain_builder b = {0};
	add_hex(&b, "root", NULL);
	add_policy(&b, "Team", 8, 4096, cpus01, 2);
	add_hex(&b, "plain-intermediate", NULL);
	add_policy(&b, "alice", 2, 1024, cpus0, 1);
	add_policy(&b, "dev", 1, 512, cpus0, 1);
	add_kind(&b, "WEB", PT_CMD_UK_DESTROY);
	pt_arena a = {0};
	pt_chain_result r;
	pt_err err;
	assert_int_equal(run(&b, &a, &r, &err), 0);
	assert_string_equal(r.name.text, "team:alice:dev:web");
	assert_int_equal(r.npolicies, 3);
	assert_string_equal(r.policies[0].path.text, "team:alice:dev:");
	assert_string_equal(r.policies[1].path.text, "team:alice:");
	assert_string_equal(r.policies[2].path.text, "team:");
	assert_int_equal(r.policies[2].policy.unikernels, 8);
	pt_arena_free(&a);
}

/* Leaf CN "." or ":" (or none, for most commands) means the path. */
static void
test_leaf_path_names(void **state)
{
	(void)state;
	const char *cns[] = {".", ":", NULL};
	for (size_t i = 0; i < 3; i++) {
		chain_builder b = {0};
		add_policy(&b, "team", 2, 1024, cpus0, 1);
		add_kind(&b, cns[i], PT_CMD_UK_INFO);
		pt_arena a = {0};
		pt_chain_result r;
		pt_err err;
		assert_int_equal(run(&b, &a, &r, &err), 0);
		assert_string_equal(r.name.text, "team:");
		assert_false(r.name.has_label);
		pt_arena_free(&a);
	}
	/* block info without a name is fine, the others are not */
	chain_builder b = {0};
	add_kind(&b, NULL, PT_CMD_BLOCK_INFO);
	pt_arena a = {0};
	pt_chain_result r;
	pt_err err;
	assert_int_equal(run(&b, &a, &r, &err), 0);
	assert_string_equal(r.name.text, ":");
	pt_arena_free(&a);
}

static void
test_too_long(void **state)
{
	(void)state;
	chain_builder b = {0};
	for (int i = 0; i < 9; i++)
		add_hex(&b, "ca", NULL);
	add_kind(&b, "x", PT_CMD_UK_INFO);
	assert_int_equal(b.n, 10);
	expect_error(&b, "certificate chain too long");
	/* 9 is the most accepted */
	chain_builder b9 = {0};
	for (int i = 0; i < 8; i++)
		add_hex(&b9, "ca", NULL);
	add_kind(&b9, "x", PT_CMD_UK_INFO);
	pt_arena a = {0};
	pt_chain_result r;
	pt_err err;
	assert_int_equal(run(&b9, &a, &r, &err), 0);
	pt_arena_free(&a);
}

static void
test_empty(void **state)
{
	(void)state;
	chain_builder b = {0};
	expect_error(&b, "empty chain");
}

static void
test_ca_errors(void **state)
{
	(void)state;
	{	/* a CA with another command */
		chain_builder b = {0};
		add_kind(&b, "team", PT_CMD_UK_INFO);
		add_kind(&b, "x", PT_CMD_UK_INFO);
		expect_error(&b, "unexpected wire");
	}
	{	/* a CA with a policy but no CN */
		chain_builder b = {0};
		add_policy(&b, NULL, 2, 1024, cpus0, 1);
		add_kind(&b, "x", PT_CMD_UK_INFO);
		expect_error(&b, "policy add may not have an empty name");
	}
	{	/* a CA whose CN is not a label */
		chain_builder b = {0};
		add_policy(&b, "a:b", 2, 1024, cpus0, 1);
		add_kind(&b, "x", PT_CMD_UK_INFO);
		expect_error(&b, "invalid label");
	}
	{	/* an undecodable extension */
		chain_builder b = {0};
		add_hex(&b, "team", "30 03 02 01 05");
		add_kind(&b, "x", PT_CMD_UK_INFO);
		expect_error(&b, "couldn't parse albatross extension");
	}
	{	/* trailing bytes are refused (strict) */
		chain_builder b = {0};
		add_hex(&b, "x", EXT_CONSOLE_20 " 00");
		expect_error(&b, "couldn't parse albatross extension");
	}
}

/* petrel: a delegation cannot exceed the policy above it. */
static void
test_policy_nesting(void **state)
{
	(void)state;
	{
		chain_builder b = {0};
		add_policy(&b, "team", 2, 1024, cpus0, 1);
		add_policy(&b, "alice", 3, 512, cpus0, 1);
		add_kind(&b, "x", PT_CMD_UK_INFO);
		expect_error(&b, "policy of team:alice: exceeds the policy of "
		    "team:: allows 3 unikernels");
	}
	{
		chain_builder b = {0};
		add_policy(&b, "team", 2, 1024, cpus0, 1);
		add_policy(&b, "alice", 1, 512, cpus2, 1);
		add_kind(&b, "x", PT_CMD_UK_INFO);
		expect_error(&b, "allows CPU 2");
	}
	{	/* skipping a level still compares with the nearest above */
		chain_builder b = {0};
		add_policy(&b, "team", 2, 1024, cpus0, 1);
		add_hex(&b, "plain", NULL);
		add_policy(&b, "alice", 1, 2048, cpus0, 1);
		add_kind(&b, "x", PT_CMD_UK_INFO);
		expect_error(&b, "memory 2048 MB, more than 1024 MB");
	}
	{	/* an unusable delegation */
		chain_builder b = {0};
		add_policy(&b, "team", 0, 1024, cpus0, 1);
		add_kind(&b, "x", PT_CMD_UK_INFO);
		expect_error(&b, "policy of team:");
	}
}

static void
test_leaf_errors(void **state)
{
	(void)state;
	{
		chain_builder b = {0};
		add_hex(&b, "x", NULL);
		expect_error(&b, "leaf certificate does not contain an "
		    "albatross extension");
	}
	{
		chain_builder b = {0};
		add_kind(&b, "x:y", PT_CMD_UK_INFO);
		expect_error(&b, "invalid label");
	}
	{
		chain_builder b = {0};
		add_raw(&b, "bad\001cn", NULL, 0);
		b.certs[0].has_ext = false;
		expect_error(&b, "invalid label");
	}
	{
		chain_builder b = {0};
		add_policy(&b, NULL, 2, 1024, cpus0, 1);
		expect_error(&b, "policy add may not have an empty name");
	}
	const pt_cmd_kind named[] = {PT_CMD_POLICY_REMOVE, PT_CMD_BLOCK_ADD,
		PT_CMD_BLOCK_REMOVE, PT_CMD_BLOCK_SET, PT_CMD_BLOCK_DUMP};
	for (size_t i = 0; i < sizeof(named) / sizeof(*named); i++) {
		chain_builder b = {0};
		add_kind(&b, NULL, named[i]);
		expect_error(&b, "may not have an empty name");
	}
	const pt_cmd_kind refused[] = {PT_CMD_CONSOLE_ADD, PT_CMD_STATS_ADD,
		PT_CMD_STATS_REMOVE, PT_CMD_STATS_INITIAL, PT_CMD_POLICY_ADD,
		PT_CMD_POLICY_REMOVE, PT_CMD_LOG_SUBSCRIBE};
	for (size_t i = 0; i < sizeof(refused) / sizeof(*refused); i++) {
		chain_builder b = {0};
		if (refused[i] == PT_CMD_POLICY_ADD)
			add_policy(&b, "x", 2, 1024, cpus0, 1);
		else if (refused[i] == PT_CMD_STATS_ADD) {
			pt_command c;
			memset(&c, 0, sizeof(c));
			c.kind = PT_CMD_STATS_ADD;
			c.u.stats_add.vmmdev.s = "";
			add_cmd(&b, "x", &c);
		} else
			add_kind(&b, "x", refused[i]);
		expect_error(&b, "unexpected command");
	}
}

/* The allowed set of §9.3 step 5, kind by kind. */
static void
test_leaf_allowed(void **state)
{
	(void)state;
	assert_true(pt_chain_leaf_allowed(PT_CMD_CONSOLE_SUBSCRIBE));
	assert_true(pt_chain_leaf_allowed(PT_CMD_CONSOLE_LIST_INACTIVE));
	assert_true(pt_chain_leaf_allowed(PT_CMD_STATS_SUBSCRIBE));
	assert_true(pt_chain_leaf_allowed(PT_CMD_UK_CREATE));
	assert_true(pt_chain_leaf_allowed(PT_CMD_UK_FORCE_CREATE));
	assert_true(pt_chain_leaf_allowed(PT_CMD_UK_GET));
	assert_true(pt_chain_leaf_allowed(PT_CMD_UK_RESTART));
	assert_true(pt_chain_leaf_allowed(PT_CMD_UK_INFO_OLD4));
	assert_true(pt_chain_leaf_allowed(PT_CMD_POLICY_INFO));
	assert_true(pt_chain_leaf_allowed(PT_CMD_BLOCK_SET_OLD));
	assert_false(pt_chain_leaf_allowed(PT_CMD_CONSOLE_ADD));
	assert_false(pt_chain_leaf_allowed(PT_CMD_POLICY_ADD));
	assert_false(pt_chain_leaf_allowed(PT_CMD_POLICY_REMOVE));
	assert_false(pt_chain_leaf_allowed(PT_CMD_STATS_INITIAL));
	assert_false(pt_chain_leaf_allowed(PT_CMD_LOG_SUBSCRIBE));
	/* petrel-tls's own way into petreld's log: never a tenant's */
	assert_false(pt_chain_leaf_allowed(PT_CMD_LOG_RECORD));
}

/* The name limit of name.h applies to names built from CNs. */
static void
test_name_too_long(void **state)
{
	(void)state;
	chain_builder b = {0};
	const char *l63 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	for (int i = 0; i < 4; i++)
		add_policy(&b, l63, 2, 1024, cpus0, 1);
	add_kind(&b, "x", PT_CMD_UK_INFO);
	expect_error(&b, "too long");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_example_arc),
		cmocka_unit_test(test_spec_example_root),
		cmocka_unit_test(test_leaf_only),
		cmocka_unit_test(test_deep_chain_order),
		cmocka_unit_test(test_leaf_path_names),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_ca_errors),
		cmocka_unit_test(test_policy_nesting),
		cmocka_unit_test(test_leaf_errors),
		cmocka_unit_test(test_leaf_allowed),
		cmocka_unit_test(test_name_too_long),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
