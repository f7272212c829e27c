/*
 * Pure helpers about unikernel configurations: deep copies (the decoded
 * request dies with its frame, a running unikernel keeps its own copy),
 * restart arguments, what a configuration takes from the host, and the
 * checks the core does not do. No I/O.
 */
#include <string.h>

#include "petreld.h"

static int
copy_text(pt_arena *a, const pt_text *src, pt_text *dst)
{
	dst->len = src->len;
	dst->s = pt_arena_strndup(a, src->s ? src->s : "", src->len);
	return dst->s == NULL ? -1 : 0;
}

static int
copy_int64s(pt_arena *a, const int64_t *src, size_t n, int64_t **dst)
{
	*dst = NULL;
	if (n == 0)
		return 0;
	*dst = pt_arena_memdup(a, src, n * sizeof(*src));
	return *dst == NULL ? -1 : 0;
}

static int
copy_blocks(pt_arena *a, const pt_blockspec *src, size_t n,
    pt_blockspec **dst)
{
	*dst = NULL;
	if (n == 0)
		return 0;
	pt_blockspec *v = pt_arena_calloc(a, n, sizeof(*v));
	if (v == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		v[i] = src[i];
		if (copy_text(a, &src[i].name, &v[i].name) < 0)
			return -1;
		if (src[i].has_device &&
		    copy_text(a, &src[i].device, &v[i].device) < 0)
			return -1;
	}
	*dst = v;
	return 0;
}

static int
copy_nets(pt_arena *a, const pt_netspec *src, size_t n, pt_netspec **dst)
{
	*dst = NULL;
	if (n == 0)
		return 0;
	pt_netspec *v = pt_arena_calloc(a, n, sizeof(*v));
	if (v == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		v[i] = src[i];
		if (copy_text(a, &src[i].name, &v[i].name) < 0)
			return -1;
		if (src[i].has_bridge &&
		    copy_text(a, &src[i].bridge, &v[i].bridge) < 0)
			return -1;
	}
	*dst = v;
	return 0;
}

static int
copy_argv(pt_arena *a, const pt_text *src, size_t n, pt_text **dst)
{
	*dst = NULL;
	if (n == 0)
		return 0;
	pt_text *v = pt_arena_calloc(a, n, sizeof(*v));
	if (v == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (copy_text(a, &src[i], &v[i]) < 0)
			return -1;
	*dst = v;
	return 0;
}

/* Copies every field except typ, compressed and image: exactly what
 * restart arguments replace (§6.5). */
static int
copy_runtime_fields(pt_arena *a, const pt_ukconfig *src, pt_ukconfig *dst)
{
	dst->has_startup = src->has_startup;
	dst->startup = src->startup;
	dst->add_name = src->add_name;
	dst->fail.restart = src->fail.restart;
	dst->fail.ncodes = src->fail.ncodes;
	dst->ncpuids = src->ncpuids;
	dst->memory = src->memory;
	dst->nblocks = src->nblocks;
	dst->nnets = src->nnets;
	dst->has_argv = src->has_argv;
	dst->argc = src->argc;
	dst->cpus = src->cpus;
	dst->has_boot_partition = src->has_boot_partition;
	if (copy_int64s(a, src->fail.codes, src->fail.ncodes,
	    &dst->fail.codes) < 0 ||
	    copy_int64s(a, src->cpuids, src->ncpuids, &dst->cpuids) < 0 ||
	    copy_blocks(a, src->blocks, src->nblocks, &dst->blocks) < 0 ||
	    copy_nets(a, src->nets, src->nnets, &dst->nets) < 0 ||
	    copy_argv(a, src->argv, src->argc, &dst->argv) < 0)
		return -1;
	if (src->has_boot_partition &&
	    copy_text(a, &src->boot_partition, &dst->boot_partition) < 0)
		return -1;
	return 0;
}

int
ukcfg_copy(pt_arena *a, const pt_ukconfig *src, pt_ukconfig *dst,
    bool with_image)
{
	memset(dst, 0, sizeof(*dst));
	dst->typ = src->typ;
	dst->compressed = src->compressed;
	if (with_image && src->image.len > 0) {
		dst->image.data = pt_arena_memdup(a, src->image.data,
		    src->image.len);
		if (dst->image.data == NULL)
			return -1;
		dst->image.len = src->image.len;
	}
	return copy_runtime_fields(a, src, dst);
}

int
ukcfg_apply_restart(pt_arena *a, const pt_ukconfig *old,
    const pt_ukconfig *args, pt_ukconfig *dst)
{
	memset(dst, 0, sizeof(*dst));
	dst->typ = old->typ;
	dst->compressed = old->compressed;
	dst->image = old->image;
	return copy_runtime_fields(a, args, dst);
}

pt_text
ukcfg_bridge(const pt_netspec *n)
{
	return n->has_bridge ? n->bridge : n->name;
}

pt_text
ukcfg_device(const pt_blockspec *b)
{
	return b->has_device ? b->device : b->name;
}

int
ukcfg_resources(pt_arena *a, const pt_ukconfig *cfg, pt_uk_res *u)
{
	memset(u, 0, sizeof(*u));
	u->memory = cfg->memory;
	u->ncpuids = cfg->ncpuids;
	u->cpuids = cfg->cpuids;
	if (cfg->nnets > 0) {
		pt_text *br = pt_arena_calloc(a, cfg->nnets, sizeof(*br));
		if (br == NULL)
			return -1;
		for (size_t i = 0; i < cfg->nnets; i++)
			br[i] = ukcfg_bridge(&cfg->nets[i]);
		u->nbridges = cfg->nnets;
		u->bridges = br;
	}
	if (cfg->nblocks > 0) {
		pt_text *bl = pt_arena_calloc(a, cfg->nblocks, sizeof(*bl));
		if (bl == NULL)
			return -1;
		for (size_t i = 0; i < cfg->nblocks; i++)
			bl[i] = ukcfg_device(&cfg->blocks[i]);
		u->nblocks = cfg->nblocks;
		u->blocks = bl;
	}
	return 0;
}

/* More CPUs than any host petrel runs on; bounds the core's checks. */
#define PT_UK_MAX_CPUIDS 4096

static bool
text_eq(const pt_text *a, const pt_text *b)
{
	return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
}

int
ukcfg_validate(const pt_ukconfig *cfg, pt_err *err)
{
	if (cfg->typ != PT_TYP_SOLO5)
		return pt_fail(err, "only solo5 unikernels are supported "
		    "(not bhyve)");
	if (cfg->memory <= 0)
		return pt_fail(err, "memory must be positive (%lld MB "
		    "requested)", (long long)cfg->memory);
	if (cfg->ncpuids == 0)
		return pt_fail(err, "no CPU id given");
	/* No manifest declares more devices than this; refusing more first
	 * keeps the pairwise checks below (and the core's) cheap whatever a
	 * client sends. */
	if (cfg->nblocks > PT_MFT_MAX_ENTRIES - 1 ||
	    cfg->nnets > PT_MFT_MAX_ENTRIES - 1)
		return pt_fail(err, "%zu block devices and %zu networks given; "
		    "a Solo5 manifest holds at most %d devices", cfg->nblocks,
		    cfg->nnets, PT_MFT_MAX_ENTRIES - 1);
	if (cfg->ncpuids > PT_UK_MAX_CPUIDS)
		return pt_fail(err, "%zu CPU ids given, at most %d",
		    cfg->ncpuids, PT_UK_MAX_CPUIDS);
	for (size_t i = 0; i < cfg->nblocks; i++) {
		const pt_blockspec *b = &cfg->blocks[i];
		pt_text dev = ukcfg_device(b);
		if (!pt_label_valid(dev.s, dev.len))
			return pt_fail(err, "block device '%s': invalid name",
			    dev.s);
		if (b->has_sector_size) {
			int64_t s = b->sector_size;
			/* The tenders take 512..32768, powers of two. */
			if (s < 512 || s > 32768 || (s & (s - 1)) != 0)
				return pt_fail(err, "block device '%s': sector "
				    "size %lld is not a power of two between "
				    "512 and 32768", b->name.s, (long long)s);
		}
		for (size_t j = 0; j < i; j++)
			if (text_eq(&cfg->blocks[j].name, &b->name))
				return pt_fail(err, "block device '%s' given "
				    "twice", b->name.s);
	}
	for (size_t i = 0; i < cfg->nnets; i++)
		for (size_t j = 0; j < i; j++)
			if (text_eq(&cfg->nets[j].name, &cfg->nets[i].name))
				return pt_fail(err, "network '%s' given twice",
				    cfg->nets[i].name.s);
	return 0;
}
