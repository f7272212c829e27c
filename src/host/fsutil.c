/*
 * Files written the careful way. A crash at any point leaves either the old
 * or the new content under the final name, never a mix: the data goes to
 * a temp file beside the target, is fsync'ed, renamed over the target, and
 * the directory is fsync'ed so the rename itself is durable.
 */
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

int
pt_mkdirs(const char *path, mode_t mode, pt_err *err)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);
	if (len == 0)
		return pt_fail(err, "mkdir: empty path");
	if (len >= sizeof(buf))
		return pt_fail(err, "mkdir %s: path too long", path);
	memcpy(buf, path, len + 1);
	/* Create each prefix ending before a '/', then the whole path. */
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		if (buf[i - 1] == '/')
			continue; /* "a//b" or a trailing slash */
		char saved = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, mode) != 0 && errno != EEXIST)
			return pt_fail(err, "mkdir %s: %s", buf, strerror(errno));
		struct stat st;
		if (stat(buf, &st) != 0)
			return pt_fail(err, "stat %s: %s", buf, strerror(errno));
		if (!S_ISDIR(st.st_mode))
			return pt_fail(err, "mkdir %s: exists and is not a "
			    "directory", buf);
		buf[i] = saved;
	}
	return 0;
}

int
pt_write_all(int fd, const void *data, size_t n)
{
	const uint8_t *p = data;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Splits path into its directory ("." if none) in dir[cap]. */
static int
dir_of(const char *path, char *dir, size_t cap)
{
	const char *slash = strrchr(path, '/');
	if (slash == NULL)
		return snprintf(dir, cap, ".") < (int)cap ? 0 : -1;
	size_t n = (size_t)(slash - path);
	if (n == 0)
		n = 1; /* "/file": the directory is "/" */
	if (n >= cap)
		return -1;
	memcpy(dir, path, n);
	dir[n] = '\0';
	return 0;
}

int
pt_fsync_parent(const char *path, pt_err *err)
{
	char dir[PATH_MAX];
	if (dir_of(path, dir, sizeof(dir)) != 0)
		return pt_fail(err, "%s: path too long", path);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return pt_fail(err, "open directory %s: %s", dir,
		    strerror(errno));
	int rc = fsync(fd);
	int saved = errno;
	close(fd);
	if (rc != 0)
		return pt_fail(err, "fsync directory %s: %s", dir,
		    strerror(saved));
	return 0;
}

int
pt_mktemp_beside(const char *path, char *tmp, size_t cap, pt_err *err)
{
	/* A hidden name in the same directory, so that rename() stays within
	 * one file system and is atomic. */
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	int dirlen = slash ? (int)(slash - path + 1) : 0;
	if (*base == '\0')
		return pt_fail(err, "%s: not a file name", path);
	int n = snprintf(tmp, cap, "%.*s.%s.tmp.XXXXXX", dirlen, path, base);
	if (n < 0 || (size_t)n >= cap)
		return pt_fail(err, "%s: path too long", path);
	/* mkostemp opens with O_CREAT|O_EXCL and mode 0600. */
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return pt_fail(err, "create temp file for %s: %s", path,
		    strerror(errno));
	return fd;
}

/* Hard-links the current `path` as `backup`, replacing an older backup
 * atomically (link to a unique name, then rename). No current file: no
 * backup, no error. */
static int
keep_backup(const char *path, const char *backup, pt_err *err)
{
	char tmp[PATH_MAX];
	for (unsigned attempt = 0; attempt < 100; attempt++) {
		int n = snprintf(tmp, sizeof(tmp), "%s.%ld.%u~", backup,
		    (long)getpid(), attempt);
		if (n < 0 || (size_t)n >= sizeof(tmp))
			return pt_fail(err, "%s: path too long", backup);
		if (link(path, tmp) == 0) {
			if (rename(tmp, backup) != 0) {
				int saved = errno;
				unlink(tmp);
				return pt_fail(err, "backup %s to %s: %s",
				    path, backup, strerror(saved));
			}
			return 0;
		}
		if (errno == ENOENT)
			return 0;
		if (errno != EEXIST)
			return pt_fail(err, "backup %s to %s: %s", path,
			    backup, strerror(errno));
	}
	return pt_fail(err, "backup %s: no free temporary name", backup);
}

int
pt_write_atomic(const char *path, const void *data, size_t n,
    mode_t mode, const char *backup, pt_err *err)
{
	char tmp[PATH_MAX];
	int fd = pt_mktemp_beside(path, tmp, sizeof(tmp), err);
	if (fd < 0)
		return -1;
	const char *what = NULL;
	if (fchmod(fd, mode) != 0)
		what = "chmod";
	else if (pt_write_all(fd, data, n) != 0)
		what = "write";
	else if (fsync(fd) != 0)
		what = "fsync";
	int saved = errno;
	if (close(fd) != 0 && what == NULL) {
		what = "close";
		saved = errno;
	}
	if (what != NULL) {
		unlink(tmp);
		return pt_fail(err, "%s %s: %s", what, tmp, strerror(saved));
	}
	if (backup != NULL && keep_backup(path, backup, err) != 0) {
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, path) != 0) {
		saved = errno;
		unlink(tmp);
		return pt_fail(err, "rename %s to %s: %s", tmp, path,
		    strerror(saved));
	}
	return pt_fsync_parent(path, err);
}

int
pt_read_file(const char *path, size_t max, uint8_t **data, size_t *n,
    pt_err *err)
{
	*data = NULL;
	*n = 0;
	/* Keeps max + 1 and the doubling below from overflowing. */
	if (max > SIZE_MAX / 4)
		max = SIZE_MAX / 4;
	/* O_NONBLOCK: a FIFO planted under the name must not hang us; it
	 * is rejected below as not a regular file. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int saved = errno;
		pt_fail(err, "open %s: %s", path, strerror(saved));
		errno = saved;
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int saved = errno;
		close(fd);
		pt_fail(err, "stat %s: %s", path, strerror(saved));
		errno = saved;
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		pt_fail(err, "%s: not a regular file", path);
		errno = EINVAL;
		return -1;
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		pt_fail(err, "%s: larger than %zu bytes", path, max);
		errno = EFBIG;
		return -1;
	}
	/* The size may change while we read; read until EOF, at most max
	 * bytes, and one extra byte to notice growth beyond max. */
	size_t cap = (size_t)st.st_size + 1;
	uint8_t *buf = malloc(cap + 1);
	size_t len = 0;
	while (buf != NULL) {
		if (len == cap) {
			if (cap > max) {
				free(buf);
				close(fd);
				pt_fail(err, "%s: larger than %zu bytes", path,
				    max);
				errno = EFBIG;
				return -1;
			}
			size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			uint8_t *nb = realloc(buf, ncap + 1);
			if (nb == NULL) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap = ncap;
		}
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int saved = errno;
			free(buf);
			close(fd);
			pt_fail(err, "read %s: %s", path, strerror(saved));
			errno = saved;
			return -1;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (buf == NULL) {
		pt_fail(err, "read %s: out of memory", path);
		errno = ENOMEM;
		return -1;
	}
	if (len > max) {
		free(buf);
		pt_fail(err, "%s: larger than %zu bytes", path, max);
		errno = EFBIG;
		return -1;
	}
	buf[len] = 0; /* convenience for text files; not counted in *n */
	*data = buf;
	*n = len;
	return 0;
}

int
pt_write_new(const char *path, const void *data, size_t n, mode_t mode,
    pt_err *err)
{
	if (pt_unlink_quiet(path) != 0)
		return pt_fail(err, "unlink %s: %s", path, strerror(errno));
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, mode);
	if (fd < 0)
		return pt_fail(err, "create %s: %s", path, strerror(errno));
	const char *what = NULL;
	if (pt_write_all(fd, data, n) != 0)
		what = "write";
	int saved = errno;
	if (close(fd) != 0 && what == NULL) {
		what = "close";
		saved = errno;
	}
	if (what != NULL) {
		unlink(path);
		return pt_fail(err, "%s %s: %s", what, path, strerror(saved));
	}
	return 0;
}

int
pt_fsync_file(const char *path, pt_err *err)
{
	/* Linux flushes through a read-only descriptor as well. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return pt_fail(err, "open %s: %s", path, strerror(errno));
	int rc = fsync(fd);
	int saved = errno;
	close(fd);
	if (rc != 0)
		return pt_fail(err, "fsync %s: %s", path, strerror(saved));
	return 0;
}

int
pt_link_replace(const char *from, const char *to, pt_err *err)
{
	if (pt_unlink_quiet(to) != 0)
		return pt_fail(err, "unlink %s: %s", to, strerror(errno));
	if (link(from, to) == 0)
		return 0;
	switch (errno) {
	case EXDEV:      /* different file systems */
	case EPERM:      /* a file system without hard links */
	case EMLINK:
	case EOPNOTSUPP:
		return 1;
	default:
		return pt_fail(err, "link %s to %s: %s", from, to,
		    strerror(errno));
	}
}

int
pt_unlink_quiet(const char *path)
{
	if (unlink(path) != 0 && errno != ENOENT)
		return -1;
	return 0;
}

int
pt_fs_free_bytes(const char *path, uint64_t *bytes, pt_err *err)
{
	struct statvfs sv;
	if (statvfs(path, &sv) != 0)
		return pt_fail(err, "statvfs %s: %s", path, strerror(errno));
	/* f_bavail: what an unprivileged writer may still use. */
	*bytes = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
	return 0;
}

int
pt_read_at_fd(void *ctx, uint64_t off, void *buf, size_t n)
{
	int fd = *(int *)ctx;
	size_t done = 0;
	while (done < n) {
		ssize_t r = pread(fd, (uint8_t *)buf + done, n - done,
		    (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}
