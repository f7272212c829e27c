/*
 * Wire codec benchmark: decode and encode throughput of the AV5 messages
 * of albatross-wire.md §13 (the v13-* files of the fuzz seed corpus), one
 * by one and as a mix, plus a create carrying a 1 MiB image (the decoder
 * points into the frame instead of copying the image, so its cost should
 * not grow with the image). Decoding includes the arena (allocated and
 * freed per message, as the daemons do); encoding reuses one buffer.
 * Prints figures; fails only on a functional error.
 *
 * usage: bench_wire CORPUS-DIR (fuzz/corpus/wire)
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wire.h"
#include "loadavg.h"

#define MAX_MESSAGES 128
#define MIN_SECONDS 0.1   /* each measurement runs at least this long */
#define BIG_IMAGE (1u << 20)

typedef struct {
	char name[256];
	uint8_t *data;
	size_t len;
} message;

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static _Noreturn void
die(const char *what, const char *why)
{
	fprintf(stderr, "bench_wire: %s: %s\n", what, why);
	exit(1);
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(((const message *)a)->name, ((const message *)b)->name);
}

/* The v13-* seed files, sorted by name. */
static size_t
load(const char *dir, message *out)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		die(dir, "cannot open the corpus directory");
	size_t n = 0;
	for (struct dirent *de; (de = readdir(d)) != NULL;) {
		if (strncmp(de->d_name, "v13-", 4) != 0 || n == MAX_MESSAGES ||
		    strlen(de->d_name) >= sizeof(out->name))
			continue;
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		FILE *f = fopen(path, "rb");
		if (f == NULL)
			die(path, "cannot open");
		uint8_t buf[65536];
		size_t len = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		message *m = &out[n++];
		snprintf(m->name, sizeof(m->name), "%s", de->d_name);
		m->data = malloc(len);
		if (m->data == NULL)
			die(path, "out of memory");
		memcpy(m->data, buf, len);
		m->len = len;
	}
	closedir(d);
	qsort(out, n, sizeof(*out), by_name);
	return n;
}

static void
decode_once(const message *m)
{
	pt_arena a = {0};
	pt_wire w;
	pt_err err;
	if (pt_wire_decode(m->data, m->len, &a, &w, &err) != 0)
		die(m->name, err.msg);
	pt_arena_free(&a);
}

/* Decodes the `count` messages at ms, over and over until MIN_SECONDS
 * passed; returns seconds per round and sets the rounds done. */
static double
time_decode(const message *ms, size_t count, long *rounds_out)
{
	long rounds = 0;
	double t0 = now(), el;
	do {
		for (int k = 0; k < 100; k++, rounds++)
			for (size_t i = 0; i < count; i++)
				decode_once(&ms[i]);
		el = now() - t0;
	} while (el < MIN_SECONDS);
	*rounds_out = rounds;
	return el / (double)rounds;
}

static double
time_encode(const message *ms, size_t count, long *rounds_out)
{
	pt_arena a = {0};
	pt_wire *w = calloc(count, sizeof(*w));
	pt_err err;
	if (w == NULL)
		die("encode", "out of memory");
	for (size_t i = 0; i < count; i++)
		if (pt_wire_decode(ms[i].data, ms[i].len, &a, &w[i], &err) != 0)
			die(ms[i].name, err.msg);
	pt_buf out = {0};
	long rounds = 0;
	double t0 = now(), el;
	do {
		for (int k = 0; k < 100; k++, rounds++)
			for (size_t i = 0; i < count; i++) {
				pt_buf_reset(&out);
				if (pt_wire_encode(&w[i], &out, &err) != 0)
					die(ms[i].name, err.msg);
			}
		el = now() - t0;
	} while (el < MIN_SECONDS);
	pt_buf_free(&out);
	free(w);
	pt_arena_free(&a);
	*rounds_out = rounds;
	return el / (double)rounds;
}

/* Vector 13.10 (a create) re-encoded with a 1 MiB image. */
static message
big_create(const message *ms, size_t n)
{
	const message *src = NULL;
	for (size_t i = 0; i < n; i++)
		if (strcmp(ms[i].name, "v13-10") == 0)
			src = &ms[i];
	if (src == NULL)
		die("v13-10", "missing from the corpus");
	pt_arena a = {0};
	pt_wire w;
	pt_err err;
	if (pt_wire_decode(src->data, src->len, &a, &w, &err) != 0)
		die(src->name, err.msg);
	if (w.kind != PT_PAYLOAD_COMMAND ||
	    w.u.command.kind != PT_CMD_UK_CREATE)
		die(src->name, "not a create");
	uint8_t *img = malloc(BIG_IMAGE);
	if (img == NULL)
		die("image", "out of memory");
	for (size_t i = 0; i < BIG_IMAGE; i++)
		img[i] = (uint8_t)(i * 131u);
	w.u.command.u.config.image = (pt_blob){img, BIG_IMAGE};
	pt_buf out = {0};
	if (pt_wire_encode(&w, &out, &err) != 0)
		die("create with a 1 MiB image", err.msg);
	free(img);
	pt_arena_free(&a);
	message m = {.data = out.data, .len = out.len};
	snprintf(m.name, sizeof(m.name), "v13-10 with 1 MiB image");
	return m;
}

static void
report(const char *name, size_t bytes, size_t msgs, double dec, double enc)
{
	printf("  %-26s %7zu B  decode %9.0f ns %8.0f MB/s   encode %9.0f ns "
	    "%8.0f MB/s\n", name, bytes, dec * 1e9 / (double)msgs,
	    (double)bytes / dec / 1e6, enc * 1e9 / (double)msgs,
	    (double)bytes / enc / 1e6);
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS-DIR\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	bench_load_start();
	static message ms[MAX_MESSAGES + 1];
	size_t n = load(argv[1], ms);
	if (n == 0)
		die(argv[1], "no v13-* vectors");
	long rounds;
	printf("per message (ns per operation, throughput over its bytes):\n");
	size_t total = 0;
	for (size_t i = 0; i < n; i++) {
		double dec = time_decode(&ms[i], 1, &rounds);
		double enc = time_encode(&ms[i], 1, &rounds);
		report(ms[i].name, ms[i].len, 1, dec, enc);
		total += ms[i].len;
	}
	double dec = time_decode(ms, n, &rounds);
	double enc = time_encode(ms, n, &rounds);
	printf("all %zu vectors as a mix:\n", n);
	report("mix (per message)", total, n, dec, enc);
	printf("  %.0f messages/s decoded, %.0f messages/s encoded\n",
	    (double)n / dec, (double)n / enc);

	ms[n] = big_create(ms, n);
	dec = time_decode(&ms[n], 1, &rounds);
	enc = time_encode(&ms[n], 1, &rounds);
	printf("a create with a large image (the image is not copied on "
	    "decode):\n");
	report(ms[n].name, ms[n].len, 1, dec, enc);
	for (size_t i = 0; i <= n; i++)
		free(ms[i].data);
	return 0;
}
