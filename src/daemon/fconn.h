/*
 * A framed connection on an event loop: frames in (through the core's
 * bounded frame reader), frames out (through an output buffer with a cap,
 * so that a client that does not read cannot make the daemon buffer
 * without bound).
 */
#ifndef PETREL_FCONN_H
#define PETREL_FCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "util.h"
#include "wire.h"

typedef struct pt_fconn pt_fconn;

typedef struct {
	/* A complete frame body. The body is valid during the call only. */
	void (*frame)(pt_fconn *c, const uint8_t *body, size_t len, void *ctx);
	/* The end-of-stream marker (length <= 0). NULL: treated as close. */
	void (*end)(pt_fconn *c, void *ctx);
	/* The peer went away, an I/O error happened, a frame was too big, or
	 * the output cap was hit. The connection must be freed by the owner
	 * (from this callback is fine). `why` is for the log. */
	void (*closed)(pt_fconn *c, const char *why, void *ctx);
} pt_fconn_ops;

pt_fconn *pt_fconn_new(struct event_base *base, int fd, size_t max_frame,
    size_t max_out, const pt_fconn_ops *ops, void *ctx);
/* Closes the fd and frees everything. */
void pt_fconn_free(pt_fconn *c);

/* Queues one frame. -1 if the output cap is exceeded or on no memory
 * (the caller should then give up on this connection). */
int pt_fconn_send(pt_fconn *c, const uint8_t *body, size_t len);
/* Encodes and queues a message. */
int pt_fconn_send_wire(pt_fconn *c, const pt_wire *w);
/* Stop reading (e.g. while a request is being processed) and resume. */
void pt_fconn_pause(pt_fconn *c);
void pt_fconn_resume(pt_fconn *c);
/* Once everything queued is written, close (the `closed` callback is
 * called with why = "done"). */
void pt_fconn_close_when_flushed(pt_fconn *c);
/* Drops whatever is queued and closes now (the `closed` callback is
 * called with `why`): for a peer that is cut off, not answered. */
void pt_fconn_abort(pt_fconn *c, const char *why);
size_t pt_fconn_queued(const pt_fconn *c);
int pt_fconn_fd(const pt_fconn *c);

#endif
