/*
 * Block devices (albatross-wire.md §8.2, §8.4, §8.5): files
 * <dbdir>/block/<name text>, mode 0600 in a 0700 directory, whole MB.
 *
 * Content is only ever replaced through a temporary file in
 * <dbdir>/block-staging (same file system) that is renamed over the device
 * at the end, so a set that breaks half-way leaves the old content intact.
 * Streams go through fixed-size buffers: a device is never held in memory
 * (except by the legacy dump-old, which must fit one message).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
#define IO_BUF (64 * 1024)
#define DUMP_HIGH_WATER (1024u * 1024)

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

typedef int (*scan_fn)(pt_daemon *d, const pt_name *name, int64_t mb,
    void *ctx);

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
		pt_err e = {{0}};
		struct stat st;
		const char *why = NULL;
		if (fstatat(dirfd(dir), de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) < 0)
			why = strerror(errno);
		else if (!S_ISREG(st.st_mode))
			why = "not a regular file";
		else if (pt_name_parse_str(de->d_name, &name, &e) < 0 ||
		    !name.has_label || strcmp(name.text, de->d_name) != 0)
			why = "not a block device name";
		else if (st.st_size == 0 || st.st_size % MB != 0)
			why = "size is not a whole number of MB";
		if (why != NULL) {
			if (report)
				log_warn("block directory: %s: %s; left alone",
				    de->d_name, why);
			continue;
		}
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
	if (staging_dir(d, staging, sizeof(staging)) < 0 ||
	    pt_mkdirs(staging, 0700, err) < 0)
		return pt_fail_prefix(err, "block staging directory");
	/* Leftovers of interrupted sets: ours, and incomplete by design. */
	DIR *dir = opendir(staging);
	if (dir != NULL) {
		struct dirent *de;
		while ((de = readdir(dir)) != NULL)
			if (de->d_name[0] != '.' &&
			    unlinkat(dirfd(dir), de->d_name, 0) == 0)
				log_info("removed interrupted block upload %s",
				    de->d_name);
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
	int64_t written;
	bool compressed;
	bool zinit;
	bool zdone;
	z_stream zs;
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
	w->fd = mkostemp(w->tmp, O_CLOEXEC);
	if (w->fd < 0)
		return pt_fail(err, "staging file: %s", strerror(errno));
	fchmod(w->fd, 0600);
	if (compressed) {
		if (inflateInit(&w->zs) != Z_OK) {
			writer_abort(w);
			return pt_fail(err, "zlib: cannot initialise");
		}
		w->zinit = true;
	}
	return 0;
}

static int
writer_raw(block_writer *w, const uint8_t *p, size_t n, pt_err *err)
{
	if ((int64_t)n > w->limit - w->written)
		return pt_fail(err, "stream exceeds size");
	if (pt_write_all(w->fd, p, n) < 0)
		return pt_fail(err, "writing block device: %s",
		    strerror(errno));
	w->written += (int64_t)n;
	return 0;
}

static int
writer_feed(block_writer *w, const uint8_t *p, size_t n, pt_err *err)
{
	if (!w->compressed)
		return writer_raw(w, p, n, err);
	if (w->zdone)
		return n == 0 ? 0 : pt_fail(err, "data after the end of the "
		    "zlib stream");
	static uint8_t out[IO_BUF];
	w->zs.next_in = (Bytef *)(uintptr_t)p;
	w->zs.avail_in = (uInt)n;
	do {
		w->zs.next_out = out;
		w->zs.avail_out = sizeof(out);
		int rc = inflate(&w->zs, Z_NO_FLUSH);
		if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
			return pt_fail(err, "decompression failed: %s",
			    w->zs.msg ? w->zs.msg : "corrupt zlib stream");
		size_t got = sizeof(out) - w->zs.avail_out;
		if (got > 0 && writer_raw(w, out, got, err) < 0)
			return -1;
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
	return 0;
}

/* Pads to the device size, syncs, renames over the device. */
static int
writer_commit(block_writer *w, pt_err *err)
{
	if (w->compressed && !w->zdone)
		return pt_fail(err, "decompression failed: the zlib stream "
		    "is truncated");
	char path[PATH_MAX];
	if (block_path(w->d, &w->name, path, sizeof(path), err) < 0)
		return -1;
	if (ftruncate(w->fd, w->limit) < 0 || fsync(w->fd) < 0)
		return pt_fail(err, "block device: %s", strerror(errno));
	if (rename(w->tmp, path) < 0)
		return pt_fail(err, "replacing %s: %s", path, strerror(errno));
	close(w->fd);
	w->fd = -1;
	if (w->zinit)
		inflateEnd(&w->zs);
	w->zinit = false;
	return 0;
}

/* ---- commands ---- */

static void
finish_fail(pt_conn *c, const pt_header *h, const char *fmt, const char *s)
{
	conn_reply_failure(c, h, fmt, s);
	conn_finish(c, false);
}

static int
collect_block(const pt_name *name, int64_t size_mb, bool in_use, void *ctx)
{
	void **v = ctx;
	pt_arena *a = v[0];
	const pt_name *req = v[1];
	pt_buf *list = v[2];
	pt_block_entry e = {.size_mb = size_mb, .active = in_use};
	if (req->has_label)
		e.name = *name;
	else if (pt_name_drop_prefix(req, name, &e.name) < 0)
		e.name = *name;
	(void)a;
	return pt_buf_append(list, &e, sizeof(e)) < 0 ? 1 : 0;
}

static void
block_info(pt_conn *c, const pt_header *h)
{
	pt_buf list = {0};
	void *ctx[3] = {NULL, (void *)&h->name, &list};
	pt_res_foreach_block(c->d->res, &h->name, collect_block, ctx);
	if (list.oom) {
		conn_reply_failure(c, h, "block info: out of memory");
	} else {
		pt_success s = {.kind = PT_OK_BLOCK_DEVICES};
		s.u.blocks.n = list.len / sizeof(pt_block_entry);
		s.u.blocks.v = (pt_block_entry *)(void *)list.data;
		conn_reply(c, h, &s);
	}
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
		return pt_fail(err, "block device size must be positive "
		    "(%lld MB requested)", (long long)size_mb);
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
	log_info("%s: block device added (%lld MB)", name->text,
	    (long long)size_mb);
	return 0;
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
		return pt_fail(err, "%s: is in use", what);
	return 0;
}

static void
block_add(pt_conn *c, const pt_header *h, int64_t size_mb)
{
	pt_err err = {{0}};
	if (block_create(c->d, &h->name, size_mb, &err) < 0)
		finish_fail(c, h, "%s", err.msg);
	else {
		conn_reply_string(c, h, "added block device");
		conn_finish(c, false);
	}
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
		finish_fail(c, h, "%s", "remove block: not found");
		return;
	}
	if (in_use || block_busy(&h->name)) {
		finish_fail(c, h, "%s", "remove block: is in use");
		return;
	}
	if (block_path(d, &h->name, path, sizeof(path), &err) < 0 ||
	    pt_res_remove_block(d->res, &h->name, &err) < 0) {
		finish_fail(c, h, "remove block: %s", err.msg);
		return;
	}
	if (unlink(path) < 0 && errno != ENOENT)
		log_err("%s: removing %s: %s", h->name.text, path,
		    strerror(errno));
	log_info("%s: block device removed", h->name.text);
	conn_reply_string(c, h, "removed block");
	conn_finish(c, false);
}

/* Legacy commands carry the data inline. */
static int
write_inline(pt_daemon *d, const pt_name *name, int64_t size_mb,
    bool compressed, const pt_blob *data, pt_err *err)
{
	block_writer w;
	if (writer_open(d, &w, name, size_mb, compressed, err) < 0)
		return -1;
	if (writer_feed(&w, data->data, data->len, err) < 0 ||
	    writer_commit(&w, err) < 0) {
		writer_abort(&w);
		return -1;
	}
	return 0;
}

static void
block_add_old(pt_conn *c, const pt_header *h, const pt_block_add_old *o)
{
	pt_err err = {{0}};
	if (block_create(c->d, &h->name, o->size_mb, &err) < 0) {
		finish_fail(c, h, "%s", err.msg);
		return;
	}
	if (o->has_data && write_inline(c->d, &h->name, o->size_mb,
	    o->compressed, &o->data, &err) < 0) {
		/* The device was new: undo it entirely. */
		char path[PATH_MAX];
		if (block_path(c->d, &h->name, path, sizeof(path), NULL) == 0)
			unlink(path);
		pt_res_remove_block(c->d->res, &h->name, NULL);
		if (strcmp(err.msg, "stream exceeds size") == 0)
			finish_fail(c, h, "%s", "data exceeds block size");
		else
			finish_fail(c, h, "%s", err.msg);
		return;
	}
	conn_reply_string(c, h, "added block device");
	conn_finish(c, false);
}

static void
block_set_old(pt_conn *c, const pt_header *h, const pt_block_set_old *o)
{
	pt_err err = {{0}};
	int64_t size;
	if (block_available(c->d, &h->name, "set block", &size, &err) < 0 ||
	    write_inline(c->d, &h->name, size, o->compressed, &o->data,
	    &err) < 0) {
		finish_fail(c, h, "%s", err.msg);
		return;
	}
	conn_reply_string(c, h, "set block device");
	conn_finish(c, false);
}

static void
block_dump_old(pt_conn *c, const pt_header *h, int64_t level)
{
	pt_daemon *d = c->d;
	pt_err err = {{0}};
	int64_t size;
	char path[PATH_MAX];
	if (block_available(d, &h->name, "dump block", &size, &err) < 0) {
		finish_fail(c, h, "%s", err.msg);
		return;
	}
	if ((size_t)size * MB > d->o.max_frame / 2) {
		finish_fail(c, h, "%s", "dump block: the device is too large "
		    "for the legacy dump, use dump");
		return;
	}
	uint8_t *data = NULL, *z = NULL;
	size_t n, zn;
	bool compressed = level > 0;
	if (block_path(d, &h->name, path, sizeof(path), &err) < 0 ||
	    pt_read_file(path, (size_t)size * MB, &data, &n, &err) < 0) {
		finish_fail(c, h, "dump block: %s", err.msg);
		return;
	}
	if (compressed) {
		uLongf bound = compressBound((uLong)n);
		z = malloc(bound);
		if (z == NULL || compress2(z, &bound, data, (uLong)n,
		    level > 9 ? 9 : (int)level) != Z_OK) {
			free(z);
			free(data);
			finish_fail(c, h, "%s", "dump block: compression "
			    "failed");
			return;
		}
		zn = bound;
	}
	pt_success s = {.kind = PT_OK_OLD_BLOCK_IMAGE};
	s.u.image.compressed = compressed;
	s.u.image.data.data = compressed ? z : data;
	s.u.image.data.len = compressed ? zn : n;
	conn_reply(c, h, &s);
	free(z);
	free(data);
	conn_finish(c, false);
}

/* ---- streamed set (§8.4) ---- */

typedef struct {
	block_writer w;
	bool done;
} set_stream;

static void
set_close(pt_conn *c)
{
	set_stream *s = c->stream.ctx;
	if (!s->done)
		log_info("%s: block set aborted, old content kept",
		    s->w.name.text);
	writer_abort(&s->w);
	busy_clear(&s->w.name);
	free(s);
}

static int
set_frame(pt_conn *c, const uint8_t *p, size_t n, bool end)
{
	set_stream *s = c->stream.ctx;
	pt_err err = {{0}};
	pt_header h = s->w.h;
	if (!end) {
		if (writer_feed(&s->w, p, n, &err) == 0)
			return 0;
	} else if (writer_commit(&s->w, &err) == 0) {
		s->done = true;
		log_info("%s: block device set (%lld bytes)", h.name.text,
		    (long long)s->w.written);
		conn_reply_string(c, &h, "set block device");
		conn_finish(c, false);  /* runs set_close */
		return -1;
	}
	conn_reply_failure(c, &h, "%s", err.msg);
	conn_discard_upload(c);  /* runs set_close */
	return 0;
}

static void
block_set(pt_conn *c, const pt_header *h, bool compressed)
{
	pt_err err = {{0}};
	int64_t size;
	/* Refused at once, before any data is read (§8.4). */
	if (block_available(c->d, &h->name, "set block", &size, &err) < 0) {
		conn_reply_failure(c, h, "%s", err.msg);
		conn_discard_upload(c);
		return;
	}
	set_stream *s = calloc(1, sizeof(*s));
	if (s == NULL || busy_mark(&h->name) < 0) {
		free(s);
		finish_fail(c, h, "%s", "set block: out of memory");
		return;
	}
	if (writer_open(c->d, &s->w, &h->name, size, compressed, &err) < 0) {
		busy_clear(&h->name);
		free(s);
		finish_fail(c, h, "set block: %s", err.msg);
		return;
	}
	s->w.h = *h;
	pt_stream st = {.on_frame = set_frame, .on_close = set_close,
	    .ctx = s};
	conn_set_stream(c, &st);
}

/* ---- streamed dump (§8.5) ---- */

typedef struct {
	pt_name name;
	pt_header h;
	int fd;
	bool compressed;
	bool zinit;
	z_stream zs;
	bool eof;
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
	} while (s->zs.avail_out == 0 || (finish && rc != Z_STREAM_END));
	return 0;
}

static void
dump_produce(pt_conn *c)
{
	dump_stream *s = c->stream.ctx;
	pt_header h = s->h;
	uint8_t buf[CHUNK];
	while (!c->dead && conn_out_pending(c) < DUMP_HIGH_WATER) {
		ssize_t r = read(s->fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			char msg[128];
			snprintf(msg, sizeof(msg), "dump block: reading: %s",
			    strerror(errno));
			pt_data end = {.kind = PT_DATA_BLOCK_END};
			conn_send_data(c, &h, &end);
			conn_reply_failure(c, &h, "%s", msg);
			conn_finish(c, false);
			return;
		}
		if (r == 0) {
			if (s->compressed && dump_deflate(c, s, NULL, 0,
			    true) < 0)
				log_err("%s: dump: deflate failed",
				    h.name.text);
			pt_data end = {.kind = PT_DATA_BLOCK_END};
			conn_send_data(c, &h, &end);
			conn_finish(c, false);  /* runs dump_close */
			return;
		}
		if (s->compressed) {
			if (dump_deflate(c, s, buf, (size_t)r, false) < 0) {
				conn_reply_failure(c, &h, "%s", "dump block: "
				    "compression failed");
				conn_finish(c, false);
				return;
			}
		} else {
			send_chunk(c, &h, buf, (size_t)r);
		}
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
		finish_fail(c, h, "%s", err.msg);
		return;
	}
	dump_stream *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		finish_fail(c, h, "%s", "dump block: out of memory");
		return;
	}
	s->name = h->name;
	s->h = *h;
	s->compressed = level > 0;
	s->fd = -1;
	if (block_path(d, &h->name, path, sizeof(path), &err) < 0 ||
	    (s->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		free(s);
		finish_fail(c, h, "dump block: %s", err.msg[0] ? err.msg :
		    strerror(errno));
		return;
	}
	if (s->compressed) {
		if (deflateInit(&s->zs, level > 9 ? 9 : (int)level) != Z_OK) {
			close(s->fd);
			free(s);
			finish_fail(c, h, "%s", "dump block: zlib failed");
			return;
		}
		s->zinit = true;
	}
	if (busy_mark(&h->name) < 0) {
		close(s->fd);
		if (s->zinit)
			deflateEnd(&s->zs);
		free(s);
		finish_fail(c, h, "%s", "dump block: out of memory");
		return;
	}
	pt_success ok = {.kind = PT_OK_BLOCK_IMAGE};
	ok.u.compressed = s->compressed;
	conn_reply(c, h, &ok);
	pt_stream st = {.on_drain = dump_produce, .on_close = dump_close,
	    .ctx = s};
	conn_set_stream(c, &st);
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
		finish_fail(c, h, "%s", "unknown command");
		return;
	}
}
