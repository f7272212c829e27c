/*
 * The TCP side: listening sockets for IPv4 and IPv6 (by default one
 * dual-stack socket on [::], or 0.0.0.0 where the host has no IPv6),
 * systemd socket activation (every socket passed in LISTEN_FDS), and the
 * accept loop with its caps: at most --max-connections sessions, at most
 * --max-per-address from one client address. A connection beyond a cap
 * is closed at once, before any TLS (logged). Out of descriptors, the
 * loop pauses for a moment instead of spinning.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>

#include "server.h"
#include "tls.h"

#define SD_LISTEN_FDS_START 3

static int
set_flags(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	int fdfl = fcntl(fd, F_GETFD);
	if (fl < 0 || fdfl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0)
		return -1;
	return 0;
}

/* Sockets systemd passed us (LISTEN_PID is ours): 0 none, n, or -1. */
static int
systemd_sockets(tls_daemon *d, pt_err *err)
{
	const char *pid = getenv("LISTEN_PID");
	const char *fds = getenv("LISTEN_FDS");
	if (pid == NULL || fds == NULL)
		return 0;
	char *end;
	long p = strtol(pid, &end, 10);
	if (*end != '\0' || p != (long)getpid())
		return 0;
	long n = strtol(fds, &end, 10);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (*end != '\0' || n < 1 || n > TLS_MAX_LISTEN)
		return pt_fail(err, "socket activation: expected 1 to %d "
		    "sockets, LISTEN_FDS=%s", TLS_MAX_LISTEN, fds);
	for (long i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + (int)i;
		int type = 0, listening = 0, domain = 0;
		socklen_t len = sizeof(int);
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
		    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening,
		    &len) < 0 ||
		    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 ||
		    type != SOCK_STREAM || !listening ||
		    (domain != AF_INET && domain != AF_INET6))
			return pt_fail(err, "socket activation: fd %d is not "
			    "a listening TCP socket", fd);
		if (set_flags(fd) < 0)
			return pt_fail(err, "socket activation: fcntl: %s",
			    strerror(errno));
		d->listen_fd[d->nlisten_fds++] = fd;
	}
	return (int)n;
}

static int
bind_one(tls_daemon *d, const char *host, bool dual, pt_err *err)
{
	char port[16];
	snprintf(port, sizeof(port), "%d", d->o.port);
	struct addrinfo hints, *res;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	int r = getaddrinfo(host, port, &hints, &res);
	if (r != 0)
		return pt_fail(err, "--listen %s: %s (a numeric address is "
		    "expected)", host, gai_strerror(r));
	int fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd < 0) {
		pt_fail(err, "socket for %s: %s", host, strerror(errno));
		freeaddrinfo(res);
		return -1;
	}
	int one = 1, v6only = dual ? 0 : 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (res->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only,
		    sizeof(v6only));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 ||
	    listen(fd, PT_LISTEN_BACKLOG) < 0) {
		pt_fail(err, "listen on %s port %d: %s", host, d->o.port,
		    strerror(errno));
		close(fd);
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	d->listen_fd[d->nlisten_fds++] = fd;
	return 0;
}

int
listen_open(tls_daemon *d, pt_err *err)
{
	int n = systemd_sockets(d, err);
	if (n < 0)
		return -1;
	if (n > 0)
		return 0;
	if (d->o.nlisten > 0) {
		for (size_t i = 0; i < d->o.nlisten; i++)
			if (bind_one(d, d->o.listen[i], false, err) < 0)
				return -1;
		return 0;
	}
	/* Both families on one socket; a host without IPv6 gets v4. */
	pt_err e6 = {{0}};
	if (bind_one(d, "::", true, &e6) == 0)
		return 0;
	if (bind_one(d, "0.0.0.0", false, err) == 0) {
		tls_log(TLS_LOG_WARN, "no IPv6 (%s): listening on IPv4 only",
		    e6.msg);
		return 0;
	}
	return -1;
}

static void listen_enable(tls_daemon *d, bool on);

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	listen_enable(arg, true);
}

/* A v4 client on the dual-stack socket is ::ffff:a.b.c.d: one address,
 * one form, for the per-address cap. */
static void
unmap(struct sockaddr_storage *ss)
{
	if (ss->ss_family != AF_INET6)
		return;
	struct sockaddr_in6 *a6 = (void *)ss;
	if (!IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr))
		return;
	struct sockaddr_in a4;
	memset(&a4, 0, sizeof(a4));
	a4.sin_family = AF_INET;
	a4.sin_port = a6->sin6_port;
	memcpy(&a4.sin_addr, &a6->sin6_addr.s6_addr[12], 4);
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, &a4, sizeof(a4));
}

static void
on_accept(evutil_socket_t lfd, short what, void *arg)
{
	(void)what;
	tls_daemon *d = arg;
	for (int i = 0; i < 32; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(lfd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				tls_log(TLS_LOG_WARN, "accept: %s; pausing",
				    strerror(errno));
				listen_enable(d, false);
				struct timeval tv = {0,
				    PT_ACCEPT_BACKOFF_MS * 1000};
				evtimer_add(d->accept_retry, &tv);
			}
			return;
		}
		unmap(&ss);
		if (d->nsessions >= d->o.max_conns) {
			tls_log(TLS_LOG_WARN, "%zu connections already "
			    "(--max-connections): closing a new one",
			    d->nsessions);
			close(fd);
			continue;
		}
		if (session_count_addr(d, &ss) >= d->o.max_per_addr) {
			char host[INET6_ADDRSTRLEN] = "?";
			const void *a = ss.ss_family == AF_INET ?
			    (const void *)&((struct sockaddr_in *)(void *)&ss)
			    ->sin_addr : (const void *)&((struct sockaddr_in6 *)
			    (void *)&ss)->sin6_addr;
			inet_ntop(ss.ss_family, a, host, sizeof(host));
			tls_log(TLS_LOG_WARN, "%zu connections from %s already "
			    "(--max-per-address): closing a new one",
			    d->o.max_per_addr, host);
			close(fd);
			continue;
		}
		session_start(d, fd, fd, &ss);
	}
}

static void
listen_enable(tls_daemon *d, bool on)
{
	for (size_t i = 0; i < d->nlisten_fds; i++) {
		if (on)
			event_add(d->listen_ev[i], NULL);
		else
			event_del(d->listen_ev[i]);
	}
}

int
listen_start(tls_daemon *d, pt_err *err)
{
	d->accept_retry = evtimer_new(d->base, on_retry, d);
	if (d->accept_retry == NULL)
		return pt_fail(err, "out of memory");
	for (size_t i = 0; i < d->nlisten_fds; i++) {
		d->listen_ev[i] = event_new(d->base, d->listen_fd[i],
		    EV_READ | EV_PERSIST, on_accept, d);
		if (d->listen_ev[i] == NULL)
			return pt_fail(err, "out of memory");
	}
	listen_enable(d, true);
	return 0;
}

void
listen_stop(tls_daemon *d)
{
	for (size_t i = 0; i < d->nlisten_fds; i++) {
		if (d->listen_ev[i] != NULL)
			event_free(d->listen_ev[i]);
		d->listen_ev[i] = NULL;
		close(d->listen_fd[i]);
	}
	d->nlisten_fds = 0;
	if (d->accept_retry != NULL)
		event_free(d->accept_retry);
	d->accept_retry = NULL;
}

void
listen_session_gone(tls_daemon *d)
{
	tls_check_done(d);
}
