/*
 * Block devices (albatross-wire.md §8.2, §8.4, §8.5): files
 * <dbdir>/block/<name text>, mode 0600 in a 0700 directory, whole MB.
 *
 * Content is only ever replaced through a temporary file in
 * <dbdir>/block-staging (same file system) that is renamed over the device
 * at the end, so a set that breaks half-way (the stream is cut, it is too
 * long, the zlib stream is corrupt, the disk is full) leaves the old content
 * intact. Streams go through fixed-size buffers: a device is never held in
 * memory (except by the legacy dump-old, whose reply is one message and is
 * bounded by the frame limit).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "fsutil.h"
#include "petreld.h"

#define MB ((int64_t)1 << 20)
#define CHUNK 4096                 /* file bytes per dump chunk (§8.5) */
#define IO_BUF (64 * 1024)         /* file reads and writes */
/* A dump queues at most this much output before waiting for the peer. */
#define DUMP_HIGH_WATER (1024u * 1024)
/* A compressed upload inflates at most this much per event-loop turn: a
 * small frame can inflate to a whole device (1 MB of zlib makes 1 GB),
 * and petreld serves everyone else in between. */
#define INFLATE_PER_TURN (8u * 1024 * 1024)

/* Devices with a set or dump in progress: not attachable, not removable. */
typedef struct busy_block {
	struct busy_block *next;
	pt_name name;
} busy_block;
static busy_block *busy_list;

bool
block_busy(const pt_name *name)
{
	for (busy_block *b = busy_list; b != NULL; b = b->next)
		if (pt_name_equal(&b->name, name))
			return true;
	return false;
}

static int
busy_mark(const pt_name *name)
{
	busy_block *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return -1;
	b->name = *name;
	b->next = busy_list;
	busy_list = b;
	return 0;
}

static void
busy_clear(const pt_name *name)
{
	for (busy_block **p = &busy_list; *p != NULL; p = &(*p)->next) {
		if (pt_name_equal(&(*p)->name, name)) {
			busy_block *b = *p;
			*p = b->next;
			free(b);
			return;
		}
	}
}

static int
staging_dir(pt_daemon *d, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/block-staging", d->o.dbdir);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int
block_path(pt_daemon *d, const pt_name *name, char *out, size_t cap,
    pt_err *err)
{
	return pt_name_to_file(d->block_dir, name, NULL, out, cap, err);
}

/* ---- start-up scan ---- */

/* The directories hold every unikernel's data: owner only. A directory
 * made by an older version or by hand is tightened, and said so. */
static int
private_dir(const char *path, pt_err *err)
{
	if (pt_mkdirs(path, 0700, err) < 0)
		return -1;
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		pt_fail(err, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if ((st.st_mode & 07777) != 0700) {
		log_warn("%s had mode %04o, setting 0700", path,
		    (unsigned)(st.st_mode & 07777));
		if (fchmod(fd, 0700) < 0) {
			pt_fail(err, "chmod 0700 %s: %s", path,
			    strerror(errno));
			close(fd);
			return -1;
		}
	}
	close(fd);
	return 0;
}

/* A device file readable by others (copied in by hand, or an older
 * version) is made 0600. Opened without following links, and the regular
 * file checked again on the descriptor, so nothing else gets chmod'ed. */
static void
private_file(int dirfd, const char *file, const struct stat *st)
{
	if ((st->st_mode & 07777) == 0600)
		return;
	int fd = openat(dirfd, file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	struct stat now;
	if (fd < 0 || fstat(fd, &now) < 0 || !S_ISREG(now.st_mode) ||
	    now.st_ino != st->st_ino || fchmod(fd, 0600) < 0)
		log_warn("block directory: %s has mode %04o and cannot be "
		    "made 0600", file, (unsigned)(st->st_mode & 07777));
	else
		log_warn("block directory: %s had mode %04o, set to 0600",
		    file, (unsigned)(st->st_mode & 07777));
	if (fd >= 0)
		close(fd);
}

typedef int (*scan_fn)(pt_daemon *d, const pt_name *name, int64_t mb,
    void *ctx);

/* Why a directory entry is no block device of ours, or NULL. */
static const char *
not_a_device(const char *file, const struct stat *st, pt_name *name)
{
	pt_err e = {{0}};
	if (!S_ISREG(st->st_mode))
		return "not a regular file";
	if (pt_name_parse_str(file, name, &e) < 0 || !name->has_label ||
	    strcmp(name->text, file) != 0)
		return "not a block device name";
	if (st->st_size == 0)
		return "empty";
	if (st->st_size % MB != 0)
		return "size is not a whole number of MB";
	return NULL;
}

/* Calls fn for every device file; with `report` (the second pass) every
 * other entry is logged and left alone: it is not ours to delete. */
static int
scan(pt_daemon *d, scan_fn fn, void *ctx, bool report, pt_err *err)
{
	DIR *dir = opendir(d->block_dir);
	if (dir == NULL)
		return pt_fail(err, "block directory %s: %s", d->block_dir,
		    strerror(errno));
	struct dirent *de;
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		pt_name name;
		struct stat st;
		const char *why;
		if (fstatat(dirfd(dir), de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) < 0)
			why = strerror(errno);
		else
			why = not_a_device(de->d_name, &st, &name);
		if (why != NULL) {
			if (report)
				log_warn("block directory %s: unknown file "
				    "%s (%s); left alone", d->block_dir,
				    de->d_name, why);
			continue;
		}
		if (report)
			private_file(dirfd(dir), de->d_name, &st);
		if (fn(d, &name, st.st_size / MB, ctx) != 0)
			break;
	}
	closedir(dir);
	return 0;
}

static int
sum_sizes(pt_daemon *d, const pt_name *name, int64_t mb, void *ctx)
{
	(void)d;
	(void)name;
	*(int64_t *)ctx += mb;
	return 0;
}

int
block_scan(pt_daemon *d, int64_t *total_mb, pt_err *err)
{
	char staging[PATH_MAX];
	if (staging_dir(d, staging, sizeof(staging)) < 0)
		return pt_fail(err, "block staging directory: path too long");
	if (private_dir(d->block_dir, err) < 0)
		return pt_fail_prefix(err, "block directory");
	if (private_dir(staging, err) < 0)
		return pt_fail_prefix(err, "block staging directory");
	/* Leftovers of interrupted sets: ours (set-XXXXXX, made only by
	 * writer_open), and incomplete by design. */
	DIR *dir = opendir(staging);
	if (dir != NULL) {
		struct dirent *de;
		while ((de = readdir(dir)) != NULL) {
			if (strncmp(de->d_name, "set-", 4) != 0)
				continue;
			if (unlinkat(dirfd(dir), de->d_name, 0) == 0)
				log_info("removed interrupted block upload %s",
				    de->d_name);
		}
		closedir(dir);
	}
	*total_mb = 0;
	return scan(d, sum_sizes, total_mb, false, err);
}

static int
add_found(pt_daemon *d, const pt_name *name, int64_t mb, void *ctx)
{
	(void)ctx;
	pt_err err = {{0}};
	if (pt_res_add_block(d->res, name, mb, &err) < 0)
		log_warn("block device %s (%lld MB) not usable: %s; file left "
		    "alone", name->text, (long long)mb, err.msg);
	else
		log_info("block device %s: %lld MB", name->text,
		    (long long)mb);
	return 0;
}

int
block_load(pt_daemon *d, pt_err *err)
{
	return scan(d, add_found, NULL, true, err);
}

/* ---- writing content through a staging file ---- */

typedef struct {
	pt_daemon *d;
	pt_name name;
	pt_header h;
	int fd;
	char tmp[PATH_MAX];
	int64_t limit;      /* bytes */
	int64_t written;    /* accepted so far (buffered or on disk) */
	uint8_t *buf;       /* IO_BUF bytes: collects small frames */
	size_t buflen;
	bool compressed;
	bool zinit;
	bool zdone;
	z_stream zs;
	size_t in_off;      /* bytes of the current frame inflated so far */
} block_writer;

static void
writer_abort(block_writer *w)
{
	if (w->fd >= 0) {
		close(w->fd);
		w->fd = -1;
		unlink(w->tmp);
	}
	if (w->zinit)
		inflateEnd(&w->zs);
	w->zinit = false;
	free(w->buf);
	w->buf = NULL;
}

static int
writer_open(pt_daemon *d, block_writer *w, const pt_name *name,
    int64_t size_mb, bool compressed, pt_err *err)
{
	memset(w, 0, sizeof(*w));
	w->d = d;
	w->name = *name;
	w->fd = -1;
	w->limit = size_mb * MB;
	w->compressed = compressed;
	char staging[PATH_MAX];
	if (staging_dir(d, staging, sizeof(staging)) < 0 ||
	    snprintf(w->tmp, sizeof(w->tmp), "%s/set-XXXXXX", staging) >=
	    (int)sizeof(w->tmp))
		return pt_fail(err, "staging path too long");
	w->buf = malloc(IO_BUF);
	if (w->buf == NULL)
		return pt_fail(err, "out of memory");
	/* mkostemp creates the file 0600, whatever the umask. */
	w->fd = mkostemp(w->tmp, O_CLOEXEC);
	if (w->fd < 0) {
		pt_fail(err, "staging file in %s: %s", staging,
		    strerror(errno));
		writer_abort(w);
		return -1;
	}
	if (compressed) {
		if (inflateInit(&w->zs) != Z_OK) {
			writer_abort(w);
			return pt_fail(err, "zlib: cannot initialise");
		}
		w->zinit = true;
	}
	return 0;
}

static bool
all_zero(const uint8_t *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* The staging file is new and written front to back: zeros need not be
 * written, a hole reads as zeros (and the device stays sparse, as after a
 * block add). writer_commit sets the final size. */
static int
write_data(block_writer *w, const uint8_t *p, size_t n, pt_err *err)
{
	if (all_zero(p, n)) {
		if (lseek(w->fd, (off_t)n, SEEK_CUR) < 0)
			return pt_fail(err, "writing block device: %s",
			    strerror(errno));
		return 0;
	}
	if (pt_write_all(w->fd, p, n) < 0)
		return pt_fail(err, "writing block device: %s",
		    strerror(errno));
	return 0;
}

static int
writer_flush(block_writer *w, pt_err *err)
{
	if (w->buflen > 0 && write_data(w, w->buf, w->buflen, err) < 0)
		return -1;
	w->buflen = 0;
	return 0;
}

static int
writer_raw(block_writer *w, const uint8_t *p, size_t n, pt_err *err)
{
	if ((int64_t)n > w->limit - w->written)
		return pt_fail(err, "stream exceeds size");
	w->written += (int64_t)n;
	if (w->buflen + n > IO_BUF && writer_flush(w, err) < 0)
		return -1;
	if (n >= IO_BUF)
		return write_data(w, p, n, err);
	memcpy(w->buf + w->buflen, p, n);
	w->buflen += n;
	return 0;
}

/* Takes one frame: 0 when it is all written, 1 when the inflate stopped
 * after INFLATE_PER_TURN bytes of output (call again with the same frame
 * from a later turn: it goes on where it stopped), -1 on error. */
static int
writer_feed(block_writer *w, const uint8_t *p, size_t n, pt_err *err)
{
	if (!w->compressed)
		return writer_raw(w, p, n, err);
	if (w->zdone)
		return n == w->in_off ? 0 : pt_fail(err, "data after the end "
		    "of the zlib stream");
	if (n > UINT_MAX)
		return pt_fail(err, "frame too large");
	static uint8_t out[IO_BUF];
	size_t turn = 0;
	w->zs.next_in = (Bytef *)(uintptr_t)(p + w->in_off);
	w->zs.avail_in = (uInt)(n - w->in_off);
	do {
		if (turn >= INFLATE_PER_TURN) {
			w->in_off = n - w->zs.avail_in;
			return 1;
		}
		w->zs.next_out = out;
		w->zs.avail_out = sizeof(out);
		int rc = inflate(&w->zs, Z_NO_FLUSH);
		if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
			return pt_fail(err, "decompression failed: %s",
			    w->zs.msg ? w->zs.msg : "corrupt zlib stream");
		size_t got = sizeof(out) - w->zs.avail_out;
		if (got > 0 && writer_raw(w, out, got, err) < 0)
			return -1;
		turn += got;
		if (rc == Z_STREAM_END) {
			w->zdone = true;
			if (w->zs.avail_in > 0)
				return pt_fail(err, "data after the end of "
				    "the zlib stream");
			break;
		}
		if (rc == Z_BUF_ERROR && got == 0)
			break;
	} while (w->zs.avail_in > 0 || w->zs.avail_out == 0);
	w->in_off = 0;
	return 0;
}

/* Pads to the device size (zeros), syncs, renames over the device and
 * makes the rename durable. */
static int
writer_commit(block_writer *w, pt_err *err)
{
	if (w->compressed && !w->zdone)
		return pt_fail(err, "decompression failed: the zlib stream "
		    "is truncated");
	char path[PATH_MAX];
	if (block_path(w->d, &w->name, path, sizeof(path), err) < 0 ||
	    writer_flush(w, err) < 0)
		return -1;
	if (ftruncate(w->fd, w->limit) < 0 || fsync(w->fd) < 0)
		return pt_fail(err, "writing block device: %s",
		    strerror(errno));
	if (rename(w->tmp, path) < 0)
		return pt_fail(err, "replacing %s: %s", path, strerror(errno));
	close(w->fd);
	w->fd = -1;
	writer_abort(w);  /* frees the rest; the file is in place */
	pt_err e = {{0}};
	if (pt_fsync_parent(path, &e) < 0)
		log_warn("%s: %s", w->name.text, e.msg);
	return 0;
}

/* ---- replies ---- */

/* A refused command: the failure reply, the event, the end of the
 * conversation. */
static void
refuse(pt_conn *c, const pt_header *h, const char *command, const char *msg)
{
	conn_reply_failure(c, h, "%s", msg);
	ev_refused(c->d, &h->name, command, msg);
	conn_finish(c, false);
}

/* The same for an upload: the raw frames that follow the command are
 * read and dropped up to the terminator, so that closing does not reset
 * the connection under the reply. */
static void
refuse_upload(pt_conn *c, const pt_header *h, const char *command,
    const char *msg)
{
	conn_reply_failure(c, h, "%s", msg);
	ev_refused(c->d, &h->name, command, msg);
	conn_discard_upload(c);
}

static void
succeed(pt_conn *c, const pt_header *h, const char *msg)
{
	conn_reply_string(c, h, msg);
	conn_finish(c, false);
}

static void
event_created(pt_daemon *d, const pt_name *name, int64_t size_mb)
{
	log_info("%s: block device added (%lld MB)", name->text,
	    (long long)size_mb);
	pt_event e;
	memset(&e, 0, sizeof(e));
	e.kind = PT_EV_BLOCK_CREATED;
	e.name = *name;
	e.size_mb = size_mb;
	ev_record(d, &e);
}

/* ---- info, add, remove ---- */

typedef struct {
	const pt_name *req;
	pt_buf *list;
} info_ctx;

static int
collect_block(const pt_name *name, int64_t size_mb, bool in_use, void *ctx)
{
	info_ctx *ic = ctx;
	pt_block_entry e = {.size_mb = size_mb, .active = in_use};
	/* A path query lists names relative to it (§4.3, §6.6). */
	if (ic->req->has_label ||
	    pt_name_drop_prefix(ic->req, name, &e.name) < 0)
		e.name = *name;
	return pt_buf_append(ic->list, &e, sizeof(e)) < 0 ? 1 : 0;
}

static void
block_info(pt_conn *c, const pt_header *h)
{
	pt_buf list = {0};
	info_ctx ic = {&h->name, &list};
	pt_res_foreach_block(c->d->res, &h->name, collect_block, &ic);
	if (list.oom) {
		pt_buf_free(&list);
		refuse(c, h, "block info", "block info: out of memory");
		return;
	}
	pt_success s = {.kind = PT_OK_BLOCK_DEVICES};
	s.u.blocks.n = list.len / sizeof(pt_block_entry);
	s.u.blocks.v = (pt_block_entry *)(void *)list.data;
	conn_reply(c, h, &s);
	pt_buf_free(&list);
	conn_finish(c, false);
}

/* Creates the file (zeroed, exclusive) and registers the device. */
static int
block_create(pt_daemon *d, const pt_name *name, int64_t size_mb,
    pt_err *err)
{
	if (!name->has_label)
		return pt_fail(err, "%s is a path, a block device needs a "
		    "name", name->text);
	if (size_mb <= 0 || size_mb > INT64_MAX / MB)
		return pt_fail(err, "block device size must be a positive "
		    "number of MB (%lld requested)", (long long)size_mb);
	int64_t cur;
	bool in_use;
	if (pt_res_block(d->res, name, &cur, &in_use) == 0)
		return pt_fail(err, "block device with same name already "
		    "exists");
	if (pt_res_check_block_add(d->res, name, size_mb, err) < 0)
		return -1;
	char path[PATH_MAX];
	if (block_path(d, name, path, sizeof(path), err) < 0)
		return -1;
	block_writer w;
	if (writer_open(d, &w, name, size_mb, false, err) < 0)
		return -1;
	if (ftruncate(w.fd, w.limit) < 0 || fsync(w.fd) < 0) {
		pt_fail(err, "creating block device: %s", strerror(errno));
		writer_abort(&w);
		return -1;
	}
	/* link() refuses to replace a file we do not account for. */
	if (link(w.tmp, path) < 0) {
		if (errno == EEXIST)
			pt_fail(err, "block device file %s exists but is not "
			    "a known device; left alone", path);
		else
			pt_fail(err, "creating %s: %s", path, strerror(errno));
		writer_abort(&w);
		return -1;
	}
	writer_abort(&w);  /* drops the staging name */
	if (pt_res_add_block(d->res, name, size_mb, err) < 0) {
		unlink(path);
		return -1;
	}
	pt_err e = {{0}};
	if (pt_fsync_parent(path, &e) < 0)
		log_warn("%s: %s", name->text, e.msg);
	return 0;
}

/* "<what>: is in use", albatross's text; for a device whose unikernel is
 * waiting for its restart (and keeps it meanwhile) the text names it,
 * since nothing runs that would explain the refusal. */
static int
fail_in_use(pt_daemon *d, const pt_name *name, const char *what,
    pt_err *err)
{
	const pt_uk *uk = uk_block_user(d, name);
	if (uk != NULL && uk->state == UK_BACKOFF)
		return pt_fail(err, "%s: is in use by %s, which is waiting for "
		    "its restart (destroy it to free the device)", what,
		    uk->name.text);
	return pt_fail(err, "%s: is in use", what);
}

/* Exists and free for a set or dump; "<what>: not found" etc. */
static int
block_available(pt_daemon *d, const pt_name *name, const char *what,
    int64_t *size_mb, pt_err *err)
{
	bool in_use;
	if (!name->has_label ||
	    pt_res_block(d->res, name, size_mb, &in_use) < 0)
		return pt_fail(err, "%s: not found", what);
	if (in_use || block_busy(name))
		return fail_in_use(d, name, what, err);
	return 0;
}

static void
block_add(pt_conn *c, const pt_header *h, int64_t size_mb)
{
	pt_err err = {{0}};
	if (block_create(c->d, &h->name, size_mb, &err) < 0) {
		refuse(c, h, "block add", err.msg);
		return;
	}
	event_created(c->d, &h->name, size_mb);
	succeed(c, h, "added block device");
}

static void
block_remove(pt_conn *c, const pt_header *h)
{
	pt_daemon *d = c->d;
	int64_t size;
	bool in_use;
	char path[PATH_MAX];
	pt_err err = {{0}};
	if (!h->name.has_label ||
	    pt_res_block(d->res, &h->name, &size, &in_use) < 0) {
		refuse(c, h, "block remove", "remove block: not found");
		return;
	}
	if (in_use || block_busy(&h->name)) {
		fail_in_use(d, &h->name, "remove block", &err);
		refuse(c, h, "block remove", err.msg);
		return;
	}
	if (block_path(d, &h->name, path, sizeof(path), &err) < 0) {
		char msg[300];
		snprintf(msg, sizeof(msg), "remove block: %s", err.msg);
		refuse(c, h, "block remove", msg);
		return;
	}
	/* The file first: a device whose file could not be removed stays
	 * registered, rather than becoming a file nobody accounts for. */
	if (unlink(path) < 0 && errno != ENOENT) {
		char msg[PATH_MAX + 64];
		snprintf(msg, sizeof(msg), "remove block: %s: %s", path,
		    strerror(errno));
		refuse(c, h, "block remove", msg);
		return;
	}
	if (pt_res_remove_block(d->res, &h->name, &err) < 0)
		log_err("%s: removing block device: %s", h->name.text,
		    err.msg);
	log_info("%s: block device removed", h->name.text);
	ev_name(d, PT_EV_BLOCK_REMOVED, &h->name);
	succeed(c, h, "removed block");
}

/* Reads the whole device (size bytes) into a heap buffer, compressed at
 * `level` (> 0) or not. */
static int
read_whole(pt_daemon *d, const pt_name *name, int64_t size, int64_t level,
    uint8_t **out, size_t *n, pt_err *err)
{
	char path[PATH_MAX];
	uint8_t *data = NULL;
	size_t len;
	if (block_path(d, name, path, sizeof(path), err) < 0 ||
	    pt_read_file(path, (size_t)size, &data, &len, err) < 0)
		return -1;
	if (level == 0) {
		*out = data;
		*n = len;
		return 0;
	}
	uLongf bound = compressBound((uLong)len);
	uint8_t *z = malloc(bound);
	if (z == NULL || compress2(z, &bound, data, (uLong)len,
	    level > 9 ? 9 : (int)level) != Z_OK) {
		free(z);
		free(data);
		return pt_fail(err, "compression failed");
	}
	free(data);
	*out = z;
	*n = bound;
	return 0;
}

static void
block_dump_old(pt_conn *c, const pt_header *h, int64_t level)
{
	pt_daemon *d = c->d;
	pt_err err = {{0}};
	int64_t size;
	if (block_available(d, &h->name, "dump block", &size, &err) < 0) {
		refuse(c, h, "block dump-old", err.msg);
		return;
	}
	/* One message carries it all: it must fit a frame the client
	 * accepts, and petreld's own frame limit is the bound it keeps. */
	if (level < 0 || (uint64_t)size * MB > d->o.max_frame / 2) {
		refuse(c, h, "block dump-old", level < 0 ? "dump block: "
		    "negative compression level" : "dump block: the device "
		    "is too large for the legacy dump, use dump");
		return;
	}
	uint8_t *data = NULL;
	size_t n = 0;
	if (read_whole(d, &h->name, size * MB, level, &data, &n, &err) < 0) {
		char msg[300];
		snprintf(msg, sizeof(msg), "dump block: %s", err.msg);
		refuse(c, h, "block dump-old", msg);
		return;
	}
	pt_success s = {.kind = PT_OK_OLD_BLOCK_IMAGE};
	s.u.image.compressed = level > 0;
	s.u.image.data.data = data;
	s.u.image.data.len = n;
	conn_reply(c, h, &s);
	free(data);
	conn_finish(c, false);
}

/* ---- set: streamed (§8.4), or inline in a legacy command ---- */

typedef struct {
	block_writer w;
	bool done;
	const char *command;  /* for refusals: "block set", "block set-old" */
	bool new_device;      /* add-old: the device goes if the data fails */
	int64_t size_mb;
} set_stream;

/* Removes a device block_create made, whose data then failed. */
static void
undo_new_device(pt_daemon *d, const pt_name *name)
{
	char path[PATH_MAX];
	if (block_path(d, name, path, sizeof(path), NULL) == 0)
		unlink(path);
	pt_res_remove_block(d->res, name, NULL);
}

static void
set_close(pt_conn *c)
{
	set_stream *s = c->stream.ctx;
	if (!s->done && s->new_device) {
		log_info("%s: block add-old aborted, device removed",
		    s->w.name.text);
		undo_new_device(c->d, &s->w.name);
	} else if (!s->done) {
		log_info("%s: block set aborted after %lld bytes, old content "
		    "kept", s->w.name.text, (long long)s->w.written);
	}
	writer_abort(&s->w);
	busy_clear(&s->w.name);
	free(s);
}

/* A writer for the device, and the device locked until set_close. */
static set_stream *
set_open(pt_conn *c, const pt_header *h, int64_t size_mb, bool compressed,
    const char *command, pt_err *err)
{
	set_stream *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		pt_fail(err, "out of memory");
		return NULL;
	}
	if (writer_open(c->d, &s->w, &h->name, size_mb, compressed,
	    err) < 0 || busy_mark(&h->name) < 0) {
		if (err->msg[0] == '\0')
			pt_fail(err, "out of memory");
		writer_abort(&s->w);
		free(s);
		return NULL;
	}
	s->w.h = *h;
	s->command = command;
	s->size_mb = size_mb;
	return s;
}

/* All data written: the device is replaced, the client told. */
static void
set_done(pt_conn *c, set_stream *s)
{
	pt_daemon *d = c->d;
	pt_header h = s->w.h;  /* s goes away with the stream */
	s->done = true;
	log_info("%s: block device set (%lld bytes)", h.name.text,
	    (long long)s->w.written);
	if (s->new_device)
		event_created(d, &h.name, s->size_mb);
	ev_name(d, PT_EV_BLOCK_SET, &h.name);
	/* Runs set_close. */
	succeed(c, &h, s->new_device ? "added block device" :
	    "set block device");
}

static int
set_frame(pt_conn *c, const uint8_t *p, size_t n, bool end)
{
	set_stream *s = c->stream.ctx;
	pt_err err = {{0}};
	pt_header h = s->w.h;  /* s goes away with the stream */
	if (!end) {
		int r = writer_feed(&s->w, p, n, &err);
		if (r >= 0)
			return r;  /* 1: the rest of this frame later */
	} else if (writer_commit(&s->w, &err) == 0) {
		set_done(c, s);
		return 0;
	}
	/* Runs set_close. After the terminator there is nothing left to
	 * drop. */
	if (end)
		refuse(c, &h, s->command, err.msg);
	else
		refuse_upload(c, &h, s->command, err.msg);
	return 0;
}

static void
block_set(pt_conn *c, const pt_header *h, bool compressed)
{
	pt_err err = {{0}};
	int64_t size;
	/* Refused at once, before any data is read (§8.4). */
	if (block_available(c->d, &h->name, "set block", &size, &err) < 0) {
		refuse_upload(c, h, "block set", err.msg);
		return;
	}
	set_stream *s = set_open(c, h, size, compressed, "block set", &err);
	if (s == NULL) {
		char msg[300];
		snprintf(msg, sizeof(msg), "set block: %s", err.msg);
		refuse_upload(c, h, "block set", msg);
		return;
	}
	pt_stream st = {.on_frame = set_frame, .on_close = set_close,
	    .ctx = s};
	conn_set_stream(c, &st);
}

/* The legacy commands carry all the data in the command: it is written
 * like one upload frame followed by its end, possibly over several turns
 * (conn_continue_later; the data stays in the connection's frame). */
static int
inline_frame(pt_conn *c, const uint8_t *p, size_t n, bool end)
{
	(void)end;
	set_stream *s = c->stream.ctx;
	pt_err err = {{0}};
	pt_header h = s->w.h;  /* s goes away with the stream */
	int r = writer_feed(&s->w, p, n, &err);
	if (r > 0)
		return 1;
	if (r == 0 && writer_commit(&s->w, &err) == 0) {
		set_done(c, s);
		return 0;
	}
	/* §8.2 names the legacy failure so. */
	if (strcmp(err.msg, "stream exceeds size") == 0)
		pt_fail(&err, "data exceeds block size");
	refuse(c, &h, s->command, err.msg);  /* runs set_close */
	return 0;
}

static void
set_inline(pt_conn *c, set_stream *s, const pt_blob *data)
{
	pt_stream st = {.on_frame = inline_frame, .on_close = set_close,
	    .ctx = s};
	conn_set_stream(c, &st);
	if (inline_frame(c, data->data, data->len, false) > 0)
		conn_continue_later(c, data->data, data->len, false);
}

static void
block_add_old(pt_conn *c, const pt_header *h, const pt_block_add_old *o)
{
	pt_err err = {{0}};
	if (block_create(c->d, &h->name, o->size_mb, &err) < 0) {
		refuse(c, h, "block add-old", err.msg);
		return;
	}
	if (!o->has_data) {
		event_created(c->d, &h->name, o->size_mb);
		succeed(c, h, "added block device");
		return;
	}
	set_stream *s = set_open(c, h, o->size_mb, o->compressed,
	    "block add-old", &err);
	if (s == NULL) {
		undo_new_device(c->d, &h->name);
		refuse(c, h, "block add-old", err.msg);
		return;
	}
	s->new_device = true;
	set_inline(c, s, &o->data);
}

static void
block_set_old(pt_conn *c, const pt_header *h, const pt_block_set_old *o)
{
	pt_err err = {{0}};
	int64_t size;
	set_stream *s = NULL;
	if (block_available(c->d, &h->name, "set block", &size, &err) < 0 ||
	    (s = set_open(c, h, size, o->compressed, "block set-old",
	    &err)) == NULL) {
		refuse(c, h, "block set-old", err.msg);
		return;
	}
	set_inline(c, s, &o->data);
}

/* ---- streamed dump (§8.5) ---- */

typedef struct {
	pt_name name;
	pt_header h;
	int fd;
	bool compressed;
	bool zinit;
	z_stream zs;
	uint8_t buf[IO_BUF];
} dump_stream;

static void
dump_close(pt_conn *c)
{
	dump_stream *s = c->stream.ctx;
	if (s->fd >= 0)
		close(s->fd);
	if (s->zinit)
		deflateEnd(&s->zs);
	busy_clear(&s->name);
	free(s);
}

static void
send_chunk(pt_conn *c, const pt_header *h, const uint8_t *p, size_t n)
{
	pt_data dt = {.kind = PT_DATA_BLOCK_CHUNK};
	dt.u.chunk.data = p;
	dt.u.chunk.len = n;
	conn_send_data(c, h, &dt);
}

/* Deflates `n` bytes (or finishes the stream) and sends the output. */
static int
dump_deflate(pt_conn *c, dump_stream *s, const uint8_t *p, size_t n,
    bool finish)
{
	uint8_t out[CHUNK];
	s->zs.next_in = (Bytef *)(uintptr_t)p;
	s->zs.avail_in = (uInt)n;
	int rc;
	do {
		s->zs.next_out = out;
		s->zs.avail_out = sizeof(out);
		rc = deflate(&s->zs, finish ? Z_FINISH : Z_NO_FLUSH);
		if (rc == Z_STREAM_ERROR)
			return -1;
		size_t got = sizeof(out) - s->zs.avail_out;
		if (got > 0)
			send_chunk(c, &s->h, out, got);
		if (!conn_streaming(c))
			return 0;  /* the peer went: nothing more to send */
	} while (s->zs.avail_out == 0 || (finish && rc != Z_STREAM_END));
	return 0;
}

/* The end of the stream: the end marker, then a failure only if the
 * device could not be read (§8.5). */
static void
dump_end(pt_conn *c, dump_stream *s, const char *failure)
{
	pt_header h = s->h;  /* s goes away with the stream */
	pt_data end = {.kind = PT_DATA_BLOCK_END};
	conn_send_data(c, &h, &end);
	if (failure != NULL) {
		conn_reply_failure(c, &h, "%s", failure);
		ev_refused(c->d, &h.name, "block dump", failure);
	}
	conn_finish(c, false);  /* runs dump_close */
}

/* Sends the next pieces. Only once everything queued has gone: the
 * connection's output buffer is reset only when it is empty, so topping
 * it up while it drains would let it grow with the device. A send can
 * find the peer gone: the stream stops then (streaming is false), and
 * `s` stays valid until this call returns (conn.c defers dump_close). */
static void
dump_produce(pt_conn *c)
{
	dump_stream *s = c->stream.ctx;
	if (!conn_streaming(c) || conn_out_pending(c) > 0)
		return;
	while (!conn_dead(c) && conn_streaming(c) &&
	    conn_out_pending(c) < DUMP_HIGH_WATER) {
		ssize_t r = read(s->fd, s->buf, sizeof(s->buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			char msg[128];
			snprintf(msg, sizeof(msg), "dump block: reading: %s",
			    strerror(errno));
			dump_end(c, s, msg);
			return;
		}
		if (r == 0) {
			if (s->compressed && dump_deflate(c, s, NULL, 0,
			    true) < 0) {
				dump_end(c, s, "dump block: compression "
				    "failed");
				return;
			}
			dump_end(c, s, NULL);
			return;
		}
		if (s->compressed) {
			if (dump_deflate(c, s, s->buf, (size_t)r, false) < 0) {
				dump_end(c, s, "dump block: compression "
				    "failed");
				return;
			}
			continue;
		}
		for (size_t off = 0; off < (size_t)r && conn_streaming(c);
		    off += CHUNK)
			send_chunk(c, &s->h, s->buf + off,
			    (size_t)r - off < CHUNK ? (size_t)r - off : CHUNK);
	}
}

static void
block_dump(pt_conn *c, const pt_header *h, int64_t level)
{
	pt_daemon *d = c->d;
	pt_err err = {{0}};
	int64_t size;
	char path[PATH_MAX];
	if (block_available(d, &h->name, "dump block", &size, &err) < 0) {
		refuse(c, h, "block dump", err.msg);
		return;
	}
	if (level < 0) {
		refuse(c, h, "block dump", "dump block: negative compression "
		    "level");
		return;
	}
	dump_stream *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		refuse(c, h, "block dump", "dump block: out of memory");
		return;
	}
	s->name = h->name;
	s->h = *h;
	s->compressed = level > 0;
	s->fd = -1;
	const char *why = NULL;
	char msg[PATH_MAX + 64];
	if (block_path(d, &h->name, path, sizeof(path), &err) < 0) {
		snprintf(msg, sizeof(msg), "dump block: %s", err.msg);
		why = msg;
	} else if ((s->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(msg, sizeof(msg), "dump block: %s: %s", path,
		    strerror(errno));
		why = msg;
	} else if (s->compressed && deflateInit(&s->zs,
	    level > 9 ? 9 : (int)level) != Z_OK) {
		why = "dump block: zlib failed";
	} else {
		s->zinit = s->compressed;
		if (busy_mark(&h->name) < 0)
			why = "dump block: out of memory";
	}
	if (why != NULL) {
		if (s->fd >= 0)
			close(s->fd);
		if (s->zinit)
			deflateEnd(&s->zs);
		free(s);
		refuse(c, h, "block dump", why);
		return;
	}
	/* The stream first: if the reply finds the peer gone, closing the
	 * connection runs dump_close, which unlocks the device. */
	pt_stream st = {.on_drain = dump_produce, .on_close = dump_close,
	    .ctx = s};
	conn_set_stream(c, &st);
	pt_success ok = {.kind = PT_OK_BLOCK_IMAGE};
	ok.u.compressed = s->compressed;
	conn_reply(c, h, &ok);
	dump_produce(c);
}

void
block_cmd(pt_conn *c, const pt_wire *w)
{
	const pt_header *h = &w->header;
	const pt_command *cmd = &w->u.command;
	switch (cmd->kind) {
	case PT_CMD_BLOCK_INFO:
		block_info(c, h);
		return;
	case PT_CMD_BLOCK_ADD:
		block_add(c, h, cmd->u.size_mb);
		return;
	case PT_CMD_BLOCK_REMOVE:
		block_remove(c, h);
		return;
	case PT_CMD_BLOCK_ADD_OLD:
		block_add_old(c, h, &cmd->u.block_add_old);
		return;
	case PT_CMD_BLOCK_SET_OLD:
		block_set_old(c, h, &cmd->u.block_set_old);
		return;
	case PT_CMD_BLOCK_DUMP_OLD:
		block_dump_old(c, h, cmd->u.level);
		return;
	case PT_CMD_BLOCK_DUMP:
		block_dump(c, h, cmd->u.level);
		return;
	case PT_CMD_BLOCK_SET:
		block_set(c, h, cmd->u.compressed);
		return;
	default:
		refuse(c, h, "block", "unknown command");
		return;
	}
}
