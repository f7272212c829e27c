/*
 * The event log of petreld (docs/eventlog.md): every lifecycle event goes
 *  - into a bounded in-memory ring (pt_event_ring), the history that
 *    subscribers get;
 *  - to <logdir>/events, one length-prefixed LogEntry per event, appended
 *    (rotated to events.1, events.2 beyond --events-max-kb), read back at
 *    start so that the history survives a restart of petreld;
 *  - to every `log` subscriber allowed to see it.
 * Recording never fails the operation that caused the event: trouble with
 * the file is logged and the event stays in memory.
 *
 * A subscriber is a cursor into the ring (the absolute number of the next
 * event to look at). The ring is the only buffer: a subscriber is fed
 * while its connection's output stays below a bound, and picks up where it
 * stopped once the output drains. One that falls so far behind that the
 * ring drops events it has not had is disconnected, so a stalled reader
 * costs a bounded output buffer and nothing else.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fsutil.h"
#include "image.h"
#include "petreld.h"

/* Rotated files kept: events.1 (newer) .. events.EV_KEEP. */
#define EV_KEEP 2
/* The largest frame accepted when reading the files back: an event is a
 * few hundred bytes, a few KiB with many taps or a large policy. */
#define EV_FRAME_MAX (1u << 20)
/* Decoding one event may not take more than this. */
#define EV_ARENA_LIMIT (4u << 20)
/* Subscribers at once; beyond, the oldest is dropped. */
#define EV_MAX_SUBS 32
/* A subscriber is fed while its output is below this (the connection
 * asks for more below its low-water mark). */
#define EV_SUB_OUT_MAX (256u * 1024)

typedef struct ev_sub ev_sub;
struct ev_sub {
	ev_sub *next, *prev;   /* oldest first */
	pt_daemon *d;
	pt_conn *c;
	pt_header h;           /* the request's: every event carries it */
	bool follow;
	bool has_since;
	int64_t since_ms;
	uint64_t cursor;       /* absolute number of the next event */
	uint64_t end;          /* without follow: where the history ends */
};

struct pt_evlog {
	pt_event_ring ring;
	char dir[PATH_MAX];
	char path[PATH_MAX];   /* <dir>/events */
	int fd;                /* -1: not open (retried at each event) */
	uint64_t size;         /* of the open file */
	bool failing;          /* a write failed: log once until it works */
	ev_sub *subs, *subs_tail;
	size_t nsubs;
};

/* ---- the events file ---- */

static int
rotated_path(const pt_evlog *L, int i, char *out, size_t cap)
{
	int n = i == 0 ? snprintf(out, cap, "%s", L->path) :
	    snprintf(out, cap, "%s.%d", L->path, i);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static void
report_failure(pt_evlog *L, const char *what, int e)
{
	if (!L->failing)
		log_err("event log %s: %s: %s (events are kept in memory; "
		    "further errors are not logged until it works again)",
		    L->path, what, strerror(e));
	L->failing = true;
}

static int
file_open(pt_evlog *L)
{
	pt_err err = {{0}};
	if (pt_mkdirs(L->dir, 0700, &err) < 0) {
		if (!L->failing)
			log_err("event log: %s", err.msg);
		L->failing = true;
		return -1;
	}
	/* O_NONBLOCK: a FIFO planted there must not hang the daemon (it
	 * is refused below); regular files ignore it. */
	int fd = open(L->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC |
	    O_NOFOLLOW | O_NOCTTY | O_NONBLOCK, 0600);
	if (fd < 0) {
		report_failure(L, "open", errno);
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		report_failure(L, "fstat", e);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		report_failure(L, "not a regular file", EINVAL);
		return -1;
	}
	L->fd = fd;
	L->size = (uint64_t)st.st_size;
	return 0;
}

/* events -> events.1 -> events.2 ...; the oldest falls off. */
static void
file_rotate(pt_evlog *L)
{
	if (L->fd >= 0)
		close(L->fd);
	L->fd = -1;
	char from[PATH_MAX + 8], to[PATH_MAX + 8];
	for (int i = EV_KEEP; i > 0; i--) {
		if (rotated_path(L, i - 1, from, sizeof(from)) < 0 ||
		    rotated_path(L, i, to, sizeof(to)) < 0)
			continue;
		if (rename(from, to) < 0 && errno != ENOENT)
			log_err("event log: renaming %s to %s: %s", from, to,
			    strerror(errno));
	}
	log_info("event log: %s rotated", L->path);
	file_open(L);
}

/* One frame, in one write: with O_APPEND it lands whole at the end. A
 * short write is cut off again, so that the file stays a sequence of
 * complete frames. */
static void
file_append(pt_evlog *L, size_t max_bytes, const uint8_t *der, size_t n)
{
	if (L->fd < 0 && file_open(L) < 0)
		return;
	uint8_t prefix[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16),
	    (uint8_t)(n >> 8), (uint8_t)n};
	struct iovec iov[2] = {{prefix, 4}, {(void *)der, n}};
	ssize_t w;
	do
		w = writev(L->fd, iov, 2);
	while (w < 0 && errno == EINTR);
	if (w != (ssize_t)(n + 4)) {
		int e = w < 0 ? errno : ENOSPC;
		if (w > 0 && ftruncate(L->fd, (off_t)L->size) < 0)
			log_err("event log %s: cutting off a partial frame: "
			    "%s", L->path, strerror(errno));
		report_failure(L, "write", e);
		return;
	}
	if (L->failing)
		log_info("event log %s: writing again", L->path);
	L->failing = false;
	L->size += n + 4;
	if (L->size >= max_bytes)
		file_rotate(L);
}

/* ---- reading the files back ---- */

/* Adds each event of one frame-reader's worth of frames; false at the
 * first frame that is not a valid LogEntry. */
static bool
load_frames(pt_evlog *L, pt_frame_reader *rd, const char *path)
{
	for (;;) {
		const uint8_t *body;
		size_t len;
		pt_frame_status st = pt_frame_reader_next(rd, &body, &len);
		if (st == PT_FRAME_NEED_MORE)
			return true;
		if (st != PT_FRAME_OK) {
			log_warn("event log %s: bad frame (%s), the rest is "
			    "not read", path, st == PT_FRAME_TOO_BIG ?
			    "too big" : st == PT_FRAME_END ? "empty" :
			    "out of memory");
			return false;
		}
		pt_arena a = {.limit = EV_ARENA_LIMIT};
		pt_event e;
		pt_err err = {{0}};
		int r = pt_event_decode(body, len, &a, &e, &err);
		if (r == 0 && pt_event_ring_add(&L->ring, &e, &err) < 0)
			r = -1;
		pt_arena_free(&a);
		if (r < 0) {
			log_warn("event log %s: bad event: %s; the rest is not "
			    "read", path, err.msg);
			return false;
		}
	}
}

/* Reads one file into the ring, at most `budget` bytes of it. Returns
 * false if it is damaged (a bad or cut-off frame). */
static bool
load_file(pt_evlog *L, const char *path, uint64_t budget)
{
	/* O_NONBLOCK: opening a FIFO planted there must not hang the start
	 * (it is refused below); regular files ignore the flag. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
	    O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			return true;
		log_warn("event log %s: %s", path, strerror(errno));
		return false;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_warn("event log %s: not a regular file", path);
		close(fd);
		return false;
	}
	pt_frame_reader rd;
	pt_frame_reader_init(&rd, EV_FRAME_MAX);
	bool ok = true;
	uint64_t total = 0;
	for (;;) {
		size_t avail;
		uint8_t *space = pt_frame_reader_space(&rd, &avail);
		if (space == NULL) {
			log_err("event log %s: out of memory", path);
			break;
		}
		if (avail > budget - total)
			avail = (size_t)(budget - total);
		if (avail == 0) {
			log_warn("event log %s: larger than %llu bytes, only "
			    "its beginning was read", path,
			    (unsigned long long)budget);
			break;
		}
		ssize_t n = read(fd, space, avail);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_warn("event log %s: %s", path, strerror(errno));
			ok = false;
			break;
		}
		if (n == 0) {
			if (pt_frame_reader_pending(&rd) > 0) {
				log_warn("event log %s: ends with a cut-off "
				    "frame", path);
				ok = false;
			}
			break;
		}
		total += (uint64_t)n;
		pt_frame_reader_commit(&rd, (size_t)n);
		if (!load_frames(L, &rd, path)) {
			ok = false;
			break;
		}
	}
	pt_frame_reader_free(&rd);
	close(fd);
	return ok;
}

int
ev_open(pt_daemon *d, pt_err *err)
{
	pt_evlog *L = calloc(1, sizeof(*L));
	if (L == NULL || pt_event_ring_init(&L->ring, d->o.events_ring) < 0) {
		free(L);
		return pt_fail(err, "event log: out of memory");
	}
	L->fd = -1;
	int n1 = snprintf(L->dir, sizeof(L->dir), "%s", d->o.logdir);
	int n2 = snprintf(L->path, sizeof(L->path), "%s/events",
	    d->o.logdir);
	if (n1 < 0 || (size_t)n1 >= sizeof(L->dir) || n2 < 0 ||
	    (size_t)n2 >= sizeof(L->path)) {
		pt_event_ring_free(&L->ring);
		free(L);
		return pt_fail(err, "--logdir %s: path too long", d->o.logdir);
	}
	d->evlog = L;
	/* Oldest first, so that the ring ends with the newest. A file is
	 * read up to its cap plus one frame: more means someone else wrote
	 * it, and reading it whole could take long. */
	uint64_t budget = d->o.events_max_bytes + EV_FRAME_MAX;
	char path[PATH_MAX + 8];
	for (int i = EV_KEEP; i > 0; i--)
		if (rotated_path(L, i, path, sizeof(path)) == 0)
			load_file(L, path, budget);
	bool clean = load_file(L, L->path, budget);
	log_info("event log %s: %zu events read back", L->path,
	    L->ring.count);
	if (file_open(L) == 0 && (!clean ||
	    L->size >= d->o.events_max_bytes))
		/* New events after a damaged frame could never be read
		 * back: start a new file and keep the damaged one. */
		file_rotate(L);
	return 0;
}

static void sub_free(ev_sub *s);

void
ev_close(pt_daemon *d)
{
	pt_evlog *L = d->evlog;
	if (L == NULL)
		return;
	while (L->subs != NULL) {
		ev_sub *s = L->subs;
		if (conn_dead(s->c))
			sub_free(s);
		else
			conn_abort(s->c);  /* frees the subscriber */
	}
	if (L->fd >= 0)
		close(L->fd);
	pt_event_ring_free(&L->ring);
	free(L);
	d->evlog = NULL;
}

/* ---- subscribers ---- */

static bool
sub_wants(const ev_sub *s, const pt_event_slot *slot)
{
	if (s->has_since && slot->time_ms < s->since_ms)
		return false;
	return pt_event_visible(&s->h.name, &slot->name);
}

static void
sub_send(ev_sub *s, const pt_event_slot *slot)
{
	pt_arena a = {.limit = EV_ARENA_LIMIT};
	pt_data dt = {.kind = PT_DATA_LOG};
	pt_err err = {{0}};
	if (pt_event_decode(slot->der, slot->len, &a, &dt.u.event,
	    &err) < 0)
		/* Our own encoding: cannot happen, but never send junk. */
		log_err("event log: stored event does not decode: %s",
		    err.msg);
	else
		conn_send_data(s->c, &s->h, &dt);
	pt_arena_free(&a);
}

/* Feeds the subscriber what it has not had yet, while its output stays
 * small. May close the connection, which frees `s`. */
static void
sub_pump(ev_sub *s)
{
	pt_evlog *L = s->d->evlog;
	pt_conn *c = s->c;
	conn_grab(c);
	while (!conn_dead(c)) {
		uint64_t first = L->ring.total - L->ring.count;
		if (s->cursor < first) {
			log_warn("%s: log subscriber too slow, %llu events "
			    "behind: dropped", s->h.name.text,
			    (unsigned long long)(L->ring.total - s->cursor));
			conn_abort(c);
			break;
		}
		uint64_t stop = s->follow ? L->ring.total : s->end;
		if (s->cursor >= stop) {
			if (!s->follow)
				conn_finish(c, false);  /* history done */
			break;
		}
		if (conn_out_pending(c) >= EV_SUB_OUT_MAX)
			break;  /* on_drain comes back */
		const pt_event_slot *slot = pt_event_ring_at(&L->ring,
		    (size_t)(s->cursor - first));
		s->cursor++;
		if (sub_wants(s, slot))
			sub_send(s, slot);
	}
	conn_drop(c);
}

static void
sub_unlink(pt_evlog *L, ev_sub *s)
{
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		L->subs = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	else
		L->subs_tail = s->prev;
	L->nsubs--;
}

static void
sub_free(ev_sub *s)
{
	if (s->d->evlog != NULL)
		sub_unlink(s->d->evlog, s);
	free(s);
}

static void
sub_on_drain(pt_conn *c)
{
	sub_pump(c->stream.ctx);
}

static void
sub_on_close(pt_conn *c)
{
	sub_free(c->stream.ctx);
}

void
ev_cmd_subscribe(pt_conn *c, const pt_header *h, const pt_log_subscribe *ls)
{
	pt_daemon *d = c->d;
	pt_evlog *L = d->evlog;
	if (L == NULL) {
		conn_refuse(c, h, "the event log is not available");
		conn_finish(c, false);
		return;
	}
	ev_sub *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		conn_refuse(c, h, "log subscribe: out of memory");
		conn_finish(c, false);
		return;
	}
	if (L->nsubs >= EV_MAX_SUBS) {
		log_warn("%s: more than %d log subscribers, dropping the "
		    "oldest (%s)", h->name.text, EV_MAX_SUBS,
		    L->subs->h.name.text);
		conn_abort(L->subs->c);
	}
	s->d = d;
	s->c = c;
	s->h = *h;
	s->follow = ls->follow;
	s->has_since = ls->has_since;
	s->since_ms = ls->since_ms;
	s->cursor = L->ring.total - L->ring.count;
	s->end = L->ring.total;
	s->prev = L->subs_tail;
	if (L->subs_tail != NULL)
		L->subs_tail->next = s;
	else
		L->subs = s;
	L->subs_tail = s;
	L->nsubs++;
	conn_reply_string(c, h, "subscribed");
	if (conn_dead(c)) {
		/* The reply already failed: nobody to feed. */
		sub_free(s);
		return;
	}
	/* No on_frame: anything the subscriber sends ends the stream
	 * (conn.c), and a half-close lets a history finish. */
	pt_stream st = {
		.on_drain = sub_on_drain,
		.on_close = sub_on_close,
		.ctx = s,
	};
	conn_set_stream(c, &st);
	log_info("%s: log subscriber (%s, %zu events held)", h->name.text,
	    ls->follow ? "follow" : "history", L->ring.count);
	sub_pump(s);
}

/* ---- recording ---- */

void
ev_record(pt_daemon *d, pt_event *e)
{
	e->time_ms = pt_now_ms();
	pt_buf b = {0};
	if (pt_event_print(e, &b) == 0 && pt_buf_append_byte(&b, 0) == 0)
		log_debug("event: %s", (const char *)b.data);
	pt_buf_free(&b);
	pt_evlog *L = d->evlog;
	if (L == NULL)
		return;
	pt_err err = {{0}};
	if (pt_event_ring_add(&L->ring, e, &err) < 0) {
		log_err("event log: %s event of %s not recorded: %s",
		    pt_event_kind_name(e->kind), e->name.text, err.msg);
		return;
	}
	const pt_event_slot *slot = pt_event_ring_at(&L->ring,
	    L->ring.count - 1);
	file_append(L, d->o.events_max_bytes, slot->der, slot->len);
	ev_sub *next;
	for (ev_sub *s = L->subs; s != NULL; s = next) {
		next = s->next;
		if (s->follow)
			sub_pump(s);
	}
}

void
ev_name(pt_daemon *d, pt_event_kind kind, const pt_name *name)
{
	pt_event e;
	memset(&e, 0, sizeof(e));
	e.kind = kind;
	e.name = *name;
	ev_record(d, &e);
}

void
ev_refused(pt_daemon *d, const pt_name *name, const char *command,
    const char *reason)
{
	pt_event e;
	pt_event_refused(&e, name, command, reason);
	ev_record(d, &e);
}

void
ev_config_digest(const pt_ukconfig *cfg, uint8_t out[32])
{
	pt_ukconfig c = *cfg;
	c.image.data = NULL;
	c.image.len = 0;
	pt_buf b = {0};
	pt_err err = {{0}};
	if (pt_ukconfig_encode(&c, &b, &err) < 0) {
		log_err("configuration digest: %s", err.msg);
		memset(out, 0, 32);
	} else {
		pt_sha256(b.data, b.len, out);
	}
	pt_buf_free(&b);
}
