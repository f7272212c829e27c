/*
 * The link to petreld (albatross-wire.md §8.3), as albatross-stats does
 * it: petrel-stats connects to <tmpdir>/util/vmmd.sock and sends `stats
 * initial` (name ":", sequence 0); petreld answers `empty` and from then
 * on uses this connection to send `stats add` (for every unikernel running
 * at that moment, then for every new one) and `stats remove`, each
 * answered `string "added"` / `"removed"` with its header.
 *
 * When the link goes (petreld restarted, or it dropped us), what was
 * monitored is forgotten - the next `initial` brings the running
 * unikernels back - and a timer reconnects with a capped backoff.
 * Subscribers stay connected meanwhile.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "statsd.h"

#define BACKOFF_FIRST_MS 200
#define BACKOFF_MAX_MS 5000
/* petreld's commands on the link are small (a name, a pid, some taps). */
#define LINK_MAX_FRAME (256u * 1024)
#define LINK_MAX_OUT (4u * 1024 * 1024)

struct st_link {
	st_daemon *d;
	pt_fconn *c;
	bool ready;             /* `initial` was answered */
	struct event *retry;
	int64_t backoff_ms;
	bool down_logged;
};

static void
schedule(st_link *L)
{
	if (evtimer_pending(L->retry, NULL))
		return;
	struct timeval tv = {(time_t)(L->backoff_ms / 1000),
	    (suseconds_t)(L->backoff_ms % 1000) * 1000};
	evtimer_add(L->retry, &tv);
	L->backoff_ms = L->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
	    L->backoff_ms * 2;
}

static void
lost(st_link *L, const char *why)
{
	if (L->c != NULL) {
		st_log(L->d, 0, "link to petreld lost (%s); forgetting %zu "
		    "unikernels until it is back", why, L->d->nuks);
		pt_fconn_free(L->c);
		L->c = NULL;
	}
	L->ready = false;
	st_uk_remove_all(L->d);
	schedule(L);
}

static void
reply(st_link *L, const pt_header *h, const char *ok, const char *fail)
{
	pt_wire w;
	if (fail == NULL)
		pt_wire_reply_string(&w, h, ok);
	else
		pt_wire_reply_failure(&w, h, fail);
	if (pt_fconn_send_wire(L->c, &w) < 0)
		lost(L, "petreld does not read our replies");
}

static void
handle(st_link *L, const pt_wire *w)
{
	st_daemon *d = L->d;
	if (!L->ready) {
		if (w->kind == PT_PAYLOAD_SUCCESS &&
		    w->u.success.kind == PT_OK_EMPTY &&
		    w->header.sequence == 0) {
			L->ready = true;
			L->backoff_ms = BACKOFF_FIRST_MS;
			L->down_logged = false;
			st_log(d, 0, "linked to petreld on %s", d->vmmd_sock);
			return;
		}
		if (w->kind == PT_PAYLOAD_FAILURE) {
			st_log(d, 0, "petreld refused stats initial: %.*s",
			    (int)w->u.failure.len, w->u.failure.s);
			/* Not worth hammering: wait the longest. */
			L->backoff_ms = BACKOFF_MAX_MS;
		}
		lost(L, "unexpected answer to stats initial");
		return;
	}
	if (w->kind != PT_PAYLOAD_COMMAND) {
		lost(L, "petreld sent a reply where a command was expected");
		return;
	}
	const pt_command *c = &w->u.command;
	pt_err err = {{0}};
	if (c->kind == PT_CMD_STATS_ADD) {
		if (st_uk_add(d, &w->header.name, &c->u.stats_add, &err) < 0) {
			st_log(d, 0, "%s: not monitored: %s",
			    w->header.name.text, err.msg);
			reply(L, &w->header, NULL, err.msg);
		} else {
			reply(L, &w->header, "added", NULL);
		}
	} else if (c->kind == PT_CMD_STATS_REMOVE) {
		st_uk_remove(d, &w->header.name);
		reply(L, &w->header, "removed", NULL);
	} else {
		reply(L, &w->header, NULL, "unexpected command");
	}
}

static void
on_frame(pt_fconn *c, const uint8_t *body, size_t len, void *ctx)
{
	(void)c;
	st_link *L = ctx;
	pt_arena a = {.limit = LINK_MAX_FRAME * 8};
	pt_wire w;
	pt_err err = {{0}};
	if (pt_wire_decode(body, len, &a, &w, &err) < 0) {
		char why[300];
		snprintf(why, sizeof(why), "undecodable message: %s", err.msg);
		lost(L, why);
	} else {
		handle(L, &w);
	}
	pt_arena_free(&a);
}

static void
on_closed(pt_fconn *c, const char *why, void *ctx)
{
	(void)c;
	lost(ctx, why);
}

static const pt_fconn_ops link_ops = {
	.frame = on_frame,
	.closed = on_closed,
};

static int
connect_now(st_link *L)
{
	st_daemon *d = L->d;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(d->vmmd_sock) >= sizeof(sa.sun_path))
		return -1;
	strcpy(sa.sun_path, d->vmmd_sock);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (fd < 0)
		return -1;
	/* A Unix connect succeeds or fails at once. */
	if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (!L->down_logged)
			st_log(d, 0, "petreld not reachable on %s (%s); "
			    "retrying", d->vmmd_sock, strerror(errno));
		L->down_logged = true;
		close(fd);
		return -1;
	}
	L->c = pt_fconn_new(d->base, fd, LINK_MAX_FRAME, LINK_MAX_OUT,
	    &link_ops, L);
	if (L->c == NULL) {
		close(fd);
		return -1;
	}
	pt_wire w = {.kind = PT_PAYLOAD_COMMAND};
	pt_name root;
	pt_name_root(&root);
	pt_header_init(&w.header, 0, &root);
	w.u.command.kind = PT_CMD_STATS_INITIAL;
	if (pt_fconn_send_wire(L->c, &w) < 0) {
		pt_fconn_free(L->c);
		L->c = NULL;
		return -1;
	}
	return 0;
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	st_link *L = arg;
	if (L->c == NULL && connect_now(L) < 0)
		schedule(L);
}

int
st_link_start(st_daemon *d, pt_err *err)
{
	st_link *L = calloc(1, sizeof(*L));
	if (L == NULL)
		return pt_fail(err, "out of memory");
	L->d = d;
	L->backoff_ms = BACKOFF_FIRST_MS;
	L->retry = evtimer_new(d->base, on_retry, L);
	if (L->retry == NULL) {
		free(L);
		return pt_fail(err, "out of memory");
	}
	d->link = L;
	if (connect_now(L) < 0)
		schedule(L);
	return 0;
}

void
st_link_stop(st_daemon *d)
{
	st_link *L = d->link;
	if (L == NULL)
		return;
	if (L->c != NULL)
		pt_fconn_free(L->c);
	event_free(L->retry);
	free(L);
	d->link = NULL;
}
