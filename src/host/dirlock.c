#include "dirlock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* The pid the holder wrote, or 0 if it is unreadable (the holder may not
 * have written it yet). */
static long
holder_pid(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	char *end;
	long pid = strtol(buf, &end, 10);
	if (end == buf || (*end != '\n' && *end != '\0') || pid <= 0)
		return 0;
	return pid;
}

/* The pid is rewritten in place, not atomically by rename: the lock is on
 * this inode, and a replaced file would be a second, unlocked one. */
static int
write_pid(int fd)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n)
		return -1;
	return 0;
}

int
pt_dir_lock(const char *dir, const char *file, const char *who,
    pt_err *err)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >=
	    sizeof(path))
		return pt_fail(err, "lock file %s/%s: path too long", dir,
		    file);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return pt_fail(err, "lock file %s: %s", path, strerror(errno));
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EINTR)
			continue;
		int e = errno;
		long pid = e == EWOULDBLOCK ? holder_pid(fd) : 0;
		close(fd);
		if (e != EWOULDBLOCK)
			return pt_fail(err, "locking %s: %s", path,
			    strerror(e));
		if (pid > 0)
			return pt_fail(err, "%s is in use by %s pid %ld (it "
			    "holds %s)", dir, who, pid, path);
		return pt_fail(err, "%s is in use by another %s (it holds "
		    "%s)", dir, who, path);
	}
	if (write_pid(fd) < 0) {
		pt_fail(err, "writing our pid into %s: %s", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}
