#include "ca_files.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>

#include "fsutil.h"

/* Reads path and runs parse over its bytes. */
static void *
load(const char *path, void *(*parse)(const uint8_t *, size_t, pt_err *),
    pt_err *err)
{
	uint8_t *data;
	size_t n;

	if (pt_read_file(path, PT_CA_MAX_FILE, &data, &n, err) != 0) {
		pt_fail_prefix(err, "%s", path);
		return NULL;
	}
	void *r = parse(data, n, err);
	free(data);
	if (r == NULL)
		pt_fail_prefix(err, "%s", path);
	return r;
}

static void *
parse_certs(const uint8_t *p, size_t n, pt_err *err)
{
	return pt_parse_certs(p, n, PT_CA_MAX_CERTS, err);
}

static void *
parse_key(const uint8_t *p, size_t n, pt_err *err)
{
	return pt_parse_key(p, n, err);
}

static void *
parse_csr(const uint8_t *p, size_t n, pt_err *err)
{
	return pt_parse_csr(p, n, err);
}

static void *
parse_crl(const uint8_t *p, size_t n, pt_err *err)
{
	return pt_parse_crl(p, n, err);
}

STACK_OF(X509) *
pt_ca_load_certs(const char *path, pt_err *err)
{
	return load(path, parse_certs, err);
}

EVP_PKEY *
pt_ca_load_key(const char *path, pt_err *err)
{
	return load(path, parse_key, err);
}

X509_REQ *
pt_ca_load_csr(const char *path, pt_err *err)
{
	return load(path, parse_csr, err);
}

X509_CRL *
pt_ca_load_crl(const char *path, bool *missing, pt_err *err)
{
	uint8_t *data;
	size_t n;

	*missing = false;
	errno = 0;
	if (pt_read_file(path, PT_CA_MAX_FILE, &data, &n, err) != 0) {
		*missing = errno == ENOENT;
		pt_fail_prefix(err, "%s", path);
		return NULL;
	}
	X509_CRL *c = parse_crl(data, n, err);
	free(data);
	if (c == NULL)
		pt_fail_prefix(err, "%s", path);
	return c;
}

int
pt_ca_write(const char *path, const pt_buf *data, bool secret, pt_err *err)
{
	if (data->oom)
		return pt_fail(err, "%s: out of memory", path);
	if (pt_write_atomic(path, data->data, data->len,
	    secret ? 0600 : 0644, NULL, err) != 0)
		return pt_fail_prefix(err, "%s", path);
	return 0;
}

EVP_PKEY *
pt_ca_key_for(const char *path, pt_keytype t, bool *created, pt_err *err)
{
	uint8_t *data;
	size_t n;

	*created = false;
	errno = 0;
	if (pt_read_file(path, PT_CA_MAX_FILE, &data, &n, err) == 0) {
		EVP_PKEY *k = pt_parse_key(data, n, err);
		OPENSSL_cleanse(data, n);
		free(data);
		if (k == NULL)
			pt_fail_prefix(err, "%s", path);
		return k;
	}
	if (errno != ENOENT) {
		pt_fail_prefix(err, "%s", path);
		return NULL;
	}
	EVP_PKEY *k = pt_key_generate(t, err);
	pt_buf pem = {0};
	if (k == NULL || pt_pem_key(k, &pem, err) != 0 ||
	    pt_ca_write(path, &pem, true, err) != 0) {
		EVP_PKEY_free(k);
		k = NULL;
	} else {
		*created = true;
	}
	if (pem.data != NULL)
		OPENSSL_cleanse(pem.data, pem.len);
	pt_buf_free(&pem);
	return k;
}

int
pt_ca_db_append(const char *path, X509 *x, const char *name, pt_err *err)
{
	uint8_t *old = NULL;
	size_t n = 0;
	pt_buf b = {0};

	errno = 0;
	if (pt_read_file(path, PT_CA_MAX_FILE, &old, &n, err) != 0 &&
	    errno != ENOENT)
		return pt_fail_prefix(err, "%s", path);
	pt_buf_append(&b, old, n);
	free(old);
	if (b.len > 0 && b.data[b.len - 1] != '\n')
		pt_buf_append_byte(&b, '\n');
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
	BN_free(bn);
	if (hex == NULL) {
		pt_buf_free(&b);
		return pt_fail(err, "%s: out of memory", path);
	}
	/* albatross writes lower-case hex (Ohex.encode). */
	for (char *p = hex; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'F')
			*p = (char)(*p - 'A' + 'a');
	pt_buf_printf(&b, "%s %s\n", hex, name);
	OPENSSL_free(hex);
	int rc = b.oom ? pt_fail(err, "%s: out of memory", path) :
	    pt_write_atomic(path, b.data, b.len, 0644, NULL, err);
	if (rc != 0 && !b.oom)
		pt_fail_prefix(err, "%s", path);
	pt_buf_free(&b);
	return rc;
}

int
pt_ca_cert_certext(X509 *x, pt_arena *a, pt_certext *ext, pt_err *err)
{
	pt_buf der = {0};
	int r = pt_cert_ext(x, &der, err);
	if (r == 1) {
		/* The decoded command may point into the DER: keep a copy in
		 * the arena. */
		uint8_t *p = pt_arena_memdup(a, der.data, der.len);
		if (p == NULL)
			r = pt_fail(err, "out of memory");
		else if (pt_certext_decode(p, der.len, a, ext, err) != 0)
			r = pt_fail_prefix(err, "undecodable albatross "
			    "extension");
	}
	pt_buf_free(&der);
	return r;
}
