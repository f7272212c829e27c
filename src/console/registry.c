/*
 * The consoles petrel-console knows: one per unikernel name, holding its
 * ring of lines, the FIFO it reads and its subscribers.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "capacity.h"
#include "console.h"
#include "nofile.h"

pt_console *
pt_console_find(pt_console_daemon *d, const pt_name *name)
{
	for (pt_console *c = d->consoles; c != NULL; c = c->next)
		if (pt_name_equal(&c->name, name))
			return c;
	return NULL;
}

static pt_console *
console_new(pt_console_daemon *d, const pt_name *name)
{
	pt_console *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->subs = calloc(d->max_subs, sizeof(*c->subs));
	if (c->subs == NULL) {
		free(c);
		return NULL;
	}
	c->name = *name;
	c->daemon = d;
	c->fifo_fd = -1;
	c->next = d->consoles;
	d->consoles = c;
	d->nconsoles++;
	return c;
}

static void
stop_reading(pt_console *c)
{
	if (c->fifo_ev != NULL) {
		event_free(c->fifo_ev);
		c->fifo_ev = NULL;
	}
	if (c->fifo_fd >= 0) {
		close(c->fifo_fd);
		c->fifo_fd = -1;
	}
}

static void
drop_subscriber(pt_console_sub *sub)
{
	/* The session owns the connection; closing it makes the session
	 * unsubscribe and free itself. Cut off, not flushed: a subscriber
	 * dropped for being slow (or evicted) would otherwise keep its
	 * full output buffer for as long as it does not read. */
	pt_fconn_abort(sub->conn, "subscriber dropped");
}

static void
console_free(pt_console_daemon *d, pt_console *c)
{
	pt_console **pp = &d->consoles;
	while (*pp != c)
		pp = &(*pp)->next;
	*pp = c->next;
	d->nconsoles--;
	/* Detach first: dropping a subscriber may call back into
	 * pt_console_unsubscribe, which must then find nothing to do. */
	size_t nsubs = c->nsubs;
	c->nsubs = 0;
	for (size_t i = 0; i < nsubs; i++) {
		c->subs[i]->console = NULL;
		drop_subscriber(c->subs[i]);
	}
	stop_reading(c);
	if (c->has_ring)
		pt_console_ring_free(&c->ring);
	free(c->subs);
	free(c);
}

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
send_line(pt_console_sub *sub, int64_t time_ms, const char *line,
    size_t len)
{
	pt_wire w;
	memset(&w, 0, sizeof(w));
	pt_header_init(&w.header, 0, &sub->console->name);
	w.header.version = sub->version;
	w.kind = PT_PAYLOAD_DATA;
	w.u.data.kind = PT_DATA_CONSOLE;
	w.u.data.u.console.time = time_ms;
	w.u.data.u.console.line.s = line;
	w.u.data.u.console.line.len = len;
	return pt_fconn_send_wire(sub->conn, &w);
}

typedef struct {
	pt_console_daemon *d;
	pt_console *c;
	int64_t time_ms;
} line_ctx;

/* One complete line: into the ring, then to every subscriber. A
 * subscriber that cannot keep up is dropped rather than buffered for. */
static void
on_line(const char *line, size_t len, void *arg)
{
	line_ctx *lc = arg;
	pt_console *c = lc->c;
	char clean[3 * (PT_CONSOLE_LINE_MAX + sizeof(PT_CONSOLE_TRUNCATED))];
	size_t n = pt_utf8_sanitize(line, len, clean);
	if (pt_console_ring_add(&c->ring, lc->time_ms, clean, n) < 0)
		pt_console_log(lc->d, 0, "%s: out of memory, line lost",
		    c->name.text);
	for (size_t i = 0; i < c->nsubs;) {
		pt_console_sub *sub = c->subs[i];
		if (send_line(sub, lc->time_ms, clean, n) < 0) {
			pt_console_log(lc->d, 1, "%s: subscriber too slow, "
			    "dropped", c->name.text);
			pt_console_unsubscribe(lc->d, sub);
			drop_subscriber(sub);
			continue;
		}
		i++;
	}
}

static void
mark_inactive(pt_console_daemon *d, pt_console *c)
{
	line_ctx lc = {d, c, now_ms()};
	pt_line_splitter_flush(&c->split, on_line, &lc);
	stop_reading(c);
	c->active = false;
	c->inactive_seq = ++d->seq;
	pt_console_log(d, 1, "%s: console closed", c->name.text);
}

static void
on_fifo(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	pt_console *c = arg;
	uint8_t buf[PT_CONSOLE_LINE_MAX];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* Every writer (the tender) is gone. */
		mark_inactive(c->daemon, c);
		return;
	}
	line_ctx lc = {c->daemon, c, now_ms()};
	pt_line_splitter_feed(&c->split, buf, (size_t)n, on_line, &lc);
}

/* Opening the FIFO read-only and non-blocking never waits for the tender;
 * Linux reports no hang-up on it before a writer has come, so the read
 * event fires first when the tender writes, and EOF once it is gone. */
static int
start_reading(pt_console_daemon *d, pt_console *c, pt_err *err)
{
	char path[4096];
	if (pt_name_to_file(d->fifo_dir, &c->name, NULL, path, sizeof(path),
	    err) < 0)
		return -1;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return pt_fail(err, "opening %s: %s", path, strerror(errno));
	struct event *ev = event_new(d->base, fd, EV_READ | EV_PERSIST,
	    on_fifo, c);
	if (ev == NULL || event_add(ev, NULL) < 0) {
		if (ev != NULL)
			event_free(ev);
		close(fd);
		return pt_fail(err, "%s: out of memory", c->name.text);
	}
	stop_reading(c);
	c->fifo_fd = fd;
	c->fifo_ev = ev;
	pt_line_splitter_init(&c->split);
	c->active = true;
	return 0;
}

/* Keeps at most n+1 rings whose unikernels share `path`: while there are
 * more, the ring that has been inactive longest goes. Active rings are
 * never dropped. */
static void
evict_rings(pt_console_daemon *d, const pt_name *path, int64_t n,
    const pt_console *keep)
{
	for (;;) {
		int64_t rings = 0;
		pt_console *oldest = NULL;
		for (pt_console *c = d->consoles; c != NULL; c = c->next) {
			pt_name p;
			if (!c->has_ring)
				continue;
			pt_name_path(&c->name, &p);
			if (!pt_name_equal(&p, path))
				continue;
			rings++;
			if (!c->active && c != keep && (oldest == NULL ||
			    c->inactive_seq < oldest->inactive_seq))
				oldest = c;
		}
		if (n < INT64_MAX && rings <= n + 1)
			return;
		if (n == INT64_MAX || oldest == NULL)
			return;
		pt_console_log(d, 1, "%s: ring dropped (more than %lld for "
		    "its path)", oldest->name.text, (long long)n + 1);
		console_free(d, oldest);
	}
}

void
pt_console_limits_init(pt_console_daemon *d)
{
	pt_nofile n;
	pt_nofile_raise(&n);
	if (n.error != 0)
		pt_console_log(d, 0, "descriptor limit: cannot raise the soft "
		    "limit %llu to the hard limit %llu: %s",
		    (unsigned long long)n.before, (unsigned long long)n.hard,
		    strerror(n.error));
	pt_console_log(d, 0, "descriptor limit %llu (inherited soft limit "
	    "%llu, hard limit %llu): at most %zu consoles read at once",
	    (unsigned long long)n.soft, (unsigned long long)n.before,
	    (unsigned long long)n.hard, pt_fd_capacity(n.soft,
	    PT_CONSOLE_FDS_PER_UNIKERNEL, PT_CONSOLE_FDS_RESERVE));
}

/* Opening one more FIFO must leave the reserve for connections: petreld's
 * link and subscribers. */
static int
check_fds(pt_console_daemon *d, pt_err *err)
{
	size_t reading = 0;
	for (pt_console *c = d->consoles; c != NULL; c = c->next)
		if (c->fifo_fd >= 0)
			reading++;
	uint64_t limit = pt_nofile_soft();
	size_t cap = pt_fd_capacity(limit, PT_CONSOLE_FDS_PER_UNIKERNEL,
	    PT_CONSOLE_FDS_RESERVE);
	if (reading < cap)
		return 0;
	return pt_fail(err, "descriptor limit %llu allows at most %zu "
	    "consoles; %zu read (raise petrel-console's RLIMIT_NOFILE, see "
	    "docs/limits.md)", (unsigned long long)limit, cap, reading);
}

int
pt_console_add(pt_console_daemon *d, const pt_name *name, int64_t n,
    pt_err *err)
{
	if (!name->has_label)
		return pt_fail(err, "console add needs a unikernel name, not "
		    "the path %s", name->text);
	pt_console *c = pt_console_find(d, name);
	if ((c == NULL || c->fifo_fd < 0) && check_fds(d, err) < 0)
		return -1;
	bool created = false;
	if (c == NULL) {
		c = console_new(d, name);
		if (c == NULL)
			return pt_fail(err, "%s: out of memory", name->text);
		created = true;
	}
	if (start_reading(d, c, err) < 0) {
		if (created)
			console_free(d, c);
		return -1;
	}
	if (!c->has_ring) {
		pt_console_ring_init(&c->ring, d->ring_lines);
		c->has_ring = true;
	}
	pt_name path;
	pt_name_path(name, &path);
	evict_rings(d, &path, n < 0 ? 0 : n, c);
	pt_console_log(d, 1, "%s: reading console", name->text);
	return 0;
}

pt_console *
pt_console_subscribe(pt_console_daemon *d, const pt_name *name,
    pt_console_sub *sub, pt_err *err)
{
	pt_console *c = pt_console_find(d, name);
	if (c == NULL) {
		c = console_new(d, name);
		if (c == NULL) {
			pt_fail(err, "%s: out of memory", name->text);
			return NULL;
		}
	}
	if (c->nsubs == d->max_subs) {
		/* Not through pt_console_unsubscribe: that could free c. */
		pt_console_sub *oldest = c->subs[0];
		memmove(&c->subs[0], &c->subs[1],
		    (c->nsubs - 1) * sizeof(*c->subs));
		c->nsubs--;
		oldest->console = NULL;
		drop_subscriber(oldest);
	}
	c->subs[c->nsubs++] = sub;
	sub->console = c;
	return c;
}

void
pt_console_unsubscribe(pt_console_daemon *d, pt_console_sub *sub)
{
	pt_console *c = sub->console;
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nsubs; i++) {
		if (c->subs[i] != sub)
			continue;
		memmove(&c->subs[i], &c->subs[i + 1],
		    (c->nsubs - i - 1) * sizeof(*c->subs));
		c->nsubs--;
		break;
	}
	sub->console = NULL;
	/* A console that only existed for waiting subscribers goes with
	 * the last of them. */
	if (!c->has_ring && c->nsubs == 0)
		console_free(d, c);
}

int
pt_console_send_history(pt_console_sub *sub, const pt_subscribe *how)
{
	pt_console *c = sub->console;
	if (c == NULL || !c->has_ring)
		return 0;
	size_t first = how->by_count ?
	    pt_console_ring_last(&c->ring, how->count) :
	    pt_console_ring_since(&c->ring, how->since);
	for (size_t i = first; i < c->ring.count; i++) {
		const pt_console_line *l = pt_console_ring_at(&c->ring, i);
		if (send_line(sub, l->time_ms, l->line, l->len) < 0)
			return -1;
	}
	return 0;
}

void
pt_console_free_all(pt_console_daemon *d)
{
	while (d->consoles != NULL)
		console_free(d, d->consoles);
}
