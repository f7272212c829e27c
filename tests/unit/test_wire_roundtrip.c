/*
 * Round trips over generated messages: for every command, success, data
 * and failure kind, the certificate extension and the state file, a
 * seeded PRNG builds random valid values and we check
 *
 *   decode(encode(x)) == x             (structurally, sets canonicalised)
 *   encode(decode(encode(x))) == encode(x)   (byte for byte)
 *
 * and that the printer turns each message into one escaped line.
 *
 * "Valid" follows the spec's value ranges: Int within 63 bits, Int32
 * fields within 32 bits, Int64 anything, times with a four-digit year
 * (0000..9999, before 1970 included) and millisecond precision, UTF-8 text without NUL, MACs of 6 octets, names
 * per §4, legacy-only shapes (old info) within what they can carry. Set
 * elements are unique (a set cannot hold duplicates).
 *
 * A failure prints the seed, the iteration and the message (printed), so
 * it can be replayed by running with that seed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wire.h"
#include "wire_testlib.h"

#define SEED UINT64_C(0x9E3779B97F4A7C15)
#define WIRE_ITERATIONS 6000
#define CERTEXT_ITERATIONS 1500
#define STATE_ITERATIONS 600

#define INT_MAX63 ((INT64_C(1) << 62) - 1)
#define INT_MIN63 (-(INT64_C(1) << 62))
/* 0000-01-01T00:00:00Z .. 9999-12-31T23:59:59.999Z: every instant with
 * a four-digit year */
#define TIME_MIN INT64_C(-62167219200000)
#define TIME_MAX INT64_C(253402300799999)

/* ---- the generator ---- */

typedef struct {
	uint64_t s;
	pt_arena *a;
} gen;

/* xorshift64*: small, seeded, the same sequence on every platform. */
static uint64_t
next(gen *g)
{
	g->s ^= g->s >> 12;
	g->s ^= g->s << 25;
	g->s ^= g->s >> 27;
	return g->s * UINT64_C(2685821657736338717);
}

static uint64_t
below(gen *g, uint64_t n)
{
	return n == 0 ? 0 : next(g) % n;
}

static bool
coin(gen *g)
{
	return next(g) & 1;
}

static void *
alloc(gen *g, size_t n, size_t size)
{
	void *p = pt_arena_calloc(g->a, n == 0 ? 1 : n, size);
	if (p == NULL)
		abort();
	return p;
}

/* An `Int`: small values, the 63-bit boundaries and everything between,
 * so every INTEGER length from 1 to 8 octets shows up. */
static int64_t
gen_int(gen *g)
{
	static const int64_t edges[] = {0, 1, -1, 127, 128, -128, -129, 255,
	    256, 32767, 32768, -32769, INT_MAX63, INT_MIN63, INT_MAX63 - 1,
	    INT_MIN63 + 1, INT64_C(1) << 31, -(INT64_C(1) << 31) - 1};
	switch (below(g, 4)) {
	case 0:
		return (int64_t)below(g, 20);
	case 1:
		return edges[below(g, sizeof(edges) / sizeof(edges[0]))];
	case 2: {
		/* a random width, sign-extended */
		int bits = 1 + (int)below(g, 62);
		int64_t v = (int64_t)(next(g) >> (64 - bits));
		return coin(g) ? v : -v - 1;
	}
	default:
		return (int64_t)(next(g) >> 1) - (INT64_C(1) << 62);
	}
}

static int64_t
gen_int32(gen *g)
{
	switch (below(g, 3)) {
	case 0:
		return (int64_t)below(g, 2000);
	case 1:
		return coin(g) ? INT32_MAX : INT32_MIN;
	default:
		return (int32_t)(uint32_t)next(g);
	}
}

static int64_t
gen_int64(gen *g)
{
	switch (below(g, 3)) {
	case 0:
		return (int64_t)below(g, 1000);
	case 1:
		return coin(g) ? INT64_MAX : INT64_MIN;
	default:
		return (int64_t)next(g);
	}
}

static pt_time_ms
gen_time(gen *g)
{
	pt_time_ms t = TIME_MIN +
	    (pt_time_ms)below(g, (uint64_t)(TIME_MAX - TIME_MIN) + 1);
	/* half of them on whole seconds (the 15-character form) */
	return coin(g) ? t - t % 1000 : t;
}

/* Identifier-like text (device, bridge and tap names). */
static pt_text
gen_ident(gen *g)
{
	static const char chars[] = "abcdefghijklmnopqrstuvwxyz0123456789-";
	size_t n = 1 + below(g, 12);
	char *s = alloc(g, n + 1, 1);
	for (size_t i = 0; i < n; i++)
		s[i] = chars[below(g, i == 0 ? 36 : sizeof(chars) - 1)];
	return (pt_text){.s = s, .len = n};
}

/* Any UTF-8 text without NUL: ASCII (controls and quotes included),
 * two-, three- and four-byte characters. */
static pt_text
gen_free_text(gen *g)
{
	static const char *pieces[] = {"a", "Z", " ", "\"", "\\", "\n", "\t",
	    "\x01", "\x7f", ":", "*", "\xC3\xA9", "\xE2\x82\xAC",
	    "\xE2\x80\xAE", "\xF0\x9F\x90\xA7", "\xEF\xBB\xBF", "\xC2\x80"};
	size_t count = below(g, 4) == 0 ? 0 : below(g, 24);
	char *s = alloc(g, 4 * count + 1, 1);
	size_t len = 0;
	for (size_t i = 0; i < count; i++) {
		const char *p = pieces[below(g, sizeof(pieces) /
		    sizeof(pieces[0]))];
		memcpy(s + len, p, strlen(p));
		len += strlen(p);
	}
	return (pt_text){.s = s, .len = len};
}

static pt_blob
gen_blob(gen *g, size_t max)
{
	size_t n = below(g, max + 1);
	uint8_t *p = alloc(g, n, 1);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)next(g);
	return (pt_blob){.data = p, .len = n};
}

static void
gen_mac(gen *g, uint8_t mac[6])
{
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)next(g);
}

static void
gen_label(gen *g, char *out, size_t *len)
{
	static const char chars[] = "abcdefghijklmnopqrstuvwxyz0123456789.-";
	size_t n = 1 + below(g, 8);
	for (size_t i = 0; i < n; i++)
		out[i] = chars[below(g, i == 0 ? sizeof(chars) - 2 :
		    sizeof(chars) - 1)];
	*len = n;
}

/* A name: a path of 0..3 labels, with or without a label. */
static pt_name
gen_name_shape(gen *g, int want_label)
{
	char text[64];
	size_t len = 0, n;
	size_t npath = below(g, 4);
	bool label = want_label < 0 ? coin(g) : want_label > 0;
	for (size_t i = 0; i < npath; i++) {
		gen_label(g, text + len, &n);
		len += n;
		text[len++] = ':';
	}
	if (npath == 0)
		text[len++] = ':';
	if (label) {
		gen_label(g, text + len, &n);
		len += n;
	}
	text[len] = '\0';
	return tl_name(text);
}

static pt_name
gen_name(gen *g)
{
	return gen_name_shape(g, -1);
}

/* n unique values: generate, sort, drop duplicates, shuffle back. */
static int64_t *
gen_int_set(gen *g, size_t *n, bool non_negative)
{
	size_t want = below(g, 5);
	int64_t *v = alloc(g, want, sizeof(*v));
	for (size_t i = 0; i < want; i++) {
		v[i] = gen_int(g);
		if (non_negative && v[i] < 0)
			v[i] = -(v[i] + 1);
	}
	qsort(v, want, sizeof(*v), tl_cmp_i64);
	size_t k = 0;
	for (size_t i = 0; i < want; i++)
		if (k == 0 || v[k - 1] != v[i])
			v[k++] = v[i];
	for (size_t i = k; i > 1; i--) {
		size_t j = below(g, i);
		int64_t t = v[i - 1];
		v[i - 1] = v[j];
		v[j] = t;
	}
	*n = k;
	return v;
}

/* Distinct identifiers (set members keyed by name). */
static pt_text *
gen_ident_set(gen *g, size_t *n, size_t max)
{
	size_t want = below(g, max + 1);
	pt_text *v = alloc(g, want, sizeof(*v));
	size_t k = 0;
	for (size_t i = 0; i < want; i++) {
		pt_text t = gen_ident(g);
		bool dup = false;
		for (size_t j = 0; j < k && !dup; j++)
			dup = tl_cmp_text(&v[j], &t) == 0;
		if (!dup)
			v[k++] = t;
	}
	*n = k;
	return v;
}

static pt_policy
gen_policy(gen *g)
{
	pt_policy p = {0};
	p.unikernels = gen_int(g);
	p.memory = gen_int(g);
	p.has_block = coin(g);
	if (p.has_block)
		p.block = gen_int(g);
	p.cpuids = gen_int_set(g, &p.ncpuids, false);
	p.bridges = gen_ident_set(g, &p.nbridges, 4);
	return p;
}

static pt_fail_behaviour
gen_fail(gen *g)
{
	pt_fail_behaviour f = {0};
	f.restart = coin(g);
	if (f.restart)
		f.codes = gen_int_set(g, &f.ncodes, false);
	return f;
}

static pt_text *
gen_argv(gen *g, size_t *argc)
{
	*argc = below(g, 5);
	pt_text *v = alloc(g, *argc, sizeof(*v));
	for (size_t i = 0; i < *argc; i++)
		v[i] = gen_free_text(g);
	return v;
}

/* Every field a restart can replace. */
static void
gen_config_args(gen *g, pt_ukconfig *c)
{
	c->has_startup = coin(g);
	if (c->has_startup)
		c->startup = gen_int(g);
	c->add_name = coin(g);
	c->fail = gen_fail(g);
	c->cpuids = gen_int_set(g, &c->ncpuids, false);
	c->memory = gen_int(g);
	size_t n;
	pt_text *names = gen_ident_set(g, &n, 4);
	c->nblocks = n;
	c->blocks = alloc(g, n, sizeof(*c->blocks));
	for (size_t i = 0; i < n; i++) {
		pt_blockspec *b = &c->blocks[i];
		b->name = names[i];
		b->has_device = coin(g);
		if (b->has_device)
			b->device = gen_ident(g);
		b->has_sector_size = coin(g);
		if (b->has_sector_size)
			b->sector_size = gen_int(g);
	}
	names = gen_ident_set(g, &n, 4);
	c->nnets = n;
	c->nets = alloc(g, n, sizeof(*c->nets));
	for (size_t i = 0; i < n; i++) {
		pt_netspec *s = &c->nets[i];
		s->name = names[i];
		s->has_bridge = coin(g);
		if (s->has_bridge)
			s->bridge = gen_ident(g);
		s->has_mac = coin(g);
		if (s->has_mac)
			gen_mac(g, s->mac);
	}
	c->has_argv = coin(g);
	if (c->has_argv)
		c->argv = gen_argv(g, &c->argc);
	c->cpus = gen_int(g);
	c->has_boot_partition = coin(g);
	if (c->has_boot_partition)
		c->boot_partition = gen_free_text(g);
}

static pt_ukconfig
gen_config(gen *g)
{
	pt_ukconfig c = {0};
	c.typ = coin(g) ? PT_TYP_SOLO5 : PT_TYP_BHYVE;
	c.compressed = coin(g);
	c.image = gen_blob(g, 64);
	gen_config_args(g, &c);
	return c;
}

/* The old info formats carry one CPU id, no cpus and no boot partition;
 * info-old4 no startup either. */
static pt_ukinfo
gen_info(gen *g, pt_success_kind kind)
{
	pt_ukinfo i = {0};
	bool old = kind != PT_OK_UNIKERNEL_INFO;
	i.typ = coin(g) ? PT_TYP_SOLO5 : PT_TYP_BHYVE;
	i.has_startup = kind != PT_OK_OLD_UNIKERNEL_INFO4 && coin(g);
	if (i.has_startup)
		i.startup = gen_int(g);
	i.fail = gen_fail(g);
	if (old) {
		i.ncpuids = 1;
		i.cpuids = alloc(g, 1, sizeof(*i.cpuids));
		i.cpuids[0] = gen_int(g);
	} else {
		i.cpuids = gen_int_set(g, &i.ncpuids, false);
	}
	i.memory = gen_int(g);
	i.digest = gen_blob(g, 40);
	size_t n;
	pt_text *names = gen_ident_set(g, &n, 3);
	i.nblocks = n;
	i.blocks = alloc(g, n, sizeof(*i.blocks));
	for (size_t k = 0; k < n; k++)
		i.blocks[k] = (pt_blockinfo){.unikernel_device = names[k],
		    .host_device = gen_ident(g), .sector_size = gen_int(g),
		    .block_size_mb = gen_int(g)};
	names = gen_ident_set(g, &n, 3);
	i.nnets = n;
	i.nets = alloc(g, n, sizeof(*i.nets));
	for (size_t k = 0; k < n; k++) {
		i.nets[k].unikernel_device = names[k];
		i.nets[k].host_device = gen_ident(g);
		gen_mac(g, i.nets[k].mac);
	}
	i.has_argv = coin(g);
	if (i.has_argv)
		i.argv = gen_argv(g, &i.argc);
	i.started = gen_time(g);
	i.cpus = old ? 1 : gen_int(g);
	i.has_boot_partition = !old && coin(g);
	if (i.has_boot_partition)
		i.boot_partition = gen_free_text(g);
	return i;
}

static pt_timeval
gen_timeval(gen *g)
{
	return (pt_timeval){.sec = gen_int64(g), .usec = gen_int(g)};
}

static pt_stats
gen_stats(gen *g)
{
	pt_stats s = {0};
	pt_rusage *r = &s.rusage;
	r->utime = gen_timeval(g);
	r->stime = gen_timeval(g);
	int64_t *fields[] = {&r->maxrss, &r->ixrss, &r->idrss, &r->isrss,
	    &r->minflt, &r->majflt, &r->nswap, &r->inblock, &r->outblock,
	    &r->msgsnd, &r->msgrcv, &r->nsignals, &r->nvcsw, &r->nivcsw};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		*fields[i] = gen_int64(g);
	s.nifdata = below(g, 3);
	s.ifdata = alloc(g, s.nifdata, sizeof(*s.ifdata));
	for (size_t i = 0; i < s.nifdata; i++) {
		pt_ifdata *d = &s.ifdata[i];
		d->bridge = gen_ident(g);
		int64_t *i32[] = {&d->flags, &d->send_length,
		    &d->max_send_length, &d->send_drops, &d->mtu};
		for (size_t k = 0; k < 5; k++)
			*i32[k] = gen_int32(g);
		int64_t *i64[] = {&d->baudrate, &d->input_packets,
		    &d->input_errors, &d->output_packets, &d->output_errors,
		    &d->collisions, &d->input_bytes, &d->output_bytes,
		    &d->input_mcast, &d->output_mcast, &d->input_dropped,
		    &d->output_dropped};
		for (size_t k = 0; k < 12; k++)
			*i64[k] = gen_int64(g);
	}
	s.has_vmm = coin(g);
	if (s.has_vmm) {
		s.nvmm = below(g, 4);
		s.vmm = alloc(g, s.nvmm, sizeof(*s.vmm));
		for (size_t i = 0; i < s.nvmm; i++)
			s.vmm[i] = (pt_vmmstat){.key = gen_free_text(g),
			    .value = gen_int64(g)};
	}
	s.has_kinfo = coin(g);
	if (s.has_kinfo)
		s.kinfo = (pt_kinfo_mem){.vsize = gen_int64(g),
		    .rss = gen_int64(g), .tsize = gen_int64(g),
		    .dsize = gen_int64(g), .ssize = gen_int64(g),
		    .runtime = gen_int64(g), .cow = gen_int(g),
		    .start = gen_timeval(g)};
	return s;
}

static pt_command
gen_command(gen *g, pt_cmd_kind kind)
{
	pt_command c;
	memset(&c, 0, sizeof(c));
	c.kind = kind;
	switch (kind) {
	case PT_CMD_CONSOLE_ADD:
		c.u.count = gen_int(g);
		break;
	case PT_CMD_CONSOLE_SUBSCRIBE:
		c.u.subscribe.by_count = coin(g);
		if (c.u.subscribe.by_count)
			c.u.subscribe.count = gen_int(g);
		else
			c.u.subscribe.since = gen_time(g);
		break;
	case PT_CMD_STATS_ADD: {
		pt_stats_add *s = &c.u.stats_add;
		s->vmmdev = coin(g) ? tl_text("") : gen_free_text(g);
		s->pid = gen_int(g);
		s->nnets = below(g, 4);
		s->nets = alloc(g, s->nnets, sizeof(*s->nets));
		for (size_t i = 0; i < s->nnets; i++)
			s->nets[i] = (pt_stats_net){.name = gen_ident(g),
			    .tap = gen_ident(g)};
		break;
	}
	case PT_CMD_UK_CREATE:
	case PT_CMD_UK_FORCE_CREATE:
		c.config_version = 5;
		c.u.config = gen_config(g);
		break;
	case PT_CMD_UK_GET:
	case PT_CMD_BLOCK_DUMP_OLD:
	case PT_CMD_BLOCK_DUMP:
		c.u.level = gen_int(g);
		break;
	case PT_CMD_UK_RESTART:
		c.u.restart.has_args = coin(g);
		if (c.u.restart.has_args) {
			c.u.restart.args_version = 3;
			gen_config_args(g, &c.u.restart.args);
		}
		break;
	case PT_CMD_POLICY_ADD:
		c.u.policy = gen_policy(g);
		break;
	case PT_CMD_BLOCK_ADD:
		c.u.size_mb = gen_int(g);
		break;
	case PT_CMD_BLOCK_ADD_OLD:
		c.u.block_add_old.size_mb = gen_int(g);
		c.u.block_add_old.compressed = coin(g);
		c.u.block_add_old.has_data = coin(g);
		if (c.u.block_add_old.has_data)
			c.u.block_add_old.data = gen_blob(g, 64);
		break;
	case PT_CMD_BLOCK_SET_OLD:
		c.u.block_set_old.compressed = coin(g);
		c.u.block_set_old.data = gen_blob(g, 64);
		break;
	case PT_CMD_BLOCK_SET:
		c.u.compressed = coin(g);
		break;
	default:
		break;
	}
	return c;
}

#define NCMD_KINDS (PT_CMD_BLOCK_SET + 1)
#define NSUCCESS_KINDS (PT_OK_UNIKERNEL_INFO + 1)
#define NDATA_KINDS (PT_DATA_BLOCK_END + 1)

static pt_success
gen_success(gen *g, pt_success_kind kind)
{
	pt_success s;
	memset(&s, 0, sizeof(s));
	s.kind = kind;
	size_t n = below(g, 4);
	switch (kind) {
	case PT_OK_STRING:
		s.u.string = gen_free_text(g);
		break;
	case PT_OK_POLICIES:
		s.u.policies.n = n;
		s.u.policies.v = alloc(g, n, sizeof(*s.u.policies.v));
		for (size_t i = 0; i < n; i++) {
			s.u.policies.v[i].name = gen_name_shape(g, 0);
			s.u.policies.v[i].policy = gen_policy(g);
		}
		break;
	case PT_OK_BLOCK_DEVICES:
		s.u.blocks.n = n;
		s.u.blocks.v = alloc(g, n, sizeof(*s.u.blocks.v));
		for (size_t i = 0; i < n; i++)
			s.u.blocks.v[i] = (pt_block_entry){
			    .name = gen_name_shape(g, 1),
			    .size_mb = gen_int(g), .active = coin(g)};
		break;
	case PT_OK_UNIKERNEL_IMAGE:
	case PT_OK_OLD_BLOCK_IMAGE:
		s.u.image.compressed = coin(g);
		s.u.image.data = gen_blob(g, 64);
		break;
	case PT_OK_OLD_UNIKERNEL_INFO4:
	case PT_OK_OLD_UNIKERNEL_INFO5:
	case PT_OK_UNIKERNEL_INFO:
		s.u.infos.n = n;
		s.u.infos.v = alloc(g, n, sizeof(*s.u.infos.v));
		for (size_t i = 0; i < n; i++) {
			s.u.infos.v[i].name = gen_name_shape(g, 1);
			s.u.infos.v[i].info = gen_info(g, kind);
		}
		break;
	case PT_OK_BLOCK_IMAGE:
		s.u.compressed = coin(g);
		break;
	case PT_OK_CONSOLES:
		s.u.consoles.n = n;
		s.u.consoles.v = alloc(g, n, sizeof(*s.u.consoles.v));
		for (size_t i = 0; i < n; i++)
			s.u.consoles.v[i] = gen_name(g);
		break;
	default:
		break;
	}
	return s;
}

static pt_data
gen_data(gen *g, pt_data_kind kind)
{
	pt_data d;
	memset(&d, 0, sizeof(d));
	d.kind = kind;
	switch (kind) {
	case PT_DATA_STATS:
		d.u.stats = gen_stats(g);
		break;
	case PT_DATA_CONSOLE:
		d.u.console.time = gen_time(g);
		d.u.console.line = gen_free_text(g);
		break;
	case PT_DATA_BLOCK_CHUNK:
		d.u.chunk = gen_blob(g, 200);
		break;
	default:
		break;
	}
	return d;
}

/* Cycles through every payload kind so each gets its share. */
static void
gen_wire(gen *g, unsigned iteration, pt_wire *w)
{
	memset(w, 0, sizeof(*w));
	w->header.version = PT_WIRE_VERSION;
	w->header.sequence = gen_int64(g);
	w->header.name = gen_name(g);
	unsigned total = NCMD_KINDS + NSUCCESS_KINDS + NDATA_KINDS + 1;
	unsigned k = iteration % total;
	if (k < NCMD_KINDS) {
		w->kind = PT_PAYLOAD_COMMAND;
		w->u.command = gen_command(g, (pt_cmd_kind)k);
	} else if ((k -= NCMD_KINDS) < NSUCCESS_KINDS) {
		w->kind = PT_PAYLOAD_SUCCESS;
		w->u.success = gen_success(g, (pt_success_kind)k);
	} else if ((k -= NSUCCESS_KINDS) < NDATA_KINDS) {
		w->kind = PT_PAYLOAD_DATA;
		w->u.data = gen_data(g, (pt_data_kind)k);
	} else {
		w->kind = PT_PAYLOAD_FAILURE;
		w->u.failure = gen_free_text(g);
	}
}

static void
gen_state(gen *g, pt_state *s)
{
	memset(s, 0, sizeof(*s));
	s->choice = 6;
	size_t n = below(g, 4);
	s->unikernels = alloc(g, n, sizeof(*s->unikernels));
	for (size_t i = 0; i < n; i++) {
		pt_name name = gen_name_shape(g, 1);
		bool dup = false;
		for (size_t j = 0; j < s->nunikernels && !dup; j++)
			dup = pt_name_equal(&s->unikernels[j].name, &name);
		if (dup)
			continue;
		s->unikernels[s->nunikernels].name = name;
		s->unikernels[s->nunikernels++].config = gen_config(g);
	}
	n = below(g, 4);
	s->policies = alloc(g, n, sizeof(*s->policies));
	for (size_t i = 0; i < n; i++) {
		pt_name name = gen_name_shape(g, 0);
		bool dup = false;
		for (size_t j = 0; j < s->npolicies && !dup; j++)
			dup = pt_name_equal(&s->policies[j].name, &name);
		if (dup)
			continue;
		s->policies[s->npolicies].name = name;
		s->policies[s->npolicies++].policy = gen_policy(g);
	}
}

/* ---- checks ---- */

/* One line: no byte below 0x20 and no DEL (text is escaped). */
static bool
one_clean_line(const pt_buf *b)
{
	for (size_t i = 0; i < b->len; i++)
		if (b->data[i] < 0x20 || b->data[i] == 0x7F)
			return false;
	return b->len > 0;
}

static void
report(const char *what, unsigned it, const pt_wire *w, const char *why)
{
	pt_buf line = {0};
	if (w != NULL) {
		pt_wire_print(w, &line);
		pt_buf_append_byte(&line, 0);
	}
	fprintf(stderr, "%s: seed %#" PRIx64 " iteration %u: %s\n  %s\n", what,
	    SEED, it, why, line.data ? (char *)line.data : "");
	pt_buf_free(&line);
}

static bool
same_bytes(const pt_buf *a, const pt_buf *b)
{
	if (a->len == b->len && memcmp(a->data, b->data, a->len) == 0)
		return true;
	tl_diff(a->data, a->len, b->data, b->len);
	return false;
}

static void
test_wire_roundtrip(void **state)
{
	(void)state;
	gen g = {.s = SEED};
	unsigned failures = 0;
	for (unsigned it = 0; it < WIRE_ITERATIONS && failures < 5; it++) {
		pt_arena a = {0}, back_arena = {0};
		g.a = &a;
		pt_wire x, y;
		gen_wire(&g, it, &x);
		pt_buf e1 = {0}, e2 = {0}, line = {0};
		pt_err err = {{0}};
		bool ok = false;
		if (pt_wire_encode(&x, &e1, &err) != 0)
			report("encode", it, &x, err.msg);
		else if (pt_wire_decode(e1.data, e1.len, &back_arena, &y,
		    &err) != 0)
			report("decode", it, &x, err.msg);
		else if (!tl_eq_wire(&x, &y))
			report("decode(encode(x)) != x", it, &x, "see above");
		else if (pt_wire_encode(&y, &e2, &err) != 0)
			report("re-encode", it, &y, err.msg);
		else if (!same_bytes(&e1, &e2))
			report("encode(decode(encode(x))) != encode(x)", it, &x,
			    "see above");
		else if (pt_wire_print(&y, &line) != 0 || !one_clean_line(&line))
			report("print", it, &y, "not one clean line");
		else
			ok = true;
		failures += !ok;
		pt_buf_free(&e1);
		pt_buf_free(&e2);
		pt_buf_free(&line);
		pt_arena_free(&back_arena);
		pt_arena_free(&a);
	}
	assert_int_equal(failures, 0);
}

static void
test_certext_roundtrip(void **state)
{
	(void)state;
	gen g = {.s = SEED ^ 1};
	unsigned failures = 0;
	for (unsigned it = 0; it < CERTEXT_ITERATIONS && failures < 5; it++) {
		pt_arena a = {0}, back_arena = {0};
		g.a = &a;
		pt_certext x = {.version = PT_WIRE_VERSION}, y;
		x.command = gen_command(&g, (pt_cmd_kind)(it % NCMD_KINDS));
		pt_buf e1 = {0}, e2 = {0};
		pt_err err = {{0}};
		bool ok = false;
		if (pt_certext_encode(&x, &e1, &err) != 0)
			report("certext encode", it, NULL, err.msg);
		else if (pt_certext_decode(e1.data, e1.len, &back_arena, &y,
		    &err) != 0)
			report("certext decode", it, NULL, err.msg);
		else if (!tl_eq_certext(&x, &y))
			report("certext decode(encode(x)) != x", it, NULL,
			    pt_cmd_kind_name(x.command.kind));
		else if (pt_certext_encode(&y, &e2, &err) != 0)
			report("certext re-encode", it, NULL, err.msg);
		else if (!same_bytes(&e1, &e2))
			report("certext re-encoding differs", it, NULL,
			    pt_cmd_kind_name(x.command.kind));
		else
			ok = true;
		failures += !ok;
		pt_buf_free(&e1);
		pt_buf_free(&e2);
		pt_arena_free(&back_arena);
		pt_arena_free(&a);
	}
	assert_int_equal(failures, 0);
}

static bool
state_in_preorder(const pt_state *s)
{
	for (size_t i = 1; i < s->nunikernels; i++)
		if (tl_cmp_preorder(&s->unikernels[i - 1].name,
		    &s->unikernels[i].name) >= 0)
			return false;
	for (size_t i = 1; i < s->npolicies; i++)
		if (tl_cmp_preorder(&s->policies[i - 1].name,
		    &s->policies[i].name) >= 0)
			return false;
	return true;
}

static void
test_state_roundtrip(void **state)
{
	(void)state;
	gen g = {.s = SEED ^ 2};
	unsigned failures = 0;
	for (unsigned it = 0; it < STATE_ITERATIONS && failures < 5; it++) {
		pt_arena a = {0}, back_arena = {0};
		g.a = &a;
		pt_state x, y;
		gen_state(&g, &x);
		pt_buf e1 = {0}, e2 = {0};
		pt_err err = {{0}};
		bool ok = false;
		if (pt_state_encode(&x, &e1, &err) != 0)
			report("state encode", it, NULL, err.msg);
		else if (pt_state_decode(e1.data, e1.len, &back_arena, &y,
		    &err) != 0)
			report("state decode", it, NULL, err.msg);
		else if (!tl_eq_state(&x, &y))
			report("state decode(encode(x)) != x", it, NULL, "");
		else if (!state_in_preorder(&y))
			report("state entries not written in pre-order", it, NULL,
			    "");
		else if (pt_state_encode(&y, &e2, &err) != 0)
			report("state re-encode", it, NULL, err.msg);
		else if (!same_bytes(&e1, &e2))
			report("state re-encoding differs", it, NULL, "");
		else
			ok = true;
		failures += !ok;
		pt_buf_free(&e1);
		pt_buf_free(&e2);
		pt_arena_free(&back_arena);
		pt_arena_free(&a);
	}
	assert_int_equal(failures, 0);
}

/* The policy and configuration encoders on their own give the same bytes
 * as inside a message (they feed digests and comparisons). */
static void
test_standalone_encoders(void **state)
{
	(void)state;
	gen g = {.s = SEED ^ 3};
	for (unsigned it = 0; it < 300; it++) {
		pt_arena a = {0};
		g.a = &a;
		pt_policy p = gen_policy(&g);
		pt_ukconfig c = gen_config(&g);
		pt_buf bp = {0}, bc = {0}, cert = {0}, st = {0};
		assert_int_equal(pt_policy_encode(&p, &bp, NULL), 0);
		assert_int_equal(pt_ukconfig_encode(&c, &bc, NULL), 0);
		/* inside a cert extension: 30 L 02 01 05 A4 L A1 L <policy> */
		pt_certext x = {.version = 5};
		x.command.kind = PT_CMD_POLICY_ADD;
		x.command.u.policy = p;
		assert_int_equal(pt_certext_encode(&x, &cert, NULL), 0);
		bool found = cert.len >= bp.len &&
		    memcmp(cert.data + cert.len - bp.len, bp.data, bp.len) == 0;
		/* a state with one unikernel ends with the config then 30 00 */
		pt_state_uk uk = {.name = tl_name(":x"), .config = c};
		pt_state s = {.choice = 6, .nunikernels = 1, .unikernels = &uk};
		assert_int_equal(pt_state_encode(&s, &st, NULL), 0);
		found = found && st.len >= bc.len + 2 &&
		    memcmp(st.data + st.len - 2 - bc.len, bc.data, bc.len) == 0;
		pt_buf_free(&bp);
		pt_buf_free(&bc);
		pt_buf_free(&cert);
		pt_buf_free(&st);
		pt_arena_free(&a);
		if (!found)
			fprintf(stderr, "iteration %u: standalone encoding not "
			    "found inside the message\n", it);
		assert_true(found);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wire_roundtrip),
		cmocka_unit_test(test_certext_roundtrip),
		cmocka_unit_test(test_state_roundtrip),
		cmocka_unit_test(test_standalone_encoders),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
