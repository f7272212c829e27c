/*
 * Certificate chain processing for the TLS endpoint (albatross-wire.md
 * §9.3): from the verified peer chain, leaf first, to the name the client
 * acts as, the policies its CAs delegate and the command its leaf carries.
 *
 * Pure: the caller (petrel-tls) has already verified the chain with
 * OpenSSL and hands over, per certificate, only its subject CN and the
 * contents (extnValue) of the albatross extension, either of which may be
 * absent. Nothing here knows about X.509.
 *
 * On top of albatross's rules, every delegated policy must fit within the
 * policy of the nearest CA above it in the same chain: albatross leaves
 * that to vmmd, which sees the deepest policy first and so may already
 * have stored part of an oversized delegation when it refuses the rest.
 */
#ifndef PETREL_CHAIN_H
#define PETREL_CHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "name.h"
#include "policy.h"
#include "util.h"
#include "wire.h"

/* §9.3 step 1: a chain of this many or more is refused. */
#define PT_CHAIN_TOO_LONG 10

typedef struct {
	bool has_cn;
	pt_blob cn;          /* subject CN bytes as in the certificate */
	bool has_ext;
	pt_blob ext;         /* extnValue: DER AlbatrossCertExtension */
} pt_chain_cert;

typedef struct {
	pt_name path;
	pt_policy policy;    /* points into the arena */
} pt_chain_policy;

typedef struct {
	pt_name name;        /* who the client is (path, or path + label) */
	int64_t version;     /* the leaf extension's protocol version */
	pt_command command;  /* the leaf's command (points into the arena and
	                        into the leaf's ext bytes) */
	size_t npolicies;
	/* Deepest first: the order in which they are sent to petreld
	 * (§9.4), the one closest to the leaf first. */
	pt_chain_policy policies[PT_CHAIN_TOO_LONG];
} pt_chain_result;

/* certs[0] is the leaf, certs[i + 1] signed certs[i]; the root may be
 * included. Returns 0, or -1 with the refusal text in err (the §9.3
 * texts where albatross has one). */
int pt_chain_process(const pt_chain_cert *certs, size_t n, pt_arena *a,
    pt_chain_result *out, pt_err *err);

/* Is this command allowed in a leaf certificate (§9.3 step 5)? */
bool pt_chain_leaf_allowed(pt_cmd_kind k);

#endif
