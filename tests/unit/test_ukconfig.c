/*
 * Unit tests for petreld's pure configuration helpers (src/petreld/
 * ukconfig.c, compiled into this test): deep copies, restart arguments,
 * the resources a configuration takes, effective bridge and device names,
 * and the checks the core does not do.
 *
 * The deep-copy tests free the source before comparing, so that under
 * ASan a pointer the copy still shares with its source is a
 * use-after-free, not a silent pass.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "petreld.h"
#include "wire_testlib.h"

/* ---- building configurations --------------------------------------- */

static pt_text
text(pt_arena *a, const char *s)
{
	pt_text t = {pt_arena_strndup(a, s, strlen(s)), strlen(s)};
	assert_non_null(t.s);
	return t;
}

static pt_blockspec
block(pt_arena *a, const char *name, const char *device, int64_t sector)
{
	pt_blockspec b = {.name = text(a, name)};
	if (device != NULL) {
		b.has_device = true;
		b.device = text(a, device);
	}
	if (sector != 0) {
		b.has_sector_size = true;
		b.sector_size = sector;
	}
	return b;
}

static pt_netspec
net(pt_arena *a, const char *name, const char *bridge, bool with_mac)
{
	pt_netspec n = {.name = text(a, name)};
	if (bridge != NULL) {
		n.has_bridge = true;
		n.bridge = text(a, bridge);
	}
	if (with_mac) {
		static const uint8_t mac[6] = {0x00, 0x80, 0x41, 1, 2, 3};
		n.has_mac = true;
		memcpy(n.mac, mac, sizeof(mac));
	}
	return n;
}

/* Every field set, every array non-empty; `variant` changes the values so
 * that two configurations can be told apart. */
static void
full_config(pt_arena *a, int variant, pt_ukconfig *c)
{
	memset(c, 0, sizeof(*c));
	static const uint8_t images[2][4] = {"ELF", "elf"};
	c->typ = PT_TYP_SOLO5;
	c->compressed = variant != 0;
	c->image.data = pt_arena_memdup(a, images[variant], 4);
	c->image.len = 4;
	c->has_startup = true;
	c->startup = 10 + variant;
	c->add_name = variant == 0;
	c->fail.restart = true;
	c->fail.ncodes = 2;
	c->fail.codes = pt_arena_calloc(a, 2, sizeof(int64_t));
	c->fail.codes[0] = 2;
	c->fail.codes[1] = 3 + variant;
	c->ncpuids = 2;
	c->cpuids = pt_arena_calloc(a, 2, sizeof(int64_t));
	c->cpuids[0] = 0;
	c->cpuids[1] = 1 + variant;
	c->memory = 32 + variant;
	c->nblocks = 2;
	c->blocks = pt_arena_calloc(a, 2, sizeof(pt_blockspec));
	c->blocks[0] = block(a, "storage", variant ? "disk1" : "disk", 4096);
	c->blocks[1] = block(a, "data", NULL, 0);
	c->nnets = 2;
	c->nets = pt_arena_calloc(a, 2, sizeof(pt_netspec));
	c->nets[0] = net(a, "service", variant ? "br1" : "br0", true);
	c->nets[1] = net(a, "management", NULL, false);
	c->has_argv = true;
	c->argc = 2 + (size_t)variant;
	c->argv = pt_arena_calloc(a, c->argc, sizeof(pt_text));
	c->argv[0] = text(a, "-l");
	c->argv[1] = text(a, "*:debug");
	if (variant != 0)
		c->argv[2] = text(a, "--ipv4=10.0.0.2/24");
	c->cpus = 1 + variant;
	c->has_boot_partition = true;
	c->boot_partition = text(a, variant ? "boot1" : "boot");
}

/* The smallest configuration ukcfg_validate accepts. */
static void
minimal_config(pt_ukconfig *c)
{
	static int64_t cpu0[1] = {0};
	memset(c, 0, sizeof(*c));
	c->typ = PT_TYP_SOLO5;
	c->ncpuids = 1;
	c->cpuids = cpu0;
	c->memory = 32;
	c->cpus = 1;
}

/* Pointer fields of the copy are not those of the source. */
static void
assert_no_shared_pointer(const pt_ukconfig *src, const pt_ukconfig *cp)
{
	if (src->image.len > 0 && cp->image.len > 0)
		assert_ptr_not_equal(src->image.data, cp->image.data);
	assert_ptr_not_equal(src->fail.codes, cp->fail.codes);
	assert_ptr_not_equal(src->cpuids, cp->cpuids);
	assert_ptr_not_equal(src->blocks, cp->blocks);
	assert_ptr_not_equal(src->nets, cp->nets);
	assert_ptr_not_equal(src->argv, cp->argv);
	assert_ptr_not_equal(src->boot_partition.s, cp->boot_partition.s);
	for (size_t i = 0; i < src->nblocks; i++) {
		assert_ptr_not_equal(src->blocks[i].name.s,
		    cp->blocks[i].name.s);
		if (src->blocks[i].has_device)
			assert_ptr_not_equal(src->blocks[i].device.s,
			    cp->blocks[i].device.s);
	}
	for (size_t i = 0; i < src->nnets; i++) {
		assert_ptr_not_equal(src->nets[i].name.s, cp->nets[i].name.s);
		if (src->nets[i].has_bridge)
			assert_ptr_not_equal(src->nets[i].bridge.s,
			    cp->nets[i].bridge.s);
	}
	for (size_t i = 0; i < src->argc; i++)
		assert_ptr_not_equal(src->argv[i].s, cp->argv[i].s);
}

/* ---- ukcfg_copy ----------------------------------------------------- */

static void
test_copy_full(void **state)
{
	(void)state;
	for (int variant = 0; variant < 2; variant++) {
		pt_arena as = {0}, ac = {0}, ae = {0};
		pt_ukconfig src, cp, expect;
		full_config(&as, variant, &src);
		assert_int_equal(ukcfg_copy(&ac, &src, &cp, true), 0);
		assert_no_shared_pointer(&src, &cp);
		/* The source dies (as a decoded request dies with its
		 * frame); the copy must not notice. */
		pt_arena_free(&as);
		full_config(&ae, variant, &expect);
		assert_true(tl_eq_ukconfig(&cp, &expect));
		/* Set orders are kept too (the tender argv follows them). */
		assert_string_equal(cp.blocks[0].name.s, "storage");
		assert_string_equal(cp.nets[1].name.s, "management");
		assert_string_equal(cp.argv[1].s, "*:debug");
		pt_arena_free(&ae);
		pt_arena_free(&ac);
	}
}

static void
test_copy_without_image(void **state)
{
	(void)state;
	pt_arena as = {0}, ac = {0};
	pt_ukconfig src, cp;
	full_config(&as, 1, &src);
	assert_int_equal(ukcfg_copy(&ac, &src, &cp, false), 0);
	assert_null(cp.image.data);
	assert_int_equal(cp.image.len, 0);
	/* typ and compressed still say what the stored image is. */
	assert_int_equal(cp.typ, src.typ);
	assert_true(cp.compressed);
	assert_true(tl_eq_config_args(&cp, &src));
	pt_arena_free(&ac);
	pt_arena_free(&as);
}

static void
test_copy_empty(void **state)
{
	(void)state;
	pt_arena ac = {0};
	pt_ukconfig src, cp;
	minimal_config(&src);
	src.ncpuids = 0;
	src.cpuids = NULL;
	/* Present-but-empty arguments differ from absent ones. */
	src.has_argv = true;
	assert_int_equal(ukcfg_copy(&ac, &src, &cp, true), 0);
	assert_true(tl_eq_ukconfig(&cp, &src));
	assert_null(cp.cpuids);
	assert_null(cp.blocks);
	assert_null(cp.nets);
	assert_null(cp.argv);
	assert_null(cp.fail.codes);
	assert_null(cp.image.data);
	assert_true(cp.has_argv);
	assert_int_equal(cp.argc, 0);
	assert_false(cp.has_boot_partition);
	assert_null(cp.boot_partition.s);
	pt_arena_free(&ac);
}

/* A text without storage (s NULL, len 0) copies as "". */
static void
test_copy_null_text(void **state)
{
	(void)state;
	pt_arena ac = {0};
	pt_ukconfig src, cp;
	pt_text argv[1] = {{NULL, 0}};
	minimal_config(&src);
	src.has_argv = true;
	src.argc = 1;
	src.argv = argv;
	assert_int_equal(ukcfg_copy(&ac, &src, &cp, false), 0);
	assert_non_null(cp.argv[0].s);
	assert_string_equal(cp.argv[0].s, "");
	assert_int_equal(cp.argv[0].len, 0);
	pt_arena_free(&ac);
}

/* Every allocation failure is reported (-1), never a crash or a partial
 * success; past the need, the copy succeeds. */
static void
test_copy_out_of_memory(void **state)
{
	(void)state;
	pt_arena as = {0};
	pt_ukconfig src;
	full_config(&as, 1, &src);
	bool succeeded = false;
	size_t failures = 0;
	for (size_t limit = 1; limit <= 64 * 1024 && !succeeded; limit += 8) {
		pt_arena ac = {.limit = limit};
		pt_ukconfig cp;
		if (ukcfg_copy(&ac, &src, &cp, true) == 0) {
			assert_true(tl_eq_ukconfig(&cp, &src));
			succeeded = true;
		} else {
			failures++;
		}
		pt_arena_free(&ac);
	}
	assert_true(succeeded);
	assert_true(failures > 0);
	pt_arena_free(&as);
}

/* ---- ukcfg_apply_restart -------------------------------------------- */

static void
test_apply_restart(void **state)
{
	(void)state;
	pt_arena ao = {0}, aa = {0}, ad = {0}, ae = {0};
	pt_ukconfig old, args, dst, expect;
	full_config(&ao, 0, &old);
	full_config(&aa, 1, &args);
	/* A restart cannot change what the image is. */
	args.typ = PT_TYP_BHYVE;
	args.compressed = !old.compressed;
	assert_int_equal(ukcfg_apply_restart(&ad, &old, &args, &dst), 0);
	assert_int_equal(dst.typ, PT_TYP_SOLO5);
	assert_int_equal(dst.compressed, old.compressed);
	assert_ptr_equal(dst.image.data, old.image.data);
	assert_int_equal(dst.image.len, old.image.len);
	assert_no_shared_pointer(&args, &dst);
	/* The arguments' fields are deep copies: they outlive the request. */
	pt_arena_free(&aa);
	full_config(&ae, 1, &expect);
	assert_true(tl_eq_config_args(&dst, &expect));
	assert_int_equal(dst.memory, 33);
	assert_int_equal(dst.argc, 3);
	assert_string_equal(dst.nets[0].bridge.s, "br1");
	pt_arena_free(&ae);
	pt_arena_free(&ad);
	pt_arena_free(&ao);
}

/* Restart arguments without optional parts take them away: the stored
 * configuration is replaced, not merged. */
static void
test_apply_restart_replaces(void **state)
{
	(void)state;
	pt_arena ao = {0}, ad = {0};
	pt_ukconfig old, args, dst;
	full_config(&ao, 0, &old);
	minimal_config(&args);
	assert_int_equal(ukcfg_apply_restart(&ad, &old, &args, &dst), 0);
	assert_int_equal(dst.nblocks, 0);
	assert_int_equal(dst.nnets, 0);
	assert_false(dst.has_argv);
	assert_int_equal(dst.argc, 0);
	assert_false(dst.has_startup);
	assert_false(dst.has_boot_partition);
	assert_false(dst.fail.restart);
	assert_int_equal(dst.memory, 32);
	assert_true(tl_eq_config_args(&dst, &args));
	pt_arena_free(&ad);
	pt_arena_free(&ao);
}

/* ---- ukcfg_bridge, ukcfg_device, ukcfg_resources -------------------- */

static void
test_effective_names(void **state)
{
	(void)state;
	pt_arena a = {0};
	pt_netspec n1 = net(&a, "service", "br0", false);
	pt_netspec n2 = net(&a, "service", NULL, false);
	assert_string_equal(ukcfg_bridge(&n1).s, "br0");
	assert_string_equal(ukcfg_bridge(&n2).s, "service");
	assert_int_equal(ukcfg_bridge(&n2).len, 7);
	pt_blockspec b1 = block(&a, "storage", "disk", 0);
	pt_blockspec b2 = block(&a, "storage", NULL, 512);
	assert_string_equal(ukcfg_device(&b1).s, "disk");
	assert_int_equal(ukcfg_device(&b1).len, 4);
	assert_string_equal(ukcfg_device(&b2).s, "storage");
	pt_arena_free(&a);
}

static void
test_resources(void **state)
{
	(void)state;
	pt_arena ac = {0}, ar = {0};
	pt_ukconfig c;
	pt_uk_res u;
	full_config(&ac, 0, &c);
	assert_int_equal(ukcfg_resources(&ar, &c, &u), 0);
	assert_int_equal(u.memory, 32);
	assert_int_equal(u.ncpuids, 2);
	assert_int_equal(u.cpuids[0], 0);
	assert_int_equal(u.cpuids[1], 1);
	assert_int_equal(u.nbridges, 2);
	assert_string_equal(u.bridges[0].s, "br0");         /* given */
	assert_string_equal(u.bridges[1].s, "management");  /* = name */
	assert_int_equal(u.nblocks, 2);
	assert_string_equal(u.blocks[0].s, "disk");          /* given */
	assert_string_equal(u.blocks[1].s, "data");          /* = name */
	pt_arena_free(&ar);

	pt_ukconfig m;
	minimal_config(&m);
	assert_int_equal(ukcfg_resources(&ar, &m, &u), 0);
	assert_int_equal(u.nbridges, 0);
	assert_null(u.bridges);
	assert_int_equal(u.nblocks, 0);
	assert_null(u.blocks);
	assert_int_equal(u.memory, 32);
	pt_arena_free(&ar);

	pt_arena tiny = {.limit = 8};
	assert_int_equal(ukcfg_resources(&tiny, &c, &u), -1);
	pt_arena_free(&tiny);
	pt_arena_free(&ac);
}

/* ---- ukcfg_validate ------------------------------------------------- */

static void
expect_refusal(const pt_ukconfig *c, const char *part)
{
	pt_err e;
	memset(&e, 0, sizeof(e));
	assert_int_equal(ukcfg_validate(c, &e), -1);
	if (strstr(e.msg, part) == NULL)
		fail_msg("\"%s\" does not mention \"%s\"", e.msg, part);
}

static void
test_validate_basics(void **state)
{
	(void)state;
	pt_arena a = {0};
	pt_ukconfig c;
	pt_err e;
	minimal_config(&c);
	assert_int_equal(ukcfg_validate(&c, &e), 0);
	full_config(&a, 0, &c);
	assert_int_equal(ukcfg_validate(&c, &e), 0);
	/* NULL err is allowed. */
	c.typ = PT_TYP_BHYVE;
	assert_int_equal(ukcfg_validate(&c, NULL), -1);

	minimal_config(&c);
	c.typ = PT_TYP_BHYVE;
	expect_refusal(&c, "bhyve");
	minimal_config(&c);
	c.memory = 0;
	expect_refusal(&c, "memory must be positive (0 MB");
	c.memory = -5;
	expect_refusal(&c, "-5 MB");
	c.memory = INT64_MIN;
	expect_refusal(&c, "memory");
	minimal_config(&c);
	c.ncpuids = 0;
	expect_refusal(&c, "no CPU id");
	pt_arena_free(&a);
}

static void
test_validate_sector_sizes(void **state)
{
	(void)state;
	pt_arena a = {0};
	pt_ukconfig c;
	pt_blockspec b;
	pt_err e;
	minimal_config(&c);
	c.nblocks = 1;
	c.blocks = &b;
	static const int64_t good[] = {512, 1024, 2048, 4096, 8192, 16384,
	    32768};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		b = block(&a, "storage", NULL, good[i]);
		if (ukcfg_validate(&c, &e) != 0)
			fail_msg("sector size %lld: %s", (long long)good[i],
			    e.msg);
	}
	static const int64_t bad[] = {1, 2, 256, 511, 513, 1000, 1536, 3072,
	    32767, 32769, 65536, 1LL << 40, -512, -1, INT64_MIN, INT64_MAX};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b = block(&a, "storage", NULL, bad[i]);
		char num[32];
		snprintf(num, sizeof(num), "sector size %lld ",
		    (long long)bad[i]);
		expect_refusal(&c, num);
		expect_refusal(&c, "block device 'storage'");
	}
	/* Sector size 0 given explicitly is a bad size, not "absent". */
	b = block(&a, "storage", NULL, 0);
	b.has_sector_size = true;
	expect_refusal(&c, "sector size 0 ");
	pt_arena_free(&a);
}

static void
test_validate_device_names(void **state)
{
	(void)state;
	pt_arena a = {0};
	pt_ukconfig c;
	pt_blockspec b;
	pt_err e;
	minimal_config(&c);
	c.nblocks = 1;
	c.blocks = &b;
	char long_label[65];
	memset(long_label, 'a', 64);
	long_label[64] = '\0';
	/* The device label, or the manifest name when no device is given,
	 * names a file under the block directory: a valid label only. */
	static const char *const bad[] = {"../etc", "a/b", "-x", "a b", "a:b",
	    "\xc3\xa9", ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b = block(&a, "storage", bad[i], 0);
		expect_refusal(&c, "invalid name");
		b = block(&a, bad[i], NULL, 0);
		expect_refusal(&c, "invalid name");
	}
	b = block(&a, "storage", long_label, 0);
	expect_refusal(&c, "invalid name");
	long_label[63] = '\0';
	b = block(&a, "storage", long_label, 0);
	assert_int_equal(ukcfg_validate(&c, &e), 0);
	/* With a valid device, the manifest name is the image's business
	 * (checked against the manifest), not a file name. */
	b = block(&a, "any name", "disk", 0);
	assert_int_equal(ukcfg_validate(&c, &e), 0);
	pt_arena_free(&a);
}

static void
test_validate_duplicates(void **state)
{
	(void)state;
	pt_arena a = {0};
	pt_ukconfig c;
	pt_blockspec bs[3];
	pt_netspec ns[3];
	pt_err e;
	minimal_config(&c);
	c.blocks = bs;
	c.nblocks = 3;
	bs[0] = block(&a, "a", NULL, 0);
	bs[1] = block(&a, "b", NULL, 0);
	bs[2] = block(&a, "c", NULL, 0);
	assert_int_equal(ukcfg_validate(&c, &e), 0);
	bs[2] = block(&a, "a", "other", 0);
	expect_refusal(&c, "block device 'a' given twice");
	/* A longer name sharing a prefix is a different name. */
	bs[2] = block(&a, "ab", NULL, 0);
	assert_int_equal(ukcfg_validate(&c, &e), 0);
	c.nblocks = 0;

	c.nets = ns;
	c.nnets = 3;
	ns[0] = net(&a, "service", "br0", false);
	ns[1] = net(&a, "management", "br0", false); /* one bridge, twice */
	ns[2] = net(&a, "x", NULL, false);
	assert_int_equal(ukcfg_validate(&c, &e), 0);
	ns[2] = net(&a, "service", "br1", true);
	expect_refusal(&c, "network 'service' given twice");
	ns[2] = net(&a, "servic", NULL, false);
	assert_int_equal(ukcfg_validate(&c, &e), 0);
	pt_arena_free(&a);
}

/* More devices than a manifest can hold are refused before the pairwise
 * checks, so a hostile create cannot make them quadratic. */
static void
test_validate_device_count(void **state)
{
	(void)state;
	pt_arena a = {0};
	pt_ukconfig c;
	static pt_blockspec bs[PT_MFT_MAX_ENTRIES];
	pt_err e;
	char name[8];
	minimal_config(&c);
	c.blocks = bs;
	for (size_t i = 0; i < PT_MFT_MAX_ENTRIES; i++) {
		snprintf(name, sizeof(name), "d%zu", i);
		bs[i] = block(&a, name, NULL, 0);
	}
	c.nblocks = PT_MFT_MAX_ENTRIES - 1;
	assert_int_equal(ukcfg_validate(&c, &e), 0);
	c.nblocks = PT_MFT_MAX_ENTRIES;
	expect_refusal(&c, "at most 63 devices");
	c.nblocks = 0;
	c.nnets = 100000;  /* refused on the count alone, never read */
	expect_refusal(&c, "at most 63 devices");
	pt_arena_free(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validate_device_count),
		cmocka_unit_test(test_copy_full),
		cmocka_unit_test(test_copy_without_image),
		cmocka_unit_test(test_copy_empty),
		cmocka_unit_test(test_copy_null_text),
		cmocka_unit_test(test_copy_out_of_memory),
		cmocka_unit_test(test_apply_restart),
		cmocka_unit_test(test_apply_restart_replaces),
		cmocka_unit_test(test_effective_names),
		cmocka_unit_test(test_resources),
		cmocka_unit_test(test_validate_basics),
		cmocka_unit_test(test_validate_sector_sizes),
		cmocka_unit_test(test_validate_device_names),
		cmocka_unit_test(test_validate_duplicates),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
