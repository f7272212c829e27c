/*
 * petreld's side of petrel-console (albatross-wire.md §8.3): before each
 * exec of a tender (first start, restart, re-create) petreld sends
 * `console add n` with the unikernel's full name on one persistent
 * connection to <tmpdir>/console/console.sock, and petrel-console opens the
 * FIFO for reading and answers `empty`. Sequence numbers count from 1 on
 * petreld's side; replies come in order and each must carry the sequence
 * of the add it answers.
 *
 * At a launch the answer is awaited, synchronously and bounded
 * (--console-timeout-ms, 1 s by default): the launch is a synchronous sequence of steps whose
 * outcome the create command's reply reports, and petrel-console answers
 * at once (it opens the FIFO without blocking, then replies), so waiting
 * keeps albatross's order - the reader is there before the tender runs -
 * without splitting the launch into callbacks. A petrel-console that does
 * not answer in time is treated as gone and the link is dropped, so a hung
 * petrel-console costs one wait, not one per launch.
 *
 * The re-adds after a reconnect are not awaited: they are sent at once and
 * their replies handled as they come (REPLY_TIMEOUT_MS for all of them),
 * so that reconnecting to a hung petrel-console never stalls petreld.
 *
 * petreld works without petrel-console: every problem is logged and the
 * launch goes on. The tender holds its FIFO read-write, so its writes do
 * not fail while nobody reads (they block once the pipe's 64 KiB are full).
 * While petrel-console is away a timer reconnects with a capped backoff.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "petreld.h"

#define REPLY_TIMEOUT_MS 5000
#define BACKOFF_FIRST_MS 200
#define BACKOFF_MAX_MS 5000
/* Replies to `add` are a few dozen bytes. */
#define REPLY_MAX (64u * 1024)
/* The largest 63-bit integer (§3.2): "no limit", for the root path. */
#define COUNT_UNLIMITED ((INT64_C(1) << 62) - 1)

struct pt_console_link {
	pt_daemon *d;
	struct sockaddr_un sa;
	int fd;                 /* -1: not connected */
	struct event *rev;      /* replies, and petrel-console going away */
	struct event *retry;    /* reconnection */
	struct event *overdue;  /* replies awaited too long */
	int64_t backoff_ms;
	int64_t seq;            /* the last add sent (the console counter) */
	int64_t acked;          /* the last add answered */
	bool down_logged;       /* "not reachable" said once per outage */
	bool unresponsive;      /* an answer timed out, none came since:
	                           launches neither wait nor reconnect */
	pt_frame_reader rd;
};

/* n for `console add` (§8.3): the `unikernels` of the nearest policy on
 * the unikernel's path below the root; the largest integer at the root
 * path; 0 if no policy is on the path. */
static int64_t
console_count(pt_daemon *d, const pt_name *name)
{
	pt_name path;
	pt_name_path(name, &path);
	if (pt_name_is_root(&path))
		return COUNT_UNLIMITED;
	for (;;) {
		const pt_policy *p = pt_res_policy(d->res, &path);
		if (p != NULL)
			return p->unikernels;
		pt_name up;
		if (pt_name_parent(&path, &up) < 0 || pt_name_is_root(&up))
			return 0;
		path = up;
	}
}

static void
link_close(pt_console_link *L)
{
	if (L->rev != NULL)
		event_free(L->rev);
	L->rev = NULL;
	evtimer_del(L->overdue);
	if (L->fd >= 0)
		close(L->fd);
	L->fd = -1;
	L->acked = L->seq;
	pt_frame_reader_free(&L->rd);
	pt_frame_reader_init(&L->rd, REPLY_MAX);
}

static void
link_schedule(pt_console_link *L)
{
	if (L->d->shutting_down || evtimer_pending(L->retry, NULL))
		return;
	struct timeval tv = {(time_t)(L->backoff_ms / 1000),
	    (suseconds_t)(L->backoff_ms % 1000) * 1000};
	evtimer_add(L->retry, &tv);
	L->backoff_ms = L->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
	    L->backoff_ms * 2;
}

static void
link_lost(pt_console_link *L, const char *why)
{
	log_warn("petrel-console: %s; reconnecting", why);
	link_close(L);
	L->down_logged = true;
	link_schedule(L);
	/* Nobody reads the FIFOs now: keep the tenders from blocking. */
	drain_all_running(L->d);
}

/* ---- sending ---- */

static int
remaining_ms(int64_t deadline)
{
	int64_t left = deadline - pt_now_mono_ms();
	return left <= 0 ? 0 : (int)left;
}

/* 0 ready, -1 with errno (ETIMEDOUT after the deadline). */
static int
wait_fd(int fd, short what, int64_t deadline)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = what};
		int r = poll(&p, 1, remaining_ms(deadline));
		if (r > 0)
			return 0;
		if (r == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (errno != EINTR)
			return -1;
	}
}

static int
send_all(int fd, const uint8_t *p, size_t n, int64_t deadline)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_fd(fd, POLLOUT, deadline) < 0)
				return -1;
		} else if (w < 0 && errno != EINTR) {
			return -1;
		}
	}
	return 0;
}

/* Sends `console add n` for uk; its sequence, or -1 (link dropped). */
static int64_t
send_add(pt_console_link *L, const pt_uk *uk)
{
	pt_wire w = {.kind = PT_PAYLOAD_COMMAND};
	pt_header_init(&w.header, L->seq + 1, &uk->name);
	w.u.command.kind = PT_CMD_CONSOLE_ADD;
	w.u.command.u.count = console_count(L->d, &uk->name);
	pt_buf body = {0}, out = {0};
	pt_err err = {{0}};
	if (pt_wire_encode(&w, &body, &err) < 0 ||
	    pt_frame_append(&out, body.data, body.len) < 0) {
		log_err("%s: console add does not encode: %s", uk->name.text,
		    err.msg[0] ? err.msg : "out of memory");
		pt_buf_free(&body);
		pt_buf_free(&out);
		return -1;
	}
	int r = send_all(L->fd, out.data, out.len,
	    pt_now_mono_ms() + L->d->o.console_timeout_ms);
	pt_buf_free(&body);
	pt_buf_free(&out);
	if (r < 0) {
		char why[400];
		snprintf(why, sizeof(why), "sending console add for %s: %s",
		    uk->name.text, strerror(errno));
		link_lost(L, why);
		return -1;
	}
	L->seq++;
	log_debug("%s: console add %lld (n=%lld)", uk->name.text,
	    (long long)L->seq, (long long)w.u.command.u.count);
	return L->seq;
}

/* ---- replies ---- */

/* Handles one reply: it must answer the oldest add not yet answered.
 * `launching` is the unikernel of the add awaited at a launch (not
 * registered yet), else NULL. 0, or -1 with the link dropped (a refusal
 * too: petrel-console closes the connection after a failure). */
static int
handle_reply(pt_console_link *L, const uint8_t *body, size_t len,
    pt_uk *launching)
{
	pt_arena a = {.limit = REPLY_MAX * 4};
	pt_wire w;
	pt_err err = {{0}};
	char why[300];
	int r = -1;
	if (pt_wire_decode(body, len, &a, &w, &err) < 0) {
		snprintf(why, sizeof(why), "undecodable reply: %s", err.msg);
	} else if (L->acked >= L->seq || w.header.sequence != L->acked + 1) {
		snprintf(why, sizeof(why), "reply with sequence %lld, "
		    "expected %lld", (long long)w.header.sequence,
		    (long long)(L->acked + 1));
	} else if (w.kind == PT_PAYLOAD_SUCCESS &&
	    w.u.success.kind == PT_OK_EMPTY) {
		L->acked++;
		r = 0;
		/* It answers: the link is up, and petrel-console reads this
		 * FIFO from now on. */
		L->backoff_ms = BACKOFF_FIRST_MS;
		pt_uk *uk = launching != NULL &&
		    pt_name_equal(&launching->name, &w.header.name) ?
		    launching : uk_find(L->d, &w.header.name);
		if (uk != NULL)
			drain_stop(uk);
	} else if (w.kind == PT_PAYLOAD_FAILURE) {
		L->acked++;
		log_err("%s: petrel-console refused to read its console: %s",
		    w.header.name.text, w.u.failure.s);
		pt_uk *uk = launching != NULL &&
		    pt_name_equal(&launching->name, &w.header.name) ?
		    launching : uk_find(L->d, &w.header.name);
		/* Not re-added on reconnects until its next launch; its
		 * FIFO is read by petreld meanwhile. */
		if (uk != NULL) {
			uk->console_refused = true;
			drain_start(L->d, uk);
		}
		snprintf(why, sizeof(why), "it refused the add of %s",
		    w.header.name.text);
	} else {
		snprintf(why, sizeof(why), "unexpected reply to console add");
	}
	pt_arena_free(&a);
	L->unresponsive = false;  /* it answered, whatever it said */
	if (r < 0)
		link_lost(L, why);
	else if (L->acked == L->seq)
		evtimer_del(L->overdue);
	return r;
}

/* Reads what has arrived and handles every complete reply. 0, or -1 with
 * the link dropped (EOF included: petrel-console never closes a healthy
 * link). */
static int
read_replies(pt_console_link *L, pt_uk *launching)
{
	for (;;) {
		const uint8_t *body;
		size_t len;
		pt_frame_status st;
		while ((st = pt_frame_reader_next(&L->rd, &body, &len)) ==
		    PT_FRAME_OK)
			if (handle_reply(L, body, len, launching) < 0)
				return -1;
		if (st != PT_FRAME_NEED_MORE) {
			link_lost(L, "bad reply frame");
			return -1;
		}
		size_t avail;
		uint8_t *space = pt_frame_reader_space(&L->rd, &avail);
		if (space == NULL) {
			link_lost(L, "out of memory");
			return -1;
		}
		ssize_t n = recv(L->fd, space, avail, MSG_DONTWAIT);
		if (n > 0) {
			pt_frame_reader_commit(&L->rd, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		link_lost(L, n == 0 ? "it closed the connection" :
		    strerror(errno));
		return -1;
	}
}

static void
on_readable(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	read_replies(arg, NULL);
}

static void
on_overdue(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pt_console_link *L = arg;
	if (L->fd >= 0 && L->acked < L->seq) {
		L->unresponsive = true;
		link_lost(L, "no reply to the console adds within 5 s");
	}
}

/* The add for a unikernel about to be exec'd, answer awaited (bounded). */
static void
add_and_wait(pt_console_link *L, pt_uk *uk)
{
	int64_t deadline = pt_now_mono_ms() + L->d->o.console_timeout_ms;
	int64_t seq = send_add(L, uk);
	if (seq < 0)
		return;
	while (L->fd >= 0 && L->acked < seq) {
		if (wait_fd(L->fd, POLLIN, deadline) < 0) {
			char why[300];
			if (errno == ETIMEDOUT)
				L->unresponsive = true;
			snprintf(why, sizeof(why), "console add for %s: %s",
			    uk->name.text, errno == ETIMEDOUT ?
			    "no reply in time" : strerror(errno));
			link_lost(L, why);
			return;
		}
		if (read_replies(L, uk) < 0)
			return;
	}
}

/* ---- the connection ---- */

/* Connects and adds every running unikernel again (replies handled as
 * they come). 0 when the link is up. */
/* console/ is the console group's: what it names console.sock may be a
 * symlink to our own vmmd.sock, which would have each launch wait for an
 * answer from the very loop that is waiting. */
static bool
peer_is_us(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
	    cred.pid == getpid();
}

static int
link_connect(pt_console_link *L)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (fd < 0)
		return -1;
	/* A Unix socket connects at once or fails (EAGAIN when its backlog
	 * is full): never waits. */
	if (connect(fd, (const struct sockaddr *)&L->sa, sizeof(L->sa)) < 0) {
		int e = errno;
		close(fd);
		if (!L->down_logged)
			log_info("petrel-console not reachable on %s (%s): "
			    "consoles are not kept until it is",
			    L->sa.sun_path, strerror(e));
		L->down_logged = true;
		return -1;
	}
	if (peer_is_us(fd)) {
		close(fd);
		if (!L->down_logged)
			log_warn("%s leads back to petreld itself (a symlink "
			    "to vmmd.sock?): not a petrel-console",
			    L->sa.sun_path);
		L->down_logged = true;
		return -1;
	}
	L->fd = fd;
	L->rev = event_new(L->d->base, fd, EV_READ | EV_PERSIST, on_readable,
	    L);
	if (L->rev == NULL || event_add(L->rev, NULL) < 0) {
		log_err("petrel-console: cannot watch the connection");
		link_close(L);
		return -1;
	}
	log_info("connected to petrel-console on %s", L->sa.sun_path);
	L->down_logged = false;
	for (pt_uk *uk = L->d->uks; uk != NULL; uk = uk->next) {
		if (!uk_has_process(uk) || uk->console_refused)
			continue;
		if (send_add(L, uk) < 0)
			return -1;
	}
	if (L->acked < L->seq) {
		struct timeval tv = {REPLY_TIMEOUT_MS / 1000, 0};
		evtimer_add(L->overdue, &tv);
	}
	/* The backoff restarts only once petrel-console answers: one that
	 * accepts connections and never answers must not be retried at the
	 * shortest interval forever. */
	return 0;
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pt_console_link *L = arg;
	if (L->fd < 0 && link_connect(L) < 0)
		link_schedule(L);
}

int
console_link_start(pt_daemon *d, pt_err *err)
{
	if (d->o.no_console)
		return 0;
	pt_console_link *L = calloc(1, sizeof(*L));
	if (L == NULL)
		return pt_fail(err, "out of memory");
	L->d = d;
	L->fd = -1;
	L->backoff_ms = BACKOFF_FIRST_MS;
	L->sa.sun_family = AF_UNIX;
	/* Straight to petrel-console's own directory, not through our
	 * symlink util/console.sock: the same socket, one lookup less. */
	int n = snprintf(L->sa.sun_path, sizeof(L->sa.sun_path),
	    "%s/console/console.sock", d->o.tmpdir);
	if (n < 0 || (size_t)n >= sizeof(L->sa.sun_path)) {
		free(L);
		return pt_fail(err, "petrel-console socket path %s/console/"
		    "console.sock is too long", d->o.tmpdir);
	}
	pt_frame_reader_init(&L->rd, REPLY_MAX);
	L->retry = evtimer_new(d->base, on_retry, L);
	L->overdue = evtimer_new(d->base, on_overdue, L);
	if (L->retry == NULL || L->overdue == NULL) {
		if (L->retry != NULL)
			event_free(L->retry);
		if (L->overdue != NULL)
			event_free(L->overdue);
		pt_frame_reader_free(&L->rd);
		free(L);
		return pt_fail(err, "out of memory");
	}
	d->console = L;
	if (link_connect(L) < 0)
		link_schedule(L);
	return 0;
}

void
console_link_stop(pt_daemon *d)
{
	pt_console_link *L = d->console;
	if (L == NULL)
		return;
	link_close(L);
	pt_frame_reader_free(&L->rd);
	event_free(L->retry);
	event_free(L->overdue);
	free(L);
	d->console = NULL;
}

void
console_link_add(pt_daemon *d, pt_uk *uk)
{
	uk->console_refused = false;
	pt_console_link *L = d->console;
	bool acked = false;
	if (L != NULL && L->fd < 0 && !L->unresponsive) {
		/* Not connected: try now (a Unix connect never waits), so
		 * that a petrel-console started a moment ago gets this
		 * unikernel from its first line. Not after one failed to
		 * answer: then the planned retry re-adds what runs. */
		if (link_connect(L) < 0)
			link_schedule(L);
	}
	if (L != NULL && L->fd >= 0) {
		if (L->acked < L->seq || L->unresponsive) {
			/* Earlier adds are unanswered, or it failed to
			 * answer before: this one is sent but not waited
			 * for (a hung petrel-console must not stall each
			 * launch); its FIFO is drained until the answer
			 * comes. */
			if (send_add(L, uk) >= 0 &&
			    !evtimer_pending(L->overdue, NULL)) {
				struct timeval tv = {REPLY_TIMEOUT_MS / 1000,
				    0};
				evtimer_add(L->overdue, &tv);
			}
		} else {
			int64_t seq = L->seq + 1;
			add_and_wait(L, uk);
			acked = L->fd >= 0 && L->acked >= seq &&
			    !uk->console_refused;
		}
	}
	if (!acked)
		drain_start(d, uk);
}
