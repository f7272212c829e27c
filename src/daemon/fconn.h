/*
 * A framed connection on an event loop, the one every daemon uses (petreld,
 * petrel-console, petrel-tls, petrel-stats): frames in through the core's
 * bounded frame reader, frames out through an output queue, over a byte
 * transport (a plain socket by default).
 *
 * Bounds. Nothing a peer does makes the daemon buffer without limit:
 *  - a frame above max_frame drops the peer;
 *  - backpressure: while more than pause_out bytes of output are queued,
 *    no further input is read or handled; both resume once the output
 *    has drained below low_water. A client that pipelines requests and
 *    never reads therefore costs about pause_out plus one reply. (Not
 *    while a stream is on: a producer bounds its own output, and input
 *    then only ends the stream);
 *  - an optional output cap (max_out): a send beyond it fails, for
 *    output the daemon pushes without being asked (live console lines),
 *    whose sender then drops the peer;
 *  - an idle timeout (nothing received, nothing in progress) and a write
 *    timeout (output waiting, the peer taking none of it).
 *
 * Half-close. The end of input (EOF) is not the end of the connection
 * (clients such as `socat` and `nc -N` half-close after sending the
 * request): reading stops, what is
 * in progress finishes (frames already received, an operation held, a
 * reply, a producing stream), the output is flushed, then the connection
 * closes with reason PT_FCONN_PEER_CLOSED. Only a stream that consumes
 * input (an upload) is cut by it: its input will never come.
 *
 * Lifetime. The owner holds the connection from pt_fconn_new until
 * pt_fconn_free. Others (an asynchronous operation, a producer feeding it
 * from outside its callbacks) take references (pt_fconn_ref/unref, or
 * pt_fconn_hold/release, which also stop input meanwhile). When the peer
 * goes away the transport is closed at once and the `closed` hook runs,
 * but the struct stays until the owner has freed it and the last
 * reference is dropped: holders can still call anything here (sends then
 * fail, returning -1), never touching freed memory. Then `released` runs.
 * Callbacks may free or close the connection they are called for.
 * `closed` runs from the event loop, or from pt_fconn_abort and
 * pt_fconn_close_when_flushed; never from inside a send or a release, so
 * a caller's own state survives the calls it makes (a send that finds the
 * peer gone marks the connection closed at once, pt_fconn_is_closed, and
 * the owner hears of it on the next turn).
 *
 * Streams. A connection may carry one stream at a time: a producer
 * (`drain`: called when the output has drained below low_water, to queue
 * more; a block dump, a log subscription) and/or a consumer (`frame`:
 * every raw frame goes to it instead of the `frame` op, the end marker
 * too, until it ends the stream; an upload). A stream ends by
 * pt_fconn_stream_end, by a new stream, by pt_fconn_close_when_flushed, or
 * with the connection; its `close` hook then runs exactly once, deferred
 * while a holder is inside (it may be the stream's own producer in the
 * middle of a send that just failed, still using what `close` frees).
 * While a stream is on, the connection is never idle unless the stream
 * waits for input.
 *
 * Transports. pt_fconn_transport is a small set of byte operations, so
 * that the same framed connection runs over TLS (an OpenSSL SSL* on the
 * same fd): read and write say, when they would block, which readiness of
 * the fd they wait for (a TLS library may need to read in order to write,
 * and the reverse); `pending` reports bytes the transport holds already
 * (decrypted records) that no fd event would announce. A write that
 * would block is retried with the same bytes (OpenSSL's rule), unless
 * more output was queued meanwhile; set SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
 * to be safe. The default transport is the plain socket (recv/send with
 * MSG_NOSIGNAL).
 */
#ifndef PETREL_FCONN_H
#define PETREL_FCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <event2/event.h>

#include "util.h"
#include "wire.h"

typedef struct pt_fconn pt_fconn;

/* ---- the byte transport ---- */

typedef enum {
	PT_FCONN_WANT_READ = 1,
	PT_FCONN_WANT_WRITE = 2,
} pt_fconn_want;

typedef struct {
	/* > 0: bytes read; 0: end of input; -1: errno set. With EAGAIN,
	 * *want says which readiness of the fd to wait for. */
	ssize_t (*read)(void *t, uint8_t *p, size_t n, pt_fconn_want *want);
	/* > 0: bytes written; -1: errno set (EAGAIN: see read). */
	ssize_t (*write)(void *t, const uint8_t *p, size_t n,
	    pt_fconn_want *want);
	/* Input already held by the transport (NULL: none ever). */
	size_t (*pending)(void *t);
	/* Ends the session (best effort, never blocks) and releases the
	 * transport, its fd included. */
	void (*close)(void *t);
} pt_fconn_transport;

/* The plain socket: t is the fd, cast with (void *)(intptr_t)fd. */
extern const pt_fconn_transport pt_fconn_plain;

/* ---- hooks ---- */

typedef enum {
	PT_FCONN_DONE = 0,        /* pt_fconn_close_when_flushed, flushed */
	PT_FCONN_PEER_CLOSED,     /* end of input, and everything finished */
	PT_FCONN_CUT,             /* end of input during an upload */
	PT_FCONN_IO_ERROR,
	PT_FCONN_TOO_BIG,         /* a frame above max_frame */
	PT_FCONN_NOMEM,
	PT_FCONN_IDLE,            /* idle_ms without input or work */
	PT_FCONN_WRITE_TIMEOUT,   /* write_timeout_ms without progress */
	PT_FCONN_ABORTED,         /* pt_fconn_abort */
} pt_fconn_reason;

typedef struct {
	/* A complete frame body. The body is valid during the call only. */
	void (*frame)(pt_fconn *c, const uint8_t *body, size_t len, void *ctx);
	/* The end-of-stream marker (length <= 0). NULL: the conversation
	 * ends (spec 2), as by pt_fconn_close_when_flushed. */
	void (*end)(pt_fconn *c, void *ctx);
	/* The transport is closed (for `why`: pt_fconn_reason, and a text
	 * for the log). Runs once; the owner then calls pt_fconn_free
	 * (from this callback is fine). */
	void (*closed)(pt_fconn *c, const char *why, void *ctx);
	/* Optional: the struct goes (closed, freed by the owner, no
	 * reference left); whatever ctx refers to may go too. */
	void (*released)(pt_fconn *c, void *ctx);
} pt_fconn_ops;

typedef struct {
	/* Raw frames while the stream is on (end: the end marker, p NULL).
	 * Returns 0, or 1 to be called again with the same frame from a
	 * later event-loop turn (bounded work per turn; nothing else is read
	 * meanwhile). NULL: frames go to the ops' `frame` hook. */
	int (*frame)(pt_fconn *c, const uint8_t *p, size_t n, bool end,
	    void *ctx);
	/* The output has drained below low_water: queue more. */
	void (*drain)(pt_fconn *c, void *ctx);
	/* The stream is over (ended, replaced, or the connection gone). */
	void (*close)(pt_fconn *c, void *ctx);
	void *ctx;
} pt_fconn_stream;

/* ---- parameters ---- */

#define PT_FCONN_PAUSE_OUT_DEFAULT (256u * 1024)

typedef struct {
	size_t max_frame;         /* largest frame accepted */
	size_t max_out;           /* 0: no cap on queued output */
	size_t pause_out;         /* 0: PT_FCONN_PAUSE_OUT_DEFAULT */
	size_t low_water;         /* 0: pause_out / 2 */
	int64_t idle_ms;          /* 0: never idle */
	int64_t write_timeout_ms; /* 0: none */
} pt_fconn_params;

/* ---- the connection ---- */

/* A connection over a plain socket (takes the fd: closed on failure too,
 * and with the connection). The default parameters otherwise. */
pt_fconn *pt_fconn_new(struct event_base *base, int fd, size_t max_frame,
    size_t max_out, const pt_fconn_ops *ops, void *ctx);
/* The general form: `tr` NULL is the plain socket (then t is ignored).
 * The transport is closed on failure too. */
pt_fconn *pt_fconn_open(struct event_base *base, int fd,
    const pt_fconn_transport *tr, void *t, const pt_fconn_params *p,
    const pt_fconn_ops *ops, void *ctx);
/* The owner is done: closes now if still open (without `closed`), and
 * frees the struct once no reference is left. */
void pt_fconn_free(pt_fconn *c);

void pt_fconn_ref(pt_fconn *c);
void pt_fconn_unref(pt_fconn *c);
/* An asynchronous operation takes the connection (a reference, and no
 * input is read or handled) and gives it back. After release the
 * connection may be gone. */
void pt_fconn_hold(pt_fconn *c);
void pt_fconn_release(pt_fconn *c);

/* Queues one frame. -1 if closed, the output cap is exceeded, or on no
 * memory (the caller should then give up on this connection). Writes at
 * once what the transport takes. */
int pt_fconn_send(pt_fconn *c, const uint8_t *body, size_t len);
/* Queues a frame already framed (4-byte prefix and body), taking its
 * memory: *b is left empty whatever the outcome. */
int pt_fconn_send_buf(pt_fconn *c, pt_buf *b);
/* Encodes and queues a message. */
int pt_fconn_send_wire(pt_fconn *c, const pt_wire *w);

/* Stop reading (e.g. while a request is being processed) and resume. */
void pt_fconn_pause(pt_fconn *c);
void pt_fconn_resume(pt_fconn *c);
/* Ends the stream, stops input; once everything queued is written,
 * closes (`closed`, PT_FCONN_DONE, why "done"). */
void pt_fconn_close_when_flushed(pt_fconn *c);
/* Drops whatever is queued and closes now (the `closed` callback is
 * called with `why`): for a peer that is cut off, not answered. */
void pt_fconn_abort(pt_fconn *c, const char *why);

/* Streams (see above). Setting one ends the previous one. On a closed
 * connection the new stream's close hook runs at once, or when the
 * current holders are done. */
void pt_fconn_set_stream(pt_fconn *c, const pt_fconn_stream *s);
/* Ends the stream now (its close hook runs), even one whose close was
 * deferred because the connection went while a holder was inside. */
void pt_fconn_stream_end(pt_fconn *c);
bool pt_fconn_streaming(const pt_fconn *c);
/* The stream's frame hook gets (p, n, end) again from a later event-loop
 * turn, and again while it returns 1; nothing else is read meanwhile. p
 * must lie in the frame being handled. */
void pt_fconn_continue_later(pt_fconn *c, const uint8_t *p, size_t n,
    bool end);

/* 0 disables; a running clock restarts. */
void pt_fconn_set_idle_timeout(pt_fconn *c, int64_t ms);

bool pt_fconn_is_closed(const pt_fconn *c);
pt_fconn_reason pt_fconn_close_reason(const pt_fconn *c);
/* Input ended (the peer half-closed). */
bool pt_fconn_input_ended(const pt_fconn *c);
size_t pt_fconn_queued(const pt_fconn *c);
/* -1 once closed. */
int pt_fconn_fd(const pt_fconn *c);

#endif
