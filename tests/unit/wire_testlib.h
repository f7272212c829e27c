/*
 * Helpers shared by the wire codec tests: hex vectors, value builders and a
 * structural equality over the whole message model.
 *
 * The equality compares canonicalised values: SET OF components (cpu ids,
 * exit codes, bridges of a policy, block and network devices of a
 * configuration or an info) are compared as sets, because the encoder
 * sorts them and the decoder returns the wire order. SEQUENCE OF
 * components keep their order. On a mismatch it prints the path to the
 * differing field and both values to stderr, so a failing test names the
 * exact difference.
 *
 * Everything is `static inline` so that each test includes what it uses
 * without unused-function warnings.
 */
#ifndef PETREL_TESTS_WIRE_TESTLIB_H
#define PETREL_TESTS_WIRE_TESTLIB_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

/* ---- hex ---- */

/* Decodes a hex vector (whitespace allowed) into a heap buffer; aborts on
 * malformed hex, which is a bug in the test itself. */
static inline uint8_t *
tl_hex(const char *hex, size_t *len)
{
	size_t cap = strlen(hex) / 2 + 1;
	uint8_t *p = malloc(cap);
	if (p == NULL)
		abort();
	long n = pt_hex_decode(hex, p, cap);
	if (n < 0) {
		fprintf(stderr, "bad hex in test vector: %.40s...\n", hex);
		abort();
	}
	*len = (size_t)n;
	return p;
}

static inline void
tl_dump(const char *what, const uint8_t *p, size_t n)
{
	fprintf(stderr, "%s (%zu bytes):", what, n);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "%s%02X", i % 24 == 0 ? "\n  " : " ", p[i]);
	fprintf(stderr, "\n");
}

/* Prints where two byte strings first differ (for encode mismatches). */
static inline void
tl_diff(const uint8_t *want, size_t wn, const uint8_t *got, size_t gn)
{
	size_t i = 0;
	while (i < wn && i < gn && want[i] == got[i])
		i++;
	fprintf(stderr, "first difference at offset %zu (want %zu bytes, "
	    "got %zu)\n", i, wn, gn);
	tl_dump("want", want, wn);
	tl_dump("got", got, gn);
}

/* ---- builders ---- */

static inline pt_text
tl_text(const char *s)
{
	return (pt_text){.s = s, .len = strlen(s)};
}

static inline pt_blob
tl_blob(const void *p, size_t n)
{
	return (pt_blob){.data = p, .len = n};
}

/* Parses a name; aborts if the test wrote an invalid one. */
static inline pt_name
tl_name(const char *s)
{
	pt_name n;
	pt_err err;
	memset(&n, 0, sizeof(n));
	if (pt_name_parse_str(s, &n, &err) != 0) {
		fprintf(stderr, "bad name in test: %s: %s\n", s, err.msg);
		abort();
	}
	return n;
}

static inline void
tl_header(pt_wire *w, int64_t seq, const char *name)
{
	w->header.version = PT_WIRE_VERSION;
	w->header.sequence = seq;
	w->header.name = tl_name(name);
}

/* ---- equality ---- */

#define TL_FAIL(...) (fprintf(stderr, "  mismatch: " __VA_ARGS__), \
    fprintf(stderr, "\n"), false)
#define TL_EQ_INT(field) do { \
	if ((int64_t)a->field != (int64_t)b->field) \
		return TL_FAIL("%s: %" PRId64 " != %" PRId64, #field, \
		    (int64_t)a->field, (int64_t)b->field); \
} while (0)
#define TL_EQ_BOOL(field) do { \
	if ((bool)a->field != (bool)b->field) \
		return TL_FAIL("%s: %d != %d", #field, (int)a->field, \
		    (int)b->field); \
} while (0)
/* Runs a nested comparison and adds the field to the trace. */
#define TL_EQ_SUB(fn, field) do { \
	if (!fn(&a->field, &b->field)) \
		return TL_FAIL("  in %s", #field); \
} while (0)

static inline bool
tl_eq_text(const pt_text *a, const pt_text *b)
{
	if (a->len != b->len || (a->len > 0 && memcmp(a->s, b->s, a->len) != 0))
		return TL_FAIL("text \"%.*s\" != \"%.*s\"", (int)a->len,
		    a->len ? a->s : "", (int)b->len, b->len ? b->s : "");
	return true;
}

static inline bool
tl_eq_blob(const pt_blob *a, const pt_blob *b)
{
	if (a->len != b->len)
		return TL_FAIL("blob length %zu != %zu", a->len, b->len);
	if (a->len > 0 && memcmp(a->data, b->data, a->len) != 0)
		return TL_FAIL("blob contents differ (%zu bytes)", a->len);
	return true;
}

static inline bool
tl_eq_name(const pt_name *a, const pt_name *b)
{
	if (strcmp(a->text, b->text) != 0)
		return TL_FAIL("name \"%s\" != \"%s\"", a->text, b->text);
	return true;
}

static inline bool
tl_eq_mac(const uint8_t a[6], const uint8_t b[6])
{
	if (memcmp(a, b, 6) != 0)
		return TL_FAIL("mac differs");
	return true;
}

static inline int
tl_cmp_i64(const void *x, const void *y)
{
	int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
	return a < b ? -1 : a > b;
}

static inline int
tl_cmp_text(const pt_text *a, const pt_text *b)
{
	size_t n = a->len < b->len ? a->len : b->len;
	int c = n ? memcmp(a->s, b->s, n) : 0;
	if (c != 0)
		return c;
	return a->len < b->len ? -1 : a->len > b->len;
}

static inline int
tl_cmp_text_q(const void *x, const void *y)
{
	return tl_cmp_text(x, y);
}

/* Sorted heap copy of an array, for set comparisons. */
static inline void *
tl_sorted(const void *v, size_t n, size_t size,
    int (*cmp)(const void *, const void *))
{
	void *c = malloc(n * size + 1);
	if (c == NULL)
		abort();
	if (n > 0)
		memcpy(c, v, n * size);
	qsort(c, n, size, cmp);
	return c;
}

static inline bool
tl_eq_i64_set(const int64_t *av, size_t an, const int64_t *bv, size_t bn,
    const char *what)
{
	if (an != bn)
		return TL_FAIL("%s: %zu != %zu elements", what, an, bn);
	int64_t *a = tl_sorted(av, an, sizeof(*a), tl_cmp_i64);
	int64_t *b = tl_sorted(bv, bn, sizeof(*b), tl_cmp_i64);
	bool ok = true;
	for (size_t i = 0; ok && i < an; i++)
		if (a[i] != b[i])
			ok = TL_FAIL("%s (sorted) [%zu]: %" PRId64 " != %" PRId64,
			    what, i, a[i], b[i]);
	free(a);
	free(b);
	return ok;
}

static inline bool
tl_eq_text_set(const pt_text *av, size_t an, const pt_text *bv, size_t bn,
    const char *what)
{
	if (an != bn)
		return TL_FAIL("%s: %zu != %zu elements", what, an, bn);
	pt_text *a = tl_sorted(av, an, sizeof(*a), tl_cmp_text_q);
	pt_text *b = tl_sorted(bv, bn, sizeof(*b), tl_cmp_text_q);
	bool ok = true;
	for (size_t i = 0; ok && i < an; i++)
		if (!tl_eq_text(&a[i], &b[i]))
			ok = TL_FAIL("%s (sorted) [%zu]", what, i);
	free(a);
	free(b);
	return ok;
}

static inline bool
tl_eq_text_list(const pt_text *a, size_t an, const pt_text *b, size_t bn,
    const char *what)
{
	if (an != bn)
		return TL_FAIL("%s: %zu != %zu elements", what, an, bn);
	for (size_t i = 0; i < an; i++)
		if (!tl_eq_text(&a[i], &b[i]))
			return TL_FAIL("%s[%zu]", what, i);
	return true;
}

static inline bool
tl_eq_policy(const pt_policy *a, const pt_policy *b)
{
	TL_EQ_INT(unikernels);
	TL_EQ_INT(memory);
	TL_EQ_BOOL(has_block);
	if (a->has_block)
		TL_EQ_INT(block);
	return tl_eq_i64_set(a->cpuids, a->ncpuids, b->cpuids, b->ncpuids,
	    "policy cpuids") &&
	    tl_eq_text_set(a->bridges, a->nbridges, b->bridges, b->nbridges,
	    "policy bridges");
}

static inline bool
tl_eq_fail(const pt_fail_behaviour *a, const pt_fail_behaviour *b)
{
	TL_EQ_BOOL(restart);
	if (!a->restart)
		return true;
	return tl_eq_i64_set(a->codes, a->ncodes, b->codes, b->ncodes,
	    "restart exit codes");
}

/* Canonical orders for the SET OF SEQUENCE components. Any total order
 * will do: both sides are sorted with it. */
static inline int
tl_cmp_opt_text(bool ha, const pt_text *a, bool hb, const pt_text *b)
{
	if (ha != hb)
		return ha ? 1 : -1;
	return ha ? tl_cmp_text(a, b) : 0;
}

static inline int
tl_cmp_blockspec(const void *x, const void *y)
{
	const pt_blockspec *a = x, *b = y;
	int c = tl_cmp_text(&a->name, &b->name);
	if (c == 0)
		c = tl_cmp_opt_text(a->has_device, &a->device, b->has_device,
		    &b->device);
	if (c == 0 && a->has_sector_size != b->has_sector_size)
		c = a->has_sector_size ? 1 : -1;
	if (c == 0 && a->has_sector_size)
		c = tl_cmp_i64(&a->sector_size, &b->sector_size);
	return c;
}

static inline int
tl_cmp_netspec(const void *x, const void *y)
{
	const pt_netspec *a = x, *b = y;
	int c = tl_cmp_text(&a->name, &b->name);
	if (c == 0)
		c = tl_cmp_opt_text(a->has_bridge, &a->bridge, b->has_bridge,
		    &b->bridge);
	if (c == 0 && a->has_mac != b->has_mac)
		c = a->has_mac ? 1 : -1;
	if (c == 0 && a->has_mac)
		c = memcmp(a->mac, b->mac, 6);
	return c;
}

static inline int
tl_cmp_blockinfo(const void *x, const void *y)
{
	const pt_blockinfo *a = x, *b = y;
	int c = tl_cmp_text(&a->unikernel_device, &b->unikernel_device);
	if (c == 0)
		c = tl_cmp_text(&a->host_device, &b->host_device);
	if (c == 0)
		c = tl_cmp_i64(&a->sector_size, &b->sector_size);
	if (c == 0)
		c = tl_cmp_i64(&a->block_size_mb, &b->block_size_mb);
	return c;
}

static inline int
tl_cmp_netinfo(const void *x, const void *y)
{
	const pt_netinfo *a = x, *b = y;
	int c = tl_cmp_text(&a->unikernel_device, &b->unikernel_device);
	if (c == 0)
		c = tl_cmp_text(&a->host_device, &b->host_device);
	if (c == 0)
		c = memcmp(a->mac, b->mac, 6);
	return c;
}

static inline bool
tl_eq_blockspec(const pt_blockspec *a, const pt_blockspec *b)
{
	TL_EQ_SUB(tl_eq_text, name);
	TL_EQ_BOOL(has_device);
	if (a->has_device)
		TL_EQ_SUB(tl_eq_text, device);
	TL_EQ_BOOL(has_sector_size);
	if (a->has_sector_size)
		TL_EQ_INT(sector_size);
	return true;
}

static inline bool
tl_eq_netspec(const pt_netspec *a, const pt_netspec *b)
{
	TL_EQ_SUB(tl_eq_text, name);
	TL_EQ_BOOL(has_bridge);
	if (a->has_bridge)
		TL_EQ_SUB(tl_eq_text, bridge);
	TL_EQ_BOOL(has_mac);
	if (a->has_mac && !tl_eq_mac(a->mac, b->mac))
		return TL_FAIL("  in mac");
	return true;
}

static inline bool
tl_eq_blockinfo(const pt_blockinfo *a, const pt_blockinfo *b)
{
	TL_EQ_SUB(tl_eq_text, unikernel_device);
	TL_EQ_SUB(tl_eq_text, host_device);
	TL_EQ_INT(sector_size);
	TL_EQ_INT(block_size_mb);
	return true;
}

static inline bool
tl_eq_netinfo(const pt_netinfo *a, const pt_netinfo *b)
{
	TL_EQ_SUB(tl_eq_text, unikernel_device);
	TL_EQ_SUB(tl_eq_text, host_device);
	if (!tl_eq_mac(a->mac, b->mac))
		return TL_FAIL("  in mac");
	return true;
}

/* Compares two arrays as sets: sorted copies, element by element. */
#define TL_DEFINE_SET_EQ(fname, type, cmp, eq) \
static inline bool \
fname(const type *av, size_t an, const type *bv, size_t bn, \
    const char *what) \
{ \
	if (an != bn) \
		return TL_FAIL("%s: %zu != %zu elements", what, an, bn); \
	type *a = tl_sorted(av, an, sizeof(type), cmp); \
	type *b = tl_sorted(bv, bn, sizeof(type), cmp); \
	bool ok = true; \
	for (size_t i = 0; ok && i < an; i++) \
		if (!eq(&a[i], &b[i])) \
			ok = TL_FAIL("%s (sorted) [%zu]", what, i); \
	free(a); \
	free(b); \
	return ok; \
}

TL_DEFINE_SET_EQ(tl_eq_blockspec_set, pt_blockspec, tl_cmp_blockspec,
    tl_eq_blockspec)
TL_DEFINE_SET_EQ(tl_eq_netspec_set, pt_netspec, tl_cmp_netspec,
    tl_eq_netspec)
TL_DEFINE_SET_EQ(tl_eq_blockinfo_set, pt_blockinfo, tl_cmp_blockinfo,
    tl_eq_blockinfo)
TL_DEFINE_SET_EQ(tl_eq_netinfo_set, pt_netinfo, tl_cmp_netinfo,
    tl_eq_netinfo)

/* Compares two arrays in order. */
#define TL_DEFINE_LIST_EQ(fname, type, eq) \
static inline bool \
fname(const type *a, size_t an, const type *b, size_t bn, const char *what) \
{ \
	if (an != bn) \
		return TL_FAIL("%s: %zu != %zu elements", what, an, bn); \
	for (size_t i = 0; i < an; i++) \
		if (!eq(&a[i], &b[i])) \
			return TL_FAIL("%s[%zu]", what, i); \
	return true; \
}

/* The fields a restart can replace (everything but typ, compressed and
 * image). */
static inline bool
tl_eq_config_args(const pt_ukconfig *a, const pt_ukconfig *b)
{
	TL_EQ_BOOL(has_startup);
	if (a->has_startup)
		TL_EQ_INT(startup);
	TL_EQ_BOOL(add_name);
	TL_EQ_SUB(tl_eq_fail, fail);
	if (!tl_eq_i64_set(a->cpuids, a->ncpuids, b->cpuids, b->ncpuids,
	    "cpuids"))
		return false;
	TL_EQ_INT(memory);
	if (!tl_eq_blockspec_set(a->blocks, a->nblocks, b->blocks, b->nblocks,
	    "blocks") ||
	    !tl_eq_netspec_set(a->nets, a->nnets, b->nets, b->nnets, "nets"))
		return false;
	TL_EQ_BOOL(has_argv);
	if (a->has_argv && !tl_eq_text_list(a->argv, a->argc, b->argv, b->argc,
	    "argv"))
		return false;
	TL_EQ_INT(cpus);
	TL_EQ_BOOL(has_boot_partition);
	if (a->has_boot_partition)
		TL_EQ_SUB(tl_eq_text, boot_partition);
	return true;
}

static inline bool
tl_eq_ukconfig(const pt_ukconfig *a, const pt_ukconfig *b)
{
	TL_EQ_INT(typ);
	TL_EQ_BOOL(compressed);
	TL_EQ_SUB(tl_eq_blob, image);
	return tl_eq_config_args(a, b);
}

static inline bool
tl_eq_ukinfo(const pt_ukinfo *a, const pt_ukinfo *b)
{
	TL_EQ_INT(typ);
	TL_EQ_BOOL(has_startup);
	if (a->has_startup)
		TL_EQ_INT(startup);
	TL_EQ_SUB(tl_eq_fail, fail);
	if (!tl_eq_i64_set(a->cpuids, a->ncpuids, b->cpuids, b->ncpuids,
	    "info cpuids"))
		return false;
	TL_EQ_INT(memory);
	TL_EQ_SUB(tl_eq_blob, digest);
	if (!tl_eq_blockinfo_set(a->blocks, a->nblocks, b->blocks, b->nblocks,
	    "info blocks") ||
	    !tl_eq_netinfo_set(a->nets, a->nnets, b->nets, b->nnets,
	    "info nets"))
		return false;
	TL_EQ_BOOL(has_argv);
	if (a->has_argv && !tl_eq_text_list(a->argv, a->argc, b->argv, b->argc,
	    "info argv"))
		return false;
	TL_EQ_INT(started);
	TL_EQ_INT(cpus);
	TL_EQ_BOOL(has_boot_partition);
	if (a->has_boot_partition)
		TL_EQ_SUB(tl_eq_text, boot_partition);
	return true;
}

/* ---- statistics ---- */

static inline bool
tl_eq_timeval(const pt_timeval *a, const pt_timeval *b)
{
	TL_EQ_INT(sec);
	TL_EQ_INT(usec);
	return true;
}

static inline bool
tl_eq_rusage(const pt_rusage *a, const pt_rusage *b)
{
	TL_EQ_SUB(tl_eq_timeval, utime);
	TL_EQ_SUB(tl_eq_timeval, stime);
	TL_EQ_INT(maxrss);
	TL_EQ_INT(ixrss);
	TL_EQ_INT(idrss);
	TL_EQ_INT(isrss);
	TL_EQ_INT(minflt);
	TL_EQ_INT(majflt);
	TL_EQ_INT(nswap);
	TL_EQ_INT(inblock);
	TL_EQ_INT(outblock);
	TL_EQ_INT(msgsnd);
	TL_EQ_INT(msgrcv);
	TL_EQ_INT(nsignals);
	TL_EQ_INT(nvcsw);
	TL_EQ_INT(nivcsw);
	return true;
}

static inline bool
tl_eq_ifdata(const pt_ifdata *a, const pt_ifdata *b)
{
	TL_EQ_SUB(tl_eq_text, bridge);
	TL_EQ_INT(flags);
	TL_EQ_INT(send_length);
	TL_EQ_INT(max_send_length);
	TL_EQ_INT(send_drops);
	TL_EQ_INT(mtu);
	TL_EQ_INT(baudrate);
	TL_EQ_INT(input_packets);
	TL_EQ_INT(input_errors);
	TL_EQ_INT(output_packets);
	TL_EQ_INT(output_errors);
	TL_EQ_INT(collisions);
	TL_EQ_INT(input_bytes);
	TL_EQ_INT(output_bytes);
	TL_EQ_INT(input_mcast);
	TL_EQ_INT(output_mcast);
	TL_EQ_INT(input_dropped);
	TL_EQ_INT(output_dropped);
	return true;
}

static inline bool
tl_eq_vmmstat(const pt_vmmstat *a, const pt_vmmstat *b)
{
	TL_EQ_SUB(tl_eq_text, key);
	TL_EQ_INT(value);
	return true;
}

static inline bool
tl_eq_kinfo(const pt_kinfo_mem *a, const pt_kinfo_mem *b)
{
	TL_EQ_INT(vsize);
	TL_EQ_INT(rss);
	TL_EQ_INT(tsize);
	TL_EQ_INT(dsize);
	TL_EQ_INT(ssize);
	TL_EQ_INT(runtime);
	TL_EQ_INT(cow);
	TL_EQ_SUB(tl_eq_timeval, start);
	return true;
}

TL_DEFINE_LIST_EQ(tl_eq_ifdata_list, pt_ifdata, tl_eq_ifdata)
TL_DEFINE_LIST_EQ(tl_eq_vmm_list, pt_vmmstat, tl_eq_vmmstat)

static inline bool
tl_eq_stats(const pt_stats *a, const pt_stats *b)
{
	TL_EQ_SUB(tl_eq_rusage, rusage);
	if (!tl_eq_ifdata_list(a->ifdata, a->nifdata, b->ifdata, b->nifdata,
	    "ifdata"))
		return false;
	TL_EQ_BOOL(has_vmm);
	if (a->has_vmm && !tl_eq_vmm_list(a->vmm, a->nvmm, b->vmm, b->nvmm,
	    "vmm"))
		return false;
	TL_EQ_BOOL(has_kinfo);
	if (a->has_kinfo)
		TL_EQ_SUB(tl_eq_kinfo, kinfo);
	return true;
}

/* ---- commands ---- */

static inline bool
tl_eq_stats_net(const pt_stats_net *a, const pt_stats_net *b)
{
	TL_EQ_SUB(tl_eq_text, name);
	TL_EQ_SUB(tl_eq_text, tap);
	return true;
}

TL_DEFINE_LIST_EQ(tl_eq_stats_net_list, pt_stats_net, tl_eq_stats_net)

static inline bool
tl_eq_command(const pt_command *a, const pt_command *b)
{
	if (a->kind != b->kind)
		return TL_FAIL("command kind %s != %s", pt_cmd_kind_name(a->kind),
		    pt_cmd_kind_name(b->kind));
	switch (a->kind) {
	case PT_CMD_CONSOLE_ADD:
		TL_EQ_INT(u.count);
		break;
	case PT_CMD_CONSOLE_SUBSCRIBE:
		TL_EQ_BOOL(u.subscribe.by_count);
		if (a->u.subscribe.by_count)
			TL_EQ_INT(u.subscribe.count);
		else
			TL_EQ_INT(u.subscribe.since);
		break;
	case PT_CMD_STATS_ADD:
		TL_EQ_SUB(tl_eq_text, u.stats_add.vmmdev);
		TL_EQ_INT(u.stats_add.pid);
		return tl_eq_stats_net_list(a->u.stats_add.nets,
		    a->u.stats_add.nnets, b->u.stats_add.nets,
		    b->u.stats_add.nnets, "stats add nets");
	case PT_CMD_UK_CREATE:
	case PT_CMD_UK_FORCE_CREATE:
		TL_EQ_INT(config_version);
		TL_EQ_SUB(tl_eq_ukconfig, u.config);
		break;
	case PT_CMD_UK_GET:
	case PT_CMD_BLOCK_DUMP_OLD:
	case PT_CMD_BLOCK_DUMP:
		TL_EQ_INT(u.level);
		break;
	case PT_CMD_UK_RESTART:
		TL_EQ_BOOL(u.restart.has_args);
		if (a->u.restart.has_args) {
			TL_EQ_INT(u.restart.args_version);
			TL_EQ_SUB(tl_eq_config_args, u.restart.args);
		}
		break;
	case PT_CMD_POLICY_ADD:
		TL_EQ_SUB(tl_eq_policy, u.policy);
		break;
	case PT_CMD_BLOCK_ADD:
		TL_EQ_INT(u.size_mb);
		break;
	case PT_CMD_BLOCK_ADD_OLD:
		TL_EQ_INT(u.block_add_old.size_mb);
		TL_EQ_BOOL(u.block_add_old.compressed);
		TL_EQ_BOOL(u.block_add_old.has_data);
		if (a->u.block_add_old.has_data)
			TL_EQ_SUB(tl_eq_blob, u.block_add_old.data);
		break;
	case PT_CMD_BLOCK_SET_OLD:
		TL_EQ_BOOL(u.block_set_old.compressed);
		TL_EQ_SUB(tl_eq_blob, u.block_set_old.data);
		break;
	case PT_CMD_BLOCK_SET:
		TL_EQ_BOOL(u.compressed);
		break;
	default:
		break;
	}
	return true;
}

/* ---- success, data, wire ---- */

static inline bool
tl_eq_named_policy(const pt_named_policy *a, const pt_named_policy *b)
{
	TL_EQ_SUB(tl_eq_name, name);
	TL_EQ_SUB(tl_eq_policy, policy);
	return true;
}

static inline bool
tl_eq_block_entry(const pt_block_entry *a, const pt_block_entry *b)
{
	TL_EQ_SUB(tl_eq_name, name);
	TL_EQ_INT(size_mb);
	TL_EQ_BOOL(active);
	return true;
}

static inline bool
tl_eq_named_info(const pt_named_info *a, const pt_named_info *b)
{
	TL_EQ_SUB(tl_eq_name, name);
	TL_EQ_SUB(tl_eq_ukinfo, info);
	return true;
}

TL_DEFINE_LIST_EQ(tl_eq_named_policy_list, pt_named_policy,
    tl_eq_named_policy)
TL_DEFINE_LIST_EQ(tl_eq_block_entry_list, pt_block_entry, tl_eq_block_entry)
TL_DEFINE_LIST_EQ(tl_eq_named_info_list, pt_named_info, tl_eq_named_info)
TL_DEFINE_LIST_EQ(tl_eq_name_list, pt_name, tl_eq_name)

static inline bool
tl_eq_success(const pt_success *a, const pt_success *b)
{
	TL_EQ_INT(kind);
	switch (a->kind) {
	case PT_OK_STRING:
		TL_EQ_SUB(tl_eq_text, u.string);
		break;
	case PT_OK_POLICIES:
		return tl_eq_named_policy_list(a->u.policies.v, a->u.policies.n,
		    b->u.policies.v, b->u.policies.n, "policies");
	case PT_OK_BLOCK_DEVICES:
		return tl_eq_block_entry_list(a->u.blocks.v, a->u.blocks.n,
		    b->u.blocks.v, b->u.blocks.n, "block devices");
	case PT_OK_UNIKERNEL_IMAGE:
	case PT_OK_OLD_BLOCK_IMAGE:
		TL_EQ_BOOL(u.image.compressed);
		TL_EQ_SUB(tl_eq_blob, u.image.data);
		break;
	case PT_OK_OLD_UNIKERNEL_INFO4:
	case PT_OK_OLD_UNIKERNEL_INFO5:
	case PT_OK_UNIKERNEL_INFO:
		return tl_eq_named_info_list(a->u.infos.v, a->u.infos.n,
		    b->u.infos.v, b->u.infos.n, "infos");
	case PT_OK_BLOCK_IMAGE:
		TL_EQ_BOOL(u.compressed);
		break;
	case PT_OK_CONSOLES:
		return tl_eq_name_list(a->u.consoles.v, a->u.consoles.n,
		    b->u.consoles.v, b->u.consoles.n, "consoles");
	default:
		break;
	}
	return true;
}

static inline bool
tl_eq_data(const pt_data *a, const pt_data *b)
{
	TL_EQ_INT(kind);
	switch (a->kind) {
	case PT_DATA_STATS:
		TL_EQ_SUB(tl_eq_stats, u.stats);
		break;
	case PT_DATA_CONSOLE:
		TL_EQ_INT(u.console.time);
		TL_EQ_SUB(tl_eq_text, u.console.line);
		break;
	case PT_DATA_BLOCK_CHUNK:
		TL_EQ_SUB(tl_eq_blob, u.chunk);
		break;
	default:
		break;
	}
	return true;
}

static inline bool
tl_eq_header(const pt_header *a, const pt_header *b)
{
	TL_EQ_INT(version);
	TL_EQ_INT(sequence);
	TL_EQ_SUB(tl_eq_name, name);
	return true;
}

static inline bool
tl_eq_wire(const pt_wire *a, const pt_wire *b)
{
	TL_EQ_SUB(tl_eq_header, header);
	TL_EQ_INT(kind);
	switch (a->kind) {
	case PT_PAYLOAD_COMMAND:
		TL_EQ_SUB(tl_eq_command, u.command);
		break;
	case PT_PAYLOAD_SUCCESS:
		TL_EQ_SUB(tl_eq_success, u.success);
		break;
	case PT_PAYLOAD_FAILURE:
		TL_EQ_SUB(tl_eq_text, u.failure);
		break;
	case PT_PAYLOAD_DATA:
		TL_EQ_SUB(tl_eq_data, u.data);
		break;
	}
	return true;
}

static inline bool
tl_eq_certext(const pt_certext *a, const pt_certext *b)
{
	TL_EQ_INT(version);
	TL_EQ_SUB(tl_eq_command, command);
	return true;
}

static inline bool
tl_eq_state_uk(const pt_state_uk *a, const pt_state_uk *b)
{
	TL_EQ_SUB(tl_eq_name, name);
	TL_EQ_SUB(tl_eq_ukconfig, config);
	return true;
}

/* The state encoder writes each trie in pre-order whatever the order it
 * is given (wire.h), so tries compare as sets keyed by their (unique)
 * names. */
static inline int
tl_cmp_state_uk(const void *x, const void *y)
{
	return strcmp(((const pt_state_uk *)x)->name.text,
	    ((const pt_state_uk *)y)->name.text);
}

static inline int
tl_cmp_named_policy(const void *x, const void *y)
{
	return strcmp(((const pt_named_policy *)x)->name.text,
	    ((const pt_named_policy *)y)->name.text);
}

TL_DEFINE_SET_EQ(tl_eq_state_uk_set, pt_state_uk, tl_cmp_state_uk,
    tl_eq_state_uk)
TL_DEFINE_SET_EQ(tl_eq_named_policy_set, pt_named_policy,
    tl_cmp_named_policy, tl_eq_named_policy)

static inline bool
tl_eq_state(const pt_state *a, const pt_state *b)
{
	TL_EQ_INT(choice);
	return tl_eq_state_uk_set(a->unikernels, a->nunikernels,
	    b->unikernels, b->nunikernels, "state unikernels") &&
	    tl_eq_named_policy_set(a->policies, a->npolicies, b->policies,
	    b->npolicies, "state policies");
}

/* Pre-order of §10: by label lists, labels compared byte-wise, a list
 * before its extensions ("a:" < "a:b:" < "a:b:x" < "b:"). */
static inline int
tl_cmp_preorder(const pt_name *a, const pt_name *b)
{
	size_t na = pt_name_nlabels(a), nb = pt_name_nlabels(b);
	for (size_t i = 0; i < na && i < nb; i++) {
		size_t la, lb;
		const char *sa = pt_name_nth_label(a, i, &la);
		const char *sb = pt_name_nth_label(b, i, &lb);
		int c = memcmp(sa, sb, la < lb ? la : lb);
		if (c != 0)
			return c;
		if (la != lb)
			return la < lb ? -1 : 1;
	}
	return na < nb ? -1 : na > nb;
}

#endif
