/*
 * The unikernel commands: create, force-create, destroy, restart.
 *
 * Force-create and restart are one transaction: the new unikernel is
 * checked and staged completely (uk_prepare, as if the old one were gone)
 * before the old one is stopped; then the new one is launched, and if that
 * fails the old one is started again and the reply names both outcomes.
 * If the old one cannot start either (its bridge vanished meanwhile), it
 * is kept, image and state entry intact, and retried with the restart
 * backoff, as a unikernel that cannot start when petreld starts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "petreld.h"

typedef struct {
	pt_conn *c;
	pt_header h;
	pt_uk *next;       /* the replacement, not registered yet */
	pt_uk_prep prep;
} replace_ctx;

typedef struct {
	pt_conn *c;
	pt_header h;
} destroy_ctx;

typedef struct {
	pt_conn *c;
	pt_header h;
	char msg[600];
} undo_ctx;

static void
reply_and_close(pt_conn *c, const pt_header *h, const char *text)
{
	conn_reply_string(c, h, text);
	conn_finish(c, false);
}

/* A refused command: the reply, the event, the end of the conversation. */
static void
fail_and_close(pt_conn *c, const pt_header *h, const char *msg)
{
	conn_refuse(c, h, "%s", msg);
	conn_finish(c, false);
}

/* The old unikernel is gone (or was not running): launch its successor. */
static void
replace_gone(pt_daemon *d, pt_uk *old, void *arg)
{
	replace_ctx *x = arg;
	pt_err err = {{0}}, err2 = {{0}};
	if (d->shutting_down) {
		/* The old configuration stays in the state. */
		uk_prep_discard(&x->prep);
		uk_free(d, x->next);
		fail_and_close(x->c, &x->h, "petreld is shutting down; the "
		    "previous unikernel is kept and comes back on the next "
		    "start");
	} else if (uk_launch(d, x->next, &x->prep, &err) == 0) {
		uk_free(d, old);  /* its stored image was replaced at launch */
		uk_register(d, x->next);
		if (persist_save_err(d, &err) == 0) {
			reply_and_close(x->c, &x->h, "created unikernel");
		} else {
			/* No way back: the previous image is replaced. Say
			 * what runs, and what a restart of petreld loses. */
			char msg[700];
			snprintf(msg, sizeof(msg), "the new unikernel runs, "
			    "but %s: after a restart petreld would not know "
			    "it", err.msg);
			fail_and_close(x->c, &x->h, msg);
		}
	} else {
		uk_free(d, x->next);
		char msg[900];
		if (uk_start_stored(d, old, &err2) == 0) {
			snprintf(msg, sizeof(msg), "%s; the previous unikernel "
			    "was started again", err.msg);
		} else {
			/* Its image and state entry are intact (the new
			 * image replaces the stored one only once the new
			 * tender runs): it waits, as after a failed start,
			 * rather than being deleted by a passing failure. */
			int64_t delay = uk_retry_later(d, old, err2.msg);
			snprintf(msg, sizeof(msg), "%s; starting the previous "
			    "unikernel again failed too: %s; it is kept and "
			    "tried again in %lld ms (with the restart "
			    "backoff, until it starts or is destroyed)",
			    err.msg, err2.msg, (long long)delay);
		}
		fail_and_close(x->c, &x->h, msg);
	}
	pt_conn *c = x->c;
	free(x);
	conn_release(c);
}

static void
replace(pt_conn *c, const pt_header *h, pt_uk *old, pt_uk *next,
    pt_uk_prep *p)
{
	replace_ctx *x = calloc(1, sizeof(*x));
	if (x == NULL) {
		uk_prep_discard(p);
		uk_free(c->d, next);
		fail_and_close(c, h, "out of memory");
		return;
	}
	x->c = c;
	x->h = *h;
	x->next = next;
	x->prep = *p;
	conn_hold(c);
	uk_stop(c->d, old, replace_gone, x);
}

static void
create_undone(pt_daemon *d, pt_uk *uk, void *arg)
{
	undo_ctx *x = arg;
	uk_forget(d, uk);
	fail_and_close(x->c, &x->h, x->msg);
	pt_conn *c = x->c;
	free(x);
	conn_release(c);
}

/* A created unikernel whose state could not be written: it would be
 * unknown after a restart of petreld, so it does not stay. Stopped, then
 * forgotten, then the failure is the reply. */
static void
undo_create(pt_conn *c, const pt_header *h, pt_uk *uk, const char *why)
{
	undo_ctx *x = calloc(1, sizeof(*x));
	if (x == NULL) {
		/* It runs and stays; the reply says the state is stale. */
		fail_and_close(c, h, "out of memory after a failed state "
		    "write: the unikernel runs, but after a restart petreld "
		    "would not know it");
		return;
	}
	x->c = c;
	x->h = *h;
	snprintf(x->msg, sizeof(x->msg), "could not create unikernel: %s "
	    "(it was stopped again)", why);
	conn_hold(c);
	uk_stop(c->d, uk, create_undone, x);
}

void
uk_cmd_create(pt_conn *c, const pt_header *h, const pt_ukconfig *cfg,
    bool force)
{
	pt_daemon *d = c->d;
	const pt_name *name = &h->name;
	pt_err err = {{0}};
	if (cfg->image.len == 0) {
		uk_cmd_create_stream(c, h, cfg, force);
		return;
	}
	pt_uk *old = uk_find(d, name);
	if (old != NULL && !force) {
		fail_and_close(c, h,
		    "Unikernel with same name is already running");
		return;
	}
	if (old != NULL && old->state == UK_STOPPING) {
		fail_and_close(c, h, "the unikernel is being stopped; try "
		    "again once it is gone");
		return;
	}
	pt_uk_prep p;
	if (uk_prepare(d, name, cfg, &cfg->image, old ? name : NULL, &p,
	    &err) < 0) {
		if (old != NULL)
			conn_refuse(c, h, "%s (the previous unikernel "
			    "was not touched and keeps running)", err.msg);
		else
			conn_refuse(c, h, "%s", err.msg);
		conn_finish(c, false);
		return;
	}
	uk_create_prepared(c, h, cfg, force, old, &p);
}

void
uk_create_prepared(pt_conn *c, const pt_header *h, const pt_ukconfig *cfg,
    bool force, pt_uk *old, pt_uk_prep *prep)
{
	pt_daemon *d = c->d;
	const pt_name *name = &h->name;
	pt_err err = {{0}};
	pt_uk_prep p = *prep;
	pt_uk *uk = uk_new(d, name, cfg);
	if (uk == NULL) {
		uk_prep_discard(&p);
		fail_and_close(c, h, "out of memory");
		return;
	}
	uk_set_launch_event(uk, force ? PT_EV_FORCE_CREATED : PT_EV_CREATED);
	if (old != NULL) {
		replace(c, h, old, uk, &p);
		return;
	}
	if (uk_launch(d, uk, &p, &err) < 0) {
		uk_free(d, uk);
		fail_and_close(c, h, err.msg);
		return;
	}
	uk_register(d, uk);
	/* "created" only once the state holding it is durable. */
	if (persist_save_err(d, &err) < 0) {
		undo_create(c, h, uk, err.msg);
		return;
	}
	reply_and_close(c, h, "created unikernel");
}

/* The unikernel is stopped and gone from memory; the reply says whether
 * the state on disk knows. If not, its image stays and the write is
 * retried: until one succeeds, a restart of petreld brings it back. */
static void
destroy_forget(pt_conn *c, const pt_header *h, pt_uk *uk, const char *ok)
{
	pt_daemon *d = c->d;
	pt_err err = {{0}};
	ev_name(d, PT_EV_DESTROYED, &uk->name);
	if (uk_forget_err(d, uk, &err) == 0) {
		reply_and_close(c, h, ok);
		return;
	}
	conn_reply_failure(c, h, "the unikernel was stopped, but %s; petreld "
	    "keeps its image and tries the write again: until a write "
	    "succeeds, a restart of petreld brings the unikernel back",
	    err.msg);
	conn_finish(c, false);
}

static void
destroy_gone(pt_daemon *d, pt_uk *uk, void *arg)
{
	destroy_ctx *x = arg;
	(void)d;
	log_info("%s: destroyed", uk->name.text);
	destroy_forget(x->c, &x->h, uk, "destroyed unikernel");
	pt_conn *c = x->c;
	free(x);
	conn_release(c);
}

void
uk_cmd_destroy(pt_conn *c, const pt_header *h)
{
	pt_daemon *d = c->d;
	pt_uk *uk = h->name.has_label ? uk_find(d, &h->name) : NULL;
	if (uk == NULL) {
		fail_and_close(c, h, "destroy: not found");
		return;
	}
	switch (uk->state) {
	case UK_BACKOFF:
		uk_cancel_backoff(uk);
		log_info("%s: destroyed while waiting for its restart",
		    uk->name.text);
		destroy_forget(c, h, uk, "destroyed: removed from restarting");
		return;
	case UK_STOPPING:
		fail_and_close(c, h, "destroy: the unikernel is already being "
		    "stopped");
		return;
	case UK_STOPPED:
		destroy_forget(c, h, uk, "destroyed unikernel");
		return;
	case UK_RUNNING:
		break;
	}
	destroy_ctx *x = calloc(1, sizeof(*x));
	if (x == NULL) {
		fail_and_close(c, h, "out of memory");
		return;
	}
	x->c = c;
	x->h = *h;
	conn_hold(c);
	uk_stop(d, uk, destroy_gone, x);
}

void
uk_cmd_restart(pt_conn *c, const pt_header *h, const pt_restart *r)
{
	pt_daemon *d = c->d;
	pt_uk *old = h->name.has_label ? uk_find(d, &h->name) : NULL;
	pt_err err = {{0}};
	/* albatross-wire.md §8.2 and albatross itself: a restart of a
	 * unikernel that does not run has the outcomes of destroy, "destroy:
	 * not found", or "destroyed: removed from restarting" for one waiting
	 * for its restart (which is then removed). */
	if (old == NULL || old->state == UK_BACKOFF) {
		uk_cmd_destroy(c, h);
		return;
	}
	if (old->state == UK_STOPPING) {
		fail_and_close(c, h, "restart: the unikernel is being stopped");
		return;
	}
	pt_arena a = {0};
	pt_ukconfig cfg = old->cfg;
	if (r->has_args &&
	    ukcfg_apply_restart(&a, &old->cfg, &r->args, &cfg) < 0) {
		pt_arena_free(&a);
		fail_and_close(c, h, "out of memory");
		return;
	}
	pt_uk_prep p;
	pt_uk *next = NULL;
	if (uk_prepare(d, &h->name, &cfg, NULL, &h->name, &p, &err) < 0) {
		conn_refuse(c, h, "restart: %s (the unikernel was not "
		    "touched)", err.msg);
		conn_finish(c, false);
	} else if ((next = uk_new(d, &h->name, &cfg)) == NULL) {
		uk_prep_discard(&p);
		fail_and_close(c, h, "out of memory");
	} else {
		uk_set_launch_event(next, PT_EV_RESTARTED);
		replace(c, h, old, next, &p);
	}
	pt_arena_free(&a);
}
