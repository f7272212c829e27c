/*
 * --remote HOST[:PORT]: the TLS endpoint's address as albatross-client
 * spells it (default port 1025). Pure; tests/unit/test_client_args.c.
 */
#ifndef PETREL_CLIENT_HOSTPORT_H
#define PETREL_CLIENT_HOSTPORT_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define PT_REMOTE_DEFAULT_PORT 1025
#define PT_HOST_MAX 255

typedef struct {
	char host[PT_HOST_MAX + 1];
	char port[6];              /* decimal, 1..65535 */
} pt_hostport;

/* "host", "host:port", "1.2.3.4:port", "[v6]:port", "[v6]", and a bare
 * IPv6 address (two colons or more: no port). */
int pt_parse_hostport(const char *s, pt_hostport *out, pt_err *err);

#endif
