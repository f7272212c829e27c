/*
 * Resource state: a trie keyed by name labels holding policies, block
 * devices and unikernels, with the checks of albatross-wire.md A.5 made
 * stricter (see below). Pure: no I/O.
 *
 * Every node keeps the usage of its whole subtree (unikernel count,
 * memory, block MB, reference counts of the CPU ids and bridges in use), so
 * a check walks only the path from the root: O(depth), not O(unikernels).
 *
 * Differences from albatross, on purpose:
 *  - create is checked against EVERY policy from the root down to the
 *    unikernel's path, not only the nearest one, so a delegate cannot
 *    exceed its parent;
 *  - block add is checked against every policy on the path as well.
 *
 * Every failure message names the path, the limit, the usage and the
 * request, e.g. "policy team:alice: allows 2 unikernels, 2 in use, 1 more
 * requested".
 */
#ifndef PETREL_RESTRIE_H
#define PETREL_RESTRIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "name.h"
#include "policy.h"
#include "util.h"

typedef struct pt_res pt_res;

/* What a unikernel takes from the host. Strings are copied on insert. */
typedef struct {
	int64_t memory;               /* MB */
	size_t ncpuids;
	const int64_t *cpuids;
	size_t nbridges;              /* effective bridge names */
	const pt_text *bridges;
	size_t nblocks;               /* block device labels, in the
	                                 unikernel's own path */
	const pt_text *blocks;
} pt_uk_res;

pt_res *pt_res_new(void);
void pt_res_free(pt_res *r);

/* ---- unikernels ---- */

/* Checks that `name` (which has a label) may be created with `u`:
 * name free (unless it equals `replacing`), every policy from the root to
 * its path fits one more unikernel with that memory, the CPU ids and the
 * bridges are allowed by each, and each block device exists in the
 * unikernel's path and is not in use (by anyone but `replacing`).
 * `replacing` (may be NULL) is a unikernel whose resources are counted as
 * freed: force-create and restart check "as if the old one were gone". */
int pt_res_check_create(const pt_res *r, const pt_name *name,
    const pt_uk_res *u, const pt_name *replacing, pt_err *err);

/* Check (without `replacing`) and insert; marks its block devices in use.
 * `data` is the caller's, returned by pt_res_unikernel. */
int pt_res_add_unikernel(pt_res *r, const pt_name *name, const pt_uk_res *u,
    void *data, pt_err *err);
/* The share a unikernel holds while it waits for its restart, so that
 * nobody else takes it meanwhile. Only the limits are checked (count and
 * memory of every policy on the path): a unikernel that never fitted
 * holds nothing. What the policies allow is not (a bridge the root lost
 * with the host's, a CPU id): it stays claimed until the retry, which
 * checks everything. The name must be free; each of its block devices
 * that exists must be free (else -1) and becomes in use; missing ones are
 * not claimed. Removed with pt_res_remove_unikernel. */
int pt_res_claim_unikernel(pt_res *r, const pt_name *name,
    const pt_uk_res *u, void *data, pt_err *err);
/* Removes it and frees its block devices. Returns its data, or NULL if
 * there was no such unikernel. */
void *pt_res_remove_unikernel(pt_res *r, const pt_name *name);
void *pt_res_unikernel(const pt_res *r, const pt_name *name);
size_t pt_res_unikernel_count(const pt_res *r);

/* ---- block devices ---- */

/* Size fits every policy on the path, counting all block devices below
 * each; the name is free. Size must be > 0. */
int pt_res_check_block_add(const pt_res *r, const pt_name *name,
    int64_t size_mb, pt_err *err);
int pt_res_add_block(pt_res *r, const pt_name *name, int64_t size_mb,
    pt_err *err);
/* "not found" / "is in use" errors. */
int pt_res_remove_block(pt_res *r, const pt_name *name, pt_err *err);
/* 0 and fills size/in_use, or -1 if there is no such device. */
int pt_res_block(const pt_res *r, const pt_name *name, int64_t *size_mb,
    bool *in_use);

/* ---- policies ---- */

/* Adding or replacing the policy at `path` (a name without label; a label
 * is ignored): the policy must be usable, every policy above must be a
 * superset, every policy below a subset, and the usage below must fit
 * (count, memory, block, CPU ids, bridges).
 * Returns 0 "added", 1 "no modification" (identical policy present). */
int pt_res_check_policy(const pt_res *r, const pt_name *path,
    const pt_policy *p, pt_err *err);
int pt_res_set_policy(pt_res *r, const pt_name *path, const pt_policy *p,
    pt_err *err);
/* Installs p at `path` (the root too) as it is, without any check: a
 * policy read back from the state that no longer fits what is around it
 * (the host shrank) is kept rather than dropped, and an in-memory change
 * whose state write failed is rolled back. Creates and block adds are
 * still checked against every policy on the path, so a policy wider than
 * those above it grants nothing more than they do. Fails only when out
 * of memory. */
int pt_res_restore_policy(pt_res *r, const pt_name *path, const pt_policy *p,
    pt_err *err);
/* The root policy cannot be removed; "unknown policy" if none. */
int pt_res_remove_policy(pt_res *r, const pt_name *path, pt_err *err);
const pt_policy *pt_res_policy(const pt_res *r, const pt_name *path);
/* Installs the root policy without the subset checks (used at start-up
 * with the host's resources; the caller re-checks the rest). */
int pt_res_set_root_policy(pt_res *r, const pt_policy *p, pt_err *err);

/* ---- iteration ----
 * Visits every entry at or below `below` (its label ignored; if it has a
 * label, only that exact entry), in pre-order with children in ascending
 * label order. The callback returns 0 to go on, non-zero to stop (which is
 * then returned). */
typedef int (*pt_res_policy_cb)(const pt_name *path, const pt_policy *p,
    void *ctx);
typedef int (*pt_res_uk_cb)(const pt_name *name, void *data, void *ctx);
typedef int (*pt_res_block_cb)(const pt_name *name, int64_t size_mb,
    bool in_use, void *ctx);

int pt_res_foreach_policy(const pt_res *r, const pt_name *below,
    pt_res_policy_cb cb, void *ctx);
int pt_res_foreach_unikernel(const pt_res *r, const pt_name *below,
    pt_res_uk_cb cb, void *ctx);
int pt_res_foreach_block(const pt_res *r, const pt_name *below,
    pt_res_block_cb cb, void *ctx);

/* Usage of the subtree at `path`, for info output and tests. */
typedef struct {
	int64_t unikernels;
	int64_t memory;
	int64_t block;
} pt_res_usage;
void pt_res_usage_at(const pt_res *r, const pt_name *path, pt_res_usage *u);

/* Number of trie nodes besides the root, for tests: nodes that hold
 * nothing are removed, so this returns to 0 once everything is gone. */
size_t pt_res_node_count(const pt_res *r);

#endif
