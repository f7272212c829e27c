/*
 * The client's files: output files written atomically (temp file beside
 * the target, fsync, rename, fsync of the directory) and input files read
 * with a bound.
 */
#ifndef PETREL_CLIENT_FILES_H
#define PETREL_CLIENT_FILES_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

typedef struct {
	int fd;
	const char *path;
	char tmp[PATH_MAX];
	uint64_t written;
	bool failed;      /* a write failed: the file, not the data */
} pt_outfile;

/* Creates the temp file beside path (mode 0666 minus the umask). */
int pt_outfile_open(pt_outfile *f, const char *path, pt_err *err);
/* A pt_sink_fn: ctx is the pt_outfile. A failure sets f->failed, so that
 * a caller can tell a file it cannot write from data that is bad. */
int pt_outfile_write(void *f, const uint8_t *p, size_t n, pt_err *err);
/* fsync, rename over path, fsync the directory. */
int pt_outfile_commit(pt_outfile *f, pt_err *err);
/* Removes the temp file (safe to call after commit or on a closed one). */
void pt_outfile_abort(pt_outfile *f);

/* Opens a regular file for reading (O_CLOEXEC) and gives its size. */
int pt_input_open(const char *path, uint64_t *size, pt_err *err);
/* read() that retries EINTR; returns bytes read, 0 at the end, -1. */
long pt_input_read(int fd, uint8_t *buf, size_t cap, pt_err *err);

/* Reads the whole file (at most max bytes) into out; with compress, out
 * gets its zlib compression instead (streamed, the raw file never sits in
 * memory whole). */
int pt_input_slurp(const char *path, size_t max, bool compress, pt_buf *out,
    pt_err *err);

#endif
