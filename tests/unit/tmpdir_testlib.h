/*
 * Scaffolding for unit tests that work on files: a private temporary
 * directory per test (cmocka setup/teardown), paths in it, small files
 * read back whole. Include after <cmocka.h>.
 */
#ifndef PETREL_TMPDIR_TESTLIB_H
#define PETREL_TMPDIR_TESTLIB_H

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fsutil.h"

static inline int
tmp_rm_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* cmocka setup: *state = a new directory under /tmp (heap string). */
static inline int
setup_tmpdir(void **state)
{
	char *dir = strdup("/tmp/pt-test-XXXXXX");
	if (dir == NULL || mkdtemp(dir) == NULL) {
		free(dir);
		return -1;
	}
	*state = dir;
	return 0;
}

/* cmocka teardown: removes the directory and everything in it (even if a
 * test made it read-only). */
static inline int
teardown_tmpdir(void **state)
{
	char *dir = *state;
	chmod(dir, 0700);
	nftw(dir, tmp_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
	return 0;
}

static inline void
path_in(char *out, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);
	assert_true(n > 0 && (size_t)n < cap);
}

/* Reads a whole small file as a NUL-terminated heap string. */
static inline char *
slurp(const char *path)
{
	uint8_t *data;
	size_t n;
	pt_err e;
	if (pt_read_file(path, 1 << 20, &data, &n, &e) != 0)
		fail_msg("%s", e.msg);
	return (char *)data;
}

/* Number of entries in dir whose name contains `part`. */
static inline int
count_named(const char *dir, const char *part)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	int n = 0;
	for (struct dirent *de; (de = readdir(d)) != NULL;)
		if (strstr(de->d_name, part) != NULL)
			n++;
	closedir(d);
	return n;
}

#endif
