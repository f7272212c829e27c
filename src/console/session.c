/*
 * One client connection of petrel-console (albatross-wire.md §8.3):
 *  - `add n` (from petreld): reply empty, the connection stays open for
 *    more;
 *  - `subscribe`: reply "subscribed" or "waiting for VM", then history and
 *    live lines until either side closes (anything the client sends ends
 *    it);
 *  - `list-inactive`: reply the inactive consoles below a path, close;
 *  - anything else: close without a reply, as albatross does.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "console.h"

typedef struct session session;
struct session {
	session *prev, *next;   /* every open session, for the exit */
	pt_console_daemon *d;
	pt_fconn *conn;
	bool subscribed;
	pt_console_sub sub;
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
	memset(&w, 0, sizeof(w));
	w.kind = PT_PAYLOAD_FAILURE;
	w.u.failure.s = msg;
	w.u.failure.len = strlen(msg);
	reply(s, h, &w);
	pt_fconn_close_when_flushed(s->conn);
}

static void
reply_string(session *s, const pt_header *h, const char *msg)
{
	pt_wire w;
	memset(&w, 0, sizeof(w));
	w.kind = PT_PAYLOAD_SUCCESS;
	w.u.success.kind = PT_OK_STRING;
	w.u.success.u.string.s = msg;
	w.u.success.u.string.len = strlen(msg);
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
	} else if (w.u.command.kind == PT_CMD_CONSOLE_ADD) {
		do_add(s, &w.header, w.u.command.u.count);
	} else if (w.u.command.kind == PT_CMD_CONSOLE_SUBSCRIBE) {
		do_subscribe(s, &w.header, &w.u.command.u.subscribe);
	} else if (w.u.command.kind == PT_CMD_CONSOLE_LIST_INACTIVE) {
		do_list_inactive(s, &w.header);
	} else {
		pt_console_log(s->d, 0, "unexpected command %s",
		    pt_cmd_kind_name(w.u.command.kind));
		pt_fconn_close_when_flushed(s->conn);
	}
	pt_arena_free(&a);
}

static void
on_closed(pt_fconn *conn, const char *why, void *ctx)
{
	(void)conn;
	session *s = ctx;
	pt_console_log(s->d, 2, "connection closed: %s", why);
	session_end(s);
}

static const pt_fconn_ops session_ops = {
	.frame = on_frame,
	.end = NULL,
	.closed = on_closed,
};

void
pt_console_accept(int fd, void *ctx)
{
	pt_console_daemon *d = ctx;
	session *s = calloc(1, sizeof(*s));
	if (s != NULL) {
		s->d = d;
		s->conn = pt_fconn_new(d->base, fd, d->max_frame,
		    PT_CONSOLE_SUB_MAX_OUT, &session_ops, s);
	}
	if (s == NULL || s->conn == NULL) {
		free(s);
		close(fd);
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
