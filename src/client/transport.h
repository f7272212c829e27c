/*
 * The client's side of a Unix-socket conversation: connect, send frames
 * (albatross-wire.md §2), read frames through the core's bounded frame
 * reader.
 */
#ifndef PETREL_CLIENT_TRANSPORT_H
#define PETREL_CLIENT_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "util.h"

struct pt_tls;

typedef struct {
	int fd;
	pt_frame_reader rd;
	struct pt_tls *tls;   /* non-NULL: a TLS connection (tls.h) on fd */
} pt_conn;

/* Connects (SOCK_CLOEXEC) to the Unix socket at path. */
int pt_conn_open(pt_conn *c, const char *path, size_t max_frame,
    pt_err *err);
/* A connection over an established TLS session (it owns t and its fd). */
void pt_conn_open_tls(pt_conn *c, struct pt_tls *t, int fd,
    size_t max_frame);
void pt_conn_close(pt_conn *c);

/* Sends the 4-byte length and the body (not copied: images are big). */
int pt_conn_send_frame(pt_conn *c, const uint8_t *body, size_t len,
    pt_err *err);
/* Sends data as raw frames of at most `chunk` bytes each (a block upload,
 * §8.4), several per system call. */
int pt_conn_send_chunks(pt_conn *c, const uint8_t *data, size_t len,
    size_t chunk, pt_err *err);
/* Sends the end-of-stream marker 00 00 00 00. */
int pt_conn_send_end(pt_conn *c, pt_err *err);

/* Next frame: 1 with *body and *len (valid until the next call), 0 when the
 * peer ended the stream (closed between frames or sent the end marker),
 * -1 on an error (closed mid-frame, frame too big, read error). */
int pt_conn_next(pt_conn *c, const uint8_t **body, size_t *len,
    pt_err *err);

/* Has the peer sent something (or closed) that we have not read yet?
 * Lets an upload stop early when the daemon refuses it at once. */
bool pt_conn_readable(pt_conn *c);

#endif
