/*
 * petreld's directories, the locks that keep a second petreld out of
 * them, and who may reach what in them (docs/permissions.md):
 *
 *   <tmpdir>             ours, 0755 (refused if others may write it)
 *     petreld.lock       the run dir's lock
 *     util/              root 0755, never group-writable: vmmd.sock (0600,
 *                        or 0660 root:<--group>), and console.sock, our
 *                        symlink to ../console/console.sock
 *     fifo/              root:<console group> 2750, the FIFOs 0640
 *     console/           root:<console group> 3770, petrel-console's own
 *   <dbdir>              ours, 0700: petreld.lock, state, images, block
 *
 * petrel-console parses what guests print, so it is the most exposed
 * process here: its group may read the FIFOs and keep its socket in
 * console/, and nothing else. It cannot create, rename or remove anything
 * in util/ or fifo/, nor connect to vmmd.sock.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dirlock.h"
#include "fsutil.h"
#include "petreld.h"
#include "tap.h"

#define LOCK_FILE "petreld.lock"
/* Relative, so that it holds wherever the run dir is mounted. */
#define CONSOLE_SOCK_TARGET "../console/console.sock"

static int
join(char *out, size_t cap, const char *a, const char *b, pt_err *err)
{
	int n = snprintf(out, cap, "%s/%s", a, b);
	if (n < 0 || (size_t)n >= cap)
		return pt_fail(err, "path %s/%s is too long", a, b);
	return 0;
}

int
rundir_group(const char *name, const char *opt, gid_t *gid, pt_err *err)
{
	char buf[4096];
	struct group gr, *found = NULL;
	int e = getgrnam_r(name, &gr, buf, sizeof(buf), &found);
	if (found == NULL)
		return pt_fail(err, "--%s %s: %s", opt, name,
		    e != 0 ? strerror(e) : "no such group");
	*gid = gr.gr_gid;
	return 0;
}

/* Makes the directory if needed and returns its absolute, symlink-free
 * path: the relative path of another cwd, or another name for the same
 * directory, is then the same daemon. */
static int
canonical(const char *path, mode_t mode, const char *opt, char *out,
    pt_err *err)
{
	if (pt_mkdirs(path, mode, err) < 0)
		return pt_fail_prefix(err, "--%s", opt);
	if (realpath(path, out) == NULL)
		return pt_fail(err, "--%s %s: %s", opt, path, strerror(errno));
	return 0;
}

/* Whoever may write into the run dir or the db dir may rename our
 * sockets, FIFOs, state or block devices away: such a directory (a shared
 * /tmp, a tmpfs mounted 1777, one of another user) is refused. */
static int
check_private(const char *path, const char *opt, pt_err *err)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return pt_fail(err, "--%s %s: %s", opt, path, strerror(errno));
	if (st.st_uid != geteuid())
		return pt_fail(err, "--%s %s belongs to uid %u, not to petreld "
		    "(uid %u)", opt, path, (unsigned)st.st_uid,
		    (unsigned)geteuid());
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return pt_fail(err, "--%s %s is writable by its group or "
		    "others (mode %04o): petreld needs a directory that only "
		    "it can change", opt, path, (unsigned)(st.st_mode & 07777));
	return 0;
}

static int
take_locks(pt_daemon *d, pt_err *err)
{
	d->db_lock_fd = pt_dir_lock(d->o.dbdir, LOCK_FILE, "petreld", err);
	if (d->db_lock_fd < 0)
		return -1;
	/* One directory for both: its one lock covers both. */
	if (strcmp(d->o.tmpdir, d->o.dbdir) == 0)
		return 0;
	d->run_lock_fd = pt_dir_lock(d->o.tmpdir, LOCK_FILE, "petreld", err);
	return d->run_lock_fd < 0 ? -1 : 0;
}

/* Owner and mode through a descriptor opened without following a
 * symlink: whatever may have been put in the directory's place is not
 * what gets changed. */
static int
own_dir(const char *path, gid_t gid, mode_t mode, pt_err *err)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return pt_fail(err, "%s: %s", path, strerror(errno));
	int rc = 0;
	if (fchown(fd, geteuid(), gid) < 0 || fchmod(fd, mode) < 0)
		rc = pt_fail(err, "setting owner and mode %04o of %s: %s",
		    (unsigned)mode, path, strerror(errno));
	close(fd);
	return rc;
}

/* Earlier petrels let the console group write util/: whatever is there
 * and not ours was made by someone else (a socket posing as vmmd.sock, a
 * console.sock of theirs) and goes. */
static int
sweep_foreign(const char *dir, pt_err *err)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *dp = dfd < 0 ? NULL : fdopendir(dfd);
	if (dp == NULL) {
		if (dfd >= 0)
			close(dfd);
		return pt_fail(err, "%s: %s", dir, strerror(errno));
	}
	int rc = 0;
	struct dirent *e;
	while (rc == 0 && (e = readdir(dp)) != NULL) {
		struct stat st;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0
		    || fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    st.st_uid == geteuid())
			continue;
		if (unlinkat(dfd, e->d_name, S_ISDIR(st.st_mode) ?
		    AT_REMOVEDIR : 0) < 0)
			rc = pt_fail(err, "%s/%s belongs to uid %u, not to "
			    "petreld, and cannot be removed: %s", dir,
			    e->d_name, (unsigned)st.st_uid, strerror(errno));
		else
			log_warn("removed %s/%s: it belonged to uid %u, not "
			    "to petreld", dir, e->d_name, (unsigned)st.st_uid);
	}
	closedir(dp);
	return rc;
}

/* util/console.sock, where albatross's clients look for the console: our
 * symlink into console/, replaced atomically (a new link renamed over the
 * name), so util/ stays ours alone. */
static int
link_console_sock(const char *util, pt_err *err)
{
	char link[PATH_MAX], tmp[PATH_MAX];
	if (join(link, sizeof(link), util, "console.sock", err) < 0 ||
	    join(tmp, sizeof(tmp), util, ".console.sock.new", err) < 0)
		return -1;
	pt_unlink_quiet(tmp);
	if (symlink(CONSOLE_SOCK_TARGET, tmp) < 0 || rename(tmp, link) < 0) {
		pt_fail(err, "linking %s to %s: %s", link, CONSOLE_SOCK_TARGET,
		    strerror(errno));
		pt_unlink_quiet(tmp);
		return -1;
	}
	return 0;
}

static int
set_permissions(pt_daemon *d, const char *util, const char *console,
    pt_err *err)
{
	gid_t ours = getegid(), shared = ours;
	bool sharing = d->o.console_group != NULL;
	if (sharing && rundir_group(d->o.console_group, "console-group",
	    &shared, err) < 0)
		return -1;
	/* fifo/: the group lists and reads (the FIFOs are 0640 and get the
	 * group from the setgid bit), never writes. console/: the group
	 * creates its socket; the sticky bit keeps one member from
	 * replacing another's. */
	if (own_dir(util, ours, 0755, err) < 0 ||
	    own_dir(d->fifo_dir, shared, sharing ? 02750 : 0750, err) < 0 ||
	    own_dir(console, shared, sharing ? 03770 : 0755, err) < 0)
		return -1;
	return 0;
}

static int
make_paths(pt_daemon *d, char *util, char *console, pt_err *err)
{
	const char *t = d->o.tmpdir, *db = d->o.dbdir;
	if (join(util, PATH_MAX, t, "util", err) < 0 ||
	    join(console, PATH_MAX, t, "console", err) < 0 ||
	    join(d->sock_path, sizeof(d->sock_path), util, "vmmd.sock",
	    err) < 0 ||
	    join(d->fifo_dir, sizeof(d->fifo_dir), t, "fifo", err) < 0 ||
	    join(d->block_dir, sizeof(d->block_dir), db, "block", err) < 0 ||
	    join(d->image_dir, sizeof(d->image_dir), db, "images", err) < 0 ||
	    join(d->state_path, sizeof(d->state_path), db, "state", err) < 0)
		return -1;
	if (pt_mkdirs(util, 0755, err) < 0 ||
	    pt_mkdirs(console, 0755, err) < 0 ||
	    pt_mkdirs(d->fifo_dir, 0750, err) < 0 ||
	    pt_mkdirs(d->block_dir, 0700, err) < 0 ||
	    pt_mkdirs(d->image_dir, 0700, err) < 0)
		return -1;
	return 0;
}

/* Our taps carry this alias: after a crash, the next start finds and
 * removes them (tap.h). The canonical run dir tells daemons apart on one
 * host (the locks allow one per run dir); the db dir's identity also
 * across mount namespaces, where one path may be two directories. */
static int
make_tap_owner(pt_daemon *d, pt_err *err)
{
	struct stat st;
	if (stat(d->o.dbdir, &st) < 0)
		return pt_fail(err, "%s: %s", d->o.dbdir, strerror(errno));
	pt_tap_owner(d->tap_owner, d->o.tmpdir, (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino);
	return 0;
}

int
rundir_setup(pt_daemon *d, pt_err *err)
{
	char util[PATH_MAX], console[PATH_MAX];
	if (canonical(d->o.tmpdir, 0755, "tmpdir", d->tmpdir_real, err) < 0 ||
	    canonical(d->o.dbdir, 0700, "dbdir", d->dbdir_real, err) < 0)
		return -1;
	d->o.tmpdir = d->tmpdir_real;
	d->o.dbdir = d->dbdir_real;
	if (check_private(d->o.tmpdir, "tmpdir", err) < 0 ||
	    check_private(d->o.dbdir, "dbdir", err) < 0 ||
	    take_locks(d, err) < 0 ||
	    make_paths(d, util, console, err) < 0 ||
	    set_permissions(d, util, console, err) < 0 ||
	    sweep_foreign(util, err) < 0 ||
	    link_console_sock(util, err) < 0)
		return -1;
	return make_tap_owner(d, err);
}

void
rundir_close(pt_daemon *d)
{
	if (d->run_lock_fd >= 0)
		close(d->run_lock_fd);
	if (d->db_lock_fd >= 0)
		close(d->db_lock_fd);
	d->run_lock_fd = d->db_lock_fd = -1;
}
