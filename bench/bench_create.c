/*
 * petreld create benchmark (issue 3):
 *  a. the time from `petrel create` until the tender runs, against
 *     exec'ing the same tender with the same argv directly (ratio, target
 *     <= 1.2x). "Runs" is the same point in both cases: the unikernel's
 *     first line (`print:ready`) can be read from its console (the FIFO
 *     after a create; a pipe for the direct exec);
 *  b. create+destroy cycles per second, through the client.
 *
 * petreld runs in a private directory (--tmpdir, --dbdir and --logdir if
 * it has one) with the stand-in tender linked as <dbdir>/solo5-hvt and an
 * image made by tests/tools/mkimage.py; no network devices, so no bridge
 * or namespace is needed.
 *
 * petreld reads (and drops) a console FIFO that no petrel-console reads,
 * so the bench plays petrel-console on <tmpdir>/console/console.sock: on
 * `console add` it opens the FIFO (as petrel-console does, before it
 * answers), answers, and reads the FIFO until the ready line. That add
 * also marks the moment petreld is about to fork and exec the tender.
 *
 * Besides the client's figure, the bench sends the very request the client
 * sends (`petrel --socket=- create ...`) over the socket itself: that
 * leaves out the client's own exec and start-up, so what remains is what
 * petreld controls (the daemon-side time).
 *
 * Prints figures; never fails on timing. Every process it started and its
 * directory are removed on the way out, error or not (a signal to the
 * bench kills the processes but leaves the directory).
 *
 * usage: bench_create PETRELD PETREL TENDER PYTHON MKIMAGE [RUNS]
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
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

#include "frame.h"
#include "name.h"
#include "wire.h"
#include "benchutil.h"
#include "loadavg.h"

#define UK_NAME "bench"
#define READY_LINE "ready"
#define DEADLINE_S 20.0
#define MAX_ARGS 64

static char base[] = "/tmp/ptbc-XXXXXX";
static bool have_base;
/* Short paths: base is short, and the socket path must fit sun_path. */
#define SHORT_PATH 64
static char tmpdir[SHORT_PATH], dbdir[SHORT_PATH], logdir[SHORT_PATH];
static char image[SHORT_PATH], client_out[SHORT_PATH], daemon_log[SHORT_PATH];
static const char *petreld_bin, *petrel_bin, *tender_bin;
/* Processes this program started that may still run. */
static volatile pid_t daemon_pid = -1;
static volatile pid_t direct_pid = -1;

/* ---- cleaning up ---- */

/* Pids whose parent is `parent` (the tenders of petreld). */
static size_t
children_of(pid_t parent, pid_t *out, size_t cap)
{
	DIR *d = opendir("/proc");
	size_t n = 0;
	if (d == NULL)
		return 0;
	for (struct dirent *de; (de = readdir(d)) != NULL && n < cap;) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end != '\0' || pid <= 0)
			continue;
		char path[64], buf[512];
		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t r = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (r <= 0)
			continue;
		buf[r] = '\0';
		/* "pid (comm) state ppid ...": comm may hold spaces. */
		char *rp = strrchr(buf, ')');
		char state;
		long ppid;
		if (rp != NULL && sscanf(rp + 1, " %c %ld", &state, &ppid) == 2 &&
		    ppid == parent)
			out[n++] = (pid_t)pid;
	}
	closedir(d);
	return n;
}

/* Waits for pid with a deadline; true if it was reaped. Sleeps on a
 * pidfd, so that the measured times are not rounded up to a polling
 * interval; without pidfds it looks every millisecond. */
static void
stop_processes(void)
{
	if (direct_pid > 0) {
		kill(direct_pid, SIGKILL);
		wait_deadline(direct_pid, 10, NULL);
		direct_pid = -1;
	}
	if (daemon_pid > 0) {
		pid_t tenders[64];
		size_t nt = children_of(daemon_pid, tenders, 64);
		/* petreld stops its unikernels on SIGTERM. */
		kill(daemon_pid, SIGTERM);
		if (!wait_deadline(daemon_pid, 15, NULL)) {
			kill(daemon_pid, SIGKILL);
			wait_deadline(daemon_pid, 10, NULL);
		}
		/* Whatever it could not stop is ended by pid. */
		for (size_t i = 0; i < nt; i++)
			kill(tenders[i], SIGKILL);
		daemon_pid = -1;
	}
}

static void console_stop(void);

static void
cleanup(void)
{
	stop_processes();
	/* After the tender is gone: its FIFO reader then sees the end. */
	console_stop();
	if (have_base) {
		nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		have_base = false;
	}
}

static void
on_signal(int sig)
{
	/* Async-signal-safe only: end the processes, leave the directory. */
	if (direct_pid > 0)
		kill(direct_pid, SIGKILL);
	if (daemon_pid > 0)
		kill(daemon_pid, SIGTERM);
	_exit(128 + sig);
}

static void
show_file(const char *what, const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return;
	char line[512];
	fprintf(stderr, "--- %s (%s):\n", what, path);
	while (fgets(line, sizeof(line), f) != NULL)
		fputs(line, stderr);
	fclose(f);
}

static _Noreturn void
fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "bench_create: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	show_file("last client output", client_out);
	show_file("petreld log", daemon_log);
	cleanup();
	exit(1);
}

/* ---- processes ---- */

/* fork+exec with stdin from /dev/null and stdout+stderr to out_fd
 * (-1: /dev/null), optionally pinned to CPU 0 as petreld pins a tender
 * created with the default --cpu. */
static pid_t
start(const char *const *argv, int out_fd, bool pin, char *const *envp)
{
	pid_t pid = fork();
	if (pid < 0)
		fatal("fork: %s", strerror(errno));
	if (pid > 0)
		return pid;
	int null = open("/dev/null", O_RDWR);
	if (out_fd < 0)
		out_fd = null;
	if (null < 0 || dup2(null, 0) < 0 || dup2(out_fd, 1) < 0 ||
	    dup2(out_fd, 2) < 0)
		_exit(127);
	if (pin) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(0, &set);
		if (sched_setaffinity(0, sizeof(set), &set) != 0)
			_exit(127);
	}
	if (envp != NULL)
		execve(argv[0], (char *const *)(uintptr_t)argv, envp);
	else
		execv(argv[0], (char *const *)(uintptr_t)argv);
	_exit(127);
}

/* Runs a command to its end (deadline), output into client_out; returns
 * its exit status (-1 if it did not end normally). */
static int
run(const char *const *argv)
{
	int fd = open(client_out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600);
	if (fd < 0)
		fatal("%s: %s", client_out, strerror(errno));
	pid_t pid = start(argv, fd, false, NULL);
	close(fd);
	int status;
	if (!wait_deadline(pid, DEADLINE_S, &status)) {
		kill(pid, SIGKILL);
		wait_deadline(pid, 10, NULL);
		fatal("%s did not finish within %.0f s", argv[0], DEADLINE_S);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---- the console: waiting for the ready line ---- */

/* Reads fd until a line READY_LINE arrived; false at the deadline or EOF. */
static bool
read_until_ready(int fd, double deadline)
{
	char buf[8192];
	size_t len = 0;
	for (;;) {
		double left = deadline - now();
		if (left <= 0)
			return false;
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		int r = poll(&pf, 1, (int)(left * 1000) + 1);
		if (r < 0 && errno != EINTR)
			return false;
		if (r <= 0)
			continue;
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return false;
		len += (size_t)n;
		buf[len] = '\0';
		if (strncmp(buf, READY_LINE "\n", strlen(READY_LINE) + 1) == 0 ||
		    strstr(buf, "\n" READY_LINE "\n") != NULL)
			return true;
		/* Keep the last partial line only. */
		char *nl = strrchr(buf, '\n');
		if (nl != NULL) {
			size_t keep = len - (size_t)(nl - buf);
			memmove(buf, nl, keep); /* starts with '\n' */
			len = keep;
		}
		if (len >= sizeof(buf) - 1)
			len = 0;
	}
}

/* ---- a stand-in petrel-console ---- */

/* What the console thread saw of the last launch. Times: now(). */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t launches;   /* console adds answered and read to the end */
	double t_add;        /* the add came: petreld is about to exec */
	double t_ready;      /* the ready line; 0 if none came in time */
	int listen_fd;
	int conn_fd;         /* petreld's link; -1 while none */
	bool stop;
	bool running;
	pthread_t thread;
} con = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.cv = PTHREAD_COND_INITIALIZER,
	.listen_fd = -1,
	.conn_fd = -1,
};

static bool
send_frame(int fd, const pt_wire *w)
{
	pt_buf body = {0}, out = {0};
	pt_err err = {{0}};
	bool ok = pt_wire_encode(w, &body, &err) == 0 &&
	    pt_frame_append(&out, body.data, body.len) == 0;
	size_t off = 0;
	while (ok && off < out.len) {
		ssize_t n = send(fd, out.data + off, out.len - off,
		    MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		ok = n > 0;
		if (ok)
			off += (size_t)n;
	}
	pt_buf_free(&body);
	pt_buf_free(&out);
	return ok;
}

/* `console add`: open the FIFO first, as petrel-console does (the reader
 * is there before the tender runs), answer, then read until the ready
 * line. The thread reads the FIFO while petreld and the tender go on, so
 * the ready line is seen as soon as it is written. */
static bool
console_add(int fd, const pt_header *h)
{
	double t_add = now();
	char dir[SHORT_PATH + 8], fifo[PATH_MAX];
	pt_err err = {{0}};
	int ffd = -1;
	/* A.1: <tmpdir>/fifo/<name text>. */
	snprintf(dir, sizeof(dir), "%s/fifo", tmpdir);
	if (pt_name_to_file(dir, &h->name, NULL, fifo, sizeof(fifo),
	    &err) == 0)
		ffd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	pt_wire r = {.header = *h};
	if (ffd >= 0) {
		r.kind = PT_PAYLOAD_SUCCESS;
		r.u.success.kind = PT_OK_EMPTY;
	} else {
		static const char why[] = "bench: cannot open the FIFO";
		r.kind = PT_PAYLOAD_FAILURE;
		r.u.failure.s = why;
		r.u.failure.len = strlen(why);
	}
	bool sent = send_frame(fd, &r);
	bool ready = ffd >= 0 && sent &&
	    read_until_ready(ffd, t_add + DEADLINE_S);
	double t_ready = ready ? now() : 0;
	if (ffd >= 0)
		close(ffd);
	pthread_mutex_lock(&con.mu);
	con.t_add = t_add;
	con.t_ready = t_ready;
	con.launches++;
	pthread_cond_broadcast(&con.cv);
	pthread_mutex_unlock(&con.mu);
	return sent;
}

/* One link from petreld, until it closes or says something unexpected. */
static void
console_serve(int fd)
{
	pt_frame_reader rd;
	pt_frame_reader_init(&rd, 1 << 20);
	for (;;) {
		const uint8_t *body;
		size_t len;
		pt_frame_status st;
		bool ok = true;
		while (ok && (st = pt_frame_reader_next(&rd, &body, &len)) ==
		    PT_FRAME_OK) {
			pt_arena a = {0};
			pt_wire w;
			pt_err err = {{0}};
			ok = pt_wire_decode(body, len, &a, &w, &err) == 0 &&
			    w.kind == PT_PAYLOAD_COMMAND &&
			    w.u.command.kind == PT_CMD_CONSOLE_ADD &&
			    console_add(fd, &w.header);
			pt_arena_free(&a);
		}
		if (!ok || st != PT_FRAME_NEED_MORE)
			break;
		size_t avail;
		uint8_t *space = pt_frame_reader_space(&rd, &avail);
		if (space == NULL)
			break;
		ssize_t n = recv(fd, space, avail, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		pt_frame_reader_commit(&rd, (size_t)n);
	}
	pt_frame_reader_free(&rd);
}

static void *
console_thread(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept4(con.listen_fd, NULL, NULL, SOCK_CLOEXEC);
		pthread_mutex_lock(&con.mu);
		bool stop = con.stop;
		if (fd >= 0 && !stop)
			con.conn_fd = fd;
		pthread_mutex_unlock(&con.mu);
		if (stop) {
			if (fd >= 0)
				close(fd);
			return NULL;
		}
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return NULL;
		}
		console_serve(fd);
		pthread_mutex_lock(&con.mu);
		con.conn_fd = -1;
		pthread_mutex_unlock(&con.mu);
		close(fd);
	}
}

/* Listens where petreld looks for petrel-console (console/ exists once
 * petreld answers); petreld connects at its next launch. */
static void
console_start(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int n = snprintf(sa.sun_path, sizeof(sa.sun_path),
	    "%s/console/console.sock", tmpdir);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		fatal("console socket path too long");
	con.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (con.listen_fd < 0 ||
	    bind(con.listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(con.listen_fd, 4) < 0)
		fatal("console socket %s: %s", sa.sun_path, strerror(errno));
	if (pthread_create(&con.thread, NULL, console_thread, NULL) != 0)
		fatal("cannot start the console thread");
	con.running = true;
}

static void
console_stop(void)
{
	if (!con.running)
		return;
	pthread_mutex_lock(&con.mu);
	con.stop = true;
	/* Wakes accept() and recv() in the thread. */
	shutdown(con.listen_fd, SHUT_RDWR);
	if (con.conn_fd >= 0)
		shutdown(con.conn_fd, SHUT_RDWR);
	pthread_mutex_unlock(&con.mu);
	pthread_join(con.thread, NULL);
	close(con.listen_fd);
	con.listen_fd = -1;
	con.running = false;
}

/* Waits for the launch after `seen` launches; its add and ready times. */
static void
console_wait(uint64_t seen, double *t_add, double *t_ready)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)DEADLINE_S;
	pthread_mutex_lock(&con.mu);
	int r = 0;
	while (con.launches <= seen && r == 0)
		r = pthread_cond_timedwait(&con.cv, &con.mu, &until);
	bool got = con.launches > seen;
	*t_add = con.t_add;
	*t_ready = con.t_ready;
	pthread_mutex_unlock(&con.mu);
	if (!got)
		fatal("petreld sent no console add for %s", UK_NAME);
	if (*t_ready == 0)
		fatal("no '%s' line on the console of %s", READY_LINE,
		    UK_NAME);
}

static uint64_t
console_launches(void)
{
	pthread_mutex_lock(&con.mu);
	uint64_t n = con.launches;
	pthread_mutex_unlock(&con.mu);
	return n;
}

/* ---- petreld ---- */

/* Whether petreld knows --logdir (it is about to). */
static bool
petreld_has_logdir(void)
{
	char help[SHORT_PATH];
	snprintf(help, sizeof(help), "%s/help.txt", base);
	int fd = open(help, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		fatal("%s: %s", help, strerror(errno));
	const char *argv[] = {petreld_bin, "--help", NULL};
	pid_t pid = start(argv, fd, false, NULL);
	close(fd);
	if (!wait_deadline(pid, DEADLINE_S, NULL))
		fatal("petreld --help did not finish");
	FILE *f = fopen(help, "r");
	bool found = false;
	char line[512];
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		found = found || strstr(line, "--logdir") != NULL;
	if (f != NULL)
		fclose(f);
	return found;
}

static void
start_petreld(void)
{
	const char *argv[16];
	size_t n = 0;
	argv[n++] = petreld_bin;
	argv[n++] = "--tmpdir";
	argv[n++] = tmpdir;
	argv[n++] = "--dbdir";
	argv[n++] = dbdir;
	if (petreld_has_logdir()) {
		argv[n++] = "--logdir";
		argv[n++] = logdir;
	}
	argv[n++] = "--grace-ms";
	argv[n++] = "1000";
	argv[n] = NULL;
	/* No solo5 tender on PATH: the one in the db dir is used. */
	char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
	int fd = open(daemon_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0600);
	if (fd < 0)
		fatal("%s: %s", daemon_log, strerror(errno));
	daemon_pid = start(argv, fd, false, envp);
	close(fd);
	char sock[SHORT_PATH + 16];
	snprintf(sock, sizeof(sock), "%s/util/vmmd.sock", tmpdir);
	double end = now() + DEADLINE_S;
	while (!can_connect(sock)) {
		if (waitpid(daemon_pid, NULL, WNOHANG) == daemon_pid) {
			daemon_pid = -1;
			fatal("petreld exited while starting");
		}
		if (now() > end)
			fatal("petreld did not answer on %s", sock);
		pause_ms(10); /* start-up has no other signal */
	}
}

/* ---- the measured operations ---- */

static void
create(const char *const *args)
{
	const char *argv[MAX_ARGS];
	size_t n = 0;
	argv[n++] = petrel_bin;
	argv[n++] = "--tmpdir";
	argv[n++] = tmpdir;
	argv[n++] = "create";
	argv[n++] = UK_NAME;
	argv[n++] = image;
	for (size_t i = 0; args[i] != NULL && n < MAX_ARGS - 3; i++) {
		argv[n++] = "--arg";
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	int rc = run(argv);
	if (rc != 0)
		fatal("petrel create failed (exit %d)", rc);
}

static void
destroy(void)
{
	const char *argv[] = {petrel_bin, "--tmpdir", tmpdir, "destroy",
	    UK_NAME, NULL};
	int rc = run(argv);
	if (rc != 0)
		fatal("petrel destroy failed (exit %d)", rc);
}

static const char *const ready_args[] = {"print:" READY_LINE, "run", NULL};

/* Seconds from `petrel create` to the ready line on the console FIFO;
 * *returned: until the client exited (the reply came); *to_exec: until
 * petreld's console add (it is about to exec the tender). */
static double
time_create(double *returned, double *to_exec)
{
	uint64_t seen = console_launches();
	double t0 = now();
	create(ready_args);
	double t_ret = now();
	double t_add, t_ready;
	console_wait(seen, &t_add, &t_ready);
	if (returned != NULL)
		*returned = t_ret - t0;
	if (to_exec != NULL)
		*to_exec = t_add - t0;
	return t_ready - t0;
}

/* ---- the request without the client ---- */

/* The create request, framed, exactly as `petrel create` sends it. */
static pt_buf raw_request;

static int
hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* `petrel --socket=- create ...` prints the encoded request in hex. */
static void
load_raw_request(void)
{
	const char *argv[MAX_ARGS];
	size_t n = 0;
	argv[n++] = petrel_bin;
	argv[n++] = "--socket=-";
	argv[n++] = "create";
	argv[n++] = UK_NAME;
	argv[n++] = image;
	for (size_t i = 0; ready_args[i] != NULL; i++) {
		argv[n++] = "--arg";
		argv[n++] = ready_args[i];
	}
	argv[n] = NULL;
	if (run(argv) != 0)
		fatal("petrel --socket=- create failed");
	FILE *f = fopen(client_out, "r");
	if (f == NULL)
		fatal("%s: %s", client_out, strerror(errno));
	pt_buf body = {0};
	int c, hi = -1;
	while ((c = fgetc(f)) != EOF) {
		int v = hex_value(c);
		if (v < 0)
			continue;  /* line breaks */
		if (hi < 0) {
			hi = v;
		} else {
			if (pt_buf_append_byte(&body, (uint8_t)(hi << 4 | v)))
				fatal("out of memory");
			hi = -1;
		}
	}
	fclose(f);
	if (body.len == 0 || hi >= 0 ||
	    pt_frame_append(&raw_request, body.data, body.len) != 0)
		fatal("petrel --socket=- printed no request");
	pt_buf_free(&body);
}

/* Reads one reply frame; true if it is a success. */
static bool
read_reply(int fd, double deadline)
{
	pt_frame_reader rd;
	pt_frame_reader_init(&rd, 1 << 20);
	bool ok = false;
	for (;;) {
		const uint8_t *body;
		size_t len;
		pt_frame_status st = pt_frame_reader_next(&rd, &body, &len);
		if (st == PT_FRAME_OK) {
			pt_arena a = {0};
			pt_wire w;
			pt_err err = {{0}};
			ok = pt_wire_decode(body, len, &a, &w, &err) == 0 &&
			    w.kind == PT_PAYLOAD_SUCCESS;
			pt_arena_free(&a);
			break;
		}
		if (st != PT_FRAME_NEED_MORE)
			break;
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		int ms = (int)((deadline - now()) * 1000) + 1;
		if (ms <= 0 || (poll(&pf, 1, ms) < 0 && errno != EINTR))
			break;
		size_t avail;
		uint8_t *space = pt_frame_reader_space(&rd, &avail);
		if (space == NULL)
			break;
		ssize_t n = recv(fd, space, avail, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			break;
		pt_frame_reader_commit(&rd, (size_t)n);
	}
	pt_frame_reader_free(&rd);
	return ok;
}

/* The create request sent by the bench itself, from connect(): seconds
 * until the ready line; *to_exec until the console add, *to_reply until
 * the reply was read. */
static double
time_create_raw(double *to_exec, double *to_reply)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/util/vmmd.sock",
	    tmpdir);
	uint64_t seen = console_launches();
	double t0 = now();
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fatal("connect %s: %s", sa.sun_path, strerror(errno));
	size_t off = 0;
	while (off < raw_request.len) {
		ssize_t n = send(fd, raw_request.data + off,
		    raw_request.len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fatal("sending the create request: %s",
			    strerror(errno));
		off += (size_t)n;
	}
	bool ok = read_reply(fd, t0 + DEADLINE_S);
	double t_reply = now();
	close(fd);
	if (!ok)
		fatal("the create request sent directly failed");
	double t_add, t_ready;
	console_wait(seen, &t_add, &t_ready);
	*to_exec = t_add - t0;
	*to_reply = t_reply - t0;
	return t_ready - t0;
}

/* The argv petreld gave the tender, from /proc. */
static char **
tender_argv(void)
{
	pid_t kids[8];
	size_t nk = children_of(daemon_pid, kids, 8);
	for (size_t k = 0; k < nk; k++) {
		char path[64];
		static char buf[16384];
		snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)kids[k]);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t r = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (r <= 0)
			continue;
		buf[r] = '\0';
		if (strstr(buf, "solo5-hvt") == NULL)
			continue;
		char **argv = calloc(MAX_ARGS, sizeof(*argv));
		if (argv == NULL)
			fatal("out of memory");
		size_t n = 0;
		for (char *p = buf; p < buf + r && n < MAX_ARGS - 1;
		    p += strlen(p) + 1)
			argv[n++] = p;
		return argv;
	}
	fatal("the tender of %s is not a child of petreld", UK_NAME);
}

static void
copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (in < 0 || out < 0)
		fatal("copy %s to %s: %s", from, to, strerror(errno));
	char buf[65536];
	ssize_t r;
	while ((r = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)r) != r)
			fatal("write %s: %s", to, strerror(errno));
	close(in);
	close(out);
}

/* Seconds from fork+exec of the tender to the ready line on its stdout. */
static double
time_direct(char **argv)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		fatal("pipe: %s", strerror(errno));
	double t0 = now();
	direct_pid = start((const char *const *)argv, p[1], true, NULL);
	close(p[1]);
	bool ok = read_until_ready(p[0], t0 + DEADLINE_S);
	double t = now() - t0;
	close(p[0]);
	kill(direct_pid, SIGTERM);
	if (!wait_deadline(direct_pid, 10, NULL))
		kill(direct_pid, SIGKILL);
	wait_deadline(direct_pid, 10, NULL);
	direct_pid = -1;
	if (!ok)
		fatal("the directly exec'd tender printed no '%s' line",
		    READY_LINE);
	return t;
}

/* ---- set-up ---- */

static void
make_image(const char *python, const char *mkimage)
{
	const char *argv[] = {python, mkimage, image, "--target", "hvt",
	    NULL};
	if (run(argv) != 0)
		fatal("mkimage failed");
}

/* The tender's ABI version is cached only once its file has settled
 * (src/host/tender.h): a freshly built tender would be asked on every
 * create for a moment, which is not what is measured. */
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
	if (wait_ms > 0) {
		printf("(the tender was just built: waiting %.1f s so that "
		    "petreld caches its ABI version)\n", wait_ms / 1000.0);
		pause_ms(wait_ms);
	}
}

static void
summary(const char *what, double *v, int n, double *mean_out,
    double *min_out)
{
	double sum = 0;
	for (int i = 0; i < n; i++)
		sum += v[i];
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	*mean_out = sum / n;
	*min_out = v[0];
	printf("  %-30s mean %7.2f ms  median %7.2f ms  min %7.2f ms  "
	    "max %7.2f ms\n", what, *mean_out * 1e3, v[n / 2] * 1e3,
	    v[0] * 1e3, v[n - 1] * 1e3);
}

int
main(int argc, char **argv)
{
	if (argc < 6 || argc > 7) {
		fprintf(stderr, "usage: %s PETRELD PETREL TENDER PYTHON "
		    "MKIMAGE [RUNS]\n", argv[0]);
		return 2;
	}
	petreld_bin = argv[1];
	petrel_bin = argv[2];
	tender_bin = argv[3];
	int runs = argc == 7 ? atoi(argv[6]) : 50;
	if (runs < 1 || runs > 100000)
		runs = 50;
	setvbuf(stdout, NULL, _IOLBF, 0);
	bench_load_start();
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);

	if (mkdtemp(base) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	have_base = true;
	snprintf(tmpdir, sizeof(tmpdir), "%s/run", base);
	snprintf(dbdir, sizeof(dbdir), "%s/db", base);
	snprintf(logdir, sizeof(logdir), "%s/log", base);
	snprintf(image, sizeof(image), "%s/bench.img", base);
	snprintf(client_out, sizeof(client_out), "%s/client.out", base);
	snprintf(daemon_log, sizeof(daemon_log), "%s/petreld.log", base);
	if (mkdir(dbdir, 0700) < 0 || mkdir(logdir, 0700) < 0)
		fatal("mkdir: %s", strerror(errno));
	char link[PATH_MAX + 16];
	snprintf(link, sizeof(link), "%s/solo5-hvt", dbdir);
	char tender_abs[PATH_MAX];
	if (realpath(tender_bin, tender_abs) == NULL ||
	    symlink(tender_abs, link) < 0)
		fatal("tender %s: %s", tender_bin, strerror(errno));
	make_image(argv[4], argv[5]);
	wait_tender_settled();
	start_petreld();
	console_start();
	load_raw_request();

	/* Warm-up: caches, page cache, the tender lookup, petreld's link to
	 * the console (made at its first launch). */
	for (int i = 0; i < 3; i++) {
		double x, y;
		time_create(NULL, NULL);
		destroy();
		time_create_raw(&x, &y);
		destroy();
	}
	create(ready_args);
	char **targv = tender_argv();
	destroy();
	/* The direct exec gets the very argv, image path included: a copy
	 * of the image sits where petreld put it while no unikernel runs. */
	const char *img_arg = NULL;
	for (size_t i = 0; targv[i] != NULL; i++)
		if (strcmp(targv[i], "--") == 0 && targv[i + 1] != NULL)
			img_arg = targv[i + 1];
	if (img_arg == NULL)
		fatal("no image in the tender's argv");
	printf("tender argv:");
	for (size_t i = 0; targv[i] != NULL; i++)
		printf(" %s", targv[i]);
	printf("\n");

	double *tc = calloc((size_t)runs, sizeof(double));
	double *tr = calloc((size_t)runs, sizeof(double));
	double *td = calloc((size_t)runs, sizeof(double));
	double *ti = calloc((size_t)runs, sizeof(double));
	double *tx = calloc((size_t)runs, sizeof(double));
	double *rr = calloc((size_t)runs, sizeof(double));
	double *rx = calloc((size_t)runs, sizeof(double));
	double *rp = calloc((size_t)runs, sizeof(double));
	if (tc == NULL || tr == NULL || td == NULL || ti == NULL ||
	    tx == NULL || rr == NULL || rx == NULL || rp == NULL)
		fatal("out of memory");
	const char *info_argv[] = {petrel_bin, "--tmpdir", tmpdir, "info",
	    NULL};
	/* Interleaved, so that drift affects all alike. */
	for (int i = 0; i < runs; i++) {
		tc[i] = time_create(&tr[i], &tx[i]);
		destroy();
		rr[i] = time_create_raw(&rx[i], &rp[i]);
		destroy();
		copy_file(image, img_arg);
		td[i] = time_direct(targv);
		unlink(img_arg);
		double t = now();
		if (run(info_argv) != 0)
			fatal("petrel info failed");
		ti[i] = now() - t;
	}
	printf("a. until the tender runs ('%s' on its console), %d runs:\n",
	    READY_LINE, runs);
	double mc, md, mr, mi, minc, mind, minr, mini;
	summary("petrel create", tc, runs, &mc, &minc);
	summary("exec of the tender", td, runs, &md, &mind);
	printf("  ratio create / direct exec: %.2fx (target <= 1.2x); "
	    "of the minima: %.2fx\n", mc / md, minc / mind);
	printf("  where the time goes:\n");
	summary("petrel create returns", tr, runs, &mr, &minr);
	summary("petrel info (a round trip)", ti, runs, &mi, &mini);
	double mx, minx;
	summary("petreld about to exec", tx, runs, &mx, &minx);
	printf("  daemon side: the same request sent by the bench over the "
	    "socket (no client exec):\n");
	double mrr, mrx, mrp, minrr, minrx, minrp;
	summary("request -> about to exec", rx, runs, &mrx, &minrx);
	summary("request -> ready", rr, runs, &mrr, &minrr);
	summary("request -> reply read", rp, runs, &mrp, &minrp);
	printf("  petreld's share (request -> ready, less the direct exec): "
	    "mean %.2f ms, of the minima %.2f ms\n", (mrr - md) * 1e3,
	    (minrr - mind) * 1e3);
	printf("  ratio request -> ready / direct exec: %.2fx; of the "
	    "minima: %.2fx\n", mrr / md, minrr / mind);

	int cycles = runs;
	static const char *const run_args[] = {"run", NULL};
	double t0 = now();
	for (int i = 0; i < cycles; i++) {
		create(run_args);
		destroy();
	}
	double el = now() - t0;
	printf("b. create+destroy: %d cycles in %.2f s: %.1f cycles/s "
	    "(%.2f ms per cycle)\n", cycles, el, cycles / el,
	    el * 1e3 / cycles);

	/* Issue 10: before the ABI version cache (src/host/tender.c) every
	 * create fork+exec'ed `<tender> --version` and waited for it; what
	 * that cost is timed here the same way, so "before" is the create
	 * plus this. */
	const char *version_argv[] = {tender_bin, "--version", NULL};
	double *tv = calloc((size_t)runs, sizeof(double));
	if (tv == NULL)
		fatal("out of memory");
	for (int i = 0; i < runs; i++) {
		double t = now();
		run(version_argv);
		tv[i] = now() - t;
	}
	printf("c. the tender's ABI version, cached since issue 10:\n");
	double mv, minv;
	summary("tender --version (no longer run)", tv, runs, &mv, &minv);
	printf("  petrel create: mean %.2f ms with the cache, about %.2f ms "
	    "before it (+%.0f%%)\n", mc * 1e3, (mc + mv) * 1e3,
	    100.0 * mv / mc);
	printf("  daemon side (request -> ready): mean %.2f ms with the "
	    "cache, about %.2f ms before it\n", mrr * 1e3, (mrr + mv) * 1e3);
	free(tv);

	free(tc);
	free(tr);
	free(td);
	free(ti);
	free(tx);
	free(rr);
	free(rx);
	free(rp);
	pt_buf_free(&raw_request);
	free(targv);
	cleanup();
	return 0;
}
