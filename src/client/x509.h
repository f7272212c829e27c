/*
 * The certificate work of `petrel ca` and of remote commands, with
 * OpenSSL 3: keys, CSRs carrying the albatross extension, certificates of
 * the profiles albatross-client issues (albatross-wire.md §9.7), CRLs.
 *
 * Everything here works on objects in memory; reading and writing files
 * is cmd_ca.c's and remote.c's business. Unit-tested by
 * tests/unit/test_client_x509.c.
 */
#ifndef PETREL_CLIENT_X509_H
#define PETREL_CLIENT_X509_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "name.h"
#include "util.h"
#include "wire.h"

/* The albatross extension (§9.2). */
#define PT_X509_EXT_OID "1.3.6.1.4.1.49836.42"
/* Leaf certificates larger than this are refused (TLS carries at most
 * 16 MiB per handshake message; albatross-client refuses them too). */
#define PT_X509_MAX_CERT ((size_t)1 << 24)

/* ---- keys ---- */

typedef enum {
	PT_KEY_ED25519,
	PT_KEY_P256,
	PT_KEY_P384,
	PT_KEY_P521,
	PT_KEY_RSA2048,
	PT_KEY_RSA4096,
} pt_keytype;

/* "ed25519", "p256", "p384", "p521", "rsa2048", "rsa4096" (albatross's
 * --key-type spellings). */
int pt_keytype_parse(const char *s, pt_keytype *out, pt_err *err);
const char *pt_keytype_name(pt_keytype t);
EVP_PKEY *pt_key_generate(pt_keytype t, pt_err *err);

/* ---- profiles (§9.7) ---- */

typedef enum {
	PT_PROFILE_ROOT_CA,   /* self-signed, no SKI/AKI, no extension */
	PT_PROFILE_SERVER,    /* serverAuth, no albatross extension */
	PT_PROFILE_SUB_CA,    /* CA carrying a `policy add` */
	PT_PROFILE_LEAF,      /* clientAuth, any other command */
} pt_profile;

const char *pt_profile_name(pt_profile p);

/* What `ca sign` does with a CSR's albatross extension: `req` is the
 * decoded extension (NULL: the CSR has none, a server certificate);
 * `signer` the policy of the signing CA's own extension (NULL: none, the
 * root). A `policy add` must be usable and within `signer`. Gives the
 * profile and its default validity in days. Pure. */
int pt_ca_plan(const pt_certext *req, const pt_policy *signer,
    pt_profile *profile, int *default_days, pt_err *err);

/* The subject CN a CSR or an on-the-fly leaf carries for a command on
 * `name` (as albatross-client chooses it): policy commands the path
 * ("a:b" for a:b:, "." for the root), others the label, or "." for a
 * path. Other commands must name something at the root: over TLS the
 * path comes from the CA chain. cap >= PT_NAME_TEXT_MAX + 1. */
int pt_cert_cn(const pt_name *name, pt_cmd_kind kind, char *out,
    size_t cap, pt_err *err);

/* ---- certificates ---- */

typedef struct {
	const char *cn;            /* subject: one RDN, one CN */
	EVP_PKEY *pubkey;          /* the subject's key */
	X509 *issuer;              /* NULL: self-signed (root CA) */
	EVP_PKEY *issuer_key;      /* signs; the subject's key when root */
	pt_profile profile;
	time_t not_before, not_after;
	const uint8_t *ext;        /* DER of the albatross extension value */
	size_t ext_len;            /* (the AlbatrossCertExtension), or NULL */
} pt_cert_spec;

/* A random positive 128-bit serial, RFC 5280 profile. */
X509 *pt_cert_make(const pt_cert_spec *s, pt_err *err);

/* The albatross extension of a certificate / CSR: 1 with the value's
 * bytes copied into out, 0 when absent, -1 on a malformed request. */
int pt_cert_ext(X509 *x, pt_buf *out, pt_err *err);
int pt_csr_ext(X509_REQ *r, pt_buf *out, pt_err *err);
/* The subject CN (UTF-8, into buf), or -1 when there is none. */
int pt_cert_subject_cn(X509_NAME *n, char *buf, size_t cap, pt_err *err);

/* A CSR for cn with the extension (if ext) in an extensionRequest
 * attribute, signed by key. */
X509_REQ *pt_csr_make(EVP_PKEY *key, const char *cn, const uint8_t *ext,
    size_t ext_len, pt_err *err);

/* ---- revocation ---- */

/* A new CRL issued by ca: old's entries (if old, which must be issued by
 * ca) plus serial, unless already there (*added says which), lastUpdate
 * now, nextUpdate now + days, CRL number old's + 1 (or 1). */
X509_CRL *pt_crl_revoke(X509_CRL *old, X509 *ca, EVP_PKEY *ca_key,
    const ASN1_INTEGER *serial, time_t now, int days, bool *added,
    pt_err *err);

/* ---- encodings ---- */

/* PEM into out. */
int pt_pem_cert(X509 *x, pt_buf *out, pt_err *err);
int pt_pem_key(EVP_PKEY *k, pt_buf *out, pt_err *err);
int pt_pem_csr(X509_REQ *r, pt_buf *out, pt_err *err);
int pt_pem_crl(X509_CRL *c, pt_buf *out, pt_err *err);
/* Every PEM certificate in p[0..n), at least one, at most max. */
STACK_OF(X509) *pt_parse_certs(const uint8_t *p, size_t n, size_t max,
    pt_err *err);
EVP_PKEY *pt_parse_key(const uint8_t *p, size_t n, pt_err *err);
X509_REQ *pt_parse_csr(const uint8_t *p, size_t n, pt_err *err);
/* PEM or DER. */
X509_CRL *pt_parse_crl(const uint8_t *p, size_t n, pt_err *err);

/* The reason of the last OpenSSL error, for messages (clears the queue). */
const char *pt_ossl_reason(char *buf, size_t cap);

#endif
