/* Unit tests for capacity.c: how many unikernels a descriptor limit,
 * a bridge and a cgroup's pids.max allow, and the cgroup files' parsers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "capacity.h"

static void
test_fd_capacity(void **state)
{
	(void)state;
	/* docs/limits.md's table. */
	assert_int_equal(pt_fd_capacity(1024, PT_FDS_PER_UNIKERNEL,
	    PT_FDS_RESERVE), 480);
	assert_int_equal(pt_fd_capacity(65536, 2, 64), 32736);
	assert_int_equal(pt_fd_capacity(300, 2, 64), 118);
	assert_int_equal(pt_fd_capacity(301, 2, 64), 118);
	assert_int_equal(pt_fd_capacity(302, 2, 64), 119);
	/* Not even the reserve: none. */
	assert_int_equal(pt_fd_capacity(64, 2, 64), 0);
	assert_int_equal(pt_fd_capacity(10, 2, 64), 0);
	assert_int_equal(pt_fd_capacity(0, 2, 0), 0);
	assert_int_equal(pt_fd_capacity(100, 0, 10), 0);
	assert_int_equal(pt_fd_capacity(1024, PT_CONSOLE_FDS_PER_UNIKERNEL,
	    PT_CONSOLE_FDS_RESERVE), 960);
	assert_true(pt_fd_capacity(UINT64_MAX, 1, 0) > 0);
}

static void
test_bridge_ports(void **state)
{
	(void)state;
	assert_int_equal(PT_BRIDGE_MAX_PORTS, 1023);
	assert_true(pt_bridge_ports_fit(0, 1, PT_BRIDGE_MAX_PORTS));
	assert_true(pt_bridge_ports_fit(1022, 1, PT_BRIDGE_MAX_PORTS));
	/* The 1024th port is what the kernel refuses (EXFULL). */
	assert_false(pt_bridge_ports_fit(1023, 1, PT_BRIDGE_MAX_PORTS));
	assert_false(pt_bridge_ports_fit(1022, 2, PT_BRIDGE_MAX_PORTS));
	assert_true(pt_bridge_ports_fit(1023, 0, PT_BRIDGE_MAX_PORTS));
	assert_false(pt_bridge_ports_fit(5000, 0, PT_BRIDGE_MAX_PORTS));
	assert_false(pt_bridge_ports_fit(1, SIZE_MAX, PT_BRIDGE_MAX_PORTS));
}

static void
test_tender_tasks(void **state)
{
	(void)state;
	assert_int_equal(pt_tender_tasks(false, 0), 1);
	assert_int_equal(pt_tender_tasks(false, 3), 1);
	assert_int_equal(pt_tender_tasks(true, 0), 2);
	assert_int_equal(pt_tender_tasks(true, 2), 3);
}

static int
pids_path(const char *text, char *out, bool *v2)
{
	return pt_cgroup_pids_path(text, strlen(text), out, 64, v2);
}

static void
test_cgroup_path(void **state)
{
	(void)state;
	char p[64];
	bool v2 = false;
	/* cgroup v2 only. */
	assert_int_equal(pids_path("0::/system.slice/petreld.service\n", p,
	    &v2), 0);
	assert_string_equal(p, "/system.slice/petreld.service");
	assert_true(v2);
	/* Hybrid: the v1 pids hierarchy wins over the unified line. */
	const char *hybrid = "9:name=systemd:/\n8:pids:/a/b\n"
	    "4:memory:/m\n0::/u\n";
	assert_int_equal(pids_path(hybrid, p, &v2), 0);
	assert_string_equal(p, "/a/b");
	assert_false(v2);
	/* A controller list, without a final newline. */
	assert_int_equal(pids_path("3:cpu,pids,memory:/x", p, &v2), 0);
	assert_string_equal(p, "/x");
	assert_false(v2);
	assert_int_equal(pids_path("0::/", p, &v2), 0);
	assert_string_equal(p, "/");
	/* "pidsx" is not "pids"; no v2 line: nothing. */
	assert_int_equal(pids_path("3:pidsx:/x\n", p, &v2), -1);
	assert_int_equal(pids_path("", p, &v2), -1);
	assert_int_equal(pids_path("garbage\n::\n", p, &v2), -1);
	/* Unsafe or too long paths. */
	assert_int_equal(pids_path("0::/a/../../etc\n", p, &v2), -1);
	assert_int_equal(pids_path("0::relative\n", p, &v2), -1);
	assert_int_equal(pids_path("0::\n", p, &v2), -1);
	char long_line[200];
	memset(long_line, 'a', sizeof(long_line));
	memcpy(long_line, "0::/", 4);
	long_line[sizeof(long_line) - 1] = '\0';
	assert_int_equal(pids_path(long_line, p, &v2), -1);
	/* A NUL inside the text. */
	const char nul[] = "0::/a\0b\n";
	assert_int_equal(pt_cgroup_pids_path(nul, sizeof(nul) - 1, p, 64,
	    &v2), -1);
	/* "..." and ".x" are names, not climbs. */
	assert_int_equal(pids_path("0::/.../.x\n", p, &v2), 0);
	assert_string_equal(p, "/.../.x");
}

static void
test_pids_parse(void **state)
{
	(void)state;
	uint64_t v;
	bool unlimited;
	assert_int_equal(pt_pids_parse("max\n", 4, &v, &unlimited), 0);
	assert_true(unlimited);
	assert_int_equal(pt_pids_parse("42\n", 3, &v, &unlimited), 0);
	assert_false(unlimited);
	assert_int_equal(v, 42);
	assert_int_equal(pt_pids_parse("0", 1, &v, &unlimited), 0);
	assert_int_equal(v, 0);
	assert_int_equal(pt_pids_parse("", 0, &v, &unlimited), -1);
	assert_int_equal(pt_pids_parse("\n", 1, &v, &unlimited), -1);
	assert_int_equal(pt_pids_parse("-1", 2, &v, &unlimited), -1);
	assert_int_equal(pt_pids_parse("12a", 3, &v, &unlimited), -1);
	assert_int_equal(pt_pids_parse("maxx", 4, &v, &unlimited), -1);
	assert_int_equal(pt_pids_parse("99999999999999999999", 20, &v,
	    &unlimited), -1);
	assert_int_equal(pt_pids_headroom(10, 4), 6);
	assert_int_equal(pt_pids_headroom(10, 10), 0);
	/* pids.current can exceed a pids.max lowered below it. */
	assert_int_equal(pt_pids_headroom(10, 12), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fd_capacity),
		cmocka_unit_test(test_bridge_ports),
		cmocka_unit_test(test_tender_tasks),
		cmocka_unit_test(test_cgroup_path),
		cmocka_unit_test(test_pids_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
