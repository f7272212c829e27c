/*
 * Unit tests for the host library: atomic files, images, tender lookup and
 * spawning, root policy, and (as root only, inside a network namespace of
 * a forked child) taps and bridges.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>

#include "dirlock.h"
#include "fsutil.h"
#include "hostinfo.h"
#include "image.h"
#include "tmpdir_testlib.h"
#include "tap.h"
#include "tender.h"

/* ---- helpers ------------------------------------------------------- */

static void
put_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	assert_int_equal(pt_write_all(fd, text, strlen(text)), 0);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- fsutil ------------------------------------------------------- */

static void
test_mkdirs(void **state)
{
	const char *dir = *state;
	char p[512];
	pt_err e;
	path_in(p, sizeof(p), dir, "a/b//c/");
	assert_int_equal(pt_mkdirs(p, 0700, &e), 0);
	path_in(p, sizeof(p), dir, "a/b/c");
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(pt_mkdirs(p, 0700, &e), 0); /* idempotent */
	path_in(p, sizeof(p), dir, "file");
	put_file(p, "x", 0600);
	path_in(p, sizeof(p), dir, "file/sub");
	assert_int_equal(pt_mkdirs(p, 0700, &e), -1);
	assert_non_null(strstr(e.msg, "not a directory"));
}

static void
test_write_atomic_backup(void **state)
{
	const char *dir = *state;
	char p[512], bak[512];
	pt_err e;
	path_in(p, sizeof(p), dir, "state");
	path_in(bak, sizeof(bak), dir, "state.bak");

	assert_int_equal(pt_write_atomic(p, "one", 3, 0640, bak, &e), 0);
	assert_int_equal(access(bak, F_OK), -1); /* nothing to back up */
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	char *s = slurp(p);
	assert_string_equal(s, "one");
	free(s);

	assert_int_equal(pt_write_atomic(p, "two", 3, 0600, bak, &e), 0);
	assert_int_equal(pt_write_atomic(p, "three", 5, 0600, bak, &e), 0);
	s = slurp(p);
	assert_string_equal(s, "three");
	free(s);
	s = slurp(bak);
	assert_string_equal(s, "two");
	free(s);
	/* No backup requested: the backup stays as it was. */
	assert_int_equal(pt_write_atomic(p, "", 0, 0600, NULL, &e), 0);
	s = slurp(p);
	assert_string_equal(s, "");
	free(s);
	assert_int_equal(count_named(dir, ".tmp."), 0);
	assert_int_equal(count_named(dir, "~"), 0);
}

static void
test_write_atomic_failure_cleans(void **state)
{
	const char *dir = *state;
	char p[512];
	pt_err e;
	/* Missing directory: no temp file can even be made. */
	path_in(p, sizeof(p), dir, "missing/state");
	assert_int_equal(pt_write_atomic(p, "x", 1, 0600, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "missing"));
	/* Target is a directory: the rename fails after the temp file was
	 * written, which must then be removed. (Root ignores read-only
	 * directories, so this is the portable way to fail late.) */
	path_in(p, sizeof(p), dir, "adir");
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(pt_write_atomic(p, "x", 1, 0600, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "rename"));
	assert_int_equal(count_named(dir, ".tmp."), 0);
	/* A directory as backup target fails too, before the rename. */
	char bak[512];
	path_in(p, sizeof(p), dir, "state");
	assert_int_equal(pt_write_atomic(p, "old", 3, 0600, NULL, &e), 0);
	path_in(bak, sizeof(bak), dir, "adir");
	assert_int_equal(pt_write_atomic(p, "new", 3, 0600, bak, &e), -1);
	char *s = slurp(p);
	assert_string_equal(s, "old");
	free(s);
	assert_int_equal(count_named(dir, ".tmp."), 0);
	assert_int_equal(count_named(dir, "~"), 0);
}

static void
test_read_file_bounded(void **state)
{
	const char *dir = *state;
	char p[512];
	pt_err e;
	uint8_t *data;
	size_t n;
	path_in(p, sizeof(p), dir, "hundred");
	char text[101];
	memset(text, 'a', 100);
	text[100] = 0;
	put_file(p, text, 0600);
	assert_int_equal(pt_read_file(p, 99, &data, &n, &e), -1);
	assert_int_equal(errno, EFBIG);
	assert_null(data);
	assert_int_equal(pt_read_file(p, 100, &data, &n, &e), 0);
	assert_int_equal(n, 100);
	assert_memory_equal(data, text, 100);
	free(data);

	/* No limit at all is a valid request. */
	assert_int_equal(pt_read_file(p, SIZE_MAX, &data, &n, &e), 0);
	assert_int_equal(n, 100);
	free(data);

	path_in(p, sizeof(p), dir, "nope");
	assert_int_equal(pt_read_file(p, 100, &data, &n, &e), -1);
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(e.msg, "nope"));

	/* A FIFO without writer would block a plain open: refused at once. */
	path_in(p, sizeof(p), dir, "fifo");
	assert_int_equal(mkfifo(p, 0600), 0);
	assert_int_equal(pt_read_file(p, 100, &data, &n, &e), -1);
	assert_non_null(strstr(e.msg, "not a regular file"));

	assert_int_equal(pt_unlink_quiet(p), 0);
	assert_int_equal(pt_unlink_quiet(p), 0);
	uint64_t bytes = 0;
	assert_int_equal(pt_fs_free_bytes(dir, &bytes, &e), 0);
	assert_true(bytes > 0);
	assert_int_equal(pt_fs_free_bytes("/nonexistent-pt", &bytes, &e), -1);
}

/* ---- image -------------------------------------------------------- */

static void
fill_pattern(uint8_t *p, size_t n)
{
	uint32_t x = 2463534242u;
	for (size_t i = 0; i < n; i++) {
		/* xorshift, then only a few distinct bytes: compressible but
		 * not trivially. */
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)("petrel\n"[x % 7]);
	}
}

static void
test_sha256_vector(void **state)
{
	(void)state;
	uint8_t d[32];
	char hex[65];
	pt_sha256((const uint8_t *)"abc", 3, d);
	pt_hex_encode(d, 32, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
}

static void
test_deflate_inflate_roundtrip(void **state)
{
	(void)state;
	size_t n = 3 * 1024 * 1024 + 17;
	uint8_t *plain = malloc(n);
	assert_non_null(plain);
	fill_pattern(plain, n);
	uint8_t *z, *back;
	size_t zn, bn;
	pt_err e;
	assert_int_equal(pt_image_deflate(plain, n, 0, &z, &zn, &e), -1);
	assert_int_equal(pt_image_deflate(plain, n, 6, &z, &zn, &e), 0);
	assert_true(zn < n);
	uint8_t d1[32], d2[32];
	assert_int_equal(pt_image_inflate(z, zn, n, &back, &bn, d1, &e), 0);
	assert_int_equal(bn, n);
	assert_memory_equal(back, plain, n);
	pt_sha256(plain, n, d2);
	assert_memory_equal(d1, d2, 32);
	free(back);
	/* One byte less than needed: refused. */
	assert_int_equal(pt_image_inflate(z, zn, n - 1, &back, &bn, NULL, &e),
	    -1);
	assert_null(back);
	free(z);

	/* Empty input round-trips too. */
	assert_int_equal(pt_image_deflate(plain, 0, 9, &z, &zn, &e), 0);
	assert_int_equal(pt_image_inflate(z, zn, 10, &back, &bn, d1, &e), 0);
	assert_int_equal(bn, 0);
	pt_sha256(NULL, 0, d2);
	assert_memory_equal(d1, d2, 32);
	free(back);
	free(z);
	free(plain);
}

static void
test_inflate_bomb_and_corruption(void **state)
{
	(void)state;
	/* 64 MiB of zeros deflate to ~64 KiB: a small bomb. */
	size_t n = 64u * 1024 * 1024;
	uint8_t *zeros = calloc(1, n);
	assert_non_null(zeros);
	uint8_t *z, *out;
	size_t zn, on;
	pt_err e;
	assert_int_equal(pt_image_deflate(zeros, n, 9, &z, &zn, &e), 0);
	free(zeros);
	assert_true(zn < n / 500);
	assert_int_equal(pt_image_inflate(z, zn, 1024 * 1024, &out, &on, NULL,
	    &e), -1);
	assert_non_null(strstr(e.msg, "limit"));
	assert_null(out);

	/* Truncated stream. */
	assert_int_equal(pt_image_inflate(z, zn / 2, n, &out, &on, NULL, &e),
	    -1);
	assert_non_null(strstr(e.msg, "truncated"));
	/* Trailing bytes after a complete stream. */
	uint8_t *longer = malloc(zn + 3);
	assert_non_null(longer);
	memcpy(longer, z, zn);
	memcpy(longer + zn, "xyz", 3);
	assert_int_equal(pt_image_inflate(longer, zn + 3, n, &out, &on, NULL,
	    &e), -1);
	assert_non_null(strstr(e.msg, "trailing"));
	free(longer);
	free(z);

	/* Garbage is not a zlib stream. */
	assert_int_equal(pt_image_inflate((const uint8_t *)"hello world", 11,
	    n, &out, &on, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "inflate"));
	assert_int_equal(pt_image_inflate(NULL, 0, n, &out, &on, NULL, &e), -1);
}

static void
test_image_write(void **state)
{
	const char *dir = *state;
	char p[512];
	pt_err e;
	uint8_t d[32], want[32];
	path_in(p, sizeof(p), dir, "foo.img");

	assert_int_equal(pt_image_write(p, (const uint8_t *)"abc", 3, false,
	    d, &e), 0);
	pt_sha256((const uint8_t *)"abc", 3, want);
	assert_memory_equal(d, want, 32);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	char *s = slurp(p);
	assert_string_equal(s, "abc");
	free(s);

	size_t n = 2 * 1024 * 1024;
	uint8_t *plain = malloc(n);
	assert_non_null(plain);
	fill_pattern(plain, n);
	uint8_t *z;
	size_t zn;
	assert_int_equal(pt_image_deflate(plain, n, 1, &z, &zn, &e), 0);
	assert_int_equal(pt_image_write(p, z, zn, true, d, &e), 0);
	pt_sha256(plain, n, want);
	assert_memory_equal(d, want, 32);
	uint8_t *back;
	size_t bn;
	assert_int_equal(pt_read_file(p, n, &back, &bn, &e), 0);
	assert_int_equal(bn, n);
	assert_memory_equal(back, plain, n);
	free(back);

	/* Corrupt the stream late: output was written before the error is
	 * found, and must not survive. */
	path_in(p, sizeof(p), dir, "bad.img");
	for (size_t i = zn - zn / 4; i < zn - zn / 4 + 64; i++)
		z[i] ^= 0x5a;
	assert_int_equal(pt_image_write(p, z, zn, true, d, &e), -1);
	assert_non_null(strstr(e.msg, "bad.img"));
	assert_int_equal(access(p, F_OK), -1);
	assert_int_equal(count_named(dir, ".tmp."), 0);
	free(z);
	free(plain);

	path_in(p, sizeof(p), dir, "no/such/dir.img");
	assert_int_equal(pt_image_write(p, (const uint8_t *)"abc", 3, false,
	    d, &e), -1);
}

/* ---- tenders ------------------------------------------------------ */

static void
fake_tender(const char *dir, const char *name, const char *abi_line,
    mode_t mode)
{
	char p[512], text[512];
	path_in(p, sizeof(p), dir, name);
	snprintf(text, sizeof(text), "#!/bin/sh\n"
	    "echo \"${0##*/} tender, version v0.12.1\" >&2\n"
	    "echo '%s' >&2\n", abi_line);
	put_file(p, text, mode);
}

static void
test_tender_version(void **state)
{
	const char *dir = *state;
	char p[512];
	pt_err e;
	uint32_t abi = 0;
	fake_tender(dir, "solo5-hvt", "ABI version 2", 0755);
	path_in(p, sizeof(p), dir, "solo5-hvt");
	assert_int_equal(pt_tender_abi_version(p, &abi, &e), 0);
	assert_int_equal(abi, 2);

	fake_tender(dir, "solo5-hvt", "ABI version 1", 0755);
	assert_int_equal(pt_tender_abi_version(p, &abi, &e), 0);
	assert_int_equal(abi, 1);

	fake_tender(dir, "solo5-hvt", "ABI version two", 0755);
	assert_int_equal(pt_tender_abi_version(p, &abi, &e), -1);
	assert_non_null(strstr(e.msg, "ABI version"));

	fake_tender(dir, "solo5-hvt", "ABI version 2", 0644);
	assert_int_equal(pt_tender_abi_version(p, &abi, &e), -1);
	assert_non_null(strstr(e.msg, "could not exec"));

	/* Endless output is cut at the bound. */
	put_file(p, "#!/bin/sh\nexec yes 'ABI version 2'\n", 0755);
	assert_int_equal(pt_tender_abi_version(p, &abi, &e), -1);
	assert_non_null(strstr(e.msg, "longer than"));
}

static void
test_tender_version_timeout(void **state)
{
	const char *dir = *state;
	char p[512];
	pt_err e;
	uint32_t abi;
	path_in(p, sizeof(p), dir, "solo5-slow");
	/* The sleeping grandchild holds the pipe: killed with the group. */
	put_file(p, "#!/bin/sh\necho 'ABI version 2' >&2\nsleep 60\n", 0755);
	int64_t t0 = now_ms();
	assert_int_equal(pt_tender_abi_version(p, &abi, &e), -1);
	int64_t took = now_ms() - t0;
	assert_non_null(strstr(e.msg, "no answer"));
	assert_true(took >= 4500 && took < 15000);
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1); /* reaped */
	assert_int_equal(errno, ECHILD);
}

static void
test_tender_find_order(void **state)
{
	const char *dir = *state;
	char db[512], bin[512], found[512], p[512];
	pt_err e;
	path_in(db, sizeof(db), dir, "db");
	path_in(bin, sizeof(bin), dir, "bin");
	assert_int_equal(mkdir(db, 0700), 0);
	assert_int_equal(mkdir(bin, 0700), 0);
	char *old_path = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
	char newpath[1200];
	snprintf(newpath, sizeof(newpath), "relative:%s::%s", bin,
	    old_path ? old_path : "/usr/bin:/bin");
	assert_int_equal(setenv("PATH", newpath, 1), 0);

	fake_tender(db, "solo5-hvt.2", "ABI version 2", 0755);
	fake_tender(bin, "solo5-hvt.2", "ABI version 2", 0755);
	fake_tender(db, "solo5-hvt", "ABI version 2", 0755);
	fake_tender(bin, "solo5-hvt", "ABI version 2", 0755);

	path_in(p, sizeof(p), db, "solo5-hvt.2");
	assert_int_equal(pt_tender_find(db, "hvt", 2, found, sizeof(found),
	    &e), 0);
	assert_string_equal(found, p);

	assert_int_equal(chmod(p, 0644), 0); /* not executable: skipped */
	path_in(p, sizeof(p), bin, "solo5-hvt.2");
	assert_int_equal(pt_tender_find(db, "hvt", 2, found, sizeof(found),
	    &e), 0);
	assert_string_equal(found, p);

	fake_tender(bin, "solo5-hvt.2", "ABI version 1", 0755); /* wrong */
	path_in(p, sizeof(p), db, "solo5-hvt");
	assert_int_equal(pt_tender_find(db, "hvt", 2, found, sizeof(found),
	    &e), 0);
	assert_string_equal(found, p);

	assert_int_equal(unlink(p), 0);
	path_in(p, sizeof(p), bin, "solo5-hvt");
	assert_int_equal(pt_tender_find(db, "hvt", 2, found, sizeof(found),
	    &e), 0);
	assert_string_equal(found, p);
	/* Without a dbdir, only PATH counts. */
	assert_int_equal(pt_tender_find(NULL, "hvt", 2, found, sizeof(found),
	    &e), 0);
	assert_string_equal(found, p);
	/* Too small a buffer for the path. */
	assert_int_equal(pt_tender_find(db, "hvt", 2, found, 4, &e), -1);

	assert_int_equal(unlink(p), 0);
	assert_int_equal(pt_tender_find(db, "hvt", 2, found, sizeof(found),
	    &e), -1);
	assert_non_null(strstr(e.msg, "not executable"));
	assert_non_null(strstr(e.msg, "ABI version 1"));
	assert_non_null(strstr(e.msg, "missing"));

	assert_int_equal(pt_tender_find(db, "../hvt", 2, found, sizeof(found),
	    &e), -1);
	assert_int_equal(pt_tender_find(db, "spt", 2, found, sizeof(found),
	    &e), -1);
	assert_non_null(strstr(e.msg, "solo5-spt"));

	if (old_path != NULL)
		setenv("PATH", old_path, 1);
	else
		unsetenv("PATH");
	free(old_path);
}

/* ---- the tender ABI version cache ---- */

/* A tender script that notes every run in `runs` (one line each). */
static void
counting_tender(const char *path, const char *runs, const char *abi_line)
{
	char text[1024];
	snprintf(text, sizeof(text), "#!/bin/sh\n"
	    "echo run >> '%s'\n"
	    "echo '%s' >&2\n", runs, abi_line);
	put_file(path, text, 0755);
}

static int
count_runs(const char *runs)
{
	struct stat st;
	if (stat(runs, &st) != 0)
		return 0;
	return (int)(st.st_size / 4); /* "run\n" */
}

static int64_t
realtime_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The cache takes only files whose timestamps have settled: waits until
 * everything written so far is old enough (a clock condition, bounded). */
static void
wait_settled(void)
{
	int64_t until = realtime_ms() + PT_TENDER_CACHE_SETTLE_MS + 100;
	while (realtime_ms() < until) {
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

static int
find_hvt(const char *db, char *found, size_t cap, pt_err *e)
{
	return pt_tender_find(db, "hvt", 2, found, cap, e);
}

static void
test_tender_cache(void **state)
{
	const char *dir = *state;
	enum { N = PT_TENDER_CACHE_ENTRIES + 1 };
	char db[N][512], tender[N][512], runs[512], empty[512], found[512];
	char tmp[512];
	pt_err e;
	path_in(runs, sizeof(runs), dir, "runs");
	path_in(empty, sizeof(empty), dir, "empty");
	assert_int_equal(mkdir(empty, 0700), 0);
	char *old_path = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
	assert_int_equal(setenv("PATH", empty, 1), 0); /* no tender there */
	for (int i = 0; i < N; i++) {
		char sub[32];
		snprintf(sub, sizeof(sub), "db%d", i);
		path_in(db[i], sizeof(db[i]), dir, sub);
		assert_int_equal(mkdir(db[i], 0700), 0);
		path_in(tender[i], sizeof(tender[i]), db[i], "solo5-hvt.2");
		counting_tender(tender[i], runs, "ABI version 2");
	}
	pt_tender_cache_clear();

	/* A fresh file is asked every time: a change within its timestamp
	 * tick would not show. */
	assert_int_equal(find_hvt(db[0], found, sizeof(found), &e), 0);
	assert_int_equal(find_hvt(db[0], found, sizeof(found), &e), 0);
	assert_int_equal(count_runs(runs), 2);

	wait_settled();
	/* Settled: the second lookup does not exec. */
	assert_int_equal(find_hvt(db[0], found, sizeof(found), &e), 0);
	assert_string_equal(found, tender[0]);
	assert_int_equal(count_runs(runs), 3);
	assert_int_equal(find_hvt(db[0], found, sizeof(found), &e), 0);
	assert_string_equal(found, tender[0]);
	assert_int_equal(count_runs(runs), 3);

	/* Bounded: N distinct tenders push out the least recently used. */
	for (int i = 1; i < N; i++)
		assert_int_equal(find_hvt(db[i], found, sizeof(found), &e), 0);
	assert_int_equal(count_runs(runs), 3 + N - 1);
	assert_int_equal(find_hvt(db[N - 1], found, sizeof(found), &e), 0);
	assert_int_equal(count_runs(runs), 3 + N - 1);
	assert_int_equal(find_hvt(db[0], found, sizeof(found), &e), 0);
	assert_int_equal(count_runs(runs), 3 + N);

	/* Rewritten in place, same inode and size: asked again, and its new
	 * answer counts. */
	counting_tender(tender[N - 1], runs, "ABI version 3");
	assert_int_equal(find_hvt(db[N - 1], found, sizeof(found), &e), -1);
	assert_non_null(strstr(e.msg, "ABI version 3"));
	assert_int_equal(count_runs(runs), 3 + N + 1);

	/* Replaced by a new file (a package upgrade renames over it). */
	path_in(tmp, sizeof(tmp), db[0], "new");
	counting_tender(tmp, runs, "ABI version 1");
	assert_int_equal(rename(tmp, tender[0]), 0);
	assert_int_equal(find_hvt(db[0], found, sizeof(found), &e), -1);
	assert_non_null(strstr(e.msg, "ABI version 1"));
	assert_int_equal(count_runs(runs), 3 + N + 2);

	/* A wrong version is remembered like a right one, once settled;
	 * clearing forgets everything. */
	wait_settled();
	assert_int_equal(find_hvt(db[0], found, sizeof(found), &e), -1);
	assert_int_equal(find_hvt(db[0], found, sizeof(found), &e), -1);
	assert_non_null(strstr(e.msg, "ABI version 1"));
	assert_int_equal(count_runs(runs), 3 + N + 3);
	pt_tender_cache_clear();
	assert_int_equal(find_hvt(db[0], found, sizeof(found), &e), -1);
	assert_int_equal(count_runs(runs), 3 + N + 4);

	/* A lost exec permission is seen before the cache is asked. */
	assert_int_equal(chmod(tender[1], 0644), 0);
	assert_int_equal(find_hvt(db[1], found, sizeof(found), &e), -1);
	assert_non_null(strstr(e.msg, "not executable"));

	pt_tender_cache_clear();
	if (old_path != NULL)
		setenv("PATH", old_path, 1);
	else
		unsetenv("PATH");
	free(old_path);
}

/* Waits until the pidfd reports the exit (deadline 10 s), then reaps. */
static int
wait_exit(pid_t pid, int pidfd)
{
	struct pollfd pf = {.fd = pidfd, .events = POLLIN};
	int r;
	do {
		r = poll(&pf, 1, 10000);
	} while (r < 0 && errno == EINTR);
	assert_int_equal(r, 1);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(pidfd);
	return status;
}

static void
test_spawn_pinned(void **state)
{
	const char *dir = *state;
	char con[512];
	pt_err e;
	path_in(con, sizeof(con), dir, "console");
	put_file(con, "", 0600);
	const char *const argv[] = {"/bin/sh", "-c",
	    "cat /proc/self/status; ls -l /proc/self/fd", NULL};
	const int64_t cpus[] = {0};
	pt_spawn_args sa = {.argv = argv, .console_path = con,
	    .cpuids = cpus, .ncpuids = 1};
	pid_t pid;
	int pidfd;
	/* An ignored and a blocked signal here must not reach the child. */
	struct sigaction ign = {.sa_handler = SIG_IGN}, old_pipe;
	sigset_t usr1, old_mask;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	assert_int_equal(sigaction(SIGPIPE, &ign, &old_pipe), 0);
	assert_int_equal(sigprocmask(SIG_BLOCK, &usr1, &old_mask), 0);
	int rc = pt_spawn(&sa, &pid, &pidfd, &e);
	sigaction(SIGPIPE, &old_pipe, NULL);
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	assert_int_equal(rc, 0);
	assert_true(pid > 0);
	assert_true(pidfd >= 0);
	assert_true(fcntl(pidfd, F_GETFD) & FD_CLOEXEC);
	int status = wait_exit(pid, pidfd);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	char *out = slurp(con);
	assert_non_null(strstr(out, "Cpus_allowed_list:\t0\n"));
	/* Its own session: the session id is its pid. */
	char sid[64];
	snprintf(sid, sizeof(sid), "NSsid:\t%ld\n", (long)pid);
	assert_non_null(strstr(out, sid));
	assert_non_null(strstr(out, "SigIgn:\t0000000000000000\n"));
	assert_non_null(strstr(out, "SigBlk:\t0000000000000000\n"));
	/* Only 0, 1, 2 (and ls's own directory fd) are open. */
	assert_null(strstr(out, " 4 -> "));
	free(out);

	const int64_t bad[] = {-1};
	sa.cpuids = bad;
	assert_int_equal(pt_spawn(&sa, &pid, &pidfd, &e), -1);
	assert_non_null(strstr(e.msg, "CPU id"));
	/* In range, but (almost surely) not a CPU of this machine: the
	 * child's sched_setaffinity fails, reported as an error. */
	const int64_t absent[] = {8000};
	sa.cpuids = absent;
	assert_int_equal(pt_spawn(&sa, &pid, &pidfd, &e), -1);
	assert_non_null(strstr(e.msg, "could not set the CPU affinity of "
	    "/bin/sh"));
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
}

static void
test_spawn_exec_failure(void **state)
{
	(void)state;
	const char *const argv[] = {"/nonexistent/solo5-hvt", "--mem=1",
	    NULL};
	pt_spawn_args sa = {.argv = argv};
	pid_t pid;
	int pidfd;
	pt_err e;
	assert_int_equal(pt_spawn(&sa, &pid, &pidfd, &e), -1);
	assert_non_null(strstr(e.msg, "could not exec /nonexistent/solo5-hvt"));
	assert_non_null(strstr(e.msg, strerror(ENOENT)));
	assert_int_equal(pidfd, -1);
	/* The failed child was reaped. */
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

static void
test_spawn_fifo_console(void **state)
{
	const char *dir = *state;
	char fifo[512];
	pt_err e;
	path_in(fifo, sizeof(fifo), dir, "fifo");
	assert_int_equal(mkfifo(fifo, 0600), 0);
	const char *const argv[] = {"/bin/sh", "-c",
	    "echo out; echo err >&2", NULL};
	pt_spawn_args sa = {.argv = argv, .console_path = fifo};
	pid_t pid;
	int pidfd;
	int rd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	assert_true(rd >= 0);
	assert_int_equal(pt_spawn(&sa, &pid, &pidfd, &e), 0);
	int status = wait_exit(pid, pidfd);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	char buf[64] = {0};
	assert_int_equal(read(rd, buf, sizeof(buf) - 1), 8);
	assert_string_equal(buf, "out\nerr\n");
	/* Nobody but the child held a write end: with it gone, EOF. */
	assert_int_equal(read(rd, buf, sizeof(buf)), 0);
	close(rd);

	/* Nobody reads: the spawn neither blocks nor fails, and the tender
	 * is not killed by SIGPIPE when it writes. */
	assert_int_equal(pt_spawn(&sa, &pid, &pidfd, &e), 0);
	status = wait_exit(pid, pidfd);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	path_in(fifo, sizeof(fifo), dir, "absent");
	assert_int_equal(pt_spawn(&sa, &pid, &pidfd, &e), -1);
	assert_non_null(strstr(e.msg, "absent"));
	close(rd);
}

/* ---- directory locks, tap owners ---------------------------------- */

/* A second lock on the same directory fails and names the holder; the
 * lock file carries the holder's pid; closing the fd releases it. flock
 * locks belong to open files, so one process can play both daemons. */
static void
test_dir_lock(void **state)
{
	const char *dir = *state;
	pt_err e;
	int fd = pt_dir_lock(dir, "petreld.lock", "petreld", &e);
	assert_true(fd >= 0);
	assert_true((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
	char path[4096], want[256];
	path_in(path, sizeof(path), dir, "petreld.lock");
	char *text = slurp(path);
	snprintf(want, sizeof(want), "%ld\n", (long)getpid());
	assert_string_equal(text, want);
	free(text);
	assert_int_equal(pt_dir_lock(dir, "petreld.lock", "petreld", &e), -1);
	snprintf(want, sizeof(want), "%s is in use by petreld pid %ld", dir,
	    (long)getpid());
	assert_non_null(strstr(e.msg, want));
	close(fd);
	fd = pt_dir_lock(dir, "petreld.lock", "petreld", &e);
	assert_true(fd >= 0);
	close(fd);
	/* Never through a symlink. */
	char link[4096];
	path_in(link, sizeof(link), dir, "link.lock");
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(pt_dir_lock(dir, "link.lock", "petreld", &e), -1);
}

static void
test_tap_owner(void **state)
{
	(void)state;
	char a[PT_TAP_OWNER_MAX], b[PT_TAP_OWNER_MAX];
	pt_tap_owner(a, "/run/petrel", 0x803, 42);
	assert_string_equal(a, "petrel:/run/petrel db:803:42");
	pt_tap_owner(b, "/run/petrel", 0x803, 43);
	assert_string_not_equal(a, b);
	/* Too long for an alias: a hash, still one per daemon. */
	char longdir[400];
	memset(longdir, 'd', sizeof(longdir) - 1);
	longdir[0] = '/';
	longdir[sizeof(longdir) - 1] = '\0';
	pt_tap_owner(a, longdir, 1, 2);
	pt_tap_owner(b, longdir, 1, 3);
	assert_true(strlen(a) < PT_TAP_OWNER_MAX);
	assert_int_equal(strncmp(a, "petrel:sha256:", 14), 0);
	assert_int_equal(strlen(a), 14 + 64);
	assert_string_not_equal(a, b);
	/* The longest that still fits stays readable. */
	char fits[PT_TAP_OWNER_MAX];
	size_t room = PT_TAP_OWNER_MAX - 1 - strlen("petrel: db:1:2");
	memset(fits, 'f', room);
	fits[0] = '/';
	fits[room] = '\0';
	pt_tap_owner(a, fits, 1, 2);
	assert_int_equal(strlen(a), PT_TAP_OWNER_MAX - 1);
	assert_int_equal(strncmp(a, "petrel:/fff", 11), 0);
}

/* ---- root policy -------------------------------------------------- */

static void
test_root_policy(void **state)
{
	const char *dir = *state;
	pt_policy *p;
	pt_err e;
	assert_int_equal(pt_host_root_policy(dir, &p, &e), 0);
	assert_int_equal(p->unikernels, (INT64_C(1) << 62) - 1);
	assert_true(p->memory > 16);
	assert_true(p->has_block);
	assert_true(p->block >= 0);
	cpu_set_t set;
	assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
	assert_int_equal(p->ncpuids, (size_t)CPU_COUNT(&set));
	for (size_t i = 0; i < p->ncpuids; i++)
		assert_true(CPU_ISSET((size_t)p->cpuids[i], &set));
	assert_int_equal(pt_policy_usable(p, &e), 0);
	pt_policy_free(p);
	assert_int_equal(pt_host_root_policy("/nonexistent-pt", &p, &e), -1);
	assert_non_null(strstr(e.msg, "nonexistent-pt"));
	assert_int_equal(pt_host_root_policy(NULL, &p, &e), -1);
}

/* ---- taps, in a private network namespace -------------------------- */

/* In the forked child no cmocka assertion may fire (it would longjmp
 * into the child's copy of the runner): failures exit with status 1. */
#define CHECK(c)                                                        \
	do {                                                            \
		if (!(c)) {                                             \
			fprintf(stderr, "%s:%d: check failed: %s\n",    \
			    __FILE__, __LINE__, #c);                    \
			_exit(1);                                       \
		}                                                       \
	} while (0)

static struct rtnl_link *
get_link(struct nl_sock *sk, const char *name)
{
	struct rtnl_link *l = NULL;
	if (rtnl_link_get_kernel(sk, 0, name, &l) != 0)
		return NULL;
	return l;
}

static int
add_bridge(struct nl_sock *sk, const char *name)
{
	struct rtnl_link *l = rtnl_link_alloc();
	CHECK(l != NULL);
	rtnl_link_set_name(l, name);
	CHECK(rtnl_link_set_type(l, "bridge") == 0);
	int rc = rtnl_link_add(sk, l, NLM_F_CREATE | NLM_F_EXCL);
	rtnl_link_put(l);
	return rc;
}

/* The tap exists, is a tun device, up and enslaved to `bridge`. */
static void
check_tap(struct nl_sock *sk, const char *tap, const char *bridge)
{
	struct rtnl_link *br = get_link(sk, bridge);
	struct rtnl_link *t = get_link(sk, tap);
	CHECK(br != NULL && t != NULL);
	CHECK(strcmp(rtnl_link_get_type(t), "tun") == 0);
	CHECK(rtnl_link_get_flags(t) & IFF_UP);
	CHECK(rtnl_link_get_master(t) == rtnl_link_get_ifindex(br));
	rtnl_link_put(br);
	rtnl_link_put(t);
}

static void
tap_checks_in_netns(void)
{
	CHECK(unshare(CLONE_NEWNET) == 0);
	struct nl_sock *sk = nl_socket_alloc();
	CHECK(sk != NULL && nl_connect(sk, NETLINK_ROUTE) == 0);
	pt_err e;
	char **names;
	size_t n;
	CHECK(pt_bridges_list(&names, &n, &e) == 0 && n == 0);
	pt_bridges_free(names, n);
	int rc = add_bridge(sk, "br0");
	if (rc == -NLE_OPNOTSUPP) {
		fprintf(stderr, "no bridge support in this kernel\n");
		_exit(77);
	}
	CHECK(rc == 0);
	CHECK(add_bridge(sk, "br1") == 0);

	CHECK(pt_bridge_exists("br0", &e) == 1);
	CHECK(pt_bridge_exists("lo", &e) == 0);
	CHECK(pt_bridge_exists("nope", &e) == 0);
	CHECK(pt_bridge_exists("far-too-long-a-name", &e) == 0);
	CHECK(pt_link_exists("lo") == 1);
	CHECK(pt_link_exists("nope") == 0);

	char t0[IFNAMSIZ], t1[IFNAMSIZ], t2[IFNAMSIZ];
	CHECK(pt_tap_create("br0", "petrel:test", t0, &e) == 0);
	CHECK(strcmp(t0, "vmmtap0") == 0);
	CHECK(pt_tap_create("br1", "petrel:test", t1, &e) == 0);
	CHECK(strcmp(t1, "vmmtap1") == 0);
	check_tap(sk, "vmmtap0", "br0");
	check_tap(sk, "vmmtap1", "br1");

	CHECK(pt_bridges_list(&names, &n, &e) == 0 && n == 2);
	CHECK((strcmp(names[0], "br0") == 0 && strcmp(names[1], "br1") == 0) ||
	    (strcmp(names[0], "br1") == 0 && strcmp(names[1], "br0") == 0));
	pt_bridges_free(names, n);

	/* The lowest free number is reused. */
	CHECK(pt_tap_destroy("vmmtap0", &e) == 0);
	CHECK(pt_link_exists("vmmtap0") == 0);
	CHECK(pt_tap_destroy("vmmtap0", &e) == 0); /* already gone: fine */
	CHECK(pt_tap_create("br1", "petrel:test", t2, &e) == 0);
	CHECK(strcmp(t2, "vmmtap0") == 0);
	check_tap(sk, "vmmtap0", "br1");

	/* A foreign interface with a tap-like name is skipped. */
	CHECK(add_bridge(sk, "vmmtap2") == 0);
	CHECK(pt_tap_create("br0", "petrel:test", t2, &e) == 0);
	CHECK(strcmp(t2, "vmmtap3") == 0);
	/* ... and never deleted as a tap. */
	CHECK(pt_tap_destroy("vmmtap2", &e) == -1);
	CHECK(strstr(e.msg, "not a tap") != NULL);
	CHECK(pt_link_exists("vmmtap2") == 1);

	/* Bad bridges: an error, and no tap left behind. */
	CHECK(pt_tap_create("missing", "petrel:test", t2, &e) == -1);
	CHECK(strstr(e.msg, "missing") != NULL);
	CHECK(strstr(e.msg, "does not exist") != NULL);
	CHECK(pt_tap_create("lo", "petrel:test", t2, &e) == -1);
	CHECK(strstr(e.msg, "not a bridge") != NULL);
	CHECK(pt_tap_create("a/b", "petrel:test", t2, &e) == -1);
	CHECK(pt_link_exists("vmmtap4") == 0);

	/* Orphans: only the taps whose alias is the owner go. (Now: vmmtap0,
	 * vmmtap1, vmmtap3 of "petrel:test"; one more of another owner.) */
	char t3[IFNAMSIZ];
	CHECK(pt_tap_create("br0", "petrel:other", t3, &e) == 0);
	size_t removed = 0;
	CHECK(pt_tap_remove_orphans("petrel:test", &removed, &e) == 0);
	CHECK(removed == 3);
	CHECK(pt_link_exists("vmmtap0") == 0 && pt_link_exists("vmmtap1") == 0 &&
	    pt_link_exists("vmmtap3") == 0);
	CHECK(pt_link_exists(t3) == 1);
	CHECK(pt_link_exists("vmmtap2") == 1); /* the bridge: not a tap */
	CHECK(pt_tap_destroy(t3, &e) == 0);

	/* The root policy offers the namespace's bridges. */
	pt_policy *p;
	CHECK(pt_host_root_policy("/tmp", &p, &e) == 0);
	CHECK(p->nbridges == 3); /* br0, br1, vmmtap2 */
	CHECK(strcmp(p->bridges[0].s, "br0") == 0);
	CHECK(strcmp(p->bridges[2].s, "vmmtap2") == 0);
	pt_policy_free(p);

	CHECK(pt_tap_destroy("vmmtap0", &e) == 0);
	CHECK(pt_tap_destroy("vmmtap1", &e) == 0);
	CHECK(pt_tap_destroy("vmmtap3", &e) == 0);
	CHECK(pt_link_exists("vmmtap1") == 0);
	nl_socket_free(sk);
	_exit(0);
}

static void
test_taps_in_netns(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		tap_checks_in_netns();
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		skip();
	assert_int_equal(WEXITSTATUS(status), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mkdirs, setup_tmpdir,
		    teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_write_atomic_backup,
		    setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(
		    test_write_atomic_failure_cleans, setup_tmpdir,
		    teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_read_file_bounded,
		    setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test(test_sha256_vector),
		cmocka_unit_test(test_deflate_inflate_roundtrip),
		cmocka_unit_test(test_inflate_bomb_and_corruption),
		cmocka_unit_test_setup_teardown(test_image_write, setup_tmpdir,
		    teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_tender_version,
		    setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_tender_version_timeout,
		    setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_tender_find_order,
		    setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_tender_cache,
		    setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_spawn_pinned,
		    setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test(test_spawn_exec_failure),
		cmocka_unit_test_setup_teardown(test_spawn_fifo_console,
		    setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_root_policy, setup_tmpdir,
		    teardown_tmpdir),
		cmocka_unit_test(test_taps_in_netns),
		cmocka_unit_test_setup_teardown(test_dir_lock, setup_tmpdir,
		    teardown_tmpdir),
		cmocka_unit_test(test_tap_owner),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
