/*
 * The descriptor limit of a daemon: raised at start, read at each create.
 *
 * A daemon starts with the soft RLIMIT_NOFILE it inherits (often 1024),
 * which caps how many unikernels it can hold (docs/limits.md). The hard
 * limit is what the administrator allows; nothing is gained by staying
 * below it, so each daemon raises its soft limit to the hard one first
 * thing, and says so.
 */
#ifndef PETREL_NOFILE_H
#define PETREL_NOFILE_H

#include <stdint.h>

typedef struct {
	uint64_t before;   /* the soft limit inherited */
	uint64_t soft;     /* the soft limit now */
	uint64_t hard;
	int error;         /* errno of a failed raise, else 0 */
} pt_nofile;

/* Raises the soft RLIMIT_NOFILE to the hard limit and reports what it
 * found and did. Never fails the daemon: a refused raise (error set)
 * leaves the inherited limit. */
void pt_nofile_raise(pt_nofile *out);
/* The soft RLIMIT_NOFILE now (an operator may change it with prlimit
 * while the daemon runs). */
uint64_t pt_nofile_soft(void);

#endif
