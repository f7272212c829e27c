/*
 * The listening socket <tmpdir>/util/vmmd.sock: our own, or one handed
 * over by systemd (LISTEN_PID/LISTEN_FDS, fd 3). Accepting never makes the
 * daemon exit: when the process runs out of descriptors or memory the
 * accept event is paused for a moment instead of spinning.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "petreld.h"

#define LISTEN_BACKLOG 512
#define ACCEPT_PAUSE_MS 100
#define SD_LISTEN_FDS_START 3

static int
set_cloexec_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFD);
	if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
		return -1;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	return 0;
}

/* systemd socket activation, by hand: LISTEN_PID must be us, and fd 3 must
 * be a listening AF_UNIX stream socket. Returns the fd, -1 if not activated,
 * -2 on a malformed hand-over (err set). */
static int
systemd_socket(pt_err *err)
{
	const char *pid_s = getenv("LISTEN_PID");
	const char *fds_s = getenv("LISTEN_FDS");
	if (pid_s == NULL || fds_s == NULL)
		return -1;
	char *end;
	long pid = strtol(pid_s, &end, 10);
	if (*end != '\0' || pid != (long)getpid())
		return -1;
	long nfds = strtol(fds_s, &end, 10);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (*end != '\0' || nfds < 1)
		return -1;
	if (nfds > 1) {
		pt_fail(err, "systemd passed %ld sockets, petreld uses one", nfds);
		return -2;
	}
	int fd = SD_LISTEN_FDS_START;
	int type = 0, domain = 0, acc = 0;
	socklen_t l = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0 ||
	    (l = sizeof(int), getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain,
	    &l)) < 0 ||
	    (l = sizeof(int), getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc,
	    &l)) < 0) {
		pt_fail(err, "systemd socket (fd 3): %s", strerror(errno));
		return -2;
	}
	if (type != SOCK_STREAM || domain != AF_UNIX || !acc) {
		pt_fail(err, "systemd socket (fd 3) is not a listening unix "
		    "stream socket");
		return -2;
	}
	if (set_cloexec_nonblock(fd) < 0) {
		pt_fail(err, "systemd socket (fd 3): %s", strerror(errno));
		return -2;
	}
	return fd;
}

/* Is a daemon answering on the socket path? (connect succeeds) */
static bool
socket_is_live(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	bool live = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
	close(fd);
	return live;
}

static int
own_socket(pt_daemon *d, pt_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(d->sock_path) >= sizeof(sa.sun_path))
		return pt_fail(err, "socket path %s is too long", d->sock_path);
	strcpy(sa.sun_path, d->sock_path);
	struct stat st;
	if (lstat(d->sock_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return pt_fail(err, "%s exists and is not a socket",
			    d->sock_path);
		if (socket_is_live(&sa))
			return pt_fail(err, "petreld already running on %s",
			    d->sock_path);
		/* A stale socket of a daemon that died. */
		if (unlink(d->sock_path) < 0)
			return pt_fail(err, "removing stale socket %s: %s",
			    d->sock_path, strerror(errno));
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return pt_fail(err, "socket: %s", strerror(errno));
	/* Only root and the group may talk to the daemon. */
	mode_t old = umask(0117);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
		pt_fail(err, "listening on %s: %s", d->sock_path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int
listener_open(pt_daemon *d, pt_err *err)
{
	int fd = systemd_socket(err);
	if (fd == -2)
		return -1;
	if (fd >= 0) {
		log_info("using the socket passed by systemd");
		d->listen_fd = fd;
		return 0;
	}
	fd = own_socket(d, err);
	if (fd < 0)
		return -1;
	d->listen_fd = fd;
	d->socket_is_ours = true;
	log_info("listening on %s", d->sock_path);
	return 0;
}

static void
accept_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pt_daemon *d = arg;
	if (!d->shutting_down)
		event_add(d->accept_ev, NULL);
}

static void
accept_pause(pt_daemon *d)
{
	struct timeval tv = {0, ACCEPT_PAUSE_MS * 1000};
	event_del(d->accept_ev);
	evtimer_add(d->accept_pause_ev, &tv);
}

static void
on_accept(evutil_socket_t lfd, short what, void *arg)
{
	(void)what;
	pt_daemon *d = arg;
	/* Drain a burst, but bounded, so one loop iteration stays short. */
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
				log_warn("accept: %s; pausing for %d ms",
				    strerror(errno), ACCEPT_PAUSE_MS);
				accept_pause(d);
				return;
			default:
				log_err("accept: %s", strerror(errno));
				accept_pause(d);
				return;
			}
		}
		if (d->nconns >= d->o.max_conns) {
			log_warn("too many connections (%zu), refusing one",
			    d->nconns);
			close(fd);
			continue;
		}
		conn_accepted(d, fd);
	}
}

int
listener_start(pt_daemon *d, pt_err *err)
{
	d->accept_ev = event_new(d->base, d->listen_fd, EV_READ | EV_PERSIST,
	    on_accept, d);
	d->accept_pause_ev = evtimer_new(d->base, accept_resume, d);
	if (d->accept_ev == NULL || d->accept_pause_ev == NULL ||
	    event_add(d->accept_ev, NULL) < 0)
		return pt_fail(err, "cannot watch the listening socket");
	return 0;
}

void
listener_stop(pt_daemon *d)
{
	if (d->accept_ev != NULL) {
		event_free(d->accept_ev);
		d->accept_ev = NULL;
	}
	if (d->accept_pause_ev != NULL) {
		event_free(d->accept_pause_ev);
		d->accept_pause_ev = NULL;
	}
	if (d->listen_fd >= 0) {
		close(d->listen_fd);
		d->listen_fd = -1;
		if (d->socket_is_ours)
			unlink(d->sock_path);
	}
}
