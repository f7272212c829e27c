/*
 * When a stored image (<dbdir>/images/<name>.img) may be deleted: only
 * once no durable state names its unikernel any more (docs/state.md,
 * "Deleting an image").
 *
 * A destroy or an exit removes a unikernel from memory at once, but the
 * state on disk keeps naming it until a write succeeds; a restart of
 * petreld in between brings it back, and it must find its image. So the
 * book keeps the names of the unikernels of the last state read or
 * written (`named`), and the names whose image waits for a write that no
 * longer names them (`doomed`). After every successful write, each doomed
 * image is deleted unless a unikernel of that name exists again.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "petreld.h"

struct pt_image_book {
	char **named;        /* sorted texts */
	size_t nnamed;
	bool named_unknown;  /* out of memory: every name counts as named */
	char **doomed;
	size_t ndoomed, cap;
};

static pt_image_book *
book(pt_daemon *d)
{
	if (d->images == NULL)
		d->images = calloc(1, sizeof(*d->images));
	return d->images;
}

static void
free_texts(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int
cmp_text(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
images_state_named(pt_daemon *d, const pt_state *st)
{
	pt_image_book *b = book(d);
	if (b == NULL)
		return;  /* images_named() then answers true */
	free_texts(b->named, b->nnamed);
	b->named = NULL;
	b->nnamed = 0;
	b->named_unknown = false;
	char **v = calloc(st->nunikernels ? st->nunikernels : 1, sizeof(*v));
	if (v == NULL) {
		b->named_unknown = true;
		return;
	}
	size_t n = 0;
	for (size_t i = 0; i < st->nunikernels; i++) {
		if ((v[n] = strdup(st->unikernels[i].name.text)) == NULL) {
			free_texts(v, n);
			b->named_unknown = true;
			return;
		}
		n++;
	}
	qsort(v, n, sizeof(*v), cmp_text);
	b->named = v;
	b->nnamed = n;
}

bool
images_named(pt_daemon *d, const pt_name *name)
{
	pt_image_book *b = book(d);
	if (b == NULL || b->named_unknown)
		return true;
	if (b->nnamed == 0)
		return false;  /* bsearch wants an array, even an empty one */
	const char *key = name->text;
	return bsearch(&key, b->named, b->nnamed, sizeof(*b->named),
	    cmp_text) != NULL;
}

void
images_unlink(pt_daemon *d, const pt_name *name)
{
	char path[PATH_MAX];
	pt_err err = {{0}};
	if (persist_image_path(d, name, ".img", path, sizeof(path), &err) < 0)
		log_err("%s: its stored image stays: %s", name->text, err.msg);
	else if (pt_unlink_quiet(path) < 0)
		log_err("%s: removing its stored image %s: %s", name->text,
		    path, strerror(errno));
}

bool
images_doom(pt_daemon *d, const pt_name *name)
{
	if (!images_named(d, name))
		return false;
	pt_image_book *b = book(d);
	if (b != NULL && b->ndoomed == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 8;
		char **v = realloc(b->doomed, cap * sizeof(*v));
		if (v != NULL) {
			b->doomed = v;
			b->cap = cap;
		}
	}
	char *t = b != NULL && b->ndoomed < b->cap ? strdup(name->text) :
	    NULL;
	if (t == NULL) {
		/* The file stays; the sweep at the next start removes it
		 * once no state names it. */
		log_err("%s: out of memory: its stored image is kept",
		    name->text);
		return true;
	}
	b->doomed[b->ndoomed++] = t;
	return true;
}

void
images_state_written(pt_daemon *d, const pt_state *st)
{
	images_state_named(d, st);
	pt_image_book *b = d->images;
	if (b == NULL)
		return;
	for (size_t i = 0; i < b->ndoomed; i++) {
		pt_name name;
		pt_err err = {{0}};
		/* A unikernel of the same name created since owns the file
		 * now; the state just written names it. */
		if (pt_name_parse_str(b->doomed[i], &name, &err) == 0 &&
		    uk_find(d, &name) == NULL) {
			images_unlink(d, &name);
			log_info("%s: stored image removed (the state no "
			    "longer names it)", name.text);
		}
		free(b->doomed[i]);
	}
	b->ndoomed = 0;
}

/* "<name>.img" or "<name>.img.new" with a canonical unikernel name, as
 * only petreld makes them; anything else is not ours. */
static bool
image_file_name(const char *file, pt_name *name)
{
	static const char *const suffixes[] = {".img", ".img.new"};
	size_t n = strlen(file);
	for (size_t i = 0; i < 2; i++) {
		size_t s = strlen(suffixes[i]);
		pt_err err = {{0}};
		if (n <= s || strcmp(file + n - s, suffixes[i]) != 0)
			continue;
		if (pt_name_parse(file, n - s, name, &err) == 0 &&
		    name->has_label && name->len == n - s &&
		    memcmp(name->text, file, n - s) == 0)
			return true;
	}
	return false;
}

void
images_sweep_orphans(pt_daemon *d)
{
	DIR *dir = opendir(d->image_dir);
	if (dir == NULL) {
		log_warn("image directory %s: %s", d->image_dir,
		    strerror(errno));
		return;
	}
	struct dirent *de;
	while ((de = readdir(dir)) != NULL) {
		pt_name name;
		struct stat st;
		if (!image_file_name(de->d_name, &name) ||
		    uk_find(d, &name) != NULL ||
		    fstatat(dirfd(dir), de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (unlinkat(dirfd(dir), de->d_name, 0) == 0)
			log_info("removed %s/%s: no unikernel of the state "
			    "uses it", d->image_dir, de->d_name);
		else
			log_warn("removing %s/%s: %s", d->image_dir,
			    de->d_name, strerror(errno));
	}
	closedir(dir);
}

void
images_free(pt_daemon *d)
{
	pt_image_book *b = d->images;
	if (b == NULL)
		return;
	free_texts(b->named, b->nnamed);
	free_texts(b->doomed, b->ndoomed);
	free(b);
	d->images = NULL;
}
