/*
 * One client connection of petrel-console (albatross-wire.md §8.3):
 *  - `add n` (from petreld): reply empty, the connection stays open for
 *    more;
 *  - `subscribe`: reply "subscribed" or "waiting for VM", then history and
 *    live lines until either side closes (anything the client sends ends
 *    it; its half-close does not);
 *  - `list-inactive`: reply the inactive consoles below a path, close;
 *  - anything else: close without a reply, as albatross does.
 *
 * Slots are limited: a connection that has neither subscribed nor added a
 * console (and is not petreld's) is closed after idle_timeout_ms without a
 * command, and any connection whose output waits write_timeout_ms without
 * the peer taking some is closed. A client that pipelines commands and
 * does not read is not read from either until it does (src/daemon/fconn.h).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "console.h"

typedef struct session session;
struct session {
	session *prev, *next;   /* every open session, for the exit */
	pt_console_daemon *d;
	pt_fconn *conn;
	bool subscribed;
	pt_console_sub sub;
	bool control;           /* petreld's link: it sent `add`, or is it */
};

static void
session_end(session *s)
{
	if (s->subscribed)
		pt_console_unsubscribe(s->d, &s->sub);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		s->d->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	pt_fconn_free(s->conn);
	pt_server_conn_closed(s->d->server);
	free(s);
}

/* The idle timeout is for clients: petreld's link may have nothing to
 * add for hours (no unikernel), and albatross's protocol gives it no way
 * to say who it is. A root peer whose name is petreld is taken for it. */
static bool
peer_is_petreld(int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0 ||
	    cr.uid != 0 || cr.pid <= 0)
		return false;
	char path[64], comm[32];
	snprintf(path, sizeof(path), "/proc/%ld/comm", (long)cr.pid);
	int cfd = open(path, O_RDONLY | O_CLOEXEC);
	if (cfd < 0)
		return false;
	ssize_t n = read(cfd, comm, sizeof(comm) - 1);
	close(cfd);
	if (n <= 0)
		return false;
	comm[n] = '\0';
	comm[strcspn(comm, "\n")] = '\0';
	return strcmp(comm, "petreld") == 0;
}

/* A command arrived: the idle clock (restarted by the connection on
 * input) stops for good once the connection is petreld's or a
 * subscriber's. */
static void
idle_after_command(session *s, pt_cmd_kind kind)
{
	if (kind == PT_CMD_CONSOLE_ADD)
		s->control = true;
	if (s->control || kind == PT_CMD_CONSOLE_SUBSCRIBE)
		pt_fconn_set_idle_timeout(s->conn, 0);
}

static void
reply(session *s, const pt_header *h, const pt_wire *body)
{
	pt_wire w = *body;
	w.header = *h;
	if (pt_fconn_send_wire(s->conn, &w) < 0)
		pt_fconn_close_when_flushed(s->conn);
}

static void
reply_failure(session *s, const pt_header *h, const char *msg)
{
	pt_wire w;
	pt_wire_reply_failure(&w, h, msg);
	reply(s, h, &w);
	pt_fconn_close_when_flushed(s->conn);
}

static void
reply_string(session *s, const pt_header *h, const char *msg)
{
	pt_wire w;
	pt_wire_reply_string(&w, h, msg);
	reply(s, h, &w);
}

static void
do_add(session *s, const pt_header *h, int64_t n)
{
	pt_err err;
	if (pt_console_add(s->d, &h->name, n, &err) < 0) {
		pt_console_log(s->d, 0, "add %s: %s", h->name.text, err.msg);
		reply_failure(s, h, err.msg);
		return;
	}
	pt_wire w;
	memset(&w, 0, sizeof(w));
	w.kind = PT_PAYLOAD_SUCCESS;
	w.u.success.kind = PT_OK_EMPTY;
	reply(s, h, &w);
}

static void
do_subscribe(session *s, const pt_header *h, const pt_subscribe *how)
{
	pt_err err;
	if (!h->name.has_label) {
		reply_failure(s, h, "path used instead of name");
		return;
	}
	if (how->by_count && how->count <= 0) {
		/* albatross would answer nothing for these; a clear
		 * refusal is kinder than an empty history. */
		reply_failure(s, h, "count must be positive");
		return;
	}
	s->sub.conn = s->conn;
	s->sub.version = h->version;
	pt_console *c = pt_console_subscribe(s->d, &h->name, &s->sub, &err);
	if (c == NULL) {
		reply_failure(s, h, err.msg);
		return;
	}
	s->subscribed = true;
	/* An open-ended stream: the peer's half-close does not end it, a
	 * frame from the peer does (on_frame). */
	static const pt_fconn_stream live = {0};
	pt_fconn_set_stream(s->conn, &live);
	reply_string(s, h, c->has_ring ? "subscribed" : "waiting for VM");
	if (pt_console_send_history(&s->sub, how) < 0)
		pt_fconn_close_when_flushed(s->conn);
}

typedef struct {
	pt_name v[1024];
	size_t n;
} name_list;

static void
do_list_inactive(session *s, const pt_header *h)
{
	if (h->name.has_label) {
		reply_failure(s, h, "name used");
		return;
	}
	/* Heap: a list of names is large for the stack. */
	name_list *l = calloc(1, sizeof(*l));
	if (l == NULL) {
		reply_failure(s, h, "out of memory");
		return;
	}
	for (pt_console *c = s->d->consoles; c != NULL; c = c->next) {
		if (!c->has_ring || c->active || l->n == 1024 ||
		    !pt_name_is_prefix(&h->name, &c->name))
			continue;
		if (pt_name_drop_prefix(&h->name, &c->name, &l->v[l->n]) == 0)
			l->n++;
	}
	pt_wire w;
	memset(&w, 0, sizeof(w));
	w.kind = PT_PAYLOAD_SUCCESS;
	w.u.success.kind = PT_OK_CONSOLES;
	w.u.success.u.consoles.n = l->n;
	w.u.success.u.consoles.v = l->v;
	reply(s, h, &w);
	free(l);
	pt_fconn_close_when_flushed(s->conn);
}

static void
do_command(session *s, const pt_header *h, const pt_command *cmd)
{
	if (cmd->kind == PT_CMD_CONSOLE_ADD) {
		do_add(s, h, cmd->u.count);
	} else if (cmd->kind == PT_CMD_CONSOLE_SUBSCRIBE) {
		do_subscribe(s, h, &cmd->u.subscribe);
	} else if (cmd->kind == PT_CMD_CONSOLE_LIST_INACTIVE) {
		do_list_inactive(s, h);
	} else {
		pt_console_log(s->d, 0, "unexpected command %s",
		    pt_cmd_kind_name(cmd->kind));
		pt_fconn_close_when_flushed(s->conn);
	}
}

static void
on_frame(pt_fconn *conn, const uint8_t *body, size_t len, void *ctx)
{
	(void)conn;
	session *s = ctx;
	if (s->subscribed) {
		/* A subscriber that speaks wants the stream to end. */
		pt_fconn_close_when_flushed(s->conn);
		return;
	}
	pt_arena a = {.limit = 1u << 20};
	pt_wire w;
	pt_err err;
	if (pt_wire_decode(body, len, &a, &w, &err) < 0) {
		pt_console_log(s->d, 0, "undecodable message: %s", err.msg);
		pt_fconn_close_when_flushed(s->conn);
	} else if (w.kind != PT_PAYLOAD_COMMAND) {
		pt_console_log(s->d, 0, "unexpected message, not a command");
		pt_fconn_close_when_flushed(s->conn);
	} else {
		/* Before the command, which may end s. */
		idle_after_command(s, w.u.command.kind);
		do_command(s, &w.header, &w.u.command);
	}
	pt_arena_free(&a);
}

static void
on_closed(pt_fconn *conn, const char *why, void *ctx)
{
	session *s = ctx;
	pt_fconn_reason r = pt_fconn_close_reason(conn);
	if (r == PT_FCONN_IDLE)
		pt_console_log(s->d, 1, "closing a connection without a "
		    "command for %lld ms", (long long)s->d->idle_timeout_ms);
	else if (r == PT_FCONN_WRITE_TIMEOUT)
		pt_console_log(s->d, 0, "closing a connection that %s", why);
	else
		pt_console_log(s->d, 2, "connection closed: %s", why);
	session_end(s);
}

static const pt_fconn_ops session_ops = {
	.frame = on_frame,
	.end = NULL,  /* a half-close */
	.closed = on_closed,
};

void
pt_console_accept(int fd, void *ctx)
{
	pt_console_daemon *d = ctx;
	session *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		close(fd);
		pt_server_conn_closed(d->server);
		return;
	}
	s->d = d;
	s->control = peer_is_petreld(fd);
	pt_fconn_params p = {
		.max_frame = d->max_frame,
		/* Live lines are pushed, not asked for: a subscriber that
		 * lags more is dropped (registry.c). */
		.max_out = PT_CONSOLE_SUB_MAX_OUT,
		.idle_ms = s->control ? 0 : d->idle_timeout_ms,
		.write_timeout_ms = d->write_timeout_ms,
	};
	s->conn = pt_fconn_open(d->base, fd, NULL, NULL, &p, &session_ops, s);
	if (s->conn == NULL) {  /* fd closed */
		free(s);
		pt_server_conn_closed(d->server);
		return;
	}
	s->next = d->sessions;
	if (s->next != NULL)
		s->next->prev = s;
	d->sessions = s;
}

void
pt_console_sessions_free_all(pt_console_daemon *d)
{
	while (d->sessions != NULL)
		session_end(d->sessions);
}
