/*
 * petreld: runs Solo5 unikernels and speaks albatross's AV5 protocol on
 * <tmpdir>/util/vmmd.sock.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"

#include <event2/event.h>

#include "fsutil.h"
#include "hostinfo.h"
#include "petreld.h"

static const char usage_text[] =
"usage: petreld [OPTIONS]\n"
"Runs Solo5 unikernels (hvt, spt) and answers albatross (AV5) clients on\n"
"<tmpdir>/util/vmmd.sock. Runs as root (it creates taps).\n"
"\n"
"  --tmpdir DIR          run directory: socket, console FIFOs, images of\n"
"                        running unikernels (default /run/petrel)\n"
"  --dbdir DIR           state, stored images, block devices and tenders\n"
"                        (<dbdir>/solo5-hvt...) (default /var/lib/petrel)\n"
"  --syslog              log to syslog instead of stderr\n"
"  -v                    more log output (repeatable)\n"
"  --grace SECONDS       time between SIGTERM and SIGKILL when stopping a\n"
"                        unikernel (default 5; fractions allowed)\n"
"  --grace-ms MS         the same in milliseconds\n"
"  --max-connections N   concurrent client connections (default 256);\n"
"                        beyond, new ones are closed at once\n"
"  --max-frame-mb N      largest accepted message in MB (default 64); a\n"
"                        create carries the image, so this bounds images\n"
"  --restart-backoff-ms MS  first delay before restarting a failed\n"
"                        unikernel (default 1000); it doubles up to 60 s and\n"
"                        resets after 60 s of stable running\n"
"  --logdir DIR          the event log <DIR>/events, rotated to events.1\n"
"                        and events.2 (default /var/log/petrel)\n"
"  --events-max-kb N     rotate the events file beyond N KiB (default\n"
"                        10240)\n"
"  --events-ring N       events kept in memory for `log` subscribers\n"
"                        (default 4096)\n"
"  --no-console          do not tell petrel-console about unikernels\n"
"                        (<tmpdir>/console/console.sock); by default petreld\n"
"                        does, and reconnects whenever it comes back\n"
"  --console-timeout-ms MS  how long a launch waits for petrel-console to\n"
"                        confirm it reads the new console (default 1000);\n"
"                        one that does not answer is not waited for again\n"
"  --console-group GROUP the group petrel-console runs in, when it runs\n"
"                        unprivileged: it may read the console FIFOs and\n"
"                        keep its socket in <tmpdir>/console, nothing more\n"
"  --group GROUP         operators allowed on vmmd.sock besides root: the\n"
"                        socket becomes 0660 root:GROUP (default 0600)\n"
"  --write-timeout-ms MS drop a client that takes none of the output\n"
"                        waiting for it for this long (default 120000)\n"
"  --help                this text\n"
"  --version             print the version and exit\n"
"\n"
"SIGTERM or SIGINT: stop all unikernels, keep the state (they are started\n"
"again on the next start), exit 0.\n"
"\n"
"Limits (docs/limits.md): petreld raises its soft RLIMIT_NOFILE to the hard\n"
"limit and keeps 2 descriptors per unikernel (the tender's pidfd; the\n"
"console FIFO while petrel-console does not read it) plus 64 for itself and\n"
"its clients: a limit of 1024 allows 480 unikernels, 65536 allows 32736.\n"
"A create beyond is refused, as is one whose tap would be the 1024th port\n"
"of its bridge (the kernel allows 1023), or whose tender would pass the\n"
"pids.max of petreld's cgroup.\n";

enum {
	OPT_TMPDIR = 256, OPT_DBDIR, OPT_SYSLOG, OPT_GRACE, OPT_GRACE_MS,
	OPT_MAX_CONNS, OPT_MAX_FRAME, OPT_BACKOFF, OPT_HELP, OPT_LOGDIR,
	OPT_EVENTS_MAX, OPT_EVENTS_RING, OPT_NO_CONSOLE, OPT_CONSOLE_GROUP,
	OPT_CONSOLE_TIMEOUT,
	OPT_WRITE_TIMEOUT, OPT_GROUP,
	OPT_VERSION,
};

int64_t
pt_now_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

pt_time_ms
pt_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
parse_num(const char *s, double min, double max, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
parse_options(int argc, char **argv, pt_opts *o)
{
	static const struct option longopts[] = {
		{"tmpdir", required_argument, NULL, OPT_TMPDIR},
		{"dbdir", required_argument, NULL, OPT_DBDIR},
		{"syslog", no_argument, NULL, OPT_SYSLOG},
		{"grace", required_argument, NULL, OPT_GRACE},
		{"grace-ms", required_argument, NULL, OPT_GRACE_MS},
		{"max-connections", required_argument, NULL, OPT_MAX_CONNS},
		{"max-frame-mb", required_argument, NULL, OPT_MAX_FRAME},
		{"restart-backoff-ms", required_argument, NULL, OPT_BACKOFF},
		{"help", no_argument, NULL, OPT_HELP},
		{"logdir", required_argument, NULL, OPT_LOGDIR},
		{"events-max-kb", required_argument, NULL, OPT_EVENTS_MAX},
		{"events-ring", required_argument, NULL, OPT_EVENTS_RING},
		{"no-console", no_argument, NULL, OPT_NO_CONSOLE},
		{"console-group", required_argument, NULL, OPT_CONSOLE_GROUP},
		{"console-timeout-ms", required_argument, NULL,
		    OPT_CONSOLE_TIMEOUT},
		{"write-timeout-ms", required_argument, NULL, OPT_WRITE_TIMEOUT},
		{"group", required_argument, NULL, OPT_GROUP},
		{"version", no_argument, NULL, OPT_VERSION},
		{NULL, 0, NULL, 0},
	};
	int ch;
	double v;
	while ((ch = getopt_long(argc, argv, "v", longopts, NULL)) != -1) {
		switch (ch) {
		case 'v':
			o->verbosity++;
			break;
		case OPT_TMPDIR:
			o->tmpdir = optarg;
			break;
		case OPT_DBDIR:
			o->dbdir = optarg;
			break;
		case OPT_SYSLOG:
			o->use_syslog = true;
			break;
		case OPT_GRACE:
			if (parse_num(optarg, 0, 86400, &v) < 0)
				goto bad;
			o->grace_ms = (int64_t)(v * 1000);
			break;
		case OPT_GRACE_MS:
			if (parse_num(optarg, 0, 86400000, &v) < 0)
				goto bad;
			o->grace_ms = (int64_t)v;
			break;
		case OPT_MAX_CONNS:
			if (parse_num(optarg, 1, 1000000, &v) < 0)
				goto bad;
			o->max_conns = (size_t)v;
			break;
		case OPT_MAX_FRAME:
			/* The frame length is a signed 32-bit number. */
			if (parse_num(optarg, 1, 2047, &v) < 0)
				goto bad;
			o->max_frame = (size_t)v << 20;
			break;
		case OPT_BACKOFF:
			if (parse_num(optarg, 1, 3600000, &v) < 0)
				goto bad;
			o->backoff_base_ms = (int64_t)v;
			break;
		case OPT_LOGDIR:
			o->logdir = optarg;
			break;
		case OPT_EVENTS_MAX:
			if (parse_num(optarg, 4, 1 << 20, &v) < 0)
				goto bad;
			o->events_max_bytes = (size_t)v << 10;
			break;
		case OPT_EVENTS_RING:
			if (parse_num(optarg, 1, 1000000, &v) < 0)
				goto bad;
			o->events_ring = (size_t)v;
			break;
		case OPT_NO_CONSOLE:
			o->no_console = true;
			break;
		case OPT_CONSOLE_GROUP:
			o->console_group = optarg;
			break;
		case OPT_GROUP:
			o->group = optarg;
			break;
		case OPT_CONSOLE_TIMEOUT:
			if (parse_num(optarg, 1, 600000, &v) < 0)
				goto bad;
			o->console_timeout_ms = (int64_t)v;
			break;
		case OPT_WRITE_TIMEOUT:
			if (parse_num(optarg, 1, 86400000, &v) < 0)
				goto bad;
			o->write_timeout_ms = (int64_t)v;
			break;
		case OPT_HELP:
			fputs(usage_text, stdout);
			exit(0);
		case OPT_VERSION:
			puts("petreld " PETREL_VERSION);
			exit(0);
		default:
			fputs(usage_text, stderr);
			return -1;
		}
		continue;
bad:
		fprintf(stderr, "petreld: invalid value '%s' for --%s\n",
		    optarg, longopts[ch - OPT_TMPDIR].name);
		return -1;
	}
	if (optind < argc) {
		fprintf(stderr, "petreld: unexpected argument '%s'\n",
		    argv[optind]);
		return -1;
	}
	if (o->backoff_max_ms < o->backoff_base_ms)
		o->backoff_max_ms = o->backoff_base_ms;
	return 0;
}

/* Taps left by a petreld of this run dir and db dir that crashed: their
 * tenders died with it (PR_SET_PDEATHSIG), nothing uses them any more.
 * Earlier petrels named their taps "petrel:<--tmpdir as given>"; when that
 * was this canonical path, those are ours too (no other petreld can be on
 * this run dir: we hold its lock and its socket). */
static void
remove_orphan_taps(pt_daemon *d)
{
	char old[PATH_MAX + 8];
	snprintf(old, sizeof(old), "petrel:%s", d->o.tmpdir);
	const char *owners[2] = {d->tap_owner, old};
	for (size_t i = 0; i < 2; i++) {
		size_t orphans = 0;
		pt_err err = {{0}};
		if (pt_tap_remove_orphans(owners[i], &orphans, &err) < 0)
			log_warn("removing taps left by a crash: %s", err.msg);
		else if (orphans > 0)
			log_warn("removed %zu taps left by an earlier petreld "
			    "that did not stop cleanly", orphans);
	}
}

/* The root policy from the host: its block budget also covers the block
 * devices that already exist (statvfs reports only what is still free). */
static int
setup_resources(pt_daemon *d, pt_err *err)
{
	d->res = pt_res_new();
	if (d->res == NULL)
		return pt_fail(err, "out of memory");
	remove_orphan_taps(d);
	if (pt_host_root_policy(d->block_dir, &d->host_root, err) < 0)
		return pt_fail_prefix(err, "discovering the host's resources");
	int64_t existing_mb = 0;
	if (block_scan(d, &existing_mb, err) < 0)
		return -1;
	if (d->host_root->has_block)
		d->host_root->block += existing_mb;
	if (pt_res_set_root_policy(d->res, d->host_root, err) < 0)
		return pt_fail_prefix(err, "root policy");
	return block_load(d, err);
}

void
host_refresh_bridges(pt_daemon *d)
{
	char **names = NULL;
	size_t n = 0;
	pt_err err = {{0}};
	if (pt_bridges_list(&names, &n, &err) < 0) {
		log_warn("listing the host's bridges: %s", err.msg);
		return;
	}
	pt_text *t = calloc(n > 0 ? n : 1, sizeof(*t));
	if (t == NULL) {
		pt_bridges_free(names, n);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		t[i].s = names[i];
		t[i].len = strlen(names[i]);
	}
	pt_policy now = *d->host_root;
	now.bridges = t;
	now.nbridges = n;
	pt_policy_normalise(&now);
	if (!pt_policy_equal(&now, d->host_root)) {
		pt_policy *copy = pt_policy_dup(&now);
		if (copy != NULL) {
			log_info("the host's bridges changed (%zu now)",
			    now.nbridges);
			pt_policy_free(d->host_root);
			d->host_root = copy;
			if (!d->root_by_operator &&
			    pt_res_set_root_policy(d->res, copy, &err) < 0)
				log_err("root policy: %s", err.msg);
		}
	}
	free(t);
	pt_bridges_free(names, n);
}

static int
record_startup(pt_daemon *d)
{
	pt_name root;
	pt_name_root(&root);
	ev_name(d, PT_EV_STARTUP, &root);
	return 0;
}

void
daemon_check_shutdown(pt_daemon *d)
{
	if (!d->shutting_down)
		return;
	for (pt_uk *uk = d->uks; uk != NULL; uk = uk->next)
		if (uk_has_process(uk))
			return;
	event_base_loopbreak(d->base);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	pt_daemon *d = arg;
	if (sig == SIGCHLD) {
		uk_reap_fallback(d);
		return;
	}
	if (d->shutting_down) {
		log_info("signal %d: already shutting down", (int)sig);
		return;
	}
	log_info("signal %d: stopping all unikernels, keeping the state",
	    (int)sig);
	d->shutting_down = true;
	listener_stop(d);
	conn_close_all(d);
	uk_shutdown_all(d);
	daemon_check_shutdown(d);
}

static int
setup_signals(pt_daemon *d, pt_err *err)
{
	static const int sigs[3] = {SIGTERM, SIGINT, SIGCHLD};
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < 3; i++) {
		d->sig_ev[i] = evsignal_new(d->base, sigs[i], on_signal, d);
		if (d->sig_ev[i] == NULL || evsignal_add(d->sig_ev[i],
		    NULL) < 0)
			return pt_fail(err, "cannot handle signal %d",
			    sigs[i]);
	}
	return 0;
}

static void
teardown(pt_daemon *d)
{
	listener_stop(d);
	conn_close_all(d);
	console_link_stop(d);
	persist_close(d);  /* before the registry it writes goes */
	while (d->uks != NULL)
		uk_free(d, d->uks);
	ev_close(d);
	for (size_t i = 0; i < 3; i++)
		if (d->sig_ev[i] != NULL)
			event_free(d->sig_ev[i]);
	if (d->res != NULL)
		pt_res_free(d->res);
	if (d->host_root != NULL)
		pt_policy_free(d->host_root);
	if (d->base != NULL)
		event_base_free(d->base);
	rundir_close(d);
}

int
main(int argc, char **argv)
{
	static pt_daemon daemon_state;
	pt_daemon *d = &daemon_state;
	d->listen_fd = -1;
	d->run_lock_fd = d->db_lock_fd = -1;
	d->o = (pt_opts){
		.tmpdir = "/run/petrel",
		.dbdir = "/var/lib/petrel",
		.grace_ms = 5000,
		.max_conns = 256,
		.max_frame = PT_FRAME_DEFAULT_MAX,
		.backoff_base_ms = 1000,
		.backoff_max_ms = 60000,
		.stable_ms = 60000,
		.console_timeout_ms = 1000,
		.logdir = "/var/log/petrel",
		.events_max_bytes = 10u << 20,
		.events_ring = 4096,
		.write_timeout_ms = 120000,
	};
	if (parse_options(argc, argv, &d->o) < 0)
		return 2;
	pt_log_init(d->o.use_syslog, d->o.verbosity);
	admit_init();
	pt_err err = {{0}};
	int rc = 1;
	d->base = event_base_new();
	if (d->base == NULL) {
		log_err("cannot create the event loop");
		return 1;
	}
	/* The locks of the db dir and the run dir come first: a second
	 * petreld on either refuses there, naming the holder, before it
	 * touches the taps, the events, the block devices or the state, and
	 * before it starts any unikernel. Clients that connect once the
	 * socket is bound wait in the backlog until the state is loaded. */
	if (rundir_setup(d, &err) < 0 || setup_signals(d, &err) < 0 ||
	    listener_open(d, &err) < 0 || ev_open(d, &err) < 0 ||
	    record_startup(d) < 0 || console_link_start(d, &err) < 0 ||
	    setup_resources(d, &err) < 0 || persist_load(d, &err) < 0 ||
	    listener_start(d, &err) < 0) {
		log_err("%s", err.msg);
		/* Whatever was started from the state must not outlive us. */
		d->shutting_down = true;
		if (!uk_shutdown_all(d))
			event_base_dispatch(d->base);
		goto out;
	}
	log_info("petreld ready (%zu unikernels)", d->nuks);
	event_base_dispatch(d->base);
	log_info("all unikernels stopped, exiting");
	rc = 0;
out:
	teardown(d);
	return rc;
}
