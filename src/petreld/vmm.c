/*
 * Command dispatch, the policy commands, unikernel info and get
 * (albatross-wire.md §8.2). The unikernel lifecycle lives in unikernel.c,
 * block devices in block.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "image.h"
#include "petreld.h"

/* ---- policies ---- */

static void
policy_path(const pt_header *h, pt_name *path)
{
	/* Only the path part counts for policy commands (§8.2). */
	pt_name_path(&h->name, path);
}

/* What a policy change may have to undo: the policy at the path before
 * it (NULL: none) and who set the root. */
typedef struct {
	pt_policy *policy;
	bool root_by_operator;
	pt_policy *root_stored;
} policy_before;

static int
policy_remember(pt_daemon *d, const pt_name *path, policy_before *b)
{
	const pt_policy *cur = pt_res_policy(d->res, path);
	b->policy = cur != NULL ? pt_policy_dup(cur) : NULL;
	b->root_by_operator = d->root_by_operator;
	b->root_stored = d->root_stored;
	return cur != NULL && b->policy == NULL ? -1 : 0;
}

/* The state could not be written: the change did not happen, in memory
 * either (the state on disk is the one from before it). */
static void
policy_roll_back(pt_daemon *d, const pt_name *path, policy_before *b)
{
	pt_err err = {{0}};
	int r = b->policy != NULL ?
	    pt_res_restore_policy(d->res, path, b->policy, &err) :
	    pt_res_remove_policy(d->res, path, &err);
	if (r < 0)
		log_err("%s: undoing the policy change: %s", path->text,
		    err.msg);
	if (pt_name_is_root(path)) {
		d->root_by_operator = b->root_by_operator;
		if (d->root_stored != b->root_stored)
			pt_policy_free(d->root_stored);
		d->root_stored = b->root_stored;
		b->root_stored = NULL;
	}
}

static void
policy_forget_before(pt_daemon *d, policy_before *b)
{
	if (b->root_stored != NULL && b->root_stored != d->root_stored)
		pt_policy_free(b->root_stored);
	pt_policy_free(b->policy);
}

static void
policy_add(pt_conn *c, const pt_header *h, const pt_policy *p)
{
	pt_daemon *d = c->d;
	pt_name path;
	pt_err err = {{0}};
	policy_before before;
	policy_path(h, &path);
	/* The root policy may narrow the host, never widen it. */
	if (pt_name_is_root(&path) &&
	    pt_policy_is_smaller(p, d->host_root, &err) < 0) {
		conn_refuse(c, h, "policy for %s exceeds the host's "
		    "resources: %s", path.text, err.msg);
		conn_finish(c, false);
		return;
	}
	if (policy_remember(d, &path, &before) < 0) {
		conn_refuse(c, h, "policy %s: out of memory", path.text);
		conn_finish(c, false);
		return;
	}
	bool existed = before.policy != NULL;
	int r = pt_res_set_policy(d->res, &path, p, &err);
	if (r == 0 && pt_name_is_root(&path)) {
		d->root_by_operator = true;
		d->root_stored = NULL;  /* it fits the host: checked as is */
	}
	if (r < 0) {
		conn_refuse(c, h, "%s", err.msg);
		conn_finish(c, false);
	} else if (r == 0 && persist_save_err(d, &err) < 0) {
		policy_roll_back(d, &path, &before);
		conn_refuse(c, h, "policy %s not %s: %s", path.text,
		    existed ? "replaced" : "added", err.msg);
		conn_finish(c, false);
	} else if (r == 0) {
		log_info("%s: policy %s", path.text, existed ? "replaced" :
		    "added");
		pt_event e;
		memset(&e, 0, sizeof(e));
		e.kind = existed ? PT_EV_POLICY_REPLACED : PT_EV_POLICY_ADDED;
		e.name = path;
		e.policy = *p;
		ev_record(d, &e);
		conn_reply_string(c, h, "added policy");
		/* albatross keeps reading after a policy add (§8.2). */
		conn_finish(c, true);
	} else {
		conn_reply_string(c, h, "no modification of policy");
		conn_finish(c, true);
	}
	policy_forget_before(d, &before);
}

static void
policy_remove(pt_conn *c, const pt_header *h)
{
	pt_daemon *d = c->d;
	pt_name path;
	pt_err err = {{0}};
	policy_before before;
	policy_path(h, &path);
	if (policy_remember(d, &path, &before) < 0) {
		conn_refuse(c, h, "policy %s: out of memory", path.text);
	} else if (pt_res_remove_policy(d->res, &path, &err) < 0) {
		conn_refuse(c, h, "%s", err.msg);
	} else if (persist_save_err(d, &err) < 0) {
		policy_roll_back(d, &path, &before);
		conn_refuse(c, h, "policy %s not removed: %s", path.text,
		    err.msg);
	} else {
		log_info("%s: policy removed", path.text);
		ev_name(d, PT_EV_POLICY_REMOVED, &path);
		conn_reply_string(c, h, "removed policy");
	}
	policy_forget_before(d, &before);
	conn_finish(c, false);
}

typedef struct {
	pt_arena *a;
	const pt_name *prefix;
	size_t n, cap;
	pt_named_policy *v;
	bool oom;
} policy_list;

static int
collect_policy(const pt_name *path, const pt_policy *p, void *ctx)
{
	policy_list *l = ctx;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		pt_named_policy *v = pt_arena_calloc(l->a, cap, sizeof(*v));
		if (v == NULL) {
			l->oom = true;
			return 1;
		}
		if (l->n > 0)
			memcpy(v, l->v, l->n * sizeof(*v));
		l->v = v;
		l->cap = cap;
	}
	pt_named_policy *e = &l->v[l->n++];
	/* Names are relative to the requested path (§4.3). */
	if (pt_name_drop_prefix(l->prefix, path, &e->name) < 0)
		e->name = *path;
	e->policy = *p;
	return 0;
}

static void
policy_info(pt_conn *c, const pt_header *h)
{
	pt_arena a = {0};
	pt_name path;
	policy_path(h, &path);
	policy_list l = {.a = &a, .prefix = &path};
	pt_res_foreach_policy(c->d->res, &path, collect_policy, &l);
	if (l.oom) {
		conn_refuse(c, h, "policy info: out of memory");
	} else {
		pt_success s = {.kind = PT_OK_POLICIES};
		s.u.policies.n = l.n;
		s.u.policies.v = l.v;
		conn_reply(c, h, &s);
	}
	pt_arena_free(&a);
	conn_finish(c, false);
}

/* ---- unikernel info ---- */

static void
unikernel_info(pt_conn *c, const pt_header *h, pt_success_kind kind)
{
	pt_daemon *d = c->d;
	pt_arena a = {0};
	const pt_name *req = &h->name;
	size_t cap = 0;
	for (pt_uk *uk = d->uks; uk != NULL; uk = uk->next)
		cap++;
	pt_named_info *v = pt_arena_calloc(&a, cap ? cap : 1, sizeof(*v));
	size_t n = 0;
	bool failed = v == NULL;
	for (pt_uk *uk = d->uks; uk != NULL && !failed; uk = uk->next) {
		/* A unikernel waiting for its restart is not running. */
		if (!uk_has_process(uk))
			continue;
		if (req->has_label) {
			if (!pt_name_equal(req, &uk->name))
				continue;
			v[n].name = uk->name;  /* full name (§4.3) */
		} else {
			if (!pt_name_is_prefix(req, &uk->name))
				continue;
			pt_name_drop_prefix(req, &uk->name, &v[n].name);
		}
		if (uk_info(d, uk, &a, &v[n].info) < 0)
			failed = true;
		n++;
	}
	if (failed) {
		conn_refuse(c, h, "info: out of memory");
	} else {
		pt_success s = {.kind = kind};
		s.u.infos.n = n;
		s.u.infos.v = v;
		conn_reply(c, h, &s);
	}
	pt_arena_free(&a);
	conn_finish(c, false);
}

/* ---- get ---- */

/* Room in a reply frame for everything but the image: the header (a
 * name is at most PT_NAME_TEXT_MAX bytes) and the DER around the data. */
#define GET_REPLY_OVERHEAD 4096

/* The largest image a get reply can carry: the reply is one message, and
 * petreld's frame limit (--max-frame-mb) is the bound it keeps. */
static size_t
get_image_max(const pt_daemon *d)
{
	return d->o.max_frame - GET_REPLY_OVERHEAD;
}

/* The stored image in the requested form (§8.2): level 0 uncompressed,
 * level > 0 compressed; an image stored compressed is sent as stored.
 * Nothing larger than a reply can carry is ever made: a stored image of
 * a few MB may inflate to 1 GiB. */
static int
image_for_get(pt_daemon *d, const pt_uk *uk, int64_t level, uint8_t **out,
    size_t *outlen, bool *compressed, pt_err *err)
{
	char path[PATH_MAX];
	uint8_t *data;
	size_t n;
	size_t max = get_image_max(d);
	bool deflate = level > 0 && !uk->cfg.compressed;
	if (persist_image_path(d, &uk->name, ".img", path, sizeof(path),
	    err) < 0)
		return -1;
	/* Only a deflate may shrink what is stored into a reply. */
	if (pt_read_file(path, deflate ? PT_IMAGE_MAX_BYTES : max, &data, &n,
	    err) < 0) {
		if (errno == EFBIG)
			return pt_fail(err, "the stored image is larger than "
			    "a reply can carry (%zu bytes, --max-frame-mb)",
			    max);
		return pt_fail_prefix(err, "reading stored image");
	}
	if (level == 0 && uk->cfg.compressed) {
		int r = pt_image_inflate(data, n, max, out, outlen, NULL,
		    err);
		free(data);
		*compressed = false;
		if (r < 0)
			return pt_fail_prefix(err, "sent uncompressed, the "
			    "image must fit one reply (at most %zu bytes, "
			    "--max-frame-mb)", max);
		return r;
	}
	if (deflate) {
		int r = pt_image_deflate(data, n, level > 9 ? 9 : (int)level,
		    out, outlen, err);
		free(data);
		*compressed = true;
		if (r == 0 && *outlen > max) {
			free(*out);
			*out = NULL;
			return pt_fail(err, "the compressed image (%zu bytes) "
			    "is larger than a reply can carry (%zu bytes, "
			    "--max-frame-mb)", *outlen, max);
		}
		return r;
	}
	*out = data;
	*outlen = n;
	*compressed = uk->cfg.compressed;
	return 0;
}

static void
unikernel_get(pt_conn *c, const pt_header *h, int64_t level)
{
	pt_uk *uk = h->name.has_label ? uk_find(c->d, &h->name) : NULL;
	if (uk == NULL) {
		conn_refuse(c, h, "get: no unikernel found");
		conn_finish(c, false);
		return;
	}
	if (level < 0) {
		conn_refuse(c, h, "get: invalid compression level %lld",
		    (long long)level);
		conn_finish(c, false);
		return;
	}
	uint8_t *img;
	size_t n;
	bool compressed;
	pt_err err = {{0}};
	if (image_for_get(c->d, uk, level, &img, &n, &compressed, &err) < 0) {
		conn_refuse(c, h, "get: %s", err.msg);
	} else {
		pt_success s = {.kind = PT_OK_UNIKERNEL_IMAGE};
		s.u.image.compressed = compressed;
		s.u.image.data.data = img;
		s.u.image.data.len = n;
		conn_reply(c, h, &s);
		free(img);
	}
	conn_finish(c, false);
}

/* ---- dispatch ---- */

static void
log_command(const pt_wire *w)
{
	pt_buf b = {0};
	if (pt_command_print(&w->u.command, &b) == 0 &&
	    pt_buf_append_byte(&b, 0) == 0)
		log_debug("%s: %s", w->header.name.text, (char *)b.data);
	pt_buf_free(&b);
}

/* Does the command check bridges against the root policy? Only then are
 * the host's bridges re-read (a netlink dump, not free on every create). */
static bool
names_bridges(pt_daemon *d, const pt_header *h, const pt_command *cmd)
{
	switch (cmd->kind) {
	case PT_CMD_POLICY_ADD:
		return cmd->u.policy.nbridges > 0;
	case PT_CMD_UK_CREATE:
	case PT_CMD_UK_FORCE_CREATE:
		return cmd->u.config.nnets > 0;
	case PT_CMD_UK_RESTART: {
		if (cmd->u.restart.has_args)
			return cmd->u.restart.args.nnets > 0;
		const pt_uk *uk = uk_find(d, &h->name);
		return uk != NULL && uk->cfg.nnets > 0;
	}
	default:
		return false;
	}
}

void
vmm_dispatch(pt_conn *c, const pt_wire *w)
{
	const pt_header *h = &w->header;
	const pt_command *cmd = &w->u.command;
	log_command(w);
	/* For the refused events of this command (conn_refuse). */
	c->cmd = pt_cmd_kind_name(cmd->kind);
	if (c->d->shutting_down) {
		conn_refuse(c, h, "petreld is shutting down");
		conn_finish(c, false);
		return;
	}
	if (names_bridges(c->d, h, cmd))
		host_refresh_bridges(c->d);
	switch (cmd->kind) {
	case PT_CMD_POLICY_INFO:
		policy_info(c, h);
		return;
	case PT_CMD_POLICY_ADD:
		policy_add(c, h, &cmd->u.policy);
		return;
	case PT_CMD_POLICY_REMOVE:
		policy_remove(c, h);
		return;
	case PT_CMD_UK_INFO:
		unikernel_info(c, h, PT_OK_UNIKERNEL_INFO);
		return;
	case PT_CMD_UK_INFO_OLD5:
		unikernel_info(c, h, PT_OK_OLD_UNIKERNEL_INFO5);
		return;
	case PT_CMD_UK_INFO_OLD4:
		unikernel_info(c, h, PT_OK_OLD_UNIKERNEL_INFO4);
		return;
	case PT_CMD_UK_GET:
		unikernel_get(c, h, cmd->u.level);
		return;
	case PT_CMD_UK_CREATE:
	case PT_CMD_UK_FORCE_CREATE:
		uk_cmd_create(c, h, &cmd->u.config,
		    cmd->kind == PT_CMD_UK_FORCE_CREATE);
		return;
	case PT_CMD_UK_DESTROY:
		uk_cmd_destroy(c, h);
		return;
	case PT_CMD_UK_RESTART:
		uk_cmd_restart(c, h, &cmd->u.restart);
		return;
	case PT_CMD_LOG_SUBSCRIBE:
		ev_cmd_subscribe(c, h, &cmd->u.log);
		return;
	case PT_CMD_LOG_RECORD:
		ev_cmd_record(c, h, &cmd->u.record);
		return;
	case PT_CMD_STATS_INITIAL:
		stats_link_initial(c, h);
		return;
	case PT_CMD_BLOCK_INFO:
	case PT_CMD_BLOCK_ADD:
	case PT_CMD_BLOCK_REMOVE:
	case PT_CMD_BLOCK_ADD_OLD:
	case PT_CMD_BLOCK_SET_OLD:
	case PT_CMD_BLOCK_DUMP_OLD:
	case PT_CMD_BLOCK_DUMP:
	case PT_CMD_BLOCK_SET:
		block_cmd(c, w);
		return;
	default:
		conn_refuse(c, h, "unknown command");
		conn_finish(c, false);
		return;
	}
}
