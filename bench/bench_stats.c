/*
 * petrel-stats benchmark (issue 12). In a private network namespace it
 * makes 1,000 taps and 1,000 sleeping processes, plays petreld on a
 * private vmmd.sock (answers `stats initial`, then sends one `stats add`
 * per process with its tap), and reads from petrel-stats's own /metrics:
 *  1. the CPU time of one gathering round (goal < 20 ms);
 *  2. petrel-stats's resident memory (goal < 8 MB);
 *  3. the cost of one /metrics scrape for 1,000 unikernels (wall time,
 *     and petrel-stats's CPU time per scrape).
 * Prints figures; never fails on timing. Needs root (namespace, taps);
 * exits 77 (skipped) otherwise.
 *
 * usage: bench_stats PATH-TO-petrel-stats [N]
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/if_tun.h>

#include "frame.h"
#include "name.h"
#include "wire.h"

#define PORT 19187
#define INTERVAL_MS 500
#define SCRAPES 20

static char tmpdir[] = "/tmp/ptbench-XXXXXX";
static pid_t stats_pid;
static pid_t *kids;
static int nkids;

static void
cleanup(void)
{
	if (stats_pid > 0)
		kill(stats_pid, SIGKILL);
	for (int i = 0; i < nkids; i++)
		kill(kids[i], SIGKILL);
}

static _Noreturn void
die(const char *what)
{
	fprintf(stderr, "bench_stats: %s: %s\n", what, strerror(errno));
	cleanup();
	exit(1);
}

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
lo_up(void)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		die("lo");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		die("lo up");
	close(s);
}

/* A tap that lives while its fd is open. */
static void
make_tap(int i)
{
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	snprintf(ifr.ifr_name, IFNAMSIZ, "bt%d", i);
	if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0)
		die("tap");
}

static void
send_wire(int fd, const pt_wire *w)
{
	pt_buf body = {0}, out = {0};
	if (pt_wire_encode(w, &body, NULL) < 0 ||
	    pt_frame_append(&out, body.data, body.len) < 0)
		die("encode");
	size_t off = 0;
	while (off < out.len) {
		ssize_t n = write(fd, out.data + off, out.len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("write");
		off += (size_t)n;
	}
	pt_buf_free(&body);
	pt_buf_free(&out);
}

/* Reads frames until `want` have come. */
static void
read_frames(int fd, pt_frame_reader *rd, int want)
{
	int got = 0;
	while (got < want) {
		const uint8_t *b;
		size_t n;
		pt_frame_status st;
		while (got < want &&
		    (st = pt_frame_reader_next(rd, &b, &n)) == PT_FRAME_OK)
			got++;
		if (got >= want)
			break;
		size_t avail;
		uint8_t *space = pt_frame_reader_space(rd, &avail);
		ssize_t r = read(fd, space, avail);
		if (r <= 0)
			die("read from petrel-stats");
		pt_frame_reader_commit(rd, (size_t)r);
	}
}

/* GET /metrics; the body. */
static char *
scrape(size_t *len)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
	    .sin_port = htons(PORT)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect /metrics");
	const char *req = "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n";
	if (write(s, req, strlen(req)) < 0)
		die("write");
	size_t cap = 1 << 20, n = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (n + 65536 > cap)
			buf = realloc(buf, cap *= 2);
		ssize_t r = read(s, buf + n, cap - n - 1);
		if (r < 0)
			die("read /metrics");
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(s);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static double
metric(const char *text, const char *name)
{
	const char *p = text;
	size_t n = strlen(name);
	while ((p = strstr(p, name)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return atof(p + n + 1);
		p += n;
	}
	return -1;
}

static double
cpu_of(pid_t pid)
{
	char path[64], buf[2048];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	unsigned long long ut, st;
	if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u "
	    "%*u %*u %llu %llu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long
rss_kb(pid_t pid)
{
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	const char *p = strstr(buf, "VmRSS:");
	return p != NULL ? atol(p + 6) : -1;
}

static int
start_stats(const char *bin)
{
	char util[64];
	snprintf(util, sizeof(util), "%s/util", tmpdir);
	if (mkdir(util, 0755) < 0)
		die("mkdir");
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/vmmd.sock", util);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(l, 8) < 0)
		die("vmmd.sock");
	char interval[16], port[16];
	snprintf(interval, sizeof(interval), "%d", INTERVAL_MS);
	snprintf(port, sizeof(port), "%d", PORT);
	stats_pid = fork();
	if (stats_pid < 0)
		die("fork");
	if (stats_pid == 0) {
		const char *v = getenv("BENCH_STATS_VERBOSE");
		if (v == NULL) {
			int nul = open("/dev/null", O_WRONLY);
			dup2(nul, 2);
		}
		execl(bin, bin, "--tmpdir", tmpdir, "--interval", interval,
		    "--prometheus", port, "--no-kvm", v != NULL ? "-vvv" : "-v",
		    (char *)NULL);
		_exit(127);
	}
	int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		die("accept");
	close(l);
	return c;
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: bench_stats PATH-TO-petrel-stats [N]\n");
		return 2;
	}
	int n = argc > 2 ? atoi(argv[2]) : 1000;
	setvbuf(stdout, NULL, _IONBF, 0);
	if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0) {
		printf("bench_stats: skipped (needs root for a network "
		    "namespace and taps)\n");
		return 77;
	}
	struct rlimit rl = {65536, 65536};
	setrlimit(RLIMIT_NOFILE, &rl);
	if (mkdtemp(tmpdir) == NULL)
		die("mkdtemp");
	lo_up();
	kids = calloc((size_t)n, sizeof(*kids));
	for (int i = 0; i < n; i++) {
		make_tap(i);
		pid_t p = fork();
		if (p < 0)
			die("fork");
		if (p == 0) {
			for (;;)
				pause();
		}
		kids[nkids++] = p;
	}
	int c = start_stats(argv[1]);
	pt_frame_reader rd;
	pt_frame_reader_init(&rd, 1 << 20);
	read_frames(c, &rd, 1);  /* stats initial */
	pt_name root;
	pt_name_root(&root);
	pt_wire w = {.kind = PT_PAYLOAD_SUCCESS};
	pt_header_init(&w.header, 0, &root);
	w.u.success.kind = PT_OK_EMPTY;
	send_wire(c, &w);
	double t0 = now();
	for (int i = 0; i < n; i++) {
		char name[32], tap[IFNAMSIZ];
		snprintf(name, sizeof(name), "t%d:u%d", i % 10, i);
		snprintf(tap, sizeof(tap), "bt%d", i);
		pt_wire a = {.kind = PT_PAYLOAD_COMMAND};
		pt_name nm;
		pt_name_parse_str(name, &nm, NULL);
		pt_header_init(&a.header, i + 1, &nm);
		a.u.command.kind = PT_CMD_STATS_ADD;
		pt_stats_net net = {{"service", 7}, {tap, strlen(tap)}};
		a.u.command.u.stats_add.vmmdev.s = "";
		a.u.command.u.stats_add.pid = kids[i];
		a.u.command.u.stats_add.nnets = 1;
		a.u.command.u.stats_add.nets = &net;
		send_wire(c, &a);
	}
	read_frames(c, &rd, n);
	pt_frame_reader_free(&rd);
	printf("stats add of %d unikernels answered in %.1f ms\n", n,
	    (now() - t0) * 1e3);
	/* Wait for a few rounds with everything monitored. */
	size_t len;
	char *m = NULL;
	double rounds0 = -1;
	for (int i = 0; i < 200; i++) {
		free(m);
		m = scrape(&len);
		double r = metric(m, "petrel_stats_rounds_total");
		if (rounds0 < 0)
			rounds0 = r;
		if (r >= rounds0 + 3)
			break;
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);  /* polling for rounds, bounded */
	}
	double round_cpu = metric(m, "petrel_stats_round_cpu_seconds");
	printf("one gathering round, %d processes with a tap each: %.2f ms "
	    "CPU (goal < 20 ms)\n", n, round_cpu * 1e3);
	printf("petrel-stats resident memory: %.1f MB (goal < 8 MB)\n",
	    (double)rss_kb(stats_pid) / 1024.0);
	free(m);
	double c0 = cpu_of(stats_pid), w0 = now();
	for (int i = 0; i < SCRAPES; i++) {
		m = scrape(&len);
		free(m);
	}
	double wall = (now() - w0) / SCRAPES, cpu = (cpu_of(stats_pid) - c0) /
	    SCRAPES;
	printf("one /metrics scrape of %d unikernels: %zu bytes, %.2f ms wall, "
	    "%.2f ms CPU of petrel-stats (ticks of %ld Hz, rounds included)\n",
	    n, len, wall * 1e3, cpu * 1e3, sysconf(_SC_CLK_TCK));
	cleanup();
	while (waitpid(-1, NULL, 0) > 0)
		;
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "%s/util/vmmd.sock", tmpdir);
	unlink(cmd);
	snprintf(cmd, sizeof(cmd), "%s/util/stat.sock", tmpdir);
	unlink(cmd);
	snprintf(cmd, sizeof(cmd), "%s/util", tmpdir);
	rmdir(cmd);
	rmdir(tmpdir);
	return 0;
}
