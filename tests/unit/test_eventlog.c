/* Unit tests for eventlog.c: the DER of log entries and log commands
 * (vectors computed by hand, see docs/eventlog.md), round trips of every
 * event kind, strict rejection, the ring and visibility. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "eventlog.h"
#include "wire.h"

/* 2024-01-02T03:04:05Z */
#define T0 1704164645000LL
#define TIME_HEX "18 0F 32 30 32 34 30 31 30 32 30 33 30 34 30 35 5A "

static size_t
hex(const char *s, uint8_t *out, size_t cap)
{
	long n = pt_hex_decode(s, out, cap);
	assert_true(n >= 0);
	return (size_t)n;
}

static void
name_of(const char *s, pt_name *n)
{
	pt_err err;
	assert_int_equal(pt_name_parse_str(s, n, &err), 0);
}

static void
check_vector(const pt_event *e, const char *vector)
{
	uint8_t want[512];
	size_t n = hex(vector, want, sizeof(want));
	pt_buf b = {0};
	pt_err err;
	assert_int_equal(pt_event_encode(e, &b, &err), 0);
	assert_int_equal(b.len, n);
	assert_memory_equal(b.data, want, n);
	pt_arena a = {0};
	pt_event back;
	assert_int_equal(pt_event_decode(want, n, &a, &back, &err), 0);
	assert_int_equal(back.kind, e->kind);
	assert_int_equal(back.time_ms, e->time_ms);
	assert_string_equal(back.name.text, e->name.text);
	pt_arena_free(&a);
	pt_buf_free(&b);
}

static void
test_vectors(void **state)
{
	(void)state;
	pt_event e;
	memset(&e, 0, sizeof(e));
	e.time_ms = T0;
	e.kind = PT_EV_STARTUP;
	pt_name_root(&e.name);
	check_vector(&e, "30 15 " TIME_HEX "A0 02 05 00");

	e.kind = PT_EV_DESTROYED;
	name_of("a:web", &e.name);
	check_vector(&e, "30 1A " TIME_HEX "AA 07 0C 05 61 3A 77 65 62");

	e.kind = PT_EV_EXITED;
	e.pid = 1234;
	e.exit_kind = PT_EXIT_SIGNAL;
	e.exit_value = 15;
	check_vector(&e, "30 25 " TIME_HEX "A4 12 30 10 0C 05 61 3A 77 65 62 "
	    "02 02 04 D2 A1 03 02 01 0F");
}

static pt_text
text(const char *s)
{
	pt_text t = {s, strlen(s)};
	return t;
}

/* Every kind survives encode → decode → encode byte for byte. */
static void
test_roundtrip_every_kind(void **state)
{
	(void)state;
	static const uint8_t digest[32] = {1, 2, 3};
	static const uint8_t addr[4] = {127, 0, 0, 1};
	pt_text taps[2] = {text("vmmtap0"), text("vmmtap1")};
	pt_text blocks[1] = {text("a:disk")};
	int64_t cpus[2] = {0, 1};
	pt_text bridges[1] = {text("br0")};
	for (int k = 0; k < PT_EV_KIND_COUNT; k++) {
		pt_event e;
		memset(&e, 0, sizeof(e));
		e.time_ms = T0 + 250;
		e.kind = (pt_event_kind)k;
		name_of(k == PT_EV_STARTUP || k == PT_EV_HUP ? ":" :
		    k == PT_EV_POLICY_ADDED || k == PT_EV_POLICY_REPLACED ||
		    k == PT_EV_POLICY_REMOVED ? "team:alice:" : "team:web", &e.name);
		e.pid = 4242;
		e.exit_kind = PT_EXIT_CODE;
		e.exit_value = 3;
		e.delay_ms = 2000;
		e.size_mb = 100;
		e.digest.data = digest;
		e.digest.len = sizeof(digest);
		e.ntaps = 2;
		e.taps = taps;
		e.nblocks = 1;
		e.blocks = blocks;
		e.policy.unikernels = 2;
		e.policy.memory = 512;
		e.policy.has_block = true;
		e.policy.block = 100;
		e.policy.ncpuids = 2;
		e.policy.cpuids = cpus;
		e.policy.nbridges = 1;
		e.policy.bridges = bridges;
		e.command = text("unikernel create");
		e.reason = text("policy a: allows 1 unikernel");
		e.address.data = addr;
		e.address.len = sizeof(addr);
		e.port = 1025;
		pt_buf b1 = {0}, b2 = {0}, p = {0};
		pt_err err;
		assert_int_equal(pt_event_encode(&e, &b1, &err), 0);
		pt_arena a = {0};
		pt_event back;
		assert_int_equal(pt_event_decode(b1.data, b1.len, &a, &back,
		    &err), 0);
		assert_int_equal(back.kind, k);
		assert_int_equal(pt_event_encode(&back, &b2, &err), 0);
		assert_int_equal(b1.len, b2.len);
		assert_memory_equal(b1.data, b2.data, b1.len);
		assert_int_equal(pt_event_print(&back, &p), 0);
		assert_non_null(strstr((char *)p.data,
		    pt_event_kind_name((pt_event_kind)k)));
		pt_buf_free(&p);
		pt_buf_free(&b1);
		pt_buf_free(&b2);
		pt_arena_free(&a);
	}
}

static void
test_rejects(void **state)
{
	(void)state;
	static const char *const bad[] = {
		/* unknown event choice [18] */
		"30 15 " TIME_HEX "B2 02 05 00",
		/* trailing byte inside the entry */
		"30 16 " TIME_HEX "A0 02 05 00 00",
		/* destroyed with a path-less empty name */
		"30 15 " TIME_HEX "AA 02 0C 00",
		/* exit status with an unknown choice [3] */
		"30 25 " TIME_HEX "A4 12 30 10 0C 05 61 3A 77 65 62 "
		    "02 02 04 D2 A3 03 02 01 0F",
		/* login with a 5-octet address */
		"30 26 " TIME_HEX "A1 13 30 11 0C 05 61 3A 77 65 62 "
		    "04 05 01 02 03 04 05 02 01 01",
		/* startup carrying something else than NULL */
		"30 16 " TIME_HEX "A0 03 02 01 00",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t in[256];
		size_t n = hex(bad[i], in, sizeof(in));
		pt_arena a = {0};
		pt_event e;
		pt_err err = {{0}};
		assert_int_equal(pt_event_decode(in, n, &a, &e, &err), -1);
		assert_true(err.msg[0] != '\0');
		pt_arena_free(&a);
	}
}

static void
test_logcmd(void **state)
{
	(void)state;
	uint8_t want[64];
	size_t n = hex("30 14 " TIME_HEX "01 01 FF", want, sizeof(want));
	pt_log_subscribe s = {.has_since = true, .since_ms = T0, .follow = true};
	pt_buf b = {0};
	pt_err err;
	pt_derw w;
	pt_derw_init(&w, &b, &err);
	pt_log_subscribe_write(&w, &s);
	assert_int_equal(pt_derw_finish(&w), 0);
	assert_int_equal(b.len, n);
	assert_memory_equal(b.data, want, n);
	pt_arena a = {0};
	pt_der d;
	pt_der_init(&d, want, n, &a, &err);
	pt_log_subscribe back;
	assert_int_equal(pt_log_subscribe_read(&d, &back), 0);
	assert_true(back.has_since && back.follow);
	assert_int_equal(back.since_ms, T0);
	/* Without since. */
	n = hex("30 03 01 01 00", want, sizeof(want));
	pt_der_init(&d, want, n, &a, &err);
	assert_int_equal(pt_log_subscribe_read(&d, &back), 0);
	assert_false(back.has_since || back.follow);
	/* The obsolete albatross form, a NULL, is still refused. */
	n = hex("05 00", want, sizeof(want));
	pt_der_init(&d, want, n, &a, &err);
	assert_int_equal(pt_log_subscribe_read(&d, &back), -1);
	pt_arena_free(&a);
	pt_buf_free(&b);
}

/* `log record` (petrel-tls -> petreld): WireCommand [2] [1] LogEntry, the
 * whole message, for a login of team:web from 127.0.0.1 port 1025. */
static void
test_logcmd_record(void **state)
{
	(void)state;
	const char *vector =
	    "30 47 30 13 02 01 05 04 08 00 00 00 00 00 00 00 07 "
	    "0C 04 3A 77 65 62 "
	    "A0 30 A2 2E A1 2C 30 2A " TIME_HEX
	    "A1 17 30 15 0C 08 74 65 61 6D 3A 77 65 62 "
	    "04 04 7F 00 00 01 02 03 00 FC 01";
	uint8_t want[128];
	size_t n = hex(vector, want, sizeof(want));
	static const uint8_t lo[4] = {127, 0, 0, 1};
	pt_wire w;
	memset(&w, 0, sizeof(w));
	pt_name nm;
	name_of(":web", &nm);
	pt_header_init(&w.header, 7, &nm);
	w.kind = PT_PAYLOAD_COMMAND;
	w.u.command.kind = PT_CMD_LOG_RECORD;
	pt_event *e = &w.u.command.u.record;
	e->time_ms = T0;
	e->kind = PT_EV_LOGIN;
	name_of("team:web", &e->name);
	e->address.data = lo;
	e->address.len = 4;
	e->port = 64513;
	pt_buf b = {0};
	pt_err err;
	assert_int_equal(pt_wire_encode(&w, &b, &err), 0);
	assert_int_equal(b.len, n);
	assert_memory_equal(b.data, want, n);
	pt_buf_free(&b);
	pt_arena a = {0};
	pt_wire back;
	assert_int_equal(pt_wire_decode(want, n, &a, &back, &err), 0);
	assert_int_equal(back.u.command.kind, PT_CMD_LOG_RECORD);
	assert_int_equal(back.u.command.u.record.kind, PT_EV_LOGIN);
	assert_string_equal(back.u.command.u.record.name.text, "team:web");
	assert_int_equal(back.u.command.u.record.port, 64513);
	assert_int_equal(back.u.command.u.record.time_ms, T0);
	pt_arena_free(&a);
}

static void
test_ring_and_visibility(void **state)
{
	(void)state;
	pt_event_ring r;
	assert_int_equal(pt_event_ring_init(&r, 3), 0);
	pt_event e;
	memset(&e, 0, sizeof(e));
	e.kind = PT_EV_DESTROYED;
	pt_err err;
	for (int i = 0; i < 5; i++) {
		char buf[32];
		snprintf(buf, sizeof(buf), "team:u%d", i);
		name_of(buf, &e.name);
		e.time_ms = T0 + i;
		assert_int_equal(pt_event_ring_add(&r, &e, &err), 0);
	}
	assert_int_equal(r.count, 3);
	assert_int_equal(r.total, 5);
	assert_string_equal(pt_event_ring_at(&r, 0)->name.text, "team:u2");
	assert_null(pt_event_ring_at(&r, 3));
	pt_event_ring_free(&r);

	pt_name root, team, other, uk, teamuk;
	name_of(":", &root);
	name_of("team:", &team);
	name_of("other:", &other);
	name_of("team:web", &teamuk);
	name_of(":", &uk);
	assert_true(pt_event_visible(&root, &teamuk));
	assert_true(pt_event_visible(&team, &teamuk));
	assert_true(pt_event_visible(&teamuk, &teamuk));
	assert_false(pt_event_visible(&other, &teamuk));
	/* A name subscriber sees its own name, not its siblings. */
	pt_name sibling;
	name_of("team:db", &sibling);
	assert_false(pt_event_visible(&teamuk, &sibling));
	assert_false(pt_event_visible(&teamuk, &team));
	/* ... and what lies below it as a path. */
	pt_name below;
	name_of("team:web:x", &below);
	assert_true(pt_event_visible(&teamuk, &below));
	/* A path is compared as a path: "team:web:" does not see the
	 * unikernel "team:web" (the label web of "team:"), but sees what is
	 * in it, and itself (policy events). */
	pt_name webpath, inweb;
	name_of("team:web:", &webpath);
	name_of("team:web:x", &inweb);
	assert_false(pt_event_visible(&webpath, &teamuk));
	assert_true(pt_event_visible(&webpath, &inweb));
	assert_true(pt_event_visible(&webpath, &webpath));
	assert_false(pt_event_visible(&webpath, &team));
	/* Daemon-wide events (startup, hup) are for the root only. */
	assert_true(pt_event_visible(&root, &uk));
	assert_false(pt_event_visible(&team, &uk));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_roundtrip_every_kind),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_logcmd),
		cmocka_unit_test(test_logcmd_record),
		cmocka_unit_test(test_ring_and_visibility),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
