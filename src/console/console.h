/*
 * petrel-console: keeps each unikernel's console output in a ring and
 * streams it to subscribers (albatross-wire.md §8.3).
 *
 *   registry.c  the consoles: rings, FIFO readers, subscribers, eviction
 *   session.c   the protocol on one client connection
 *   main.c      options, the socket, the event loop
 */
#ifndef PETREL_CONSOLE_H
#define PETREL_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "console_ring.h"
#include "fconn.h"
#include "name.h"
#include "server.h"

#define PT_CONSOLE_MAX_SUBS_DEFAULT 5
#define PT_CONSOLE_SUB_MAX_OUT (4u << 20) /* a subscriber that lags more
                                             is dropped */

typedef struct pt_console pt_console;

typedef struct {
	pt_fconn *conn;
	int64_t version;       /* of the subscribe request */
	pt_console *console;
} pt_console_sub;

typedef struct pt_console_daemon pt_console_daemon;

struct pt_console {
	pt_console *next;
	pt_console_daemon *daemon;
	pt_name name;
	bool has_ring;         /* false: only waiting subscribers so far */
	pt_console_ring ring;
	int fifo_fd;           /* -1 when not reading */
	struct event *fifo_ev;
	pt_line_splitter split;
	bool active;           /* a tender writes to the FIFO */
	uint64_t inactive_seq; /* when it became inactive (for eviction) */
	size_t nsubs;
	pt_console_sub **subs; /* oldest first, at most max_subs */
};

struct pt_console_daemon {
	struct event_base *base;
	pt_server *server;
	char fifo_dir[4096];
	size_t ring_lines;
	size_t max_subs;
	size_t max_frame;
	pt_console *consoles;
	size_t nconsoles;
	uint64_t seq;          /* orders inactivity */
	void *sessions;        /* session.c's list, freed at exit */
	int verbose;
	/* A connection that has neither subscribed nor sent `add` (and is not
	 * petreld's) is closed after this long without a command. */
	int64_t idle_timeout_ms;
	/* One whose queued output the peer has not taken for this long is
	 * closed (slow subscribers are also dropped by the output cap). */
	int64_t write_timeout_ms;
};

/* registry.c */
/* Raises the descriptor limit and logs it (at start). */
void pt_console_limits_init(pt_console_daemon *d);
pt_console *pt_console_find(pt_console_daemon *d, const pt_name *name);
/* `add n`: (re)opens the FIFO of `name`, creating its ring if needed, and
 * keeps at most n+1 rings for its path (the oldest inactive go first). */
int pt_console_add(pt_console_daemon *d, const pt_name *name, int64_t n,
    pt_err *err);
/* Registers a subscriber (the oldest is dropped beyond max_subs). Returns
 * the console (created without a ring if the unikernel has not started:
 * "waiting for VM"). */
pt_console *pt_console_subscribe(pt_console_daemon *d, const pt_name *name,
    pt_console_sub *sub, pt_err *err);
void pt_console_unsubscribe(pt_console_daemon *d, pt_console_sub *sub);
/* Queues the history (by count or since a time) to the subscriber.
 * -1 if its connection could not take it. */
int pt_console_send_history(pt_console_sub *sub, const pt_subscribe *how);
void pt_console_free_all(pt_console_daemon *d);

/* session.c */
void pt_console_accept(int fd, void *ctx);
/* Closes every client connection (at exit). */
void pt_console_sessions_free_all(pt_console_daemon *d);

void pt_console_log(pt_console_daemon *d, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
