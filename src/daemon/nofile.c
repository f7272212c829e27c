/*
 * RLIMIT_NOFILE: see nofile.h.
 */
#include "nofile.h"

#include <errno.h>
#include <sys/resource.h>

/* RLIM_INFINITY is not a count; no kernel allows more than this many
 * descriptors (fs.nr_open is at most 2^30 on 64-bit). */
#define NOFILE_CAP ((uint64_t)1 << 31)

static uint64_t
as_count(rlim_t v)
{
	return v == RLIM_INFINITY || (uint64_t)v > NOFILE_CAP ? NOFILE_CAP :
	    (uint64_t)v;
}

void
pt_nofile_raise(pt_nofile *out)
{
	struct rlimit rl;
	out->error = 0;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		out->error = errno;
		out->before = out->soft = out->hard = 0;
		return;
	}
	out->before = as_count(rl.rlim_cur);
	out->hard = as_count(rl.rlim_max);
	if (rl.rlim_cur != rl.rlim_max) {
		struct rlimit want = {rl.rlim_max, rl.rlim_max};
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			rl.rlim_cur = rl.rlim_max;
		else
			out->error = errno;
	}
	out->soft = as_count(rl.rlim_cur);
}

uint64_t
pt_nofile_soft(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	return as_count(rl.rlim_cur);
}
