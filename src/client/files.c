#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zpipe.h"

int
pt_outfile_open(pt_outfile *f, const char *path, pt_err *err)
{
	mode_t mask;

	f->fd = -1;
	f->path = path;
	f->written = 0;
	f->failed = false;
	f->tmp[0] = '\0';
	if ((size_t)snprintf(f->tmp, sizeof(f->tmp), "%s.XXXXXX", path) >=
	    sizeof(f->tmp)) {
		f->tmp[0] = '\0';
		return pt_fail(err, "%s: path too long", path);
	}
	f->fd = mkostemp(f->tmp, O_CLOEXEC);
	if (f->fd < 0) {
		int e = errno;
		f->tmp[0] = '\0';
		return pt_fail(err, "cannot create a file beside %s: %s", path,
		    strerror(e));
	}
	/* mkostemp makes 0600; an image or a dump is an ordinary file. */
	mask = umask(0);
	umask(mask);
	if (fchmod(f->fd, 0666 & ~mask) != 0) {
		int e = errno;
		pt_outfile_abort(f);
		return pt_fail(err, "%s: chmod: %s", path, strerror(e));
	}
	return 0;
}

int
pt_outfile_write(void *ctx, const uint8_t *p, size_t n, pt_err *err)
{
	pt_outfile *f = ctx;
	while (n > 0) {
		ssize_t w = write(f->fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			f->failed = true;
			return pt_fail(err, "writing %s: %s", f->path,
			    strerror(errno));
		}
		p += w;
		n -= (size_t)w;
		f->written += (uint64_t)w;
	}
	return 0;
}

static void
fsync_parent(const char *path)
{
	char copy[PATH_MAX];
	snprintf(copy, sizeof(copy), "%s", path);
	int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		/* Best effort: the data itself is already durable. */
		(void)fsync(dfd);
		close(dfd);
	}
}

int
pt_outfile_commit(pt_outfile *f, pt_err *err)
{
	int fd = f->fd;
	f->fd = -1;
	if (fsync(fd) != 0) {
		int e = errno;
		close(fd);
		pt_outfile_abort(f);
		return pt_fail(err, "writing %s: %s", f->path, strerror(e));
	}
	if (close(fd) != 0) {
		int e = errno;
		pt_outfile_abort(f);
		return pt_fail(err, "writing %s: %s", f->path, strerror(e));
	}
	if (rename(f->tmp, f->path) != 0) {
		int e = errno;
		pt_outfile_abort(f);
		return pt_fail(err, "cannot rename to %s: %s", f->path,
		    strerror(e));
	}
	f->tmp[0] = '\0';
	fsync_parent(f->path);
	return 0;
}

void
pt_outfile_abort(pt_outfile *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	if (f->tmp[0] != '\0')
		unlink(f->tmp);
	f->tmp[0] = '\0';
}

int
pt_input_open(const char *path, uint64_t *size, pt_err *err)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return pt_fail(err, "cannot open %s: %s", path,
		    strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return pt_fail(err, "%s is not a regular file", path);
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

long
pt_input_read(int fd, uint8_t *buf, size_t cap, pt_err *err)
{
	for (;;) {
		ssize_t r = read(fd, buf, cap);
		if (r >= 0)
			return (long)r;
		if (errno != EINTR)
			return pt_fail(err, "read: %s", strerror(errno));
	}
}

static int
buf_sink(void *ctx, const uint8_t *p, size_t n, pt_err *err)
{
	if (pt_buf_append(ctx, p, n) != 0)
		return pt_fail(err, "out of memory");
	return 0;
}

int
pt_input_slurp(const char *path, size_t max, bool compress, pt_buf *out,
    pt_err *err)
{
	uint64_t size, total = 0;
	uint8_t chunk[64 * 1024];
	pt_zpipe zp;
	int rc = -1;

	int fd = pt_input_open(path, &size, err);
	if (fd < 0)
		return -1;
	if (size > max) {
		close(fd);
		return pt_fail(err, "%s is too large (%llu bytes, at most %zu)",
		    path, (unsigned long long)size, max);
	}
	if (compress) {
		if (pt_zpipe_deflate_init(&zp, Z_DEFAULT_COMPRESSION, buf_sink,
		    out, err) != 0) {
			close(fd);
			return -1;
		}
	} else if (pt_buf_reserve(out, (size_t)size) != 0) {
		close(fd);
		return pt_fail(err, "out of memory");
	}
	for (;;) {
		long r = pt_input_read(fd, chunk, sizeof(chunk), err);
		if (r < 0) {
			pt_fail_prefix(err, "%s", path);
			goto out;
		}
		if (r == 0)
			break;
		total += (uint64_t)r;
		/* The file may grow while we read it. */
		if (total > max) {
			pt_fail(err, "%s is too large (at most %zu bytes)",
			    path, max);
			goto out;
		}
		if (compress ? pt_zpipe_feed(&zp, chunk, (size_t)r, err) :
		    buf_sink(out, chunk, (size_t)r, err))
			goto out;
	}
	if (compress && pt_zpipe_finish(&zp, err) != 0)
		goto out;
	rc = 0;
out:
	if (compress)
		pt_zpipe_free(&zp);
	close(fd);
	return rc;
}
