/*
 * The verified peer chain as the pure chain processing takes it
 * (src/core/chain.h): per certificate, leaf first, its subject CN and the
 * contents of the albatross extension (§9.2), pointing into the
 * certificates, which the SSL owns.
 */
#include <string.h>

#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tls.h"

#define ALBATROSS_OID "1.3.6.1.4.1.49836.42"

void
peer_subject(X509 *x, char *buf, size_t cap)
{
	buf[0] = '\0';
	BIO *b = BIO_new(BIO_s_mem());
	if (b == NULL)
		return;
	/* One line, RFC 2253 style: control characters and every byte
	 * above 0x7f escaped, so that the text is always valid UTF-8. */
	X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253);
	char *p;
	long n = BIO_get_mem_data(b, &p);
	if (n > 0) {
		size_t len = (size_t)n < cap - 1 ? (size_t)n : cap - 1;
		memcpy(buf, p, len);
		buf[len] = '\0';
		pt_utf8_trim_tail(buf);
	}
	BIO_free(b);
}

static void
fill(X509 *x, const ASN1_OBJECT *oid, pt_chain_cert *c)
{
	memset(c, 0, sizeof(*c));
	X509_NAME *subj = X509_get_subject_name(x);
	int i = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
	if (i >= 0) {
		const ASN1_STRING *s = X509_NAME_ENTRY_get_data(
		    X509_NAME_get_entry(subj, i));
		c->has_cn = true;
		c->cn.data = ASN1_STRING_get0_data(s);
		c->cn.len = (size_t)ASN1_STRING_length(s);
	}
	int e = X509_get_ext_by_OBJ(x, oid, -1);
	if (e >= 0) {
		const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(
		    X509_get_ext(x, e));
		c->has_ext = true;
		c->ext.data = ASN1_STRING_get0_data(v);
		c->ext.len = (size_t)ASN1_STRING_length(v);
	}
}

int
peer_chain(SSL *ssl, pt_chain_cert *out, size_t cap, pt_err *err)
{
	STACK_OF(X509) *chain = SSL_get0_verified_chain(ssl);
	if (chain == NULL || sk_X509_num(chain) < 1)
		return pt_fail(err, "no verified client certificate chain");
	/* The last one is our own trust anchor: it is the operator's, not
	 * the client's, and does not count (docs/tls.md). */
	size_t n = (size_t)sk_X509_num(chain);
	if (n > 1)
		n--;
	if (n > cap)
		return pt_fail(err, "certificate chain too long");
	static ASN1_OBJECT *oid;
	if (oid == NULL)
		oid = OBJ_txt2obj(ALBATROSS_OID, 1);
	if (oid == NULL)
		return pt_fail(err, "out of memory");
	for (size_t i = 0; i < n; i++)
		fill(sk_X509_value(chain, (int)i), oid, &out[i]);
	return (int)n;
}
