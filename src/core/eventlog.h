/*
 * The event log: lifecycle events of petreld, their DER encoding in the
 * AV5 slot that albatross left empty (WireCommand [2], Data [2]), and a
 * bounded ring of recent events for subscribers. Pure: no I/O, no clock.
 *
 * The grammar is documented in docs/eventlog.md; the tests in
 * tests/unit/test_eventlog.c hold its vectors.
 */
#ifndef PETREL_EVENTLOG_H
#define PETREL_EVENTLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "der.h"
#include "name.h"
#include "policy.h"
#include "util.h"

typedef struct {
	bool has_since;
	int64_t since_ms;
	bool follow;
} pt_log_subscribe;

/* The event CHOICE tags: [0]..[5] are the events of albatross's old log
 * daemon, the rest are petrel's. */
typedef enum {
	PT_EV_STARTUP = 0,
	PT_EV_LOGIN = 1,
	PT_EV_LOGOUT = 2,
	PT_EV_STARTED = 3,          /* pid, taps, blocks, digest */
	PT_EV_EXITED = 4,           /* pid, status */
	PT_EV_HUP = 5,
	PT_EV_CREATED = 6,          /* digest of the configuration */
	PT_EV_FORCE_CREATED = 7,    /* digest */
	PT_EV_RESTART_SCHEDULED = 8,/* delay_ms */
	PT_EV_RESTARTED = 9,
	PT_EV_DESTROYED = 10,
	PT_EV_POLICY_ADDED = 11,    /* policy */
	PT_EV_POLICY_REPLACED = 12, /* policy */
	PT_EV_POLICY_REMOVED = 13,
	PT_EV_BLOCK_CREATED = 14,   /* size_mb */
	PT_EV_BLOCK_SET = 15,
	PT_EV_BLOCK_REMOVED = 16,
	PT_EV_REFUSED = 17,         /* command, reason */
	PT_EV_KIND_COUNT
} pt_event_kind;

typedef enum {
	PT_EXIT_CODE = 0,   /* exited normally with a code */
	PT_EXIT_SIGNAL = 1, /* killed by a signal */
	PT_EXIT_STOP = 2,   /* stopped by a signal */
} pt_exit_kind;

#define PT_EVENT_MAX_LIST 64

typedef struct {
	int64_t time_ms;
	pt_event_kind kind;
	pt_name name;            /* the subject (":" for startup/hup) */
	int64_t pid;
	pt_exit_kind exit_kind;
	int64_t exit_value;
	int64_t delay_ms;
	int64_t size_mb;
	pt_blob digest;
	size_t ntaps;
	pt_text *taps;
	size_t nblocks;
	pt_text *blocks;
	pt_policy policy;
	pt_text command;         /* refused: the command's name */
	pt_text reason;          /* refused: why */
	pt_blob address;         /* login/logout: 4 or 16 octets */
	int64_t port;
} pt_event;

const char *pt_event_kind_name(pt_event_kind k);

/* LogEntry ::= SEQUENCE { timestamp GeneralizedTime, event LogEvent } */
void pt_event_write(pt_derw *w, const pt_event *e);
int pt_event_read(pt_der *d, pt_event *out);
/* Standalone encode/decode of one LogEntry (the events file stores one
 * per frame). */
int pt_event_encode(const pt_event *e, pt_buf *out, pt_err *err);
int pt_event_decode(const uint8_t *p, size_t n, pt_arena *a, pt_event *out,
    pt_err *err);

/* LogCmd ::= CHOICE { subscribe [0] LogSubscribe }; the codec's command
 * table handles the [0], these the SEQUENCE:
 * LogSubscribe ::= SEQUENCE { since GeneralizedTime OPTIONAL,
 *                             follow BOOLEAN } */
void pt_log_subscribe_write(pt_derw *w, const pt_log_subscribe *s);
int pt_log_subscribe_read(pt_der *d, pt_log_subscribe *out);

/* The AV5 Policy, from the codec (wire.c), for the policy events. */
void pt_policy_write(pt_derw *w, const pt_policy *p);
int pt_policy_read(pt_der *d, pt_policy *p);

/* One line for humans: "2024-01-02T03:04:05.250Z created a:web digest=…".
 * Appends to out. */
int pt_event_print(const pt_event *e, pt_buf *out);

/* ---- the ring ----
 * Keeps the last `capacity` events as encoded LogEntry bytes (so that a
 * stored event owns no pointers), each with its time and subject. */
typedef struct {
	int64_t time_ms;
	pt_name name;
	uint8_t *der;
	size_t len;
} pt_event_slot;

typedef struct {
	pt_event_slot *slots;
	size_t capacity;
	size_t start;
	size_t count;
	uint64_t total;      /* events ever added */
} pt_event_ring;

int pt_event_ring_init(pt_event_ring *r, size_t capacity);
void pt_event_ring_free(pt_event_ring *r);
int pt_event_ring_add(pt_event_ring *r, const pt_event *e, pt_err *err);
const pt_event_slot *pt_event_ring_at(const pt_event_ring *r, size_t i);
/* Does a subscriber for `who` see an event about `subject`? Events at or
 * below it, comparing all labels (path and label): `a:web` sees `a:web`
 * and `a:web:x` but not `a:db`; the path `a:` sees everything under a;
 * the path `a:x:` also sees the unikernel `a:x` (as `info a:x:` does).
 * startup and hup (subject ":") only for the root. */
bool pt_event_visible(const pt_name *who, const pt_name *subject);
/* A `refused` event (its strings are borrowed, not copied): petreld's
 * failure replies and petrel-tls's refusals record the same event. */
void pt_event_refused(pt_event *e, const pt_name *name, const char *command,
    const char *reason);

#endif
