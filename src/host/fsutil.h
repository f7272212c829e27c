/*
 * Files, written the careful way: atomic replacement (temp file, fsync,
 * rename, fsync of the directory), CLOEXEC everywhere.
 */
#ifndef PETREL_FSUTIL_H
#define PETREL_FSUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

/* mkdir -p with mode for the directories it creates. */
int pt_mkdirs(const char *path, mode_t mode, pt_err *err);
/* Writes data to path atomically with the given mode. If `backup` is
 * non-NULL, the previous file (if any) is hard-linked there first. */
int pt_write_atomic(const char *path, const void *data, size_t n,
    mode_t mode, const char *backup, pt_err *err);
/* Reads a whole file up to max bytes into a heap buffer. -1 with errno
 * ENOENT kept when missing (check errno). */
int pt_read_file(const char *path, size_t max, uint8_t **data, size_t *n,
    pt_err *err);
/* A pt_read_at_fn (src/core/solo5.h) over a file descriptor: ctx points
 * to the int fd. Reads exactly n bytes at off with pread; -1 on a short
 * file or an error. */
int pt_read_at_fd(void *ctx, uint64_t off, void *buf, size_t n);

/* unlink that ignores ENOENT. */
int pt_unlink_quiet(const char *path);
/* Free bytes on the file system holding path. */
int pt_fs_free_bytes(const char *path, uint64_t *bytes, pt_err *err);

/* Building blocks of the above, shared with image.c. */
/* write() until all n bytes are written (retries EINTR); 0 or -1/errno. */
int pt_write_all(int fd, const void *data, size_t n);
/* Creates an exclusive (O_EXCL|O_CLOEXEC, mode 0600) temp file beside
 * path, writes its name into tmp[cap] and returns the fd, or -1. */
int pt_mktemp_beside(const char *path, char *tmp, size_t cap, pt_err *err);
/* fsync()s the directory holding path, making a rename there durable. */
int pt_fsync_parent(const char *path, pt_err *err);

#endif
