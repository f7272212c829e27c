/*
 * Density benchmark (issues 10 and 16): N stand-in unikernels under one
 * petreld and one petrel-console, and what each costs.
 *
 * At 0, 100 and 1000 running unikernels (those not above N) it prints
 *  - the descriptors (/proc/<pid>/fd) and RSS (VmRSS) of petreld and of
 *    petrel-console, and per unikernel the growth since 0;
 *  - the latency of `petrel create` and `petrel destroy` of one more
 *    unikernel (the client's whole run: exec, connect, request, reply).
 *
 * petreld runs in a private directory (--tmpdir, --dbdir, --logdir) with
 * the stand-in tender linked as <dbdir>/solo5-hvt and an image made by
 * tests/tools/mkimage.py; no network devices, so no bridge or namespace.
 * Needs root (petreld does), and the descriptors and tasks for N tenders.
 *
 * Prints figures only; never fails on timing. Every process it started
 * and its directory are removed on the way out, error or not.
 *
 * usage: bench_density PETRELD PETREL PETREL-CONSOLE TENDER PYTHON MKIMAGE
 *        [N (100)] [SAMPLES (10)]
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"
#include "loadavg.h"

#define DEADLINE_S 60.0
#define SHORT_PATH 64

static char base[] = "/tmp/ptbd-XXXXXX";
static bool have_base;
static char tmpdir[SHORT_PATH], dbdir[SHORT_PATH], logdir[SHORT_PATH];
static char image[SHORT_PATH], client_out[SHORT_PATH];
static char daemon_log[SHORT_PATH], console_log[SHORT_PATH];
static const char *petreld_bin, *petrel_bin, *console_bin, *tender_bin;
static volatile pid_t daemon_pid = -1, console_pid = -1;

/* ---- processes ---- */

static void
stop(volatile pid_t *pid, double grace)
{
	if (*pid <= 0)
		return;
	kill(*pid, SIGTERM);
	if (!wait_deadline(*pid, grace, NULL)) {
		kill(*pid, SIGKILL);
		wait_deadline(*pid, 10, NULL);
	}
	*pid = -1;
}

static void
cleanup(void)
{
	/* petreld stops its tenders on SIGTERM (a thousand take a while);
	 * they die with it anyway (PR_SET_PDEATHSIG). */
	stop(&daemon_pid, 120);
	stop(&console_pid, 10);
	if (have_base) {
		nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		have_base = false;
	}
}

static void
on_signal(int sig)
{
	if (daemon_pid > 0)
		kill(daemon_pid, SIGTERM);
	if (console_pid > 0)
		kill(console_pid, SIGTERM);
	_exit(128 + sig);
}

static void
show_tail(const char *what, const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return;
	char line[512];
	fprintf(stderr, "--- %s (%s), last lines:\n", what, path);
	char ring[20][512];
	size_t n = 0;
	while (fgets(line, sizeof(line), f) != NULL)
		snprintf(ring[n++ % 20], sizeof(ring[0]), "%s", line);
	for (size_t i = n > 20 ? n - 20 : 0; i < n; i++)
		fputs(ring[i % 20], stderr);
	fclose(f);
}

static _Noreturn void
fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "bench_density: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	show_tail("last client output", client_out);
	show_tail("petreld log", daemon_log);
	cleanup();
	exit(1);
}

static pid_t
start(const char *const *argv, const char *out)
{
	int fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		fatal("%s: %s", out, strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		fatal("fork: %s", strerror(errno));
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		if (null < 0 || dup2(null, 0) < 0 || dup2(fd, 1) < 0 ||
		    dup2(fd, 2) < 0)
			_exit(127);
		char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
		execve(argv[0], (char *const *)(uintptr_t)argv, envp);
		_exit(127);
	}
	close(fd);
	return pid;
}

static int
run(const char *const *argv)
{
	/* A fresh output file each time: the last one is shown on failure. */
	unlink(client_out);
	pid_t pid = start(argv, client_out);
	int status;
	if (!wait_deadline(pid, DEADLINE_S, &status)) {
		kill(pid, SIGKILL);
		wait_deadline(pid, 10, NULL);
		fatal("%s did not finish within %.0f s", argv[0], DEADLINE_S);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
wait_socket(volatile pid_t *pid, const char *what, const char *sock)
{
	double end = now() + DEADLINE_S;
	while (!can_connect(sock)) {
		if (waitpid(*pid, NULL, WNOHANG) == *pid) {
			*pid = -1;
			fatal("%s exited while starting", what);
		}
		if (now() > end)
			fatal("%s did not answer on %s", what, sock);
		pause_ms(10); /* start-up has no other signal */
	}
}

static void
start_daemons(void)
{
	const char *cargv[] = {console_bin, "--tmpdir", tmpdir, NULL};
	console_pid = start(cargv, console_log);
	char sock[SHORT_PATH + 32];
	snprintf(sock, sizeof(sock), "%s/util/console.sock", tmpdir);
	wait_socket(&console_pid, "petrel-console", sock);
	const char *argv[] = {petreld_bin, "--tmpdir", tmpdir, "--dbdir", dbdir,
	    "--logdir", logdir, "--grace-ms", "2000", NULL};
	daemon_pid = start(argv, daemon_log);
	snprintf(sock, sizeof(sock), "%s/util/vmmd.sock", tmpdir);
	wait_socket(&daemon_pid, "petreld", sock);
}

/* ---- the measured operations ---- */

static void
create(const char *name)
{
	const char *argv[] = {petrel_bin, "--tmpdir", tmpdir, "create", name,
	    image, "--mem", "4", "--arg", "run", NULL};
	int rc = run(argv);
	if (rc != 0)
		fatal("petrel create %s failed (exit %d)", name, rc);
}

static void
destroy(const char *name)
{
	const char *argv[] = {petrel_bin, "--tmpdir", tmpdir, "destroy", name,
	    NULL};
	int rc = run(argv);
	if (rc != 0)
		fatal("petrel destroy %s failed (exit %d)", name, rc);
}

static long
fd_count(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	DIR *d = opendir(path);
	if (d == NULL)
		return -1;
	long n = 0;
	for (struct dirent *de; (de = readdir(d)) != NULL;)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static long
rss_kb(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	FILE *f = fopen(path, "r");
	long kb = -1;
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	if (f != NULL)
		fclose(f);
	return kb;
}

typedef struct {
	long fds, rss;
} usage;

static usage
usage_of(pid_t pid)
{
	return (usage){fd_count(pid), rss_kb(pid)};
}

static void
summary(const char *what, double *v, int n)
{
	double sum = 0;
	for (int i = 0; i < n; i++)
		sum += v[i];
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	printf("    %-8s mean %7.2f ms  median %7.2f ms  min %7.2f ms  "
	    "max %7.2f ms\n", what, sum / n * 1e3, v[n / 2] * 1e3, v[0] * 1e3,
	    v[n - 1] * 1e3);
}

/* One more unikernel created and destroyed `samples` times. */
static void
latency(int running, int samples)
{
	double *c = calloc((size_t)samples, sizeof(double));
	double *d = calloc((size_t)samples, sizeof(double));
	if (c == NULL || d == NULL)
		fatal("out of memory");
	for (int i = 0; i < samples; i++) {
		double t = now();
		create("probe");
		c[i] = now() - t;
		t = now();
		destroy("probe");
		d[i] = now() - t;
	}
	printf("  latency with %d running, %d samples:\n", running, samples);
	summary("create", c, samples);
	summary("destroy", d, samples);
	free(c);
	free(d);
}

static void
report(int running, usage d0, usage c0)
{
	usage d = usage_of(daemon_pid), c = usage_of(console_pid);
	printf("%d running:\n", running);
	printf("  petreld:        %5ld descriptors, RSS %7ld kB", d.fds, d.rss);
	if (running > 0)
		printf("  (per unikernel: %.2f descriptors, %.1f kB)",
		    (double)(d.fds - d0.fds) / running,
		    (double)(d.rss - d0.rss) / running);
	printf("\n  petrel-console: %5ld descriptors, RSS %7ld kB", c.fds,
	    c.rss);
	if (running > 0)
		printf("  (per unikernel: %.2f descriptors, %.1f kB)",
		    (double)(c.fds - c0.fds) / running,
		    (double)(c.rss - c0.rss) / running);
	printf("\n");
}

/* The tender's ABI version is cached once its file has settled
 * (src/host/tender.h); a freshly built one would be asked every time. */
static void
wait_tender_settled(void)
{
	struct stat st;
	if (stat(tender_bin, &st) != 0)
		fatal("%s: %s", tender_bin, strerror(errno));
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	time_t newest = st.st_ctim.tv_sec > st.st_mtim.tv_sec ?
	    st.st_ctim.tv_sec : st.st_mtim.tv_sec;
	long wait_ms = (long)(newest + 4 - rt.tv_sec) * 1000;
	if (wait_ms > 0)
		pause_ms(wait_ms);
}

static void
set_up(const char *python, const char *mkimage)
{
	if (mkdtemp(base) == NULL)
		fatal("mkdtemp: %s", strerror(errno));
	have_base = true;
	snprintf(tmpdir, sizeof(tmpdir), "%s/run", base);
	snprintf(dbdir, sizeof(dbdir), "%s/db", base);
	snprintf(logdir, sizeof(logdir), "%s/log", base);
	snprintf(image, sizeof(image), "%s/bench.img", base);
	snprintf(client_out, sizeof(client_out), "%s/client.out", base);
	snprintf(daemon_log, sizeof(daemon_log), "%s/petreld.log", base);
	snprintf(console_log, sizeof(console_log), "%s/console.log", base);
	if (mkdir(dbdir, 0700) < 0 || mkdir(logdir, 0700) < 0)
		fatal("mkdir: %s", strerror(errno));
	char link[SHORT_PATH + 16], tender_abs[4096];
	snprintf(link, sizeof(link), "%s/solo5-hvt", dbdir);
	if (realpath(tender_bin, tender_abs) == NULL ||
	    symlink(tender_abs, link) < 0)
		fatal("tender %s: %s", tender_bin, strerror(errno));
	const char *argv[] = {python, mkimage, image, "--target", "hvt",
	    NULL};
	if (run(argv) != 0)
		fatal("mkimage failed");
	wait_tender_settled();
}

int
main(int argc, char **argv)
{
	if (argc < 7 || argc > 9) {
		fprintf(stderr, "usage: %s PETRELD PETREL PETREL-CONSOLE TENDER "
		    "PYTHON MKIMAGE [N] [SAMPLES]\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	bench_load_start();
	petreld_bin = argv[1];
	petrel_bin = argv[2];
	console_bin = argv[3];
	tender_bin = argv[4];
	int n = argc >= 8 ? atoi(argv[7]) : 100;
	int samples = argc >= 9 ? atoi(argv[8]) : 10;
	if (n < 0 || n > 100000)
		n = 100;
	if (samples < 1 || samples > 10000)
		samples = 10;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	set_up(argv[5], argv[6]);
	start_daemons();
	/* Warm-up: the tender lookup, petreld's link to petrel-console. */
	create("probe");
	destroy("probe");

	usage d0 = usage_of(daemon_pid), c0 = usage_of(console_pid);
	report(0, d0, c0);
	latency(0, samples);
	static const int marks[] = {100, 1000, 10000, 100000};
	int running = 0;
	for (size_t m = 0; m < sizeof(marks) / sizeof(marks[0]); m++) {
		int to = marks[m] < n ? marks[m] : n;
		if (to <= running)
			break;
		int from = running;
		double t = now();
		for (; running < to; running++) {
			char name[32];
			snprintf(name, sizeof(name), "u%d", running);
			create(name);
		}
		printf("(%d creates up to %d running: %.2f s)\n",
		    to - from, to, now() - t);
		report(running, d0, c0);
		latency(running, samples);
	}
	double t = now();
	for (int i = 0; i < running; i++) {
		char name[32];
		snprintf(name, sizeof(name), "u%d", i);
		destroy(name);
	}
	printf("(%d destroys: %.2f s)\n", running, now() - t);
	cleanup();
	return 0;
}
