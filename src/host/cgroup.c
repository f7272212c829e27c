/*
 * pids.max and pids.current of the process's cgroup and its ancestors
 * (cgroup.h). The parsing is in src/core/capacity.c.
 */
#include "cgroup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capacity.h"
#include "fsutil.h"

#define CGROUP_V1_PIDS "/sys/fs/cgroup/pids"
#define CGROUP_V2 "/sys/fs/cgroup"
#define SMALL_FILE 4096

/* 1 with the value, 0 if the file is not there (or not readable: a
 * level we may not look at does not stop the others), -1 if it holds
 * garbage. */
static int
read_value(const char *dir, const char *file, uint64_t *v, bool *unlimited,
    pt_err *err)
{
	char path[PATH_MAX + 32];
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >=
	    sizeof(path))
		return 0;
	uint8_t *data = NULL;
	size_t n = 0;
	pt_err ignored;
	if (pt_read_file(path, SMALL_FILE, &data, &n, &ignored) < 0)
		return 0;
	int rc = pt_pids_parse((const char *)data, n, v, unlimited);
	free(data);
	if (rc < 0)
		return pt_fail(err, "%s: not a number of tasks", path);
	return 1;
}

/* One level: updates room if its limit binds harder. */
static int
look_at(const char *dir, pt_pids_room *room, pt_err *err)
{
	uint64_t max, cur;
	bool unlimited, ignored;
	int r = read_value(dir, "pids.max", &max, &unlimited, err);
	if (r <= 0 || unlimited)
		return r < 0 ? -1 : 0;
	r = read_value(dir, "pids.current", &cur, &ignored, err);
	if (r <= 0)
		return r < 0 ? -1 : 0;
	uint64_t head = pt_pids_headroom(max, cur);
	if (!room->limited || head < room->headroom) {
		room->limited = true;
		room->headroom = head;
		room->max = max;
		room->current = cur;
		snprintf(room->dir, sizeof(room->dir), "%s", dir);
	}
	return 0;
}

int
pt_cgroup_pids_room(pt_pids_room *room, pt_err *err)
{
	memset(room, 0, sizeof(*room));
	uint8_t *data = NULL;
	size_t n = 0;
	pt_err ignored;
	if (pt_read_file("/proc/self/cgroup", SMALL_FILE * 4, &data, &n,
	    &ignored) < 0)
		return 0;
	char rel[PATH_MAX];
	bool v2 = false;
	int found = pt_cgroup_pids_path((const char *)data, n, rel,
	    sizeof(rel), &v2);
	free(data);
	if (found < 0)
		return 0;
	char dir[PATH_MAX];
	if ((size_t)snprintf(dir, sizeof(dir), "%s%s", v2 ? CGROUP_V2 :
	    CGROUP_V1_PIDS, strcmp(rel, "/") == 0 ? "" : rel) >= sizeof(dir))
		return 0;
	size_t root_len = strlen(v2 ? CGROUP_V2 : CGROUP_V1_PIDS);
	/* The cgroup, then each ancestor up to the hierarchy's root (which
	 * has no pids.max). */
	for (;;) {
		if (look_at(dir, room, err) < 0)
			return -1;
		char *slash = strrchr(dir, '/');
		if (slash == NULL || (size_t)(slash - dir) < root_len)
			break;
		*slash = '\0';
	}
	return 0;
}
