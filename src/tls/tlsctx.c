/*
 * The OpenSSL context: TLS 1.3 only, our certificate chain and key, and a
 * client certificate chain required and verified against the one CA
 * (validity periods included).
 *
 * Verification failures do not end the handshake: the verify callback
 * notes the first failure (with the certificate it concerns) and lets the
 * handshake finish, so that the client gets a failure reply naming the
 * reason ("certificate has expired: CN=alice") instead of a bare alert;
 * nothing is done for such a peer but that reply. A client without any
 * certificate, or one that cannot speak TLS 1.3, is still refused by the
 * handshake itself (with the TLS alert saying so).
 */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "tls.h"

/* Deep enough that a long chain reaches the chain rules (§9.3: 10 and
 * more are refused there, with albatross's message). */
#define VERIFY_DEPTH 16

static int
openssl_fail(pt_err *err, const char *what, const char *path)
{
	char buf[256] = "";
	unsigned long e = ERR_get_error();
	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return pt_fail(err, "%s %s: %s", what, path, buf[0] ? buf :
	    "unknown error");
}

static int
on_verify(int ok, X509_STORE_CTX *store)
{
	if (ok)
		return 1;
	SSL *ssl = X509_STORE_CTX_get_ex_data(store,
	    SSL_get_ex_data_X509_STORE_CTX_idx());
	pt_err *note = ssl != NULL ? SSL_get_app_data(ssl) : NULL;
	if (note != NULL && note->msg[0] == '\0') {
		char subject[160] = "";
		X509 *x = X509_STORE_CTX_get_current_cert(store);
		if (x != NULL)
			peer_subject(x, subject, sizeof(subject));
		int code = X509_STORE_CTX_get_error(store);
		pt_fail(note, "certificate verify failed: %s%s%s",
		    X509_verify_cert_error_string(code), subject[0] ? ": " :
		    "", subject);
	}
	/* Go on: the reason goes to the client after the handshake. */
	return 1;
}

SSL_CTX *
tlsctx_new(const tls_opts *o, pt_err *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		openssl_fail(err, "cannot make a TLS context", "");
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) {
		openssl_fail(err, "cannot restrict to TLS 1.3", "");
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1) {
		openssl_fail(err, "certificate chain", o->cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1) {
		openssl_fail(err, "private key", o->key);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		openssl_fail(err, "private key does not match", o->cert);
		goto fail;
	}
	if (SSL_CTX_load_verify_locations(ctx, o->ca, NULL) != 1) {
		openssl_fail(err, "CA certificate", o->ca);
		goto fail;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
	    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, on_verify);
	SSL_CTX_set_verify_depth(ctx, VERIFY_DEPTH);
	/* One command per connection: nothing to resume. */
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/* The client's chain carries its command: a leaf with an embedded
	 * image may be 16 MiB (§9.6). */
	SSL_CTX_set_max_cert_list(ctx, 17L << 20);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

int
tlsctx_peer_verified(SSL *ssl, pt_err *err)
{
	const pt_err *note = SSL_get_app_data(ssl);
	if (note != NULL && note->msg[0] != '\0')
		return pt_fail(err, "%s", note->msg);
	long r = SSL_get_verify_result(ssl);
	if (r != X509_V_OK)
		return pt_fail(err, "certificate verify failed: %s",
		    X509_verify_cert_error_string(r));
	if (SSL_get0_peer_certificate(ssl) == NULL)
		return pt_fail(err, "no client certificate");
	return 0;
}
