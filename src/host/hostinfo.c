/*
 * The root policy (albatross-wire.md A.5): what the whole host offers.
 * CPUs are those this process may run on (a daemon confined by a cpuset
 * offers only those), memory is the physical RAM, block storage the free
 * space where block devices live, bridges all bridges that exist now.
 */
#include "hostinfo.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>

#include "fsutil.h"
#include "tap.h"

#define MB (1024ull * 1024)
/* Upper bound of the CPU set we ask the kernel for (Linux's NR_CPUS
 * maximum is 8192). */
#define MAX_CPUS 8192

static int
allowed_cpus(int64_t **ids, size_t *n, pt_err *err)
{
	*ids = NULL;
	*n = 0;
	/* Grow the set until the kernel accepts its size (EINVAL means it is
	 * smaller than the kernel's CPU mask). */
	for (size_t ncpu = 1024; ncpu <= MAX_CPUS; ncpu *= 2) {
		cpu_set_t *set = CPU_ALLOC(ncpu);
		if (set == NULL)
			return pt_fail(err, "sched_getaffinity: out of memory");
		size_t size = CPU_ALLOC_SIZE(ncpu);
		CPU_ZERO_S(size, set);
		if (sched_getaffinity(0, size, set) != 0) {
			int saved = errno;
			CPU_FREE(set);
			if (saved == EINVAL)
				continue;
			return pt_fail(err, "sched_getaffinity: %s",
			    strerror(saved));
		}
		size_t count = (size_t)CPU_COUNT_S(size, set);
		int64_t *v = calloc(count > 0 ? count : 1, sizeof(*v));
		if (v == NULL) {
			CPU_FREE(set);
			return pt_fail(err, "sched_getaffinity: out of memory");
		}
		size_t k = 0;
		for (size_t cpu = 0; cpu < ncpu && k < count; cpu++)
			if (CPU_ISSET_S(cpu, size, set))
				v[k++] = (int64_t)cpu;
		CPU_FREE(set);
		*ids = v;
		*n = k;
		return 0;
	}
	return pt_fail(err, "sched_getaffinity: more than %d CPUs", MAX_CPUS);
}

static int
memory_mb(int64_t *mb, pt_err *err)
{
	struct sysinfo si;
	if (sysinfo(&si) != 0)
		return pt_fail(err, "sysinfo: %s", strerror(errno));
	unsigned long long unit = si.mem_unit ? si.mem_unit : 1;
	*mb = (int64_t)((unsigned long long)si.totalram * unit / MB);
	return 0;
}

int
pt_host_root_policy(const char *block_dir, pt_policy **out, pt_err *err)
{
	*out = NULL;
	if (block_dir == NULL)
		return pt_fail(err, "root policy: no block directory");
	pt_policy p;
	memset(&p, 0, sizeof(p));
	p.unikernels = INT64_MAX >> 1; /* OCaml's max_int on 64 bit */
	if (memory_mb(&p.memory, err) != 0)
		return pt_fail_prefix(err, "root policy");
	uint64_t free_bytes;
	if (pt_fs_free_bytes(block_dir, &free_bytes, err) != 0)
		return pt_fail_prefix(err, "root policy: block directory");
	p.has_block = true;
	p.block = (int64_t)(free_bytes / MB);
	if (allowed_cpus(&p.cpuids, &p.ncpuids, err) != 0)
		return pt_fail_prefix(err, "root policy");

	char **names = NULL;
	size_t nnames = 0;
	if (pt_bridges_list(&names, &nnames, err) != 0) {
		free(p.cpuids);
		return pt_fail_prefix(err, "root policy");
	}
	int rc = 0;
	p.bridges = calloc(nnames > 0 ? nnames : 1, sizeof(*p.bridges));
	if (p.bridges == NULL) {
		rc = pt_fail(err, "root policy: out of memory");
	} else {
		for (size_t i = 0; i < nnames; i++)
			p.bridges[i] = (pt_text){names[i], strlen(names[i])};
		p.nbridges = nnames;
		pt_policy_normalise(&p);
		/* The copy owns everything in one allocation. */
		*out = pt_policy_dup(&p);
		if (*out == NULL)
			rc = pt_fail(err, "root policy: out of memory");
	}
	free(p.bridges);
	free(p.cpuids);
	pt_bridges_free(names, nnames);
	return rc;
}
