/*
 * The client's TLS 1.3 connection to a petrel-tls / albatross TLS endpoint
 * (albatross-wire.md §9.1): TCP, the handshake with the client certificate
 * chain, the server verified against a CA, then frames as on the Unix
 * socket. transport.c calls these when a pt_conn carries TLS.
 */
#ifndef PETREL_CLIENT_TLS_H
#define PETREL_CLIENT_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <openssl/x509.h>

#include "util.h"

typedef struct pt_tls pt_tls;

typedef struct {
	const char *host, *port;
	X509 *leaf;
	EVP_PKEY *leaf_key;
	STACK_OF(X509) *chain;      /* sent after the leaf, in order */
	STACK_OF(X509) *server_ca;  /* trust anchors for the server */
	const char *server_ca_file; /* for messages */
} pt_tls_params;

/* Connects and completes the handshake. *fd is the socket (owned by the
 * pt_tls: pt_tls_free closes it). */
pt_tls *pt_tls_connect(const pt_tls_params *p, int *fd, pt_err *err);
/* Bytes read, 0 when the server closed the connection, -1 on an error. */
ssize_t pt_tls_read(pt_tls *t, void *buf, size_t n, pt_err *err);
/* Writes the whole iovec (in records of up to 16 KiB). */
int pt_tls_writev(pt_tls *t, const struct iovec *iov, int iovcnt,
    pt_err *err);
/* Has the server sent application data (or closed) not yet read? */
bool pt_tls_readable(pt_tls *t);
/* Sends close_notify (best effort), closes the socket, frees. */
void pt_tls_free(pt_tls *t);

#endif
