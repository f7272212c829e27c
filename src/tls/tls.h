/*
 * petrel-tls's internal interfaces: the remote endpoint (albatross-wire.md
 * §9). One event loop (libevent) drives every connection:
 *
 *   listen.c   the TCP listening sockets (v4 and v6, systemd activation),
 *              the caps per client address and in total
 *   tlsctx.c   the OpenSSL context: TLS 1.3 only, client chain required
 *              and verified against the CA
 *   crl.c      revocation lists from the CRL directory, reloaded when it
 *              changes, checked for every certificate of a chain
 *   peer.c     the verified chain as the pure core sees it (CN, extension)
 *   handshake.c
 *              SSL_accept on the event loop, with its timeout; then the
 *              client's frames run over the framed-connection module
 *              (src/daemon/fconn.h) with its OpenSSL transport
 *              (src/daemon/fconn_ssl.c), like the daemons' Unix sockets
 *   session.c  one client: chain -> name, policies, command; forwarding to
 *              the local daemons and relaying their replies
 *   record.c   login, logout and refusals into petreld's event log
 *   sandbox.c  privilege drop and the seccomp filter
 *   main.c     options and start-up
 */
#ifndef PETREL_TLS_H
#define PETREL_TLS_H

#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "chain.h"
#include "eventlog.h"
#include "name.h"
#include "util.h"
#include "wire.h"

struct event_base;
struct event;

enum { TLS_LOG_ERR = 0, TLS_LOG_WARN = 1, TLS_LOG_INFO = 2,
	TLS_LOG_DEBUG = 3 };
void tls_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void tls_log_init(bool use_syslog, int verbosity);

#define TLS_MAX_LISTEN 8

typedef struct {
	const char *tmpdir;        /* the local daemons' sockets */
	const char *dbdir;         /* default CRL dir: <dbdir>/crls */
	const char *ca;            /* trust anchor, PEM */
	const char *cert;          /* own chain, PEM */
	const char *key;           /* own key, PEM */
	char crl_dir[PATH_MAX];
	const char *user;          /* drop to this user after binding */
	int port;
	size_t nlisten;
	const char *listen[TLS_MAX_LISTEN];
	bool inetd;
	size_t max_conns;
	size_t max_per_addr;
	int64_t handshake_timeout_ms;
	int64_t idle_timeout_ms;
	bool use_syslog;
	int verbosity;
	bool test_execve;          /* hidden: execve once sandboxed (tests) */
} tls_opts;

typedef struct tls_daemon tls_daemon;
typedef struct tls_session tls_session;
typedef struct tls_crls tls_crls;

struct tls_daemon {
	tls_opts o;
	struct event_base *base;
	SSL_CTX *ctx;
	tls_crls *crls;
	int listen_fd[TLS_MAX_LISTEN];
	struct event *listen_ev[TLS_MAX_LISTEN];
	size_t nlisten_fds;
	struct event *accept_retry;
	tls_session *sessions;
	size_t nsessions;
	int64_t sequence;          /* the endpoint-global counter (§9.4) */
	struct event *sig_ev[2];
	bool stopping;
	size_t nrecords;           /* record.c: events on their way */
};

/* ---- tlsctx.c ---- */
SSL_CTX *tlsctx_new(const tls_opts *o, pt_err *err);
/* After the handshake: the verification outcome, with the failing
 * certificate's subject ("certificate has expired: CN=alice"). */
int tlsctx_peer_verified(SSL *ssl, pt_err *err);

/* ---- crl.c ---- */
tls_crls *crl_new(const char *dir);
void crl_free(tls_crls *c);
/* Re-reads the directory if anything in it changed since the last look. */
void crl_refresh(tls_crls *c);
/* Is any certificate of the verified chain (leaf first) revoked by a
 * CRL of its issuer? "revoked: <subject>". CRLs that do not verify
 * against the issuer's key are ignored with a warning. */
int crl_check_chain(tls_crls *c, STACK_OF(X509) *chain, pt_err *err);

/* ---- peer.c ---- */
/* The verified chain, leaf first, as pt_chain_process takes it; the blobs
 * point into the certificates (owned by the SSL). The trust anchor is
 * left out when it is the last element. Returns the count, -1 if none. */
int peer_chain(SSL *ssl, pt_chain_cert *out, size_t cap, pt_err *err);
/* The subject of a certificate as one line ("CN=alice"), for messages. */
void peer_subject(X509 *x, char *buf, size_t cap);

/* ---- handshake.c: SSL_accept on the event loop ---- */
typedef struct tls_handshake tls_handshake;
/* Done: ssl is the session's now (its fds too), fail is NULL; failed: ssl
 * is NULL, the fds are closed, fail says why. The handshake state is gone
 * by then. */
typedef void (*tls_handshake_done)(SSL *ssl, const char *fail, void *ctx);
/* in_fd/out_fd are the same socket except in --inetd mode. The verify
 * callback notes its first failure in *verify_note (tlsctx.c). On
 * failure to start, the fds stay the caller's. */
tls_handshake *handshake_start(tls_daemon *d, int in_fd, int out_fd,
    pt_err *verify_note, tls_handshake_done done, void *ctx, pt_err *err);
/* Abandons a handshake under way (closes its SSL and fds); no callback. */
void handshake_free(tls_handshake *h);

/* ---- session.c ---- */
void session_start(tls_daemon *d, int in_fd, int out_fd,
    const struct sockaddr_storage *peer);
void session_close_all(tls_daemon *d);
size_t session_count_addr(tls_daemon *d, const struct sockaddr_storage *a);

/* ---- record.c ---- */
/* Sends one event to petreld (`log record`); failures are logged only. */
void record_event(tls_daemon *d, const pt_event *e);
void record_endpoint(tls_daemon *d, pt_event_kind kind, const pt_name *name,
    const struct sockaddr_storage *peer);
void record_refused(tls_daemon *d, const pt_name *name, const char *command,
    const char *reason);

/* --inetd: stop once the session and its records are done. */
void tls_check_done(tls_daemon *d);

/* ---- listen.c ---- */
int listen_open(tls_daemon *d, pt_err *err);
int listen_start(tls_daemon *d, pt_err *err);
void listen_stop(tls_daemon *d);
/* A session is gone: accepting may resume. */
void listen_session_gone(tls_daemon *d);

/* ---- sandbox.c ---- */
int sandbox_drop_user(const char *user, pt_err *err);
int sandbox_seccomp(pt_err *err);

/* The path of a local daemon's socket: <tmpdir>/util/<name>.sock. */
int tls_socket_path(const tls_daemon *d, const char *name, char *out,
    size_t cap);

#endif
