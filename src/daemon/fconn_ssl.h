/*
 * The OpenSSL transport of the framed connection (fconn.h): the same
 * frames over an SSL* whose handshake is done. Kept apart from fconn.c so
 * that the daemons without TLS do not link OpenSSL.
 *
 * Reads and writes map SSL_ERROR_WANT_READ/WANT_WRITE to the transport's
 * "wants" (TLS 1.3 without renegotiation still makes a read write, and a
 * write read: key updates, post-handshake messages); `pending` reports
 * records OpenSSL holds already; close sends close_notify once, best
 * effort, unless the session failed. OpenSSL writes to the socket with
 * write(2), not send(MSG_NOSIGNAL): the process must ignore SIGPIPE.
 */
#ifndef PETREL_FCONN_SSL_H
#define PETREL_FCONN_SSL_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "fconn.h"

extern const pt_fconn_transport pt_fconn_ssl;

/* The transport state for pt_fconn_open(base, in_fd, &pt_fconn_ssl, t,
 * ...). Takes the SSL and the fds (in_fd and out_fd: the same socket,
 * or stdin and stdout of one socket under inetd), also on failure (NULL).
 * The reason of a TLS failure (OpenSSL's text; the connection only sees
 * EPROTO or the system error) is written to why[cap] if why is not NULL,
 * which must then outlive the connection's transport. */
void *pt_fconn_ssl_new(SSL *ssl, int in_fd, int out_fd, char *why,
    size_t cap);

#endif
