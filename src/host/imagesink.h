/*
 * An image that arrives in pieces (a create streamed after its command,
 * albatross-wire.md §9.6): written to disk as it comes, never held in
 * memory. Two files, both temp files beside their final names:
 *
 *   store: the bytes as received (compressed or not), for restarts;
 *   run:   the uncompressed image a tender runs (for a plain image a hard
 *          link to the store copy where the file systems allow).
 *
 * The SHA-256 of the uncompressed bytes is computed on the way, and the
 * uncompressed size is bounded (a small compressed upload cannot expand
 * without limit).
 */
#ifndef PETREL_IMAGESINK_H
#define PETREL_IMAGESINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

typedef struct pt_image_sink pt_image_sink;

/* Temp files beside store_path and run_path (not those names: they are
 * the caller's to rename into once the image is complete). */
pt_image_sink *pt_image_sink_open(const char *store_path,
    const char *run_path, bool compressed, uint64_t max, pt_err *err);
int pt_image_sink_write(pt_image_sink *s, const uint8_t *p, size_t n,
    pt_err *err);
/* The stream is complete: checks it (a zlib stream must have ended, the
 * image must not be empty), closes the files and gives their temp names
 * and the digest. The sink is freed; on failure the files are removed. */
int pt_image_sink_finish(pt_image_sink *s, char *store_tmp, char *run_tmp,
    size_t cap, uint8_t sha256[32], pt_err *err);
/* Removes both files and frees the sink. */
void pt_image_sink_abort(pt_image_sink *s);
uint64_t pt_image_sink_received(const pt_image_sink *s);

#endif
