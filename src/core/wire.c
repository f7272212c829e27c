/*
 * The AV5 codec (albatross-wire.md §5, §6, §9.2, §10): every message of
 * the spec, decoded strictly into the model of wire.h and encoded
 * byte-identically to albatross.
 *
 * Decoding never trusts a count or a length: lists are counted before
 * they are allocated and bounded (argv by WIRE_MAX_ARGV, every other list
 * by WIRE_MAX_LIST), nesting is bounded by the DER reader, and everything
 * allocated comes from the caller's arena. Legacy forms (§6.4, §6.5, §6.7)
 * are converted to the current model with the §6.4 defaults and their tag
 * is reported in config_version / args_version.
 */
#include <stdlib.h>
#include <string.h>

#include "der.h"
#include "wire.h"

#define WIRE_MAX_ARGV 1024
#define WIRE_MAX_LIST 65536

/* ======================================================================
 * Decoding helpers
 * ====================================================================== */

static int
oom(pt_der *d, const char *what)
{
	return pt_fail(d->err, "%s: out of memory", what);
}

/* Reads a CHOICE alternative: an EXPLICIT (or, for kinfo-mem, IMPLICIT)
 * context tag. *n gets its number and *alt its content. */
static int
choice(pt_der *d, const char *what, unsigned *n, pt_der *alt)
{
	uint8_t tag = 0;
	*n = 0;
	if (pt_der_any(d, what, &tag, alt) < 0)
		return -1;
	if ((tag & 0xe0) != 0xa0)
		return pt_fail(d->err, "%s: unexpected tag 0x%02x (expected "
		    "a context tag)", what, tag);
	*n = tag & 0x1f;
	return 0;
}

static int
unknown_choice(pt_der *d, const char *what, unsigned n)
{
	return pt_fail(d->err, "%s: unknown choice [%u]", what, n);
}

static bool
next_is(const pt_der *d, uint8_t tag)
{
	return pt_der_peek(d) == tag;
}

/* Enters an EXPLICIT [n] wrapper. The caller reads the one inner TLV and
 * then calls pt_der_done on the wrapper. */
static int
enter(pt_der *d, unsigned n, const char *what, pt_der *inner)
{
	return pt_der_expect(d, PT_DER_CTX(n), what, inner);
}

typedef int (*elem_fn)(pt_der *d, void *elem);

/* A SEQUENCE OF / SET OF (identifier `tag`): counted, bounded, allocated
 * in the arena, each element read by fn. */
static int
dec_list(pt_der *d, uint8_t tag, const char *what, size_t max, size_t size,
    elem_fn fn, void **out, size_t *n)
{
	pt_der c;
	size_t count;
	if (pt_der_expect(d, tag, what, &c) < 0 ||
	    pt_der_count(&c, max, what, &count) < 0)
		return -1;
	uint8_t *arr = NULL;
	if (count > 0) {
		arr = pt_arena_calloc(d->arena, count, size);
		if (arr == NULL)
			return oom(d, what);
	}
	for (size_t i = 0; i < count; i++)
		if (fn(&c, arr + i * size) < 0)
			return pt_fail_prefix(d->err, "%s", what);
	*out = arr;
	*n = count;
	return pt_der_done(&c, what);
}

/* dec_list inside an EXPLICIT [n] wrapper. */
static int
dec_tagged_list(pt_der *d, unsigned n, uint8_t tag, const char *what,
    size_t max, size_t size, elem_fn fn, void **out, size_t *count)
{
	pt_der x;
	if (enter(d, n, what, &x) < 0 ||
	    dec_list(&x, tag, what, max, size, fn, out, count) < 0)
		return -1;
	return pt_der_done(&x, what);
}

static int
el_int(pt_der *d, void *e)
{
	return pt_der_int(d, "element", e);
}

static int
el_text(pt_der *d, void *e)
{
	return pt_der_text(d, "element", e);
}

static int
el_name(pt_der *d, void *e)
{
	return pt_der_name(d, "element", e);
}

/* A set of integers (exit codes, CPU ids): albatross keeps them in an int
 * set, so duplicates collapse and the order is numeric. */
static int
dec_int_set(pt_der *d, uint8_t tag, const char *what, int64_t **v,
    size_t *n)
{
	void *arr = NULL;
	if (dec_list(d, tag, what, WIRE_MAX_LIST, sizeof(int64_t), el_int,
	    &arr, n) < 0)
		return -1;
	*v = arr;
	if (*n > 1)
		pt_sort_int64_unique(*v, n);
	return 0;
}

static int
dec_typ(pt_der *d, pt_typ *t)
{
	unsigned n;
	pt_der alt;
	if (choice(d, "typ", &n, &alt) < 0)
		return -1;
	if (n > 1)
		return unknown_choice(d, "typ", n);
	*t = n == 0 ? PT_TYP_SOLO5 : PT_TYP_BHYVE;
	if (pt_der_null(&alt, "typ") < 0)
		return -1;
	return pt_der_done(&alt, "typ");
}

static int
dec_fail_behaviour(pt_der *d, pt_fail_behaviour *f)
{
	unsigned n;
	pt_der alt;
	if (choice(d, "fail-behaviour", &n, &alt) < 0)
		return -1;
	memset(f, 0, sizeof(*f));
	if (n == 0) {
		if (pt_der_null(&alt, "fail-behaviour quit") < 0)
			return -1;
	} else if (n == 1) {
		f->restart = true;
		if (dec_int_set(&alt, PT_DER_SET, "fail-behaviour restart",
		    &f->codes, &f->ncodes) < 0)
			return -1;
	} else {
		return unknown_choice(d, "fail-behaviour", n);
	}
	return pt_der_done(&alt, "fail-behaviour");
}

static int
dec_argv(pt_der *d, bool *has, pt_text **argv, size_t *argc)
{
	void *arr = NULL;
	if (dec_tagged_list(d, 2, PT_DER_SEQ, "arguments", WIRE_MAX_ARGV,
	    sizeof(pt_text), el_text, &arr, argc) < 0)
		return -1;
	*has = true;
	*argv = arr;
	return 0;
}

/* ---- policy (§6.2) ---- */

static int
dec_policy(pt_der *d, pt_policy *p)
{
	pt_der s;
	void *arr = NULL;
	memset(p, 0, sizeof(*p));
	if (pt_der_expect(d, PT_DER_SEQ, "policy", &s) < 0 ||
	    dec_list(&s, PT_DER_SEQ, "policy cpuids", WIRE_MAX_LIST,
	    sizeof(int64_t), el_int, &arr, &p->ncpuids) < 0)
		return -1;
	p->cpuids = arr;
	if (pt_der_int(&s, "policy unikernels", &p->unikernels) < 0 ||
	    pt_der_int(&s, "policy memory", &p->memory) < 0)
		return -1;
	if (next_is(&s, PT_DER_INTEGER)) {
		p->has_block = true;
		if (pt_der_int(&s, "policy block", &p->block) < 0)
			return -1;
	}
	if (dec_list(&s, PT_DER_SEQ, "policy bridges", WIRE_MAX_LIST,
	    sizeof(pt_text), el_text, &arr, &p->nbridges) < 0)
		return -1;
	p->bridges = arr;
	pt_policy_normalise(p);
	return pt_der_done(&s, "policy");
}

/* ---- devices of a configuration (§6.3, §6.4) ---- */

static int
el_blockspec(pt_der *d, void *e)
{
	pt_blockspec *b = e;
	pt_der s;
	if (pt_der_expect(d, PT_DER_SEQ, "block device", &s) < 0 ||
	    pt_der_text(&s, "block device name", &b->name) < 0)
		return -1;
	if (next_is(&s, PT_DER_UTF8)) {
		b->has_device = true;
		if (pt_der_text(&s, "block device label", &b->device) < 0)
			return -1;
	}
	if (next_is(&s, PT_DER_INTEGER)) {
		b->has_sector_size = true;
		if (pt_der_int(&s, "sector size", &b->sector_size) < 0)
			return -1;
	}
	return pt_der_done(&s, "block device");
}

static int
el_netspec(pt_der *d, void *e)
{
	pt_netspec *nspec = e;
	pt_der s;
	if (pt_der_expect(d, PT_DER_SEQ, "network device", &s) < 0 ||
	    pt_der_text(&s, "network device name", &nspec->name) < 0)
		return -1;
	if (next_is(&s, PT_DER_UTF8)) {
		nspec->has_bridge = true;
		if (pt_der_text(&s, "bridge", &nspec->bridge) < 0)
			return -1;
	}
	if (next_is(&s, PT_DER_OCTETS)) {
		nspec->has_mac = true;
		if (pt_der_mac(&s, "mac", nspec->mac) < 0)
			return -1;
	}
	return pt_der_done(&s, "network device");
}

/* v1/v2 block devices and v1 networks: names only. */
static int
el_blockname(pt_der *d, void *e)
{
	return pt_der_text(d, "block device name", &((pt_blockspec *)e)->name);
}

static int
el_netname(pt_der *d, void *e)
{
	return pt_der_text(d, "network device name",
	    &((pt_netspec *)e)->name);
}

/* v2 networks: SEQUENCE { netif, bridge OPTIONAL }. */
static int
el_net_v2(pt_der *d, void *e)
{
	pt_netspec *nspec = e;
	pt_der s;
	if (pt_der_expect(d, PT_DER_SEQ, "network device", &s) < 0 ||
	    pt_der_text(&s, "network interface", &nspec->name) < 0)
		return -1;
	if (next_is(&s, PT_DER_UTF8)) {
		nspec->has_bridge = true;
		if (pt_der_text(&s, "bridge", &nspec->bridge) < 0)
			return -1;
	}
	return pt_der_done(&s, "network device");
}

typedef enum {
	DEVICES_SPEC, /* v3 and later: BlockDeviceSpec / NetDeviceSpec */
	DEVICES_V2,   /* block names; SEQUENCE OF (netif, bridge?) */
	DEVICES_V1,   /* block names; network names */
} devices_form;

static int
dec_devices(pt_der *d, devices_form form, pt_ukconfig *c)
{
	void *arr = NULL;
	if (next_is(d, PT_DER_CTX(0))) {
		elem_fn fn = form == DEVICES_SPEC ? el_blockspec : el_blockname;
		if (dec_tagged_list(d, 0, PT_DER_SET, "blocks", WIRE_MAX_LIST,
		    sizeof(pt_blockspec), fn, &arr, &c->nblocks) < 0)
			return -1;
		c->blocks = arr;
	}
	if (next_is(d, PT_DER_CTX(1))) {
		uint8_t tag = form == DEVICES_V2 ? PT_DER_SEQ : PT_DER_SET;
		elem_fn fn = form == DEVICES_SPEC ? el_netspec :
		    form == DEVICES_V2 ? el_net_v2 : el_netname;
		if (dec_tagged_list(d, 1, tag, "bridges", WIRE_MAX_LIST,
		    sizeof(pt_netspec), fn, &arr, &c->nnets) < 0)
			return -1;
		c->nets = arr;
	}
	if (next_is(d, PT_DER_CTX(2)) &&
	    dec_argv(d, &c->has_argv, &c->argv, &c->argc) < 0)
		return -1;
	return 0;
}

/* ---- unikernel configurations and restart arguments ----
 * One reader for the many shapes, driven by which fields a form has. */

typedef struct {
	const char *what;
	bool image;          /* leads with typ, compressed, image */
	bool startup;        /* has startup OPTIONAL and add-name */
	bool cpuid_set;      /* SET OF cpuids, else a single cpuid */
	bool tail;           /* [3] cpus, [4] linux-boot-partition */
	devices_form devices;
} config_form;

static const config_form CONFIG_V5 = {"unikernel config", true, true, true,
	true, DEVICES_SPEC};
static const config_form CONFIG_V4 = {"unikernel config v4", true, true,
	false, false, DEVICES_SPEC};
static const config_form CONFIG_V3 = {"unikernel config v3", true, false,
	false, false, DEVICES_SPEC};
static const config_form CONFIG_V2 = {"unikernel config v2", true, false,
	false, false, DEVICES_V2};
static const config_form CONFIG_V1 = {"unikernel config v1", true, false,
	false, false, DEVICES_V1};
static const config_form RESTART_V3 = {"restart arguments", false, true,
	true, true, DEVICES_SPEC};
static const config_form RESTART_V1 = {"restart arguments v1", false, true,
	false, false, DEVICES_SPEC};
static const config_form RESTART_V0 = {"restart arguments v0", false,
	false, false, false, DEVICES_SPEC};

static int
dec_startup_addname(pt_der *d, pt_ukconfig *c)
{
	if (next_is(d, PT_DER_INTEGER)) {
		c->has_startup = true;
		if (pt_der_int(d, "startup", &c->startup) < 0)
			return -1;
	}
	return pt_der_bool(d, "add-name", &c->add_name);
}

static int
dec_cpuids(pt_der *d, bool set, int64_t **v, size_t *n)
{
	if (set)
		return dec_int_set(d, PT_DER_SET, "cpuids", v, n);
	int64_t *one = pt_arena_alloc(d->arena, sizeof(int64_t));
	if (one == NULL)
		return oom(d, "cpuid");
	if (pt_der_int(d, "cpuid", one) < 0)
		return -1;
	*v = one;
	*n = 1;
	return 0;
}

static int
dec_config_body(pt_der *s, const config_form *f, pt_ukconfig *c)
{
	/* §6.4 defaults for what older forms do not carry. */
	c->add_name = true;
	c->cpus = 1;
	if (f->image) {
		if (dec_typ(s, &c->typ) < 0 ||
		    pt_der_bool(s, "compressed", &c->compressed) < 0 ||
		    pt_der_octets(s, "image", &c->image) < 0)
			return -1;
		if (f->startup && dec_startup_addname(s, c) < 0)
			return -1;
		if (dec_fail_behaviour(s, &c->fail) < 0)
			return -1;
	} else {
		if (dec_fail_behaviour(s, &c->fail) < 0)
			return -1;
		if (f->startup && dec_startup_addname(s, c) < 0)
			return -1;
	}
	if (dec_cpuids(s, f->cpuid_set, &c->cpuids, &c->ncpuids) < 0 ||
	    pt_der_int(s, "memory", &c->memory) < 0 ||
	    dec_devices(s, f->devices, c) < 0)
		return -1;
	if (f->tail) {
		pt_der x;
		if (next_is(s, PT_DER_CTX(3))) {
			if (enter(s, 3, "cpus", &x) < 0 ||
			    pt_der_int(&x, "cpus", &c->cpus) < 0 ||
			    pt_der_done(&x, "cpus") < 0)
				return -1;
		}
		if (next_is(s, PT_DER_CTX(4))) {
			c->has_boot_partition = true;
			if (enter(s, 4, "linux-boot-partition", &x) < 0 ||
			    pt_der_text(&x, "linux-boot-partition",
			    &c->boot_partition) < 0 ||
			    pt_der_done(&x, "linux-boot-partition") < 0)
				return -1;
		}
	}
	return 0;
}

static int
dec_config(pt_der *d, const config_form *f, pt_ukconfig *c)
{
	pt_der s;
	memset(c, 0, sizeof(*c));
	if (pt_der_expect(d, PT_DER_SEQ, f->what, &s) < 0)
		return -1;
	if (dec_config_body(&s, f, c) < 0)
		return pt_fail_prefix(d->err, "%s", f->what);
	return pt_der_done(&s, f->what);
}

/* v0 (state choice [1] only): a different shape altogether. */
static int
dec_config_v0(pt_der *d, pt_ukconfig *c)
{
	static const char what[] = "unikernel config v0";
	pt_der s;
	memset(c, 0, sizeof(*c));
	c->typ = PT_TYP_SOLO5;
	c->add_name = true;
	c->cpus = 1;
	int64_t *cpu = pt_arena_alloc(d->arena, sizeof(int64_t));
	if (cpu == NULL)
		return oom(d, what);
	c->cpuids = cpu;
	c->ncpuids = 1;
	if (pt_der_expect(d, PT_DER_SEQ, what, &s) < 0 ||
	    pt_der_int(&s, "cpu", cpu) < 0 ||
	    pt_der_int(&s, "memory", &c->memory) < 0)
		return -1;
	if (next_is(&s, PT_DER_UTF8)) {
		c->blocks = pt_arena_alloc(d->arena, sizeof(pt_blockspec));
		if (c->blocks == NULL)
			return oom(d, what);
		c->nblocks = 1;
		if (pt_der_text(&s, "block", &c->blocks[0].name) < 0)
			return -1;
	}
	void *arr = NULL;
	if (next_is(&s, PT_DER_SEQ)) {
		if (dec_list(&s, PT_DER_SEQ, "network interfaces",
		    WIRE_MAX_LIST, sizeof(pt_netspec), el_netname, &arr,
		    &c->nnets) < 0)
			return -1;
		c->nets = arr;
	}
	unsigned n;
	pt_der alt;
	if (choice(&s, "image", &n, &alt) < 0)
		return -1;
	if (n > 2)
		return unknown_choice(d, "image", n);
	c->compressed = n == 2; /* [0] amd64, [1] arm64, [2] amd64 zlib */
	if (pt_der_octets(&alt, "image", &c->image) < 0 ||
	    pt_der_done(&alt, "image") < 0)
		return -1;
	if (next_is(&s, PT_DER_SEQ)) {
		if (dec_list(&s, PT_DER_SEQ, "arguments", WIRE_MAX_ARGV,
		    sizeof(pt_text), el_text, &arr, &c->argc) < 0)
			return -1;
		c->has_argv = true;
		c->argv = arr;
	}
	return pt_der_done(&s, what);
}

/* ---- unikernel info (§6.7) ---- */

typedef struct {
	const char *what;
	bool startup;
	bool cpuid_set;
	bool tail;           /* [4] cpus, [5] linux-boot-partition */
} info_form;

static const info_form INFO_CURRENT = {"unikernel info", true, true, true};
static const info_form INFO_OLD5 = {"unikernel info (old 5)", true, false,
	false};
static const info_form INFO_OLD4 = {"unikernel info (old 4)", false, false,
	false};

static int
el_blockinfo(pt_der *d, void *e)
{
	pt_blockinfo *b = e;
	pt_der s;
	if (pt_der_expect(d, PT_DER_SEQ, "block info", &s) < 0 ||
	    pt_der_text(&s, "unikernel device", &b->unikernel_device) < 0 ||
	    pt_der_text(&s, "host device", &b->host_device) < 0 ||
	    pt_der_int(&s, "sector size", &b->sector_size) < 0 ||
	    pt_der_int(&s, "block size", &b->block_size_mb) < 0)
		return -1;
	return pt_der_done(&s, "block info");
}

static int
el_netinfo(pt_der *d, void *e)
{
	pt_netinfo *ni = e;
	pt_der s;
	if (pt_der_expect(d, PT_DER_SEQ, "network info", &s) < 0 ||
	    pt_der_text(&s, "unikernel device", &ni->unikernel_device) < 0 ||
	    pt_der_text(&s, "host device", &ni->host_device) < 0 ||
	    pt_der_mac(&s, "mac", ni->mac) < 0)
		return -1;
	return pt_der_done(&s, "network info");
}

static int
dec_info_tail(pt_der *s, const info_form *f, pt_ukinfo *i)
{
	pt_der x;
	if (next_is(s, PT_DER_CTX(3))) {
		if (enter(s, 3, "started", &x) < 0 ||
		    pt_der_time(&x, "started", &i->started) < 0 ||
		    pt_der_done(&x, "started") < 0)
			return -1;
	}
	if (!f->tail)
		return 0;
	if (next_is(s, PT_DER_CTX(4))) {
		if (enter(s, 4, "cpus", &x) < 0 ||
		    pt_der_int(&x, "cpus", &i->cpus) < 0 ||
		    pt_der_done(&x, "cpus") < 0)
			return -1;
	}
	if (next_is(s, PT_DER_CTX(5))) {
		i->has_boot_partition = true;
		if (enter(s, 5, "linux-boot-partition", &x) < 0 ||
		    pt_der_text(&x, "linux-boot-partition",
		    &i->boot_partition) < 0 ||
		    pt_der_done(&x, "linux-boot-partition") < 0)
			return -1;
	}
	return 0;
}

static int
dec_info_body(pt_der *s, const info_form *f, pt_ukinfo *i)
{
	void *arr = NULL;
	i->cpus = 1;
	if (dec_typ(s, &i->typ) < 0)
		return -1;
	if (f->startup && next_is(s, PT_DER_INTEGER)) {
		i->has_startup = true;
		if (pt_der_int(s, "startup", &i->startup) < 0)
			return -1;
	}
	if (dec_fail_behaviour(s, &i->fail) < 0 ||
	    dec_cpuids(s, f->cpuid_set, &i->cpuids, &i->ncpuids) < 0 ||
	    pt_der_int(s, "memory", &i->memory) < 0 ||
	    pt_der_octets(s, "digest", &i->digest) < 0)
		return -1;
	if (next_is(s, PT_DER_CTX(0))) {
		if (dec_tagged_list(s, 0, PT_DER_SET, "blocks", WIRE_MAX_LIST,
		    sizeof(pt_blockinfo), el_blockinfo, &arr, &i->nblocks) < 0)
			return -1;
		i->blocks = arr;
	}
	if (next_is(s, PT_DER_CTX(1))) {
		if (dec_tagged_list(s, 1, PT_DER_SET, "bridges", WIRE_MAX_LIST,
		    sizeof(pt_netinfo), el_netinfo, &arr, &i->nnets) < 0)
			return -1;
		i->nets = arr;
	}
	if (next_is(s, PT_DER_CTX(2)) &&
	    dec_argv(s, &i->has_argv, &i->argv, &i->argc) < 0)
		return -1;
	return dec_info_tail(s, f, i);
}

static int
dec_info(pt_der *d, const info_form *f, pt_ukinfo *i)
{
	pt_der s;
	memset(i, 0, sizeof(*i));
	if (pt_der_expect(d, PT_DER_SEQ, f->what, &s) < 0)
		return -1;
	if (dec_info_body(&s, f, i) < 0)
		return pt_fail_prefix(d->err, "%s", f->what);
	return pt_der_done(&s, f->what);
}

/* ---- statistics (§6.8) ---- */

static int
dec_timeval(pt_der *d, const char *what, pt_timeval *tv)
{
	pt_der s;
	if (pt_der_expect(d, PT_DER_SEQ, what, &s) < 0 ||
	    pt_der_int64(&s, "seconds", &tv->sec) < 0 ||
	    pt_der_int(&s, "microseconds", &tv->usec) < 0)
		return -1;
	return pt_der_done(&s, what);
}

static int
dec_int64s(pt_der *d, const char *what, int64_t *const *fields, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (pt_der_int64(d, what, fields[i]) < 0)
			return -1;
	return 0;
}

static int
dec_rusage(pt_der *d, pt_rusage *r)
{
	int64_t *const fields[] = {&r->maxrss, &r->ixrss, &r->idrss,
		&r->isrss, &r->minflt, &r->majflt, &r->nswap, &r->inblock,
		&r->outblock, &r->msgsnd, &r->msgrcv, &r->nsignals, &r->nvcsw,
		&r->nivcsw};
	pt_der s;
	if (pt_der_expect(d, PT_DER_SEQ, "rusage", &s) < 0 ||
	    dec_timeval(&s, "utime", &r->utime) < 0 ||
	    dec_timeval(&s, "stime", &r->stime) < 0 ||
	    dec_int64s(&s, "rusage", fields, sizeof(fields) / sizeof(*fields))
	    < 0)
		return -1;
	return pt_der_done(&s, "rusage");
}

/* albatross's Int32: an INTEGER truncated to 32 bits. */
static int
dec_int32(pt_der *d, const char *what, int64_t *v)
{
	int64_t x;
	if (pt_der_int(d, what, &x) < 0)
		return -1;
	*v = (int32_t)(uint32_t)(uint64_t)x;
	return 0;
}

static int
el_ifdata(pt_der *d, void *e)
{
	pt_ifdata *f = e;
	int64_t *const i32[] = {&f->flags, &f->send_length,
		&f->max_send_length, &f->send_drops, &f->mtu};
	int64_t *const i64[] = {&f->baudrate, &f->input_packets,
		&f->input_errors, &f->output_packets, &f->output_errors,
		&f->collisions, &f->input_bytes, &f->output_bytes,
		&f->input_mcast, &f->output_mcast, &f->input_dropped,
		&f->output_dropped};
	pt_der s;
	if (pt_der_expect(d, PT_DER_SEQ, "ifdata", &s) < 0 ||
	    pt_der_text(&s, "ifdata name", &f->bridge) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(i32) / sizeof(*i32); i++)
		if (dec_int32(&s, "ifdata", i32[i]) < 0)
			return -1;
	if (dec_int64s(&s, "ifdata", i64, sizeof(i64) / sizeof(*i64)) < 0)
		return -1;
	return pt_der_done(&s, "ifdata");
}

static int
el_vmmstat(pt_der *d, void *e)
{
	pt_vmmstat *v = e;
	pt_der s;
	if (pt_der_expect(d, PT_DER_SEQ, "vmm stat", &s) < 0 ||
	    pt_der_text(&s, "vmm stat key", &v->key) < 0 ||
	    pt_der_int64(&s, "vmm stat value", &v->value) < 0)
		return -1;
	return pt_der_done(&s, "vmm stat");
}

/* kinfo-mem is IMPLICIT [1]: the A1 TLV's content is KinfoMem's. */
static int
dec_kinfo_content(pt_der *s, pt_kinfo_mem *k)
{
	int64_t *const fields[] = {&k->vsize, &k->rss, &k->tsize, &k->dsize,
		&k->ssize, &k->runtime};
	if (dec_int64s(s, "kinfo-mem", fields,
	    sizeof(fields) / sizeof(*fields)) < 0 ||
	    pt_der_int(s, "kinfo-mem cow", &k->cow) < 0 ||
	    dec_timeval(s, "kinfo-mem start", &k->start) < 0)
		return -1;
	return pt_der_done(s, "kinfo-mem");
}

static int
dec_stats(pt_der *d, pt_stats *st)
{
	pt_der s, x;
	void *arr = NULL;
	if (pt_der_expect(d, PT_DER_SEQ, "stats", &s) < 0 ||
	    dec_rusage(&s, &st->rusage) < 0 ||
	    dec_list(&s, PT_DER_SEQ, "ifdata", WIRE_MAX_LIST,
	    sizeof(pt_ifdata), el_ifdata, &arr, &st->nifdata) < 0)
		return -1;
	st->ifdata = arr;
	if (next_is(&s, PT_DER_CTX(0))) {
		st->has_vmm = true;
		if (dec_tagged_list(&s, 0, PT_DER_SEQ, "vmm stats",
		    WIRE_MAX_LIST, sizeof(pt_vmmstat), el_vmmstat, &arr,
		    &st->nvmm) < 0)
			return -1;
		st->vmm = arr;
	}
	if (next_is(&s, PT_DER_CTX(1))) {
		st->has_kinfo = true;
		if (enter(&s, 1, "kinfo-mem", &x) < 0 ||
		    dec_kinfo_content(&x, &st->kinfo) < 0)
			return -1;
	}
	return pt_der_done(&s, "stats");
}

/* ======================================================================
 * Commands (§6.1): one table drives both directions.
 * ====================================================================== */

typedef enum {
	ARG_NULL,
	ARG_COUNT,        /* u.count */
	ARG_SUBSCRIBE,
	ARG_STATS_ADD,
	ARG_CONFIG_V3,
	ARG_CONFIG_V4,
	ARG_CONFIG_V5,
	ARG_LEVEL,        /* u.level */
	ARG_RESTART,
	ARG_POLICY,
	ARG_SIZE,         /* u.size_mb */
	ARG_BLOCK_ADD_OLD,
	ARG_BLOCK_SET_OLD,
	ARG_COMPRESSED,   /* u.compressed */
	ARG_LOG,          /* u.log */
	ARG_LOG_RECORD,   /* u.record */
} cmd_arg;

typedef struct {
	pt_cmd_kind kind;
	uint8_t group;    /* WireCommand tag */
	uint8_t tag;      /* tag inside the group */
	cmd_arg arg;
	bool legacy;      /* decoded only; never chosen to encode */
	const char *name;
} cmd_desc;

static const cmd_desc commands[] = {
	{PT_CMD_CONSOLE_ADD, 0, 0, ARG_COUNT, false, "console add"},
	{PT_CMD_CONSOLE_SUBSCRIBE, 0, 2, ARG_SUBSCRIBE, false,
	    "console subscribe"},
	{PT_CMD_CONSOLE_LIST_INACTIVE, 0, 3, ARG_NULL, false,
	    "console list-inactive"},
	{PT_CMD_STATS_ADD, 1, 0, ARG_STATS_ADD, false, "stats add"},
	{PT_CMD_STATS_REMOVE, 1, 1, ARG_NULL, false, "stats remove"},
	{PT_CMD_STATS_SUBSCRIBE, 1, 2, ARG_NULL, false, "stats subscribe"},
	{PT_CMD_STATS_INITIAL, 1, 3, ARG_NULL, false, "stats initial"},
	{PT_CMD_UK_DESTROY, 3, 3, ARG_NULL, false, "unikernel destroy"},
	{PT_CMD_UK_CREATE, 3, 9, ARG_CONFIG_V3, true, "unikernel create-v3"},
	{PT_CMD_UK_FORCE_CREATE, 3, 10, ARG_CONFIG_V3, true,
	    "unikernel force-create-v3"},
	{PT_CMD_UK_GET, 3, 11, ARG_LEVEL, false, "unikernel get"},
	{PT_CMD_UK_RESTART, 3, 14, ARG_RESTART, false, "unikernel restart"},
	{PT_CMD_UK_INFO_OLD4, 3, 15, ARG_NULL, false, "unikernel info-old4"},
	{PT_CMD_UK_CREATE, 3, 16, ARG_CONFIG_V4, true, "unikernel create-v4"},
	{PT_CMD_UK_FORCE_CREATE, 3, 17, ARG_CONFIG_V4, true,
	    "unikernel force-create-v4"},
	{PT_CMD_UK_INFO_OLD5, 3, 18, ARG_NULL, false, "unikernel info-old5"},
	{PT_CMD_UK_INFO, 3, 19, ARG_NULL, false, "unikernel info"},
	{PT_CMD_UK_CREATE, 3, 20, ARG_CONFIG_V5, false, "unikernel create"},
	{PT_CMD_UK_FORCE_CREATE, 3, 21, ARG_CONFIG_V5, false,
	    "unikernel force-create"},
	{PT_CMD_POLICY_INFO, 4, 0, ARG_NULL, false, "policy info"},
	{PT_CMD_POLICY_ADD, 4, 1, ARG_POLICY, false, "policy add"},
	{PT_CMD_POLICY_REMOVE, 4, 2, ARG_NULL, false, "policy remove"},
	{PT_CMD_BLOCK_INFO, 5, 0, ARG_NULL, false, "block info"},
	{PT_CMD_BLOCK_ADD, 5, 1, ARG_SIZE, false, "block add"},
	{PT_CMD_BLOCK_REMOVE, 5, 2, ARG_NULL, false, "block remove"},
	{PT_CMD_BLOCK_ADD_OLD, 5, 3, ARG_BLOCK_ADD_OLD, false,
	    "block add-old"},
	{PT_CMD_BLOCK_SET_OLD, 5, 4, ARG_BLOCK_SET_OLD, false,
	    "block set-old"},
	{PT_CMD_BLOCK_DUMP_OLD, 5, 5, ARG_LEVEL, false, "block dump-old"},
	{PT_CMD_BLOCK_DUMP, 5, 6, ARG_LEVEL, false, "block dump"},
	{PT_CMD_BLOCK_SET, 5, 7, ARG_COMPRESSED, false, "block set"},
	{PT_CMD_LOG_SUBSCRIBE, 2, 0, ARG_LOG, false, "log subscribe"},
	{PT_CMD_LOG_RECORD, 2, 1, ARG_LOG_RECORD, false, "log record"},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char *const group_names[] = {"console command",
	"stats command", "log command", "unikernel command", "policy command",
	"block command"};

static int
dec_subscribe(pt_der *d, pt_subscribe *s)
{
	unsigned n;
	pt_der alt;
	if (choice(d, "console subscribe", &n, &alt) < 0)
		return -1;
	if (n == 0) {
		if (pt_der_time(&alt, "since", &s->since) < 0)
			return -1;
	} else if (n == 1) {
		s->by_count = true;
		if (pt_der_int(&alt, "count", &s->count) < 0)
			return -1;
	} else {
		return unknown_choice(d, "console subscribe", n);
	}
	return pt_der_done(&alt, "console subscribe");
}

static int
el_stats_net(pt_der *d, void *e)
{
	pt_stats_net *sn = e;
	pt_der s;
	if (pt_der_expect(d, PT_DER_SEQ, "network", &s) < 0 ||
	    pt_der_text(&s, "network name", &sn->name) < 0 ||
	    pt_der_text(&s, "tap", &sn->tap) < 0)
		return -1;
	return pt_der_done(&s, "network");
}

static int
dec_stats_add(pt_der *d, pt_stats_add *a)
{
	pt_der s;
	void *arr = NULL;
	if (pt_der_expect(d, PT_DER_SEQ, "stats add", &s) < 0 ||
	    pt_der_text(&s, "vmmdev", &a->vmmdev) < 0 ||
	    pt_der_int(&s, "pid", &a->pid) < 0 ||
	    dec_list(&s, PT_DER_SEQ, "network", WIRE_MAX_LIST,
	    sizeof(pt_stats_net), el_stats_net, &arr, &a->nnets) < 0)
		return -1;
	a->nets = arr;
	return pt_der_done(&s, "stats add");
}

static int
dec_restart(pt_der *d, pt_restart *r)
{
	unsigned n;
	pt_der alt;
	static const config_form *const forms[] = {NULL, &RESTART_V0,
		&RESTART_V1, &RESTART_V3};
	if (choice(d, "restart", &n, &alt) < 0)
		return -1;
	if (n > 3)
		return unknown_choice(d, "restart", n);
	r->args_version = (int)n;
	if (n == 0) {
		if (pt_der_null(&alt, "restart") < 0)
			return -1;
	} else {
		r->has_args = true;
		if (dec_config(&alt, forms[n], &r->args) < 0)
			return -1;
	}
	return pt_der_done(&alt, "restart");
}

static int
dec_block_add_old(pt_der *d, pt_block_add_old *b)
{
	pt_der s;
	if (pt_der_expect(d, PT_DER_SEQ, "block add-old", &s) < 0 ||
	    pt_der_int(&s, "size", &b->size_mb) < 0 ||
	    pt_der_bool(&s, "compressed", &b->compressed) < 0)
		return -1;
	if (next_is(&s, PT_DER_OCTETS)) {
		b->has_data = true;
		if (pt_der_octets(&s, "data", &b->data) < 0)
			return -1;
	}
	return pt_der_done(&s, "block add-old");
}

static int
dec_block_set_old(pt_der *d, pt_block_set_old *b)
{
	pt_der s;
	if (pt_der_expect(d, PT_DER_SEQ, "block set-old", &s) < 0 ||
	    pt_der_bool(&s, "compressed", &b->compressed) < 0 ||
	    pt_der_octets(&s, "data", &b->data) < 0)
		return -1;
	return pt_der_done(&s, "block set-old");
}

static int
dec_cmd_arg(pt_der *d, const cmd_desc *cd, pt_command *c)
{
	switch (cd->arg) {
	case ARG_NULL:
		return pt_der_null(d, cd->name);
	case ARG_COUNT:
		return pt_der_int(d, cd->name, &c->u.count);
	case ARG_SUBSCRIBE:
		return dec_subscribe(d, &c->u.subscribe);
	case ARG_STATS_ADD:
		return dec_stats_add(d, &c->u.stats_add);
	case ARG_CONFIG_V3:
		c->config_version = 3;
		return dec_config(d, &CONFIG_V3, &c->u.config);
	case ARG_CONFIG_V4:
		c->config_version = 4;
		return dec_config(d, &CONFIG_V4, &c->u.config);
	case ARG_CONFIG_V5:
		c->config_version = 5;
		return dec_config(d, &CONFIG_V5, &c->u.config);
	case ARG_LEVEL:
		return pt_der_int(d, cd->name, &c->u.level);
	case ARG_RESTART:
		return dec_restart(d, &c->u.restart);
	case ARG_POLICY:
		return dec_policy(d, &c->u.policy);
	case ARG_SIZE:
		return pt_der_int(d, cd->name, &c->u.size_mb);
	case ARG_BLOCK_ADD_OLD:
		return dec_block_add_old(d, &c->u.block_add_old);
	case ARG_BLOCK_SET_OLD:
		return dec_block_set_old(d, &c->u.block_set_old);
	case ARG_COMPRESSED:
		return pt_der_bool(d, cd->name, &c->u.compressed);
	case ARG_LOG:
		return pt_log_subscribe_read(d, &c->u.log);
	case ARG_LOG_RECORD:
		return pt_event_read(d, &c->u.record);
	}
	return pt_fail(d->err, "%s: internal error", cd->name);
}

/* Reads one WireCommand. */
static int
dec_command(pt_der *d, pt_command *c)
{
	unsigned g, t;
	pt_der grp, alt;
	memset(c, 0, sizeof(*c));
	if (choice(d, "command", &g, &grp) < 0)
		return -1;
	if (g >= sizeof(group_names) / sizeof(*group_names))
		return unknown_choice(d, "command", g);
	const char *gname = group_names[g];
	if (choice(&grp, gname, &t, &alt) < 0)
		return -1;
	const cmd_desc *cd = NULL;
	for (size_t i = 0; i < NCOMMANDS && cd == NULL; i++)
		if (commands[i].group == g && commands[i].tag == t)
			cd = &commands[i];
	if (cd == NULL)
		return unknown_choice(d, gname, t);
	c->kind = cd->kind;
	if (dec_cmd_arg(&alt, cd, c) < 0 || pt_der_done(&alt, cd->name) < 0 ||
	    pt_der_done(&grp, gname) < 0)
		return -1;
	return 0;
}

/* ======================================================================
 * Success, failure, data (§6.6, §6.8)
 * ====================================================================== */

static int
el_named_policy(pt_der *d, void *e)
{
	pt_named_policy *np = e;
	pt_der s;
	if (pt_der_expect(d, PT_DER_SEQ, "policy entry", &s) < 0 ||
	    pt_der_name(&s, "name", &np->name) < 0 ||
	    dec_policy(&s, &np->policy) < 0)
		return -1;
	return pt_der_done(&s, "policy entry");
}

static int
el_block_entry(pt_der *d, void *e)
{
	pt_block_entry *b = e;
	pt_der s;
	if (pt_der_expect(d, PT_DER_SEQ, "block device entry", &s) < 0 ||
	    pt_der_name(&s, "name", &b->name) < 0 ||
	    pt_der_int(&s, "size", &b->size_mb) < 0 ||
	    pt_der_bool(&s, "active", &b->active) < 0)
		return -1;
	return pt_der_done(&s, "block device entry");
}

static int
el_named_info_with(pt_der *d, void *e, const info_form *f)
{
	pt_named_info *ni = e;
	pt_der s;
	if (pt_der_expect(d, PT_DER_SEQ, "unikernel entry", &s) < 0 ||
	    pt_der_name(&s, "name", &ni->name) < 0 ||
	    dec_info(&s, f, &ni->info) < 0)
		return -1;
	return pt_der_done(&s, "unikernel entry");
}

static int
el_named_info(pt_der *d, void *e)
{
	return el_named_info_with(d, e, &INFO_CURRENT);
}

static int
el_named_info5(pt_der *d, void *e)
{
	return el_named_info_with(d, e, &INFO_OLD5);
}

static int
el_named_info4(pt_der *d, void *e)
{
	return el_named_info_with(d, e, &INFO_OLD4);
}

static int
dec_image(pt_der *d, pt_image *img)
{
	pt_der s;
	if (pt_der_expect(d, PT_DER_SEQ, "image", &s) < 0 ||
	    pt_der_bool(&s, "compressed", &img->compressed) < 0 ||
	    pt_der_octets(&s, "image", &img->data) < 0)
		return -1;
	return pt_der_done(&s, "image");
}

static int
dec_infos(pt_der *d, elem_fn fn, pt_success *s)
{
	void *arr = NULL;
	if (dec_list(d, PT_DER_SEQ, "unikernel info", WIRE_MAX_LIST,
	    sizeof(pt_named_info), fn, &arr, &s->u.infos.n) < 0)
		return -1;
	s->u.infos.v = arr;
	return 0;
}

static int
dec_success_alt(pt_der *d, unsigned n, pt_success *s)
{
	void *arr = NULL;
	switch (n) {
	case 0:
		s->kind = PT_OK_EMPTY;
		return pt_der_null(d, "success");
	case 1:
		s->kind = PT_OK_STRING;
		return pt_der_text(d, "success string", &s->u.string);
	case 2:
		s->kind = PT_OK_POLICIES;
		if (dec_list(d, PT_DER_SEQ, "policies", WIRE_MAX_LIST,
		    sizeof(pt_named_policy), el_named_policy, &arr,
		    &s->u.policies.n) < 0)
			return -1;
		s->u.policies.v = arr;
		return 0;
	case 4:
		s->kind = PT_OK_BLOCK_DEVICES;
		if (dec_list(d, PT_DER_SEQ, "block devices", WIRE_MAX_LIST,
		    sizeof(pt_block_entry), el_block_entry, &arr,
		    &s->u.blocks.n) < 0)
			return -1;
		s->u.blocks.v = arr;
		return 0;
	case 6:
		s->kind = PT_OK_UNIKERNEL_IMAGE;
		return dec_image(d, &s->u.image);
	case 7:
		s->kind = PT_OK_OLD_BLOCK_IMAGE;
		return dec_image(d, &s->u.image);
	case 9:
		s->kind = PT_OK_OLD_UNIKERNEL_INFO4;
		return dec_infos(d, el_named_info4, s);
	case 10:
		s->kind = PT_OK_BLOCK_IMAGE;
		return pt_der_bool(d, "compressed", &s->u.compressed);
	case 11:
		s->kind = PT_OK_OLD_UNIKERNEL_INFO5;
		return dec_infos(d, el_named_info5, s);
	case 12:
		s->kind = PT_OK_CONSOLES;
		if (dec_list(d, PT_DER_SEQ, "consoles", WIRE_MAX_LIST,
		    sizeof(pt_name), el_name, &arr, &s->u.consoles.n) < 0)
			return -1;
		s->u.consoles.v = arr;
		return 0;
	case 13:
		s->kind = PT_OK_UNIKERNEL_INFO;
		return dec_infos(d, el_named_info, s);
	default:
		return unknown_choice(d, "success", n);
	}
}

static int
dec_success(pt_der *d, pt_success *s)
{
	unsigned n;
	pt_der alt;
	if (choice(d, "success", &n, &alt) < 0 ||
	    dec_success_alt(&alt, n, s) < 0)
		return -1;
	return pt_der_done(&alt, "success");
}

static int
dec_console_data(pt_der *d, pt_data *dt)
{
	pt_der s;
	if (pt_der_expect(d, PT_DER_SEQ, "console data", &s) < 0 ||
	    pt_der_time(&s, "timestamp", &dt->u.console.time) < 0 ||
	    pt_der_text(&s, "console line", &dt->u.console.line) < 0)
		return -1;
	return pt_der_done(&s, "console data");
}

static int
dec_block_data(pt_der *d, pt_data *dt)
{
	unsigned n;
	pt_der alt;
	if (choice(d, "block data", &n, &alt) < 0)
		return -1;
	if (n == 0) {
		dt->kind = PT_DATA_BLOCK_CHUNK;
		if (pt_der_octets(&alt, "block chunk", &dt->u.chunk) < 0)
			return -1;
	} else if (n == 1) {
		dt->kind = PT_DATA_BLOCK_END;
		if (pt_der_null(&alt, "block end") < 0)
			return -1;
	} else {
		return unknown_choice(d, "block data", n);
	}
	return pt_der_done(&alt, "block data");
}

static int
dec_data(pt_der *d, pt_data *dt)
{
	unsigned n;
	pt_der alt;
	int rc;
	if (choice(d, "data", &n, &alt) < 0)
		return -1;
	switch (n) {
	case 1:
		dt->kind = PT_DATA_STATS;
		rc = dec_stats(&alt, &dt->u.stats);
		break;
	case 2:
		/* petrel's event log; albatross's old NULL still fails. */
		dt->kind = PT_DATA_LOG;
		rc = pt_event_read(&alt, &dt->u.event);
		break;
	case 3:
		dt->kind = PT_DATA_CONSOLE;
		rc = dec_console_data(&alt, dt);
		break;
	case 4:
		rc = dec_block_data(&alt, dt);
		break;
	default:
		return unknown_choice(d, "data", n);
	}
	return rc < 0 ? -1 : pt_der_done(&alt, "data");
}

/* ======================================================================
 * Messages, certificate extension, state file
 * ====================================================================== */

/* The version comes first so that any other AV version is reported as
 * such, the way albatross does before it decodes the rest. */
static int
dec_version(pt_der *d, int64_t *v)
{
	if (pt_der_int(d, "version", v) < 0)
		return -1;
	if (*v != PT_WIRE_VERSION) {
		if (*v < 0)
			return pt_fail(d->err, "unknown version number -0x%llx",
			    (unsigned long long)-*v);
		return pt_fail(d->err, "unknown version number 0x%llx",
		    (unsigned long long)*v);
	}
	return 0;
}

static int
dec_header(pt_der *d, pt_header *h)
{
	pt_der s;
	if (pt_der_expect(d, PT_DER_SEQ, "header", &s) < 0 ||
	    dec_version(&s, &h->version) < 0 ||
	    pt_der_int64(&s, "sequence", &h->sequence) < 0 ||
	    pt_der_name(&s, "name", &h->name) < 0)
		return -1;
	return pt_der_done(&s, "header");
}

static int
dec_payload(pt_der *d, pt_wire *w)
{
	unsigned n;
	pt_der alt;
	int rc;
	if (choice(d, "payload", &n, &alt) < 0)
		return -1;
	switch (n) {
	case 0:
		w->kind = PT_PAYLOAD_COMMAND;
		rc = dec_command(&alt, &w->u.command);
		break;
	case 1:
		w->kind = PT_PAYLOAD_SUCCESS;
		rc = dec_success(&alt, &w->u.success);
		break;
	case 2:
		w->kind = PT_PAYLOAD_FAILURE;
		rc = pt_der_text(&alt, "failure", &w->u.failure);
		break;
	case 3:
		w->kind = PT_PAYLOAD_DATA;
		rc = dec_data(&alt, &w->u.data);
		break;
	default:
		return unknown_choice(d, "payload", n);
	}
	return rc < 0 ? -1 : pt_der_done(&alt, "payload");
}

int
pt_wire_decode(const uint8_t *p, size_t n, pt_arena *a, pt_wire *out,
    pt_err *err)
{
	pt_der d, s;
	memset(out, 0, sizeof(*out));
	pt_der_init(&d, p, n, a, err);
	if (pt_der_expect(&d, PT_DER_SEQ, "message", &s) < 0 ||
	    dec_header(&s, &out->header) < 0 ||
	    dec_payload(&s, out) < 0 ||
	    pt_der_done(&s, "message") < 0 ||
	    pt_der_done(&d, "message") < 0)
		return -1;
	return 0;
}

int
pt_certext_decode(const uint8_t *p, size_t n, pt_arena *a, pt_certext *out,
    pt_err *err)
{
	pt_der d, s;
	memset(out, 0, sizeof(*out));
	pt_der_init(&d, p, n, a, err);
	if (pt_der_expect(&d, PT_DER_SEQ, "certificate extension", &s) < 0 ||
	    dec_version(&s, &out->version) < 0 ||
	    dec_command(&s, &out->command) < 0 ||
	    pt_der_done(&s, "certificate extension") < 0 ||
	    pt_der_done(&d, "certificate extension") < 0)
		return -1;
	return 0;
}

/* ---- state file (§10) ---- */

static int
el_state_uk(pt_der *d, void *e, const config_form *form)
{
	pt_state_uk *u = e;
	pt_der s;
	if (pt_der_expect(d, PT_DER_SEQ, "unikernel entry", &s) < 0 ||
	    pt_der_name(&s, "name", &u->name) < 0)
		return -1;
	int rc = form != NULL ? dec_config(&s, form, &u->config) :
	    dec_config_v0(&s, &u->config);
	if (rc < 0)
		return pt_fail_prefix(d->err, "%s", u->name.text);
	return pt_der_done(&s, "unikernel entry");
}

/* One element reader per configuration form (elem_fn has no context). */
static int
el_state_v0(pt_der *d, void *e)
{
	return el_state_uk(d, e, NULL);
}

static int
el_state_v1(pt_der *d, void *e)
{
	return el_state_uk(d, e, &CONFIG_V1);
}

static int
el_state_v2(pt_der *d, void *e)
{
	return el_state_uk(d, e, &CONFIG_V2);
}

static int
el_state_v3(pt_der *d, void *e)
{
	return el_state_uk(d, e, &CONFIG_V3);
}

static int
el_state_v4(pt_der *d, void *e)
{
	return el_state_uk(d, e, &CONFIG_V4);
}

static int
el_state_v5(pt_der *d, void *e)
{
	return el_state_uk(d, e, &CONFIG_V5);
}

static int
cmp_names(const void *a, const void *b)
{
	const pt_name *const *x = a, *const *y = b;
	return strcmp((*x)->text, (*y)->text);
}

/* albatross aborts on a state file naming something twice; we refuse it.
 * The names are at `base`, `stride` bytes apart. */
static int
check_unique(pt_der *d, const char *what, const void *base, size_t n,
    size_t stride)
{
	if (n < 2)
		return 0;
	const pt_name **v = calloc(n, sizeof(*v));
	if (v == NULL)
		return oom(d, what);
	for (size_t i = 0; i < n; i++)
		v[i] = (const pt_name *)((const uint8_t *)base + i * stride);
	qsort(v, n, sizeof(*v), cmp_names);
	int rc = 0;
	for (size_t i = 1; i < n && rc == 0; i++)
		if (strcmp(v[i - 1]->text, v[i]->text) == 0)
			rc = pt_fail(d->err, "%s: duplicate name '%s'", what,
			    v[i]->text);
	free(v);
	return rc;
}

static int
dec_uk_trie(pt_der *d, elem_fn fn, pt_state *st)
{
	void *arr = NULL;
	if (dec_list(d, PT_DER_SEQ, "unikernels", WIRE_MAX_LIST,
	    sizeof(pt_state_uk), fn, &arr, &st->nunikernels) < 0)
		return -1;
	st->unikernels = arr;
	return check_unique(d, "unikernels", st->unikernels, st->nunikernels,
	    sizeof(pt_state_uk));
}

static int
dec_policy_trie(pt_der *d, pt_state *st)
{
	void *arr = NULL;
	if (dec_list(d, PT_DER_SEQ, "policies", WIRE_MAX_LIST,
	    sizeof(pt_named_policy), el_named_policy, &arr,
	    &st->npolicies) < 0)
		return -1;
	st->policies = arr;
	return check_unique(d, "policies", st->policies, st->npolicies,
	    sizeof(pt_named_policy));
}

static int
dec_state_choice(pt_der *d, unsigned n, pt_state *st)
{
	/* Choices [0]..[3]: a bare unikernel trie; [4]..[6]: a SEQUENCE of
	 * a unikernel trie and a policy trie. */
	static const elem_fn forms[] = {el_state_v1, el_state_v0,
		el_state_v2, el_state_v3, el_state_v3, el_state_v4,
		el_state_v5};
	if (n <= 3)
		return dec_uk_trie(d, forms[n], st);
	pt_der s;
	if (pt_der_expect(d, PT_DER_SEQ, "state", &s) < 0 ||
	    dec_uk_trie(&s, forms[n], st) < 0 ||
	    dec_policy_trie(&s, st) < 0)
		return -1;
	return pt_der_done(&s, "state");
}

int
pt_state_decode(const uint8_t *p, size_t n, pt_arena *a, pt_state *out,
    pt_err *err)
{
	pt_der d, alt;
	unsigned c;
	memset(out, 0, sizeof(*out));
	pt_der_init(&d, p, n, a, err);
	if (choice(&d, "state", &c, &alt) < 0)
		return -1;
	if (c == 7)
		return pt_fail(err, "state: reserved choice [7]");
	if (c > 7)
		return unknown_choice(&d, "state", c);
	out->choice = (int)c;
	if (dec_state_choice(&alt, c, out) < 0 ||
	    pt_der_done(&alt, "state") < 0 || pt_der_done(&d, "state") < 0)
		return -1;
	return 0;
}

/* ======================================================================
 * Encoding: always the current forms, canonical DER (§3.1), with the
 * emission rules of §6.3 and §6.7.
 * ====================================================================== */

static void
enc_null_in(pt_derw *w, unsigned n)
{
	size_t m = pt_derw_begin(w, PT_DER_CTX(n));
	pt_derw_null(w);
	pt_derw_end(w, m);
}

static void
enc_typ(pt_derw *w, pt_typ t)
{
	enc_null_in(w, t == PT_TYP_BHYVE ? 1 : 0);
}

/* A SET OF INTEGER from a numeric set: de-duplicated, then in DER order
 * (which differs from numeric order only for negative values). */
static void
enc_int_set(pt_derw *w, const char *what, const int64_t *v, size_t n)
{
	int64_t *tmp = NULL;
	if (n > 0) {
		tmp = malloc(n * sizeof(*tmp));
		if (tmp == NULL) {
			pt_derw_fail(w, "%s: out of memory", what);
			return;
		}
		memcpy(tmp, v, n * sizeof(*tmp));
		pt_sort_int64_unique(tmp, &n);
	}
	size_t m = pt_derw_begin(w, PT_DER_SET);
	for (size_t i = 0; i < n; i++)
		pt_derw_int(w, what, tmp[i]);
	pt_derw_sort_set(w, m);
	pt_derw_end(w, m);
	free(tmp);
}

static void
enc_fail_behaviour(pt_derw *w, const pt_fail_behaviour *f)
{
	if (!f->restart) {
		enc_null_in(w, 0);
		return;
	}
	size_t m = pt_derw_begin(w, PT_DER_CTX(1));
	enc_int_set(w, "exit codes", f->codes, f->ncodes);
	pt_derw_end(w, m);
}

static void
enc_text(pt_derw *w, const char *what, const pt_text *t)
{
	pt_derw_text(w, what, t->s, t->len);
}

static void
enc_argv(pt_derw *w, unsigned tag, bool has, const pt_text *argv,
    size_t argc)
{
	if (!has)
		return;
	size_t m = pt_derw_begin(w, PT_DER_CTX(tag));
	size_t s = pt_derw_begin(w, PT_DER_SEQ);
	for (size_t i = 0; i < argc; i++)
		enc_text(w, "argument", &argv[i]);
	pt_derw_end(w, s);
	pt_derw_end(w, m);
}

static void
enc_blockspecs(pt_derw *w, const pt_blockspec *b, size_t n)
{
	if (n == 0)
		return;
	size_t m = pt_derw_begin(w, PT_DER_CTX(0));
	size_t set = pt_derw_begin(w, PT_DER_SET);
	for (size_t i = 0; i < n; i++) {
		size_t s = pt_derw_begin(w, PT_DER_SEQ);
		enc_text(w, "block device name", &b[i].name);
		if (b[i].has_device)
			enc_text(w, "block device label", &b[i].device);
		if (b[i].has_sector_size)
			pt_derw_int(w, "sector size", b[i].sector_size);
		pt_derw_end(w, s);
	}
	pt_derw_sort_set(w, set);
	pt_derw_end(w, set);
	pt_derw_end(w, m);
}

static void
enc_netspecs(pt_derw *w, const pt_netspec *nets, size_t n)
{
	if (n == 0)
		return;
	size_t m = pt_derw_begin(w, PT_DER_CTX(1));
	size_t set = pt_derw_begin(w, PT_DER_SET);
	for (size_t i = 0; i < n; i++) {
		size_t s = pt_derw_begin(w, PT_DER_SEQ);
		enc_text(w, "network device name", &nets[i].name);
		if (nets[i].has_bridge)
			enc_text(w, "bridge", &nets[i].bridge);
		if (nets[i].has_mac)
			pt_derw_octets(w, nets[i].mac, 6);
		pt_derw_end(w, s);
	}
	pt_derw_sort_set(w, set);
	pt_derw_end(w, set);
	pt_derw_end(w, m);
}

/* The fields shared by UnikernelConfig and RestartArguments after
 * fail-behaviour / add-name: cpuids, memory, devices, argv, cpus, boot. */
static void
enc_config_rest(pt_derw *w, const pt_ukconfig *c)
{
	enc_int_set(w, "cpuids", c->cpuids, c->ncpuids);
	pt_derw_int(w, "memory", c->memory);
	enc_blockspecs(w, c->blocks, c->nblocks);
	enc_netspecs(w, c->nets, c->nnets);
	enc_argv(w, 2, c->has_argv, c->argv, c->argc);
	size_t m = pt_derw_begin(w, PT_DER_CTX(3)); /* cpus: always */
	pt_derw_int(w, "cpus", c->cpus);
	pt_derw_end(w, m);
	if (c->has_boot_partition) {
		m = pt_derw_begin(w, PT_DER_CTX(4));
		enc_text(w, "linux-boot-partition", &c->boot_partition);
		pt_derw_end(w, m);
	}
}

static void
enc_config(pt_derw *w, const pt_ukconfig *c)
{
	size_t s = pt_derw_begin(w, PT_DER_SEQ);
	enc_typ(w, c->typ);
	pt_derw_bool(w, c->compressed);
	pt_derw_octets(w, c->image.data, c->image.len);
	if (c->has_startup)
		pt_derw_int(w, "startup", c->startup);
	pt_derw_bool(w, c->add_name);
	enc_fail_behaviour(w, &c->fail);
	enc_config_rest(w, c);
	pt_derw_end(w, s);
}

static void
enc_restart_args(pt_derw *w, const pt_ukconfig *c)
{
	size_t s = pt_derw_begin(w, PT_DER_SEQ);
	enc_fail_behaviour(w, &c->fail);
	if (c->has_startup)
		pt_derw_int(w, "startup", c->startup);
	pt_derw_bool(w, c->add_name);
	enc_config_rest(w, c);
	pt_derw_end(w, s);
}

static int
cmp_text_bytes(const void *a, const void *b)
{
	const pt_text *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = n > 0 ? memcmp(x->s, y->s, n) : 0;
	if (c != 0)
		return c;
	return (x->len > y->len) - (x->len < y->len);
}

/* Policy (§6.2): cpuids ascending and bridges byte-wise ascending, both
 * de-duplicated, whatever order the caller holds them in. */
static void
enc_policy(pt_derw *w, const pt_policy *p)
{
	int64_t *cpus = NULL;
	pt_text *br = NULL;
	size_t ncpus = p->ncpuids, nbr = p->nbridges;
	if ((ncpus > 0 && (cpus = malloc(ncpus * sizeof(*cpus))) == NULL) ||
	    (nbr > 0 && (br = malloc(nbr * sizeof(*br))) == NULL)) {
		free(cpus);
		pt_derw_fail(w, "policy: out of memory");
		return;
	}
	if (ncpus > 0) {
		memcpy(cpus, p->cpuids, ncpus * sizeof(*cpus));
		pt_sort_int64_unique(cpus, &ncpus);
	}
	if (nbr > 0) {
		memcpy(br, p->bridges, nbr * sizeof(*br));
		qsort(br, nbr, sizeof(*br), cmp_text_bytes);
	}
	size_t s = pt_derw_begin(w, PT_DER_SEQ);
	size_t l = pt_derw_begin(w, PT_DER_SEQ);
	for (size_t i = 0; i < ncpus; i++)
		pt_derw_int(w, "policy cpuid", cpus[i]);
	pt_derw_end(w, l);
	pt_derw_int(w, "policy unikernels", p->unikernels);
	pt_derw_int(w, "policy memory", p->memory);
	if (p->has_block)
		pt_derw_int(w, "policy block", p->block);
	l = pt_derw_begin(w, PT_DER_SEQ);
	for (size_t i = 0; i < nbr; i++)
		if (i == 0 || cmp_text_bytes(&br[i - 1], &br[i]) != 0)
			enc_text(w, "policy bridge", &br[i]);
	pt_derw_end(w, l);
	pt_derw_end(w, s);
	free(cpus);
	free(br);
}

/* ---- unikernel info ---- */

static void
enc_info(pt_derw *w, const pt_ukinfo *i, const info_form *f)
{
	size_t s = pt_derw_begin(w, PT_DER_SEQ);
	enc_typ(w, i->typ);
	if (f->startup && i->has_startup)
		pt_derw_int(w, "startup", i->startup);
	enc_fail_behaviour(w, &i->fail);
	if (f->cpuid_set) {
		enc_int_set(w, "cpuids", i->cpuids, i->ncpuids);
	} else if (i->ncpuids != 1) {
		pt_derw_fail(w, "%s: the old format carries exactly one CPU "
		    "id (have %zu)", f->what, i->ncpuids);
	} else {
		pt_derw_int(w, "cpuid", i->cpuids[0]);
	}
	pt_derw_int(w, "memory", i->memory);
	pt_derw_octets(w, i->digest.data, i->digest.len);
	size_t m, set;
	if (i->nblocks > 0) {
		m = pt_derw_begin(w, PT_DER_CTX(0));
		set = pt_derw_begin(w, PT_DER_SET);
		for (size_t k = 0; k < i->nblocks; k++) {
			const pt_blockinfo *b = &i->blocks[k];
			size_t e = pt_derw_begin(w, PT_DER_SEQ);
			enc_text(w, "unikernel device", &b->unikernel_device);
			enc_text(w, "host device", &b->host_device);
			pt_derw_int(w, "sector size", b->sector_size);
			pt_derw_int(w, "block size", b->block_size_mb);
			pt_derw_end(w, e);
		}
		pt_derw_sort_set(w, set);
		pt_derw_end(w, set);
		pt_derw_end(w, m);
	}
	if (i->nnets > 0) {
		m = pt_derw_begin(w, PT_DER_CTX(1));
		set = pt_derw_begin(w, PT_DER_SET);
		for (size_t k = 0; k < i->nnets; k++) {
			const pt_netinfo *ni = &i->nets[k];
			size_t e = pt_derw_begin(w, PT_DER_SEQ);
			enc_text(w, "unikernel device", &ni->unikernel_device);
			enc_text(w, "host device", &ni->host_device);
			pt_derw_octets(w, ni->mac, 6);
			pt_derw_end(w, e);
		}
		pt_derw_sort_set(w, set);
		pt_derw_end(w, set);
		pt_derw_end(w, m);
	}
	enc_argv(w, 2, i->has_argv, i->argv, i->argc);
	m = pt_derw_begin(w, PT_DER_CTX(3)); /* started: always */
	pt_derw_time(w, i->started);
	pt_derw_end(w, m);
	if (f->tail) {
		m = pt_derw_begin(w, PT_DER_CTX(4)); /* cpus: always */
		pt_derw_int(w, "cpus", i->cpus);
		pt_derw_end(w, m);
		if (i->has_boot_partition) {
			m = pt_derw_begin(w, PT_DER_CTX(5));
			enc_text(w, "linux-boot-partition",
			    &i->boot_partition);
			pt_derw_end(w, m);
		}
	}
	pt_derw_end(w, s);
}

/* ---- statistics ---- */

static void
enc_timeval(pt_derw *w, const pt_timeval *tv)
{
	size_t s = pt_derw_begin(w, PT_DER_SEQ);
	pt_derw_int64(w, tv->sec);
	pt_derw_int(w, "microseconds", tv->usec);
	pt_derw_end(w, s);
}

static void
enc_rusage(pt_derw *w, const pt_rusage *r)
{
	const int64_t fields[] = {r->maxrss, r->ixrss, r->idrss, r->isrss,
		r->minflt, r->majflt, r->nswap, r->inblock, r->outblock,
		r->msgsnd, r->msgrcv, r->nsignals, r->nvcsw, r->nivcsw};
	size_t s = pt_derw_begin(w, PT_DER_SEQ);
	enc_timeval(w, &r->utime);
	enc_timeval(w, &r->stime);
	for (size_t i = 0; i < sizeof(fields) / sizeof(*fields); i++)
		pt_derw_int64(w, fields[i]);
	pt_derw_end(w, s);
}

static void
enc_ifdata(pt_derw *w, const pt_ifdata *f)
{
	/* Int32 fields: albatross holds them as 32-bit values. */
	const int64_t i32[] = {f->flags, f->send_length, f->max_send_length,
		f->send_drops, f->mtu};
	const int64_t i64[] = {f->baudrate, f->input_packets, f->input_errors,
		f->output_packets, f->output_errors, f->collisions,
		f->input_bytes, f->output_bytes, f->input_mcast,
		f->output_mcast, f->input_dropped, f->output_dropped};
	size_t s = pt_derw_begin(w, PT_DER_SEQ);
	enc_text(w, "ifdata name", &f->bridge);
	for (size_t i = 0; i < sizeof(i32) / sizeof(*i32); i++)
		pt_derw_integer(w, (int32_t)(uint32_t)(uint64_t)i32[i]);
	for (size_t i = 0; i < sizeof(i64) / sizeof(*i64); i++)
		pt_derw_int64(w, i64[i]);
	pt_derw_end(w, s);
}

static void
enc_stats(pt_derw *w, const pt_stats *st)
{
	size_t s = pt_derw_begin(w, PT_DER_SEQ);
	enc_rusage(w, &st->rusage);
	size_t l = pt_derw_begin(w, PT_DER_SEQ);
	for (size_t i = 0; i < st->nifdata; i++)
		enc_ifdata(w, &st->ifdata[i]);
	pt_derw_end(w, l);
	if (st->has_vmm) {
		size_t m = pt_derw_begin(w, PT_DER_CTX(0));
		l = pt_derw_begin(w, PT_DER_SEQ);
		for (size_t i = 0; i < st->nvmm; i++) {
			size_t e = pt_derw_begin(w, PT_DER_SEQ);
			enc_text(w, "vmm stat key", &st->vmm[i].key);
			pt_derw_int64(w, st->vmm[i].value);
			pt_derw_end(w, e);
		}
		pt_derw_end(w, l);
		pt_derw_end(w, m);
	}
	if (st->has_kinfo) {
		/* IMPLICIT [1]: A1 replaces the SEQUENCE identifier. */
		const pt_kinfo_mem *k = &st->kinfo;
		size_t m = pt_derw_begin(w, PT_DER_CTX(1));
		pt_derw_int64(w, k->vsize);
		pt_derw_int64(w, k->rss);
		pt_derw_int64(w, k->tsize);
		pt_derw_int64(w, k->dsize);
		pt_derw_int64(w, k->ssize);
		pt_derw_int64(w, k->runtime);
		pt_derw_int(w, "kinfo-mem cow", k->cow);
		enc_timeval(w, &k->start);
		pt_derw_end(w, m);
	}
	pt_derw_end(w, s);
}

/* ---- commands ---- */

static const cmd_desc *
find_command(pt_cmd_kind kind)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (commands[i].kind == kind && !commands[i].legacy)
			return &commands[i];
	return NULL;
}

static void
enc_cmd_arg(pt_derw *w, const cmd_desc *cd, const pt_command *c)
{
	size_t s;
	switch (cd->arg) {
	case ARG_NULL:
		pt_derw_null(w);
		break;
	case ARG_COUNT:
		pt_derw_int(w, cd->name, c->u.count);
		break;
	case ARG_SUBSCRIBE:
		s = pt_derw_begin(w, PT_DER_CTX(c->u.subscribe.by_count));
		if (c->u.subscribe.by_count)
			pt_derw_int(w, "count", c->u.subscribe.count);
		else
			pt_derw_time(w, c->u.subscribe.since);
		pt_derw_end(w, s);
		break;
	case ARG_STATS_ADD: {
		const pt_stats_add *a = &c->u.stats_add;
		s = pt_derw_begin(w, PT_DER_SEQ);
		enc_text(w, "vmmdev", &a->vmmdev);
		pt_derw_int(w, "pid", a->pid);
		size_t l = pt_derw_begin(w, PT_DER_SEQ);
		for (size_t i = 0; i < a->nnets; i++) {
			size_t e = pt_derw_begin(w, PT_DER_SEQ);
			enc_text(w, "network name", &a->nets[i].name);
			enc_text(w, "tap", &a->nets[i].tap);
			pt_derw_end(w, e);
		}
		pt_derw_end(w, l);
		pt_derw_end(w, s);
		break;
	}
	case ARG_CONFIG_V3:
	case ARG_CONFIG_V4:
	case ARG_CONFIG_V5:
		enc_config(w, &c->u.config);
		break;
	case ARG_LEVEL:
		pt_derw_int(w, cd->name, c->u.level);
		break;
	case ARG_RESTART:
		if (!c->u.restart.has_args) {
			enc_null_in(w, 0);
			break;
		}
		s = pt_derw_begin(w, PT_DER_CTX(3));
		enc_restart_args(w, &c->u.restart.args);
		pt_derw_end(w, s);
		break;
	case ARG_POLICY:
		enc_policy(w, &c->u.policy);
		break;
	case ARG_SIZE:
		pt_derw_int(w, cd->name, c->u.size_mb);
		break;
	case ARG_BLOCK_ADD_OLD:
		s = pt_derw_begin(w, PT_DER_SEQ);
		pt_derw_int(w, "size", c->u.block_add_old.size_mb);
		pt_derw_bool(w, c->u.block_add_old.compressed);
		if (c->u.block_add_old.has_data)
			pt_derw_octets(w, c->u.block_add_old.data.data,
			    c->u.block_add_old.data.len);
		pt_derw_end(w, s);
		break;
	case ARG_BLOCK_SET_OLD:
		s = pt_derw_begin(w, PT_DER_SEQ);
		pt_derw_bool(w, c->u.block_set_old.compressed);
		pt_derw_octets(w, c->u.block_set_old.data.data,
		    c->u.block_set_old.data.len);
		pt_derw_end(w, s);
		break;
	case ARG_COMPRESSED:
		pt_derw_bool(w, c->u.compressed);
		break;
	case ARG_LOG:
		pt_log_subscribe_write(w, &c->u.log);
		break;
	case ARG_LOG_RECORD:
		pt_event_write(w, &c->u.record);
		break;
	}
}

static void
enc_command(pt_derw *w, const pt_command *c)
{
	const cmd_desc *cd = find_command(c->kind);
	if (cd == NULL) {
		pt_derw_fail(w, "unknown command kind %d", (int)c->kind);
		return;
	}
	size_t g = pt_derw_begin(w, PT_DER_CTX(cd->group));
	size_t a = pt_derw_begin(w, PT_DER_CTX(cd->tag));
	enc_cmd_arg(w, cd, c);
	pt_derw_end(w, a);
	pt_derw_end(w, g);
}

/* ---- success ---- */

static void
enc_image(pt_derw *w, const pt_image *img)
{
	size_t s = pt_derw_begin(w, PT_DER_SEQ);
	pt_derw_bool(w, img->compressed);
	pt_derw_octets(w, img->data.data, img->data.len);
	pt_derw_end(w, s);
}

static void
enc_infos(pt_derw *w, const pt_success *s, const info_form *f)
{
	size_t l = pt_derw_begin(w, PT_DER_SEQ);
	for (size_t i = 0; i < s->u.infos.n; i++) {
		size_t e = pt_derw_begin(w, PT_DER_SEQ);
		pt_derw_name(w, &s->u.infos.v[i].name);
		enc_info(w, &s->u.infos.v[i].info, f);
		pt_derw_end(w, e);
	}
	pt_derw_end(w, l);
}

static void
enc_policies(pt_derw *w, const pt_named_policy *v, size_t n)
{
	size_t l = pt_derw_begin(w, PT_DER_SEQ);
	for (size_t i = 0; i < n; i++) {
		size_t e = pt_derw_begin(w, PT_DER_SEQ);
		pt_derw_name(w, &v[i].name);
		enc_policy(w, &v[i].policy);
		pt_derw_end(w, e);
	}
	pt_derw_end(w, l);
}

static unsigned
success_tag(pt_success_kind k)
{
	static const unsigned tags[] = {
		[PT_OK_EMPTY] = 0, [PT_OK_STRING] = 1, [PT_OK_POLICIES] = 2,
		[PT_OK_BLOCK_DEVICES] = 4, [PT_OK_UNIKERNEL_IMAGE] = 6,
		[PT_OK_OLD_BLOCK_IMAGE] = 7, [PT_OK_OLD_UNIKERNEL_INFO4] = 9,
		[PT_OK_BLOCK_IMAGE] = 10, [PT_OK_OLD_UNIKERNEL_INFO5] = 11,
		[PT_OK_CONSOLES] = 12, [PT_OK_UNIKERNEL_INFO] = 13,
	};
	return (size_t)k < sizeof(tags) / sizeof(*tags) ? tags[k] : 31;
}

static void
enc_success(pt_derw *w, const pt_success *s)
{
	unsigned tag = success_tag(s->kind);
	if (tag == 31) {
		pt_derw_fail(w, "unknown success kind %d", (int)s->kind);
		return;
	}
	size_t m = pt_derw_begin(w, PT_DER_CTX(tag));
	size_t l;
	switch (s->kind) {
	case PT_OK_EMPTY:
		pt_derw_null(w);
		break;
	case PT_OK_STRING:
		enc_text(w, "success string", &s->u.string);
		break;
	case PT_OK_POLICIES:
		enc_policies(w, s->u.policies.v, s->u.policies.n);
		break;
	case PT_OK_BLOCK_DEVICES:
		l = pt_derw_begin(w, PT_DER_SEQ);
		for (size_t i = 0; i < s->u.blocks.n; i++) {
			const pt_block_entry *b = &s->u.blocks.v[i];
			size_t e = pt_derw_begin(w, PT_DER_SEQ);
			pt_derw_name(w, &b->name);
			pt_derw_int(w, "block size", b->size_mb);
			pt_derw_bool(w, b->active);
			pt_derw_end(w, e);
		}
		pt_derw_end(w, l);
		break;
	case PT_OK_UNIKERNEL_IMAGE:
	case PT_OK_OLD_BLOCK_IMAGE:
		enc_image(w, &s->u.image);
		break;
	case PT_OK_OLD_UNIKERNEL_INFO4:
		enc_infos(w, s, &INFO_OLD4);
		break;
	case PT_OK_BLOCK_IMAGE:
		pt_derw_bool(w, s->u.compressed);
		break;
	case PT_OK_OLD_UNIKERNEL_INFO5:
		enc_infos(w, s, &INFO_OLD5);
		break;
	case PT_OK_CONSOLES:
		l = pt_derw_begin(w, PT_DER_SEQ);
		for (size_t i = 0; i < s->u.consoles.n; i++)
			pt_derw_name(w, &s->u.consoles.v[i]);
		pt_derw_end(w, l);
		break;
	case PT_OK_UNIKERNEL_INFO:
		enc_infos(w, s, &INFO_CURRENT);
		break;
	}
	pt_derw_end(w, m);
}

/* ---- data ---- */

static void
enc_data(pt_derw *w, const pt_data *d)
{
	size_t m, s;
	switch (d->kind) {
	case PT_DATA_STATS:
		m = pt_derw_begin(w, PT_DER_CTX(1));
		enc_stats(w, &d->u.stats);
		pt_derw_end(w, m);
		return;
	case PT_DATA_CONSOLE:
		m = pt_derw_begin(w, PT_DER_CTX(3));
		s = pt_derw_begin(w, PT_DER_SEQ);
		pt_derw_time(w, d->u.console.time);
		enc_text(w, "console line", &d->u.console.line);
		pt_derw_end(w, s);
		pt_derw_end(w, m);
		return;
	case PT_DATA_BLOCK_CHUNK:
		m = pt_derw_begin(w, PT_DER_CTX(4));
		s = pt_derw_begin(w, PT_DER_CTX(0));
		pt_derw_octets(w, d->u.chunk.data, d->u.chunk.len);
		pt_derw_end(w, s);
		pt_derw_end(w, m);
		return;
	case PT_DATA_BLOCK_END:
		m = pt_derw_begin(w, PT_DER_CTX(4));
		enc_null_in(w, 1);
		pt_derw_end(w, m);
		return;
	case PT_DATA_LOG:
		m = pt_derw_begin(w, PT_DER_CTX(2));
		pt_event_write(w, &d->u.event);
		pt_derw_end(w, m);
		return;
	}
	pt_derw_fail(w, "unknown data kind %d", (int)d->kind);
}

/* ---- messages ---- */

static void
enc_header(pt_derw *w, const pt_header *h)
{
	size_t s = pt_derw_begin(w, PT_DER_SEQ);
	pt_derw_integer(w, PT_WIRE_VERSION);
	pt_derw_int64(w, h->sequence);
	pt_derw_name(w, &h->name);
	pt_derw_end(w, s);
}

/* Runs an encoder; on failure the output is left as it was. */
static int
finish(pt_derw *w, size_t start)
{
	if (pt_derw_finish(w) < 0) {
		if (!w->b->oom && w->b->len > start)
			w->b->len = start;
		return -1;
	}
	return 0;
}

void
pt_wire_reply_string(pt_wire *w, const pt_header *h, const char *text)
{
	memset(w, 0, sizeof(*w));
	w->header = *h;
	w->kind = PT_PAYLOAD_SUCCESS;
	w->u.success.kind = PT_OK_STRING;
	w->u.success.u.string.s = text;
	w->u.success.u.string.len = strlen(text);
}

void
pt_wire_reply_failure(pt_wire *w, const pt_header *h, const char *text)
{
	memset(w, 0, sizeof(*w));
	w->header = *h;
	w->kind = PT_PAYLOAD_FAILURE;
	w->u.failure.s = text;
	w->u.failure.len = strlen(text);
}

int
pt_wire_encode(const pt_wire *msg, pt_buf *out, pt_err *err)
{
	pt_derw w;
	size_t start = out->len;
	pt_derw_init(&w, out, err);
	size_t s = pt_derw_begin(&w, PT_DER_SEQ);
	enc_header(&w, &msg->header);
	size_t p;
	switch (msg->kind) {
	case PT_PAYLOAD_COMMAND:
		p = pt_derw_begin(&w, PT_DER_CTX(0));
		enc_command(&w, &msg->u.command);
		pt_derw_end(&w, p);
		break;
	case PT_PAYLOAD_SUCCESS:
		p = pt_derw_begin(&w, PT_DER_CTX(1));
		enc_success(&w, &msg->u.success);
		pt_derw_end(&w, p);
		break;
	case PT_PAYLOAD_FAILURE:
		p = pt_derw_begin(&w, PT_DER_CTX(2));
		enc_text(&w, "failure", &msg->u.failure);
		pt_derw_end(&w, p);
		break;
	case PT_PAYLOAD_DATA:
		p = pt_derw_begin(&w, PT_DER_CTX(3));
		enc_data(&w, &msg->u.data);
		pt_derw_end(&w, p);
		break;
	default:
		pt_derw_fail(&w, "unknown payload kind %d", (int)msg->kind);
	}
	pt_derw_end(&w, s);
	return finish(&w, start);
}

void
pt_header_init(pt_header *h, int64_t sequence, const pt_name *name)
{
	memset(h, 0, sizeof(*h));
	h->version = PT_WIRE_VERSION;
	h->sequence = sequence;
	if (name != NULL)
		h->name = *name;
	else
		pt_name_root(&h->name);
}

int
pt_certext_encode(const pt_certext *c, pt_buf *out, pt_err *err)
{
	pt_derw w;
	size_t start = out->len;
	pt_derw_init(&w, out, err);
	size_t s = pt_derw_begin(&w, PT_DER_SEQ);
	pt_derw_integer(&w, PT_WIRE_VERSION);
	enc_command(&w, &c->command);
	pt_derw_end(&w, s);
	return finish(&w, start);
}

int
pt_policy_encode(const pt_policy *p, pt_buf *out, pt_err *err)
{
	pt_derw w;
	size_t start = out->len;
	pt_derw_init(&w, out, err);
	enc_policy(&w, p);
	return finish(&w, start);
}

int
pt_ukconfig_encode(const pt_ukconfig *c, pt_buf *out, pt_err *err)
{
	pt_derw w;
	size_t start = out->len;
	pt_derw_init(&w, out, err);
	enc_config(&w, c);
	return finish(&w, start);
}

/* ---- state file ---- */

/* Pre-order with children in ascending label order (§10) is the
 * lexicographic order of the label lists, labels compared byte-wise. */
static int
cmp_preorder(const pt_name *a, const pt_name *b)
{
	size_t na = pt_name_nlabels(a), nb = pt_name_nlabels(b);
	for (size_t i = 0; i < na && i < nb; i++) {
		size_t la, lb;
		const char *x = pt_name_nth_label(a, i, &la);
		const char *y = pt_name_nth_label(b, i, &lb);
		size_t n = la < lb ? la : lb;
		int c = memcmp(x, y, n);
		if (c != 0)
			return c;
		if (la != lb)
			return la < lb ? -1 : 1;
	}
	return (na > nb) - (na < nb);
}

static int
cmp_uk_preorder(const void *a, const void *b)
{
	const pt_state_uk *const *x = a, *const *y = b;
	return cmp_preorder(&(*x)->name, &(*y)->name);
}

static int
cmp_policy_preorder(const void *a, const void *b)
{
	const pt_named_policy *const *x = a, *const *y = b;
	return cmp_preorder(&(*x)->name, &(*y)->name);
}

int
pt_state_encode(const pt_state *st, pt_buf *out, pt_err *err)
{
	pt_derw w;
	size_t start = out->len;
	pt_derw_init(&w, out, err);
	const pt_state_uk **uks = NULL;
	const pt_named_policy **pols = NULL;
	if ((st->nunikernels > 0 &&
	    (uks = calloc(st->nunikernels, sizeof(*uks))) == NULL) ||
	    (st->npolicies > 0 &&
	    (pols = calloc(st->npolicies, sizeof(*pols))) == NULL)) {
		free(uks);
		return pt_fail(err, "state: out of memory");
	}
	for (size_t i = 0; i < st->nunikernels; i++)
		uks[i] = &st->unikernels[i];
	for (size_t i = 0; i < st->npolicies; i++)
		pols[i] = &st->policies[i];
	if (uks != NULL)
		qsort(uks, st->nunikernels, sizeof(*uks), cmp_uk_preorder);
	if (pols != NULL)
		qsort(pols, st->npolicies, sizeof(*pols),
		    cmp_policy_preorder);

	size_t c = pt_derw_begin(&w, PT_DER_CTX(6));
	size_t s = pt_derw_begin(&w, PT_DER_SEQ);
	size_t l = pt_derw_begin(&w, PT_DER_SEQ);
	for (size_t i = 0; i < st->nunikernels; i++) {
		size_t e = pt_derw_begin(&w, PT_DER_SEQ);
		pt_derw_name(&w, &uks[i]->name);
		enc_config(&w, &uks[i]->config);
		pt_derw_end(&w, e);
	}
	pt_derw_end(&w, l);
	l = pt_derw_begin(&w, PT_DER_SEQ);
	for (size_t i = 0; i < st->npolicies; i++) {
		size_t e = pt_derw_begin(&w, PT_DER_SEQ);
		pt_derw_name(&w, &pols[i]->name);
		enc_policy(&w, &pols[i]->policy);
		pt_derw_end(&w, e);
	}
	pt_derw_end(&w, l);
	pt_derw_end(&w, s);
	pt_derw_end(&w, c);
	free(uks);
	free(pols);
	return finish(&w, start);
}

/* The policy coders on their own, for the event log's policy events. */
void
pt_policy_write(pt_derw *w, const pt_policy *p)
{
	enc_policy(w, p);
}

int
pt_policy_read(pt_der *d, pt_policy *p)
{
	return dec_policy(d, p);
}
