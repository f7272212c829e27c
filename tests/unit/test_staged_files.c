/*
 * Unit tests for the files petreld writes without fsync at first: a file
 * made fresh (never truncating a shared inode), made durable later, hard
 * links with their "copy instead" answer, and images written for the run
 * directory only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "image.h"
#include "tmpdir_testlib.h"

static ino_t
inode_of(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_ino;
}

static void
test_write_new(void **state)
{
	const char *dir = *state;
	char p[512], other[512];
	pt_err e;
	path_in(p, sizeof(p), dir, "a.img.new");
	path_in(other, sizeof(other), dir, "a.img");

	assert_int_equal(pt_write_new(p, "one", 3, 0600, &e), 0);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	char *s = slurp(p);
	assert_string_equal(s, "one");
	free(s);

	/* The old file is a hard link shared with another name: that name
	 * keeps the old bytes, the new file is a new inode. */
	assert_int_equal(link(p, other), 0);
	assert_int_equal(pt_write_new(p, "two", 3, 0600, &e), 0);
	s = slurp(other);
	assert_string_equal(s, "one");
	free(s);
	s = slurp(p);
	assert_string_equal(s, "two");
	free(s);
	assert_int_not_equal(inode_of(p), inode_of(other));

	path_in(p, sizeof(p), dir, "no/such/dir.img");
	assert_int_equal(pt_write_new(p, "x", 1, 0600, &e), -1);
	assert_non_null(strstr(e.msg, "no/such/dir.img"));
}

static void
test_fsync_file(void **state)
{
	const char *dir = *state;
	char p[512];
	pt_err e;
	path_in(p, sizeof(p), dir, "f");
	assert_int_equal(pt_write_new(p, "x", 1, 0600, &e), 0);
	assert_int_equal(pt_fsync_file(p, &e), 0);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(pt_fsync_file(p, &e), -1);
	assert_non_null(strstr(e.msg, p));
}

static void
test_link_replace(void **state)
{
	const char *dir = *state;
	char from[512], to[512];
	pt_err e;
	path_in(from, sizeof(from), dir, "stored.img");
	path_in(to, sizeof(to), dir, "run.img");
	assert_int_equal(pt_write_new(from, "image", 5, 0600, &e), 0);
	/* An older file under the target name is replaced. */
	assert_int_equal(pt_write_new(to, "old", 3, 0600, &e), 0);
	assert_int_equal(pt_link_replace(from, to, &e), 0);
	assert_int_equal(inode_of(from), inode_of(to));
	char *s = slurp(to);
	assert_string_equal(s, "image");
	free(s);

	/* No source: an error naming both. */
	path_in(from, sizeof(from), dir, "missing.img");
	assert_int_equal(pt_link_replace(from, to, &e), -1);
	assert_non_null(strstr(e.msg, "missing.img"));
	assert_int_equal(access(to, F_OK), -1);
}

/* /dev/shm is a tmpfs on Linux: another file system than /tmp, unless
 * /tmp is a tmpfs as well (then there is nothing to test). */
static void
test_link_replace_other_fs(void **state)
{
	const char *dir = *state;
	char from[512];
	pt_err e;
	path_in(from, sizeof(from), dir, "stored.img");
	assert_int_equal(pt_write_new(from, "image", 5, 0600, &e), 0);
	struct stat a, b;
	assert_int_equal(stat(dir, &a), 0);
	if (stat("/dev/shm", &b) != 0 || a.st_dev == b.st_dev) {
		skip();
		return;
	}
	char to[] = "/dev/shm/pt-staged-XXXXXX";
	int fd = mkstemp(to);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(pt_link_replace(from, to, &e), 1);
	/* The older file was removed all the same: the caller copies. */
	assert_int_equal(access(to, F_OK), -1);
	unlink(to);
}

static void
test_image_write_volatile(void **state)
{
	const char *dir = *state;
	char p[512];
	pt_err e;
	uint8_t d[32], want[32];
	path_in(p, sizeof(p), dir, "run.img");
	const char text[] = "an image";
	assert_int_equal(pt_image_write_volatile(p, (const uint8_t *)text,
	    strlen(text), false, d, &e), 0);
	pt_sha256((const uint8_t *)text, strlen(text), want);
	assert_memory_equal(d, want, 32);
	char *s = slurp(p);
	assert_string_equal(s, text);
	free(s);

	uint8_t *z;
	size_t zn;
	assert_int_equal(pt_image_deflate((const uint8_t *)text,
	    strlen(text), 6, &z, &zn, &e), 0);
	assert_int_equal(pt_image_write_volatile(p, z, zn, true, d, &e), 0);
	assert_memory_equal(d, want, 32);
	s = slurp(p);
	assert_string_equal(s, text);
	free(s);

	/* A broken stream leaves neither the file nor a temp file. */
	path_in(p, sizeof(p), dir, "bad.img");
	z[zn / 2] ^= 0x5a;
	z[zn - 1] ^= 0x5a;
	assert_int_equal(pt_image_write_volatile(p, z, zn, true, d, &e), -1);
	assert_non_null(strstr(e.msg, "bad.img"));
	assert_int_equal(access(p, F_OK), -1);
	assert_int_equal(count_named(dir, ".tmp."), 0);
	free(z);
}

static void
test_image_check_plain(void **state)
{
	(void)state;
	pt_err e;
	uint8_t d[32], want[32];
	const uint8_t text[] = "abc";
	assert_int_equal(pt_image_check_plain(text, 3, d, &e), 0);
	pt_sha256(text, 3, want);
	assert_memory_equal(d, want, 32);
	/* The size is refused before a byte is read. */
	assert_int_equal(pt_image_check_plain(text,
	    (size_t)PT_IMAGE_MAX_BYTES + 1, d, &e), -1);
	assert_non_null(strstr(e.msg, "limit"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_new, setup_tmpdir,
		    teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_fsync_file, setup_tmpdir,
		    teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_link_replace,
		    setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_link_replace_other_fs,
		    setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_image_write_volatile,
		    setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test(test_image_check_plain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
