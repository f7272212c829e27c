/*
 * Connections on stat.sock (albatross-wire.md §8.3): `stats subscribe`
 * for a unikernel or a path, answered `string "subscribed"`; then every
 * round each monitored unikernel the name covers is sent as `data [1]
 * stats`, named relative to the subscriber's path.
 *
 * Where petrel differs from albatross (docs/compat.md): several
 * subscribers per name, up to --max-subscribers in all (albatross keeps
 * one per name and drops the previous); a subscriber whose queue exceeds
 * --subscriber-queue bytes is dropped rather than buffered without bound;
 * anything a subscriber sends ends its stream; `stats add` / `remove`
 * are accepted from petreld's link only.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "statsd.h"

#define SESSION_MAX_FRAME (64u * 1024)
/* Little kernel buffering, so that the queue bound is what counts. */
#define SESSION_SNDBUF (32 * 1024)

static void
session_free(st_session *s)
{
	st_daemon *d = s->d;
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		d->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	if (s->subscribed)
		d->nsubs--;
	pt_fconn_free(s->c);
	pt_server_conn_closed(d->server);
	free(s);
}

static void
answer(st_session *s, const pt_header *h, const char *ok, const char *fail)
{
	pt_wire w;
	if (fail == NULL)
		pt_wire_reply_string(&w, h, ok);
	else
		pt_wire_reply_failure(&w, h, fail);
	if (pt_fconn_send_wire(s->c, &w) < 0)
		pt_fconn_abort(s->c, "cannot queue the reply");
}

static void
handle(st_session *s, const pt_wire *w)
{
	st_daemon *d = s->d;
	if (w->kind != PT_PAYLOAD_COMMAND) {
		pt_fconn_abort(s->c, "a reply or data instead of a command");
		return;
	}
	const pt_command *c = &w->u.command;
	if (c->kind == PT_CMD_STATS_ADD || c->kind == PT_CMD_STATS_REMOVE ||
	    c->kind == PT_CMD_STATS_INITIAL) {
		answer(s, &w->header, NULL, "stats add, remove and initial "
		    "come from petreld's link only");
		pt_fconn_close_when_flushed(s->c);
		return;
	}
	if (c->kind != PT_CMD_STATS_SUBSCRIBE) {
		answer(s, &w->header, NULL, "unexpected command");
		pt_fconn_close_when_flushed(s->c);
		return;
	}
	if (d->nsubs >= d->o.max_subs) {
		char msg[100];
		snprintf(msg, sizeof(msg), "too many subscribers (at most "
		    "%zu)", d->o.max_subs);
		st_log(d, 0, "%s: refused a subscriber: %s",
		    w->header.name.text, msg);
		answer(s, &w->header, NULL, msg);
		pt_fconn_close_when_flushed(s->c);
		return;
	}
	s->subscribed = true;
	s->name = w->header.name;
	s->version = w->header.version;
	d->nsubs++;
	st_log(d, 1, "%s: subscriber (%zu in all)", s->name.text, d->nsubs);
	/* A producing stream, so that a subscriber that half-closes after
	 * its request (socat, nc -N) is still streamed to: the end of its
	 * input does not end the connection (fconn.h). The rounds feed it;
	 * it needs no hook. Set before the answer, which may free s. */
	static const pt_fconn_stream rounds = {0};
	pt_fconn_set_stream(s->c, &rounds);
	answer(s, &w->header, "subscribed", NULL);
}

static void
on_frame(pt_fconn *c, const uint8_t *body, size_t len, void *ctx)
{
	st_session *s = ctx;
	if (s->subscribed) {
		/* Anything from a subscriber ends its stream. */
		pt_fconn_close_when_flushed(c);
		return;
	}
	pt_arena a = {.limit = SESSION_MAX_FRAME * 8};
	pt_wire w;
	pt_err err = {{0}};
	if (pt_wire_decode(body, len, &a, &w, &err) < 0) {
		st_log(s->d, 0, "undecodable request: %s", err.msg);
		pt_fconn_abort(c, "undecodable request");
	} else {
		handle(s, &w);
	}
	pt_arena_free(&a);
}

static void
on_closed(pt_fconn *c, const char *why, void *ctx)
{
	(void)c;
	st_session *s = ctx;
	st_log(s->d, 2, "connection closed: %s", why);
	session_free(s);
}

static const pt_fconn_ops session_ops = {
	.frame = on_frame,
	.closed = on_closed,
};

void
st_accept(int fd, void *ctx)
{
	st_daemon *d = ctx;
	st_session *s = calloc(1, sizeof(*s));
	int sndbuf = SESSION_SNDBUF;
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	if (s != NULL)
		s->c = pt_fconn_new(d->base, fd, SESSION_MAX_FRAME,
		    d->o.sub_queue, &session_ops, s);
	if (s == NULL || s->c == NULL) {
		free(s);
		close(fd);
		pt_server_conn_closed(d->server);
		return;
	}
	s->d = d;
	s->next = d->sessions;
	if (d->sessions != NULL)
		d->sessions->prev = s;
	d->sessions = s;
}

void
st_subs_publish(st_daemon *d, const st_uk *u)
{
	pt_arena a = {0};
	pt_wire w = {.kind = PT_PAYLOAD_DATA};
	w.u.data.kind = PT_DATA_STATS;
	bool built = false;
	st_session *next;
	for (st_session *s = d->sessions; s != NULL; s = next) {
		next = s->next;
		if (!s->subscribed || pt_fconn_is_closed(s->c) ||
		    !pt_sm_covers(&s->name, &u->m.name))
			continue;
		if (!built) {
			if (pt_sm_to_stats(&u->m, &a, &w.u.data.u.stats) < 0)
				break;
			built = true;
		}
		w.header.version = s->version;
		w.header.sequence = 0;
		pt_name_drop_prefix(&s->name, &u->m.name, &w.header.name);
		if (pt_fconn_send_wire(s->c, &w) < 0) {
			d->subs_dropped++;
			st_log(d, 0, "%s: dropping a subscriber that does not "
			    "read (%zu bytes queued)", s->name.text,
			    pt_fconn_queued(s->c));
			pt_fconn_abort(s->c, "too slow");  /* frees s */
		}
	}
	pt_arena_free(&a);
}

/* A subscriber whose input ended and whose peer is gone altogether (a
 * Unix socket says POLLHUP once both directions are shut; a half-close
 * shuts one): nothing else would notice while no round covers it, and it
 * would hold its place among --max-subscribers for ever. */
static bool
peer_gone(const st_session *s)
{
	if (!pt_fconn_input_ended(s->c))
		return false;
	struct pollfd p = {.fd = pt_fconn_fd(s->c), .events = POLLOUT};
	return p.fd >= 0 && poll(&p, 1, 0) == 1 &&
	    (p.revents & (POLLHUP | POLLERR)) != 0;
}

void
st_subs_reap(st_daemon *d)
{
	st_session *next;
	for (st_session *s = d->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->subscribed && !pt_fconn_is_closed(s->c) && peer_gone(s))
			pt_fconn_abort(s->c, "the subscriber went away");
	}
}

void
st_sessions_free_all(st_daemon *d)
{
	while (d->sessions != NULL)
		session_free(d->sessions);
}
