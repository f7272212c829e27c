/*
 * Option values the daemons share the parsing of.
 */
#ifndef PETREL_OPTIONS_H
#define PETREL_OPTIONS_H

/* A whole number from min to max for the option `opt`; otherwise prints
 * "<prog>: <opt>: expected a number from MIN to MAX, got 'S'" and exits
 * with 2 (a usage error), as every daemon's option parsing does. */
long pt_opt_count(const char *prog, const char *opt, const char *s,
    long min, long max);

#endif
