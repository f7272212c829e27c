/*
 * Process and timing helpers the benchmarks that drive the real daemons
 * share (bench_create, bench_density).
 */
#ifndef PETREL_BENCHUTIL_H
#define PETREL_BENCHUTIL_H

#include <ftw.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Monotonic seconds. */
double now(void);
void pause_ms(long ms);
/* Waits up to `seconds` for pid to exit (pidfd, else polling); true once
 * it is reaped, with its status. */
bool wait_deadline(pid_t pid, double seconds, int *status);
/* nftw callback that removes what it visits (FTW_DEPTH). */
int rm_entry(const char *path, const struct stat *st, int flag,
    struct FTW *f);
bool can_connect(const char *sock);
/* qsort order of doubles. */
int cmp_double(const void *a, const void *b);

#endif
