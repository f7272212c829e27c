/*
 * Unit tests for restrie.c: every check and error of unikernel create,
 * block add/remove and policy add/remove, iteration order, pruning, and the
 * incremental usage compared against a brute-force recount.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "restrie.h"

#define NO_BLOCK (-1)

/* ---- helpers ---- */

static pt_name
N(const char *s)
{
	pt_name n;
	pt_err err = {{0}};
	if (pt_name_parse_str(s, &n, &err) != 0)
		fail_msg("bad test name '%s': %s", s, err.msg);
	return n;
}

/* A policy on the stack; cpus and bridges are copied into it. */
typedef struct {
	pt_policy p;
	int64_t cpus[16];
	pt_text br[8];
} tpolicy;

static void
mkpolicy(tpolicy *t, int64_t uks, int64_t mem, int64_t block,
    const char *cpus, const char *bridges)
{
	memset(t, 0, sizeof(*t));
	t->p.unikernels = uks;
	t->p.memory = mem;
	t->p.has_block = block != NO_BLOCK;
	t->p.block = block == NO_BLOCK ? 0 : block;
	t->p.cpuids = t->cpus;
	t->p.bridges = t->br;
	/* cpus: "0,1,2"; bridges: "br0,br1" (static strings only) */
	for (const char *c = cpus; c != NULL && *c != '\0';) {
		t->cpus[t->p.ncpuids++] = strtoll(c, (char **)&c, 10);
		if (*c == ',')
			c++;
	}
	for (const char *b = bridges; b != NULL && *b != '\0';) {
		const char *e = strchr(b, ',');
		size_t len = e ? (size_t)(e - b) : strlen(b);
		t->br[t->p.nbridges++] = (pt_text){b, len};
		b += len + (e ? 1 : 0);
	}
}

/* A generous policy suitable for the root. */
static void
set_root(pt_res *r, int64_t uks, int64_t mem, int64_t block)
{
	tpolicy t;
	mkpolicy(&t, uks, mem, block, "0,1,2,3", "br0,br1,br2");
	pt_err err = {{0}};
	assert_int_equal(pt_res_set_root_policy(r, &t.p, &err), 0);
}

static void
policy_ok(pt_res *r, const char *path, int64_t uks, int64_t mem,
    int64_t block, const char *cpus, const char *bridges)
{
	tpolicy t;
	pt_err err = {{0}};
	pt_name p = N(path);
	mkpolicy(&t, uks, mem, block, cpus, bridges);
	if (pt_res_set_policy(r, &p, &t.p, &err) != 0)
		fail_msg("policy %s: %s", path, err.msg);
}

static void
policy_fails(pt_res *r, const char *path, int64_t uks, int64_t mem,
    int64_t block, const char *cpus, const char *bridges, const char *msg)
{
	tpolicy t;
	pt_err err = {{0}};
	pt_name p = N(path);
	mkpolicy(&t, uks, mem, block, cpus, bridges);
	assert_int_equal(pt_res_check_policy(r, &p, &t.p, &err), -1);
	assert_string_equal(err.msg, msg);
	assert_int_equal(pt_res_set_policy(r, &p, &t.p, &err), -1);
	assert_string_equal(err.msg, msg);
}

/* A unikernel request; bridges/blocks are comma-separated. */
typedef struct {
	pt_uk_res u;
	int64_t cpus[8];
	pt_text br[8];
	pt_text blk[8];
} tuk;

static size_t
split(const char *s, pt_text *out)
{
	size_t n = 0;
	for (const char *b = s; b != NULL && *b != '\0';) {
		const char *e = strchr(b, ',');
		size_t len = e ? (size_t)(e - b) : strlen(b);
		out[n++] = (pt_text){b, len};
		b += len + (e ? 1 : 0);
	}
	return n;
}

static pt_uk_res *
mkuk(tuk *t, int64_t mem, int64_t cpu, const char *bridges,
    const char *blocks)
{
	memset(t, 0, sizeof(*t));
	t->u.memory = mem;
	t->cpus[0] = cpu;
	t->u.ncpuids = cpu < 0 && cpu != -100 ? 0 : 1;
	if (cpu == -100)
		t->cpus[0] = -1;
	t->u.cpuids = t->cpus;
	t->u.nbridges = split(bridges, t->br);
	t->u.bridges = t->br;
	t->u.nblocks = split(blocks, t->blk);
	t->u.blocks = t->blk;
	return &t->u;
}

static void
uk_ok(pt_res *r, const char *name, int64_t mem, int64_t cpu,
    const char *bridges, const char *blocks)
{
	tuk t;
	pt_err err = {{0}};
	pt_name n = N(name);
	if (pt_res_add_unikernel(r, &n, mkuk(&t, mem, cpu, bridges, blocks),
	    (void *)name, &err) != 0)
		fail_msg("unikernel %s: %s", name, err.msg);
}

static void
uk_fails(pt_res *r, const char *name, int64_t mem, int64_t cpu,
    const char *bridges, const char *blocks, const char *msg)
{
	tuk t;
	pt_err err = {{0}};
	pt_name n = N(name);
	size_t before = pt_res_unikernel_count(r);
	pt_uk_res *u = mkuk(&t, mem, cpu, bridges, blocks);
	assert_int_equal(pt_res_check_create(r, &n, u, NULL, &err), -1);
	assert_string_equal(err.msg, msg);
	memset(&err, 0, sizeof(err));
	assert_int_equal(pt_res_add_unikernel(r, &n, u, NULL, &err), -1);
	assert_string_equal(err.msg, msg);
	assert_int_equal(pt_res_unikernel_count(r), before);
}

static void
uk_remove(pt_res *r, const char *name)
{
	pt_name n = N(name);
	assert_non_null(pt_res_remove_unikernel(r, &n));
}

static void
block_ok(pt_res *r, const char *name, int64_t size)
{
	pt_err err = {{0}};
	pt_name n = N(name);
	if (pt_res_add_block(r, &n, size, &err) != 0)
		fail_msg("block %s: %s", name, err.msg);
}

static void
block_fails(pt_res *r, const char *name, int64_t size, const char *msg)
{
	pt_err err = {{0}};
	pt_name n = N(name);
	assert_int_equal(pt_res_check_block_add(r, &n, size, &err), -1);
	assert_string_equal(err.msg, msg);
	assert_int_equal(pt_res_add_block(r, &n, size, &err), -1);
	assert_string_equal(err.msg, msg);
}

static pt_res_usage
usage(const pt_res *r, const char *path)
{
	pt_res_usage u;
	pt_name p = N(path);
	pt_res_usage_at(r, &p, &u);
	return u;
}

/* ---- unikernels ---- */

static void
test_create_without_policy(void **state)
{
	(void)state;
	pt_res *r = pt_res_new();
	assert_non_null(r);
	uk_ok(r, "web", 64, 0, "br0", NULL);
	uk_ok(r, "a:b:c:web", 1 << 20, 7, "anything", NULL);
	assert_int_equal(pt_res_unikernel_count(r), 2);
	pt_name n = N("a:b:c:web");
	assert_string_equal((const char *)pt_res_unikernel(r, &n),
	    "a:b:c:web");
	pt_name path = N("a:b:c:");
	assert_null(pt_res_unikernel(r, &path));
	uk_fails(r, "a:b:c:web", 1, 0, NULL, NULL,
	    "unikernel a:b:c:web already exists");
	uk_fails(r, "A:B:C:WEB", 1, 0, NULL, NULL,
	    "unikernel a:b:c:web already exists");
	uk_fails(r, "a:b:", 1, 0, NULL, NULL, "a:b: is not a unikernel name");
	uk_fails(r, "x", -1, 0, NULL, NULL,
	    "unikernel :x: invalid memory -1 MB");
	uk_fails(r, "x", 1, -100, NULL, NULL,
	    "unikernel :x: invalid CPU id -1");
	/* Totals stay representable without any policy. */
	uk_ok(r, "huge", INT64_MAX - (1 << 20) - 64, 0, NULL, NULL);
	uk_fails(r, "huge2", 1, 0, NULL, NULL,
	    "unikernel :huge2: memory 1 MB overflows the total");
	assert_string_equal((const char *)pt_res_remove_unikernel(r, &n),
	    "a:b:c:web");
	assert_null(pt_res_remove_unikernel(r, &n));
	assert_null(pt_res_remove_unikernel(r, &path));
	assert_null(pt_res_unikernel(r, &n));
	uk_remove(r, "web");
	uk_remove(r, "huge");
	assert_int_equal(pt_res_unikernel_count(r), 0);
	assert_int_equal(pt_res_node_count(r), 0);
	pt_res_free(r);
	pt_res_free(NULL);
}

static void
test_create_count_limit(void **state)
{
	(void)state;
	pt_res *r = pt_res_new();
	set_root(r, 100, 10000, 1000);
	policy_ok(r, "team:", 10, 4096, 500, "0,1", "br0");
	policy_ok(r, "team:alice:", 2, 1024, NO_BLOCK, "0,1", "br0");
	uk_ok(r, "team:alice:one", 32, 0, NULL, NULL);
	uk_ok(r, "team:alice:two", 32, 1, "br0", NULL);
	uk_fails(r, "team:alice:three", 32, 0, NULL, NULL,
	    "policy team:alice: allows 2 unikernels, 2 in use, 1 more "
	    "requested");
	/* Also for deeper paths: the policy above applies. */
	uk_fails(r, "team:alice:x:y:three", 32, 0, NULL, NULL,
	    "policy team:alice: allows 2 unikernels, 2 in use, 1 more "
	    "requested");
	/* A sibling path is not affected. */
	uk_ok(r, "team:bob:one", 32, 0, NULL, NULL);
	uk_remove(r, "team:alice:one");
	uk_ok(r, "team:alice:x:y:three", 32, 0, NULL, NULL);
	pt_res_free(r);
}

static void
test_create_memory_at_limit(void **state)
{
	(void)state;
	pt_res *r = pt_res_new();
	policy_ok(r, "a:", 10, 512, NO_BLOCK, "0,1", NULL);
	uk_ok(r, "a:one", 480, 0, NULL, NULL);
	uk_fails(r, "a:two", 64, 0, NULL, NULL,
	    "policy a: allows memory 512 MB, 480 MB in use, 64 MB requested");
	/* One above fails, exactly at the limit fits. */
	uk_fails(r, "a:two", 33, 0, NULL, NULL,
	    "policy a: allows memory 512 MB, 480 MB in use, 33 MB requested");
	uk_ok(r, "a:two", 32, 0, NULL, NULL);
	assert_int_equal(usage(r, "a:").memory, 512);
	/* A zero-memory unikernel still needs a free slot, but no memory. */
	uk_ok(r, "a:three", 0, 1, NULL, NULL);
	uk_fails(r, "a:four", INT64_MAX - 512, 0, NULL, NULL,
	    "policy a: allows memory 512 MB, 512 MB in use, "
	    "9223372036854775295 MB requested");
	pt_res_free(r);
}

static void
test_create_cpu_and_bridge(void **state)
{
	(void)state;
	pt_res *r = pt_res_new();
	policy_ok(r, "a:", 10, 512, NO_BLOCK, "1,0", "br0,service");
	uk_fails(r, "a:web", 32, 3, NULL, NULL,
	    "CPU 3 not allowed by policy a: (allowed: 0,1)");
	uk_fails(r, "a:web", 32, 0, "service,br1", NULL,
	    "bridge br1 not allowed by policy a:");
	uk_ok(r, "a:web", 32, 1, "service,br0,service", NULL);
	/* A unikernel without CPU or bridge passes those checks. */
	uk_ok(r, "a:web2", 32, -1, NULL, NULL);
	/* Policies below the unikernel's path do not apply to it. */
	policy_ok(r, "a:web3:", 1, 20, NO_BLOCK, "0", NULL);
	uk_ok(r, "a:web3", 32, 1, "br0", NULL);
	/* A policy deep down with no policy on the path between. */
	policy_ok(r, "g:h:i:", 1, 20, NO_BLOCK, "0", NULL);
	uk_ok(r, "g:h:i:x", 10, 0, NULL, NULL);
	uk_fails(r, "g:h:i:j:k:y", 10, 0, NULL, NULL,
	    "policy g:h:i: allows 1 unikernels, 1 in use, 1 more requested");
	uk_fails(r, "g:h:i:j:y", 1, 1, NULL, NULL,
	    "policy g:h:i: allows 1 unikernels, 1 in use, 1 more requested");
	uk_ok(r, "g:h:z", 10, 3, NULL, NULL);
	pt_res_free(r);
}

static void
test_create_checks_every_policy(void **state)
{
	(void)state;
	pt_res *r = pt_res_new();
	/* albatross would only look at a:b:; the root is full as well. */
	policy_ok(r, ":", 3, 1000, NO_BLOCK, "0,1", "br0");
	policy_ok(r, "a:", 3, 600, NO_BLOCK, "0,1", "br0");
	policy_ok(r, "a:b:", 3, 500, NO_BLOCK, "0,1", "br0");
	uk_ok(r, "x:one", 100, 0, NULL, NULL);
	uk_ok(r, "a:two", 100, 0, NULL, NULL);
	uk_ok(r, "a:b:three", 100, 0, NULL, NULL);
	uk_fails(r, "a:b:four", 10, 0, NULL, NULL,
	    "policy : allows 3 unikernels, 3 in use, 1 more requested");
	uk_remove(r, "x:one");
	/* Now a: is the first one that is full on memory. */
	uk_fails(r, "a:b:four", 450, 0, NULL, NULL,
	    "policy a: allows memory 600 MB, 200 MB in use, 450 MB "
	    "requested");
	pt_res_free(r);
}

static void
test_deep_paths(void **state)
{
	(void)state;
	pt_res *r = pt_res_new();
	char path[256] = "";
	char names[51][256];
	/* Depth 50, a policy at every level, each a bit smaller. */
	for (int d = 0; d <= 50; d++) {
		snprintf(names[d], sizeof(names[d]), "%s", path);
		policy_ok(r, d == 0 ? ":" : path, 100 - d, 10000 - d,
		    NO_BLOCK, "0", NULL);
		if (d < 50) {
			char l[8];
			snprintf(l, sizeof(l), "l%c:", 'a' + d % 26);
			strcat(path, l);
		}
	}
	char uk[256];
	snprintf(uk, sizeof(uk), "%sdeep", path);
	uk_ok(r, uk, 9000, 0, NULL, NULL);
	for (int d = 0; d <= 50; d++) {
		pt_res_usage u = usage(r, d == 0 ? ":" : names[d]);
		assert_int_equal(u.unikernels, 1);
		assert_int_equal(u.memory, 9000);
	}
	/* The root is the tightest on memory for a unikernel at the top. */
	uk_ok(r, "top", 1000, 0, NULL, NULL);
	snprintf(uk, sizeof(uk), "%sdeep2", path);
	uk_fails(r, uk, 1, 0, NULL, NULL,
	    "policy : allows memory 10000 MB, 10000 MB in use, 1 MB "
	    "requested");
	uk_remove(r, "top");
	/* The deepest policy allows 9950 MB. */
	uk_fails(r, uk, 951, 0, NULL, NULL, "policy "
	    "la:lb:lc:ld:le:lf:lg:lh:li:lj:lk:ll:lm:ln:lo:lp:lq:lr:ls:lt:lu:"
	    "lv:lw:lx:ly:lz:la:lb:lc:ld:le:lf:lg:lh:li:lj:lk:ll:lm:ln:lo:lp:"
	    "lq:lr:ls:lt:lu:lv:lw:lx: allows memory 9950 MB, 9000 MB in use, "
	    "951 MB requested");
	uk_ok(r, uk, 950, 0, NULL, NULL);
	pt_res_free(r);
}

static void
test_replacing(void **state)
{
	(void)state;
	pt_res *r = pt_res_new();
	tuk t;
	pt_err err = {{0}};
	policy_ok(r, "a:", 2, 512, 100, "0", NULL);
	block_ok(r, "a:disk", 10);
	uk_ok(r, "a:web", 256, 0, NULL, "disk");
	uk_ok(r, "a:db", 256, 0, NULL, NULL);
	pt_name web = N("a:web");
	pt_name db = N("a:db");
	pt_name other = N("b:other");
	pt_name missing = N("a:missing");
	pt_uk_res *u = mkuk(&t, 256, 0, NULL, "disk");
	/* Without replacing: the name is taken. */
	assert_int_equal(pt_res_check_create(r, &web, u, NULL, &err), -1);
	assert_string_equal(err.msg, "unikernel a:web already exists");
	/* Replacing itself: its slot, memory and block device are free. */
	assert_int_equal(pt_res_check_create(r, &web, u, &web, &err), 0);
	u = mkuk(&t, 257, 0, NULL, "disk");
	assert_int_equal(pt_res_check_create(r, &web, u, &web, &err), -1);
	assert_string_equal(err.msg, "policy a: allows memory 512 MB, 256 MB "
	    "in use, 257 MB requested");
	/* Replacing another unikernel: the name must still be free. */
	pt_name neu = N("a:new");
	u = mkuk(&t, 256, 0, NULL, NULL);
	assert_int_equal(pt_res_check_create(r, &neu, u, &db, &err), 0);
	assert_int_equal(pt_res_check_create(r, &db, u, &web, &err), -1);
	assert_string_equal(err.msg, "unikernel a:db already exists");
	/* ...and the block device of a:web is free only when replacing it. */
	u = mkuk(&t, 256, 0, NULL, "disk");
	assert_int_equal(pt_res_check_create(r, &neu, u, &db, &err), -1);
	assert_string_equal(err.msg, "block device a:disk is in use");
	assert_int_equal(pt_res_check_create(r, &neu, u, &web, &err), 0);
	/* Replacing something that does not exist frees nothing. */
	u = mkuk(&t, 1, 0, NULL, NULL);
	assert_int_equal(pt_res_check_create(r, &neu, u, &missing, &err), -1);
	assert_string_equal(err.msg,
	    "policy a: allows 2 unikernels, 2 in use, 1 more requested");
	assert_int_equal(pt_res_check_create(r, &missing, u, &missing, &err),
	    -1);
	/* Replacing a unikernel outside a: frees nothing for a:. */
	uk_ok(r, "b:other", 600, 0, NULL, NULL);
	assert_int_equal(pt_res_check_create(r, &neu, u, &other, &err), -1);
	assert_string_equal(err.msg,
	    "policy a: allows 2 unikernels, 2 in use, 1 more requested");
	/* But it does for a policy above both. */
	policy_ok(r, ":", 3, 2000, 1000, "0", NULL);
	pt_name top = N("c:x");
	assert_int_equal(pt_res_check_create(r, &top, u, NULL, &err), -1);
	assert_string_equal(err.msg,
	    "policy : allows 3 unikernels, 3 in use, 1 more requested");
	assert_int_equal(pt_res_check_create(r, &top, u, &other, &err), 0);
	/* Checks do not change anything. */
	assert_int_equal(pt_res_unikernel_count(r), 3);
	bool in_use = false;
	pt_name disk = N("a:disk");
	assert_int_equal(pt_res_block(r, &disk, NULL, &in_use), 0);
	assert_true(in_use);
	pt_res_free(r);
}

/* A unikernel waiting for its restart keeps its share: claimed within
 * the limits but whatever the policies allow, counted by every check
 * after it, freed by removal. */
static void
test_claim(void **state)
{
	(void)state;
	pt_res *r = pt_res_new();
	tuk t;
	pt_err err = {{0}};
	policy_ok(r, "a:", 1, 64, 100, "0", "br0");
	block_ok(r, "a:disk", 10);
	block_ok(r, "a:other", 10);
	pt_name web = N("a:web");
	pt_name disk = N("a:disk");
	/* Beyond the limits: nothing is claimed. */
	pt_uk_res *u = mkuk(&t, 65, 0, NULL, "disk");
	assert_int_equal(pt_res_claim_unikernel(r, &web, u, NULL, &err), -1);
	assert_string_equal(err.msg, "policy a: allows memory 64 MB, 0 MB "
	    "in use, 65 MB requested");
	/* On a bridge and a CPU the policy does not allow (any more), with
	 * a device that is gone: claimed, what exists of it. */
	u = mkuk(&t, 64, 3, "br1", "disk,gone");
	assert_int_equal(pt_res_claim_unikernel(r, &web, u, (void *)"w",
	    &err), 0);
	assert_int_equal(usage(r, "a:").unikernels, 1);
	assert_int_equal(usage(r, "a:").memory, 64);
	bool in_use = false;
	assert_int_equal(pt_res_block(r, &disk, NULL, &in_use), 0);
	assert_true(in_use);
	assert_int_equal(pt_res_remove_block(r, &disk, &err), -1);
	assert_string_equal(err.msg, "block device a:disk is in use");
	/* Nobody else takes the share or the device meanwhile ... */
	uk_fails(r, "a:db", 1, 0, NULL, NULL,
	    "policy a: allows 1 unikernels, 1 in use, 1 more requested");
	/* ... and the name is taken. */
	u = mkuk(&t, 1, 0, NULL, NULL);
	assert_int_equal(pt_res_claim_unikernel(r, &web, u, NULL, &err), -1);
	assert_string_equal(err.msg, "unikernel a:web already exists");
	/* Its own retry is checked as if the claim were gone. */
	u = mkuk(&t, 64, 0, "br0", "disk");
	assert_int_equal(pt_res_check_create(r, &web, u, &web, &err), 0);
	/* A device that appears meanwhile was not claimed: the claim's
	 * removal leaves it alone. */
	block_ok(r, "a:gone", 10);
	pt_name gone = N("a:gone");
	assert_int_equal(pt_res_block(r, &gone, NULL, &in_use), 0);
	assert_false(in_use);
	uk_remove(r, "a:web");
	assert_int_equal(pt_res_block(r, &disk, NULL, &in_use), 0);
	assert_false(in_use);
	/* A device in use by another unikernel cannot be claimed. */
	policy_ok(r, "a:", 3, 256, 100, "0", "br0");
	uk_ok(r, "a:db", 1, 0, NULL, "other");
	pt_name web2 = N("a:web2");
	u = mkuk(&t, 1, 0, NULL, "disk,other");
	assert_int_equal(pt_res_claim_unikernel(r, &web2, u, NULL, &err), -1);
	assert_string_equal(err.msg, "block device a:other is in use");
	assert_int_equal(pt_res_block(r, &disk, NULL, &in_use), 0);
	assert_false(in_use);
	assert_int_equal(pt_res_unikernel_count(r), 1);
	uk_remove(r, "a:db");
	assert_int_equal(pt_res_unikernel_count(r), 0);
	pt_res_free(r);
}

/* ---- block devices ---- */

static void
test_blocks(void **state)
{
	(void)state;
	pt_res *r = pt_res_new();
	pt_err err = {{0}};
	int64_t size = 0;
	bool in_use = true;
	/* Without any policy block devices are not limited. */
	block_ok(r, "free:disk", 1 << 30);
	block_fails(r, "free:disk", 1, "block device free:disk already exists");
	block_fails(r, "free:disk2", 0,
	    "block device free:disk2: size must be positive (0 MB)");
	block_fails(r, "free:disk2", -5,
	    "block device free:disk2: size must be positive (-5 MB)");
	block_fails(r, "free:", 5, "free: is not a block device name");
	block_fails(r, "free:disk2", INT64_MAX,
	    "block device free:disk2: size 9223372036854775807 MB overflows "
	    "the total");
	pt_name fd = N("free:disk");
	assert_int_equal(pt_res_remove_block(r, &fd, &err), 0);

	/* The budget counts every device at and below the policy's path. */
	policy_ok(r, ":", 10, 1000, 150, "0", NULL);
	policy_ok(r, "a:", 10, 1000, 100, "0", NULL);
	policy_ok(r, "a:nob:", 10, 1000, NO_BLOCK, "0", NULL);
	block_fails(r, "a:nob:d", 1,
	    "policy a:nob: allows no block storage, 1 MB requested");
	block_fails(r, "a:nob:deeper:d", 1,
	    "policy a:nob: allows no block storage, 1 MB requested");
	block_ok(r, "a:d1", 60);
	block_ok(r, "a:b:d2", 39);
	block_fails(r, "a:b:d3", 2, "policy a: allows block storage 100 MB, "
	    "99 MB in use, 2 MB requested");
	block_ok(r, "a:b:d3", 1); /* exactly at the limit */
	block_fails(r, "a:b:d4", 1, "policy a: allows block storage 100 MB, "
	    "100 MB in use, 1 MB requested");
	block_ok(r, "x:d", 50);
	block_fails(r, "y:d", 1, "policy : allows block storage 150 MB, "
	    "150 MB in use, 1 MB requested");
	assert_int_equal(usage(r, "a:").block, 100);
	assert_int_equal(usage(r, "a:b:").block, 40);
	assert_int_equal(usage(r, ":").block, 150);

	pt_name d1 = N("a:d1");
	assert_int_equal(pt_res_block(r, &d1, &size, &in_use), 0);
	assert_int_equal(size, 60);
	assert_false(in_use);
	pt_name nope = N("a:nope");
	assert_int_equal(pt_res_block(r, &nope, &size, &in_use), -1);
	pt_name apath = N("a:");
	assert_int_equal(pt_res_block(r, &apath, &size, &in_use), -1);
	assert_int_equal(pt_res_remove_block(r, &nope, &err), -1);
	assert_string_equal(err.msg, "block device a:nope not found");
	assert_int_equal(pt_res_remove_block(r, &apath, &err), -1);
	assert_string_equal(err.msg, "block device a: not found");

	uk_ok(r, "a:web", 32, 0, NULL, "D1");
	assert_int_equal(pt_res_block(r, &d1, &size, &in_use), 0);
	assert_true(in_use);
	assert_int_equal(pt_res_remove_block(r, &d1, &err), -1);
	assert_string_equal(err.msg, "block device a:d1 is in use");
	uk_remove(r, "a:web");
	assert_int_equal(pt_res_block(r, &d1, &size, &in_use), 0);
	assert_false(in_use);
	assert_int_equal(pt_res_remove_block(r, &d1, &err), 0);
	assert_int_equal(usage(r, "a:").block, 40);
	block_ok(r, "a:b:d4", 60);
	pt_res_free(r);
}

static void
test_block_use_by_unikernels(void **state)
{
	(void)state;
	pt_res *r = pt_res_new();
	block_ok(r, "a:disk", 10);
	block_ok(r, "a:disk2", 10);
	block_ok(r, ":rootdisk", 10);
	/* Only devices of the unikernel's own path. */
	uk_fails(r, "b:web", 32, 0, NULL, "disk",
	    "block device b:disk not found");
	uk_fails(r, "a:sub:web", 32, 0, NULL, "disk",
	    "block device a:sub:disk not found");
	uk_fails(r, "web", 32, 0, NULL, "disk",
	    "block device :disk not found");
	uk_fails(r, "a:web", 32, 0, NULL, "rootdisk",
	    "block device a:rootdisk not found");
	uk_fails(r, "a:web", 32, 0, NULL, "disk,Disk",
	    "block device a:disk is listed twice");
	uk_fails(r, "a:web", 32, 0, NULL, "../x",
	    "unikernel a:web: block device: invalid label '../x'");
	uk_fails(r, "a:web", 32, 0, NULL, "b:disk",
	    "unikernel a:web: block device: invalid label 'b:disk'");
	uk_ok(r, "a:web", 32, 0, NULL, "disk,disk2");
	uk_ok(r, "rootuk", 32, 0, NULL, "rootdisk");
	uk_fails(r, "a:web2", 32, 0, NULL, "disk2",
	    "block device a:disk2 is in use");
	/* A unikernel named like a block device does not make it exist. */
	uk_fails(r, "a:web3", 32, 0, NULL, "web",
	    "block device a:web not found");
	uk_remove(r, "a:web");
	uk_ok(r, "a:web2", 32, 0, NULL, "disk2");
	pt_res_free(r);
}

/* ---- policies ---- */

static void
test_policy_add_remove(void **state)
{
	(void)state;
	pt_res *r = pt_res_new();
	pt_err err = {{0}};
	tpolicy t;

	set_root(r, 10, 1000, 500);
	/* Unusable. */
	policy_fails(r, "a:", 0, 100, NO_BLOCK, "0", NULL,
	    "cannot set policy a:: policy allows no unikernels (0)");
	policy_fails(r, "a:", 1, 100, NO_BLOCK, NULL, NULL,
	    "cannot set policy a:: policy allows no CPU");
	/* Every policy above must be a superset. */
	policy_fails(r, "a:", 11, 100, NO_BLOCK, "0", NULL,
	    "policy a: does not fit policy : above: allows 11 unikernels, "
	    "more than 10");
	policy_fails(r, "a:", 5, 1001, NO_BLOCK, "0", NULL,
	    "policy a: does not fit policy : above: allows memory 1001 MB, "
	    "more than 1000 MB");
	policy_fails(r, "a:", 5, 100, 501, "0", NULL,
	    "policy a: does not fit policy : above: allows block storage "
	    "501 MB, more than 500 MB");
	policy_fails(r, "a:", 5, 100, NO_BLOCK, "4", NULL,
	    "policy a: does not fit policy : above: allows CPU 4, which is "
	    "not allowed");
	policy_fails(r, "a:", 5, 100, NO_BLOCK, "0", "br9",
	    "policy a: does not fit policy : above: allows bridge br9, which "
	    "is not allowed");
	/* The limits themselves fit. */
	policy_ok(r, "a:", 10, 1000, 500, "0,1,2,3", "br0,br1,br2");
	policy_ok(r, "a:", 5, 500, NO_BLOCK, "0,1", "br0");
	policy_ok(r, "a:b:c:", 2, 100, NO_BLOCK, "1", "br0");
	policy_fails(r, "a:b:", 3, 100, 0, "0,1", "br0",
	    "policy a:b: does not fit policy a: above: allows block storage "
	    "0 MB, where none is allowed");
	/* Deeper ancestors count too, not only the nearest. */
	policy_fails(r, "a:b:", 6, 100, NO_BLOCK, "0,1", "br0",
	    "policy a:b: does not fit policy a: above: allows 6 unikernels, "
	    "more than 5");
	/* Every policy below must be a subset. */
	policy_fails(r, "a:b:", 3, 100, NO_BLOCK, "0", "br0",
	    "policy a:b:c: below does not fit policy a:b:: allows CPU 1, "
	    "which is not allowed");
	policy_fails(r, "a:", 1, 500, NO_BLOCK, "0,1", "br0",
	    "policy a:b:c: below does not fit policy a:: allows 2 unikernels, "
	    "more than 1");
	policy_fails(r, ":", 10, 99, 500, "0,1,2,3", "br0,br1,br2",
	    "policy a: below does not fit policy :: allows memory 500 MB, "
	    "more than 99 MB");
	policy_ok(r, "a:b:", 3, 100, NO_BLOCK, "0,1", "br0");

	/* Identical: no modification (order and duplicates do not matter). */
	mkpolicy(&t, 3, 100, NO_BLOCK, "1,0,1", "br0,br0");
	pt_name ab = N("a:b:");
	assert_int_equal(pt_res_check_policy(r, &ab, &t.p, &err), 1);
	assert_int_equal(pt_res_set_policy(r, &ab, &t.p, &err), 1);
	/* The label of the name is ignored. */
	pt_name abx = N("a:b:x");
	assert_int_equal(pt_res_set_policy(r, &abx, &t.p, &err), 1);
	const pt_policy *got = pt_res_policy(r, &ab);
	assert_non_null(got);
	assert_int_equal(got->ncpuids, 2);
	assert_int_equal(got->cpuids[0], 0);
	assert_int_equal(got->cpuids[1], 1);
	assert_true(pt_policy_equal(got, &t.p));
	pt_name nope = N("zz:");
	assert_null(pt_res_policy(r, &nope));

	/* Removal. */
	pt_name root = N(":");
	assert_int_equal(pt_res_remove_policy(r, &root, &err), -1);
	assert_string_equal(err.msg, "cannot remove the root policy");
	assert_int_equal(pt_res_remove_policy(r, &nope, &err), -1);
	assert_string_equal(err.msg, "unknown policy zz:");
	pt_name abc = N("a:b:c:");
	assert_int_equal(pt_res_remove_policy(r, &abc, &err), 0);
	assert_null(pt_res_policy(r, &abc));
	assert_int_equal(pt_res_remove_policy(r, &abc, &err), -1);
	assert_string_equal(err.msg, "unknown policy a:b:c:");
	/* Without a:b:c: below, a:b: may now drop CPU 1. */
	policy_ok(r, "a:b:", 3, 100, NO_BLOCK, "0", "br0");
	assert_int_equal(pt_res_remove_policy(r, &ab, &err), 0);
	pt_name a = N("a:");
	assert_int_equal(pt_res_remove_policy(r, &a, &err), 0);
	/* Only the root policy is left: one node (none besides the root). */
	assert_int_equal(pt_res_node_count(r), 0);
	/* Root policy: usable, else refused. */
	mkpolicy(&t, 1, 10, NO_BLOCK, "0", NULL);
	assert_int_equal(pt_res_set_root_policy(r, &t.p, &err), -1);
	assert_string_equal(err.msg, "cannot set the root policy: policy "
	    "memory 10 MB is too small (more than 16 needed)");
	pt_res_free(r);
}

static void
test_policy_usage_below(void **state)
{
	(void)state;
	pt_res *r = pt_res_new();
	set_root(r, 100, 10000, 1000);
	block_ok(r, "a:disk", 100);
	uk_ok(r, "a:one", 200, 1, "br1", NULL);
	uk_ok(r, "a:b:two", 300, 2, "br2,br0", "");
	uk_ok(r, "a:web", 10, 3, NULL, NULL);
	uk_remove(r, "a:web");
	/* Usage: 2 unikernels, 500 MB, 100 MB block, CPUs 1,2, br0-2. */
	policy_fails(r, "a:", 1, 500, 100, "1,2", "br0,br1,br2",
	    "policy a: would allow 1 unikernels, 2 in use");
	policy_fails(r, "a:", 2, 499, 100, "1,2", "br0,br1,br2",
	    "policy a: would allow memory 499 MB, 500 MB in use");
	policy_fails(r, "a:", 2, 500, 99, "1,2", "br0,br1,br2",
	    "policy a: would allow block storage 99 MB, 100 MB in use");
	policy_fails(r, "a:", 2, 500, NO_BLOCK, "1,2", "br0,br1,br2",
	    "policy a: would allow no block storage, 100 MB in use");
	policy_fails(r, "a:", 2, 500, 100, "1", "br0,br1,br2",
	    "policy a: would not allow CPU 2, in use below");
	policy_fails(r, "a:", 2, 500, 100, "1,2", "br0,br2",
	    "policy a: would not allow bridge br1, in use below");
	/* CPU 3 was only used by a removed unikernel: not needed. */
	policy_ok(r, "a:", 2, 500, 100, "1,2", "br0,br1,br2");
	/* Below a:b: only the second unikernel counts. */
	policy_fails(r, "a:b:", 1, 300, NO_BLOCK, "2", "br0",
	    "policy a:b: would not allow bridge br2, in use below");
	policy_ok(r, "a:b:", 1, 300, NO_BLOCK, "2", "br0,br2");
	/* A unikernel at a: (not below a:one:) does not count for a:one:. */
	policy_ok(r, "a:one:", 1, 20, NO_BLOCK, "1", NULL);
	/* The root's usage is checked as well. */
	pt_err err = {{0}};
	tpolicy t;
	mkpolicy(&t, 1, 10000, 1000, "0,1,2,3", "br0,br1,br2");
	pt_name root = N(":");
	assert_int_equal(pt_res_check_policy(r, &root, &t.p, &err), -1);
	assert_string_equal(err.msg,
	    "policy a: below does not fit policy :: allows 2 unikernels, "
	    "more than 1");
	pt_res_free(r);
}

/* ---- iteration ---- */

typedef struct {
	char seen[64][PT_NAME_TEXT_MAX + 1];
	size_t n;
	size_t stop_after;
} visits;

static int
record(visits *v, const pt_name *name)
{
	assert_true(v->n < 64);
	strcpy(v->seen[v->n++], name->text);
	return v->stop_after != 0 && v->n == v->stop_after ? 42 : 0;
}

static int
on_policy(const pt_name *path, const pt_policy *p, void *ctx)
{
	assert_non_null(p);
	return record(ctx, path);
}

static int
on_uk(const pt_name *name, void *data, void *ctx)
{
	assert_string_equal(name->text, data);
	return record(ctx, name);
}

static int
on_block(const pt_name *name, int64_t size, bool in_use, void *ctx)
{
	(void)in_use;
	assert_true(size > 0);
	return record(ctx, name);
}

static void
expect_seen(const visits *v, const char *const *want, size_t n)
{
	for (size_t i = 0; i < v->n && i < n; i++)
		assert_string_equal(v->seen[i], want[i]);
	assert_int_equal(v->n, n);
}

static void
test_iteration_order(void **state)
{
	(void)state;
	pt_res *r = pt_res_new();
	/* Inserted out of order. */
	const char *const uks[] = {"b:z", "a:c:x", ":b", "a:b", "a:a",
	    "a:b:y", "c:d:e:f", ":a"};
	for (size_t i = 0; i < sizeof(uks) / sizeof(uks[0]); i++)
		uk_ok(r, uks[i], 1, 0, NULL, NULL);
	policy_ok(r, "b:", 1, 20, 10, "0", NULL);
	policy_ok(r, "a:c:", 9, 20, 10, "0", NULL);
	policy_ok(r, ":", 99, 2000, 1000, "0", NULL);
	policy_ok(r, "a:", 9, 200, 10, "0", NULL);
	policy_ok(r, "a:b:", 9, 20, 10, "0", NULL);
	block_ok(r, "a:zz", 1);
	block_ok(r, "a:a", 1);
	block_ok(r, ":q", 1);

	visits v = {0};
	pt_name root = N(":");
	assert_int_equal(pt_res_foreach_unikernel(r, &root, on_uk, &v), 0);
	const char *const want_uk[] = {":a", "a:a", "a:b", "a:b:y", "a:c:x",
	    ":b", "b:z", "c:d:e:f"};
	expect_seen(&v, want_uk, 8);

	memset(&v, 0, sizeof(v));
	assert_int_equal(pt_res_foreach_policy(r, &root, on_policy, &v), 0);
	const char *const want_pol[] = {":", "a:", "a:b:", "a:c:", "b:"};
	expect_seen(&v, want_pol, 5);

	memset(&v, 0, sizeof(v));
	assert_int_equal(pt_res_foreach_block(r, &root, on_block, &v), 0);
	const char *const want_blk[] = {"a:a", "a:zz", ":q"};
	expect_seen(&v, want_blk, 3);

	/* Below a path. */
	memset(&v, 0, sizeof(v));
	pt_name a = N("a:");
	assert_int_equal(pt_res_foreach_unikernel(r, &a, on_uk, &v), 0);
	const char *const want_a[] = {"a:a", "a:b", "a:b:y", "a:c:x"};
	expect_seen(&v, want_a, 4);
	memset(&v, 0, sizeof(v));
	assert_int_equal(pt_res_foreach_policy(r, &a, on_policy, &v), 0);
	const char *const want_pa[] = {"a:", "a:b:", "a:c:"};
	expect_seen(&v, want_pa, 3);
	/* A name with a label: that entry only (for policies: its path). */
	memset(&v, 0, sizeof(v));
	pt_name ab = N("a:b");
	assert_int_equal(pt_res_foreach_unikernel(r, &ab, on_uk, &v), 0);
	const char *const want_ab[] = {"a:b"};
	expect_seen(&v, want_ab, 1);
	memset(&v, 0, sizeof(v));
	assert_int_equal(pt_res_foreach_policy(r, &ab, on_policy, &v), 0);
	expect_seen(&v, want_pa, 3);
	memset(&v, 0, sizeof(v));
	pt_name none = N("a:none");
	assert_int_equal(pt_res_foreach_unikernel(r, &none, on_uk, &v), 0);
	assert_int_equal(pt_res_foreach_block(r, &none, on_block, &v), 0);
	pt_name nopath = N("x:y:");
	assert_int_equal(pt_res_foreach_block(r, &nopath, on_block, &v), 0);
	assert_int_equal(v.n, 0);
	pt_name aa = N("a:a");
	assert_int_equal(pt_res_foreach_block(r, &aa, on_block, &v), 0);
	assert_int_equal(v.n, 1);

	/* The callback's non-zero value stops the walk and is returned. */
	memset(&v, 0, sizeof(v));
	v.stop_after = 3;
	assert_int_equal(pt_res_foreach_unikernel(r, &root, on_uk, &v), 42);
	assert_int_equal(v.n, 3);
	pt_res_free(r);
}

/* ---- pruning and incremental accounting ---- */

typedef struct {
	char name[64];
	int64_t memory;
	int64_t cpu;
	int bridge;     /* -1: none */
	int blk;        /* index in the block list, -1: none */
	bool live;
} shadow_uk;

typedef struct {
	char name[64];
	int64_t size;
	bool live;
} shadow_blk;

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t
rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}

#define NPATHS 13
static const char *const paths[NPATHS] = {":", "a:", "b:", "a:a:",
	"a:b:", "b:a:", "a:a:a:", "a:a:b:", "a:b:a:", "b:a:a:", "c:", "c:c:",
	"a:a:a:a:"};
static const char *const bridges[3] = {"br0", "br1", "br2"};

/* Recounts from the shadow lists what lives at or below `path`. */
static void
brute_usage(const char *path, const shadow_uk *uks, size_t nuk,
    const shadow_blk *blks, size_t nblk, pt_res_usage *out, bool cpus[4],
    bool brs[3])
{
	pt_name p = N(path);
	memset(out, 0, sizeof(*out));
	memset(cpus, 0, 4 * sizeof(bool));
	memset(brs, 0, 3 * sizeof(bool));
	for (size_t i = 0; i < nuk; i++) {
		if (!uks[i].live)
			continue;
		pt_name n = N(uks[i].name), np;
		pt_name_path(&n, &np);
		if (!pt_name_is_prefix(&p, &np))
			continue;
		out->unikernels++;
		out->memory += uks[i].memory;
		cpus[uks[i].cpu] = true;
		if (uks[i].bridge >= 0)
			brs[uks[i].bridge] = true;
	}
	for (size_t i = 0; i < nblk; i++) {
		if (!blks[i].live)
			continue;
		pt_name n = N(blks[i].name), np;
		pt_name_path(&n, &np);
		if (pt_name_is_prefix(&p, &np))
			out->block += blks[i].size;
	}
}

/* The reference counts of CPU ids and bridges are visible through policy
 * checks: a policy that leaves one out is refused iff it is in use. */
static void
check_refcounts(pt_res *r, const char *path, const bool cpus[4],
    const bool brs[3])
{
	pt_name p = N(path);
	pt_err err = {{0}};
	for (int c = 0; c < 4; c++) {
		tpolicy t;
		mkpolicy(&t, 1000, 100000, 100000, NULL, "br0,br1,br2");
		for (int o = 0; o < 4; o++)
			if (o != c)
				t.cpus[t.p.ncpuids++] = o;
		int rc = pt_res_check_policy(r, &p, &t.p, &err);
		assert_int_equal(rc == -1, cpus[c]);
	}
	for (int b = 0; b < 3; b++) {
		tpolicy t;
		mkpolicy(&t, 1000, 100000, 100000, "0,1,2,3", NULL);
		for (int o = 0; o < 3; o++)
			if (o != b)
				t.br[t.p.nbridges++] = (pt_text){bridges[o],
				    strlen(bridges[o])};
		int rc = pt_res_check_policy(r, &p, &t.p, &err);
		assert_int_equal(rc == -1, brs[b]);
	}
}

static void
compare_all(pt_res *r, const shadow_uk *uks, size_t nuk,
    const shadow_blk *blks, size_t nblk, bool with_refcounts)
{
	size_t live = 0;
	for (size_t i = 0; i < nuk; i++)
		live += uks[i].live;
	assert_int_equal(pt_res_unikernel_count(r), live);
	for (size_t i = 0; i < NPATHS; i++) {
		pt_res_usage want, got;
		bool cpus[4], brs[3];
		brute_usage(paths[i], uks, nuk, blks, nblk, &want, cpus, brs);
		got = usage(r, paths[i]);
		assert_int_equal(got.unikernels, want.unikernels);
		assert_int_equal(got.memory, want.memory);
		assert_int_equal(got.block, want.block);
		if (with_refcounts)
			check_refcounts(r, paths[i], cpus, brs);
	}
}

static const char *
label_of(const char *name)
{
	const char *c = strrchr(name, ':');
	return c != NULL ? c + 1 : name;
}

/* The live unikernel using block device `blk`, if any. */
static const shadow_uk *
block_user(const shadow_uk *uks, size_t nuk, int blk)
{
	for (size_t i = 0; i < nuk; i++)
		if (uks[i].live && uks[i].blk == blk)
			return &uks[i];
	return NULL;
}

/* Maybe a live block device in the unikernel's own path (-1: none). */
static int
pick_block(const pt_name *uk, const shadow_blk *blks, size_t nblk)
{
	pt_name up;
	pt_name_path(uk, &up);
	if (rnd(2) == 0)
		return -1;
	size_t start = rnd((uint32_t)nblk);
	for (size_t i = 0; i < nblk; i++) {
		size_t j = (start + i) % nblk;
		pt_name bn = N(blks[j].name), bp;
		pt_name_path(&bn, &bp);
		if (blks[j].live && pt_name_equal(&bp, &up))
			return (int)j;
	}
	return -1;
}

static void
test_incremental_usage(void **state)
{
	(void)state;
	enum { NUK = 60, NBLK = 30, STEPS = 4000 };
	static shadow_uk uks[NUK];
	static shadow_blk blks[NBLK];
	pt_res *r = pt_res_new();
	pt_err err = {{0}};

	memset(uks, 0, sizeof(uks));
	memset(blks, 0, sizeof(blks));
	/* Fixed names: slot i always has the same name. */
	for (size_t i = 0; i < NUK; i++) {
		const char *p = paths[rnd(NPATHS)];
		snprintf(uks[i].name, sizeof(uks[i].name), "%su%zu",
		    strcmp(p, ":") == 0 ? "" : p, i);
	}
	for (size_t i = 0; i < NBLK; i++) {
		const char *p = paths[rnd(NPATHS)];
		snprintf(blks[i].name, sizeof(blks[i].name), "%sd%zu",
		    strcmp(p, ":") == 0 ? "" : p, i);
	}
	for (int step = 0; step < STEPS; step++) {
		uint32_t what = rnd(4);
		if (what < 2) {
			shadow_uk *s = &uks[rnd(NUK)];
			pt_name n = N(s->name);
			if (s->live) {
				assert_ptr_equal(pt_res_remove_unikernel(r, &n),
				    s);
				s->live = false;
				continue;
			}
			tuk t;
			s->memory = rnd(100);
			s->cpu = rnd(4);
			s->bridge = (int)rnd(4) - 1;
			s->blk = pick_block(&n, blks, NBLK);
			bool taken = s->blk >= 0 &&
			    block_user(uks, NUK, s->blk) != NULL;
			pt_uk_res *u = mkuk(&t, s->memory, s->cpu,
			    s->bridge >= 0 ? bridges[s->bridge] : NULL,
			    s->blk >= 0 ? label_of(blks[s->blk].name) : NULL);
			int rc = pt_res_add_unikernel(r, &n, u, s, &err);
			/* It fails only when its block device is taken. */
			assert_int_equal(rc == -1, taken);
			if (rc != 0) {
				assert_non_null(strstr(err.msg, "is in use"));
				s->blk = -1;
				u = mkuk(&t, s->memory, s->cpu,
				    s->bridge >= 0 ? bridges[s->bridge] : NULL,
				    NULL);
				assert_int_equal(pt_res_add_unikernel(r, &n, u,
				    s, &err), 0);
			}
			s->live = true;
		} else {
			shadow_blk *b = &blks[rnd(NBLK)];
			pt_name n = N(b->name);
			if (!b->live) {
				b->size = 1 + rnd(50);
				assert_int_equal(pt_res_add_block(r, &n,
				    b->size, &err), 0);
				b->live = true;
				continue;
			}
			bool used = block_user(uks, NUK, (int)(b - blks)) != NULL;
			int rc = pt_res_remove_block(r, &n, &err);
			assert_int_equal(rc == -1, used);
			if (rc == 0)
				b->live = false;
			else
				assert_non_null(strstr(err.msg, "is in use"));
		}
		if (step % 50 == 0)
			compare_all(r, uks, NUK, blks, NBLK, step % 500 == 0);
	}
	compare_all(r, uks, NUK, blks, NBLK, true);
	/* Empty it: every node goes away. */
	for (size_t i = 0; i < NUK; i++) {
		if (uks[i].live) {
			pt_name n = N(uks[i].name);
			assert_ptr_equal(pt_res_remove_unikernel(r, &n),
			    &uks[i]);
			uks[i].live = false;
		}
	}
	for (size_t i = 0; i < NBLK; i++) {
		if (blks[i].live) {
			pt_name n = N(blks[i].name);
			assert_int_equal(pt_res_remove_block(r, &n, &err), 0);
			blks[i].live = false;
		}
	}
	compare_all(r, uks, NUK, blks, NBLK, true);
	assert_int_equal(pt_res_node_count(r), 0);
	pt_res_free(r);
}

static void
test_empty_nodes_removed(void **state)
{
	(void)state;
	pt_res *r = pt_res_new();
	pt_err err = {{0}};
	char name[256];
	for (int round = 0; round < 100; round++) {
		snprintf(name, sizeof(name), "r%d:s%d:t:u%d", round % 7,
		    round, round);
		uk_ok(r, name, 1, 0, NULL, NULL);
		pt_name n = N(name);
		assert_non_null(pt_res_remove_unikernel(r, &n));
		snprintf(name, sizeof(name), "r%d:s%d:d", round % 7, round);
		block_ok(r, name, 1);
		n = N(name);
		assert_int_equal(pt_res_remove_block(r, &n, &err), 0);
		snprintf(name, sizeof(name), "r%d:s%d:", round % 7, round);
		policy_ok(r, name, 1, 20, NO_BLOCK, "0", NULL);
		n = N(name);
		assert_int_equal(pt_res_remove_policy(r, &n, &err), 0);
		assert_int_equal(pt_res_node_count(r), 0);
	}
	/* Shared nodes stay while something uses them. */
	uk_ok(r, "a:b:x", 1, 0, NULL, NULL);
	policy_ok(r, "a:b:x:", 1, 20, NO_BLOCK, "0", NULL);
	assert_int_equal(pt_res_node_count(r), 3);
	uk_remove(r, "a:b:x");
	assert_int_equal(pt_res_node_count(r), 3);
	pt_name p = N("a:b:x:");
	assert_int_equal(pt_res_remove_policy(r, &p, &err), 0);
	assert_int_equal(pt_res_node_count(r), 0);
	/* A failed add leaves nothing behind. */
	uk_fails(r, "q:r:s", 1, 0, NULL, "nodisk",
	    "block device q:r:nodisk not found");
	assert_int_equal(pt_res_node_count(r), 0);
	pt_res_free(r);
}

/* A policy restored from the state as it is, even wider than its parent:
 * it grants nothing more, every policy on the path is still checked. */
static void
test_restore_policy_keeps_parents_in_charge(void **state)
{
	(void)state;
	pt_res *r = pt_res_new();
	assert_non_null(r);
	set_root(r, 100, 1024, 100);
	tpolicy t;
	pt_err err = {{0}};
	pt_name team = N("team:");
	mkpolicy(&t, 5, 4096, NO_BLOCK, "0,1,7", "br0,late");
	assert_int_equal(pt_res_check_policy(r, &team, &t.p, &err), -1);
	assert_int_equal(pt_res_restore_policy(r, &team, &t.p, &err), 0);
	const pt_policy *got = pt_res_policy(r, &team);
	assert_non_null(got);
	assert_true(pt_policy_equal(got, &t.p));
	/* Not widened: the root (the host) bounds it. */
	uk_fails(r, "team:a", 16, 7, "", "",
	    "CPU 7 not allowed by policy : (allowed: 0,1,2,3)");
	uk_fails(r, "team:a", 2000, 0, "", "",
	    "policy : allows memory 1024 MB, 0 MB in use, 2000 MB requested");
	uk_ok(r, "team:a", 500, 1, "br0", "");
	/* And its own limits hold. */
	policy_ok(r, ":", 100, 8192, 100, "0,1,2,3,7", "br0,br1,late");
	for (int i = 0; i < 4; i++) {
		char name[16];
		snprintf(name, sizeof(name), "team:x%d", i);
		uk_ok(r, name, 17, 0, "", "");
	}
	uk_fails(r, "team:y", 17, 0, "", "",
	    "policy team: allows 5 unikernels, 5 in use, 1 more requested");
	/* The root too, without checks (a rollback). */
	pt_name root = N(":");
	mkpolicy(&t, 1, 20, NO_BLOCK, "", "");
	assert_int_equal(pt_res_restore_policy(r, &root, &t.p, &err), 0);
	assert_true(pt_policy_equal(pt_res_policy(r, &root), &t.p));
	pt_res_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_without_policy),
		cmocka_unit_test(test_create_count_limit),
		cmocka_unit_test(test_create_memory_at_limit),
		cmocka_unit_test(test_create_cpu_and_bridge),
		cmocka_unit_test(test_create_checks_every_policy),
		cmocka_unit_test(test_deep_paths),
		cmocka_unit_test(test_replacing),
		cmocka_unit_test(test_claim),
		cmocka_unit_test(test_blocks),
		cmocka_unit_test(test_block_use_by_unikernels),
		cmocka_unit_test(test_policy_add_remove),
		cmocka_unit_test(test_policy_usage_below),
		cmocka_unit_test(test_iteration_order),
		cmocka_unit_test(test_incremental_usage),
		cmocka_unit_test(test_empty_nodes_removed),
		cmocka_unit_test(test_restore_policy_keeps_parents_in_charge),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
