/*
 * Revocation (albatross has none): CRLs in the CRL directory, PEM or DER,
 * one or more per file. Each is checked for every certificate of a
 * verified chain whose issuer issued it; a revoked sub-CA thereby refuses
 * everything below it, as its own certificate is in every such chain.
 *
 * The directory is looked at before every check (names, sizes, mtimes,
 * inodes: a few stat calls), and read again when anything changed, so a
 * new or replaced CRL counts from the next connection on, without a
 * restart.
 *
 * The sub-CAs are not known here until a client presents them, so a CRL's
 * signature is checked when it is used, against the key of the issuer in
 * the chain at hand; one that does not verify is ignored, with a warning
 * (once per CRL and load).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "tls.h"

#define CRL_MAX_FILES 1024
#define CRL_MAX_FILE_BYTES (16u << 20)
#define CRL_MAX_COUNT 4096

typedef struct {
	X509_CRL *crl;
	char file[NAME_MAX + 1];
	bool warned;
} crl_entry;

struct tls_crls {
	char dir[PATH_MAX];
	uint64_t fingerprint;
	bool loaded;
	bool dir_warned;
	crl_entry *v;
	size_t n;
};

tls_crls *
crl_new(const char *dir)
{
	tls_crls *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	snprintf(c->dir, sizeof(c->dir), "%s", dir);
	return c;
}

static void
drop_all(tls_crls *c)
{
	for (size_t i = 0; i < c->n; i++)
		X509_CRL_free(c->v[i].crl);
	free(c->v);
	c->v = NULL;
	c->n = 0;
}

void
crl_free(tls_crls *c)
{
	if (c == NULL)
		return;
	drop_all(c);
	free(c);
}

static uint64_t
fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 1099511628211ull;
	}
	return h;
}

static bool
wanted(const struct dirent *e)
{
	return e->d_name[0] != '.';
}

/* What the directory holds now, as one number; 0 if it cannot be read. */
static uint64_t
fingerprint(tls_crls *c)
{
	DIR *dir = opendir(c->dir);
	if (dir == NULL)
		return 0;
	uint64_t h = 1469598103934665603ull;
	struct dirent *e;
	size_t files = 0;
	while ((e = readdir(dir)) != NULL && files < CRL_MAX_FILES) {
		if (!wanted(e))
			continue;
		struct stat st;
		if (fstatat(dirfd(dir), e->d_name, &st, 0) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		/* readdir's order is stable for an unchanged directory. */
		h = fnv(h, e->d_name, strlen(e->d_name) + 1);
		h = fnv(h, &st.st_ino, sizeof(st.st_ino));
		h = fnv(h, &st.st_size, sizeof(st.st_size));
		h = fnv(h, &st.st_mtim, sizeof(st.st_mtim));
		files++;
	}
	closedir(dir);
	return h;
}

static int
add(tls_crls *c, X509_CRL *crl, const char *file)
{
	if (c->n >= CRL_MAX_COUNT) {
		X509_CRL_free(crl);
		return -1;
	}
	crl_entry *v = realloc(c->v, (c->n + 1) * sizeof(*v));
	if (v == NULL) {
		X509_CRL_free(crl);
		return -1;
	}
	c->v = v;
	memset(&v[c->n], 0, sizeof(v[c->n]));
	v[c->n].crl = crl;
	snprintf(v[c->n].file, sizeof(v[c->n].file), "%s", file);
	c->n++;
	return 0;
}

/* Every CRL in one file: PEM (one or more), else one DER. */
static void
load_file(tls_crls *c, int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		tls_log(TLS_LOG_WARN, "CRL %s/%s: %s", c->dir, name,
		    strerror(errno));
		return;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > (off_t)CRL_MAX_FILE_BYTES) {
		tls_log(TLS_LOG_WARN, "CRL %s/%s: not a regular file of at "
		    "most %u bytes, ignored", c->dir, name, CRL_MAX_FILE_BYTES);
		close(fd);
		return;
	}
	size_t len = (size_t)st.st_size, got = 0;
	uint8_t *buf = malloc(len ? len : 1);
	while (buf != NULL && got < len) {
		ssize_t r = read(fd, buf + got, len - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (buf == NULL || got != len) {
		tls_log(TLS_LOG_WARN, "CRL %s/%s: cannot read it, ignored",
		    c->dir, name);
		free(buf);
		return;
	}
	size_t before = c->n;
	BIO *b = BIO_new_mem_buf(buf, (int)len);
	X509_CRL *crl;
	while (b != NULL && (crl = PEM_read_bio_X509_CRL(b, NULL, NULL,
	    NULL)) != NULL)
		add(c, crl, name);
	BIO_free(b);
	if (c->n == before) {
		const unsigned char *p = buf;
		crl = d2i_X509_CRL(NULL, &p, (long)len);
		if (crl != NULL && p == buf + len)
			add(c, crl, name);
		else {
			X509_CRL_free(crl);
			tls_log(TLS_LOG_WARN, "CRL %s/%s: neither PEM nor DER "
			    "CRLs, ignored", c->dir, name);
		}
	}
	ERR_clear_error();
	free(buf);
}

static void
reload(tls_crls *c)
{
	drop_all(c);
	DIR *dir = opendir(c->dir);
	if (dir == NULL) {
		if (!c->dir_warned)
			tls_log(TLS_LOG_WARN, "CRL directory %s: %s (no "
			    "certificate is checked for revocation)", c->dir,
			    strerror(errno));
		c->dir_warned = true;
		return;
	}
	c->dir_warned = false;
	struct dirent *e;
	size_t files = 0;
	while ((e = readdir(dir)) != NULL && files < CRL_MAX_FILES) {
		if (!wanted(e))
			continue;
		files++;
		load_file(c, dirfd(dir), e->d_name);
	}
	closedir(dir);
	tls_log(TLS_LOG_INFO, "CRL directory %s: %zu CRLs", c->dir, c->n);
}

void
crl_refresh(tls_crls *c)
{
	uint64_t f = fingerprint(c);
	if (c->loaded && f == c->fingerprint)
		return;
	c->fingerprint = f;
	c->loaded = true;
	reload(c);
}

static bool
issued_by(const tls_crls *c, crl_entry *e, X509 *cert, X509 *issuer)
{
	if (X509_NAME_cmp(X509_CRL_get_issuer(e->crl),
	    X509_get_issuer_name(cert)) != 0)
		return false;
	EVP_PKEY *key = X509_get0_pubkey(issuer);
	if (key != NULL && X509_CRL_verify(e->crl, key) == 1)
		return true;
	ERR_clear_error();
	if (!e->warned) {
		char who[160];
		peer_subject(issuer, who, sizeof(who));
		tls_log(TLS_LOG_WARN, "CRL %s/%s names %s as its issuer but "
		    "does not verify against its key: ignored", c->dir,
		    e->file, who);
		e->warned = true;
	}
	return false;
}

int
crl_check_chain(tls_crls *c, STACK_OF(X509) *chain, pt_err *err)
{
	int n = sk_X509_num(chain);
	/* The last is the trust anchor: nobody above it revokes it. */
	for (int i = 0; i + 1 < n; i++) {
		X509 *cert = sk_X509_value(chain, i);
		X509 *issuer = sk_X509_value(chain, i + 1);
		for (size_t k = 0; k < c->n; k++) {
			X509_REVOKED *rev = NULL;
			if (!issued_by(c, &c->v[k], cert, issuer))
				continue;
			if (X509_CRL_get0_by_cert(c->v[k].crl, &rev, cert) ==
			    1) {
				char who[160];
				peer_subject(cert, who, sizeof(who));
				return pt_fail(err, "revoked: %s", who);
			}
		}
	}
	return 0;
}
