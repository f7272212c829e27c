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

/* Files made durable later, or never (what is remade at every start).
 * pt_write_new writes data to a fresh file at path (an older file there
 * is unlinked first, never truncated: it may be a hard link shared with
 * another name), WITHOUT fsync; removes it on failure. */
int pt_write_new(const char *path, const void *data, size_t n, mode_t mode,
    pt_err *err);
/* fsync()s the file at path: with pt_fsync_parent after its rename, what
 * pt_write_new left undone. */
int pt_fsync_file(const char *path, pt_err *err);
/* Hard-links `from` as `to`, replacing an older `to`. 0 linked; 1 when the
 * file systems cannot link them (different file systems, no hard links):
 * copy instead; -1 on any other error. */
int pt_link_replace(const char *from, const char *to, pt_err *err);

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
