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
 * their images are moved to the image directory on the first start.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	acc->v[acc->n].policy = *p;
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
	} else {
		log_debug("state written (%zu unikernels, %zu policies)",
		    st.nunikernels, st.npolicies);
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

/* ---- loading ---- */

static void
load_policies(pt_daemon *d, const pt_state *st)
{
	for (size_t i = 0; i < st->npolicies; i++) {
		pt_name path;
		pt_err err = {{0}};
		const pt_policy *p = &st->policies[i].policy;
		pt_name_path(&st->policies[i].name, &path);
		if (pt_name_is_root(&path) &&
		    pt_policy_is_smaller(p, d->host_root, &err) < 0) {
			log_warn("stored root policy dropped, it does not fit "
			    "the host any more: %s", err.msg);
			continue;
		}
		if (pt_res_set_policy(d->res, &path, p, &err) < 0) {
			log_warn("policy %s dropped: %s", path.text, err.msg);
			continue;
		}
		if (pt_name_is_root(&path))
			d->root_by_operator = true;
	}
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

static void
load_unikernel(pt_daemon *d, const pt_state_uk *e)
{
	pt_err err = {{0}};
	if (!e->name.has_label) {
		log_warn("state: %s is a path, not a unikernel: skipped",
		    e->name.text);
		return;
	}
	if (uk_find(d, &e->name) != NULL) {
		log_warn("state: %s appears twice: second entry skipped",
		    e->name.text);
		return;
	}
	if (e->config.image.len > 0 && store_inline_image(d, e, &err) < 0) {
		log_err("%s: not started: storing its image: %s",
		    e->name.text, err.msg);
		return;
	}
	pt_uk *uk = uk_new(d, &e->name, &e->config);
	if (uk == NULL) {
		log_err("%s: not started: out of memory", e->name.text);
		return;
	}
	int r = uk_start_stored(d, uk, &err);
	uk_register(d, uk);
	if (r < 0)
		uk_retry_later(d, uk, err.msg);
}

static void
load_unikernels(pt_daemon *d, const pt_state *st)
{
	if (st->nunikernels == 0)
		return;
	const pt_state_uk **order = calloc(st->nunikernels, sizeof(*order));
	if (order == NULL) {
		log_err("state: out of memory ordering the unikernels");
		return;
	}
	for (size_t i = 0; i < st->nunikernels; i++)
		order[i] = &st->unikernels[i];
	/* qsort is not stable; equal startup values keep no promised
	 * order in albatross either. */
	qsort(order, st->nunikernels, sizeof(*order), by_startup);
	for (size_t i = 0; i < st->nunikernels; i++)
		load_unikernel(d, order[i]);
	free(order);
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
	d->loading = true;
	load_policies(d, &st);
	load_unikernels(d, &st);
	d->loading = false;
	pt_arena_free(&a);
	free(data);
	/* Written in petrel's form: images apart, dropped entries gone.
	 * A failure is logged; the unikernels already run either way. */
	persist_save(d);
	return 0;
}
