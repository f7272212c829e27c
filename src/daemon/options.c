#include "options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

long
pt_opt_count(const char *prog, const char *opt, const char *s, long min,
    long max)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || v < min || v > max) {
		fprintf(stderr, "%s: %s: expected a number from %ld to %ld, "
		    "got '%s'\n", prog, opt, min, max, s);
		exit(2);
	}
	return v;
}
