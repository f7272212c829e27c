/*
 * The pids controller of the calling process's cgroup: how many more
 * tasks (processes and threads) it may start before fork fails with
 * EAGAIN. cgroup v1 (the "pids" hierarchy under /sys/fs/cgroup/pids) and
 * v2 (/sys/fs/cgroup) alike.
 */
#ifndef PETREL_CGROUP_H
#define PETREL_CGROUP_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "util.h"

typedef struct {
	bool limited;          /* some level has a pids.max below "max" */
	uint64_t headroom;     /* tasks still allowed (when limited) */
	uint64_t max, current; /* at the level that binds */
	char dir[PATH_MAX];    /* that level's directory */
} pt_pids_room;

/* Reads /proc/self/cgroup, then pids.max and pids.current of the cgroup
 * and of each ancestor that has them; the least headroom binds. No pids
 * controller (or files that cannot be read) means not limited: -1 only
 * when a file that exists holds something else than a pids value. */
int pt_cgroup_pids_room(pt_pids_room *room, pt_err *err);

#endif
