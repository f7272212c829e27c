/* Unit tests for petrel-stats's parsers: /proc/<pid>/stat, status, io
 * (recorded from a real process, then mangled) and KVM's binary
 * statistics (bytes built here the way the kernel lays them out). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

/* A solo5-hvt's stat, its comm made hostile: spaces and ')'. */
static const char STAT[] =
    "4242 (solo5) (hvt x) S 1 4242 4242 0 -1 4194560 1234 0 3 0 "
    "250 75 0 0 20 0 2 0 987654 52428800 3000 18446744073709551615 1 1 0 "
    "0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

static const char STATUS[] =
    "Name:\tsolo5-hvt\nUmask:\t0022\nState:\tS (sleeping)\n"
    "VmPeak:\t   51200 kB\nVmSize:\t   51200 kB\nVmHWM:\t   12100 kB\n"
    "VmRSS:\t   12000 kB\nVmData:\t    8192 kB\nVmStk:\t     132 kB\n"
    "VmExe:\t     400 kB\nThreads:\t2\n"
    "voluntary_ctxt_switches:\t77\nnonvoluntary_ctxt_switches:\t5\n";

static const char IO[] =
    "rchar: 6976\nwchar: 100\nsyscr: 10\nsyscw: 1\nread_bytes: 1048576\n"
    "write_bytes: 4096\ncancelled_write_bytes: 0\n";

static void
test_proc_stat(void **state)
{
	(void)state;
	pt_procinfo p;
	memset(&p, 0, sizeof(p));
	pt_err err;
	assert_int_equal(pt_proc_parse_stat(STAT, strlen(STAT), &p, &err), 0);
	assert_int_equal(p.minflt, 1234);
	assert_int_equal(p.majflt, 3);
	assert_int_equal(p.utime_ticks, 250);
	assert_int_equal(p.stime_ticks, 75);
	assert_int_equal(p.start_ticks, 987654);
	assert_int_equal(p.vsize_bytes, 52428800);
	assert_int_equal(p.rss_pages, 3000);
}

static void
test_proc_stat_rejects(void **state)
{
	(void)state;
	pt_procinfo p;
	pt_err err;
	/* No ')' at all, cut short, a field that is no number. */
	assert_int_equal(pt_proc_parse_stat("4242 solo5 S 1", 14, &p, &err),
	    -1);
	assert_int_equal(pt_proc_parse_stat(STAT, 60, &p, &err), -1);
	char bad[sizeof(STAT)];
	memcpy(bad, STAT, sizeof(STAT));
	char *u = strstr(bad, " 250 ");
	u[1] = 'x';
	assert_int_equal(pt_proc_parse_stat(bad, strlen(bad), &p, &err), -1);
	assert_non_null(strstr(err.msg, "field 14"));
	assert_int_equal(pt_proc_parse_stat("", 0, &p, &err), -1);
}

static void
test_proc_status_and_io(void **state)
{
	(void)state;
	pt_procinfo p;
	memset(&p, 0, sizeof(p));
	pt_err err;
	assert_int_equal(pt_proc_parse_status(STATUS, strlen(STATUS), &p,
	    &err), 0);
	assert_int_equal(p.vm_hwm_kb, 12100);
	assert_int_equal(p.vm_rss_kb, 12000);
	assert_int_equal(p.vm_data_kb, 8192);
	assert_int_equal(p.vm_stk_kb, 132);
	assert_int_equal(p.vm_exe_kb, 400);
	assert_int_equal(p.nvcsw, 77);
	assert_int_equal(p.nivcsw, 5);
	assert_int_equal(pt_proc_parse_io(IO, strlen(IO), &p, &err), 0);
	assert_true(p.has_io);
	assert_int_equal(p.read_bytes, 1048576);
	assert_int_equal(p.write_bytes, 4096);
	/* Without the context switches status is refused; io without its
	 * two lines too. */
	assert_int_equal(pt_proc_parse_status("VmRSS:\t1 kB\n", 12, &p, &err),
	    -1);
	assert_int_equal(pt_proc_parse_io("rchar: 1\n", 9, &p, &err), -1);
	assert_false(p.has_io);
}

static void
test_proc_mapping(void **state)
{
	(void)state;
	pt_procinfo p;
	memset(&p, 0, sizeof(p));
	assert_int_equal(pt_proc_parse_stat(STAT, strlen(STAT), &p, NULL), 0);
	assert_int_equal(pt_proc_parse_status(STATUS, strlen(STATUS), &p,
	    NULL), 0);
	assert_int_equal(pt_proc_parse_io(IO, strlen(IO), &p, NULL), 0);
	pt_rusage ru;
	pt_kinfo_mem km;
	pt_proc_to_rusage(&p, 100, &ru);
	assert_int_equal(ru.utime.sec, 2);
	assert_int_equal(ru.utime.usec, 500000);
	assert_int_equal(ru.stime.sec, 0);
	assert_int_equal(ru.stime.usec, 750000);
	assert_int_equal(ru.maxrss, 12100);
	assert_int_equal(ru.minflt, 1234);
	assert_int_equal(ru.majflt, 3);
	assert_int_equal(ru.inblock, 2048);
	assert_int_equal(ru.outblock, 8);
	assert_int_equal(ru.nvcsw, 77);
	assert_int_equal(ru.nivcsw, 5);
	assert_int_equal(ru.ixrss + ru.idrss + ru.isrss + ru.nswap +
	    ru.msgsnd + ru.msgrcv + ru.nsignals, 0);
	pt_proc_to_kinfo(&p, 100, 4, 1700000000, &km);
	assert_int_equal(km.vsize, 52428800);
	assert_int_equal(km.rss, 3000);
	assert_int_equal(km.tsize, 100);
	assert_int_equal(km.dsize, 2048);
	assert_int_equal(km.ssize, 33);
	assert_int_equal(km.runtime, 3250000);
	assert_int_equal(km.cow, 0);
	assert_int_equal(km.start.sec, 1700000000 + 9876);
	assert_int_equal(km.start.usec, 540000);
}

/* Counters parsed from hostile text saturate instead of overflowing (the
 * fuzzer's find: 18446744073709551 ticks times 10^6). */
static void
test_proc_mapping_saturates(void **state)
{
	(void)state;
	pt_procinfo p;
	memset(&p, 0, sizeof(p));
	p.utime_ticks = INT64_MAX / 2;
	p.stime_ticks = INT64_MAX / 2 + 10;
	p.start_ticks = INT64_MAX;
	pt_kinfo_mem km;
	pt_proc_to_kinfo(&p, 100, 4, INT64_MAX - 5, &km);
	assert_true(km.runtime == INT64_MAX);
	assert_true(km.start.sec == INT64_MAX);
	p.utime_ticks = -5;
	p.stime_ticks = 250;
	pt_proc_to_kinfo(&p, 100, 4, 0, &km);
	assert_int_equal(km.runtime, 2500000);
	pt_rusage ru;
	pt_proc_to_rusage(&p, INT64_MAX, &ru);
	assert_int_equal(ru.utime.sec, 0);
	assert_int_equal(ru.stime.usec, 0);
}

/* ---- KVM binary statistics ---- */

static void
put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void
put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

#define NAME_SIZE 48
#define DESC_SIZE (16 + NAME_SIZE)

/* A stats file: header, id, descriptors, data. Returns its size. */
static size_t
build(uint8_t *buf, size_t cap, const char *const *names,
    const uint32_t *flags, const uint16_t *sizes, size_t n,
    const uint64_t *values)
{
	memset(buf, 0, cap);
	uint32_t id_off = 24, desc_off = id_off + NAME_SIZE;
	uint32_t data_off = desc_off + (uint32_t)n * DESC_SIZE;
	put32(buf + 0, 0);
	put32(buf + 4, NAME_SIZE);
	put32(buf + 8, (uint32_t)n);
	put32(buf + 12, id_off);
	put32(buf + 16, desc_off);
	put32(buf + 20, data_off);
	memcpy(buf + id_off, "kvm-4242/vm", 11);
	uint32_t off = 0;
	size_t v = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t *d = buf + desc_off + i * DESC_SIZE;
		put32(d, flags[i]);
		put16(d + 4, 0);
		put16(d + 6, sizes[i]);
		put32(d + 8, off);
		put32(d + 12, 0);
		strncpy((char *)d + 16, names[i], NAME_SIZE);
		for (uint16_t k = 0; k < sizes[i]; k++)
			memcpy(buf + data_off + off + 8 * k, &values[v++], 8);
		off += 8u * sizes[i];
	}
	return data_off + off;
}

static const char *const NAMES[] = {"exits", "halt_poll_fail_hist",
    "io_exits", "max_mmu_page_hash_collisions"};
/* cumulative, linear histogram (skipped), cumulative, peak */
static const uint32_t FLAGS[] = {0x0, 0x3, 0x0, 0x2};
static const uint16_t SIZES[] = {1, 3, 1, 1};
static const uint64_t VALUES[] = {1000, 1, 2, 3, 42, 7};

static void
test_kvm_layout_and_values(void **state)
{
	(void)state;
	uint8_t buf[1024];
	size_t n = build(buf, sizeof(buf), NAMES, FLAGS, SIZES, 4, VALUES);
	pt_kvm_layout l;
	size_t need;
	pt_err err;
	assert_int_equal(pt_kvm_parse_layout(buf, n, &l, &need, &err), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.v[0].name, "exits");
	assert_string_equal(l.v[1].name, "io_exits");
	assert_string_equal(l.v[2].name, "max_mmu_page_hash_collisions");
	assert_int_equal(l.data_size, 6 * 8);
	pt_kvm_stat acc[3];
	memset(acc, 0, sizeof(acc));
	const uint8_t *data = buf + l.data_offset;
	assert_int_equal(pt_kvm_read_values(&l, data, l.data_size, acc, &err),
	    0);
	/* A second vCPU: summed. */
	assert_int_equal(pt_kvm_read_values(&l, data, l.data_size, acc, &err),
	    0);
	assert_string_equal(acc[0].name, "exits");
	assert_int_equal(acc[0].value, 2000);
	assert_int_equal(acc[1].value, 84);
	assert_int_equal(acc[2].value, 14);
	assert_int_equal(pt_kvm_read_values(&l, data, l.data_size - 1, acc,
	    &err), -1);
	pt_kvm_layout_free(&l);
}

static void
test_kvm_truncated_and_malformed(void **state)
{
	(void)state;
	uint8_t buf[1024];
	size_t n = build(buf, sizeof(buf), NAMES, FLAGS, SIZES, 4, VALUES);
	pt_kvm_layout l;
	size_t need;
	pt_err err;
	/* Short reads say how much a complete one needs. */
	assert_int_equal(pt_kvm_parse_layout(buf, 10, &l, &need, &err), -1);
	assert_int_equal(need, 24);
	assert_int_equal(pt_kvm_parse_layout(buf, 100, &l, &need, &err), -1);
	assert_int_equal(need, 24 + NAME_SIZE + 4 * DESC_SIZE);
	/* Implausible header fields are refused, not followed. */
	uint8_t bad[1024];
	memcpy(bad, buf, n);
	put32(bad + 8, 1u << 30);
	assert_int_equal(pt_kvm_parse_layout(bad, n, &l, &need, &err), -1);
	assert_int_equal(need, 0);
	memcpy(bad, buf, n);
	put32(bad + 16, 4);  /* descriptors inside the header */
	assert_int_equal(pt_kvm_parse_layout(bad, n, &l, &need, &err), -1);
	memcpy(bad, buf, n);
	put32(bad + 24 + NAME_SIZE + 8, 3);  /* a misaligned value */
	assert_int_equal(pt_kvm_parse_layout(bad, n, &l, &need, &err), -1);
	memcpy(bad, buf, n);
	put32(bad + 24 + NAME_SIZE + 8, 0xfffffff8u);  /* beyond 4 GiB */
	put16(bad + 24 + NAME_SIZE + 6, 2);
	assert_int_equal(pt_kvm_parse_layout(bad, n, &l, &need, &err), -1);
	/* A name without NUL in its field is cut, not overrun. */
	memcpy(bad, buf, n);
	memset(bad + 24 + NAME_SIZE + 16, 'a', NAME_SIZE);
	assert_int_equal(pt_kvm_parse_layout(bad, n, &l, &need, &err), 0);
	assert_int_equal(strlen(l.v[0].name), NAME_SIZE);
	pt_kvm_layout_free(&l);
	/* No descriptors at all is a valid, empty file. */
	n = build(buf, sizeof(buf), NAMES, FLAGS, SIZES, 0, VALUES);
	assert_int_equal(pt_kvm_parse_layout(buf, n, &l, &need, &err), 0);
	assert_int_equal(l.n, 0);
	pt_kvm_layout_free(&l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proc_stat),
		cmocka_unit_test(test_proc_stat_rejects),
		cmocka_unit_test(test_proc_status_and_io),
		cmocka_unit_test(test_proc_mapping),
		cmocka_unit_test(test_proc_mapping_saturates),
		cmocka_unit_test(test_kvm_layout_and_values),
		cmocka_unit_test(test_kvm_truncated_and_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
