/* Unit tests for petrel-stats's renderers: the §6.8 record, the
 * Prometheus text exposition and albatross_influx's line protocol. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

static pt_sm_if tap;
static pt_kvm_stat kvm[2];

static void
sample(pt_sm_uk *u, const char *name)
{
	memset(u, 0, sizeof(*u));
	assert_int_equal(pt_name_parse_str(name, &u->name, NULL), 0);
	u->pid = 4242;
	u->ok = true;
	u->ru.utime.sec = 2;
	u->ru.utime.usec = 500000;
	u->ru.stime.usec = 750000;
	u->ru.maxrss = 12100;
	u->ru.minflt = 1234;
	u->ru.majflt = 3;
	u->ru.nvcsw = 77;
	u->ru.nivcsw = 5;
	u->km.vsize = 52428800;
	u->km.rss = 3000;
	u->km.runtime = 3250000;
	u->km.start.sec = 1700000000;
	u->rss_bytes = 12288000;
	u->vsize_bytes = 52428800;
	u->start_s = 1700000000.0;
	memset(&tap, 0, sizeof(tap));
	strcpy(tap.tap, "vmmtap0");
	strcpy(tap.bridge, "br0");
	strcpy(tap.net, "service");
	tap.found = true;
	tap.rx_packets = 10;
	tap.rx_bytes = 840;
	tap.tx_packets = 5;
	tap.tx_bytes = 1000;
	tap.mtu = 1500;
	u->nif = 1;
	u->ifs = &tap;
	strcpy(kvm[0].name, "exits");
	kvm[0].value = 1000;
	strcpy(kvm[1].name, "io exits,x=y");
	kvm[1].value = 7;
	u->has_vmm = true;
	u->nvmm = 2;
	u->vmm = kvm;
}

static char *
text(pt_buf *b)
{
	pt_buf_append_byte(b, 0);
	return (char *)b->data;
}

static void
test_stats_record(void **state)
{
	(void)state;
	pt_sm_uk u;
	sample(&u, "a:web");
	pt_arena a = {0};
	pt_stats s;
	assert_int_equal(pt_sm_to_stats(&u, &a, &s), 0);
	assert_int_equal(s.nifdata, 1);
	assert_int_equal(s.ifdata[0].bridge.len, 7);
	assert_memory_equal(s.ifdata[0].bridge.s, "service", 7);
	assert_int_equal(s.ifdata[0].input_packets, 10);
	assert_int_equal(s.ifdata[0].output_bytes, 1000);
	assert_true(s.has_kinfo && s.has_vmm);
	assert_int_equal(s.nvmm, 2);
	/* The record encodes (the codec's own checks). */
	pt_wire w = {.kind = PT_PAYLOAD_DATA};
	pt_header_init(&w.header, 0, &u.name);
	w.u.data.kind = PT_DATA_STATS;
	w.u.data.u.stats = s;
	pt_buf out = {0};
	assert_int_equal(pt_wire_encode(&w, &out, NULL), 0);
	pt_buf_free(&out);
	/* A tap not in the dump is left out. */
	tap.found = false;
	assert_int_equal(pt_sm_to_stats(&u, &a, &s), 0);
	assert_int_equal(s.nifdata, 0);
	pt_arena_free(&a);
}

static void
test_prometheus(void **state)
{
	(void)state;
	pt_sm_uk u;
	sample(&u, "a:web");
	pt_sm_uk *uks[] = {&u};
	pt_sm_path paths[2];
	memset(paths, 0, sizeof(paths));
	pt_name_root(&paths[0].path);
	assert_int_equal(pt_name_parse_str("a:", &paths[1].path, NULL), 0);
	paths[1].has_policy = true;
	paths[1].policy.unikernels = 3;
	paths[1].policy.memory = 200;
	paths[1].policy.ncpuids = 2;
	paths[1].unikernels = 1;
	paths[1].memory_mb = 32;
	paths[1].cpus = 1;
	pt_sm_round r = {.nuk = 1, .uks = uks, .npath = 2, .paths = paths,
	    .rounds = 9};
	pt_buf b = {0};
	assert_int_equal(pt_render_prometheus(&r, &b), 0);
	const char *t = text(&b);
	static const char *const want[] = {
		"# HELP petrel_unikernel_cpu_seconds_total ",
		"# TYPE petrel_unikernel_cpu_seconds_total counter\n"
		"petrel_unikernel_cpu_seconds_total{name=\"a:web\",path=\"a:\","
		"mode=\"user\"} 2.5\n"
		"petrel_unikernel_cpu_seconds_total{name=\"a:web\",path=\"a:\","
		"mode=\"system\"} 0.75\n",
		"petrel_unikernel_memory_rss_bytes{name=\"a:web\",path=\"a:\"} "
		"12288000\n",
		"petrel_interface_receive_bytes_total{name=\"a:web\",path=\"a:\","
		"interface=\"vmmtap0\",network=\"service\",bridge=\"br0\"} 840\n",
		"petrel_unikernel_kvm_stat{name=\"a:web\",path=\"a:\","
		"stat=\"exits\"} 1000\n",
		"petrel_path_unikernels{path=\":\"} 1\n",
		"petrel_path_unikernels{path=\"a:\"} 1\n",
		"petrel_path_memory_rss_bytes{path=\"a:\"} 12288000\n",
		"petrel_path_memory_configured_bytes{path=\"a:\"} 33554432\n",
		"petrel_path_unikernels_limit{path=\"a:\"} 3\n",
		"petrel_path_memory_limit_bytes{path=\"a:\"} 209715200\n",
		"petrel_path_cpus_limit{path=\"a:\"} 2\n",
		"petrel_stats_rounds_total 9\n",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (strstr(t, want[i]) == NULL)
			fail_msg("missing: %s\nin:\n%s", want[i], t);
	/* No limits for a path without a policy. */
	assert_null(strstr(t, "petrel_path_unikernels_limit{path=\":\"}"));
	/* Every counter family ends in _total. */
	for (const char *p = t; (p = strstr(p, "# TYPE ")) != NULL; p++) {
		const char *eol = strchr(p, '\n');
		if (eol - p > 8 && strncmp(eol - 8, " counter", 8) == 0) {
			const char *sp = strchr(p + 7, ' ');
			assert_true(sp - p > 13);
			assert_memory_equal(sp - 6, "_total", 6);
		}
	}
	pt_buf_free(&b);
}

static void
test_prometheus_escapes(void **state)
{
	(void)state;
	pt_buf b = {0};
	pt_prom_escape(&b, "a\"b\\c\nd", 7);
	assert_string_equal(text(&b), "a\\\"b\\\\c\\nd");
	pt_buf_free(&b);
	pt_buf c = {0};
	pt_influx_escape(&c, "a b,c=d\ne", 9);
	assert_string_equal(text(&c), "a\\ b\\,c\\=d_e");
	pt_buf_free(&c);
}

static void
test_influx_lines(void **state)
{
	(void)state;
	pt_sm_uk u;
	sample(&u, "a:web");
	pt_buf b = {0};
	int64_t now = 1700000100000;
	assert_int_equal(pt_render_influx(&u, now, false, &b), 0);
	const char *want =
	    "resource_usage,vm=a:web utime=2.500000,stime=0.750000,"
	    "maxrss=12100i,ixrss=0i,idrss=0i,isrss=0i,minflt=1234i,maxflt=3i,"
	    "nswap=0i,inblock=0i,outblock=0i,msgsnd=0i,msgrcv=0i,nsignals=0i,"
	    "nvcsw=77i,nivcsw=5i 1700000100000000000\n"
	    "kinfo_mem,vm=a:web vsize=52428800i,rss=3000i,tsize=0i,dsize=0i,"
	    "ssize=0i,cow_faults=0i,runtime=3250000i,uptime=100.000000 "
	    "1700000100000000000\n"
	    "vmm,vm=a:web exits=1000i,io\\ exits\\,x\\=y=7i 1700000100000000000\n"
	    "interface,vm=a:web,bridge=service send_queue_length=0i,"
	    "max_send_queue_length=0i,send_queue_drops=0i,mtu=1500i,"
	    "baudrate=0i,vm_to_host_packets=10i,vm_to_host_errors=0i,"
	    "vm_to_host_bytes=840i,vm_to_host_mcast=0i,vm_to_host_dropped=0i,"
	    "collisions=0i,host_to_vm_packets=5i,host_to_vm_errors=0i,"
	    "host_to_vm_bytes=1000i,host_to_vm_mcast=0i,host_to_vm_dropped=0i "
	    "1700000100000000000\n";
	assert_string_equal(text(&b), want);
	pt_buf_free(&b);
	/* albatross-influx's default: the label only. No KVM: no vmm line. */
	u.nvmm = 0;
	pt_buf c = {0};
	assert_int_equal(pt_render_influx(&u, now, true, &c), 0);
	assert_non_null(strstr(text(&c), "resource_usage,vm=web utime="));
	assert_null(strstr((char *)c.data, "vmm,"));
	pt_buf_free(&c);
	/* A unikernel not read this round renders nothing. */
	u.ok = false;
	pt_buf e = {0};
	assert_int_equal(pt_render_influx(&u, now, false, &e), 0);
	assert_int_equal(e.len, 0);
	pt_buf_free(&e);
}

static bool
covers(const char *s, const char *n)
{
	pt_name a, b;
	assert_int_equal(pt_name_parse_str(s, &a, NULL), 0);
	assert_int_equal(pt_name_parse_str(n, &b, NULL), 0);
	return pt_sm_covers(&a, &b);
}

/* A path covers what is below it; `a:b:` is not above the unikernel
 * `a:b`, which is in `a:` (the labels compare alike all the same). */
static void
test_covers(void **state)
{
	(void)state;
	assert_true(covers(":", "a:b"));
	assert_true(covers("a:", "a:b"));
	assert_true(covers("a:b:", "a:b:c"));
	assert_true(covers("a:b", "a:b"));
	assert_false(covers("a:b:", "a:b"));
	assert_false(covers("web:", "web"));
	assert_false(covers("a:b", "a:b:c"));
	assert_false(covers("a:c:", "a:b:c"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_covers),
		cmocka_unit_test(test_stats_record),
		cmocka_unit_test(test_prometheus),
		cmocka_unit_test(test_prometheus_escapes),
		cmocka_unit_test(test_influx_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
