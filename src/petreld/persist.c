/*
 * The state file (albatross-wire.md §10) and the stored images.
 *
 * petreld writes State choice [6] like albatross, but the unikernel
 * configurations in it carry an EMPTY image: the images live next to it in
 * <dbdir>/images/<name>.img, exactly as received (the config's compressed
 * flag says how). This keeps the state small, so it can be rewritten after
 * every change without copying gigabytes. See docs/state.md.
 *
 * albatross state files (choices [0]-[6], images inside) are read as well:
 * their images are moved to the image directory on the first start. An
 * image that cannot be stored yet (a full disk) stays inline in every
 * state written until it is: a passing failure never drops an entry.
 *
 * A failed write is logged, reported by the caller, and tried again on a
 * timer until one succeeds: memory may be ahead of the disk for a while,
 * never the other way round, and nothing the disk's state still names is
 * deleted meanwhile (persist_images.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "fsutil.h"
#include "image.h"
#include "petreld.h"

/* An albatross state carries every image inline. */
#define STATE_MAX_BYTES ((size_t)2 << 30)

int
persist_image_path(pt_daemon *d, const pt_name *name, const char *suffix,
    char *out, size_t cap, pt_err *err)
{
	return pt_name_to_file(d->image_dir, name, suffix, out, cap, err);
}

typedef struct {
	pt_daemon *d;
	pt_arena *a;
	size_t n, cap;
	pt_named_policy *v;
	bool oom;
} policy_acc;

static int
collect_policy(const pt_name *path, const pt_policy *p, void *ctx)
{
	policy_acc *acc = ctx;
	/* The root policy is the host's unless an operator narrowed it: the
	 * host's free disk space changes, a stale copy would constrain. */
	if (pt_name_is_root(path) && !acc->d->root_by_operator)
		return 0;
	if (acc->n == acc->cap) {
		size_t cap = acc->cap ? acc->cap * 2 : 16;
		pt_named_policy *v = pt_arena_calloc(acc->a, cap, sizeof(*v));
		if (v == NULL) {
			acc->oom = true;
			return 1;
		}
		if (acc->n > 0)
			memcpy(v, acc->v, acc->n * sizeof(*v));
		acc->v = v;
		acc->cap = cap;
	}
	acc->v[acc->n].name = *path;
	/* Checked narrowed to the host, written as the operator set it. */
	acc->v[acc->n].policy = pt_name_is_root(path) &&
	    acc->d->root_stored != NULL ? *acc->d->root_stored : *p;
	acc->n++;
	return 0;
}

static int
build_state(pt_daemon *d, pt_arena *a, pt_state *st)
{
	memset(st, 0, sizeof(*st));
	st->choice = 6;
	st->unikernels = pt_arena_calloc(a, d->nuks ? d->nuks : 1,
	    sizeof(*st->unikernels));
	if (st->unikernels == NULL)
		return -1;
	for (pt_uk *uk = d->uks; uk != NULL; uk = uk->next) {
		pt_state_uk *e = &st->unikernels[st->nunikernels++];
		e->name = uk->name;
		e->config = uk->cfg;  /* image empty: it is stored apart */
		if (uk->inline_image != NULL) {
			/* Not stored yet: the state is its only copy. */
			e->config.image.data = uk->inline_image;
			e->config.image.len = uk->inline_image_len;
		}
	}
	pt_name root;
	pt_name_root(&root);
	policy_acc acc = {.d = d, .a = a};
	pt_res_foreach_policy(d->res, &root, collect_policy, &acc);
	if (acc.oom)
		return -1;
	st->npolicies = acc.n;
	st->policies = acc.v;
	return 0;
}

static void on_retry(evutil_socket_t fd, short what, void *arg);

/* The disk is behind memory: write again later, with the restart
 * backoff (a full disk is not freed in a hurry). */
static void
retry_later(pt_daemon *d)
{
	if (d->state_retry == NULL)
		d->state_retry = evtimer_new(d->base, on_retry, d);
	if (d->state_retry == NULL) {
		log_err("cannot create the timer that retries the state write");
		return;
	}
	if (evtimer_pending(d->state_retry, NULL))
		return;
	int64_t ms = d->state_retry_ms > 0 ? d->state_retry_ms :
	    d->o.backoff_base_ms;
	d->state_retry_ms = ms * 2 > d->o.backoff_max_ms ?
	    d->o.backoff_max_ms : ms * 2;
	struct timeval tv = {(time_t)(ms / 1000),
	    (suseconds_t)((ms % 1000) * 1000)};
	evtimer_add(d->state_retry, &tv);
	log_info("state write tried again in %lld ms", (long long)ms);
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pt_daemon *d = arg;
	if (persist_save(d) == 0)
		log_info("state written after an earlier failure");
}

static void
written(pt_daemon *d, const pt_state *st)
{
	d->state_retry_ms = 0;
	if (d->state_retry != NULL)
		evtimer_del(d->state_retry);
	images_state_written(d, st);
}

int
persist_save_err(pt_daemon *d, pt_err *err)
{
	if (d->loading)
		return 0;
	pt_arena a = {0};
	pt_state st;
	pt_buf out = {0};
	char backup[PATH_MAX + 16];
	int r = -1;
	snprintf(backup, sizeof(backup), "%s.bak", d->state_path);
	if (build_state(d, &a, &st) < 0)
		pt_fail(err, "out of memory");
	else if (pt_state_encode(&st, &out, err) == 0 &&
	    pt_write_atomic(d->state_path, out.data, out.len, 0600, backup,
	    err) == 0)
		r = 0;
	if (r < 0) {
		pt_fail_prefix(err, "writing state %s", d->state_path);
		log_err("%s", err->msg);
		retry_later(d);
	} else {
		log_debug("state written (%zu unikernels, %zu policies)",
		    st.nunikernels, st.npolicies);
		written(d, &st);
	}
	pt_buf_free(&out);
	pt_arena_free(&a);
	return r;
}

int
persist_save(pt_daemon *d)
{
	pt_err err = {{0}};
	return persist_save_err(d, &err);
}

int
persist_forget(pt_daemon *d, const pt_name *name, pt_err *err)
{
	bool named = images_doom(d, name);
	int r = persist_save_err(d, err);
	if (!named)
		images_unlink(d, name);  /* no state on disk ever named it */
	return r;
}

void
persist_close(pt_daemon *d)
{
	if (d->state_retry != NULL) {
		if (evtimer_pending(d->state_retry, NULL) &&
		    persist_save(d) == 0)
			log_info("state written at exit after an earlier "
			    "failure");
		event_free(d->state_retry);
		d->state_retry = NULL;
	}
	images_free(d);
	pt_policy_free(d->root_stored);
	d->root_stored = NULL;
}

/* ---- loading ---- */

/* A stored root policy the host no longer fits (fewer CPUs, less memory
 * or disk): kept, and checked narrowed to the host; the state keeps it
 * as the operator set it. Dropping it would widen every tenant. */
static int
load_root_policy(pt_daemon *d, const pt_name *root, const pt_policy *p,
    pt_err *err)
{
	pt_err why = {{0}};
	if (pt_policy_is_smaller(p, d->host_root, &why) == 0)
		return pt_res_restore_policy(d->res, root, p, err);
	pt_policy *clamped = pt_policy_clamp(p, d->host_root);
	pt_policy *stored = pt_policy_dup(p);
	if (clamped == NULL || stored == NULL ||
	    pt_res_restore_policy(d->res, root, clamped, err) < 0) {
		pt_policy_free(clamped);
		pt_policy_free(stored);
		return pt_fail(err, "root policy: out of memory");
	}
	log_warn("the stored root policy does not fit the host any more: %s; "
	    "it is kept, and checked narrowed to the host's CPUs, memory "
	    "and block storage", why.msg);
	if (pt_policy_equal(clamped, p))
		pt_policy_free(stored);  /* only a bridge is missing */
	else
		d->root_stored = stored;
	pt_policy_free(clamped);
	return 0;
}

/* A policy that no longer fits the host or the policies above it is kept
 * unchanged: creates below it are checked against every policy up to the
 * root (the host's resources), so it grants nothing they do not. Only
 * running out of memory fails the start: never a tenant without limits. */
static int
load_policies(pt_daemon *d, const pt_state *st, pt_err *err)
{
	for (size_t i = 0; i < st->npolicies; i++) {
		pt_name path;
		pt_err why = {{0}};
		const pt_policy *p = &st->policies[i].policy;
		pt_name_path(&st->policies[i].name, &path);
		if (pt_name_is_root(&path)) {
			if (load_root_policy(d, &path, p, err) < 0)
				return -1;
			d->root_by_operator = true;
			continue;
		}
		if (pt_res_set_policy(d->res, &path, p, &why) >= 0)
			continue;
		if (pt_res_restore_policy(d->res, &path, p, err) < 0)
			return -1;
		log_warn("policy %s no longer fits: %s; it is kept unchanged, "
		    "and creates below it are checked against every policy "
		    "above it too", path.text, why.msg);
	}
	return 0;
}

/* An albatross state carries the image: keep it where petrel keeps
 * images, and drop it from the configuration. */
static int
store_inline_image(pt_daemon *d, const pt_state_uk *e, pt_err *err)
{
	char path[PATH_MAX];
	if (persist_image_path(d, &e->name, ".img", path, sizeof(path),
	    err) < 0)
		return -1;
	return pt_write_atomic(path, e->config.image.data,
	    e->config.image.len, 0600, NULL, err);
}

static int64_t
startup_of(const pt_state_uk *e)
{
	return e->config.has_startup ? e->config.startup : 50;
}

static int
by_startup(const void *x, const void *y)
{
	const pt_state_uk *a = *(const pt_state_uk *const *)x;
	const pt_state_uk *b = *(const pt_state_uk *const *)y;
	int64_t sa = startup_of(a), sb = startup_of(b);
	return sa < sb ? -1 : sa > sb ? 1 : 0;
}

/* An inline image that cannot be stored now: the unikernel keeps it in
 * memory, and so in every state written, until a start stores it. */
static int
keep_inline(pt_uk *uk, const pt_blob *image)
{
	uk->inline_image = malloc(image->len);
	if (uk->inline_image == NULL)
		return -1;
	memcpy(uk->inline_image, image->data, image->len);
	uk->inline_image_len = image->len;
	return 0;
}

/* -1 only when out of memory: an entry must not be dropped, so petreld
 * does not start (and writes nothing) rather than lose it. */
static int
load_unikernel(pt_daemon *d, const pt_state_uk *e, pt_err *err)
{
	pt_err why = {{0}};
	if (!e->name.has_label) {
		log_warn("state: %s is a path, not a unikernel: skipped",
		    e->name.text);
		return 0;
	}
	if (uk_find(d, &e->name) != NULL) {
		log_warn("state: %s appears twice: second entry skipped",
		    e->name.text);
		return 0;
	}
	pt_uk *uk = uk_new(d, &e->name, &e->config);
	if (uk == NULL)
		return pt_fail(err, "state: %s: out of memory", e->name.text);
	int r = 0;
	if (e->config.image.len > 0 && store_inline_image(d, e, &why) < 0) {
		if (keep_inline(uk, &e->config.image) < 0) {
			uk_free(d, uk);
			return pt_fail(err, "state: %s: out of memory keeping "
			    "its image", e->name.text);
		}
		pt_fail_prefix(&why, "storing its image");
		r = -1;
	}
	if (r == 0)
		r = uk_start_stored(d, uk, &why);
	uk_register(d, uk);
	if (r < 0)
		uk_retry_later(d, uk, why.msg);
	return 0;
}

int
persist_store_inline(pt_daemon *d, pt_uk *uk, pt_err *err)
{
	if (uk->inline_image == NULL)
		return 0;
	pt_state_uk e = {.name = uk->name};
	e.config.image.data = uk->inline_image;
	e.config.image.len = uk->inline_image_len;
	if (store_inline_image(d, &e, err) < 0)
		return pt_fail_prefix(err, "storing its image");
	free(uk->inline_image);
	uk->inline_image = NULL;
	uk->inline_image_len = 0;
	log_info("%s: image stored in %s", uk->name.text, d->image_dir);
	/* The state need not carry it any more (a failure is retried). */
	persist_save(d);
	return 0;
}

static int
load_unikernels(pt_daemon *d, const pt_state *st, pt_err *err)
{
	if (st->nunikernels == 0)
		return 0;
	const pt_state_uk **order = calloc(st->nunikernels, sizeof(*order));
	if (order == NULL)
		return pt_fail(err, "state: out of memory ordering the "
		    "unikernels");
	for (size_t i = 0; i < st->nunikernels; i++)
		order[i] = &st->unikernels[i];
	/* qsort is not stable; equal startup values keep no promised
	 * order in albatross either. */
	qsort(order, st->nunikernels, sizeof(*order), by_startup);
	int r = 0;
	for (size_t i = 0; i < st->nunikernels && r == 0; i++)
		r = load_unikernel(d, order[i], err);
	free(order);
	return r;
}

int
persist_load(pt_daemon *d, pt_err *err)
{
	uint8_t *data;
	size_t n;
	errno = 0;
	if (pt_read_file(d->state_path, STATE_MAX_BYTES, &data, &n,
	    err) < 0) {
		if (errno == ENOENT) {
			log_info("no state file %s: starting empty",
			    d->state_path);
			return 0;
		}
		return pt_fail_prefix(err, "state file %s", d->state_path);
	}
	char started[PATH_MAX + 16];
	snprintf(started, sizeof(started), "%s.started", d->state_path);
	pt_err e2 = {{0}};
	if (pt_write_atomic(started, data, n, 0600, NULL, &e2) < 0)
		log_warn("copying the state to %s: %s", started, e2.msg);
	pt_arena a = {0};
	pt_state st;
	if (pt_state_decode(data, n, &a, &st, err) < 0) {
		pt_fail_prefix(err, "state file %s is unreadable (move it "
		    "away to start without it)", d->state_path);
		pt_arena_free(&a);
		free(data);
		return -1;
	}
	log_info("state: %zu unikernels, %zu policies (format [%d])",
	    st.nunikernels, st.npolicies, st.choice);
	/* Until a write succeeds, this is the state on disk. */
	images_state_named(d, &st);
	d->loading = true;
	int r = load_policies(d, &st, err);
	if (r == 0)
		r = load_unikernels(d, &st, err);
	d->loading = false;
	pt_arena_free(&a);
	free(data);
	if (r < 0)
		return -1;
	/* Written in petrel's form: images apart (those that could be
	 * stored). A failure is logged and retried; the unikernels already
	 * run either way. Only a state written names exactly what runs, so
	 * only then do images of no unikernel go. */
	if (persist_save(d) == 0)
		images_sweep_orphans(d);
	return 0;
}
