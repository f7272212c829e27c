/*
 * Unikernel images: zlib streams (albatross-wire.md §11) inflated with a
 * hard bound on the output, so that a small hostile upload cannot expand
 * into gigabytes (a "zip bomb"); SHA-256 of the uncompressed bytes on the
 * way; written to disk through a temp file and rename (and fsync, unless
 * the file is remade at every start anyway).
 */
#include "image.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "fsutil.h"

#define CHUNK (64 * 1024)

void
pt_sha256(const uint8_t *data, size_t n, uint8_t out[32])
{
	unsigned int len = 32;
	/* Cannot fail with the built-in SHA-256 short of memory exhaustion;
	 * clear the output then so nobody compares stale bytes. */
	if (EVP_Digest(data, n, out, &len, EVP_sha256(), NULL) != 1)
		memset(out, 0, 32);
}

/* Where inflated bytes go: a heap buffer or a file. */
typedef int (*sink_fn)(void *ctx, const uint8_t *p, size_t n, pt_err *err);

static const char *
zlib_reason(int rc, const z_stream *zs)
{
	if (zs->msg != NULL)
		return zs->msg;
	switch (rc) {
	case Z_MEM_ERROR:
		return "out of memory";
	case Z_DATA_ERROR:
		return "corrupt data";
	case Z_BUF_ERROR:
		return "truncated stream";
	default:
		return "zlib error";
	}
}

/* Inflates the zlib stream data[n] in CHUNK-sized pieces into `sink`,
 * failing as soon as the output would exceed max. Hashes the output into
 * md if non-NULL. Data after the end of the stream is rejected: it would
 * be silently lost otherwise. */
static int
inflate_stream(const uint8_t *data, size_t n, uint64_t max, sink_fn sink,
    void *ctx, EVP_MD_CTX *md, pt_err *err)
{
	uint8_t *chunk = malloc(CHUNK);
	if (chunk == NULL)
		return pt_fail(err, "inflate: out of memory");
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	if (inflateInit(&zs) != Z_OK) {
		free(chunk);
		return pt_fail(err, "inflate: cannot initialise zlib");
	}
	uint64_t total = 0;
	size_t left = n;
	const uint8_t *in = data;
	int rc = Z_OK;
	int result = 0;
	while (rc != Z_STREAM_END) {
		if (zs.avail_in == 0 && left > 0) {
			/* avail_in is a uInt: feed large inputs in slices. */
			uInt take = left > UINT_MAX ? UINT_MAX : (uInt)left;
			zs.next_in = (Bytef *)(uintptr_t)in;
			zs.avail_in = take;
			in += take;
			left -= take;
		}
		zs.next_out = chunk;
		zs.avail_out = CHUNK;
		rc = inflate(&zs, Z_NO_FLUSH);
		if (rc == Z_BUF_ERROR && zs.avail_in == 0 && left == 0) {
			result = pt_fail(err, "inflate: truncated stream");
			break;
		}
		if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
			result = pt_fail(err, "inflate: %s",
			    zlib_reason(rc, &zs));
			break;
		}
		size_t got = CHUNK - zs.avail_out;
		if (got > max - total) {
			result = pt_fail(err, "inflate: uncompressed size "
			    "exceeds the limit of %llu bytes (refusing a "
			    "possible zip bomb)", (unsigned long long)max);
			break;
		}
		total += got;
		if (got > 0 && md != NULL &&
		    EVP_DigestUpdate(md, chunk, got) != 1) {
			result = pt_fail(err, "inflate: sha256 failed");
			break;
		}
		if (got > 0 && sink(ctx, chunk, got, err) != 0) {
			result = -1;
			break;
		}
		if (rc != Z_STREAM_END && got == 0 && zs.avail_in == 0 &&
		    left == 0) {
			result = pt_fail(err, "inflate: truncated stream");
			break;
		}
	}
	if (result == 0 && (zs.avail_in > 0 || left > 0))
		result = pt_fail(err, "inflate: %zu bytes of trailing data "
		    "after the zlib stream", (size_t)zs.avail_in + left);
	inflateEnd(&zs);
	free(chunk);
	return result;
}

static int
to_memory(void *ctx, const uint8_t *p, size_t n, pt_err *err)
{
	if (pt_buf_append(ctx, p, n) != 0)
		return pt_fail(err, "inflate: out of memory");
	return 0;
}

static EVP_MD_CTX *
sha256_begin(void)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		md = NULL;
	}
	return md;
}

static int
sha256_end(EVP_MD_CTX *md, uint8_t out[32], pt_err *err)
{
	unsigned int len = 32;
	int ok = EVP_DigestFinal_ex(md, out, &len) == 1;
	EVP_MD_CTX_free(md);
	return ok ? 0 : pt_fail(err, "sha256 failed");
}

int
pt_image_inflate(const uint8_t *data, size_t n, size_t max,
    uint8_t **out, size_t *outlen, uint8_t sha256[32], pt_err *err)
{
	*out = NULL;
	*outlen = 0;
	EVP_MD_CTX *md = NULL;
	if (sha256 != NULL && (md = sha256_begin()) == NULL)
		return pt_fail(err, "inflate: cannot initialise sha256");
	pt_buf b = {0};
	if (inflate_stream(data, n, max, to_memory, &b, md, err) != 0) {
		EVP_MD_CTX_free(md);
		pt_buf_free(&b);
		return -1;
	}
	if (md != NULL && sha256_end(md, sha256, err) != 0) {
		pt_buf_free(&b);
		return -1;
	}
	/* An empty image still gets a buffer, so that NULL means failure. */
	if (b.data == NULL && pt_buf_reserve(&b, 1) != 0)
		return pt_fail(err, "inflate: out of memory");
	*out = b.data;
	*outlen = b.len;
	return 0;
}

int
pt_image_deflate(const uint8_t *data, size_t n, int level,
    uint8_t **out, size_t *outlen, pt_err *err)
{
	*out = NULL;
	*outlen = 0;
	if (level < 1 || level > 9)
		return pt_fail(err, "deflate: level %d not in 1..9", level);
	if (n > (uLong)-1)
		return pt_fail(err, "deflate: input too large");
	uLongf cap = compressBound((uLong)n);
	uint8_t *buf = malloc(cap > 0 ? cap : 1);
	if (buf == NULL)
		return pt_fail(err, "deflate: out of memory");
	int rc = compress2(buf, &cap, data, (uLong)n, level);
	if (rc != Z_OK) {
		free(buf);
		return pt_fail(err, "deflate: zlib error %d", rc);
	}
	/* Give back the slack of compressBound's worst case. */
	uint8_t *shrunk = realloc(buf, cap > 0 ? cap : 1);
	*out = shrunk != NULL ? shrunk : buf;
	*outlen = cap;
	return 0;
}

typedef struct {
	int fd;
	const char *tmp;
} file_sink;

static int
to_file(void *ctx, const uint8_t *p, size_t n, pt_err *err)
{
	file_sink *f = ctx;
	if (pt_write_all(f->fd, p, n) != 0)
		return pt_fail(err, "write %s: %s", f->tmp, strerror(errno));
	return 0;
}

/* Fills the temp file and the digest (fsync'ed if durable); the caller
 * renames or removes. */
static int
write_image_body(int fd, const char *tmp, const uint8_t *data, size_t n,
    bool compressed, bool durable, uint8_t sha256[32], pt_err *err)
{
	EVP_MD_CTX *md = sha256_begin();
	if (md == NULL)
		return pt_fail(err, "cannot initialise sha256");
	file_sink f = {.fd = fd, .tmp = tmp};
	int rc;
	if (compressed) {
		rc = inflate_stream(data, n, PT_IMAGE_MAX_BYTES, to_file, &f,
		    md, err);
	} else if (n > PT_IMAGE_MAX_BYTES) {
		rc = pt_fail(err, "image of %zu bytes exceeds the limit of "
		    "%llu bytes", n, PT_IMAGE_MAX_BYTES);
	} else if (EVP_DigestUpdate(md, data, n) != 1) {
		rc = pt_fail(err, "sha256 failed");
	} else {
		rc = to_file(&f, data, n, err);
	}
	if (rc != 0) {
		EVP_MD_CTX_free(md);
		return -1;
	}
	if (durable && fsync(fd) != 0) {
		EVP_MD_CTX_free(md);
		return pt_fail(err, "fsync %s: %s", tmp, strerror(errno));
	}
	return sha256_end(md, sha256, err);
}

static int
image_write(const char *path, const uint8_t *data, size_t n,
    bool compressed, bool durable, uint8_t sha256[32], pt_err *err)
{
	char tmp[PATH_MAX];
	int fd = pt_mktemp_beside(path, tmp, sizeof(tmp), err);
	if (fd < 0)
		return pt_fail_prefix(err, "image %s", path);
	int rc = write_image_body(fd, tmp, data, n, compressed, durable,
	    sha256, err);
	if (close(fd) != 0 && rc == 0)
		rc = pt_fail(err, "close %s: %s", tmp, strerror(errno));
	if (rc == 0 && rename(tmp, path) != 0)
		rc = pt_fail(err, "rename %s to %s: %s", tmp, path,
		    strerror(errno));
	if (rc != 0) {
		unlink(tmp);
		return pt_fail_prefix(err, "image %s", path);
	}
	if (durable && pt_fsync_parent(path, err) != 0)
		return pt_fail_prefix(err, "image %s", path);
	return 0;
}

int
pt_image_write(const char *path, const uint8_t *data, size_t n,
    bool compressed, uint8_t sha256[32], pt_err *err)
{
	return image_write(path, data, n, compressed, true, sha256, err);
}

int
pt_image_write_volatile(const char *path, const uint8_t *data, size_t n,
    bool compressed, uint8_t sha256[32], pt_err *err)
{
	return image_write(path, data, n, compressed, false, sha256, err);
}

int
pt_image_check_plain(const uint8_t *data, size_t n, uint8_t sha256[32],
    pt_err *err)
{
	if (n > PT_IMAGE_MAX_BYTES)
		return pt_fail(err, "image of %zu bytes exceeds the limit of "
		    "%llu bytes", n, PT_IMAGE_MAX_BYTES);
	pt_sha256(data, n, sha256);
	return 0;
}
