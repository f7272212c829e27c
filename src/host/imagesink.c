/*
 * Streaming image writer (imagesink.h): each piece is appended to the
 * store file and, inflated if compressed, to the run file, in bounded
 * steps, with the digest of the uncompressed bytes.
 */
#include "imagesink.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "fsutil.h"

#define OUT_STEP (64 * 1024)

struct pt_image_sink {
	bool compressed;
	bool zdone;          /* the zlib stream ended */
	z_stream zs;
	bool zinit;
	EVP_MD_CTX *md;
	uint64_t max;
	uint64_t received;   /* bytes as received */
	uint64_t plain;      /* uncompressed bytes */
	int store_fd, run_fd;
	char store_tmp[PATH_MAX], run_tmp[PATH_MAX];
	char run_path[PATH_MAX];  /* the run copy's final name */
	uint8_t out[OUT_STEP];
};

static void
close_fds(pt_image_sink *s)
{
	if (s->store_fd >= 0)
		close(s->store_fd);
	if (s->run_fd >= 0)
		close(s->run_fd);
	s->store_fd = s->run_fd = -1;
}

static void
sink_free(pt_image_sink *s)
{
	close_fds(s);
	if (s->zinit)
		inflateEnd(&s->zs);
	EVP_MD_CTX_free(s->md);
	free(s);
}

void
pt_image_sink_abort(pt_image_sink *s)
{
	if (s == NULL)
		return;
	close_fds(s);
	if (s->store_tmp[0])
		pt_unlink_quiet(s->store_tmp);
	if (s->run_tmp[0])
		pt_unlink_quiet(s->run_tmp);
	sink_free(s);
}

pt_image_sink *
pt_image_sink_open(const char *store_path, const char *run_path,
    bool compressed, uint64_t max, pt_err *err)
{
	pt_image_sink *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		pt_fail(err, "out of memory");
		return NULL;
	}
	s->store_fd = s->run_fd = -1;
	s->compressed = compressed;
	s->max = max;
	s->md = EVP_MD_CTX_new();
	if (s->md == NULL || EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1) {
		pt_fail(err, "out of memory");
		sink_free(s);
		return NULL;
	}
	if (compressed) {
		if (inflateInit(&s->zs) != Z_OK) {
			pt_fail(err, "out of memory");
			sink_free(s);
			return NULL;
		}
		s->zinit = true;
	}
	s->store_fd = pt_mktemp_beside(store_path, s->store_tmp,
	    sizeof(s->store_tmp), err);
	if (s->store_fd < 0) {
		s->store_tmp[0] = '\0';
		pt_image_sink_abort(s);
		return NULL;
	}
	/* A plain image's run copy is linked at the end; a compressed
	 * one's is written as it inflates. */
	if (compressed) {
		s->run_fd = pt_mktemp_beside(run_path, s->run_tmp,
		    sizeof(s->run_tmp), err);
		if (s->run_fd < 0) {
			s->run_tmp[0] = '\0';
			pt_image_sink_abort(s);
			return NULL;
		}
	}
	snprintf(s->run_path, sizeof(s->run_path), "%s", run_path);
	return s;
}

static int
emit(pt_image_sink *s, int fd, const uint8_t *p, size_t n, pt_err *err)
{
	if (s->plain + n > s->max)
		return pt_fail(err, "image larger than %llu bytes",
		    (unsigned long long)s->max);
	s->plain += n;
	if (EVP_DigestUpdate(s->md, p, n) != 1)
		return pt_fail(err, "digest failed");
	if (pt_write_all(fd, p, n) < 0)
		return pt_fail(err, "writing image: %s", strerror(errno));
	return 0;
}

static int
inflate_piece(pt_image_sink *s, const uint8_t *p, size_t n, pt_err *err)
{
	if (s->zdone && n > 0)
		return pt_fail(err, "data after the end of the zlib stream");
	s->zs.next_in = (Bytef *)(uintptr_t)p;
	s->zs.avail_in = (uInt)n;
	while (s->zs.avail_in > 0 && !s->zdone) {
		s->zs.next_out = s->out;
		s->zs.avail_out = sizeof(s->out);
		int rc = inflate(&s->zs, Z_NO_FLUSH);
		if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
			return pt_fail(err, "image does not inflate: %s",
			    s->zs.msg ? s->zs.msg : "corrupt data");
		size_t got = sizeof(s->out) - s->zs.avail_out;
		if (got > 0 && emit(s, s->run_fd, s->out, got, err) < 0)
			return -1;
		if (rc == Z_STREAM_END)
			s->zdone = true;
		else if (rc == Z_BUF_ERROR && got == 0)
			break;
	}
	if (s->zdone && s->zs.avail_in > 0)
		return pt_fail(err, "data after the end of the zlib stream");
	return 0;
}

int
pt_image_sink_write(pt_image_sink *s, const uint8_t *p, size_t n,
    pt_err *err)
{
	if (s->received + n > s->max)
		return pt_fail(err, "image larger than %llu bytes",
		    (unsigned long long)s->max);
	s->received += n;
	if (!s->compressed)
		return emit(s, s->store_fd, p, n, err);
	if (pt_write_all(s->store_fd, p, n) < 0)
		return pt_fail(err, "writing image: %s", strerror(errno));
	return inflate_piece(s, p, n, err);
}

uint64_t
pt_image_sink_received(const pt_image_sink *s)
{
	return s->received;
}

/* The run copy of a plain image: a link to the store copy, or a copy. */
static int
plain_run_copy(pt_image_sink *s, pt_err *err)
{
	char tmp[PATH_MAX];
	int fd = pt_mktemp_beside(s->run_path, tmp, sizeof(tmp), err);
	if (fd < 0)
		return -1;
	close(fd);
	int r = pt_link_replace(s->store_tmp, tmp, err);
	if (r == 1) {
		/* Different file systems: copy in steps. */
		int in = open(s->store_tmp, O_RDONLY | O_CLOEXEC);
		int out = open(tmp, O_WRONLY | O_TRUNC | O_CLOEXEC);
		ssize_t k = 0;
		r = in < 0 || out < 0 ? -1 : 0;
		while (r == 0 && (k = read(in, s->out, sizeof(s->out))) > 0)
			if (pt_write_all(out, s->out, (size_t)k) < 0)
				r = -1;
		if (k < 0)
			r = -1;
		if (r < 0)
			pt_fail(err, "copying image: %s", strerror(errno));
		if (in >= 0)
			close(in);
		if (out >= 0)
			close(out);
	}
	if (r < 0) {
		pt_unlink_quiet(tmp);
		return -1;
	}
	snprintf(s->run_tmp, sizeof(s->run_tmp), "%s", tmp);
	return 0;
}

int
pt_image_sink_finish(pt_image_sink *s, char *store_tmp, char *run_tmp,
    size_t cap, uint8_t sha256[32], pt_err *err)
{
	int r = 0;
	if (s->compressed && !s->zdone)
		r = pt_fail(err, "image does not inflate: truncated stream");
	else if (s->plain == 0)
		r = pt_fail(err, "empty image");
	close_fds(s);
	if (r == 0 && !s->compressed && plain_run_copy(s, err) < 0)
		r = -1;
	unsigned int len = 32;
	if (r == 0 && EVP_DigestFinal_ex(s->md, sha256, &len) != 1)
		r = pt_fail(err, "digest failed");
	if (r == 0 && (strlen(s->store_tmp) >= cap ||
	    strlen(s->run_tmp) >= cap))
		r = pt_fail(err, "path too long");
	if (r < 0) {
		pt_image_sink_abort(s);
		return -1;
	}
	strcpy(store_tmp, s->store_tmp);
	strcpy(run_tmp, s->run_tmp);
	sink_free(s);
	return 0;
}
