/*
 * Commands in certificates: the on-the-fly leaf of --remote and the CSR
 * of `petrel ca request` (albatross-wire.md §9.7). Either carries the
 * command the rest of the client built, so every command works remotely
 * and as a request without knowing it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include "ca_files.h"
#include "client.h"
#include "hostport.h"
#include "tls.h"

/* Images up to this size go into the leaf certificate, as
 * albatross-client does; larger ones are streamed after the handshake
 * (§9.6), so that the certificate stays small. */
#define EMBED_MAX ((size_t)1024 * 1024)
/* Frames of the streamed image. */
#define STREAM_CHUNK ((size_t)64 * 1024)
/* The leaf's validity around now (§9.7). */
#define LEAF_BEFORE 10
#define LEAF_AFTER 300

/* The command's extension DER, with the image left out (*stream set)
 * when it is to be streamed. */
static int
encode_ext(const pt_command *cmd, bool allow_stream, pt_buf *der,
    pt_blob *stream, pt_err *err)
{
	pt_certext ext = {.version = PT_WIRE_VERSION, .command = *cmd};
	static const uint8_t none[1];

	stream->data = NULL;
	stream->len = 0;
	if (allow_stream && (cmd->kind == PT_CMD_UK_CREATE ||
	    cmd->kind == PT_CMD_UK_FORCE_CREATE) &&
	    cmd->u.config.image.len > EMBED_MAX) {
		*stream = cmd->u.config.image;
		ext.command.u.config.image.data = none;
		ext.command.u.config.image.len = 0;
	}
	if (pt_certext_encode(&ext, der, err) != 0)
		return -1;
	if (der->oom)
		return pt_fail(err, "out of memory");
	return 0;
}

/* The user's CA: its certificate (first in the file), the chain above
 * it (the rest), its key. */
typedef struct {
	STACK_OF(X509) *certs;
	EVP_PKEY *key;
} user_ca;

static void
user_ca_free(user_ca *u)
{
	sk_X509_pop_free(u->certs, X509_free);
	EVP_PKEY_free(u->key);
}

static int
user_ca_load(const pt_client *c, user_ca *u, pt_err *err)
{
	u->key = NULL;
	u->certs = pt_ca_load_certs(c->ca_cert, err);
	if (u->certs == NULL)
		return -1;
	u->key = pt_ca_load_key(c->ca_key, err);
	return u->key != NULL ? 0 : -1;
}

/* albatross-client checks the chain locally before connecting: a chain
 * the server cannot verify fails here with the reason. */
static int
verify_chain(X509 *leaf, STACK_OF(X509) *chain, STACK_OF(X509) *anchors,
    const char *anchors_file, pt_err *err)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int rc = -1;

	if (store == NULL || ctx == NULL)
		goto out;
	for (int i = 0; i < sk_X509_num(anchors); i++)
		if (X509_STORE_add_cert(store, sk_X509_value(anchors, i)) != 1)
			goto out;
	if (X509_STORE_CTX_init(ctx, store, leaf, chain) != 1)
		goto out;
	if (X509_verify_cert(ctx) == 1)
		rc = 0;
	else
		rc = pt_fail(err, "the certificate chain made from %s does "
		    "not verify against %s: %s", "--ca-cert", anchors_file,
		    X509_verify_cert_error_string(
		    X509_STORE_CTX_get_error(ctx)));
out:
	if (rc != 0 && err != NULL && err->msg[0] == '\0')
		pt_fail(err, "cannot verify the certificate chain");
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return rc;
}

/* The leaf for cmd on name, signed by the user's CA. */
static X509 *
make_leaf(const pt_client *c, const user_ca *u, const char *cn,
    const pt_buf *ext, EVP_PKEY **key, pt_err *err)
{
	time_t now = time(NULL);

	*key = pt_key_generate(c->key_type, err);
	if (*key == NULL)
		return NULL;
	pt_cert_spec s = {
		.cn = cn, .pubkey = *key,
		.issuer = sk_X509_value(u->certs, 0), .issuer_key = u->key,
		.profile = PT_PROFILE_LEAF,
		.not_before = now - LEAF_BEFORE, .not_after = now + LEAF_AFTER,
		.ext = ext->data, .ext_len = ext->len,
	};
	X509 *leaf = pt_cert_make(&s, err);
	if (leaf != NULL && (size_t)i2d_X509(leaf, NULL) > PT_X509_MAX_CERT) {
		X509_free(leaf);
		leaf = NULL;
		pt_fail(err, "the certificate for this command would be larger "
		    "than 16 MiB");
	}
	if (leaf == NULL) {
		EVP_PKEY_free(*key);
		*key = NULL;
	}
	return leaf;
}

/* Builds the leaf and connects; on failure err says why. */
static int
connect_with_leaf(const pt_client *c, const char *cn, const pt_buf *ext,
    pt_conn *conn, pt_err *err)
{
	user_ca u;
	STACK_OF(X509) *anchors = NULL;
	EVP_PKEY *key = NULL;
	X509 *leaf = NULL;
	pt_hostport hp;
	int rc = -1;

	if (pt_parse_hostport(c->remote, &hp, err) != 0)
		return -1;
	if (user_ca_load(c, &u, err) != 0)
		goto out;
	anchors = pt_ca_load_certs(c->server_ca, err);
	if (anchors == NULL)
		goto out;
	leaf = make_leaf(c, &u, cn, ext, &key, err);
	if (leaf == NULL)
		goto out;
	if (verify_chain(leaf, u.certs, anchors, c->server_ca, err) != 0)
		goto out;
	pt_tls_params p = {
		.host = hp.host, .port = hp.port, .leaf = leaf,
		.leaf_key = key, .chain = u.certs, .server_ca = anchors,
		.server_ca_file = c->server_ca,
	};
	int fd;
	pt_tls *t = pt_tls_connect(&p, &fd, err);
	if (t == NULL)
		goto out;
	pt_conn_open_tls(conn, t, fd, PT_CLIENT_MAX_FRAME);
	rc = 0;
out:
	X509_free(leaf);
	EVP_PKEY_free(key);
	sk_X509_pop_free(anchors, X509_free);
	user_ca_free(&u);
	return rc;
}

int
pt_remote_start(const pt_client *c, const pt_name *name,
    const pt_command *cmd, pt_conn *conn, int *rc)
{
	char cn[PT_NAME_TEXT_MAX + 1];
	pt_buf ext = {0};
	pt_blob stream;
	pt_err err = {{0}};

	memset(conn, 0, sizeof(*conn));
	conn->fd = -1;
	if (pt_cert_cn(name, cmd->kind, cn, sizeof(cn), &err) != 0) {
		*rc = pt_usage(c, "%s", err.msg);
		return -1;
	}
	if (encode_ext(cmd, true, &ext, &stream, &err) != 0) {
		pt_buf_free(&ext);
		*rc = pt_report(PT_EXIT_USAGE, name->text,
		    "cannot encode the request: %s", err.msg);
		return -1;
	}
	int r = connect_with_leaf(c, cn, &ext, conn, &err);
	pt_buf_free(&ext);
	if (r == 0 && stream.len > 0 &&
	    (pt_conn_send_chunks(conn, stream.data, stream.len, STREAM_CHUNK,
	    &err) != 0 || pt_conn_send_end(conn, &err) != 0)) {
		pt_conn_close(conn);
		r = -1;
	}
	if (r != 0) {
		*rc = pt_report(PT_EXIT_COMM, c->remote, "%s", err.msg);
		return -1;
	}
	return 0;
}

int
pt_remote_csr(const pt_client *c, const pt_name *name,
    const pt_command *cmd, int *rc)
{
	/* A CSR carries one command: a command that makes two requests
	 * (create-block --data) cannot be put into one. */
	static int requests;
	char cn[PT_NAME_TEXT_MAX + 1], keyfile[4096], reqfile[4096];
	pt_buf ext = {0}, pem = {0};
	pt_blob none;
	pt_err err = {{0}};
	bool created;

	if (requests++ > 0) {
		*rc = pt_usage(c, "makes more than one request, a certificate "
		    "request carries one command");
		return -1;
	}
	if (pt_cert_cn(name, cmd->kind, cn, sizeof(cn), &err) != 0) {
		*rc = pt_usage(c, "%s", err.msg);
		return -1;
	}
	snprintf(keyfile, sizeof(keyfile), "%s.key", c->csr_base);
	snprintf(reqfile, sizeof(reqfile), "%s.req", c->csr_base);
	EVP_PKEY *key = NULL;
	X509_REQ *req = NULL;
	*rc = PT_EXIT_USAGE;
	if (encode_ext(cmd, false, &ext, &none, &err) != 0)
		goto fail;
	key = pt_ca_key_for(keyfile, c->key_type, &created, &err);
	if (key == NULL)
		goto fail;
	req = pt_csr_make(key, cn, ext.data, ext.len, &err);
	if (req == NULL || pt_pem_csr(req, &pem, &err) != 0 ||
	    pt_ca_write(reqfile, &pem, false, &err) != 0)
		goto fail;
	/* Room for both paths and the CN whole: gcc's fortified builds (the
	 * package) refuse a message that could be cut. */
	char msg[sizeof(reqfile) + sizeof(keyfile) + sizeof(cn) + 128];
	snprintf(msg, sizeof(msg), "wrote %s (CN %s, %s) with %s key %s",
	    reqfile, cn, pt_cmd_kind_name(cmd->kind),
	    created ? "the new" : "the existing", keyfile);
	*rc = pt_out_client_success(c, "certificate-request", msg, reqfile,
	    pem.len);
	goto out;
fail:
	*rc = pt_report(*rc, c->csr_base, "%s", err.msg);
out:
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	pt_buf_free(&ext);
	pt_buf_free(&pem);
	return *rc == 0 ? 0 : -1;
}
