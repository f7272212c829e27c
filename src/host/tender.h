/*
 * Tenders: finding one (solo5.md §9 step 3), checking its ABI version, and
 * spawning it pinned to CPUs with all standard fds on the console FIFO.
 */
#ifndef PETREL_TENDER_H
#define PETREL_TENDER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

/* Looks for <dbdir>/solo5-<target>.<abi>, solo5-<target>.<abi> on PATH,
 * <dbdir>/solo5-<target>, solo5-<target> on PATH; the first executable one
 * whose `--version` states "ABI version <abi>" wins. Writes its path. */
int pt_tender_find(const char *dbdir, const char *target, uint32_t abi,
    char *path, size_t cap, pt_err *err);
/* Runs `<tender> --version` (bounded time and output) and parses the ABI
 * version from stdout+stderr. Always runs it (no cache). */
int pt_tender_abi_version(const char *tender, uint32_t *abi, pt_err *err);

/* pt_tender_find remembers the ABI version each candidate stated, keyed by
 * its path and what stat() says of the file (device, inode, size, mtime,
 * ctime), so that a create does not fork+exec `--version` every time; a
 * replaced or rewritten tender is asked again. A file whose mtime or ctime
 * is less than PT_TENDER_CACHE_SETTLE_MS old is not remembered: a second
 * change within one timestamp tick would not show in its stat. At most
 * PT_TENDER_CACHE_ENTRIES candidates are remembered (least recently used
 * goes first). Failed runs are never remembered. */
#define PT_TENDER_CACHE_ENTRIES 16
#define PT_TENDER_CACHE_SETTLE_MS 2000
/* Forgets every remembered version (tests; an operator's reload). */
void pt_tender_cache_clear(void);

typedef struct {
	const char *const *argv;   /* argv[0] is the tender path */
	const char *console_path;  /* FIFO (or file) for stdin/stdout/stderr;
	                              NULL: /dev/null */
	const int64_t *cpuids;     /* pin to these; none: no pinning */
	size_t ncpuids;
} pt_spawn_args;

/* fork+exec; the child pins itself with sched_setaffinity, resets signal
 * dispositions and mask, starts a new session, gets the console on fds
 * 0, 1 and 2 (opened O_RDWR by the parent before the fork: on a FIFO this
 * never blocks, and the tender does not die of SIGPIPE while no reader is
 * attached), and execs. Returns the pid and
 * a pidfd (CLOEXEC; -1 if the kernel lacks pidfd_open). An exec failure
 * is reported as an error here, not as a child exit: the child writes errno
 * into a CLOEXEC pipe. */
int pt_spawn(const pt_spawn_args *sa, pid_t *pid, int *pidfd, pt_err *err);

#endif
