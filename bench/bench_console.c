/*
 * petrel-console benchmark (issue 5): starts the daemon in a private
 * directory, then
 *  1. one fast-printing unikernel (this program writing its FIFO) and 5
 *     subscribers: lines per second delivered to every subscriber;
 *  2. 1,000 rings of 100 lines each: the daemon's resident memory.
 * Prints figures; never fails on timing.
 *
 * usage: bench_console PATH-TO-petrel-console [LINES]
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "name.h"
#include "wire.h"
#include "loadavg.h"

#define SUBSCRIBERS 5
#define RINGS 1000
#define RING_LINES 100

static char tmpdir[] = "/tmp/ptbench-XXXXXX";
static pid_t daemon_pid;

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Every fatal exit goes through here, so that the daemon never outlives
 * the bench (it would hold the caller's pipes open). */
static _Noreturn void
fatal(const char *msg)
{
	fprintf(stderr, "bench_console: %s\n", msg);
	if (daemon_pid > 0)
		kill(daemon_pid, SIGKILL);
	exit(1);
}

static _Noreturn void
die(const char *what)
{
	char msg[256];
	snprintf(msg, sizeof(msg), "%s: %s", what, strerror(errno));
	fatal(msg);
}

static int
connect_console(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/console/console.sock",
	    tmpdir);
	for (int i = 0; i < 500; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			die("socket");
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		close(fd);
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL); /* waiting for start-up, with a bound */
	}
	fatal("petrel-console did not come up");
}

static void
send_wire(int fd, pt_wire *w)
{
	pt_buf body = {0}, frame = {0};
	pt_err err;
	if (pt_wire_encode(w, &body, &err) < 0 ||
	    pt_frame_append(&frame, body.data, body.len) < 0) {
		fatal(err.msg);
	}
	if (write(fd, frame.data, frame.len) != (ssize_t)frame.len)
		die("write");
	pt_buf_free(&body);
	pt_buf_free(&frame);
}

static void
command(pt_wire *w, const char *name, pt_cmd_kind kind)
{
	pt_name n;
	pt_err err;
	memset(w, 0, sizeof(*w));
	if (pt_name_parse_str(name, &n, &err) < 0) {
		fatal(err.msg);
	}
	pt_header_init(&w->header, 0, &n);
	w->kind = PT_PAYLOAD_COMMAND;
	w->u.command.kind = kind;
}

/* Reads one frame (blocking) and discards it. */
static void
read_reply(int fd)
{
	uint8_t buf[4096];
	uint8_t len[4];
	if (read(fd, len, 4) != 4)
		die("read reply");
	size_t n = (size_t)len[0] << 24 | len[1] << 16 | len[2] << 8 | len[3];
	while (n > 0) {
		ssize_t r = read(fd, buf, n < sizeof(buf) ? n : sizeof(buf));
		if (r <= 0)
			die("read reply body");
		n -= (size_t)r;
	}
}

/* mkfifo + add + open for writing, as petreld and the tender do. */
static int
start_unikernel(int control, const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/fifo/%s", tmpdir, name);
	if (mkfifo(path, 0600) < 0 && errno != EEXIST)
		die("mkfifo");
	pt_wire w;
	command(&w, name, PT_CMD_CONSOLE_ADD);
	w.u.command.u.count = ((int64_t)1 << 62) - 1;
	send_wire(control, &w);
	read_reply(control);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		die("open fifo");
	return fd;
}

/* Reads a `consoles` reply and returns how many names it lists. */
static size_t
count_consoles(int fd)
{
	pt_frame_reader r;
	pt_frame_reader_init(&r, 1 << 20);
	for (;;) {
		size_t avail;
		uint8_t *space = pt_frame_reader_space(&r, &avail);
		ssize_t n = read(fd, space, avail);
		if (n <= 0)
			die("list-inactive");
		pt_frame_reader_commit(&r, (size_t)n);
		const uint8_t *body;
		size_t len;
		if (pt_frame_reader_next(&r, &body, &len) != PT_FRAME_OK)
			continue;
		pt_arena a = {0};
		pt_wire w;
		pt_err err;
		size_t count = 0;
		if (pt_wire_decode(body, len, &a, &w, &err) == 0 &&
		    w.kind == PT_PAYLOAD_SUCCESS &&
		    w.u.success.kind == PT_OK_CONSOLES)
			count = w.u.success.u.consoles.n;
		pt_arena_free(&a);
		pt_frame_reader_free(&r);
		return count;
	}
}

static long
rss_kb(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	long kb = -1;
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* Counts console data frames arriving on the subscribers until each has
 * seen `want` lines. */
static void
drain(int *subs, size_t nsubs, long want)
{
	pt_frame_reader r[SUBSCRIBERS];
	long seen[SUBSCRIBERS] = {0};
	for (size_t i = 0; i < nsubs; i++)
		pt_frame_reader_init(&r[i], 1 << 20);
	size_t done = 0;
	while (done < nsubs) {
		struct pollfd p[SUBSCRIBERS];
		for (size_t i = 0; i < nsubs; i++)
			p[i] = (struct pollfd){.fd = seen[i] < want ? subs[i] : -1,
			    .events = POLLIN};
		if (poll(p, nsubs, 10000) <= 0) {
			fatal("subscribers stalled");
		}
		for (size_t i = 0; i < nsubs; i++) {
			if (!(p[i].revents & (POLLIN | POLLHUP)))
				continue;
			size_t avail;
			uint8_t *space = pt_frame_reader_space(&r[i], &avail);
			ssize_t n = read(subs[i], space, avail);
			if (n <= 0)
				die("subscriber read");
			pt_frame_reader_commit(&r[i], (size_t)n);
			const uint8_t *body;
			size_t len;
			while (pt_frame_reader_next(&r[i], &body, &len) ==
			    PT_FRAME_OK)
				/* data [3] frames are the lines; the first
				 * reply is a success [1] */
				if (len > 30 && ++seen[i] == want + 1)
					done++;
		}
	}
	for (size_t i = 0; i < nsubs; i++)
		pt_frame_reader_free(&r[i]);
}

static void
remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return;
	struct dirent *e;
	char path[512];
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

int
main(int argc, char **argv)
{
	bench_load_start();
	if (argc < 2) {
		fprintf(stderr, "usage: bench_console PATH-TO-petrel-console "
		    "[LINES]\n");
		return 2;
	}
	long lines = argc > 2 ? atol(argv[2]) : 200000;
	signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(tmpdir) == NULL)
		die("mkdtemp");
	char fifo_dir[256];
	snprintf(fifo_dir, sizeof(fifo_dir), "%s/fifo", tmpdir);
	mkdir(fifo_dir, 0700);
	daemon_pid = fork();
	if (daemon_pid == 0) {
		execl(argv[1], argv[1], "--tmpdir", tmpdir, "--ring-lines",
		    "1024", "--max-connections", "4096", (char *)NULL);
		_exit(127);
	}
	int control = connect_console();

	/* 1. throughput to 5 subscribers */
	int fifo = start_unikernel(control, "bench:fast");
	int subs[SUBSCRIBERS];
	for (int i = 0; i < SUBSCRIBERS; i++) {
		pt_wire w;
		subs[i] = connect_console();
		command(&w, "bench:fast", PT_CMD_CONSOLE_SUBSCRIBE);
		w.u.command.u.subscribe.by_count = true;
		w.u.command.u.subscribe.count = 1;
		send_wire(subs[i], &w);
	}
	double t0 = now();
	/* The unikernel writes in a child while we read the subscribers:
	 * a reader that stops reading is dropped by design. */
	pid_t writer = fork();
	if (writer == 0) {
		char line[128];
		pt_buf out = {0};
		for (long i = 0; i < lines; i++) {
			int n = snprintf(line, sizeof(line),
			    "Solo5: line %ld of a unikernel that prints fast\n",
			    i);
			pt_buf_append(&out, line, (size_t)n);
			if (out.len > 32768 || i == lines - 1) {
				if (write(fifo, out.data, out.len) !=
				    (ssize_t)out.len)
					_exit(1);
				pt_buf_reset(&out);
			}
		}
		_exit(0);
	}
	drain(subs, SUBSCRIBERS, lines);
	double dt = now() - t0;
	printf("console: %ld lines to %d subscribers in %.3f s: %.0f lines/s "
	    "(%.0f deliveries/s)\n", lines, SUBSCRIBERS, dt, lines / dt,
	    lines * SUBSCRIBERS / dt);
	waitpid(writer, NULL, 0);
	for (int i = 0; i < SUBSCRIBERS; i++)
		close(subs[i]);
	close(fifo);

	/* 2. memory with 1,000 rings */
	long base = rss_kb(daemon_pid);
	for (int u = 0; u < RINGS; u++) {
		char name[64];
		snprintf(name, sizeof(name), "bench:u%d", u);
		int fd = start_unikernel(control, name);
		char buf[RING_LINES * 48];
		size_t n = 0;
		for (int i = 0; i < RING_LINES; i++)
			n += (size_t)snprintf(buf + n, sizeof(buf) - n,
			    "unikernel %d says line %d\n", u, i);
		if (write(fd, buf, n) != (ssize_t)n)
			die("write fifo");
		close(fd);
	}
	/* The rings are complete once every unikernel shows as inactive
	 * (the daemon saw the end of each FIFO). */
	size_t inactive = 0;
	for (int tries = 0; tries < 1000 && inactive < RINGS; tries++) {
		pt_wire w;
		int q = connect_console();
		command(&w, "bench:", PT_CMD_CONSOLE_LIST_INACTIVE);
		send_wire(q, &w);
		inactive = count_consoles(q);
		close(q);
	}
	long rss = rss_kb(daemon_pid);
	printf("console: RSS %ld kB before, %ld kB with %d rings of %d lines "
	    "(%.1f kB per ring)\n", base, rss, RINGS, RING_LINES,
	    (double)(rss - base) / RINGS);

	close(control);
	kill(daemon_pid, SIGTERM);
	waitpid(daemon_pid, NULL, 0);
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/fifo", tmpdir);
	remove_dir(dir);
	snprintf(dir, sizeof(dir), "%s/util", tmpdir);
	remove_dir(dir);
	rmdir(tmpdir);
	return 0;
}
