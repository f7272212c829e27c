/*
 * Unikernel images on disk: writes the image (inflating a zlib stream if it
 * is compressed, with a bounded output size) to a file, computing the
 * SHA-256 of the uncompressed bytes on the way; and reads it back,
 * optionally compressed, for `get`.
 */
#ifndef PETREL_IMAGE_H
#define PETREL_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define PT_IMAGE_MAX_BYTES (1024ull * 1024 * 1024) /* uncompressed */

/* Writes `data` (zlib if compressed) to path (mode 0600, created
 * exclusively via a temp file + rename), fills sha256. Removes partial
 * files on failure. */
int pt_image_write(const char *path, const uint8_t *data, size_t n,
    bool compressed, uint8_t sha256[32], pt_err *err);
/* The same without fsync of the file and its directory: for copies that
 * need not survive a crash because they are made again at every start
 * (the image a tender runs). A reader still never sees a partial file. */
int pt_image_write_volatile(const char *path, const uint8_t *data,
    size_t n, bool compressed, uint8_t sha256[32], pt_err *err);
/* For an uncompressed image written by other means (a hard link): the
 * size limit of pt_image_write, and the digest. */
int pt_image_check_plain(const uint8_t *data, size_t n, uint8_t sha256[32],
    pt_err *err);
/* Inflates into a heap buffer (bounded by max), fills sha256 if non-NULL. */
int pt_image_inflate(const uint8_t *data, size_t n, size_t max,
    uint8_t **out, size_t *outlen, uint8_t sha256[32], pt_err *err);
/* zlib-compresses at `level` (1..9) into a heap buffer. */
int pt_image_deflate(const uint8_t *data, size_t n, int level,
    uint8_t **out, size_t *outlen, pt_err *err);
void pt_sha256(const uint8_t *data, size_t n, uint8_t out[32]);

#endif
