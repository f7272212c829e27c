/*
 * A create or force-create whose configuration carries an empty image,
 * followed by the image as raw frames up to the terminator (the stream of
 * albatross-wire.md §9.6, framed as §8.4): what petrel-tls passes through
 * from a remote client. The image goes to disk as it arrives
 * (imagesink.h), so that a 1 GiB image never sits in petreld's memory;
 * after the terminator it is checked like an inline image (ABI, manifest,
 * tender, resources) and the create goes on as usual.
 *
 * What can be refused before any data is refused at once; the rest of the
 * upload is then read and dropped, so that the reply is not lost to a
 * reset connection.
 *
 * A client that sends an empty image and no stream (albatross's clients
 * never stream to vmmd; an empty image there is a mistake) would wait for
 * a reply forever: without a first frame within FIRST_FRAME_MS the create
 * is refused as an empty image. petrel-tls sends the command only once the
 * remote client's first frame is there, so its streams are never cut by
 * this.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "image.h"
#include "imagesink.h"
#include "petreld.h"

#define FIRST_FRAME_MS 1000

typedef struct {
	pt_conn *c;
	struct event *first;  /* no frame yet: the FIRST_FRAME_MS timer */
	pt_header h;
	bool force;
	pt_arena arena;       /* owns cfg */
	pt_ukconfig cfg;
	pt_image_sink *sink;
	char store[PATH_MAX]; /* <dbdir>/images/<name>.img.new */
	char run[PATH_MAX];   /* <tmpdir>/<name>.img.new */
} up_stream;

static void
up_free(up_stream *u)
{
	pt_image_sink_abort(u->sink);
	if (u->first != NULL)
		event_free(u->first);
	pt_arena_free(&u->arena);
	free(u);
}

static void
up_close(pt_conn *c)
{
	up_stream *u = c->stream.ctx;
	if (u->sink != NULL)
		log_info("%s: streamed image aborted after %llu bytes",
		    u->h.name.text,
		    (unsigned long long)pt_image_sink_received(u->sink));
	up_free(u);
}

static void
refuse_upload(pt_conn *c, const pt_header *h, const char *msg)
{
	conn_refuse(c, h, "%s", msg);
	conn_discard_upload(c);
}

/* Why the create cannot go on now (checked before and after the data). */
static int
precheck(pt_conn *c, const pt_header *h, bool force, pt_uk **old,
    pt_err *err)
{
	*old = uk_find(c->d, &h->name);
	if (*old != NULL && !force)
		return pt_fail(err, "Unikernel with same name is already "
		    "running");
	if (*old != NULL && (*old)->state == UK_STOPPING)
		return pt_fail(err, "the unikernel is being stopped; try "
		    "again once it is gone");
	return 0;
}

static void
up_done(pt_conn *c, up_stream *u)
{
	pt_uk_prep p;
	pt_err err = {{0}};
	pt_uk *old;
	pt_header h = u->h;
	memset(&p, 0, sizeof(p));
	pt_image_sink *sink = u->sink;
	u->sink = NULL;
	if (pt_image_sink_finish(sink, p.staged_store, p.staged_image,
	    sizeof(p.staged_image), p.digest, &err) < 0) {
		conn_refuse(c, &h, "could not create unikernel: %s", err.msg);
		conn_finish(c, false);
		return;
	}
	p.has_staged_store = p.has_staged_image = true;
	/* Into the names a create stages at (nobody else's now: the rest
	 * of a create runs without returning to the event loop). */
	int r = rename(p.staged_store, u->store);
	if (r == 0) {
		strcpy(p.staged_store, u->store);
		r = rename(p.staged_image, u->run);
	}
	if (r < 0) {
		conn_refuse(c, &h, "could not create unikernel: staging its "
		    "image: %s", strerror(errno));
		uk_prep_discard(&p);
		conn_finish(c, false);
		return;
	}
	strcpy(p.staged_image, u->run);
	if (precheck(c, &h, u->force, &old, &err) < 0 ||
	    uk_prepare_staged(c->d, &h.name, &u->cfg, old ? &h.name : NULL,
	    &p, &err) < 0) {
		uk_prep_discard(&p);
		if (old != NULL)
			conn_refuse(c, &h, "%s (the previous unikernel was not "
			    "touched and keeps running)", err.msg);
		else
			conn_refuse(c, &h, "%s", err.msg);
		conn_finish(c, false);
		return;
	}
	/* The stream's state goes with conn_finish's stream_close: keep
	 * what the create needs in the arena until the create has it. */
	pt_arena keep = u->arena;
	pt_ukconfig cfg = u->cfg;
	memset(&u->arena, 0, sizeof(u->arena));
	log_info("%s: streamed image received", h.name.text);
	uk_create_prepared(c, &h, &cfg, u->force, old, &p);
	pt_arena_free(&keep);
}

static int
up_frame(pt_conn *c, const uint8_t *p, size_t n, bool end)
{
	up_stream *u = c->stream.ctx;
	pt_err err = {{0}};
	if (u->first != NULL) {
		event_free(u->first);
		u->first = NULL;
	}
	if (end) {
		up_done(c, u);
		return 0;
	}
	if (pt_image_sink_write(u->sink, p, n, &err) < 0) {
		pt_header h = u->h;
		char msg[400];
		snprintf(msg, sizeof(msg), "could not create unikernel: %s",
		    err.msg);
		refuse_upload(c, &h, msg);  /* runs up_close */
	}
	return 0;
}

static void
no_first_frame(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	up_stream *u = arg;
	pt_conn *c = u->c;
	pt_header h = u->h;  /* u goes with the stream */
	conn_grab(c);
	conn_refuse(c, &h, "empty image (and no image frames followed "
	    "within %d ms)", FIRST_FRAME_MS);
	conn_finish(c, false);  /* runs up_close */
	conn_drop(c);
}

void
uk_cmd_create_stream(pt_conn *c, const pt_header *h, const pt_ukconfig *cfg,
    bool force)
{
	pt_daemon *d = c->d;
	pt_err err = {{0}};
	pt_uk *old;
	if (!h->name.has_label) {
		char msg[300];
		snprintf(msg, sizeof(msg), "%s is a path, a unikernel needs a "
		    "name", h->name.text);
		refuse_upload(c, h, msg);
		return;
	}
	if (precheck(c, h, force, &old, &err) < 0 ||
	    ukcfg_validate(cfg, &err) < 0) {
		refuse_upload(c, h, err.msg);
		return;
	}
	up_stream *u = calloc(1, sizeof(*u));
	if (u == NULL || ukcfg_copy(&u->arena, cfg, &u->cfg, false) < 0) {
		if (u != NULL)
			up_free(u);
		refuse_upload(c, h, "out of memory");
		return;
	}
	u->c = c;
	u->h = *h;
	u->force = force;
	u->first = evtimer_new(d->base, no_first_frame, u);
	struct timeval tv = {FIRST_FRAME_MS / 1000, (FIRST_FRAME_MS % 1000) *
	    1000};
	if (u->first == NULL || evtimer_add(u->first, &tv) < 0) {
		up_free(u);
		refuse_upload(c, h, "out of memory");
		return;
	}
	if (persist_image_path(d, &h->name, ".img.new", u->store,
	    sizeof(u->store), &err) < 0 ||
	    pt_name_to_file(d->o.tmpdir, &h->name, ".img.new", u->run,
	    sizeof(u->run), &err) < 0 ||
	    (u->sink = pt_image_sink_open(u->store, u->run, cfg->compressed,
	    PT_IMAGE_MAX_BYTES, &err)) == NULL) {
		char msg[400];
		snprintf(msg, sizeof(msg), "could not create unikernel: %s",
		    err.msg);
		up_free(u);
		refuse_upload(c, h, msg);
		return;
	}
	log_info("%s: receiving a streamed image", h->name.text);
	pt_stream st = {.on_frame = up_frame, .on_close = up_close,
	    .ctx = u};
	conn_set_stream(c, &st);
}
