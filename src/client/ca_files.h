/*
 * The files of `petrel ca` and of remote commands: PEM certificates, keys,
 * requests and CRLs read with a bound, written atomically (keys 0600).
 */
#ifndef PETREL_CLIENT_CA_FILES_H
#define PETREL_CLIENT_CA_FILES_H

#include <stdbool.h>

#include "util.h"
#include "x509.h"

/* Largest certificate, key, CSR or CRL file read. */
#define PT_CA_MAX_FILE ((size_t)32 * 1024 * 1024)
/* Most certificates read from one file: a chain of 9 is albatross's
 * limit, a CA file may hold a few roots. */
#define PT_CA_MAX_CERTS 64

/* Every message names the file. */
STACK_OF(X509) *pt_ca_load_certs(const char *path, pt_err *err);
EVP_PKEY *pt_ca_load_key(const char *path, pt_err *err);
X509_REQ *pt_ca_load_csr(const char *path, pt_err *err);
/* NULL with *missing when the file does not exist. */
X509_CRL *pt_ca_load_crl(const char *path, bool *missing, pt_err *err);

/* The key in path if the file exists (albatross-client reuses keys),
 * else a new one of type t written there with mode 0600. */
EVP_PKEY *pt_ca_key_for(const char *path, pt_keytype t, bool *created,
    pt_err *err);

/* Atomic writes: certificates, CSRs and CRLs 0644, keys 0600. */
int pt_ca_write(const char *path, const pt_buf *data, bool secret,
    pt_err *err);
/* Appends "SERIALHEX NAME\n" to albatross's database file, rewriting
 * it atomically. */
int pt_ca_db_append(const char *path, X509 *x, const char *name,
    pt_err *err);

/* The albatross extension of x decoded into ext (allocated in a): 1, 0
 * when x has none, -1 when it does not decode. */
int pt_ca_cert_certext(X509 *x, pt_arena *a, pt_certext *ext, pt_err *err);

#endif
