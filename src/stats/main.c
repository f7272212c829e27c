/*
 * petrel-stats: options, the listening socket, the event loop.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "options.h"
#include "statsd.h"

static bool use_syslog;

void
st_log(st_daemon *d, int level, const char *fmt, ...)
{
	if (level > d->o.verbose)
		return;
	va_list ap;
	va_start(ap, fmt);
	if (use_syslog) {
		vsyslog(level == 0 ? LOG_WARNING : LOG_INFO, fmt, ap);
	} else {
		fprintf(stderr, "petrel-stats: ");
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}

int64_t
st_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
usage(FILE *f)
{
	fprintf(f,
"usage: petrel-stats [options]\n"
"Meters every unikernel petreld runs: CPU and memory of its tender, the\n"
"counters of its taps and, for hvt, KVM's statistics of its VM. Serves\n"
"them on DIR/util/stat.sock (petrel stats NAME), to Prometheus and to\n"
"InfluxDB. It connects to petreld's DIR/util/vmmd.sock (and reconnects).\n"
"Needs CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (docs/stats.md); drops\n"
"every other capability.\n"
"\n"
"  --tmpdir DIR          run dir shared with petreld (default /run/petrel)\n"
"  --interval MS         gathering interval in ms (default 10000)\n"
"  --max-subscribers N   subscribers at once (default %d)\n"
"  --subscriber-queue B  bytes queued for a subscriber before it is\n"
"                        dropped as too slow (default %d)\n"
"  --max-connections N   connections at once (default 1024)\n"
"  --prometheus [ADDR:]PORT  serve GET /metrics (ADDR default 127.0.0.1)\n"
"  --influx HOST:PORT    push InfluxDB line protocol over TCP\n"
"  --influx-url URL      write to InfluxDB's HTTP API: 1.x\n"
"                        http://H:P/write?db=DB, 2.x\n"
"                        http://H:P/api/v2/write?org=O&bucket=B\n"
"  --influx-token-file F the 2.x API token (Authorization: Token ...)\n"
"  --influx-drop-path    tag vm= with the label only (albatross-influx's\n"
"                        default); else the full name\n"
"  --influx-queue N      rounds kept while InfluxDB is away; the oldest\n"
"                        are dropped (default 360)\n"
"  --user USER           switch to USER (keeping the two capabilities)\n"
"  --no-kvm              do not read KVM statistics\n"
"  --syslog              log to syslog instead of stderr\n"
"  -v                    more log output (repeat for more)\n"
"  --version             print the version and exit\n"
"  -h, --help            this text\n"
"Systemd socket activation (LISTEN_FDS) is supported.\n",
	    ST_MAX_SUBS_DEFAULT, ST_SUB_QUEUE_DEFAULT);
}

static long
parse_count(const char *opt, const char *s, long min, long max)
{
	return pt_opt_count("petrel-stats", opt, s, min, max);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	st_daemon *d = arg;
	st_log(d, 0, "signal %d, exiting", (int)sig);
	event_base_loopexit(d->base, NULL);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	st_gather_round(arg);
}

/* btime of /proc/stat: the boot time the start times count from. */
static int64_t
boot_time(void)
{
	FILE *f = fopen("/proc/stat", "re");
	if (f == NULL)
		return 0;
	char line[256];
	long long bt = 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "btime %lld", &bt) == 1)
			break;
	fclose(f);
	return bt;
}

/* One fd per monitored process (/proc/<pid>) and a few per VM: raise the
 * soft limit to the hard one. */
static void
raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void
parse_args(int argc, char **argv, st_opts *o)
{
	static const struct option opts[] = {
		{"tmpdir", required_argument, NULL, 't'},
		{"interval", required_argument, NULL, 'i'},
		{"max-subscribers", required_argument, NULL, 's'},
		{"subscriber-queue", required_argument, NULL, 'q'},
		{"max-connections", required_argument, NULL, 'c'},
		{"prometheus", required_argument, NULL, 'P'},
		{"influx", required_argument, NULL, 'I'},
		{"influx-url", required_argument, NULL, 'U'},
		{"influx-token-file", required_argument, NULL, 'T'},
		{"influx-drop-path", no_argument, NULL, 'D'},
		{"influx-queue", required_argument, NULL, 'Q'},
		{"user", required_argument, NULL, 'u'},
		{"no-kvm", no_argument, NULL, 'K'},
		{"syslog", no_argument, NULL, 'l'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (ch) {
		case 't': o->tmpdir = optarg; break;
		case 'i':
			o->interval_ms = parse_count("--interval", optarg, 10,
			    86400000);
			break;
		case 's':
			o->max_subs = (size_t)parse_count("--max-subscribers",
			    optarg, 1, 100000);
			break;
		case 'q':
			o->sub_queue = (size_t)parse_count("--subscriber-queue",
			    optarg, 1024, 1L << 30);
			break;
		case 'c':
			o->max_conns = (size_t)parse_count("--max-connections",
			    optarg, 1, 1000000);
			break;
		case 'P': o->prometheus = optarg; break;
		case 'I': o->influx = optarg; break;
		case 'U': o->influx_url = optarg; break;
		case 'T': o->influx_token_file = optarg; break;
		case 'D': o->influx_drop_path = true; break;
		case 'Q':
			o->influx_queue = (size_t)parse_count("--influx-queue",
			    optarg, 1, 1000000);
			break;
		case 'u': o->user = optarg; break;
		case 'K': o->no_kvm = true; break;
		case 'l': use_syslog = true; break;
		case 'v': o->verbose++; break;
		case 'V': puts("petrel-stats " PETREL_VERSION); exit(0);
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind != argc) {
		usage(stderr);
		exit(2);
	}
	if (o->influx != NULL && o->influx_url != NULL) {
		fprintf(stderr, "petrel-stats: --influx and --influx-url "
		    "exclude each other\n");
		exit(2);
	}
}

static int
setup_paths(st_daemon *d, char *sock, size_t cap)
{
	char util[PATH_MAX];
	if ((size_t)snprintf(util, sizeof(util), "%s/util", d->o.tmpdir) >=
	    sizeof(util) || (size_t)snprintf(sock, cap, "%s/stat.sock",
	    util) >= cap || (size_t)snprintf(d->vmmd_sock,
	    sizeof(d->vmmd_sock), "%s/vmmd.sock", util) >=
	    sizeof(d->vmmd_sock)) {
		fprintf(stderr, "petrel-stats: --tmpdir too long\n");
		return -1;
	}
	/* The util dir may not exist yet if petreld has not started. */
	mkdir(d->o.tmpdir, 0755);
	if (mkdir(util, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "petrel-stats: %s: %s\n", util,
		    strerror(errno));
		return -1;
	}
	return 0;
}

static int
start_parts(st_daemon *d, pt_err *err)
{
	d->links = pt_linkstats_open(err);
	if (d->links == NULL)
		return -1;
	if (d->o.prometheus != NULL &&
	    st_prom_start(d, d->o.prometheus, err) < 0)
		return -1;
	if ((d->o.influx != NULL || d->o.influx_url != NULL) &&
	    st_influx_start(d, err) < 0)
		return -1;
	if (st_policies_start(d, err) < 0 || st_link_start(d, err) < 0)
		return -1;
	d->tick = event_new(d->base, -1, EV_PERSIST, on_tick, d);
	struct timeval tv = {(time_t)(d->o.interval_ms / 1000),
	    (suseconds_t)(d->o.interval_ms % 1000) * 1000};
	if (d->tick == NULL || event_add(d->tick, &tv) < 0)
		return pt_fail(err, "out of memory");
	return 0;
}

int
main(int argc, char **argv)
{
	static st_daemon d;
	d.o.tmpdir = "/run/petrel";
	d.o.interval_ms = ST_INTERVAL_DEFAULT_MS;
	d.o.max_subs = ST_MAX_SUBS_DEFAULT;
	d.o.sub_queue = ST_SUB_QUEUE_DEFAULT;
	d.o.max_conns = 1024;
	d.o.influx_queue = 360;
	parse_args(argc, argv, &d.o);
	d.o.use_syslog = use_syslog;
	if (use_syslog)
		openlog("petrel-stats", LOG_PID, LOG_DAEMON);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();

	char sock[PATH_MAX];
	if (setup_paths(&d, sock, sizeof(sock)) < 0)
		return 1;
	pt_err err = {{0}};
	bool activated;
	int lfd = pt_server_socket(sock, "petrel-stats", 0660, &activated,
	    &err);
	if (lfd < 0) {
		fprintf(stderr, "petrel-stats: %s\n", err.msg);
		return 1;
	}
	if (st_drop_privileges(d.o.user, &err) < 0) {
		fprintf(stderr, "petrel-stats: %s\n", err.msg);
		return 1;
	}
	d.clk_tck = sysconf(_SC_CLK_TCK);
	d.page_kb = sysconf(_SC_PAGESIZE) / 1024;
	d.boot_time_s = boot_time();
	d.base = event_base_new();
	if (d.base == NULL) {
		fprintf(stderr, "petrel-stats: event_base_new failed\n");
		return 1;
	}
	d.server = pt_server_new(d.base, lfd, d.o.max_conns, st_accept, &d);
	struct event *sigterm = evsignal_new(d.base, SIGTERM, on_signal, &d);
	struct event *sigint = evsignal_new(d.base, SIGINT, on_signal, &d);
	if (d.server == NULL || sigterm == NULL || sigint == NULL ||
	    event_add(sigterm, NULL) < 0 || event_add(sigint, NULL) < 0) {
		fprintf(stderr, "petrel-stats: out of memory\n");
		return 1;
	}
	int rc = 0;
	if (start_parts(&d, &err) < 0) {
		fprintf(stderr, "petrel-stats: %s\n", err.msg);
		rc = 1;
	} else {
		st_log(&d, 0, "listening on %s%s, every %lld ms", sock,
		    activated ? " (socket activation)" : "",
		    (long long)d.o.interval_ms);
		event_base_dispatch(d.base);
	}

	if (d.tick != NULL)
		event_free(d.tick);
	st_link_stop(&d);
	st_policies_stop(&d);
	st_sessions_free_all(&d);
	st_uk_remove_all(&d);
	st_prom_stop(&d);
	st_influx_stop(&d);
	pt_linkstats_close(d.links);
	pt_server_free(d.server, activated ? NULL : sock);
	event_free(sigterm);
	event_free(sigint);
	event_base_free(d.base);
	return rc;
}
