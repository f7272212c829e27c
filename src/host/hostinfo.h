/*
 * The host's resources, for the root policy (albatross-wire.md A.5): all
 * CPUs this process may use, physical memory in MB, free space of the
 * block directory in MB, all bridges.
 */
#ifndef PETREL_HOSTINFO_H
#define PETREL_HOSTINFO_H

#include "policy.h"
#include "util.h"

/* Fills a heap-allocated policy (free with pt_policy_free) with
 * unikernels = INT64 max >> 1 (2^62-1), and the rest from the host. */
int pt_host_root_policy(const char *block_dir, pt_policy **out, pt_err *err);

#endif
