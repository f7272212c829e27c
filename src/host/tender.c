/*
 * Tenders: finding one (solo5.md §9 step 3), asking it for its ABI version,
 * and starting it.
 *
 * Starting uses fork+exec. Between the two the child runs only
 * async-signal-safe calls (the daemon may have other threads, e.g. in
 * OpenSSL or libevent): everything that allocates or can fail in an
 * interesting way (opening the console, building the CPU set) is done by
 * the parent before the fork. An exec failure travels back over a CLOEXEC
 * pipe, so the caller gets it as an error rather than as a mysterious
 * exit status 127. A child killed before its exec (SIGKILL, the OOM
 * killer) also closes that pipe; the name it took after fork tells it
 * from a tender that ran (died_before_exec).
 */
#include "tender.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "solo5.h"

#define VERSION_TIMEOUT_MS 5000
#define VERSION_MAX_OUTPUT (64 * 1024)
/* CPU ids beyond this are refused (Linux's NR_CPUS maximum is 8192). */
#define MAX_CPU_ID 8191
#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

/* The child's name (comm) between fork and exec. An exec renames the
 * process to the base name of the file, which cannot contain '/': a
 * process still so named never ran the tender. */
#define SPAWN_COMM "petrel/fork"

/* What the child does between fork and exec. */
typedef struct {
	const char *const *argv;
	int in_fd;               /* dup2'ed onto 0 */
	int out_fd;              /* dup2'ed onto 1 and 2 */
	const cpu_set_t *cpus;   /* NULL: no pinning */
	size_t cpus_size;
} child_plan;

enum child_stage {
	STAGE_SETSID = 1,
	STAGE_AFFINITY,
	STAGE_DUP,
	STAGE_EXEC,
};

/* Sent by the child over the report pipe when a step fails. */
typedef struct {
	int stage;
	int error;
} child_failure;

static void __attribute__((noreturn))
child_fail(int report_fd, int stage)
{
	child_failure f = {stage, errno};
	ssize_t w;
	do {
		w = write(report_fd, &f, sizeof(f));
	} while (w < 0 && errno == EINTR);
	_exit(127);
}

/* Runs in the child: async-signal-safe calls only. */
static void __attribute__((noreturn))
child_run(const child_plan *p, int report_fd, pid_t parent)
{
	/* The parent blocked every signal around fork(), so none of its
	 * handlers can run here; restore defaults first, then unblock. */
	struct sigaction dfl;
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	for (int sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &dfl, NULL); /* KILL, STOP: EINVAL */
	/* Before any signal can kill it: see died_before_exec. */
	(void)prctl(PR_SET_NAME, SPAWN_COMM, 0, 0, 0);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* A tender dies with the daemon that started it: a daemon started
	 * again after a crash would otherwise start a second copy of each
	 * unikernel next to the first, both writing the same block devices.
	 * (If the daemon already died since fork, nobody waits for us.) */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != parent)
		_exit(127);

	/* Its own session and process group: terminal signals aimed at the
	 * daemon do not reach it, and the whole group can be killed. */
	if (setsid() < 0)
		child_fail(report_fd, STAGE_SETSID);
	if (p->cpus != NULL && sched_setaffinity(0, p->cpus_size, p->cpus) != 0)
		child_fail(report_fd, STAGE_AFFINITY);
	/* in_fd/out_fd/report_fd are all >= 3 (see fd_above_stdio), so these
	 * dup2s cannot clobber each other. */
	if (dup2(p->in_fd, 0) < 0 || dup2(p->out_fd, 1) < 0 ||
	    dup2(p->out_fd, 2) < 0)
		child_fail(report_fd, STAGE_DUP);
#ifdef SYS_close_range
	/* Belt and braces: whatever descriptor some library opened without
	 * CLOEXEC must not leak into the tender. Failure (old kernel) is
	 * harmless: petrel's own descriptors are CLOEXEC already. */
	(void)syscall(SYS_close_range, 3u, ~0u, 4u /* CLOSE_RANGE_CLOEXEC */);
#endif
	execv(p->argv[0], (char *const *)(uintptr_t)p->argv);
	child_fail(report_fd, STAGE_EXEC);
}

/* Moves fd to a number >= 3 (keeping CLOEXEC), so that dup2 onto 0..2 in
 * the child cannot overwrite it even if the daemon runs with std fds
 * closed. Returns the fd to use, or -1 (fd closed). */
static int
fd_above_stdio(int fd)
{
	if (fd < 0 || fd > 2)
		return fd;
	int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	int saved = errno;
	close(fd);
	errno = saved;
	return moved;
}

static void
reap(pid_t pid, int *status)
{
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (status != NULL)
		*status = st;
}

/* "could not <what> <tender>: <reason>" */
static const char *
stage_text(int stage)
{
	switch (stage) {
	case STAGE_SETSID:
		return "start a session for";
	case STAGE_AFFINITY:
		return "set the CPU affinity of";
	case STAGE_DUP:
		return "set up standard descriptors for";
	default:
		return "exec";
	}
}

static int open_pidfd(pid_t pid);

/* 1: pid still bears SPAWN_COMM, 0: it does not, -1: cannot tell (no
 * /proc, or it is gone). */
static int
bears_spawn_comm(pid_t pid)
{
	char path[64], comm[32];
	snprintf(path, sizeof(path), "/proc/%ld/comm", (long)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, comm, sizeof(comm) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	comm[n] = '\0';
	comm[strcspn(comm, "\n")] = '\0';
	return strcmp(comm, SPAWN_COMM) == 0;
}

/* After EOF on the report pipe: true (with how it ended in `how`) if the
 * child died before its exec. EOF comes both from an exec, which closes
 * the pipe a moment before it renames the process, and from a death,
 * which closes it a moment before the process becomes a zombie: so look
 * until one of the two shows (renamed: it runs the tender; gone under
 * the spawn name: it never did), at most SETTLE_MS. The zombie is only
 * looked at (WNOWAIT), so its pid cannot be reused meanwhile. A child that
 * cannot be told counts as started: its end is an ordinary tender exit
 * for the caller. */
#define SETTLE_MS 1000
static bool
died_before_exec(pid_t pid, char *how, size_t cap)
{
	int pidfd = open_pidfd(pid);
	bool died = false;
	for (int ms = 0; ms < SETTLE_MS; ms++) {
		siginfo_t si;
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)pid, &si,
		    WEXITED | WNOHANG | WNOWAIT) != 0)
			break;
		int named = bears_spawn_comm(pid);
		if (named < 0)
			break;
		if (si.si_pid == pid) {
			died = named == 1;
			if (died && si.si_code == CLD_EXITED)
				snprintf(how, cap, "exited with status %d",
				    si.si_status);
			else if (died)
				snprintf(how, cap, "was killed by signal %d "
				    "(%s)", si.si_status,
				    strsignal(si.si_status));
			break;
		}
		if (named == 0)
			break;  /* renamed by its exec */
		/* Between the two: wait for its exit, 1 ms at most. */
		if (pidfd >= 0) {
			struct pollfd pf = {.fd = pidfd, .events = POLLIN};
			(void)poll(&pf, 1, 1);
		} else {
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
	}
	if (pidfd >= 0)
		close(pidfd);
	return died;
}

/* fork+exec following the plan; returns 0 once the exec succeeded. */
static int
spawn_plan(const child_plan *p, pid_t *pid_out, pt_err *err)
{
	int rep[2];
	if (pipe2(rep, O_CLOEXEC) != 0)
		return pt_fail(err, "could not start %s: pipe: %s", p->argv[0],
		    strerror(errno));
	rep[0] = fd_above_stdio(rep[0]);
	rep[1] = fd_above_stdio(rep[1]);
	if (rep[0] < 0 || rep[1] < 0) {
		int saved = errno;
		if (rep[0] >= 0)
			close(rep[0]);
		if (rep[1] >= 0)
			close(rep[1]);
		return pt_fail(err, "could not start %s: %s", p->argv[0],
		    strerror(saved));
	}
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0)
		child_run(p, rep[1], parent);
	int fork_errno = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	close(rep[1]);
	if (pid < 0) {
		close(rep[0]);
		return pt_fail(err, "could not start %s: fork: %s", p->argv[0],
		    strerror(fork_errno));
	}
	/* EOF: the exec closed the CLOEXEC write end (or the child died
	 * before it: died_before_exec). Data: a failure. */
	child_failure f;
	ssize_t r;
	do {
		r = read(rep[0], &f, sizeof(f));
	} while (r < 0 && errno == EINTR);
	close(rep[0]);
	char how[96];
	if (r == 0 && died_before_exec(pid, how, sizeof(how))) {
		reap(pid, NULL);
		return pt_fail(err, "could not start %s: the child %s before "
		    "its exec", p->argv[0], how);
	}
	if (r == 0) {
		*pid_out = pid;
		return 0;
	}
	reap(pid, NULL);
	if (r != (ssize_t)sizeof(f))
		return pt_fail(err, "could not start %s: lost the child's "
		    "status", p->argv[0]);
	return pt_fail(err, "could not %s %s: %s", stage_text(f.stage),
	    p->argv[0], strerror(f.error));
}

static int
open_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
	/* pidfds are always close-on-exec. */
	long fd = syscall(SYS_pidfd_open, pid, 0);
	return fd >= 0 ? (int)fd : -1;
#else
	(void)pid;
	return -1;
#endif
}

/* Opens the console for the tender. O_RDWR because on a FIFO it never
 * blocks (O_WRONLY would block until a reader exists, or fail with ENXIO
 * under O_NONBLOCK), and because the tender then is a reader of its own
 * FIFO: if the console reader goes away (a daemon restart), the tender's
 * writes do not raise SIGPIPE and kill the unikernel; they wait, once the
 * pipe buffer is full, until a reader is back. O_APPEND matters only for
 * a regular file as console (tests, debugging). */
static int
open_console(const char *path, pt_err *err)
{
	const char *p = path != NULL ? path : "/dev/null";
	int fd = open(p, O_RDWR | O_APPEND | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK);
	if (fd < 0)
		return pt_fail(err, "open console %s: %s", p, strerror(errno));
	/* O_NONBLOCK was only for the open (a device node must not hang
	 * us); the tender's writes must block rather than fail with
	 * EAGAIN. */
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
		int saved = errno;
		close(fd);
		return pt_fail(err, "console %s: %s", p, strerror(saved));
	}
	return fd;
}

/* The CPU set for the ids (heap, CPU_FREE), or NULL with a reason. */
static cpu_set_t *
cpu_set_of(const int64_t *ids, size_t n, size_t *size, pt_err *err)
{
	int64_t max = 0;
	for (size_t i = 0; i < n; i++) {
		if (ids[i] < 0 || ids[i] > MAX_CPU_ID) {
			pt_fail(err, "CPU id %lld out of range",
			    (long long)ids[i]);
			return NULL;
		}
		if (ids[i] > max)
			max = ids[i];
	}
	cpu_set_t *set = CPU_ALLOC((size_t)max + 1);
	if (set == NULL) {
		pt_fail(err, "CPU set: out of memory");
		return NULL;
	}
	*size = CPU_ALLOC_SIZE((size_t)max + 1);
	CPU_ZERO_S(*size, set);
	for (size_t i = 0; i < n; i++)
		CPU_SET_S((size_t)ids[i], *size, set);
	return set;
}

int
pt_spawn(const pt_spawn_args *sa, pid_t *pid, int *pidfd, pt_err *err)
{
	*pid = -1;
	*pidfd = -1;
	if (sa->argv == NULL || sa->argv[0] == NULL)
		return pt_fail(err, "spawn: empty command");
	child_plan plan = {.argv = sa->argv};
	cpu_set_t *cpus = NULL;
	if (sa->ncpuids > 0) {
		cpus = cpu_set_of(sa->cpuids, sa->ncpuids, &plan.cpus_size,
		    err);
		if (cpus == NULL)
			return pt_fail_prefix(err, "spawn %s", sa->argv[0]);
		plan.cpus = cpus;
	}
	int console = open_console(sa->console_path, err);
	if (console >= 0 && (console = fd_above_stdio(console)) < 0)
		pt_fail(err, "console: %s", strerror(errno));
	if (console < 0) {
		CPU_FREE(cpus);
		return pt_fail_prefix(err, "spawn %s", sa->argv[0]);
	}
	plan.in_fd = console;
	plan.out_fd = console;
	int rc = spawn_plan(&plan, pid, err);
	close(console);
	CPU_FREE(cpus);
	if (rc == 0)
		*pidfd = open_pidfd(*pid);
	return rc;
}

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Collects a child's output until it exited and its pipe is drained, or
 * the deadline passes, or the output exceeds its bound. */
typedef struct {
	pid_t pid;
	int pidfd;        /* -1: fall back to polling waitpid */
	int out;          /* read end */
	char buf[VERSION_MAX_OUTPUT + 1];
	size_t len;
	bool eof, exited;
	int status;
} version_run;

/* Reads what is available now; -1 when the output is too long. */
static int
drain(version_run *v)
{
	while (!v->eof) {
		if (v->len == sizeof(v->buf))
			return -1;
		ssize_t r = read(v->out, v->buf + v->len,
		    sizeof(v->buf) - v->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return 0; /* EAGAIN: nothing more right now */
		if (r == 0)
			v->eof = true;
		v->len += (size_t)r;
		if (v->len > VERSION_MAX_OUTPUT)
			return -1;
	}
	return 0;
}

static void
check_exited(version_run *v)
{
	if (v->exited)
		return;
	pid_t r;
	do {
		r = waitpid(v->pid, &v->status, WNOHANG);
	} while (r < 0 && errno == EINTR);
	if (r == v->pid)
		v->exited = true;
}

/* 0 when done, -1 with a reason on timeout or oversized output; the child
 * is killed and reaped in every case but success. */
static int
collect(version_run *v, const char *tender, pt_err *err)
{
	int64_t deadline = now_ms() + VERSION_TIMEOUT_MS;
	int fl = fcntl(v->out, F_GETFL);
	if (fl >= 0)
		(void)fcntl(v->out, F_SETFL, fl | O_NONBLOCK);
	int rc = 0;
	/* Once the tender exited, whatever it wrote is in the pipe: a
	 * grandchild still holding the pipe open does not keep us waiting. */
	while (!v->exited) {
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			rc = pt_fail(err, "%s --version: no answer within "
			    "%d s", tender, VERSION_TIMEOUT_MS / 1000);
			break;
		}
		struct pollfd pf[2];
		nfds_t n = 0;
		if (!v->eof)
			pf[n++] = (struct pollfd){.fd = v->out, .events = POLLIN};
		if (v->pidfd >= 0)
			pf[n++] = (struct pollfd){.fd = v->pidfd,
			    .events = POLLIN};
		/* Without a pidfd, look at the child every 20 ms. */
		int wait = v->pidfd >= 0 ? (int)left : (left > 20 ? 20 :
		    (int)left);
		/* With nothing to watch (no pidfd, pipe at EOF), poll()
		 * merely waits. */
		if (poll(pf, n, wait) < 0 && errno != EINTR) {
			rc = pt_fail(err, "%s --version: poll: %s", tender,
			    strerror(errno));
			break;
		}
		if (drain(v) != 0) {
			rc = pt_fail(err, "%s --version: output longer than "
			    "%d bytes", tender, VERSION_MAX_OUTPUT);
			break;
		}
		check_exited(v);
	}
	if (rc == 0 && drain(v) != 0)
		rc = pt_fail(err, "%s --version: output longer than %d bytes",
		    tender, VERSION_MAX_OUTPUT);
	if (!v->exited) {
		/* The whole process group: a script tender's children too. */
		kill(-v->pid, SIGKILL);
		kill(v->pid, SIGKILL);
		reap(v->pid, &v->status);
		v->exited = true;
	}
	return rc;
}

int
pt_tender_abi_version(const char *tender, uint32_t *abi, pt_err *err)
{
	int out[2];
	if (pipe2(out, O_CLOEXEC) != 0)
		return pt_fail(err, "%s --version: pipe: %s", tender,
		    strerror(errno));
	out[0] = fd_above_stdio(out[0]);
	out[1] = fd_above_stdio(out[1]);
	int devnull = fd_above_stdio(open("/dev/null", O_RDONLY | O_CLOEXEC));
	if (out[0] < 0 || out[1] < 0 || devnull < 0) {
		int saved = errno;
		for (int i = 0; i < 2; i++)
			if (out[i] >= 0)
				close(out[i]);
		if (devnull >= 0)
			close(devnull);
		return pt_fail(err, "%s --version: %s", tender,
		    strerror(saved));
	}
	const char *const argv[] = {tender, "--version", NULL};
	child_plan plan = {.argv = argv, .in_fd = devnull, .out_fd = out[1]};
	version_run *v = calloc(1, sizeof(*v));
	int rc = v == NULL ? pt_fail(err, "%s --version: out of memory",
	    tender) : spawn_plan(&plan, &v->pid, err);
	close(out[1]);
	close(devnull);
	if (rc == 0) {
		v->out = out[0];
		v->pidfd = open_pidfd(v->pid);
		rc = collect(v, tender, err);
		if (v->pidfd >= 0)
			close(v->pidfd);
	}
	close(out[0]);
	if (rc == 0 && pt_solo5_parse_version(v->buf, v->len, abi) != 0) {
		if (WIFSIGNALED(v->status))
			rc = pt_fail(err, "%s --version: killed by signal %d",
			    tender, WTERMSIG(v->status));
		else
			rc = pt_fail(err, "%s --version: no \"ABI version "
			    "<N>\" line in its output (exit status %d)",
			    tender, WEXITSTATUS(v->status));
	}
	free(v);
	return rc;
}

/* ---- the ABI version cache (see tender.h) ----
 *
 * Why stat() suffices: every change to a file's contents or metadata sets
 * its ctime, which nobody can set back, to the current time; so once an
 * entry was taken from a file whose timestamps are older than the moment
 * the stat was made, any later change gives a different ctime. The margin
 * (PT_TENDER_CACHE_SETTLE_MS) covers file systems whose timestamps are
 * coarser than the clock (FAT: 2 s). */

#define CANDIDATE_MAX 4096

typedef struct {
	bool used;
	char path[CANDIDATE_MAX];
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim, ctim;
	uint32_t abi;
	uint64_t last_use;       /* LRU clock */
} abi_cache_entry;

static abi_cache_entry abi_cache[PT_TENDER_CACHE_ENTRIES];
static uint64_t abi_cache_clock;
/* The daemon asks from its event loop only; the lock keeps the cache sane
 * should a library thread ever ask too. */
static pthread_mutex_t abi_cache_lock = PTHREAD_MUTEX_INITIALIZER;

static bool
same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

static bool
same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	    a->st_size == b->st_size && same_time(&a->st_mtim, &b->st_mtim) &&
	    same_time(&a->st_ctim, &b->st_ctim);
}

static bool
entry_is(const abi_cache_entry *e, const char *path, const struct stat *st)
{
	return e->used && strcmp(e->path, path) == 0 && e->dev == st->st_dev &&
	    e->ino == st->st_ino && e->size == st->st_size &&
	    same_time(&e->mtim, &st->st_mtim) &&
	    same_time(&e->ctim, &st->st_ctim);
}

static int64_t
timespec_ms(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000 + t->tv_nsec / 1000000;
}

/* The file's timestamps are old enough, as of `now` (taken before the
 * stat), for any later change to show. */
static bool
settled(const struct stat *st, const struct timespec *now)
{
	int64_t limit = timespec_ms(now) - PT_TENDER_CACHE_SETTLE_MS;
	return timespec_ms(&st->st_mtim) < limit &&
	    timespec_ms(&st->st_ctim) < limit;
}

static bool
abi_cache_lookup(const char *path, const struct stat *st, uint32_t *abi)
{
	bool hit = false;
	pthread_mutex_lock(&abi_cache_lock);
	for (size_t i = 0; i < PT_TENDER_CACHE_ENTRIES; i++) {
		abi_cache_entry *e = &abi_cache[i];
		if (entry_is(e, path, st)) {
			e->last_use = ++abi_cache_clock;
			*abi = e->abi;
			hit = true;
			break;
		}
	}
	pthread_mutex_unlock(&abi_cache_lock);
	return hit;
}

/* Replaces the entry of the same path (an older version of the file), or
 * a free one, or the least recently used one. */
static void
abi_cache_store(const char *path, const struct stat *st, uint32_t abi)
{
	if (strlen(path) >= CANDIDATE_MAX)
		return;
	pthread_mutex_lock(&abi_cache_lock);
	abi_cache_entry *slot = NULL;
	for (size_t i = 0; i < PT_TENDER_CACHE_ENTRIES && slot == NULL; i++)
		if (abi_cache[i].used && strcmp(abi_cache[i].path, path) == 0)
			slot = &abi_cache[i];
	for (size_t i = 0; i < PT_TENDER_CACHE_ENTRIES && slot == NULL; i++)
		if (!abi_cache[i].used)
			slot = &abi_cache[i];
	if (slot == NULL) {
		slot = &abi_cache[0];
		for (size_t i = 1; i < PT_TENDER_CACHE_ENTRIES; i++)
			if (abi_cache[i].last_use < slot->last_use)
				slot = &abi_cache[i];
	}
	slot->used = true;
	memcpy(slot->path, path, strlen(path) + 1);
	slot->dev = st->st_dev;
	slot->ino = st->st_ino;
	slot->size = st->st_size;
	slot->mtim = st->st_mtim;
	slot->ctim = st->st_ctim;
	slot->abi = abi;
	slot->last_use = ++abi_cache_clock;
	pthread_mutex_unlock(&abi_cache_lock);
}

void
pt_tender_cache_clear(void)
{
	pthread_mutex_lock(&abi_cache_lock);
	memset(abi_cache, 0, sizeof(abi_cache));
	abi_cache_clock = 0;
	pthread_mutex_unlock(&abi_cache_lock);
}

/* pt_tender_abi_version through the cache. The answer is remembered only
 * if the file did not change while its --version ran and had settled
 * before. */
static int
cached_abi_version(const char *tender, uint32_t *abi, pt_err *err)
{
	struct timespec now;
	struct stat before, after;
	clock_gettime(CLOCK_REALTIME, &now);
	bool have_stat = stat(tender, &before) == 0;
	if (have_stat && abi_cache_lookup(tender, &before, abi))
		return 0;
	if (pt_tender_abi_version(tender, abi, err) != 0)
		return -1;
	if (have_stat && settled(&before, &now) && stat(tender, &after) == 0 &&
	    same_file(&before, &after))
		abi_cache_store(tender, &before, *abi);
	return 0;
}

static bool
is_executable_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    access(path, X_OK) == 0;
}

/* The first PATH directory holding an executable `file`. Only absolute
 * directories count: a tender is never taken from the current directory. */
static bool
find_on_path(const char *file, char *out, size_t cap)
{
	const char *path = getenv("PATH");
	if (path == NULL)
		path = DEFAULT_PATH;
	while (*path != '\0') {
		const char *end = strchr(path, ':');
		size_t len = end ? (size_t)(end - path) : strlen(path);
		if (len > 0 && path[0] == '/') {
			int n = snprintf(out, cap, "%.*s/%s", (int)len, path,
			    file);
			if (n > 0 && (size_t)n < cap && is_executable_file(out))
				return true;
		}
		path += len;
		if (*path == ':')
			path++;
	}
	return false;
}

static bool
valid_target(const char *target)
{
	size_t n = strlen(target);
	if (n == 0 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((target[i] >= 'a' && target[i] <= 'z') ||
		    (target[i] >= '0' && target[i] <= '9')))
			return false;
	return true;
}

/* Tries one candidate; true if it is the tender we want. Notes what
 * happened in `tried` otherwise. */
static bool
try_candidate(const char *cand, uint32_t abi, pt_buf *tried)
{
	pt_err why;
	uint32_t got;
	if (cached_abi_version(cand, &got, &why) != 0)
		pt_buf_printf(tried, "; %s: %s", cand, why.msg);
	else if (got != abi)
		pt_buf_printf(tried, "; %s: ABI version %u", cand, got);
	else
		return true;
	return false;
}

int
pt_tender_find(const char *dbdir, const char *target, uint32_t abi,
    char *path, size_t cap, pt_err *err)
{
	if (!valid_target(target))
		return pt_fail(err, "invalid tender target \"%.32s\"", target);
	char versioned[64], plain[64];
	snprintf(plain, sizeof(plain), "solo5-%s", target);
	snprintf(versioned, sizeof(versioned), "solo5-%s.%u", target, abi);
	/* solo5.md §9 step 3: versioned before plain, dbdir before PATH. */
	const struct {
		const char *file;
		bool in_dbdir;
	} order[] = {
		{versioned, true},
		{versioned, false},
		{plain, true},
		{plain, false},
	};
	pt_buf tried = {0};
	char cand[CANDIDATE_MAX];
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if (order[i].in_dbdir) {
			if (dbdir == NULL)
				continue;
			int n = snprintf(cand, sizeof(cand), "%s/%s", dbdir,
			    order[i].file);
			if (n < 0 || (size_t)n >= sizeof(cand))
				continue;
			if (!is_executable_file(cand)) {
				pt_buf_printf(&tried, "; %s: %s", cand,
				    access(cand, F_OK) == 0 ?
				    "not executable" : "missing");
				continue;
			}
		} else if (!find_on_path(order[i].file, cand, sizeof(cand))) {
			pt_buf_printf(&tried, "; %s: not on PATH",
			    order[i].file);
			continue;
		}
		if (!try_candidate(cand, abi, &tried))
			continue;
		pt_buf_free(&tried);
		if (strlen(cand) >= cap)
			return pt_fail(err, "tender path %s too long", cand);
		memcpy(path, cand, strlen(cand) + 1);
		return 0;
	}
	int rc = pt_fail(err, "no solo5-%s tender for ABI version %u (tried%.*s)",
	    target, abi, tried.data ? (int)tried.len - 1 : 0,
	    tried.data ? (const char *)tried.data + 1 : "");
	pt_buf_free(&tried);
	return rc;
}
