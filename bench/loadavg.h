/*
 * Every benchmark prints the machine's load (/proc/loadavg) when it starts
 * and when it ends: the machine is shared, and a figure taken under load
 * is read differently. Call bench_load_start() once, first thing in main
 * (after any setvbuf); the end is printed at exit.
 */
#ifndef BENCH_LOADAVG_H
#define BENCH_LOADAVG_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
bench_load_print(const char *when)
{
	char buf[128] = "unknown";
	FILE *f = fopen("/proc/loadavg", "re");
	if (f != NULL) {
		if (fgets(buf, sizeof(buf), f) == NULL)
			snprintf(buf, sizeof(buf), "unknown");
		fclose(f);
	}
	buf[strcspn(buf, "\n")] = '\0';
	printf("load at %s: %s\n", when, buf);
	fflush(stdout);
}

static void
bench_load_end(void)
{
	bench_load_print("end");
}

static void
bench_load_start(void)
{
	bench_load_print("start");
	atexit(bench_load_end);
}

#endif
