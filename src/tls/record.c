/*
 * Login, logout and refusals into petreld's event log (`log record`,
 * docs/eventlog.md): one short connection to vmmd.sock per event, which
 * ends with petreld's reply or after RECORD_TIMEOUT_S. A petreld that
 * cannot be reached costs a warning, never the client's request.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "fconn.h"
#include "tls.h"

#define RECORD_TIMEOUT_S 10
#define RECORD_MAX_FRAME (64u * 1024)

typedef struct {
	tls_daemon *d;
	pt_fconn *c;
	struct event *timer;
	char what[64];
} record;

static void
record_done(record *r)
{
	tls_daemon *d = r->d;
	pt_fconn_free(r->c);
	event_free(r->timer);
	free(r);
	d->nrecords--;
	tls_check_done(d);
}

static void
on_reply(pt_fconn *c, const uint8_t *p, size_t n, void *ctx)
{
	(void)c;
	record *r = ctx;
	pt_arena a = {0};
	pt_wire w;
	pt_err err = {{0}};
	if (pt_wire_decode(p, n, &a, &w, &err) < 0)
		tls_log(TLS_LOG_WARN, "event %s: petreld's reply does not "
		    "decode: %s", r->what, err.msg);
	else if (w.kind == PT_PAYLOAD_FAILURE)
		tls_log(TLS_LOG_WARN, "event %s: petreld refused it: %.*s",
		    r->what, (int)w.u.failure.len, w.u.failure.s);
	pt_arena_free(&a);
	record_done(r);
}

static void
on_closed(pt_fconn *c, const char *why, void *ctx)
{
	(void)c;
	record *r = ctx;
	tls_log(TLS_LOG_WARN, "event %s: petreld closed before replying: %s",
	    r->what, why);
	record_done(r);
}

static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	record *r = arg;
	tls_log(TLS_LOG_WARN, "event %s: no reply from petreld in %d s",
	    r->what, RECORD_TIMEOUT_S);
	record_done(r);
}

static const pt_fconn_ops ops = {
	.frame = on_reply,
	.closed = on_closed,
};

static int
connect_vmmd(tls_daemon *d)
{
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (tls_socket_path(d, "vmmd", sa.sun_path, sizeof(sa.sun_path)) < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

void
record_event(tls_daemon *d, const pt_event *e)
{
	const char *kind = pt_event_kind_name(e->kind);
	int fd = connect_vmmd(d);
	if (fd < 0) {
		tls_log(TLS_LOG_WARN, "event %s of %s not recorded: petreld: "
		    "%s", kind, e->name.text, strerror(errno));
		return;
	}
	record *r = calloc(1, sizeof(*r));
	if (r != NULL) {
		r->d = d;
		snprintf(r->what, sizeof(r->what), "%s of %.40s", kind,
		    e->name.text);
		r->timer = evtimer_new(d->base, on_timeout, r);
		r->c = r->timer != NULL ? pt_fconn_new(d->base, fd,
		    RECORD_MAX_FRAME, RECORD_MAX_FRAME * 4, &ops, r) : NULL;
	}
	if (r == NULL || r->c == NULL) {
		tls_log(TLS_LOG_ERR, "event %s not recorded: out of memory",
		    kind);
		if (r != NULL && r->timer != NULL)
			event_free(r->timer);
		free(r);
		close(fd);
		return;
	}
	pt_wire w = {.kind = PT_PAYLOAD_COMMAND};
	pt_header_init(&w.header, d->sequence++, &e->name);
	w.u.command.kind = PT_CMD_LOG_RECORD;
	w.u.command.u.record = *e;
	struct timeval tv = {RECORD_TIMEOUT_S, 0};
	evtimer_add(r->timer, &tv);
	d->nrecords++;
	if (pt_fconn_send_wire(r->c, &w) < 0) {
		tls_log(TLS_LOG_WARN, "event %s not recorded: cannot encode "
		    "it", r->what);
		record_done(r);
	}
}

void
record_endpoint(tls_daemon *d, pt_event_kind kind, const pt_name *name,
    const struct sockaddr_storage *peer)
{
	pt_event e;
	memset(&e, 0, sizeof(e));
	e.kind = kind;
	e.name = *name;
	uint8_t v4[4];
	if (peer->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)peer;
		e.address.data = (const uint8_t *)&a->sin_addr;
		e.address.len = 4;
		e.port = ntohs(a->sin_port);
	} else if (peer->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)peer;
		e.port = ntohs(a->sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
			memcpy(v4, &a->sin6_addr.s6_addr[12], 4);
			e.address.data = v4;
			e.address.len = 4;
		} else {
			e.address.data = a->sin6_addr.s6_addr;
			e.address.len = 16;
		}
	} else {
		/* --inetd on something that is not a TCP socket. */
		memset(v4, 0, sizeof(v4));
		e.address.data = v4;
		e.address.len = 4;
	}
	record_event(d, &e);
}

void
record_refused(tls_daemon *d, const pt_name *name, const char *command,
    const char *reason)
{
	pt_event e;
	pt_event_refused(&e, name, command, reason);
	record_event(d, &e);
}
