/*
 * petrel-console: options, the listening socket and the event loop.
 * It needs no privileges: it reads FIFOs that petreld creates and listens
 * on <tmpdir>/console/console.sock, in the one directory of the run dir it
 * may write (docs/permissions.md); run it as a user in petreld's
 * --console-group.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "options.h"
#include "console.h"
#include "frame.h"

static bool use_syslog;

void
pt_console_log(pt_console_daemon *d, int level, const char *fmt, ...)
{
	if (level > d->verbose)
		return;
	va_list ap;
	va_start(ap, fmt);
	if (use_syslog) {
		vsyslog(level == 0 ? LOG_WARNING : LOG_INFO, fmt, ap);
	} else {
		fprintf(stderr, "petrel-console: ");
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}

static void
usage(FILE *f)
{
	fprintf(f,
"usage: petrel-console [options]\n"
"Keeps the console output of each unikernel that petreld starts in a ring\n"
"of lines and streams it to subscribers (petrel console NAME).\n"
"It needs no privileges: run it as a user in the group given to\n"
"petreld --console-group, which lets that group read the FIFOs and keep\n"
"its socket in DIR/console.\n"
"\n"
"  --tmpdir DIR        run dir shared with petreld (default /run/petrel);\n"
"                      listens on DIR/console/console.sock (petreld links\n"
"                      DIR/util/console.sock to it), reads DIR/fifo/NAME\n"
"  --ring-lines N      lines kept per unikernel (default %d)\n"
"  --max-subscribers N subscribers per unikernel; the oldest is dropped\n"
"                      when one more arrives (default %d)\n"
"  --max-connections N connections at once (default 1024)\n"
"  --idle-timeout-ms MS close a connection that has neither subscribed\n"
"                      nor added a console, and is not petreld's, after MS\n"
"                      without a command (default 120000)\n"
"  --write-timeout-ms MS close a connection that takes none of the\n"
"                      output waiting for it for MS (default 120000)\n"
"  --syslog            log to syslog instead of stderr\n"
"  -v                  more log output (repeat for more)\n"
"  -h, --help          this text\n"
"  --version           print the version and exit\n"
"Systemd socket activation (LISTEN_FDS) is supported.\n",
	    PT_CONSOLE_RING_DEFAULT, PT_CONSOLE_MAX_SUBS_DEFAULT);
}

static long
parse_count(const char *opt, const char *s, long min, long max)
{
	return pt_opt_count("petrel-console", opt, s, min, max);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	pt_console_daemon *d = arg;
	pt_console_log(d, 0, "signal %d, exiting", (int)sig);
	event_base_loopexit(d->base, NULL);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"tmpdir", required_argument, NULL, 't'},
		{"ring-lines", required_argument, NULL, 'r'},
		{"max-subscribers", required_argument, NULL, 's'},
		{"max-connections", required_argument, NULL, 'c'},
		{"idle-timeout-ms", required_argument, NULL, 'i'},
		{"write-timeout-ms", required_argument, NULL, 'w'},
		{"syslog", no_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *tmpdir = "/run/petrel";
	long ring_lines = PT_CONSOLE_RING_DEFAULT;
	long max_subs = PT_CONSOLE_MAX_SUBS_DEFAULT;
	long max_conns = 1024;
	long idle_ms = 120000, write_ms = 120000;
	int verbose = 0;
	int ch;
	while ((ch = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (ch) {
		case 't': tmpdir = optarg; break;
		case 'r':
			ring_lines = parse_count("--ring-lines", optarg, 1,
			    PT_CONSOLE_RING_MAX);
			break;
		case 's':
			max_subs = parse_count("--max-subscribers", optarg, 1,
			    1000);
			break;
		case 'c':
			max_conns = parse_count("--max-connections", optarg, 1,
			    1000000);
			break;
		case 'i':
			idle_ms = parse_count("--idle-timeout-ms", optarg, 1,
			    86400000);
			break;
		case 'w':
			write_ms = parse_count("--write-timeout-ms", optarg, 1,
			    86400000);
			break;
		case 'l': use_syslog = true; break;
		case 'v': verbose++; break;
		case 'h': usage(stdout); return 0;
		case 'V': puts("petrel-console " PETREL_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (use_syslog)
		openlog("petrel-console", LOG_PID, LOG_DAEMON);
	signal(SIGPIPE, SIG_IGN);

	static pt_console_daemon d;
	d.ring_lines = (size_t)ring_lines;
	d.max_subs = (size_t)max_subs;
	d.max_frame = 1u << 20; /* commands to the console are small */
	d.verbose = verbose;
	d.idle_timeout_ms = idle_ms;
	d.write_timeout_ms = write_ms;
	pt_console_limits_init(&d);
	pt_err err;
	char dir[PATH_MAX], sock[PATH_MAX];
	if ((size_t)snprintf(d.fifo_dir, sizeof(d.fifo_dir), "%s/fifo",
	    tmpdir) >= sizeof(d.fifo_dir) ||
	    (size_t)snprintf(dir, sizeof(dir), "%s/console", tmpdir) >=
	    sizeof(dir) ||
	    (size_t)snprintf(sock, sizeof(sock), "%s/console.sock", dir) >=
	    sizeof(sock)) {
		fprintf(stderr, "petrel-console: --tmpdir too long\n");
		return 1;
	}
	/* Our directory: petreld makes it (for an unprivileged
	 * petrel-console, in its group); run as root before petreld, we
	 * make it ourselves. Nothing else of the run dir is ours to touch:
	 * petreld's util/console.sock is the symlink to our socket. */
	mkdir(tmpdir, 0755);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "petrel-console: %s: %s (petreld makes it when "
		    "it starts)\n", dir, strerror(errno));
		return 1;
	}
	bool activated;
	/* 0660: petreld is root, operators who read consoles are in our
	 * group. */
	int lfd = pt_server_socket(sock, "petrel-console", 0660, &activated,
	    &err);
	if (lfd < 0) {
		fprintf(stderr, "petrel-console: %s\n", err.msg);
		return 1;
	}
	d.base = event_base_new();
	if (d.base == NULL) {
		fprintf(stderr, "petrel-console: event_base_new failed\n");
		return 1;
	}
	d.server = pt_server_new(d.base, lfd, (size_t)max_conns,
	    pt_console_accept, &d);
	struct event *sigterm = evsignal_new(d.base, SIGTERM, on_signal, &d);
	struct event *sigint = evsignal_new(d.base, SIGINT, on_signal, &d);
	if (d.server == NULL || sigterm == NULL || sigint == NULL ||
	    event_add(sigterm, NULL) < 0 || event_add(sigint, NULL) < 0) {
		fprintf(stderr, "petrel-console: out of memory\n");
		return 1;
	}
	pt_console_log(&d, 0, "listening on %s%s", sock,
	    activated ? " (socket activation)" : "");
	event_base_dispatch(d.base);

	pt_console_sessions_free_all(&d);
	pt_console_free_all(&d);
	pt_server_free(d.server, activated ? NULL : sock);
	event_free(sigterm);
	event_free(sigint);
	event_base_free(d.base);
	return 0;
}
