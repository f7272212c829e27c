/*
 * Resource policies (albatross-wire.md §6.2, A.5): normalisation, the
 * usable and subset checks, equality and heap copies.
 *
 * CPU ids and bridges are sets. The lookups here scan linearly instead of
 * relying on the normalised order, so a policy that was not normalised
 * still compares correctly; policies hold a handful of entries.
 */
#include "policy.h"

#include <stdlib.h>
#include <string.h>

static int
cmp_int64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a;
	int64_t y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

void
pt_sort_int64_unique(int64_t *v, size_t *n)
{
	size_t out = 0;

	if (*n == 0)
		return;
	qsort(v, *n, sizeof(*v), cmp_int64);
	for (size_t i = 0; i < *n; i++)
		if (out == 0 || v[out - 1] != v[i])
			v[out++] = v[i];
	*n = out;
}

/* Byte-wise order, a shorter string before its extensions ("Zed" < "ext"). */
static int
cmp_text(const pt_text *a, const pt_text *b)
{
	size_t m = a->len < b->len ? a->len : b->len;
	int c = m == 0 ? 0 : memcmp(a->s, b->s, m);
	if (c != 0)
		return c;
	return (a->len > b->len) - (a->len < b->len);
}

static int
cmp_text_qsort(const void *a, const void *b)
{
	return cmp_text(a, b);
}

void
pt_policy_normalise(pt_policy *p)
{
	size_t out = 0;

	if (p->cpuids != NULL)
		pt_sort_int64_unique(p->cpuids, &p->ncpuids);
	if (p->nbridges == 0 || p->bridges == NULL)
		return;
	qsort(p->bridges, p->nbridges, sizeof(*p->bridges), cmp_text_qsort);
	for (size_t i = 0; i < p->nbridges; i++)
		if (out == 0 || cmp_text(&p->bridges[out - 1],
		    &p->bridges[i]) != 0)
			p->bridges[out++] = p->bridges[i];
	p->nbridges = out;
}

int
pt_policy_usable(const pt_policy *p, pt_err *err)
{
	if (p->unikernels <= 0)
		return pt_fail(err, "policy allows no unikernels (%lld)",
		    (long long)p->unikernels);
	if (p->ncpuids == 0)
		return pt_fail(err, "policy allows no CPU");
	if (p->memory <= 16)
		return pt_fail(err,
		    "policy memory %lld MB is too small (more than 16 needed)",
		    (long long)p->memory);
	if (p->has_block && p->block < 0)
		return pt_fail(err, "policy block storage %lld MB is negative",
		    (long long)p->block);
	for (size_t i = 0; i < p->ncpuids; i++)
		if (p->cpuids[i] < 0)
			return pt_fail(err, "policy CPU id %lld is negative",
			    (long long)p->cpuids[i]);
	for (size_t i = 0; i < p->nbridges; i++)
		if (p->bridges[i].len == 0)
			return pt_fail(err, "policy has an empty bridge name");
	return 0;
}

bool
pt_policy_has_cpu(const pt_policy *p, int64_t cpu)
{
	for (size_t i = 0; i < p->ncpuids; i++)
		if (p->cpuids[i] == cpu)
			return true;
	return false;
}

bool
pt_policy_has_bridge(const pt_policy *p, const char *bridge, size_t n)
{
	pt_text t = {bridge, n};
	for (size_t i = 0; i < p->nbridges; i++)
		if (cmp_text(&p->bridges[i], &t) == 0)
			return true;
	return false;
}

int
pt_policy_is_smaller(const pt_policy *small, const pt_policy *big,
    pt_err *err)
{
	if (small->unikernels > big->unikernels)
		return pt_fail(err, "allows %lld unikernels, more than %lld",
		    (long long)small->unikernels, (long long)big->unikernels);
	if (small->memory > big->memory)
		return pt_fail(err, "allows memory %lld MB, more than %lld MB",
		    (long long)small->memory, (long long)big->memory);
	if (small->has_block && !big->has_block)
		return pt_fail(err,
		    "allows block storage %lld MB, where none is allowed",
		    (long long)small->block);
	if (small->has_block && small->block > big->block)
		return pt_fail(err,
		    "allows block storage %lld MB, more than %lld MB",
		    (long long)small->block, (long long)big->block);
	for (size_t i = 0; i < small->ncpuids; i++)
		if (!pt_policy_has_cpu(big, small->cpuids[i]))
			return pt_fail(err, "allows CPU %lld, which is not allowed",
			    (long long)small->cpuids[i]);
	for (size_t i = 0; i < small->nbridges; i++) {
		const pt_text *b = &small->bridges[i];
		if (!pt_policy_has_bridge(big, b->s, b->len))
			return pt_fail(err,
			    "allows bridge %.*s, which is not allowed",
			    (int)(b->len > 64 ? 64 : b->len), b->s);
	}
	return 0;
}

static bool
cpus_subset(const pt_policy *a, const pt_policy *b)
{
	for (size_t i = 0; i < a->ncpuids; i++)
		if (!pt_policy_has_cpu(b, a->cpuids[i]))
			return false;
	return true;
}

static bool
bridges_subset(const pt_policy *a, const pt_policy *b)
{
	for (size_t i = 0; i < a->nbridges; i++)
		if (!pt_policy_has_bridge(b, a->bridges[i].s,
		    a->bridges[i].len))
			return false;
	return true;
}

/* Compares as sets, so order and duplicates do not matter. */
bool
pt_policy_equal(const pt_policy *a, const pt_policy *b)
{
	if (a->unikernels != b->unikernels || a->memory != b->memory ||
	    a->has_block != b->has_block)
		return false;
	if (a->has_block && a->block != b->block)
		return false;
	return cpus_subset(a, b) && cpus_subset(b, a) &&
	    bridges_subset(a, b) && bridges_subset(b, a);
}

/* Adds b to *total unless that overflows. */
static bool
add_size(size_t *total, size_t b)
{
	if (b > SIZE_MAX - *total)
		return false;
	*total += b;
	return true;
}

/*
 * One allocation holds the struct, the CPU ids, the bridge array and the
 * bridge strings, so pt_policy_free is a single free().
 */
pt_policy *
pt_policy_dup(const pt_policy *p)
{
	size_t total = sizeof(pt_policy);
	size_t cpu_off, br_off, str_off;

	_Static_assert(sizeof(pt_policy) % _Alignof(int64_t) == 0 &&
	    sizeof(pt_policy) % _Alignof(pt_text) == 0 &&
	    sizeof(pt_text) % _Alignof(pt_text) == 0 &&
	    sizeof(int64_t) % _Alignof(pt_text) == 0,
	    "parts of a policy copy stay aligned back to back");
	cpu_off = total;
	if (p->ncpuids > SIZE_MAX / sizeof(int64_t) ||
	    !add_size(&total, p->ncpuids * sizeof(int64_t)))
		return NULL;
	br_off = total;
	if (p->nbridges > SIZE_MAX / sizeof(pt_text) ||
	    !add_size(&total, p->nbridges * sizeof(pt_text)))
		return NULL;
	str_off = total;
	for (size_t i = 0; i < p->nbridges; i++)
		if (!add_size(&total, p->bridges[i].len) ||
		    !add_size(&total, 1))
			return NULL;

	unsigned char *mem = malloc(total);
	if (mem == NULL)
		return NULL;
	pt_policy *c = (pt_policy *)(void *)mem;
	*c = *p;
	c->cpuids = p->ncpuids ? (int64_t *)(void *)(mem + cpu_off) : NULL;
	if (p->ncpuids)
		memcpy(c->cpuids, p->cpuids, p->ncpuids * sizeof(int64_t));
	c->bridges = p->nbridges ? (pt_text *)(void *)(mem + br_off) : NULL;
	char *str = (char *)mem + str_off;
	for (size_t i = 0; i < p->nbridges; i++) {
		size_t len = p->bridges[i].len;
		if (len)
			memcpy(str, p->bridges[i].s, len);
		str[len] = '\0';
		c->bridges[i].s = str;
		c->bridges[i].len = len;
		str += len + 1;
	}
	return c;
}

void
pt_policy_free(pt_policy *p)
{
	free(p);
}

pt_policy *
pt_policy_clamp(const pt_policy *p, const pt_policy *bound)
{
	pt_policy *c = pt_policy_dup(p);
	if (c == NULL)
		return NULL;
	if (c->unikernels > bound->unikernels)
		c->unikernels = bound->unikernels;
	if (c->memory > bound->memory)
		c->memory = bound->memory;
	if (!bound->has_block)
		c->has_block = false;
	else if (c->has_block && c->block > bound->block)
		c->block = bound->block;
	/* The copy owns its CPU ids: filtered in place, order kept. */
	size_t n = 0;
	for (size_t i = 0; i < c->ncpuids; i++)
		if (pt_policy_has_cpu(bound, c->cpuids[i]))
			c->cpuids[n++] = c->cpuids[i];
	c->ncpuids = n;
	return c;
}
