/*
 * petreld's side of petrel-stats (albatross-wire.md §8.3), as albatross's
 * vmmd does it: petrel-stats connects to vmmd.sock and sends `stats
 * initial`; petreld answers `empty` with that header, and keeps that
 * connection as the stats link: `stats add` for every running unikernel at
 * once, then one for every launch and a `stats remove` for every exit,
 * each with the unikernel's full name and sequence = the stats counter
 * (the initial's sequence + 1, then counting up). petrel-stats answers
 * each with `string "added"` / `"removed"`; the answers are read and only
 * failures logged, never awaited.
 *
 * A new `initial` replaces the link (the old connection is closed, as
 * albatross does). Without a link petreld just does not send: a restarted
 * petrel-stats reconnects by itself and gets every running unikernel with
 * its `initial`. A link that does not read is dropped: past LINK_MAX_OUT
 * queued bytes at once, else by the connection's write timeout.
 */
#include <stdlib.h>
#include <string.h>

#include "petreld.h"

#define LINK_MAX_OUT (4u * 1024 * 1024)
#define REPLY_ARENA (256u * 1024)

struct pt_stats_link {
	pt_daemon *d;
	pt_conn *c;
	int64_t seq;               /* the next sequence to send */
};

static void
send_cmd(pt_stats_link *L, const pt_uk *uk, bool add)
{
	pt_wire w = {.kind = PT_PAYLOAD_COMMAND};
	pt_header_init(&w.header, L->seq++, &uk->name);
	pt_stats_net nets[64];
	if (add) {
		w.u.command.kind = PT_CMD_STATS_ADD;
		pt_stats_add *a = &w.u.command.u.stats_add;
		/* vmmdev: the bhyve VM's name on FreeBSD, empty on Linux. */
		a->vmmdev.s = "";
		a->pid = uk->pid;
		a->nets = nets;
		for (size_t i = 0; i < uk->ntaps && i < uk->cfg.nnets &&
		    i < sizeof(nets) / sizeof(nets[0]); i++) {
			nets[i].name = uk->cfg.nets[i].name;
			nets[i].tap.s = uk->taps[i];
			nets[i].tap.len = strlen(uk->taps[i]);
			a->nnets++;
		}
	} else {
		w.u.command.kind = PT_CMD_STATS_REMOVE;
	}
	pt_conn *c = L->c;
	conn_grab(c);
	conn_send_wire(c, &w);
	if (!conn_dead(c) && conn_out_pending(c) > LINK_MAX_OUT) {
		log_warn("petrel-stats does not read its link (%zu bytes "
		    "queued): dropping it", conn_out_pending(c));
		conn_abort(c);
	}
	conn_drop(c);
}

static int
on_frame(pt_conn *c, const uint8_t *p, size_t n, bool end)
{
	if (end) {
		conn_finish(c, false);
		return 0;
	}
	pt_arena a = {.limit = REPLY_ARENA};
	pt_wire w;
	pt_err err = {{0}};
	if (pt_wire_decode(p, n, &a, &w, &err) < 0)
		log_warn("petrel-stats: undecodable answer: %s", err.msg);
	else if (w.kind == PT_PAYLOAD_FAILURE)
		log_warn("%s: petrel-stats refused it: %.*s",
		    w.header.name.text, (int)w.u.failure.len, w.u.failure.s);
	pt_arena_free(&a);
	return 0;
}

static void
on_close(pt_conn *c)
{
	pt_stats_link *L = c->stream.ctx;
	if (L->d->stats == L)
		L->d->stats = NULL;
	log_info("petrel-stats link closed");
	free(L);
}

void
stats_link_initial(pt_conn *c, const pt_header *h)
{
	pt_daemon *d = c->d;
	pt_stats_link *L = calloc(1, sizeof(*L));
	if (L == NULL) {
		conn_refuse(c, h, "stats initial: out of memory");
		conn_finish(c, false);
		return;
	}
	if (d->stats != NULL) {
		log_info("a new petrel-stats link replaces the old one");
		pt_stats_link *old = d->stats;
		d->stats = NULL;
		conn_abort(old->c);
	}
	L->d = d;
	L->c = c;
	L->seq = h->sequence + 1;
	pt_success ok = {.kind = PT_OK_EMPTY};
	conn_reply(c, h, &ok);
	pt_stream st = {
		.on_frame = on_frame,
		.on_close = on_close,
		.ctx = L,
	};
	conn_set_stream(c, &st);  /* on a dead connection: L is freed */
	if (conn_dead(c))
		return;
	/* The link reads petrel-stats's answers, so it would count as idle
	 * between launches: it never is. */
	pt_fconn_set_idle_timeout(c->f, 0);
	d->stats = L;
	log_info("petrel-stats linked");
	for (pt_uk *uk = d->uks; uk != NULL && d->stats == L; uk = uk->next)
		if (uk_has_process(uk))
			send_cmd(L, uk, true);
}

void
stats_link_add(pt_daemon *d, const pt_uk *uk)
{
	if (d->stats != NULL)
		send_cmd(d->stats, uk, true);
}

void
stats_link_remove(pt_daemon *d, const pt_uk *uk)
{
	if (d->stats != NULL)
		send_cmd(d->stats, uk, false);
}
