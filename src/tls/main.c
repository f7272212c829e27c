/*
 * petrel-tls: the remote endpoint (albatross-wire.md §9; docs/tls.md).
 * Options, start-up (TLS context, sockets, privilege drop, seccomp) and
 * the event loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "options.h"
#include "tls.h"

static bool log_syslog;
static int log_verbosity = TLS_LOG_INFO;

void
tls_log_init(bool use_syslog, int verbosity)
{
	log_syslog = use_syslog;
	log_verbosity = verbosity;
	if (use_syslog)
		openlog("petrel-tls", LOG_PID, LOG_DAEMON);
}

void
tls_log(int level, const char *fmt, ...)
{
	if (level > log_verbosity)
		return;
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	static const char *const tag[] = {"error", "warning", "info",
		"debug"};
	va_list ap;
	va_start(ap, fmt);
	if (log_syslog) {
		vsyslog(prio[level], fmt, ap);
	} else {
		fprintf(stderr, "petrel-tls: %s: ", tag[level]);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}

int
tls_socket_path(const tls_daemon *d, const char *name, char *out,
    size_t cap)
{
	int n = snprintf(out, cap, "%s/util/%s.sock", d->o.tmpdir, name);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

void
tls_check_done(tls_daemon *d)
{
	if ((d->o.inetd || d->stopping) && d->nsessions == 0 &&
	    d->nrecords == 0)
		event_base_loopexit(d->base, NULL);
}

static void
usage(FILE *f)
{
	fprintf(f,
"usage: petrel-tls --ca FILE --cert FILE --key FILE [options]\n"
"The remote endpoint: clients connect with TLS 1.3 and a certificate chain\n"
"issued by the CA; the leaf certificate carries the command, the CAs above\n"
"it the name and policies (docs/tls.md). Commands go to petreld,\n"
"petrel-console and the stats daemon on their Unix sockets.\n"
"\n"
"  --ca FILE           the trust anchor: client chains must lead to it (PEM)\n"
"  --cert FILE         this server's certificate chain (PEM)\n"
"  --key FILE          this server's private key (PEM)\n"
"  --crl-dir DIR       revocation lists, PEM or DER, one or more per file,\n"
"                      checked for every certificate of a chain and re-read\n"
"                      when the directory changes (default <dbdir>/crls)\n"
"  --dbdir DIR         petrel's db dir (default /var/lib/petrel)\n"
"  --tmpdir DIR        run dir of the local daemons; their sockets are\n"
"                      DIR/util/{vmmd,console,stat}.sock (default /run/petrel)\n"
"  --port N            TCP port (default 1025, as albatross)\n"
"  --listen ADDR       numeric address to listen on, repeatable (default:\n"
"                      [::] for IPv6 and IPv4, or 0.0.0.0 without IPv6)\n"
"  --user USER         started as root: bind, read the key, then become USER\n"
"                      (and its groups). In any case a seccomp filter then\n"
"                      limits the system calls to those it serves with\n"
"  --inetd             serve one connection on stdin/stdout, then exit\n"
"  --max-connections N connections at once; more are closed at once\n"
"                      (default 256)\n"
"  --max-per-address N connections at once from one client address\n"
"                      (default 16)\n"
"  --handshake-timeout-ms MS  a TLS handshake must end within MS\n"
"                      (default 10000)\n"
"  --idle-timeout-ms MS  a client that the endpoint waits on (an upload) or\n"
"                      that takes none of its output is dropped after MS\n"
"                      without progress (default 60000)\n"
"  --syslog            log to syslog instead of stderr\n"
"  -v                  more log output (repeat for more)\n"
"  -h, --help          this text\n"
"  --version           print the version and exit\n"
"Systemd socket activation (LISTEN_FDS, TCP sockets) is supported.\n");
}

static long
parse_num(const char *opt, const char *s, long min, long max)
{
	return pt_opt_count("petrel-tls", opt, s, min, max);
}

enum {
	OPT_CA = 256, OPT_CERT, OPT_KEY, OPT_CRL_DIR, OPT_DBDIR, OPT_TMPDIR,
	OPT_PORT, OPT_LISTEN, OPT_USER, OPT_INETD, OPT_MAX_CONNS,
	OPT_MAX_PER_ADDR, OPT_HS_TIMEOUT, OPT_IDLE_TIMEOUT, OPT_SYSLOG,
	OPT_TEST_EXECVE, OPT_VERSION,
};

static void
parse_args(int argc, char **argv, tls_opts *o)
{
	static const struct option longopts[] = {
		{"ca", required_argument, NULL, OPT_CA},
		{"cert", required_argument, NULL, OPT_CERT},
		{"key", required_argument, NULL, OPT_KEY},
		{"crl-dir", required_argument, NULL, OPT_CRL_DIR},
		{"dbdir", required_argument, NULL, OPT_DBDIR},
		{"tmpdir", required_argument, NULL, OPT_TMPDIR},
		{"port", required_argument, NULL, OPT_PORT},
		{"listen", required_argument, NULL, OPT_LISTEN},
		{"user", required_argument, NULL, OPT_USER},
		{"inetd", no_argument, NULL, OPT_INETD},
		{"max-connections", required_argument, NULL, OPT_MAX_CONNS},
		{"max-per-address", required_argument, NULL,
		    OPT_MAX_PER_ADDR},
		{"handshake-timeout-ms", required_argument, NULL,
		    OPT_HS_TIMEOUT},
		{"idle-timeout-ms", required_argument, NULL,
		    OPT_IDLE_TIMEOUT},
		{"syslog", no_argument, NULL, OPT_SYSLOG},
		/* Tests only (docs/tls.md): execve once the filter is in
		 * place, which must kill the process. */
		{"test-execve-after-seccomp", no_argument, NULL,
		    OPT_TEST_EXECVE},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, OPT_VERSION},
		{NULL, 0, NULL, 0},
	};
	const char *crl_dir = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "hv", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_CA: o->ca = optarg; break;
		case OPT_CERT: o->cert = optarg; break;
		case OPT_KEY: o->key = optarg; break;
		case OPT_CRL_DIR: crl_dir = optarg; break;
		case OPT_DBDIR: o->dbdir = optarg; break;
		case OPT_TMPDIR: o->tmpdir = optarg; break;
		case OPT_PORT:
			o->port = (int)parse_num("--port", optarg, 1, 65535);
			break;
		case OPT_LISTEN:
			if (o->nlisten == TLS_MAX_LISTEN) {
				fprintf(stderr, "petrel-tls: at most %d "
				    "--listen\n", TLS_MAX_LISTEN);
				exit(2);
			}
			o->listen[o->nlisten++] = optarg;
			break;
		case OPT_USER: o->user = optarg; break;
		case OPT_INETD: o->inetd = true; break;
		case OPT_MAX_CONNS:
			o->max_conns = (size_t)parse_num("--max-connections",
			    optarg, 1, 100000);
			break;
		case OPT_MAX_PER_ADDR:
			o->max_per_addr = (size_t)parse_num(
			    "--max-per-address", optarg, 1, 100000);
			break;
		case OPT_HS_TIMEOUT:
			o->handshake_timeout_ms = parse_num(
			    "--handshake-timeout-ms", optarg, 1, 3600000);
			break;
		case OPT_IDLE_TIMEOUT:
			o->idle_timeout_ms = parse_num("--idle-timeout-ms",
			    optarg, 1, 86400000);
			break;
		case OPT_SYSLOG: o->use_syslog = true; break;
		case OPT_TEST_EXECVE: o->test_execve = true; break;
		case 'v': o->verbosity++; break;
		case 'h': usage(stdout); exit(0);
		case OPT_VERSION: puts("petrel-tls " PETREL_VERSION); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "petrel-tls: unexpected argument '%s'\n",
		    argv[optind]);
		exit(2);
	}
	if (o->ca == NULL || o->cert == NULL || o->key == NULL) {
		fprintf(stderr, "petrel-tls: --ca, --cert and --key are "
		    "required (see --help)\n");
		exit(2);
	}
	int n = crl_dir != NULL ?
	    snprintf(o->crl_dir, sizeof(o->crl_dir), "%s", crl_dir) :
	    snprintf(o->crl_dir, sizeof(o->crl_dir), "%s/crls", o->dbdir);
	if (n < 0 || (size_t)n >= sizeof(o->crl_dir)) {
		fprintf(stderr, "petrel-tls: --crl-dir: path too long\n");
		exit(2);
	}
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	tls_daemon *d = arg;
	tls_log(TLS_LOG_INFO, "signal %d: stopping", (int)sig);
	d->stopping = true;
	listen_stop(d);
	session_close_all(d);
	tls_check_done(d);
}

static int
start(tls_daemon *d, pt_err *err)
{
	d->ctx = tlsctx_new(&d->o, err);
	if (d->ctx == NULL)
		return -1;
	d->crls = crl_new(d->o.crl_dir);
	if (d->crls == NULL)
		return pt_fail(err, "out of memory");
	if (!d->o.inetd && listen_open(d, err) < 0)
		return -1;
	if (d->o.user != NULL && sandbox_drop_user(d->o.user, err) < 0)
		return -1;
	d->base = event_base_new();
	if (d->base == NULL)
		return pt_fail(err, "cannot make an event loop");
	static const int sigs[2] = {SIGTERM, SIGINT};
	for (int i = 0; i < 2; i++) {
		d->sig_ev[i] = evsignal_new(d->base, sigs[i], on_signal, d);
		if (d->sig_ev[i] == NULL || event_add(d->sig_ev[i], NULL) < 0)
			return pt_fail(err, "cannot watch signals");
	}
	/* Read the CRLs once before the filter: the first client does not
	 * wait for them, and a bad directory is reported at start. */
	crl_refresh(d->crls);
	if (!d->o.inetd && listen_start(d, err) < 0)
		return -1;
	if (sandbox_seccomp(err) < 0)
		return -1;
	return 0;
}

/* Runs until SIGTERM/SIGINT, or the one --inetd session is over. */
static int
serve(tls_daemon *d)
{
	if (d->o.test_execve) {
		char *const args[] = {"/bin/true", NULL};
		tls_log(TLS_LOG_INFO, "test: execve after seccomp");
		execve(args[0], args, NULL);
		tls_log(TLS_LOG_ERR, "test: execve returned: %s",
		    strerror(errno));
		return 1;
	}
	if (d->o.inetd) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		memset(&ss, 0, sizeof(ss));
		if (getpeername(0, (struct sockaddr *)&ss, &len) < 0)
			ss.ss_family = AF_UNSPEC;
		/* The loop never blocks on a read or write. */
		for (int fd = 0; fd <= 1; fd++) {
			int fl = fcntl(fd, F_GETFL);
			if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
			    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
				tls_log(TLS_LOG_ERR, "--inetd: fd %d: %s", fd,
				    strerror(errno));
				return 1;
			}
		}
		session_start(d, 0, 1, &ss);
	} else {
		tls_log(TLS_LOG_INFO, "listening on port %d (%zu sockets)",
		    d->o.port, d->nlisten_fds);
	}
	event_base_dispatch(d->base);
	session_close_all(d);
	return 0;
}

int
main(int argc, char **argv)
{
	tls_daemon d;
	memset(&d, 0, sizeof(d));
	d.o.tmpdir = "/run/petrel";
	d.o.dbdir = "/var/lib/petrel";
	d.o.port = 1025;
	d.o.max_conns = 256;
	d.o.max_per_addr = 16;
	d.o.handshake_timeout_ms = 10000;
	d.o.idle_timeout_ms = 60000;
	d.o.verbosity = TLS_LOG_INFO;
	parse_args(argc, argv, &d.o);
	tls_log_init(d.o.use_syslog, d.o.verbosity);
	signal(SIGPIPE, SIG_IGN);
	pt_err err = {{0}};
	int rc = 0;
	if (start(&d, &err) < 0) {
		tls_log(TLS_LOG_ERR, "%s", err.msg);
		rc = 1;
	} else {
		rc = serve(&d);
	}
	listen_stop(&d);
	for (int i = 0; i < 2; i++)
		if (d.sig_ev[i] != NULL)
			event_free(d.sig_ev[i]);
	crl_free(d.crls);
	SSL_CTX_free(d.ctx);
	if (d.base != NULL)
		event_base_free(d.base);
	return rc;
}
