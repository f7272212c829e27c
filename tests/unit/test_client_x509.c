/* Unit tests for the client's certificate work (src/client/x509.c): the
 * §9.7 profiles (extensions, criticality, validity), the policy checks
 * of `ca sign`, key types, CRL updates, the CN of a command, and the
 * --remote address parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/x509v3.h>

#include "hostport.h"
#include "x509.h"

static const time_t NOW = 1700000000;

/* §13.3 a: console subscribe count 20. */
static const uint8_t EXT_CONSOLE[] = {0x30, 0x0C, 0x02, 0x01, 0x05, 0xA0,
    0x07, 0xA2, 0x05, 0xA1, 0x03, 0x02, 0x01, 0x14};

static EVP_PKEY *
key(pt_keytype t)
{
	pt_err err;
	EVP_PKEY *k = pt_key_generate(t, &err);
	assert_non_null(k);
	return k;
}

static X509 *
make(const char *cn, EVP_PKEY *pub, X509 *issuer, EVP_PKEY *ikey,
    pt_profile p, const uint8_t *ext, size_t ext_len)
{
	pt_cert_spec s = {
		.cn = cn, .pubkey = pub, .issuer = issuer, .issuer_key = ikey,
		.profile = p, .not_before = NOW - 10, .not_after = NOW + 300,
		.ext = ext, .ext_len = ext_len,
	};
	pt_err err = {{0}};
	X509 *x = pt_cert_make(&s, &err);
	if (x == NULL)
		fail_msg("pt_cert_make: %s", err.msg);
	return x;
}

/* -1: absent, else its criticality. */
static int
crit(X509 *x, int nid)
{
	int i = X509_get_ext_by_NID(x, nid, -1);
	return i < 0 ? -1 : X509_EXTENSION_get_critical(X509_get_ext(x, i));
}

static int
albatross_crit(X509 *x)
{
	ASN1_OBJECT *o = OBJ_txt2obj(PT_X509_EXT_OID, 1);
	int i = X509_get_ext_by_OBJ(x, o, -1);
	ASN1_OBJECT_free(o);
	return i < 0 ? -1 : X509_EXTENSION_get_critical(X509_get_ext(x, i));
}

static void
test_profiles(void **state)
{
	(void)state;
	EVP_PKEY *rk = key(PT_KEY_ED25519), *lk = key(PT_KEY_ED25519);
	X509 *root = make("root", rk, NULL, rk, PT_PROFILE_ROOT_CA, NULL, 0);
	X509 *leaf = make("foo", lk, root, rk, PT_PROFILE_LEAF, EXT_CONSOLE,
	    sizeof(EXT_CONSOLE));
	X509 *srv = make("server", lk, root, rk, PT_PROFILE_SERVER, NULL, 0);
	X509 *sub = make("arc", lk, root, rk, PT_PROFILE_SUB_CA, EXT_CONSOLE,
	    sizeof(EXT_CONSOLE));

	/* root: CA, critical BC and KU, no SKI/AKI, no EKU */
	assert_int_equal(crit(root, NID_basic_constraints), 1);
	assert_int_equal(crit(root, NID_key_usage), 1);
	assert_int_equal(crit(root, NID_subject_key_identifier), -1);
	assert_int_equal(crit(root, NID_authority_key_identifier), -1);
	assert_int_equal(crit(root, NID_ext_key_usage), -1);
	assert_int_not_equal(X509_check_ca(root), 0);
	assert_int_equal(X509_get_key_usage(root), KU_KEY_CERT_SIGN |
	    KU_CRL_SIGN | KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION);
	assert_int_equal(albatross_crit(root), -1);
	/* leaf: clientAuth critical, SKI/AKI non-critical, extension
	 * non-critical with our bytes */
	assert_int_equal(X509_check_ca(leaf), 0);
	assert_int_equal(crit(leaf, NID_basic_constraints), 1);
	assert_int_equal(crit(leaf, NID_ext_key_usage), 1);
	assert_int_equal(X509_get_extended_key_usage(leaf), XKU_SSL_CLIENT);
	assert_int_equal(X509_get_key_usage(leaf), KU_DIGITAL_SIGNATURE |
	    KU_KEY_ENCIPHERMENT);
	assert_int_equal(crit(leaf, NID_subject_key_identifier), 0);
	assert_int_equal(crit(leaf, NID_authority_key_identifier), 0);
	assert_int_equal(albatross_crit(leaf), 0);
	pt_buf b = {0};
	pt_err err;
	assert_int_equal(pt_cert_ext(leaf, &b, &err), 1);
	assert_int_equal(b.len, sizeof(EXT_CONSOLE));
	assert_memory_equal(b.data, EXT_CONSOLE, b.len);
	assert_int_equal(pt_cert_ext(srv, &b, &err), 0);
	/* AKI of the leaf = SKI-method-1 of the root's key */
	const ASN1_OCTET_STRING *akid = X509_get0_authority_key_id(leaf);
	assert_non_null(akid);
	assert_int_equal(ASN1_STRING_length(akid), 20);
	/* server: serverAuth */
	assert_int_equal(X509_get_extended_key_usage(srv), XKU_SSL_SERVER);
	assert_int_equal(albatross_crit(srv), -1);
	/* sub-CA: CA with the extension, no EKU */
	assert_int_not_equal(X509_check_ca(sub), 0);
	assert_int_equal(crit(sub, NID_ext_key_usage), -1);
	assert_int_equal(albatross_crit(sub), 0);
	/* validity as given; signed by the issuer; v3; 128-bit serial */
	assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notBefore(leaf),
	    NOW - 10), 0);
	assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notAfter(leaf),
	    NOW + 300), 0);
	assert_int_equal(X509_verify(leaf, rk), 1);
	assert_int_equal(X509_verify(root, rk), 1);
	assert_int_equal(X509_get_version(leaf), X509_VERSION_3);
	assert_int_equal(ASN1_STRING_length(X509_get0_serialNumber(leaf)), 16);
	char cn[64];
	assert_int_equal(pt_cert_subject_cn(X509_get_subject_name(leaf), cn,
	    sizeof(cn), &err), 0);
	assert_string_equal(cn, "foo");
	pt_buf_free(&b);
	X509_free(root);
	X509_free(leaf);
	X509_free(srv);
	X509_free(sub);
	EVP_PKEY_free(rk);
	EVP_PKEY_free(lk);
}

static void
test_bad_specs(void **state)
{
	(void)state;
	EVP_PKEY *rk = key(PT_KEY_ED25519), *other = key(PT_KEY_ED25519);
	X509 *root = make("root", rk, NULL, rk, PT_PROFILE_ROOT_CA, NULL, 0);
	X509 *leaf = make("foo", other, root, rk, PT_PROFILE_LEAF, NULL, 0);
	pt_err err;
	pt_cert_spec s = {.cn = "x", .pubkey = other, .issuer = root,
	    .issuer_key = other, .profile = PT_PROFILE_LEAF,
	    .not_before = NOW, .not_after = NOW + 1};
	/* the key does not match the CA */
	assert_null(pt_cert_make(&s, &err));
	assert_non_null(strstr(err.msg, "does not match"));
	/* a leaf cannot sign */
	s.issuer = leaf;
	assert_null(pt_cert_make(&s, &err));
	assert_non_null(strstr(err.msg, "not a CA"));
	/* empty validity, a server with the extension */
	s.issuer = root;
	s.issuer_key = rk;
	s.not_after = NOW;
	assert_null(pt_cert_make(&s, &err));
	s.not_after = NOW + 1;
	s.profile = PT_PROFILE_SERVER;
	s.ext = EXT_CONSOLE;
	s.ext_len = sizeof(EXT_CONSOLE);
	assert_null(pt_cert_make(&s, &err));
	X509_free(root);
	X509_free(leaf);
	EVP_PKEY_free(rk);
	EVP_PKEY_free(other);
}

static void
test_key_types(void **state)
{
	(void)state;
	static const struct { const char *s; int id; int bits; } kt[] = {
		{"ed25519", EVP_PKEY_ED25519, 256}, {"p256", EVP_PKEY_EC, 256},
		{"p384", EVP_PKEY_EC, 384}, {"p521", EVP_PKEY_EC, 521},
		{"rsa2048", EVP_PKEY_RSA, 2048}, {"rsa4096", EVP_PKEY_RSA, 4096},
	};
	pt_err err;
	for (size_t i = 0; i < sizeof(kt) / sizeof(kt[0]); i++) {
		pt_keytype t;
		assert_int_equal(pt_keytype_parse(kt[i].s, &t, &err), 0);
		assert_string_equal(pt_keytype_name(t), kt[i].s);
		EVP_PKEY *k = key(t);
		assert_int_equal(EVP_PKEY_get_id(k), kt[i].id);
		assert_int_equal(EVP_PKEY_get_bits(k), kt[i].bits);
		/* each signs a root and a leaf that verify */
		X509 *root = make("r", k, NULL, k, PT_PROFILE_ROOT_CA, NULL, 0);
		assert_int_equal(X509_verify(root, k), 1);
		/* and round-trips through PEM */
		pt_buf pem = {0};
		assert_int_equal(pt_pem_key(k, &pem, &err), 0);
		EVP_PKEY *back = pt_parse_key(pem.data, pem.len, &err);
		assert_non_null(back);
		assert_int_equal(EVP_PKEY_eq(k, back), 1);
		pt_buf_reset(&pem);
		assert_int_equal(pt_pem_cert(root, &pem, &err), 0);
		assert_int_equal(pt_pem_cert(root, &pem, &err), 0);
		STACK_OF(X509) *sk = pt_parse_certs(pem.data, pem.len, 8, &err);
		assert_non_null(sk);
		assert_int_equal(sk_X509_num(sk), 2);
		sk_X509_pop_free(sk, X509_free);
		pt_buf_free(&pem);
		EVP_PKEY_free(back);
		X509_free(root);
		EVP_PKEY_free(k);
	}
	pt_keytype t;
	assert_int_equal(pt_keytype_parse("dsa", &t, &err), -1);
	assert_non_null(strstr(err.msg, "dsa"));
	assert_null(pt_parse_certs((const uint8_t *)"junk", 4, 8, &err));
}

static pt_certext
policy_req(int64_t unikernels, int64_t memory, int64_t *cpus, size_t ncpus)
{
	pt_certext e;
	memset(&e, 0, sizeof(e));
	e.version = 5;
	e.command.kind = PT_CMD_POLICY_ADD;
	e.command.u.policy.unikernels = unikernels;
	e.command.u.policy.memory = memory;
	e.command.u.policy.cpuids = cpus;
	e.command.u.policy.ncpuids = ncpus;
	return e;
}

static void
test_sign_plan(void **state)
{
	(void)state;
	int64_t c0[] = {0}, c01[] = {0, 1}, c3[] = {3};
	pt_certext big = policy_req(2, 512, c01, 2);
	const pt_policy *signer = &big.command.u.policy;
	pt_profile p;
	int days;
	pt_err err;

	/* no extension: a server certificate */
	assert_int_equal(pt_ca_plan(NULL, NULL, &p, &days, &err), 0);
	assert_int_equal(p, PT_PROFILE_SERVER);
	assert_int_equal(days, 365);
	/* another command: a leaf, 1 day */
	pt_certext leaf;
	memset(&leaf, 0, sizeof(leaf));
	leaf.command.kind = PT_CMD_UK_DESTROY;
	assert_int_equal(pt_ca_plan(&leaf, signer, &p, &days, &err), 0);
	assert_int_equal(p, PT_PROFILE_LEAF);
	assert_int_equal(days, 1);
	/* a policy within the signer's: a sub-CA */
	pt_certext ok = policy_req(1, 256, c0, 1);
	assert_int_equal(pt_ca_plan(&ok, signer, &p, &days, &err), 0);
	assert_int_equal(p, PT_PROFILE_SUB_CA);
	assert_int_equal(days, 365);
	/* the root signs anything usable */
	pt_certext huge = policy_req(100, 100000, c3, 1);
	assert_int_equal(pt_ca_plan(&huge, NULL, &p, &days, &err), 0);
	/* larger than the signer's, in each dimension */
	pt_certext more = policy_req(3, 256, c0, 1);
	assert_int_equal(pt_ca_plan(&more, signer, &p, &days, &err), -1);
	assert_non_null(strstr(err.msg, "larger than the signer's"));
	assert_non_null(strstr(err.msg, "3 unikernels"));
	pt_certext mem = policy_req(1, 1024, c0, 1);
	assert_int_equal(pt_ca_plan(&mem, signer, &p, &days, &err), -1);
	assert_non_null(strstr(err.msg, "memory 1024"));
	pt_certext cpu = policy_req(1, 256, c3, 1);
	assert_int_equal(pt_ca_plan(&cpu, signer, &p, &days, &err), -1);
	assert_non_null(strstr(err.msg, "CPU 3"));
	pt_certext blk = policy_req(1, 256, c0, 1);
	blk.command.u.policy.has_block = true;
	blk.command.u.policy.block = 10;
	assert_int_equal(pt_ca_plan(&blk, signer, &p, &days, &err), -1);
	assert_non_null(strstr(err.msg, "block"));
	/* unusable, whoever signs */
	pt_certext u1 = policy_req(0, 256, c0, 1);
	pt_certext u2 = policy_req(1, 16, c0, 1);
	pt_certext u3 = policy_req(1, 256, NULL, 0);
	pt_certext u4 = policy_req(1, 256, c0, 1);
	u4.command.u.policy.has_block = true;
	u4.command.u.policy.block = -1;
	const pt_certext *bad[] = {&u1, &u2, &u3, &u4};
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(pt_ca_plan(bad[i], NULL, &p, &days, &err), -1);
		assert_non_null(strstr(err.msg, "not usable"));
	}
}

static void
check_cn(const char *name, pt_cmd_kind k, const char *want)
{
	pt_name n;
	pt_err err;
	char cn[PT_NAME_TEXT_MAX + 1];
	assert_int_equal(pt_name_parse_str(name, &n, &err), 0);
	int r = pt_cert_cn(&n, k, cn, sizeof(cn), &err);
	if (want == NULL) {
		assert_int_equal(r, -1);
		assert_non_null(strstr(err.msg, "certificate chain"));
	} else {
		assert_int_equal(r, 0);
		assert_string_equal(cn, want);
	}
}

static void
test_cn(void **state)
{
	(void)state;
	check_cn("web", PT_CMD_UK_DESTROY, "web");
	check_cn(":web", PT_CMD_CONSOLE_SUBSCRIBE, "web");
	check_cn(":", PT_CMD_UK_INFO, ".");
	check_cn("a:web", PT_CMD_UK_DESTROY, NULL);
	check_cn("a:", PT_CMD_BLOCK_INFO, NULL);
	check_cn("alice:", PT_CMD_POLICY_ADD, "alice");
	check_cn("a:b:", PT_CMD_POLICY_INFO, "a:b");
	check_cn(":", PT_CMD_POLICY_INFO, ".");
}

static ASN1_INTEGER *
serial(long v)
{
	ASN1_INTEGER *s = ASN1_INTEGER_new();
	ASN1_INTEGER_set(s, v);
	return s;
}

static long
crl_number(X509_CRL *c)
{
	ASN1_INTEGER *n = X509_CRL_get_ext_d2i(c, NID_crl_number, NULL, NULL);
	long v = ASN1_INTEGER_get(n);
	ASN1_INTEGER_free(n);
	return v;
}

static void
test_crl(void **state)
{
	(void)state;
	EVP_PKEY *rk = key(PT_KEY_ED25519), *ok = key(PT_KEY_ED25519);
	X509 *root = make("root", rk, NULL, rk, PT_PROFILE_ROOT_CA, NULL, 0);
	X509 *other = make("other", ok, NULL, ok, PT_PROFILE_ROOT_CA, NULL, 0);
	ASN1_INTEGER *s1 = serial(1234), *s2 = serial(99);
	pt_err err;
	bool added;

	X509_CRL *c1 = pt_crl_revoke(NULL, root, rk, s1, NOW, 30, &added,
	    &err);
	assert_non_null(c1);
	assert_true(added);
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(c1)), 1);
	assert_int_equal(crl_number(c1), 1);
	assert_int_equal(X509_CRL_verify(c1, rk), 1);
	assert_int_equal(X509_CRL_get_version(c1), X509_CRL_VERSION_2);
	assert_int_equal(ASN1_TIME_cmp_time_t(X509_CRL_get0_nextUpdate(c1),
	    NOW + 30 * 86400), 0);
	/* twice: idempotent */
	X509_CRL *c2 = pt_crl_revoke(c1, root, rk, s1, NOW + 5, 30, &added,
	    &err);
	assert_non_null(c2);
	assert_false(added);
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(c2)), 1);
	assert_int_equal(crl_number(c2), 2);
	/* a second serial is added, the first kept */
	X509_CRL *c3 = pt_crl_revoke(c2, root, rk, s2, NOW + 9, 30, &added,
	    &err);
	assert_non_null(c3);
	assert_true(added);
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(c3)), 2);
	X509_REVOKED *r;
	assert_int_equal(X509_CRL_get0_by_serial(c3, &r, s1), 1);
	assert_int_equal(X509_CRL_get0_by_serial(c3, &r, s2), 1);
	/* PEM round trip, DER too */
	pt_buf pem = {0};
	assert_int_equal(pt_pem_crl(c3, &pem, &err), 0);
	X509_CRL *back = pt_parse_crl(pem.data, pem.len, &err);
	assert_non_null(back);
	unsigned char *der = NULL;
	int dlen = i2d_X509_CRL(c3, &der);
	X509_CRL *dback = pt_parse_crl(der, (size_t)dlen, &err);
	assert_non_null(dback);
	/* another CA does not update this one's CRL */
	assert_null(pt_crl_revoke(c3, other, ok, s2, NOW, 30, &added, &err));
	assert_non_null(strstr(err.msg, "not issued by this CA"));
	assert_null(pt_crl_revoke(NULL, root, ok, s2, NOW, 30, &added, &err));
	OPENSSL_free(der);
	pt_buf_free(&pem);
	X509_CRL_free(back);
	X509_CRL_free(dback);
	X509_CRL_free(c1);
	X509_CRL_free(c2);
	X509_CRL_free(c3);
	ASN1_INTEGER_free(s1);
	ASN1_INTEGER_free(s2);
	X509_free(root);
	X509_free(other);
	EVP_PKEY_free(rk);
	EVP_PKEY_free(ok);
}

static void
test_csr(void **state)
{
	(void)state;
	EVP_PKEY *k = key(PT_KEY_P256);
	pt_err err;
	X509_REQ *r = pt_csr_make(k, "arc", EXT_CONSOLE, sizeof(EXT_CONSOLE),
	    &err);
	assert_non_null(r);
	assert_int_equal(X509_REQ_verify(r, k), 1);
	pt_buf b = {0};
	assert_int_equal(pt_csr_ext(r, &b, &err), 1);
	assert_memory_equal(b.data, EXT_CONSOLE, sizeof(EXT_CONSOLE));
	X509_REQ *plain = pt_csr_make(k, "server", NULL, 0, &err);
	assert_int_equal(pt_csr_ext(plain, &b, &err), 0);
	pt_buf pem = {0};
	assert_int_equal(pt_pem_csr(r, &pem, &err), 0);
	X509_REQ *back = pt_parse_csr(pem.data, pem.len, &err);
	assert_non_null(back);
	assert_int_equal(pt_csr_ext(back, &b, &err), 1);
	pt_buf_free(&b);
	pt_buf_free(&pem);
	X509_REQ_free(r);
	X509_REQ_free(plain);
	X509_REQ_free(back);
	EVP_PKEY_free(k);
}

static void
check_hp(const char *s, const char *host, const char *port)
{
	pt_hostport hp;
	pt_err err;
	int r = pt_parse_hostport(s, &hp, &err);
	if (host == NULL) {
		assert_int_equal(r, -1);
		return;
	}
	assert_int_equal(r, 0);
	assert_string_equal(hp.host, host);
	assert_string_equal(hp.port, port);
}

static void
test_hostport(void **state)
{
	(void)state;
	check_hp("example.org", "example.org", "1025");
	check_hp("example.org:4433", "example.org", "4433");
	check_hp("10.0.0.1:1", "10.0.0.1", "1");
	check_hp("[::1]:99", "::1", "99");
	check_hp("[::1]", "::1", "1025");
	check_hp("fe80::1", "fe80::1", "1025");
	check_hp("host:0", NULL, NULL);
	check_hp("host:65536", NULL, NULL);
	check_hp("host:x", NULL, NULL);
	check_hp(":80", NULL, NULL);
	check_hp("[::1", NULL, NULL);
	check_hp("[::1]x", NULL, NULL);
	check_hp("", NULL, NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_profiles),
		cmocka_unit_test(test_bad_specs),
		cmocka_unit_test(test_key_types),
		cmocka_unit_test(test_sign_plan),
		cmocka_unit_test(test_cn),
		cmocka_unit_test(test_crl),
		cmocka_unit_test(test_csr),
		cmocka_unit_test(test_hostport),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
