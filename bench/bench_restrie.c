/*
 * Resource trie benchmark: a unikernel create check must cost O(depth),
 * not O(unikernels). Times the same create checks against a trie with 10
 * unikernels and against one with 100,000 unikernels over 10,000 paths
 * (policies on every path), and prints both figures and their ratio
 * (target: at most 2x). It only fails on a functional error, never on
 * timing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "restrie.h"
#include "loadavg.h"

#define CHECKS 200000
#define ROUNDS 5
#define TOP 100          /* 100 x 100 = 10,000 paths */
#define PER_PATH 10      /* 10 unikernels per path = 100,000 */

static int64_t cpus_all[] = {0, 1, 2, 3};
static pt_text bridges_all[] = {{"br0", 3}, {"service", 7}};

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what, const pt_err *err)
{
	fprintf(stderr, "bench_restrie: %s: %s\n", what, err->msg);
	exit(1);
}

static pt_name
name_of(const char *s)
{
	pt_name n;
	pt_err err;
	if (pt_name_parse_str(s, &n, &err) != 0)
		die(s, &err);
	return n;
}

static void
set_policy(pt_res *r, const char *path, int64_t uks, int64_t mem,
    int64_t block)
{
	pt_policy p = {.unikernels = uks, .memory = mem, .has_block = true,
	    .block = block, .ncpuids = 4, .cpuids = cpus_all, .nbridges = 2,
	    .bridges = bridges_all};
	pt_name n = name_of(path);
	pt_err err;
	if (pt_res_set_policy(r, &n, &p, &err) < 0)
		die(path, &err);
}

static void
add_uk(pt_res *r, const char *name)
{
	int64_t cpu = 1;
	pt_uk_res u = {.memory = 64, .ncpuids = 1, .cpuids = &cpu,
	    .nbridges = 1, .bridges = &bridges_all[1]};
	pt_name n = name_of(name);
	pt_err err;
	if (pt_res_add_unikernel(r, &n, &u, NULL, &err) != 0)
		die(name, &err);
}

static void
add_block(pt_res *r, const char *name)
{
	pt_name n = name_of(name);
	pt_err err;
	if (pt_res_add_block(r, &n, 10, &err) != 0)
		die(name, &err);
}

/* The path every check targets exists in both tries, with the same
 * policies, so only the rest of the trie differs. */
static void
setup_target(pt_res *r, bool big)
{
	set_policy(r, ":", 1000000, 100000000, 1000000);
	if (!big) {
		set_policy(r, "t42:", 2000, 200000, 2000);
		set_policy(r, "t42:u17:", 20, 2000, 100);
	}
	add_block(r, "t42:u17:disk");
}

static double
time_checks(const pt_res *r)
{
	int64_t cpu = 2;
	pt_text blk = {"disk", 4};
	pt_uk_res u = {.memory = 128, .ncpuids = 1, .cpuids = &cpu,
	    .nbridges = 1, .bridges = &bridges_all[0], .nblocks = 1,
	    .blocks = &blk};
	pt_name n = name_of("t42:u17:new");
	pt_err err;
	double best = 1e30;
	for (int round = 0; round < ROUNDS; round++) {
		double t0 = now();
		for (int i = 0; i < CHECKS; i++)
			if (pt_res_check_create(r, &n, &u, NULL, &err) != 0)
				die("check", &err);
		double t = now() - t0;
		if (t < best)
			best = t;
	}
	return best / CHECKS * 1e9;
}

int
main(void)
{
	char name[64];

	bench_load_start();
	pt_res *small = pt_res_new();
	if (small == NULL)
		return 1;
	setup_target(small, false);
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "t42:u17:uk%d", i);
		add_uk(small, name);
	}
	double ns_small = time_checks(small);
	pt_res_free(small);

	pt_res *big = pt_res_new();
	if (big == NULL)
		return 1;
	double t0 = now();
	setup_target(big, true);
	for (int t = 0; t < TOP; t++) {
		snprintf(name, sizeof(name), "t%d:", t);
		set_policy(big, name, 2000, 200000, 2000);
		for (int u = 0; u < TOP; u++) {
			snprintf(name, sizeof(name), "t%d:u%d:", t, u);
			set_policy(big, name, 20, 2000, 100);
			for (int k = 0; k < PER_PATH; k++) {
				snprintf(name, sizeof(name), "t%d:u%d:uk%d", t,
				    u, k);
				add_uk(big, name);
			}
		}
	}
	double build = now() - t0;
	size_t count = pt_res_unikernel_count(big);
	double ns_big = time_checks(big);
	t0 = now();
	pt_res_free(big);
	double teardown = now() - t0;

	printf("restrie: build of %zu unikernels over %d paths: %.3f s "
	    "(teardown %.3f s)\n", count, TOP * TOP, build, teardown);
	printf("restrie: create check with 10 unikernels:      %8.1f ns\n",
	    ns_small);
	printf("restrie: create check with %zu unikernels: %8.1f ns\n",
	    count, ns_big);
	printf("restrie: ratio %.2fx (target <= 2x)%s\n", ns_big / ns_small,
	    ns_big / ns_small <= 2.0 ? "" : "  ABOVE TARGET");
	return 0;
}
