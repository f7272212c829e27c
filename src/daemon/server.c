#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define SD_LISTEN_FDS_START 3

static int
set_nonblock_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	int fdfl = fcntl(fd, F_GETFD);
	if (fdfl < 0 || fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0)
		return -1;
	return 0;
}

/* The socket systemd passed us, if any: LISTEN_PID must be our pid and
 * LISTEN_FDS exactly 1. The variables are removed so that children (the
 * tenders) do not see them. Returns the fd, -1 if none, -2 on a bad one. */
static int
systemd_socket(pt_err *err)
{
	const char *pid = getenv("LISTEN_PID");
	const char *fds = getenv("LISTEN_FDS");
	if (pid == NULL || fds == NULL)
		return -1;
	char *end;
	long p = strtol(pid, &end, 10);
	if (*end != '\0' || p != (long)getpid())
		return -1;
	long n = strtol(fds, &end, 10);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (*end != '\0' || n != 1)
		return pt_fail(err, "socket activation: expected 1 socket, "
		    "LISTEN_FDS=%s", fds), -2;
	int fd = SD_LISTEN_FDS_START;
	int type = 0, listening = 0, domain = 0;
	socklen_t len = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
		return pt_fail(err, "socket activation: fd 3 is not a "
		    "socket: %s", strerror(errno)), -2;
	if (type != SOCK_STREAM || !listening || domain != AF_UNIX)
		return pt_fail(err, "socket activation: fd 3 is not a "
		    "listening Unix stream socket"), -2;
	if (set_nonblock_cloexec(fd) < 0)
		return pt_fail(err, "socket activation: fcntl: %s",
		    strerror(errno)), -2;
	return fd;
}

static int
fill_addr(struct sockaddr_un *sa, const char *path, pt_err *err)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return pt_fail(err, "socket path too long (max %zu bytes): %s",
		    sizeof(sa->sun_path) - 1, path);
	strcpy(sa->sun_path, path);
	return 0;
}

/* A socket file left by a dead daemon is removed; one a live daemon
 * answers on is not, and neither is anything that is not a socket. */
static int
clear_stale(const char *path, const char *daemon,
    const struct sockaddr_un *sa, pt_err *err)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 :
		    pt_fail(err, "%s: %s", path, strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		return pt_fail(err, "%s exists and is not a socket", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return pt_fail(err, "socket: %s", strerror(errno));
	int rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	int e = errno;
	close(fd);
	if (rc == 0)
		return pt_fail(err, "%s already running on %s", daemon, path);
	if (e != ECONNREFUSED && e != ENOENT)
		return pt_fail(err, "checking %s: %s", path, strerror(e));
	if (unlink(path) < 0 && errno != ENOENT)
		return pt_fail(err, "removing stale socket %s: %s", path,
		    strerror(errno));
	return 0;
}

int
pt_server_socket(const char *path, const char *daemon, mode_t mode,
    bool *activated, pt_err *err)
{
	int fd = systemd_socket(err);
	if (fd == -2)
		return -1;
	if (fd >= 0) {
		*activated = true;
		return fd;
	}
	*activated = false;
	struct sockaddr_un sa;
	if (fill_addr(&sa, path, err) < 0 ||
	    clear_stale(path, daemon, &sa, err) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return pt_fail(err, "socket: %s", strerror(errno));
	/* The umask gives the socket its mode from the start: no window in
	 * which others could connect. */
	mode_t old = umask(~mode & 0777);
	int rc = bind(fd, (const struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0) {
		pt_fail(err, "bind %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (listen(fd, PT_LISTEN_BACKLOG) < 0) {
		pt_fail(err, "listen on %s: %s", path, strerror(errno));
		unlink(path);
		close(fd);
		return -1;
	}
	return fd;
}

struct pt_server {
	struct event *accept_ev;
	struct event *resume_ev;
	int fd;
	size_t conns;
	size_t max_conns;
	pt_server_accept_cb cb;
	void *ctx;
	void (*log)(int level, const char *msg);
};

static void __attribute__((format(printf, 3, 4)))
server_log(pt_server *s, int level, const char *fmt, ...)
{
	if (s->log == NULL)
		return;
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	s->log(level, msg);
}

static void
pause_accepting(pt_server *s)
{
	struct timeval tv = {0, PT_ACCEPT_BACKOFF_MS * 1000};
	event_del(s->accept_ev);
	event_add(s->resume_ev, &tv);
}

static void
on_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pt_server *s = arg;
	event_add(s->accept_ev, NULL);
}

static void
on_accept(evutil_socket_t lfd, short what, void *arg)
{
	(void)what;
	pt_server *s = arg;
	/* Drain the backlog, but in bounded batches to stay fair to the
	 * other events. */
	for (int i = 0; i < 64; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			switch (errno) {
			case EAGAIN:
			case EINTR:
			case ECONNABORTED:
			case EPROTO:
				return;
			case EMFILE:
			case ENFILE:
			case ENOBUFS:
			case ENOMEM:
				/* Out of descriptors or memory: this fails
				 * one client, not the daemon. Come back
				 * when something may have been freed. */
				server_log(s, 1, "accept: %s; pausing for %d ms",
				    strerror(errno), PT_ACCEPT_BACKOFF_MS);
				pause_accepting(s);
				return;
			default:
				server_log(s, 0, "accept: %s; pausing for %d ms",
				    strerror(errno), PT_ACCEPT_BACKOFF_MS);
				pause_accepting(s);
				return;
			}
		}
		if (s->conns >= s->max_conns) {
			server_log(s, 1, "too many connections (%zu), refusing "
			    "one", s->conns);
			close(fd);
			continue;
		}
		s->conns++;
		s->cb(fd, s->ctx);
	}
}

pt_server *
pt_server_new(struct event_base *base, int listen_fd, size_t max_conns,
    pt_server_accept_cb cb, void *ctx)
{
	pt_server *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->fd = listen_fd;
	s->max_conns = max_conns;
	s->cb = cb;
	s->ctx = ctx;
	s->accept_ev = event_new(base, listen_fd, EV_READ | EV_PERSIST,
	    on_accept, s);
	s->resume_ev = evtimer_new(base, on_resume, s);
	if (s->accept_ev == NULL || s->resume_ev == NULL ||
	    event_add(s->accept_ev, NULL) < 0) {
		if (s->accept_ev)
			event_free(s->accept_ev);
		if (s->resume_ev)
			event_free(s->resume_ev);
		free(s);
		return NULL;
	}
	return s;
}

void
pt_server_conn_closed(pt_server *s)
{
	if (s->conns > 0)
		s->conns--;
}

void
pt_server_set_log(pt_server *s, void (*log)(int level, const char *msg))
{
	s->log = log;
}

size_t
pt_server_conn_count(const pt_server *s)
{
	return s->conns;
}

void
pt_server_free(pt_server *s, const char *path)
{
	if (s == NULL)
		return;
	event_free(s->accept_ev);
	event_free(s->resume_ev);
	close(s->fd);
	if (path != NULL)
		unlink(path);
	free(s);
}
