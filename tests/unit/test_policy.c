/* Unit tests for policy.c: normalisation, usable, subset, equality, copies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy.h"

#define T(s) ((pt_text){(s), sizeof(s) - 1})

static void
test_sort_int64_unique(void **state)
{
	(void)state;
	int64_t v[] = {5, -1, 3, 5, 5, INT64_MAX, INT64_MIN, 3, 0};
	size_t n = sizeof(v) / sizeof(v[0]);
	pt_sort_int64_unique(v, &n);
	assert_int_equal(n, 6);
	int64_t want[] = {INT64_MIN, -1, 0, 3, 5, INT64_MAX};
	assert_memory_equal(v, want, sizeof(want));
	size_t zero = 0;
	pt_sort_int64_unique(NULL, &zero);
	assert_int_equal(zero, 0);
	int64_t one[] = {7};
	size_t n1 = 1;
	pt_sort_int64_unique(one, &n1);
	assert_int_equal(n1, 1);
}

static void
test_normalise(void **state)
{
	(void)state;
	int64_t cpus[] = {3, 1, 3, 0, 1};
	/* Byte-wise order as albatross emits it: "Zed" < "ext" < "service";
	 * a prefix sorts before its extensions. */
	pt_text br[] = {T("service"), T("ext"), T("Zed"), T("ext"), T("ex"),
	    T("service")};
	pt_policy p = {.unikernels = 1, .memory = 32, .ncpuids = 5,
	    .cpuids = cpus, .nbridges = 6, .bridges = br};
	pt_policy_normalise(&p);
	assert_int_equal(p.ncpuids, 3);
	assert_int_equal(cpus[0], 0);
	assert_int_equal(cpus[1], 1);
	assert_int_equal(cpus[2], 3);
	assert_int_equal(p.nbridges, 4);
	assert_string_equal(br[0].s, "Zed");
	assert_string_equal(br[1].s, "ex");
	assert_string_equal(br[2].s, "ext");
	assert_string_equal(br[3].s, "service");
	/* Empty sets stay empty. */
	pt_policy e = {0};
	pt_policy_normalise(&e);
	assert_int_equal(e.ncpuids, 0);
	assert_int_equal(e.nbridges, 0);
}

static void
expect_unusable(const pt_policy *p, const char *msg)
{
	pt_err err = {{0}};
	assert_int_equal(pt_policy_usable(p, &err), -1);
	assert_string_equal(err.msg, msg);
}

static void
test_usable(void **state)
{
	(void)state;
	int64_t cpus[] = {0};
	int64_t neg[] = {0, -1};
	pt_text br[] = {T("br0")};
	pt_text empty[] = {T("br0"), T("")};
	pt_policy p = {.unikernels = 1, .memory = 17, .ncpuids = 1,
	    .cpuids = cpus, .nbridges = 1, .bridges = br};
	pt_err err = {{0}};
	assert_int_equal(pt_policy_usable(&p, &err), 0);
	p.has_block = true;
	p.block = 0;
	assert_int_equal(pt_policy_usable(&p, &err), 0);
	p.nbridges = 0; /* no bridges is fine */
	assert_int_equal(pt_policy_usable(&p, &err), 0);

	pt_policy q = p;
	q.unikernels = 0;
	expect_unusable(&q, "policy allows no unikernels (0)");
	q.unikernels = -3;
	expect_unusable(&q, "policy allows no unikernels (-3)");
	q = p;
	q.ncpuids = 0;
	expect_unusable(&q, "policy allows no CPU");
	q = p;
	q.memory = 16;
	expect_unusable(&q,
	    "policy memory 16 MB is too small (more than 16 needed)");
	q = p;
	q.block = -1;
	expect_unusable(&q, "policy block storage -1 MB is negative");
	q.has_block = false; /* a missing block ignores the field */
	assert_int_equal(pt_policy_usable(&q, &err), 0);
	q = p;
	q.cpuids = neg;
	q.ncpuids = 2;
	expect_unusable(&q, "policy CPU id -1 is negative");
	q = p;
	q.bridges = empty;
	q.nbridges = 2;
	expect_unusable(&q, "policy has an empty bridge name");
}

static void
expect_not_smaller(const pt_policy *s, const pt_policy *b, const char *msg)
{
	pt_err err = {{0}};
	assert_int_equal(pt_policy_is_smaller(s, b, &err), -1);
	assert_string_equal(err.msg, msg);
}

static void
test_is_smaller(void **state)
{
	(void)state;
	int64_t bigcpus[] = {0, 1, 2, 3};
	int64_t smallcpus[] = {3, 1};
	int64_t othercpu[] = {1, 4};
	pt_text bigbr[] = {T("br0"), T("ext"), T("service")};
	pt_text smallbr[] = {T("service")};
	pt_text otherbr[] = {T("br0"), T("br1")};
	pt_policy big = {.unikernels = 10, .memory = 1024, .has_block = true,
	    .block = 500, .ncpuids = 4, .cpuids = bigcpus, .nbridges = 3,
	    .bridges = bigbr};
	pt_policy small = {.unikernels = 10, .memory = 1024,
	    .has_block = true, .block = 500, .ncpuids = 2,
	    .cpuids = smallcpus, .nbridges = 1, .bridges = smallbr};
	pt_err err = {{0}};
	/* Equal limits fit (a subset, not a strict one). */
	assert_int_equal(pt_policy_is_smaller(&small, &big, &err), 0);
	assert_int_equal(pt_policy_is_smaller(&big, &big, &err), 0);
	expect_not_smaller(&big, &small, "allows CPU 0, which is not allowed");

	pt_policy s = small;
	s.unikernels = 11;
	expect_not_smaller(&s, &big, "allows 11 unikernels, more than 10");
	s = small;
	s.memory = 1025;
	expect_not_smaller(&s, &big,
	    "allows memory 1025 MB, more than 1024 MB");
	s = small;
	s.block = 501;
	expect_not_smaller(&s, &big,
	    "allows block storage 501 MB, more than 500 MB");
	/* No block storage is within any block budget, and within none. */
	s = small;
	s.has_block = false;
	assert_int_equal(pt_policy_is_smaller(&s, &big, &err), 0);
	pt_policy b = big;
	b.has_block = false;
	assert_int_equal(pt_policy_is_smaller(&s, &b, &err), 0);
	expect_not_smaller(&small, &b,
	    "allows block storage 500 MB, where none is allowed");
	s = small;
	s.cpuids = othercpu;
	expect_not_smaller(&s, &big, "allows CPU 4, which is not allowed");
	s = small;
	s.bridges = otherbr;
	s.nbridges = 2;
	expect_not_smaller(&s, &big,
	    "allows bridge br1, which is not allowed");
	/* Empty sets are subsets of anything. */
	s = small;
	s.ncpuids = 0;
	s.nbridges = 0;
	assert_int_equal(pt_policy_is_smaller(&s, &big, &err), 0);
}

static void
test_equal_and_has(void **state)
{
	(void)state;
	int64_t c1[] = {0, 1, 2};
	int64_t c2[] = {2, 0, 1, 1};
	int64_t c3[] = {0, 1};
	pt_text b1[] = {T("a"), T("b")};
	pt_text b2[] = {T("b"), T("a")};
	pt_text b3[] = {T("a"), T("bb")};
	pt_policy a = {.unikernels = 2, .memory = 64, .has_block = false,
	    .block = 5, .ncpuids = 3, .cpuids = c1, .nbridges = 2,
	    .bridges = b1};
	pt_policy b = a;
	b.cpuids = c2;
	b.ncpuids = 4;
	b.bridges = b2;
	b.block = 99; /* ignored: no block */
	assert_true(pt_policy_equal(&a, &b));
	b.has_block = true;
	assert_false(pt_policy_equal(&a, &b));
	a.has_block = true;
	a.block = 99;
	assert_true(pt_policy_equal(&a, &b));
	b.block = 98;
	assert_false(pt_policy_equal(&a, &b));
	b = a;
	b.unikernels = 3;
	assert_false(pt_policy_equal(&a, &b));
	b = a;
	b.memory = 65;
	assert_false(pt_policy_equal(&a, &b));
	b = a;
	b.cpuids = c3;
	b.ncpuids = 2;
	assert_false(pt_policy_equal(&a, &b));
	assert_false(pt_policy_equal(&b, &a));
	b = a;
	b.bridges = b3;
	assert_false(pt_policy_equal(&a, &b));

	assert_true(pt_policy_has_cpu(&a, 2));
	assert_false(pt_policy_has_cpu(&a, 3));
	assert_false(pt_policy_has_cpu(&a, -1));
	assert_true(pt_policy_has_bridge(&a, "b", 1));
	assert_false(pt_policy_has_bridge(&a, "bb", 2));
	assert_false(pt_policy_has_bridge(&a, "", 0));
	/* Length-delimited: "ab" with n = 1 is "a". */
	assert_true(pt_policy_has_bridge(&a, "ab", 1));
}

static void
test_dup(void **state)
{
	(void)state;
	int64_t cpus[] = {4, 2};
	char name1[] = "br0";
	char name2[] = "service";
	pt_text br[] = {{name1, 3}, {name2, 7}};
	pt_policy p = {.unikernels = 3, .memory = 100, .has_block = true,
	    .block = 7, .ncpuids = 2, .cpuids = cpus, .nbridges = 2,
	    .bridges = br};
	pt_policy *c = pt_policy_dup(&p);
	assert_non_null(c);
	/* A deep copy: changing the source does not change it. */
	cpus[0] = 9;
	name1[0] = 'X';
	assert_int_equal(c->cpuids[0], 4);
	assert_int_equal(c->cpuids[1], 2);
	assert_string_equal(c->bridges[0].s, "br0");
	assert_string_equal(c->bridges[1].s, "service");
	assert_int_equal(c->bridges[1].len, 7);
	assert_int_equal(c->unikernels, 3);
	assert_true(c->has_block);
	assert_int_equal(c->block, 7);
	pt_policy_normalise(c);
	assert_int_equal(c->cpuids[0], 2);
	pt_policy_free(c);

	pt_policy empty = {.unikernels = 1, .memory = 20};
	c = pt_policy_dup(&empty);
	assert_non_null(c);
	assert_null(c->cpuids);
	assert_null(c->bridges);
	assert_true(pt_policy_equal(c, &empty));
	pt_policy_free(c);
	pt_policy_free(NULL);

	/* Sizes that would overflow are refused, not wrapped. */
	pt_policy huge = {.ncpuids = SIZE_MAX / 4, .cpuids = cpus};
	assert_null(pt_policy_dup(&huge));
	pt_text bad[] = {{"x", SIZE_MAX - 8}};
	pt_policy hb = {.nbridges = 1, .bridges = bad};
	assert_null(pt_policy_dup(&hb));
}

/* A stored policy on a smaller host: narrowed in every dimension the host
 * bounds, bridges kept (they come up while the host runs), the source
 * untouched. */
static void
test_clamp(void **state)
{
	(void)state;
	int64_t cpus[] = {0, 1, 2, 3, 7};
	pt_text br[] = {T("br0"), T("late")};
	pt_policy p = {.unikernels = 10, .memory = 4096, .has_block = true,
	    .block = 1000, .ncpuids = 5, .cpuids = cpus, .nbridges = 2,
	    .bridges = br};
	int64_t hcpus[] = {0, 1};
	pt_text hbr[] = {T("br0")};
	pt_policy host = {.unikernels = INT64_MAX >> 1, .memory = 1024,
	    .has_block = true, .block = 100, .ncpuids = 2, .cpuids = hcpus,
	    .nbridges = 1, .bridges = hbr};
	pt_policy *c = pt_policy_clamp(&p, &host);
	assert_non_null(c);
	assert_int_equal(c->unikernels, 10);
	assert_int_equal(c->memory, 1024);
	assert_true(c->has_block);
	assert_int_equal(c->block, 100);
	assert_int_equal(c->ncpuids, 2);
	assert_int_equal(c->cpuids[0], 0);
	assert_int_equal(c->cpuids[1], 1);
	assert_int_equal(c->nbridges, 2);
	assert_string_equal(c->bridges[1].s, "late");
	assert_int_equal(p.ncpuids, 5);
	assert_int_equal(p.memory, 4096);
	pt_policy_free(c);

	/* Nothing in common: no CPU left (refuses every create); no block
	 * storage on the host: none in the clamp. */
	int64_t other[] = {5};
	host.ncpuids = 1;
	host.cpuids = other;
	host.has_block = false;
	host.unikernels = 3;
	c = pt_policy_clamp(&p, &host);
	assert_non_null(c);
	assert_int_equal(c->ncpuids, 0);
	assert_false(c->has_block);
	assert_int_equal(c->unikernels, 3);
	pt_err err = {{0}};
	assert_int_equal(pt_policy_is_smaller(c, &host, &err), -1);  /* bridge */
	pt_policy_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sort_int64_unique),
		cmocka_unit_test(test_normalise),
		cmocka_unit_test(test_usable),
		cmocka_unit_test(test_is_smaller),
		cmocka_unit_test(test_equal_and_has),
		cmocka_unit_test(test_dup),
		cmocka_unit_test(test_clamp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
