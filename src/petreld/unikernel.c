/*
 * The unikernel lifecycle: create (checked, staged, then launched), exit
 * handling with restart backoff, destroy, force-create and restart as one
 * transaction each.
 *
 * A start is split in two so that a replacement can be checked completely
 * before the running unikernel is touched:
 *   uk_prepare: image written to a staging file (decompressed, hashed),
 *     ABI and manifest read from it, tender found, resources and bridges
 *     checked (as if the one being replaced were gone); a received image
 *     staged for the db dir;
 *   uk_launch: image moved in place, FIFO, resources taken, taps, spawn,
 *     then the received image made durable in the db dir.
 * Each undoes its own work on failure, so nothing is left behind. No
 * fsync comes before the exec (docs/state.md, "A create on disk").
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "fsutil.h"
#include "image.h"
#include "petreld.h"
#include "tap.h"
#include "tender.h"

/* ---- registry ---- */

pt_uk *
uk_find(pt_daemon *d, const pt_name *name)
{
	for (pt_uk *uk = d->uks; uk != NULL; uk = uk->next)
		if (pt_name_equal(&uk->name, name))
			return uk;
	return NULL;
}

/* The unikernel whose configuration names the block device (in its own
 * path, as the resource checks require), or NULL. */
pt_uk *
uk_block_user(pt_daemon *d, const pt_name *block)
{
	for (pt_uk *uk = d->uks; uk != NULL; uk = uk->next) {
		pt_name path;
		pt_name_path(&uk->name, &path);
		for (size_t i = 0; i < uk->cfg.nblocks; i++) {
			pt_text dev = ukcfg_device(&uk->cfg.blocks[i]);
			pt_name bname;
			if (pt_name_with_label(&path, dev.s, dev.len, &bname,
			    NULL) == 0 && pt_name_equal(&bname, block))
				return uk;
		}
	}
	return NULL;
}

bool
uk_has_process(const pt_uk *uk)
{
	return uk->state == UK_RUNNING || uk->state == UK_STOPPING;
}

pt_uk *
uk_new(pt_daemon *d, const pt_name *name, const pt_ukconfig *cfg)
{
	pt_uk *uk = calloc(1, sizeof(*uk));
	if (uk == NULL)
		return NULL;
	uk->d = d;
	uk->name = *name;
	uk->pid = -1;
	uk->pidfd = -1;
	uk->drain_fd = -1;
	uk->state = UK_STOPPED;
	uk->backoff_ms = d->o.backoff_base_ms;
	if (ukcfg_copy(&uk->arena, cfg, &uk->cfg, false) < 0) {
		pt_arena_free(&uk->arena);
		free(uk);
		return NULL;
	}
	return uk;
}

void
uk_register(pt_daemon *d, pt_uk *uk)
{
	uk->prev = NULL;
	uk->next = d->uks;
	if (d->uks != NULL)
		d->uks->prev = uk;
	d->uks = uk;
	d->nuks++;
}

static bool
uk_registered(pt_daemon *d, const pt_uk *uk)
{
	return uk->prev != NULL || d->uks == uk;
}

static void
uk_unregister(pt_daemon *d, pt_uk *uk)
{
	if (!uk_registered(d, uk))
		return;
	if (uk->prev != NULL)
		uk->prev->next = uk->next;
	else
		d->uks = uk->next;
	if (uk->next != NULL)
		uk->next->prev = uk->prev;
	uk->next = uk->prev = NULL;
	d->nuks--;
}

void
uk_free(pt_daemon *d, pt_uk *uk)
{
	/* A claim of a unikernel waiting for its restart (at shutdown). */
	if (uk->in_res && pt_res_unikernel(d->res, &uk->name) == uk)
		pt_res_remove_unikernel(d->res, &uk->name);
	uk->in_res = false;
	uk_unregister(d, uk);
	drain_stop(uk);
	if (uk->timer != NULL)
		event_free(uk->timer);
	free(uk->inline_image);
	pt_arena_free(&uk->arena);
	free(uk);
}

/* ---- staging: steps 1-4 ---- */

static int
inspect_image(const char *path, pt_solo5_abi *abi, pt_solo5_manifest *mft,
    pt_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pt_fail(err, "image %s: %s", path, strerror(errno));
	struct stat st;
	int r;
	if (fstat(fd, &st) < 0)
		r = pt_fail(err, "image %s: %s", path, strerror(errno));
	else
		r = pt_solo5_inspect(pt_read_at_fd, &fd, (uint64_t)st.st_size,
		    abi, mft, err);
	close(fd);
	return r;
}

static const char *
tender_target(uint32_t target)
{
	switch (target) {
	case PT_SOLO5_TARGET_HVT:
		return "hvt";
	case PT_SOLO5_TARGET_SPT:
		return "spt";
	default:
		return NULL;
	}
}

/* None of the unikernel's block devices is being set or dumped. Checked
 * when a create is prepared and again at the launch: a force-create or
 * restart waits for the old process in between, and a transfer may start
 * meanwhile. (Once launched, the devices are in use and transfers are
 * refused.) */
static int
blocks_not_busy(const pt_name *name, const pt_ukconfig *cfg, pt_err *err)
{
	pt_name path;
	pt_name_path(name, &path);
	for (size_t i = 0; i < cfg->nblocks; i++) {
		pt_text dev = ukcfg_device(&cfg->blocks[i]);
		pt_name bname;
		if (pt_name_with_label(&path, dev.s, dev.len, &bname,
		    err) < 0)
			return -1;
		if (block_busy(&bname))
			return pt_fail(err, "block device %s is being "
			    "transferred (set or dump in progress)",
			    bname.text);
	}
	return 0;
}

static int
check_resources(pt_daemon *d, const pt_name *name, const pt_ukconfig *cfg,
    const pt_name *replacing, pt_err *err)
{
	pt_arena a = {0};
	pt_uk_res u;
	int r = -1;
	if (ukcfg_resources(&a, cfg, &u) < 0)
		pt_fail(err, "out of memory");
	else
		r = pt_res_check_create(d->res, name, &u, replacing, err);
	pt_arena_free(&a);
	if (r < 0)
		return -1;
	if (blocks_not_busy(name, cfg, err) < 0)
		return -1;
	for (size_t i = 0; i < cfg->nnets; i++) {
		pt_text br = ukcfg_bridge(&cfg->nets[i]);
		int e = pt_bridge_exists(br.s, err);
		if (e < 0)
			return pt_fail_prefix(err, "bridge %s", br.s);
		if (e == 0)
			return pt_fail(err, "bridge %s does not exist", br.s);
	}
	return 0;
}

void
uk_prep_discard(pt_uk_prep *p)
{
	if (p->has_staged_image)
		pt_unlink_quiet(p->staged_image);
	if (p->has_staged_store)
		pt_unlink_quiet(p->staged_store);
	p->has_staged_image = p->has_staged_store = false;
}

/* The image bytes: from the request, or the stored copy (heap, *owned). */
static int
image_source(pt_daemon *d, const pt_name *name, const pt_blob *image,
    const uint8_t **data, size_t *n, uint8_t **owned, pt_err *err)
{
	*owned = NULL;
	if (image != NULL) {
		*data = image->data;
		*n = image->len;
		return 0;
	}
	char path[PATH_MAX];
	if (persist_image_path(d, name, ".img", path, sizeof(path), err) < 0)
		return -1;
	if (pt_read_file(path, PT_IMAGE_MAX_BYTES, owned, n, err) < 0)
		return pt_fail_prefix(err, "stored image");
	*data = *owned;
	return 0;
}

/* The copy kept for restarts, as received, staged beside the stored one:
 * written now, made durable (fsync, rename, fsync of the directory) at
 * launch, once the tender runs (docs/state.md). */
static int
stage_store(pt_daemon *d, const pt_name *name, const uint8_t *data,
    size_t n, pt_uk_prep *p, pt_err *err)
{
	if (persist_image_path(d, name, ".img.new", p->staged_store,
	    sizeof(p->staged_store), err) < 0)
		return -1;
	if (pt_write_new(p->staged_store, data, n, 0600, err) < 0)
		return pt_fail_prefix(err, "storing image");
	p->has_staged_store = true;
	return 0;
}

/* An uncompressed image is the same bytes in the stored copy and in the
 * run directory: a hard link to `from` when both directories are on one
 * file system, else a second (volatile) copy. */
static int
stage_plain(const char *from, const uint8_t *data, size_t n, pt_uk_prep *p,
    pt_err *err)
{
	int r = pt_link_replace(from, p->staged_image, err);
	if (r == 1)
		r = pt_image_write_volatile(p->staged_image, data, n, false,
		    p->digest, err);
	if (r < 0)
		return -1;
	p->has_staged_image = true;
	return 0;
}

/* Step 1: the image the tender runs, <tmpdir>/<name>.img.new,
 * decompressed, with its digest. It is remade at every start, so it is
 * not fsync'ed. An uncompressed image from a request is also staged for
 * the db dir here, the run copy being a link to it. */
static int
stage_image(pt_daemon *d, const pt_name *name, const pt_ukconfig *cfg,
    const uint8_t *data, size_t n, bool from_request, pt_uk_prep *p,
    pt_err *err)
{
	if (pt_name_to_file(d->o.tmpdir, name, ".img.new", p->staged_image,
	    sizeof(p->staged_image), err) < 0)
		return -1;
	if (n == 0)
		return pt_fail(err, "empty image");
	if (cfg->compressed) {
		if (pt_image_write_volatile(p->staged_image, data, n, true,
		    p->digest, err) < 0)
			return pt_fail_prefix(err, "image");
		p->has_staged_image = true;
		return 0;
	}
	if (pt_image_check_plain(data, n, p->digest, err) < 0)
		return pt_fail_prefix(err, "image");
	/* The run copy links to the staged copy of a request's image, or
	 * to the stored one at a restart. */
	char stored[PATH_MAX];
	const char *from = stored;
	if (from_request) {
		if (stage_store(d, name, data, n, p, err) < 0)
			return -1;
		from = p->staged_store;
	} else if (persist_image_path(d, name, ".img", stored,
	    sizeof(stored), err) < 0) {
		return -1;
	}
	if (stage_plain(from, data, n, p, err) < 0)
		return pt_fail_prefix(err, "image");
	return 0;
}

/* Steps 2-4, on the image staged in p. */
static int
prepare_checks(pt_daemon *d, const pt_name *name, const pt_ukconfig *cfg,
    const pt_name *replacing, pt_uk_prep *p, pt_err *err)
{
	/* 2. ABI and manifest */
	pt_solo5_manifest mft;
	if (inspect_image(p->staged_image, &p->abi, &mft, err) < 0)
		return -1;
	const char *target = tender_target(p->abi.target);
	if (target == NULL)
		return pt_fail(err, "unsupported Solo5 target %s (petrel runs "
		    "hvt and spt)", pt_solo5_target_name(p->abi.target));
	if (pt_solo5_check_manifest(&mft, cfg, err) < 0)
		return -1;
	/* 3. the tender, with the image's ABI version */
	if (pt_tender_find(d->o.dbdir, target, p->abi.version, p->tender,
	    sizeof(p->tender), err) < 0)
		return -1;
	/* 4. resources, bridges, and room for one more */
	if (check_resources(d, name, cfg, replacing, err) < 0)
		return -1;
	return uk_check_capacity(d, name, cfg, p->abi.target ==
	    PT_SOLO5_TARGET_HVT, replacing, err);
}

static int
prepare_steps(pt_daemon *d, const pt_name *name, const pt_ukconfig *cfg,
    const uint8_t *data, size_t n, bool from_request,
    const pt_name *replacing, pt_uk_prep *p, pt_err *err)
{
	/* 1. the image, decompressed, with its digest */
	if (stage_image(d, name, cfg, data, n, from_request, p, err) < 0 ||
	    prepare_checks(d, name, cfg, replacing, p, err) < 0)
		return -1;
	/* A compressed image is stored as received, compressed. */
	if (from_request && !p->has_staged_store &&
	    stage_store(d, name, data, n, p, err) < 0)
		return -1;
	return 0;
}

int
uk_prepare(pt_daemon *d, const pt_name *name, const pt_ukconfig *cfg,
    const pt_blob *image, const pt_name *replacing, pt_uk_prep *p,
    pt_err *err)
{
	memset(p, 0, sizeof(*p));
	if (!name->has_label)
		return pt_fail(err, "%s is a path, a unikernel needs a name",
		    name->text);
	if (ukcfg_validate(cfg, err) < 0)
		return -1;
	const uint8_t *data = NULL;
	size_t n = 0;
	uint8_t *owned = NULL;
	if (image_source(d, name, image, &data, &n, &owned, err) < 0)
		return -1;
	int r = prepare_steps(d, name, cfg, data, n, image != NULL,
	    replacing, p, err);
	free(owned);
	if (r < 0)
		uk_prep_discard(p);
	return r;
}

int
uk_prepare_staged(pt_daemon *d, const pt_name *name, const pt_ukconfig *cfg,
    const pt_name *replacing, pt_uk_prep *p, pt_err *err)
{
	int r = 0;
	if (!name->has_label)
		r = pt_fail(err, "%s is a path, a unikernel needs a name",
		    name->text);
	else if (ukcfg_validate(cfg, err) < 0)
		r = -1;
	else
		r = prepare_checks(d, name, cfg, replacing, p, err);
	if (r < 0)
		uk_prep_discard(p);
	return r;
}

/* ---- launch: steps 5-7 ---- */

static void on_exit_event(evutil_socket_t fd, short what, void *arg);

/* Frees what a run holds: process watch, taps, FIFO, image, resources. */
static void
uk_release_runtime(pt_daemon *d, pt_uk *uk)
{
	pt_err err = {{0}};
	if (uk->exit_ev != NULL) {
		event_free(uk->exit_ev);
		uk->exit_ev = NULL;
	}
	if (uk->pidfd >= 0) {
		close(uk->pidfd);
		uk->pidfd = -1;
	}
	uk->pid = -1;
	if (uk->timer != NULL)
		evtimer_del(uk->timer);
	for (size_t i = 0; i < uk->ntaps; i++)
		if (pt_tap_destroy(uk->taps[i], &err) < 0)
			log_err("%s: removing tap %s: %s", uk->name.text,
			    uk->taps[i], err.msg);
	free(uk->taps);
	uk->taps = NULL;
	uk->ntaps = 0;
	char path[PATH_MAX];
	drain_stop(uk);
	if (uk->has_fifo && pt_name_to_file(d->fifo_dir, &uk->name, NULL,
	    path, sizeof(path), &err) == 0)
		pt_unlink_quiet(path);
	uk->has_fifo = false;
	if (uk->has_image && pt_name_to_file(d->o.tmpdir, &uk->name, ".img",
	    path, sizeof(path), &err) == 0)
		pt_unlink_quiet(path);
	uk->has_image = false;
	if (uk->in_res)
		pt_res_remove_unikernel(d->res, &uk->name);
	uk->in_res = false;
	uk->killed = false;
	uk->state = UK_STOPPED;
}

static int
launch_files(pt_daemon *d, pt_uk *uk, pt_uk_prep *p, char *img,
    char *fifo, pt_err *err)
{
	if (pt_name_to_file(d->o.tmpdir, &uk->name, ".img", img, PATH_MAX,
	    err) < 0 ||
	    pt_name_to_file(d->fifo_dir, &uk->name, NULL, fifo, PATH_MAX,
	    err) < 0)
		return -1;
	/* Not renamed over: were a leftover <name>.img (a crashed petreld)
	 * a hard link to the same stored image, rename() would keep both
	 * names. */
	pt_unlink_quiet(img);
	if (rename(p->staged_image, img) < 0)
		return pt_fail(err, "moving image to %s: %s", img,
		    strerror(errno));
	p->has_staged_image = false;
	uk->has_image = true;
	/* A FIFO left by a crashed petreld would make mkfifo fail. */
	pt_unlink_quiet(fifo);
	if (mkfifo(fifo, 0640) < 0)
		return pt_fail(err, "console FIFO %s: %s", fifo,
		    strerror(errno));
	uk->has_fifo = true;
	return 0;
}

static int
launch_resources(pt_daemon *d, pt_uk *uk, pt_err *err)
{
	if (blocks_not_busy(&uk->name, &uk->cfg, err) < 0)
		return -1;
	pt_arena a = {0};
	pt_uk_res u;
	int r = -1;
	if (ukcfg_resources(&a, &uk->cfg, &u) < 0)
		pt_fail(err, "out of memory");
	else
		r = pt_res_add_unikernel(d->res, &uk->name, &u, uk, err);
	pt_arena_free(&a);
	if (r == 0)
		uk->in_res = true;
	return r;
}

static int
launch_taps(pt_uk *uk, pt_err *err)
{
	if (uk->cfg.nnets == 0)
		return 0;
	uk->taps = calloc(uk->cfg.nnets, sizeof(*uk->taps));
	if (uk->taps == NULL)
		return pt_fail(err, "out of memory");
	for (size_t i = 0; i < uk->cfg.nnets; i++) {
		pt_text br = ukcfg_bridge(&uk->cfg.nets[i]);
		if (pt_tap_create(br.s, uk->d->tap_owner, uk->taps[i], err) < 0)
			return pt_fail_prefix(err, "tap for %s on bridge %s",
			    uk->cfg.nets[i].name.s, br.s);
		uk->ntaps++;
	}
	return 0;
}

static int
launch_process(pt_daemon *d, pt_uk *uk, const pt_uk_prep *p,
    const char *img, const char *fifo, pt_err *err)
{
	pt_arena a = {0};
	const char **taps = NULL;
	char **argv;
	size_t argc;
	int r = -1;
	if (uk->ntaps > 0) {
		taps = pt_arena_calloc(&a, uk->ntaps, sizeof(*taps));
		if (taps == NULL) {
			pt_arena_free(&a);
			return pt_fail(err, "out of memory");
		}
		for (size_t i = 0; i < uk->ntaps; i++)
			taps[i] = uk->taps[i];
	}
	pt_tender_args ta = {
		.tender = p->tender,
		.image_path = img,
		.block_dir = d->block_dir,
		.name = &uk->name,
		.taps = taps,
		.add_name = uk->cfg.add_name,
	};
	if (pt_solo5_build_argv(&uk->cfg, &ta, &a, &argv, &argc, err) < 0)
		goto out;
	pt_spawn_args sa = {
		.argv = (const char *const *)argv,
		.console_path = fifo,
		.cpuids = uk->cfg.cpuids,
		.ncpuids = uk->cfg.ncpuids,
	};
	if (pt_spawn(&sa, &uk->pid, &uk->pidfd, err) < 0) {
		pt_fail_prefix(err, "could not create unikernel: spawning %s",
		    p->tender);
		goto out;
	}
	uk->ran_with_name = uk->cfg.add_name;
	if (uk->pidfd >= 0) {
		uk->exit_ev = event_new(d->base, uk->pidfd, EV_READ,
		    on_exit_event, uk);
		if (uk->exit_ev != NULL)
			event_add(uk->exit_ev, NULL);
		else
			log_err("%s: cannot watch pidfd; relying on SIGCHLD",
			    uk->name.text);
	}
	r = 0;
out:
	pt_arena_free(&a);
	return r;
}

/* `started`: pid, taps, the block devices (full names, as the block
 * commands name them) and the image's digest. */
static void
record_started(pt_daemon *d, const pt_uk *uk)
{
	pt_arena a = {0};
	pt_event e;
	memset(&e, 0, sizeof(e));
	e.kind = PT_EV_STARTED;
	e.name = uk->name;
	e.pid = uk->pid;
	e.digest.data = uk->digest;
	e.digest.len = sizeof(uk->digest);
	e.taps = pt_arena_calloc(&a, uk->ntaps + 1, sizeof(*e.taps));
	e.blocks = pt_arena_calloc(&a, uk->cfg.nblocks + 1,
	    sizeof(*e.blocks));
	if (e.taps == NULL || e.blocks == NULL) {
		log_err("%s: started event: out of memory", uk->name.text);
		pt_arena_free(&a);
		return;
	}
	for (size_t i = 0; i < uk->ntaps; i++) {
		e.taps[i].s = uk->taps[i];
		e.taps[i].len = strlen(uk->taps[i]);
	}
	e.ntaps = uk->ntaps;
	pt_name path;
	pt_name_path(&uk->name, &path);
	for (size_t i = 0; i < uk->cfg.nblocks; i++) {
		pt_text dev = ukcfg_device(&uk->cfg.blocks[i]);
		pt_name bname;
		char *text;
		if (pt_name_with_label(&path, dev.s, dev.len, &bname,
		    NULL) < 0 || (text = pt_arena_strndup(&a, bname.text,
		    bname.len)) == NULL)
			continue;
		e.blocks[e.nblocks].s = text;
		e.blocks[e.nblocks].len = bname.len;
		e.nblocks++;
	}
	ev_record(d, &e);
	pt_arena_free(&a);
}

/* What this launch is for (created, force-created, restarted), then
 * `started`. */
static void
record_launch(pt_daemon *d, pt_uk *uk)
{
	if (uk->has_launch_event) {
		pt_event e;
		memset(&e, 0, sizeof(e));
		uint8_t digest[32];
		e.kind = uk->launch_event;
		e.name = uk->name;
		if (e.kind == PT_EV_CREATED || e.kind == PT_EV_FORCE_CREATED) {
			ev_config_digest(&uk->cfg, digest);
			e.digest.data = digest;
			e.digest.len = sizeof(digest);
		}
		ev_record(d, &e);
	}
	uk->has_launch_event = false;
	record_started(d, uk);
}

void
uk_set_launch_event(pt_uk *uk, pt_event_kind kind)
{
	uk->has_launch_event = true;
	uk->launch_event = kind;
}

/* The staged copy of a received image becomes <dbdir>/images/<name>.img,
 * durably: fsync, rename, fsync of the directory. Until the rename the
 * previous image (of a force-create) is untouched, and a failure undoes
 * the launch; after it there is no way back (the previous image is gone),
 * so a failing fsync of the directory is only logged. */
static int
commit_store(pt_daemon *d, const pt_uk *uk, pt_uk_prep *p, pt_err *err)
{
	char store[PATH_MAX];
	if (persist_image_path(d, &uk->name, ".img", store, sizeof(store),
	    err) < 0 || pt_fsync_file(p->staged_store, err) < 0)
		return pt_fail_prefix(err, "could not create unikernel: "
		    "storing its image");
	if (rename(p->staged_store, store) < 0)
		return pt_fail(err, "could not create unikernel: storing its "
		    "image: rename %s to %s: %s", p->staged_store, store,
		    strerror(errno));
	p->has_staged_store = false;
	pt_err e2 = {{0}};
	if (pt_fsync_parent(store, &e2) < 0)
		log_err("%s: its stored image may not survive a crash: %s",
		    uk->name.text, e2.msg);
	return 0;
}

static int send_signal(pt_uk *uk, int sig);

/* A tender that was just spawned but must not run after all: killed and
 * reaped here, so that nothing of it is left when the launch fails. */
static void
kill_at_once(pt_uk *uk)
{
	if (send_signal(uk, SIGKILL) < 0 && errno != ESRCH)
		log_err("%s: SIGKILL: %s", uk->name.text, strerror(errno));
	pid_t r;
	do
		r = waitpid(uk->pid, NULL, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		log_err("%s: waitpid(%d): %s", uk->name.text, (int)uk->pid,
		    strerror(errno));
}

int
uk_launch(pt_daemon *d, pt_uk *uk, pt_uk_prep *p, pt_err *err)
{
	char img[PATH_MAX], fifo[PATH_MAX];
	if (launch_files(d, uk, p, img, fifo, err) < 0 ||
	    launch_resources(d, uk, err) < 0 ||
	    launch_taps(uk, err) < 0) {
		uk_release_runtime(d, uk);
		uk_prep_discard(p);
		uk->has_launch_event = false;
		return -1;
	}
	/* petrel-console reads the FIFO before the tender runs (§8.3). */
	console_link_add(d, uk);
	if (launch_process(d, uk, p, img, fifo, err) < 0) {
		uk_release_runtime(d, uk);
		uk_prep_discard(p);
		uk->has_launch_event = false;
		return -1;
	}
	/* The tender runs: now the image received is made durable, while
	 * it starts (the state, written by the caller before its reply,
	 * refers to it). */
	if (p->has_staged_store && commit_store(d, uk, p, err) < 0) {
		kill_at_once(uk);
		uk_release_runtime(d, uk);
		uk_prep_discard(p);
		uk->has_launch_event = false;
		return -1;
	}
	uk->state = UK_RUNNING;
	uk->started = pt_now_ms();
	uk->started_mono_ms = pt_now_mono_ms();
	memcpy(uk->digest, p->digest, sizeof(uk->digest));
	uk_prep_discard(p);
	log_info("%s: started (pid %d, %s)", uk->name.text, (int)uk->pid,
	    p->tender);
	record_launch(d, uk);
	stats_link_add(d, uk);
	return 0;
}

int
uk_start_stored(pt_daemon *d, pt_uk *uk, pt_err *err)
{
	pt_uk_prep p;
	if (persist_store_inline(d, uk, err) < 0 ||
	    uk_prepare(d, &uk->name, &uk->cfg, NULL, NULL, &p, err) < 0)
		return -1;
	return uk_launch(d, uk, &p, err);
}

/* ---- stopping ---- */

static int
send_signal(pt_uk *uk, int sig)
{
#ifdef SYS_pidfd_send_signal
	/* Through the pidfd the signal cannot hit a recycled pid. */
	if (uk->pidfd >= 0)
		return (int)syscall(SYS_pidfd_send_signal, uk->pidfd, sig,
		    NULL, 0);
#endif
	return kill(uk->pid, sig);
}

static void on_timer(evutil_socket_t fd, short what, void *arg);

static void
arm_timer(pt_daemon *d, pt_uk *uk, int64_t ms)
{
	if (uk->timer == NULL)
		uk->timer = evtimer_new(d->base, on_timer, uk);
	if (uk->timer == NULL) {
		log_err("%s: cannot create a timer", uk->name.text);
		return;
	}
	struct timeval tv = {(time_t)(ms / 1000),
	    (suseconds_t)((ms % 1000) * 1000)};
	evtimer_add(uk->timer, &tv);
}

/* While a unikernel waits for its restart it keeps its share of the
 * resources: its slot and memory in every policy above it, its CPU ids,
 * bridges and block devices. Otherwise a create could take the share
 * meanwhile, or destroy-block delete its data, and it could never start
 * again. The claim is taken when the wait begins and dropped when it
 * ends (just before the retry, which then takes its share afresh, with
 * the checks). */
static void
backoff_claim(pt_daemon *d, pt_uk *uk)
{
	if (uk->in_res)
		return;
	pt_arena a = {0};
	pt_uk_res u;
	pt_err err = {{0}};
	if (ukcfg_resources(&a, &uk->cfg, &u) < 0)
		pt_fail(&err, "out of memory");
	else if (pt_res_claim_unikernel(d->res, &uk->name, &u, uk, &err) == 0)
		uk->in_res = true;
	pt_arena_free(&a);
	if (!uk->in_res)
		log_err("%s: waits for its restart without holding its "
		    "resources: %s", uk->name.text, err.msg);
}

static void
backoff_release(pt_daemon *d, pt_uk *uk)
{
	if (uk->in_res)
		pt_res_remove_unikernel(d->res, &uk->name);
	uk->in_res = false;
}

void
uk_cancel_backoff(pt_uk *uk)
{
	if (uk->state != UK_BACKOFF)
		return;
	if (uk->timer != NULL)
		evtimer_del(uk->timer);
	backoff_release(uk->d, uk);
	uk->state = UK_STOPPED;
}

void
uk_stop(pt_daemon *d, pt_uk *uk, pt_uk_gone_fn fn, void *ctx)
{
	if (!uk_has_process(uk)) {
		uk_cancel_backoff(uk);
		if (fn != NULL)
			fn(d, uk, ctx);
		return;
	}
	uk->on_gone = fn;
	uk->gone_ctx = ctx;
	if (uk->state == UK_STOPPING)
		return;
	uk->state = UK_STOPPING;
	log_info("%s: stopping (pid %d)", uk->name.text, (int)uk->pid);
	if (send_signal(uk, SIGTERM) < 0 && errno != ESRCH)
		log_err("%s: SIGTERM: %s", uk->name.text, strerror(errno));
	arm_timer(d, uk, d->o.grace_ms);
}

int
uk_forget_err(pt_daemon *d, pt_uk *uk, pt_err *err)
{
	/* The image goes only once the state on disk no longer names it:
	 * until then a restart of petreld brings the unikernel back. */
	pt_name name = uk->name;
	uk_free(d, uk);
	return persist_forget(d, &name, err);
}

void
uk_forget(pt_daemon *d, pt_uk *uk)
{
	pt_err err = {{0}};
	uk_forget_err(d, uk, &err);  /* logged, and retried */
}

/* ---- exits and restarts ---- */

/* A.4: never after a signal, exit 1 or 60-64; else per the codes. */
static bool
restart_wanted(const pt_fail_behaviour *f, int code)
{
	if (!f->restart || code == 1 || (code >= 60 && code <= 64))
		return false;
	if (f->ncodes == 0)
		return true;
	for (size_t i = 0; i < f->ncodes; i++)
		if (f->codes[i] == code)
			return true;
	return false;
}

static int64_t schedule_restart(pt_daemon *d, pt_uk *uk);

static void
restart_now(pt_daemon *d, pt_uk *uk, const char *why)
{
	pt_err err = {{0}};
	log_info("%s: restarting (%s)", uk->name.text, why);
	host_refresh_bridges(d);
	uk_set_launch_event(uk, PT_EV_RESTARTED);
	if (uk_start_stored(d, uk, &err) < 0)
		uk_retry_later(d, uk, err.msg);
}

int64_t
uk_retry_later(pt_daemon *d, pt_uk *uk, const char *why)
{
	/* Nothing is lost to a passing failure (a bridge not up yet, a
	 * tender being replaced): the unikernel stays, in its state file
	 * too, and is tried again with the capped backoff until it starts
	 * or is destroyed. */
	log_err("%s: could not start: %s; trying again later", uk->name.text,
	    why);
	/* It did not run at all: the backoff grows, it is not reset as
	 * after a stable run. */
	uk->started_mono_ms = pt_now_mono_ms();
	return schedule_restart(d, uk);
}

/* Arms the restart timer; returns the delay. */
static int64_t
schedule_restart(pt_daemon *d, pt_uk *uk)
{
	int64_t ran = pt_now_mono_ms() - uk->started_mono_ms;
	/* A unikernel that ran stably starts again with the short delay. */
	if (ran >= d->o.stable_ms)
		uk->backoff_ms = d->o.backoff_base_ms;
	int64_t delay = uk->backoff_ms;
	uk->backoff_ms = delay * 2 > d->o.backoff_max_ms ?
	    d->o.backoff_max_ms : delay * 2;
	uk->state = UK_BACKOFF;
	backoff_claim(d, uk);
	log_info("%s: restart in %lld ms", uk->name.text, (long long)delay);
	arm_timer(d, uk, delay);
	pt_event e;
	memset(&e, 0, sizeof(e));
	e.kind = PT_EV_RESTART_SCHEDULED;
	e.name = uk->name;
	e.delay_ms = delay;
	ev_record(d, &e);
	return delay;
}

static void
record_exit(pt_daemon *d, const pt_uk *uk, int status)
{
	pt_event e;
	memset(&e, 0, sizeof(e));
	e.kind = PT_EV_EXITED;
	e.name = uk->name;
	e.pid = uk->pid;
	if (WIFSIGNALED(status)) {
		e.exit_kind = PT_EXIT_SIGNAL;
		e.exit_value = WTERMSIG(status);
	} else if (WIFSTOPPED(status)) {
		e.exit_kind = PT_EXIT_STOP;
		e.exit_value = WSTOPSIG(status);
	} else {
		e.exit_kind = PT_EXIT_CODE;
		e.exit_value = WEXITSTATUS(status);
	}
	ev_record(d, &e);
}

static void
handle_exit(pt_daemon *d, pt_uk *uk, int status)
{
	bool by_signal = WIFSIGNALED(status);
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	if (by_signal)
		log_info("%s: killed by signal %d", uk->name.text,
		    WTERMSIG(status));
	else
		log_info("%s: exited with %d", uk->name.text, code);
	record_exit(d, uk, status);
	stats_link_remove(d, uk);
	uk_release_runtime(d, uk);
	if (uk->on_gone != NULL) {
		pt_uk_gone_fn fn = uk->on_gone;
		void *ctx = uk->gone_ctx;
		uk->on_gone = NULL;
		uk->gone_ctx = NULL;
		fn(d, uk, ctx);
	} else if (d->shutting_down) {
		/* Keep it in the state: it comes back on the next start. */
	} else if (!by_signal && code == 64 && uk->ran_with_name) {
		/* A.4: a unikernel that rejects --name= gets one more try
		 * without it, and that is remembered. */
		uk->cfg.add_name = false;
		persist_save(d);
		restart_now(d, uk, "exit 64 with --name, retrying without");
	} else if (!by_signal && restart_wanted(&uk->cfg.fail, code)) {
		schedule_restart(d, uk);
	} else {
		uk_forget(d, uk);
	}
	daemon_check_shutdown(d);
}

static void
reap(pt_daemon *d, pt_uk *uk)
{
	int status;
	pid_t r;
	do
		r = waitpid(uk->pid, &status, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == 0) {
		/* Spurious wake-up: still running, watch again. */
		if (uk->exit_ev != NULL)
			event_add(uk->exit_ev, NULL);
		return;
	}
	if (r < 0) {
		log_err("%s: waitpid(%d): %s", uk->name.text, (int)uk->pid,
		    strerror(errno));
		status = 0xff00;  /* treat as an exit with 255 */
	}
	handle_exit(d, uk, status);
}

static void
on_exit_event(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pt_uk *uk = arg;
	reap(uk->d, uk);  /* may free uk */
}

/* Each unikernel's own pid, never waitpid(-1): other children of petreld
 * (pt_tender_abi_version's probe of a tender) are reaped by whoever
 * started them, and must not be stolen here. */
void
uk_reap_fallback(pt_daemon *d)
{
	pt_uk *next;
	for (pt_uk *uk = d->uks; uk != NULL; uk = next) {
		next = uk->next;
		if (uk_has_process(uk) && uk->pidfd < 0)
			reap(d, uk);
	}
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pt_uk *uk = arg;
	pt_daemon *d = uk->d;
	if (uk->state == UK_STOPPING && !uk->killed) {
		log_warn("%s: still running %lld ms after SIGTERM, killing",
		    uk->name.text, (long long)d->o.grace_ms);
		uk->killed = true;
		if (send_signal(uk, SIGKILL) < 0 && errno != ESRCH)
			log_err("%s: SIGKILL: %s", uk->name.text,
			    strerror(errno));
	} else if (uk->state == UK_BACKOFF) {
		uk->state = UK_STOPPED;
		backoff_release(d, uk);
		restart_now(d, uk, "restart on failure");
	}
}

bool
uk_shutdown_all(pt_daemon *d)
{
	bool none = true;
	for (pt_uk *uk = d->uks; uk != NULL; uk = uk->next) {
		if (uk->state == UK_BACKOFF) {
			/* Keep its place in the state, drop the timer. */
			evtimer_del(uk->timer);
			continue;
		}
		if (!uk_has_process(uk))
			continue;
		none = false;
		if (uk->state == UK_RUNNING)
			uk_stop(d, uk, NULL, NULL);
	}
	return none;
}

/* ---- info ---- */

static int
info_blocks(pt_daemon *d, const pt_uk *uk, pt_arena *a, pt_ukinfo *out)
{
	const pt_ukconfig *c = &uk->cfg;
	if (c->nblocks == 0)
		return 0;
	out->blocks = pt_arena_calloc(a, c->nblocks, sizeof(*out->blocks));
	if (out->blocks == NULL)
		return -1;
	pt_name path;
	pt_name_path(&uk->name, &path);
	for (size_t i = 0; i < c->nblocks; i++) {
		pt_blockinfo *b = &out->blocks[i];
		pt_text dev = ukcfg_device(&c->blocks[i]);
		b->unikernel_device = c->blocks[i].name;
		b->host_device = dev;
		b->sector_size = c->blocks[i].has_sector_size ?
		    c->blocks[i].sector_size : 512;
		pt_name bname;
		int64_t size = 0;
		bool in_use;
		if (pt_name_with_label(&path, dev.s, dev.len, &bname,
		    NULL) == 0)
			pt_res_block(d->res, &bname, &size, &in_use);
		b->block_size_mb = size;
	}
	out->nblocks = c->nblocks;
	return 0;
}

static int
info_nets(const pt_uk *uk, pt_arena *a, pt_ukinfo *out)
{
	const pt_ukconfig *c = &uk->cfg;
	if (c->nnets == 0)
		return 0;
	out->nets = pt_arena_calloc(a, c->nnets, sizeof(*out->nets));
	if (out->nets == NULL)
		return -1;
	for (size_t i = 0; i < c->nnets; i++) {
		const pt_netspec *n = &c->nets[i];
		pt_netinfo *ni = &out->nets[i];
		ni->unikernel_device = n->name;
		ni->host_device = ukcfg_bridge(n);
		if (n->has_mac)
			memcpy(ni->mac, n->mac, 6);
		else
			pt_solo5_default_mac(n->name.s, n->name.len,
			    &uk->name, ni->mac);
	}
	out->nnets = c->nnets;
	return 0;
}

int
uk_info(pt_daemon *d, const pt_uk *uk, pt_arena *a, pt_ukinfo *out)
{
	const pt_ukconfig *c = &uk->cfg;
	memset(out, 0, sizeof(*out));
	out->typ = c->typ;
	out->has_startup = c->has_startup;
	out->startup = c->startup;
	out->fail = c->fail;
	out->ncpuids = c->ncpuids;
	out->cpuids = c->cpuids;
	out->memory = c->memory;
	out->digest.data = uk->digest;
	out->digest.len = sizeof(uk->digest);
	out->has_argv = c->has_argv;
	out->argc = c->argc;
	out->argv = c->argv;
	out->started = uk->started;
	out->cpus = c->cpus;
	out->has_boot_partition = c->has_boot_partition;
	out->boot_partition = c->boot_partition;
	if (info_blocks(d, uk, a, out) < 0 || info_nets(uk, a, out) < 0)
		return -1;
	return 0;
}
