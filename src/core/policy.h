/*
 * Resource policies (albatross-wire.md §6.2, Appendix A.5).
 *
 * A policy bounds what may run at and below a path: how many unikernels,
 * how much memory (MB), how much block storage (MB, or none at all), which
 * CPU ids and which bridges.
 */
#ifndef PETREL_POLICY_H
#define PETREL_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

typedef struct {
	int64_t unikernels;
	int64_t memory;      /* MB */
	bool has_block;      /* false: no block storage allowed */
	int64_t block;       /* MB */
	size_t ncpuids;
	int64_t *cpuids;     /* ascending, no duplicates (normalised) */
	size_t nbridges;
	pt_text *bridges;    /* ascending byte-wise, no duplicates */
} pt_policy;

/* Sorts and de-duplicates cpuids and bridges in place (albatross emits them
 * that way and collapses duplicates on decode). */
void pt_policy_normalise(pt_policy *p);

/* albatross's `usable`: unikernels > 0, at least one CPU id, memory > 16,
 * block >= 0 if present. Also: CPU ids >= 0, bridge names non-empty. */
int pt_policy_usable(const pt_policy *p, pt_err *err);

/* Is `small` within `big` in every dimension (a subset)? On failure names
 * the first dimension that does not fit. */
int pt_policy_is_smaller(const pt_policy *small, const pt_policy *big,
    pt_err *err);

bool pt_policy_equal(const pt_policy *a, const pt_policy *b);

/* Heap deep copy (for long-lived storage) and its release. */
pt_policy *pt_policy_dup(const pt_policy *p);
void pt_policy_free(pt_policy *p);

/* A heap copy of p narrowed to `bound` in count, memory, block storage
 * and CPU ids; its bridges stay p's (bridges come and go while a host
 * runs). The result may be unusable (no CPU left): it then refuses
 * everything, which is the point. NULL when out of memory. */
pt_policy *pt_policy_clamp(const pt_policy *p, const pt_policy *bound);

bool pt_policy_has_cpu(const pt_policy *p, int64_t cpu);
bool pt_policy_has_bridge(const pt_policy *p, const char *bridge, size_t n);

/* Sorts ascending and drops duplicates; *n becomes the new count. (Also
 * declared in wire.h, whose codec uses it; defined in policy.c.) */
void pt_sort_int64_unique(int64_t *v, size_t *n);

#endif
