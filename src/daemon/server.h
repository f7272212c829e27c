/*
 * Plumbing shared by petrel's daemons: the listening Unix socket and the
 * accept loop.
 *
 * The socket: `<tmpdir>/util/<name>.sock`, or fd 3 under systemd socket
 * activation (LISTEN_PID/LISTEN_FDS). A stale socket file is removed; a
 * live daemon answering on it makes start-up fail.
 *
 * The accept loop never takes the daemon down: on EMFILE, ENFILE, ENOBUFS
 * or ENOMEM it stops accepting for a moment and tries again; beyond the
 * connection cap a new connection is closed at once.
 */
#ifndef PETREL_SERVER_H
#define PETREL_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <event2/event.h>

#include "util.h"

#define PT_LISTEN_BACKLOG 512
#define PT_ACCEPT_BACKOFF_MS 100

/* Returns a listening, non-blocking, CLOEXEC socket: the systemd one if
 * the environment passes exactly one for this process (its mode is the
 * unit's), else a new one bound at `path` with `mode` (at most; the owner
 * and group are the creator's). *activated tells which. `daemon` names
 * the program in the "already running" refusal. */
int pt_server_socket(const char *path, const char *daemon, mode_t mode,
    bool *activated, pt_err *err);

typedef struct pt_server pt_server;
/* Called with a new connection (non-blocking, CLOEXEC). The callee owns
 * fd and must call pt_server_conn_closed once it closes it. */
typedef void (*pt_server_accept_cb)(int fd, void *ctx);

pt_server *pt_server_new(struct event_base *base, int listen_fd,
    size_t max_conns, pt_server_accept_cb cb, void *ctx);
void pt_server_conn_closed(pt_server *s);
/* Where the accept loop reports trouble (out of descriptors, too many
 * connections). level: 0 error, 1 warning. Default: silent. */
void pt_server_set_log(pt_server *s, void (*log)(int level,
    const char *msg));
size_t pt_server_conn_count(const pt_server *s);
/* Stops accepting and closes the listening socket; unlinks `path` unless
 * NULL (socket activation: the file is systemd's). */
void pt_server_free(pt_server *s, const char *path);

#endif
