/*
 * petreld's listening socket <tmpdir>/util/vmmd.sock, through the
 * plumbing shared with petrel-console (src/daemon/server.c): our own
 * socket or systemd's, stale-socket removal, refusal when a live petreld
 * answers, an accept loop that backs off instead of failing.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "petreld.h"

static void
server_log(int level, const char *msg)
{
	if (level == 0)
		log_err("%s", msg);
	else
		log_warn("%s", msg);
}

/* Whoever reaches vmmd.sock commands every unikernel: root, and with
 * --group the operators. The socket is bound 0600 and only then opened to
 * the group, so nobody else ever has a window. util/ is root's alone, so
 * the path cannot be swapped between bind and chown. */
static int
open_to_operators(pt_daemon *d, pt_err *err)
{
	gid_t gid;
	if (d->o.group == NULL)
		return 0;
	if (rundir_group(d->o.group, "group", &gid, err) < 0)
		return -1;
	if (chown(d->sock_path, (uid_t)-1, gid) < 0 ||
	    chmod(d->sock_path, 0660) < 0)
		return pt_fail(err, "giving %s to group %s: %s", d->sock_path,
		    d->o.group, strerror(errno));
	return 0;
}

int
listener_open(pt_daemon *d, pt_err *err)
{
	bool activated;
	int fd = pt_server_socket(d->sock_path, "petreld", 0600, &activated,
	    err);
	if (fd < 0)
		return -1;
	d->listen_fd = fd;
	d->socket_is_ours = !activated;
	if (activated) {
		/* Its owner and mode are the unit's (SocketMode=...). */
		log_info("using the socket passed by systemd");
		return 0;
	}
	log_info("listening on %s", d->sock_path);
	return open_to_operators(d, err);
}

static void
on_accept(int fd, void *ctx)
{
	conn_accepted(ctx, fd);
}

int
listener_start(pt_daemon *d, pt_err *err)
{
	d->server = pt_server_new(d->base, d->listen_fd, d->o.max_conns,
	    on_accept, d);
	if (d->server == NULL)
		return pt_fail(err, "cannot watch the listening socket");
	pt_server_set_log(d->server, server_log);
	return 0;
}

void
listener_stop(pt_daemon *d)
{
	const char *path = d->socket_is_ours ? d->sock_path : NULL;
	if (d->server != NULL) {
		/* Closes the listening socket as well. */
		pt_server_free(d->server, path);
		d->server = NULL;
	} else if (d->listen_fd >= 0) {
		close(d->listen_fd);
		if (path != NULL)
			unlink(path);
	}
	d->listen_fd = -1;
}
