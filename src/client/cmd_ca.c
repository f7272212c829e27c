/*
 * petrel ca generate / request / sign / revoke: the CA tool, with the
 * file names and certificate profiles of albatross-client (§9.7), so that
 * either tool's files work with the other.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>

#include "ca_files.h"
#include "client.h"

enum {
	OPT_DAYS = 2000,
	OPT_SERVER,
	OPT_SERVER_DAYS,
	OPT_DB,
	OPT_OUT,
	OPT_SERIAL,
};

/* albatross-client backdates by 10 s: clocks are never quite in sync. */
#define BACKDATE 10
#define MAX_DAYS 36500

static int
days_opt(const pt_client *c, int id, int dflt, int *out)
{
	const pt_cli_optval *o = pt_cli_last(&c->args, id);
	int64_t v = dflt;
	pt_err err;

	if (o != NULL && pt_cli_parse_int("number of days", o->val, 1,
	    MAX_DAYS, &v, &err) != 0)
		return pt_usage(c, "%s", err.msg);
	*out = (int)v;
	return 0;
}

static const char *
opt_str(const pt_client *c, int id, const char *dflt)
{
	const pt_cli_optval *o = pt_cli_last(&c->args, id);
	return o != NULL ? o->val : dflt;
}

/* Files are named after names; a name is no path. */
static bool
safe_base(const char *s)
{
	return s[0] != '\0' && s[0] != '.' && s[0] != '-' &&
	    strchr(s, '/') == NULL && strlen(s) < 200;
}

static int
fail(const pt_client *c, int code, const pt_err *err)
{
	return pt_report(code, c->command, "%s", err->msg);
}

static int
write_cert(X509 *x, STACK_OF(X509) *after, const char *path, pt_err *err)
{
	pt_buf pem = {0};
	int rc = pt_pem_cert(x, &pem, err);
	for (int i = 0; rc == 0 && i < sk_X509_num(after); i++)
		rc = pt_pem_cert(sk_X509_value(after, i), &pem, err);
	if (rc == 0)
		rc = pt_ca_write(path, &pem, false, err);
	pt_buf_free(&pem);
	return rc;
}

/* ---- generate ---- */

static const pt_cli_optspec generate_opts[] = {
	{"days", 0, true, OPT_DAYS, "N", "validity of the CA (default 3650)"},
	{"server", 0, true, OPT_SERVER, "NAME",
	    "name of the server certificate (default server)"},
	{"server-days", 0, true, OPT_SERVER_DAYS, "N",
	    "validity of the server certificate (default 365)"},
	{"db", 0, true, OPT_DB, "FILE",
	    "append the server certificate's serial and name to this "
	    "database file (albatross-client's DB)"},
	{NULL, 0, false, 0, NULL, NULL},
};

static int
run_generate(pt_client *c)
{
	const char *name = c->args.pos[0];
	const char *server = opt_str(c, OPT_SERVER, "server");
	const char *db = opt_str(c, OPT_DB, NULL);
	char keyfile[256], skeyfile[256], sfile[256];
	int days, sdays, rc;
	bool created, screated;
	pt_err err;

	if ((rc = days_opt(c, OPT_DAYS, 3650, &days)) != 0 ||
	    (rc = days_opt(c, OPT_SERVER_DAYS, 365, &sdays)) != 0)
		return rc;
	if (!safe_base(name) || !safe_base(server))
		return pt_usage(c, "'%s' cannot name a file here",
		    safe_base(name) ? server : name);
	snprintf(keyfile, sizeof(keyfile), "%s.key", name);
	snprintf(skeyfile, sizeof(skeyfile), "%s.key", server);
	snprintf(sfile, sizeof(sfile), "%s.pem", server);
	EVP_PKEY *key = NULL, *skey = NULL;
	X509 *ca = NULL, *srv = NULL;
	time_t now = time(NULL);
	rc = PT_EXIT_FAILURE;
	key = pt_ca_key_for(keyfile, c->key_type, &created, &err);
	if (key == NULL)
		goto fail;
	pt_cert_spec s = {
		.cn = name, .pubkey = key, .issuer_key = key,
		.profile = PT_PROFILE_ROOT_CA, .not_before = now - BACKDATE,
		.not_after = now + (time_t)days * 86400,
	};
	if ((ca = pt_cert_make(&s, &err)) == NULL ||
	    write_cert(ca, NULL, "cacert.pem", &err) != 0)
		goto fail;
	skey = pt_ca_key_for(skeyfile, c->key_type, &screated, &err);
	if (skey == NULL)
		goto fail;
	pt_cert_spec ss = {
		.cn = server, .pubkey = skey, .issuer = ca, .issuer_key = key,
		.profile = PT_PROFILE_SERVER, .not_before = now - BACKDATE,
		.not_after = now + (time_t)sdays * 86400,
	};
	if ((srv = pt_cert_make(&ss, &err)) == NULL ||
	    write_cert(srv, NULL, sfile, &err) != 0 ||
	    (db != NULL && pt_ca_db_append(db, srv, server, &err) != 0))
		goto fail;
	char msg[1024];
	snprintf(msg, sizeof(msg), "wrote the CA %s: cacert.pem (key %s%s), "
	    "the server certificate %s: %s (key %s%s)", name, keyfile,
	    created ? ", new" : ", reused", server, sfile, skeyfile,
	    screated ? ", new" : ", reused");
	rc = pt_out_client_success(c, "ca", msg, "cacert.pem", 0);
	goto out;
fail:
	rc = fail(c, PT_EXIT_FAILURE, &err);
out:
	X509_free(ca);
	X509_free(srv);
	EVP_PKEY_free(key);
	EVP_PKEY_free(skey);
	return rc;
}

const pt_client_cmd pt_cmd_ca_generate = {
	"ca generate", "NAME [OPTIONS]",
	"make a root CA (NAME.key, cacert.pem) and a server certificate for "
	"petrel-tls (server.key, server.pem), as albatross-client generate; "
	"existing key files are reused",
	generate_opts, 1, 1, run_generate,
};

/* ---- request: main runs COMMAND in CSR mode (remote.c) ---- */

static const pt_cli_optspec no_opts[] = {
	{NULL, 0, false, 0, NULL, NULL},
};

static int
run_request(pt_client *c)
{
	return pt_usage(c, "usage: petrel ca request NAME COMMAND [ARGS]");
}

const pt_client_cmd pt_cmd_ca_request = {
	"ca request", "NAME COMMAND [ARGS]",
	"write a key NAME.key (reused if it exists) and a certificate "
	"signing request NAME.req carrying COMMAND (any petrel command with "
	"its arguments, e.g. 'add-policy alice: --unikernels 2 --mem 512 "
	"--cpu 0' for a sub-CA), for 'petrel ca sign'",
	no_opts, 2, 2, run_request,
};

/* ---- sign ---- */

static const pt_cli_optspec sign_opts[] = {
	{"days", 0, true, OPT_DAYS, "N",
	    "validity (default: 365 for a sub-CA or a server, 1 for a leaf)"},
	{"db", 0, true, OPT_DB, "FILE",
	    "append the serial and name to this database file"},
	{"out", 'o', true, OPT_OUT, "FILE",
	    "write the certificate here (default: CN.pem)"},
	{NULL, 0, false, 0, NULL, NULL},
};

static int
need_ca(const pt_client *c)
{
	if (c->ca_cert == NULL || c->ca_key == NULL)
		return pt_usage(c, "needs --ca-cert FILE and --ca-key FILE "
		    "(the CA that signs)");
	return 0;
}

/* The signer's own policy, if its certificate has one. */
static int
signer_policy(X509 *ca, pt_arena *a, const pt_policy **out, pt_err *err)
{
	pt_certext ext;
	int r = pt_ca_cert_certext(ca, a, &ext, err);

	*out = NULL;
	if (r < 0)
		return pt_fail_prefix(err, "--ca-cert");
	if (r == 1 && ext.command.kind == PT_CMD_POLICY_ADD)
		*out = &ext.command.u.policy;
	if (*out != NULL) {
		pt_policy *copy = pt_arena_memdup(a, *out, sizeof(**out));
		if (copy == NULL)
			return pt_fail(err, "out of memory");
		*out = copy;
	}
	return 0;
}

/* The request's extension, decoded (NULL: none). */
static int
request_ext(X509_REQ *req, pt_arena *a, pt_certext **out, pt_err *err)
{
	pt_buf der = {0};
	int r = pt_csr_ext(req, &der, err);

	*out = NULL;
	if (r == 1) {
		pt_certext *e = pt_arena_alloc(a, sizeof(*e));
		uint8_t *p = der.len > 0 ? pt_arena_memdup(a, der.data,
		    der.len) : NULL;
		if (e == NULL || p == NULL)
			r = pt_fail(err, "empty albatross extension");
		else if (pt_certext_decode(p, der.len, a, e, err) != 0)
			r = pt_fail_prefix(err, "undecodable albatross "
			    "extension");
		else
			*out = e;
	}
	pt_buf_free(&der);
	return r < 0 ? -1 : 0;
}

/* The chain file written: the certificate, then the signer unless it is
 * a self-signed root, then the signer's own chain (from --ca-cert) minus
 * roots, so that a sub-CA's file works as --ca-cert at once. */
static STACK_OF(X509) *
chain_after(STACK_OF(X509) *ca_certs)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	for (int i = 0; sk != NULL && i < sk_X509_num(ca_certs); i++) {
		X509 *x = sk_X509_value(ca_certs, i);
		if (X509_NAME_cmp(X509_get_subject_name(x),
		    X509_get_issuer_name(x)) != 0)
			sk_X509_push(sk, x);
	}
	return sk;
}

typedef struct {
	STACK_OF(X509) *ca_certs;
	EVP_PKEY *ca_key;
	X509_REQ *req;
	X509 *cert;
	EVP_PKEY *pub;
	pt_arena a;
	pt_buf ext;
} sign_state;

static void
sign_free(sign_state *s)
{
	sk_X509_pop_free(s->ca_certs, X509_free);
	EVP_PKEY_free(s->ca_key);
	X509_REQ_free(s->req);
	X509_free(s->cert);
	pt_arena_free(&s->a);
	pt_buf_free(&s->ext);
}

static int
load_for_sign(const pt_client *c, const char *csrfile, sign_state *s,
    pt_err *err)
{
	if ((s->ca_certs = pt_ca_load_certs(c->ca_cert, err)) == NULL ||
	    (s->ca_key = pt_ca_load_key(c->ca_key, err)) == NULL ||
	    (s->req = pt_ca_load_csr(csrfile, err)) == NULL)
		return -1;
	s->pub = X509_REQ_get0_pubkey(s->req);
	if (s->pub == NULL || X509_REQ_verify(s->req, s->pub) != 1)
		return pt_fail(err, "%s: the request's signature does not "
		    "verify", csrfile);
	return 0;
}

/* Signs s->req: the profile and the policy checks from its extension. */
static int
sign_request(const pt_client *c, sign_state *s, const char *cn,
    char *what, size_t cap, pt_err *err)
{
	X509 *ca = sk_X509_value(s->ca_certs, 0);
	const pt_policy *super;
	pt_certext *req;
	pt_profile prof;
	int ddays, days, rc;

	if (signer_policy(ca, &s->a, &super, err) != 0 ||
	    request_ext(s->req, &s->a, &req, err) != 0 ||
	    pt_ca_plan(req, super, &prof, &ddays, err) != 0)
		return PT_EXIT_FAILURE;
	if ((rc = days_opt(c, OPT_DAYS, ddays, &days)) != 0)
		return rc;
	if (req != NULL) {
		/* Re-encoded in our version, whatever the request's. */
		req->version = PT_WIRE_VERSION;
		if (pt_certext_encode(req, &s->ext, err) != 0 || s->ext.oom)
			return PT_EXIT_FAILURE;
	}
	time_t now = time(NULL);
	pt_cert_spec spec = {
		.cn = cn, .pubkey = s->pub, .issuer = ca,
		.issuer_key = s->ca_key, .profile = prof,
		.not_before = now - BACKDATE,
		.not_after = now + (time_t)days * 86400,
		.ext = req != NULL ? s->ext.data : NULL, .ext_len = s->ext.len,
	};
	if ((s->cert = pt_cert_make(&spec, err)) == NULL)
		return PT_EXIT_FAILURE;
	snprintf(what, cap, "%s '%s'%s%s, valid %d day%s", pt_profile_name(prof),
	    cn, req != NULL ? ", " : "",
	    req != NULL ? pt_cmd_kind_name(req->command.kind) : "", days,
	    days == 1 ? "" : "s");
	return 0;
}

static int
run_sign(pt_client *c)
{
	const char *csrfile = c->args.pos[0];
	const char *db = opt_str(c, OPT_DB, NULL);
	const char *out = opt_str(c, OPT_OUT, NULL);
	char cn[256], outfile[300], what[512];
	sign_state s = {0};
	pt_err err;
	int rc;

	if ((rc = need_ca(c)) != 0)
		return rc;
	if (load_for_sign(c, csrfile, &s, &err) != 0) {
		rc = fail(c, PT_EXIT_USAGE, &err);
		goto out;
	}
	if (pt_cert_subject_cn(X509_REQ_get_subject_name(s.req), cn,
	    sizeof(cn), &err) != 0) {
		rc = pt_report(PT_EXIT_FAILURE, csrfile, "%s", err.msg);
		goto out;
	}
	if (out == NULL && !safe_base(cn)) {
		rc = pt_usage(c, "the request's CN '%s' cannot name a file: "
		    "give --out FILE", cn);
		goto out;
	}
	snprintf(outfile, sizeof(outfile), "%s", out != NULL ? out : cn);
	if (out == NULL)
		strcat(outfile, ".pem");
	if ((rc = sign_request(c, &s, cn, what, sizeof(what), &err)) != 0) {
		if (rc == PT_EXIT_FAILURE)
			rc = pt_report(rc, csrfile, "%s", err.msg);
		goto out;
	}
	STACK_OF(X509) *after = chain_after(s.ca_certs);
	rc = after == NULL ? pt_fail(&err, "out of memory") :
	    write_cert(s.cert, after, outfile, &err);
	sk_X509_free(after);
	if (rc == 0 && db != NULL)
		rc = pt_ca_db_append(db, s.cert, cn, &err);
	if (rc != 0) {
		rc = fail(c, PT_EXIT_FAILURE, &err);
		goto out;
	}
	char msg[1024];
	snprintf(msg, sizeof(msg), "signed %s: %s, wrote %s", csrfile, what,
	    outfile);
	rc = pt_out_client_success(c, "certificate", msg, outfile, 0);
out:
	sign_free(&s);
	return rc;
}

const pt_client_cmd pt_cmd_ca_sign = {
	"ca sign", "CSR --ca-cert FILE --ca-key FILE [OPTIONS]",
	"sign a request: a 'policy add' makes a sub-CA (the policy must be "
	"usable and within the signer's own), any other command a client "
	"leaf, no albatross extension a server certificate",
	sign_opts, 1, 1, run_sign,
};

/* ---- revoke ---- */

static const pt_cli_optspec revoke_opts[] = {
	{"serial", 0, true, OPT_SERIAL, "HEX",
	    "revoke this serial number instead of a certificate file"},
	{"days", 0, true, OPT_DAYS, "N",
	    "the CRL's nextUpdate, in days from now (default 365)"},
	{NULL, 0, false, 0, NULL, NULL},
};

/* The serial to revoke: CERT's (which ca must have issued) or --serial. */
static ASN1_INTEGER *
revoke_serial(const pt_client *c, X509 *ca, pt_err *err)
{
	const char *hex = opt_str(c, OPT_SERIAL, NULL);
	if ((hex != NULL) == (c->args.npos == 2)) {
		pt_fail(err, "give either CERT or --serial HEX");
		return NULL;
	}
	if (hex != NULL) {
		BIGNUM *bn = NULL;
		size_t n = strlen(hex);
		if (n == 0 || n > 64 || strspn(hex, "0123456789abcdefABCDEF")
		    != n || BN_hex2bn(&bn, hex) != (int)n) {
			BN_free(bn);
			pt_fail(err, "invalid serial '%s' (hex digits)", hex);
			return NULL;
		}
		ASN1_INTEGER *s = BN_to_ASN1_INTEGER(bn, NULL);
		BN_free(bn);
		return s;
	}
	const char *file = c->args.pos[1];
	STACK_OF(X509) *certs = pt_ca_load_certs(file, err);
	if (certs == NULL)
		return NULL;
	X509 *x = sk_X509_value(certs, 0);
	ASN1_INTEGER *s = NULL;
	if (X509_NAME_cmp(X509_get_issuer_name(x),
	    X509_get_subject_name(ca)) != 0 ||
	    X509_verify(x, X509_get0_pubkey(ca)) != 1)
		pt_fail(err, "%s is not issued by the CA of --ca-cert: a CRL "
		    "revokes what its issuer signed", file);
	else
		s = ASN1_INTEGER_dup(X509_get0_serialNumber(x));
	sk_X509_pop_free(certs, X509_free);
	return s;
}

static int
run_revoke(pt_client *c)
{
	const char *crlfile = c->args.pos[0];
	STACK_OF(X509) *ca_certs = NULL;
	EVP_PKEY *key = NULL;
	X509_CRL *old = NULL, *crl = NULL;
	ASN1_INTEGER *serial = NULL;
	pt_buf pem = {0};
	pt_err err;
	bool missing = false, added;
	int days, rc;

	if ((rc = need_ca(c)) != 0 ||
	    (rc = days_opt(c, OPT_DAYS, 365, &days)) != 0)
		return rc;
	rc = PT_EXIT_USAGE;
	if ((ca_certs = pt_ca_load_certs(c->ca_cert, &err)) == NULL ||
	    (key = pt_ca_load_key(c->ca_key, &err)) == NULL ||
	    (serial = revoke_serial(c, sk_X509_value(ca_certs, 0),
	    &err)) == NULL)
		goto fail;
	old = pt_ca_load_crl(crlfile, &missing, &err);
	if (old == NULL && !missing)
		goto fail;
	rc = PT_EXIT_FAILURE;
	crl = pt_crl_revoke(old, sk_X509_value(ca_certs, 0), key, serial,
	    time(NULL), days, &added, &err);
	if (crl == NULL || pt_pem_crl(crl, &pem, &err) != 0 ||
	    pt_ca_write(crlfile, &pem, false, &err) != 0)
		goto fail;
	BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
	char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
	char msg[1024];
	snprintf(msg, sizeof(msg), "%s serial %s in %s (%d revoked, next "
	    "update in %d days)", added ? "revoked" : "already revoked:",
	    hex != NULL ? hex : "?", crlfile,
	    sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), days);
	OPENSSL_free(hex);
	BN_free(bn);
	rc = pt_out_client_success(c, "crl", msg, crlfile, pem.len);
	goto out;
fail:
	rc = fail(c, rc, &err);
out:
	pt_buf_free(&pem);
	ASN1_INTEGER_free(serial);
	X509_CRL_free(old);
	X509_CRL_free(crl);
	EVP_PKEY_free(key);
	sk_X509_pop_free(ca_certs, X509_free);
	return rc;
}

const pt_client_cmd pt_cmd_ca_revoke = {
	"ca revoke", "CRL [CERT] [--serial HEX] --ca-cert FILE --ca-key FILE",
	"add a certificate (the file CERT, or its serial) to the CRL file "
	"CRL, creating it or re-issuing it signed by the CA; petrel-tls "
	"reads CRLs from its CRL directory",
	revoke_opts, 1, 2, run_revoke,
};
