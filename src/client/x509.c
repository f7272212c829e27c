#include "x509.h"

#include <limits.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

const char *
pt_ossl_reason(char *buf, size_t cap)
{
	unsigned long e = ERR_get_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	if (r != NULL)
		snprintf(buf, cap, "%s", r);
	else if (e != 0)
		ERR_error_string_n(e, buf, cap);
	else
		snprintf(buf, cap, "unknown OpenSSL error");
	ERR_clear_error();
	return buf;
}

/* pt_fail with the OpenSSL reason appended. */
static int
ossl_fail(pt_err *err, const char *what)
{
	char r[160];
	return pt_fail(err, "%s: %s", what, pt_ossl_reason(r, sizeof(r)));
}

/* ---- keys ---- */

static const struct {
	const char *name;
	pt_keytype t;
} keytypes[] = {
	{"ed25519", PT_KEY_ED25519}, {"p256", PT_KEY_P256},
	{"p384", PT_KEY_P384}, {"p521", PT_KEY_P521},
	{"rsa2048", PT_KEY_RSA2048}, {"rsa4096", PT_KEY_RSA4096},
};

int
pt_keytype_parse(const char *s, pt_keytype *out, pt_err *err)
{
	for (size_t i = 0; i < sizeof(keytypes) / sizeof(keytypes[0]); i++)
		if (strcmp(s, keytypes[i].name) == 0) {
			*out = keytypes[i].t;
			return 0;
		}
	return pt_fail(err, "unknown key type '%s' (ed25519, p256, p384, "
	    "p521, rsa2048 or rsa4096)", s);
}

const char *
pt_keytype_name(pt_keytype t)
{
	for (size_t i = 0; i < sizeof(keytypes) / sizeof(keytypes[0]); i++)
		if (keytypes[i].t == t)
			return keytypes[i].name;
	return "?";
}

EVP_PKEY *
pt_key_generate(pt_keytype t, pt_err *err)
{
	EVP_PKEY *k = NULL;

	switch (t) {
	case PT_KEY_ED25519:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		break;
	case PT_KEY_P256:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	case PT_KEY_P384:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
		break;
	case PT_KEY_P521:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
		break;
	case PT_KEY_RSA2048:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		break;
	case PT_KEY_RSA4096:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
		break;
	}
	if (k == NULL)
		ossl_fail(err, "cannot generate a key");
	return k;
}

/* Ed25519 signs without a separate digest; the others use SHA-256, as
 * ocaml-x509 does by default. */
static const EVP_MD *
sign_md(EVP_PKEY *k)
{
	return EVP_PKEY_get_id(k) == EVP_PKEY_ED25519 ? NULL : EVP_sha256();
}

/* ---- profiles ---- */

const char *
pt_profile_name(pt_profile p)
{
	switch (p) {
	case PT_PROFILE_ROOT_CA: return "root CA";
	case PT_PROFILE_SERVER: return "server certificate";
	case PT_PROFILE_SUB_CA: return "sub-CA";
	case PT_PROFILE_LEAF: return "leaf certificate";
	}
	return "?";
}

int
pt_ca_plan(const pt_certext *req, const pt_policy *signer,
    pt_profile *profile, int *default_days, pt_err *err)
{
	if (req == NULL) {
		*profile = PT_PROFILE_SERVER;
		*default_days = 365;
		return 0;
	}
	if (req->command.kind != PT_CMD_POLICY_ADD) {
		*profile = PT_PROFILE_LEAF;
		*default_days = 1;
		return 0;
	}
	const pt_policy *p = &req->command.u.policy;
	if (pt_policy_usable(p, err) != 0)
		return pt_fail_prefix(err, "the requested policy is not usable");
	if (signer != NULL && pt_policy_is_smaller(p, signer, err) != 0)
		return pt_fail_prefix(err, "the requested policy is larger "
		    "than the signer's own policy");
	*profile = PT_PROFILE_SUB_CA;
	*default_days = 365;
	return 0;
}

int
pt_cert_cn(const pt_name *name, pt_cmd_kind kind, char *out, size_t cap,
    pt_err *err)
{
	if (cap < PT_NAME_TEXT_MAX + 1)
		return pt_fail(err, "CN buffer too small");
	if (kind == PT_CMD_POLICY_INFO || kind == PT_CMD_POLICY_ADD ||
	    kind == PT_CMD_POLICY_REMOVE) {
		pt_name path;
		pt_name_path(name, &path);
		if (path.npath == 0) {
			/* albatross-client writes the empty string, which no
			 * server maps to a name; '.' is the path itself. */
			snprintf(out, cap, ".");
			return 0;
		}
		/* "a:b:" -> "a:b", albatross's Path.to_string */
		snprintf(out, cap, "%.*s", (int)path.len - 1, path.text);
		return 0;
	}
	if (name->npath != 0)
		return pt_fail(err, "'%s' is not at the root: over TLS the path "
		    "comes from the certificate chain, name only the label "
		    "(e.g. 'web', not 'a:web')", name->text);
	size_t len;
	const char *label = pt_name_label(name, &len);
	if (label == NULL)
		snprintf(out, cap, ".");
	else
		snprintf(out, cap, "%.*s", (int)len, label);
	return 0;
}

/* ---- certificates ---- */

static ASN1_OBJECT *
ext_oid(void)
{
	return OBJ_txt2obj(PT_X509_EXT_OID, 1);
}

static int
set_random_serial(X509 *x, pt_err *err)
{
	unsigned char b[16];
	if (RAND_bytes(b, sizeof(b)) != 1)
		return ossl_fail(err, "no random serial number");
	b[0] &= 0x7f;     /* positive */
	if (b[0] == 0)
		b[0] = 1; /* and 128 bits long, as albatross's */
	BIGNUM *bn = BN_bin2bn(b, sizeof(b), NULL);
	int ok = bn != NULL &&
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	return ok ? 0 : ossl_fail(err, "cannot set the serial number");
}

static X509_NAME *
cn_name(const char *cn, pt_err *err)
{
	X509_NAME *n = X509_NAME_new();
	if (n == NULL || X509_NAME_add_entry_by_NID(n, NID_commonName,
	    MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) != 1) {
		X509_NAME_free(n);
		ossl_fail(err, "invalid common name");
		return NULL;
	}
	return n;
}

/* The key identifier of RFC 5280 §4.2.1.2 method 1, which is what
 * ocaml-x509's Public_key.id computes: SHA-1 of the public key bits. */
static ASN1_OCTET_STRING *
key_id(const X509 *x)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (X509_pubkey_digest(x, EVP_sha1(), md, &len) != 1)
		return NULL;
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	if (os != NULL && ASN1_OCTET_STRING_set(os, md, (int)len) != 1) {
		ASN1_OCTET_STRING_free(os);
		return NULL;
	}
	return os;
}

/* AuthorityKeyIdentifier with only the keyIdentifier, as albatross. */
static AUTHORITY_KEYID *
authority_key_id(const X509 *issuer)
{
	AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
	if (akid == NULL)
		return NULL;
	akid->keyid = key_id(issuer);
	if (akid->keyid == NULL) {
		AUTHORITY_KEYID_free(akid);
		return NULL;
	}
	return akid;
}

static int
add_basic_constraints(X509 *x, bool ca)
{
	BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
	if (bc == NULL)
		return -1;
	bc->ca = ca ? 0xff : 0;
	int r = X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1,
	    X509V3_ADD_REPLACE);
	BASIC_CONSTRAINTS_free(bc);
	return r == 1 ? 0 : -1;
}

/* Bit numbers of KeyUsage (RFC 5280 §4.2.1.3). */
enum {
	KU_BIT_DIGITAL_SIGNATURE = 0,
	KU_BIT_CONTENT_COMMITMENT = 1,
	KU_BIT_KEY_ENCIPHERMENT = 2,
	KU_BIT_KEY_CERT_SIGN = 5,
	KU_BIT_CRL_SIGN = 6,
};

static int
add_key_usage(X509 *x, bool ca)
{
	static const int ca_bits[] = {KU_BIT_KEY_CERT_SIGN, KU_BIT_CRL_SIGN,
	    KU_BIT_DIGITAL_SIGNATURE, KU_BIT_CONTENT_COMMITMENT};
	static const int ee_bits[] = {KU_BIT_DIGITAL_SIGNATURE,
	    KU_BIT_KEY_ENCIPHERMENT};
	const int *bits = ca ? ca_bits : ee_bits;
	size_t n = ca ? 4 : 2;
	ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
	int ok = ku != NULL;

	for (size_t i = 0; ok && i < n; i++)
		ok = ASN1_BIT_STRING_set_bit(ku, bits[i], 1) == 1;
	ok = ok && X509_add1_ext_i2d(x, NID_key_usage, ku, 1,
	    X509V3_ADD_REPLACE) == 1;
	ASN1_BIT_STRING_free(ku);
	return ok ? 0 : -1;
}

static int
add_ext_key_usage(X509 *x, int purpose_nid)
{
	EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
	int ok = eku != NULL &&
	    sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(purpose_nid)) > 0 &&
	    X509_add1_ext_i2d(x, NID_ext_key_usage, eku, 1,
	    X509V3_ADD_REPLACE) == 1;
	/* The objects are OpenSSL's static ones. */
	sk_ASN1_OBJECT_free(eku);
	return ok ? 0 : -1;
}

static int
add_key_ids(X509 *x, const X509 *issuer)
{
	ASN1_OCTET_STRING *ski = key_id(x);
	AUTHORITY_KEYID *akid = authority_key_id(issuer);
	int ok = ski != NULL && akid != NULL &&
	    X509_add1_ext_i2d(x, NID_subject_key_identifier, ski, 0,
	    X509V3_ADD_REPLACE) == 1 &&
	    X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0,
	    X509V3_ADD_REPLACE) == 1;
	ASN1_OCTET_STRING_free(ski);
	AUTHORITY_KEYID_free(akid);
	return ok ? 0 : -1;
}

/* The albatross extension, non-critical (the `critical` field absent):
 * standard path validation rejects unknown critical extensions. */
static X509_EXTENSION *
albatross_ext(const uint8_t *der, size_t len)
{
	ASN1_OBJECT *obj = ext_oid();
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *e = NULL;

	if (obj != NULL && os != NULL && len <= INT_MAX &&
	    ASN1_OCTET_STRING_set(os, der, (int)len) == 1)
		e = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os);
	ASN1_OBJECT_free(obj);
	ASN1_OCTET_STRING_free(os);
	return e;
}

static int
add_profile(X509 *x, const pt_cert_spec *s)
{
	bool ca = s->profile == PT_PROFILE_ROOT_CA ||
	    s->profile == PT_PROFILE_SUB_CA;

	if (add_basic_constraints(x, ca) != 0 || add_key_usage(x, ca) != 0)
		return -1;
	if (s->profile == PT_PROFILE_SERVER &&
	    add_ext_key_usage(x, NID_server_auth) != 0)
		return -1;
	if (s->profile == PT_PROFILE_LEAF &&
	    add_ext_key_usage(x, NID_client_auth) != 0)
		return -1;
	if (s->profile != PT_PROFILE_ROOT_CA && add_key_ids(x, s->issuer) != 0)
		return -1;
	if (s->ext != NULL) {
		X509_EXTENSION *e = albatross_ext(s->ext, s->ext_len);
		int ok = e != NULL && X509_add_ext(x, e, -1) == 1;
		X509_EXTENSION_free(e);
		if (!ok)
			return -1;
	}
	return 0;
}

/* The issuer must be a CA whose key we hold. */
static int
check_issuer(X509 *issuer, EVP_PKEY *key, pt_err *err)
{
	char cn[256];
	if (pt_cert_subject_cn(X509_get_subject_name(issuer), cn, sizeof(cn),
	    NULL) != 0)
		snprintf(cn, sizeof(cn), "(no CN)");
	if (X509_check_ca(issuer) == 0)
		return pt_fail(err, "the certificate of %s is not a CA "
		    "certificate", cn);
	if (X509_check_private_key(issuer, key) != 1) {
		ERR_clear_error();
		return pt_fail(err, "the private key does not match the "
		    "certificate of %s", cn);
	}
	return 0;
}

static bool
spec_valid(const pt_cert_spec *s, pt_err *err)
{
	if (s->cn == NULL || s->cn[0] == '\0')
		return pt_fail(err, "a certificate needs a common name") == 0;
	if ((s->issuer == NULL) != (s->profile == PT_PROFILE_ROOT_CA))
		return pt_fail(err, "only a root CA signs itself") == 0;
	if (s->not_after <= s->not_before)
		return pt_fail(err, "the validity period is empty") == 0;
	if ((s->profile == PT_PROFILE_ROOT_CA ||
	    s->profile == PT_PROFILE_SERVER) && s->ext != NULL)
		return pt_fail(err, "a %s carries no albatross extension",
		    pt_profile_name(s->profile)) == 0;
	return true;
}

X509 *
pt_cert_make(const pt_cert_spec *s, pt_err *err)
{
	if (!spec_valid(s, err))
		return NULL;
	if (s->issuer != NULL && check_issuer(s->issuer, s->issuer_key,
	    err) != 0)
		return NULL;
	X509 *x = X509_new();
	X509_NAME *subject = cn_name(s->cn, err);
	if (x == NULL || subject == NULL)
		goto fail;
	if (X509_set_version(x, X509_VERSION_3) != 1 ||
	    set_random_serial(x, err) != 0 ||
	    X509_set_subject_name(x, subject) != 1 ||
	    X509_set_issuer_name(x, s->issuer != NULL ?
	    X509_get_subject_name(s->issuer) : subject) != 1 ||
	    X509_set_pubkey(x, s->pubkey) != 1 ||
	    ASN1_TIME_set(X509_getm_notBefore(x), s->not_before) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), s->not_after) == NULL) {
		ossl_fail(err, "cannot fill in the certificate");
		goto fail;
	}
	if (add_profile(x, s) != 0) {
		ossl_fail(err, "cannot add the certificate's extensions");
		goto fail;
	}
	if (X509_sign(x, s->issuer_key, sign_md(s->issuer_key)) <= 0) {
		ossl_fail(err, "cannot sign the certificate");
		goto fail;
	}
	X509_NAME_free(subject);
	return x;
fail:
	X509_NAME_free(subject);
	X509_free(x);
	return NULL;
}

static int
ext_value(X509_EXTENSION *e, pt_buf *out, pt_err *err)
{
	const ASN1_OCTET_STRING *os = X509_EXTENSION_get_data(e);
	pt_buf_reset(out);
	if (pt_buf_append(out, ASN1_STRING_get0_data(os),
	    (size_t)ASN1_STRING_length(os)) != 0)
		return pt_fail(err, "out of memory");
	return 1;
}

int
pt_cert_ext(X509 *x, pt_buf *out, pt_err *err)
{
	ASN1_OBJECT *obj = ext_oid();
	if (obj == NULL)
		return ossl_fail(err, "OID");
	int i = X509_get_ext_by_OBJ(x, obj, -1);
	int j = i >= 0 ? X509_get_ext_by_OBJ(x, obj, i) : -1;
	ASN1_OBJECT_free(obj);
	if (i < 0)
		return 0;
	if (j >= 0)
		return pt_fail(err, "the certificate carries the albatross "
		    "extension twice");
	return ext_value(X509_get_ext(x, i), out, err);
}

int
pt_csr_ext(X509_REQ *r, pt_buf *out, pt_err *err)
{
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(r);
	if (exts == NULL) {
		if (X509_REQ_get_attr_by_NID(r, NID_ext_req, -1) >= 0) {
			ERR_clear_error();
			return pt_fail(err, "the request's extensionRequest "
			    "attribute is malformed");
		}
		ERR_clear_error();
		return 0;
	}
	ASN1_OBJECT *obj = ext_oid();
	int i = obj != NULL ? X509v3_get_ext_by_OBJ(exts, obj, -1) : -1;
	int j = i >= 0 ? X509v3_get_ext_by_OBJ(exts, obj, i) : -1;
	int rc = 0;
	if (j >= 0)
		rc = pt_fail(err, "the request carries the albatross extension "
		    "twice");
	else if (i >= 0)
		rc = ext_value(sk_X509_EXTENSION_value(exts, i), out, err);
	ASN1_OBJECT_free(obj);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return rc;
}

int
pt_cert_subject_cn(X509_NAME *n, char *buf, size_t cap, pt_err *err)
{
	int i = X509_NAME_get_index_by_NID(n, NID_commonName, -1);
	if (i < 0)
		return pt_fail(err, "the subject has no common name");
	ASN1_STRING *d = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i));
	unsigned char *u = NULL;
	int len = ASN1_STRING_to_UTF8(&u, d);
	if (len < 0)
		return ossl_fail(err, "unreadable common name");
	if ((size_t)len >= cap || memchr(u, '\0', (size_t)len) != NULL) {
		OPENSSL_free(u);
		return pt_fail(err, "the common name is too long or has a NUL");
	}
	memcpy(buf, u, (size_t)len);
	buf[len] = '\0';
	OPENSSL_free(u);
	return 0;
}

X509_REQ *
pt_csr_make(EVP_PKEY *key, const char *cn, const uint8_t *ext,
    size_t ext_len, pt_err *err)
{
	X509_REQ *r = X509_REQ_new();
	X509_NAME *subject = cn_name(cn, err);
	STACK_OF(X509_EXTENSION) *exts = NULL;

	if (r == NULL || subject == NULL)
		goto fail;
	if (X509_REQ_set_version(r, X509_REQ_VERSION_1) != 1 ||
	    X509_REQ_set_subject_name(r, subject) != 1 ||
	    X509_REQ_set_pubkey(r, key) != 1) {
		ossl_fail(err, "cannot fill in the request");
		goto fail;
	}
	if (ext != NULL) {
		X509_EXTENSION *e = albatross_ext(ext, ext_len);
		exts = sk_X509_EXTENSION_new_null();
		if (e == NULL || exts == NULL ||
		    sk_X509_EXTENSION_push(exts, e) <= 0) {
			X509_EXTENSION_free(e);
			ossl_fail(err, "cannot build the extension");
			goto fail;
		}
		if (X509_REQ_add_extensions(r, exts) != 1) {
			ossl_fail(err, "cannot add the extension request");
			goto fail;
		}
	}
	if (X509_REQ_sign(r, key, sign_md(key)) <= 0) {
		ossl_fail(err, "cannot sign the request");
		goto fail;
	}
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(subject);
	return r;
fail:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(subject);
	X509_REQ_free(r);
	return NULL;
}

/* ---- revocation ---- */

/* Copies old's entries into crl; *found when serial is among them. */
static int
copy_revoked(X509_CRL *crl, X509_CRL *old, const ASN1_INTEGER *serial,
    bool *found)
{
	STACK_OF(X509_REVOKED) *rs = X509_CRL_get_REVOKED(old);
	for (int i = 0; i < sk_X509_REVOKED_num(rs); i++) {
		X509_REVOKED *r = sk_X509_REVOKED_value(rs, i);
		if (ASN1_INTEGER_cmp(X509_REVOKED_get0_serialNumber(r),
		    serial) == 0)
			*found = true;
		X509_REVOKED *d = X509_REVOKED_dup(r);
		if (d == NULL || X509_CRL_add0_revoked(crl, d) != 1) {
			X509_REVOKED_free(d);
			return -1;
		}
	}
	return 0;
}

/* The next CRL number: old's + 1, or 1. */
static ASN1_INTEGER *
next_crl_number(X509_CRL *old)
{
	BIGNUM *bn = NULL;
	if (old != NULL) {
		ASN1_INTEGER *n = X509_CRL_get_ext_d2i(old, NID_crl_number,
		    NULL, NULL);
		if (n != NULL)
			bn = ASN1_INTEGER_to_BN(n, NULL);
		ASN1_INTEGER_free(n);
	}
	if (bn == NULL && (bn = BN_new()) != NULL)
		BN_zero(bn);
	ASN1_INTEGER *r = NULL;
	if (bn != NULL && BN_add_word(bn, 1) == 1)
		r = BN_to_ASN1_INTEGER(bn, NULL);
	BN_free(bn);
	return r;
}

static int
add_revoked(X509_CRL *crl, const ASN1_INTEGER *serial, const ASN1_TIME *t)
{
	X509_REVOKED *r = X509_REVOKED_new();
	if (r == NULL || X509_REVOKED_set_serialNumber(r,
	    (ASN1_INTEGER *)serial) != 1 ||
	    X509_REVOKED_set_revocationDate(r, (ASN1_TIME *)t) != 1 ||
	    X509_CRL_add0_revoked(crl, r) != 1) {
		X509_REVOKED_free(r);
		return -1;
	}
	return 0;
}

static int
check_old_crl(X509_CRL *old, X509 *ca, pt_err *err)
{
	if (X509_NAME_cmp(X509_CRL_get_issuer(old),
	    X509_get_subject_name(ca)) != 0 ||
	    X509_CRL_verify(old, X509_get0_pubkey(ca)) != 1) {
		ERR_clear_error();
		return pt_fail(err, "the existing CRL is not issued by this CA");
	}
	return 0;
}

X509_CRL *
pt_crl_revoke(X509_CRL *old, X509 *ca, EVP_PKEY *ca_key,
    const ASN1_INTEGER *serial, time_t now, int days, bool *added,
    pt_err *err)
{
	if (days < 1)
		return pt_fail(err, "a CRL must be valid for a day at least"),
		    NULL;
	if (check_issuer(ca, ca_key, err) != 0)
		return NULL;
	if (old != NULL && check_old_crl(old, ca, err) != 0)
		return NULL;
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *this_update = ASN1_TIME_set(NULL, now);
	ASN1_TIME *next_update = ASN1_TIME_set(NULL,
	    now + (time_t)days * 86400);
	ASN1_INTEGER *number = next_crl_number(old);
	AUTHORITY_KEYID *akid = authority_key_id(ca);
	bool found = false;
	bool ok = crl != NULL && this_update != NULL && next_update != NULL &&
	    number != NULL && akid != NULL &&
	    X509_CRL_set_version(crl, X509_CRL_VERSION_2) == 1 &&
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) == 1 &&
	    X509_CRL_set1_lastUpdate(crl, this_update) == 1 &&
	    X509_CRL_set1_nextUpdate(crl, next_update) == 1 &&
	    (old == NULL || copy_revoked(crl, old, serial, &found) == 0) &&
	    (found || add_revoked(crl, serial, this_update) == 0) &&
	    X509_CRL_add1_ext_i2d(crl, NID_crl_number, number, 0,
	    X509V3_ADD_REPLACE) == 1 &&
	    X509_CRL_add1_ext_i2d(crl, NID_authority_key_identifier, akid, 0,
	    X509V3_ADD_REPLACE) == 1 &&
	    X509_CRL_sort(crl) == 1;
	if (ok && X509_CRL_sign(crl, ca_key, sign_md(ca_key)) <= 0)
		ok = false;
	if (!ok) {
		ossl_fail(err, "cannot build the CRL");
		X509_CRL_free(crl);
		crl = NULL;
	}
	*added = !found;
	ASN1_TIME_free(this_update);
	ASN1_TIME_free(next_update);
	ASN1_INTEGER_free(number);
	AUTHORITY_KEYID_free(akid);
	return crl;
}

/* ---- encodings ---- */

static int
bio_to_buf(BIO *b, int ok, pt_buf *out, pt_err *err)
{
	char *p;
	long n = b != NULL ? BIO_get_mem_data(b, &p) : 0;
	int rc = 0;

	if (b == NULL || !ok || n < 0)
		rc = ossl_fail(err, "cannot encode PEM");
	else if (pt_buf_append(out, p, (size_t)n) != 0)
		rc = pt_fail(err, "out of memory");
	BIO_free(b);
	return rc;
}

int
pt_pem_cert(X509 *x, pt_buf *out, pt_err *err)
{
	BIO *b = BIO_new(BIO_s_mem());
	return bio_to_buf(b, b != NULL && PEM_write_bio_X509(b, x) == 1, out,
	    err);
}

int
pt_pem_key(EVP_PKEY *k, pt_buf *out, pt_err *err)
{
	BIO *b = BIO_new(BIO_s_mem());
	return bio_to_buf(b, b != NULL && PEM_write_bio_PrivateKey(b, k, NULL,
	    NULL, 0, NULL, NULL) == 1, out, err);
}

int
pt_pem_csr(X509_REQ *r, pt_buf *out, pt_err *err)
{
	BIO *b = BIO_new(BIO_s_mem());
	return bio_to_buf(b, b != NULL && PEM_write_bio_X509_REQ(b, r) == 1,
	    out, err);
}

int
pt_pem_crl(X509_CRL *c, pt_buf *out, pt_err *err)
{
	BIO *b = BIO_new(BIO_s_mem());
	return bio_to_buf(b, b != NULL && PEM_write_bio_X509_CRL(b, c) == 1,
	    out, err);
}

static BIO *
mem_bio(const uint8_t *p, size_t n, pt_err *err)
{
	if (n > INT_MAX) {
		pt_fail(err, "file too large");
		return NULL;
	}
	BIO *b = BIO_new_mem_buf(p, (int)n);
	if (b == NULL)
		ossl_fail(err, "out of memory");
	return b;
}

/* Never ask for a pass phrase on the terminal: encrypted keys fail. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

STACK_OF(X509) *
pt_parse_certs(const uint8_t *p, size_t n, size_t max, pt_err *err)
{
	BIO *b = mem_bio(p, n, err);
	STACK_OF(X509) *sk = b != NULL ? sk_X509_new_null() : NULL;
	X509 *x;

	if (sk == NULL) {
		BIO_free(b);
		return NULL;
	}
	while ((x = PEM_read_bio_X509(b, NULL, no_passphrase, NULL)) != NULL) {
		if ((size_t)sk_X509_num(sk) >= max || sk_X509_push(sk, x) <= 0) {
			X509_free(x);
			sk_X509_pop_free(sk, X509_free);
			BIO_free(b);
			pt_fail(err, "more than %zu certificates", max);
			return NULL;
		}
	}
	/* The loop ends at the end of the input ("no start line") or at a
	 * PEM block that does not parse. */
	unsigned long e = ERR_peek_last_error();
	bool clean_end = ERR_GET_LIB(e) == ERR_LIB_PEM &&
	    ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
	BIO_free(b);
	if (sk_X509_num(sk) == 0 || !clean_end) {
		sk_X509_pop_free(sk, X509_free);
		if (clean_end) {
			ERR_clear_error();
			pt_fail(err, "no PEM certificate in it");
		} else {
			ossl_fail(err, "a certificate does not parse");
		}
		return NULL;
	}
	ERR_clear_error();
	return sk;
}

EVP_PKEY *
pt_parse_key(const uint8_t *p, size_t n, pt_err *err)
{
	BIO *b = mem_bio(p, n, err);
	EVP_PKEY *k = b != NULL ? PEM_read_bio_PrivateKey(b, NULL,
	    no_passphrase, NULL) : NULL;
	if (b != NULL && k == NULL)
		ossl_fail(err, "no unencrypted PEM private key in it");
	BIO_free(b);
	return k;
}

X509_REQ *
pt_parse_csr(const uint8_t *p, size_t n, pt_err *err)
{
	BIO *b = mem_bio(p, n, err);
	X509_REQ *r = b != NULL ? PEM_read_bio_X509_REQ(b, NULL,
	    no_passphrase, NULL) : NULL;
	if (b != NULL && r == NULL)
		ossl_fail(err, "no PEM certificate request in it");
	BIO_free(b);
	return r;
}

X509_CRL *
pt_parse_crl(const uint8_t *p, size_t n, pt_err *err)
{
	BIO *b = mem_bio(p, n, err);
	if (b == NULL)
		return NULL;
	X509_CRL *c = PEM_read_bio_X509_CRL(b, NULL, no_passphrase, NULL);
	BIO_free(b);
	if (c == NULL) {
		const unsigned char *q = p;
		ERR_clear_error();
		c = d2i_X509_CRL(NULL, &q, (long)n);
		if (c != NULL && q != p + n) {
			X509_CRL_free(c);
			c = NULL;
			return pt_fail(err, "trailing bytes after the CRL"), NULL;
		}
	}
	if (c == NULL)
		ossl_fail(err, "neither a PEM nor a DER CRL");
	return c;
}
