/*
 * The Prometheus endpoint: GET /metrics on [ADDR:]PORT (loopback unless
 * an address is given), served by libevent's evhttp, rendered from the
 * last round (metrics.h, text exposition format 0.0.4).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "statsd.h"

/* How long accepting pauses when accept fails (out of descriptors). */
#define ACCEPT_PAUSE_MS 200

struct st_prom {
	st_daemon *d;
	struct evhttp *http;
	struct evconnlistener *lev;
	struct event *resume;      /* accepting again after a pause */
	bool pause_logged;
};

static void
on_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	st_prom *P = arg;
	evconnlistener_enable(P->lev);
}

/* accept failed: out of descriptors (EMFILE) or memory, or worse. The
 * listening socket stays readable, so evhttp's listener would call accept
 * again at once, for ever, logging each time: pause instead, and let the
 * connections that hold the descriptors time out or finish. */
/* The listener's callbacks get evhttp's pointer (evhttp sets it), not
 * ours: the one endpoint of the process is found here. */
static st_prom *the_prom;

static void
on_accept_error(struct evconnlistener *lev, void *arg)
{
	(void)arg;
	st_prom *P = the_prom;
	int e = EVUTIL_SOCKET_ERROR();
	evconnlistener_disable(lev);
	struct timeval tv = {0, ACCEPT_PAUSE_MS * 1000};
	evtimer_add(P->resume, &tv);
	if (!P->pause_logged)
		st_log(P->d, 0, "Prometheus endpoint: accept: %s; pausing "
		    "%d ms at a time while it fails", strerror(e),
		    ACCEPT_PAUSE_MS);
	P->pause_logged = true;
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	st_daemon *d = arg;
	const char *uri = evhttp_request_get_uri(req);
	struct evhttp_uri *u = evhttp_uri_parse(uri);
	const char *path = u != NULL ? evhttp_uri_get_path(u) : NULL;
	bool metrics = path != NULL && strcmp(path, "/metrics") == 0;
	if (u != NULL)
		evhttp_uri_free(u);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	if (!metrics) {
		evhttp_send_error(req, HTTP_NOTFOUND, "only /metrics is here");
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_send_error(req, 405, "GET only");
		return;
	}
	pt_sm_round r;
	pt_buf text = {0};
	if (st_round_view(d, &r) < 0 || pt_render_prometheus(&r, &text) < 0) {
		st_round_free(&r);
		pt_buf_free(&text);
		evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
		return;
	}
	st_round_free(&r);
	struct evbuffer *body = evbuffer_new();
	if (body == NULL || evbuffer_add(body, text.data, text.len) < 0) {
		if (body != NULL)
			evbuffer_free(body);
		pt_buf_free(&text);
		evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
		return;
	}
	pt_buf_free(&text);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", body);
	evbuffer_free(body);
}

/* "[ADDR:]PORT", ADDR possibly "[v6]". */
static int
parse_listen(const char *spec, char *addr, size_t cap, unsigned *port,
    pt_err *err)
{
	const char *colon = strrchr(spec, ':');
	const char *p = colon != NULL ? colon + 1 : spec;
	char *end;
	long v = strtol(p, &end, 10);
	if (*p == '\0' || *end != '\0' || v < 1 || v > 65535)
		return pt_fail(err, "--prometheus %s: expected [ADDR:]PORT",
		    spec);
	*port = (unsigned)v;
	if (colon == NULL) {
		snprintf(addr, cap, "127.0.0.1");
		return 0;
	}
	size_t n = (size_t)(colon - spec);
	if (n >= 2 && spec[0] == '[' && spec[n - 1] == ']') {
		spec++;
		n -= 2;
	}
	if (n == 0 || n >= cap)
		return pt_fail(err, "--prometheus %s: bad address", spec);
	memcpy(addr, spec, n);
	addr[n] = '\0';
	return 0;
}

/* A listening socket on a numeric address. Bound here rather than by
 * evhttp_bind_socket, whose getaddrinfo (AI_ADDRCONFIG) finds no address
 * family in a namespace that has nothing but loopback. */
static int
listen_on(const char *addr, unsigned port, pt_err *err)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	socklen_t len;
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		len = sizeof(*v4);
	} else if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		len = sizeof(*v6);
	} else {
		return pt_fail(err, "--prometheus: %s is no IPv4 or IPv6 "
		    "address", addr);
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0);
	if (fd < 0)
		return pt_fail(err, "--prometheus: socket: %s",
		    strerror(errno));
	int one = 1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 ||
	    listen(fd, 128) < 0) {
		int e = errno;
		close(fd);
		return pt_fail(err, "--prometheus: cannot listen on %s port "
		    "%u: %s", addr, port, strerror(e));
	}
	return fd;
}

int
st_prom_start(st_daemon *d, const char *spec, pt_err *err)
{
	char addr[128];
	unsigned port = 0;
	if (parse_listen(spec, addr, sizeof(addr), &port, err) < 0)
		return -1;
	st_prom *P = calloc(1, sizeof(*P));
	if (P == NULL)
		return pt_fail(err, "out of memory");
	P->http = evhttp_new(d->base);
	if (P->http == NULL) {
		free(P);
		return pt_fail(err, "out of memory");
	}
	evhttp_set_allowed_methods(P->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_max_headers_size(P->http, 16 * 1024);
	evhttp_set_max_body_size(P->http, 1024);
	evhttp_set_timeout(P->http, 30);
	evhttp_set_gencb(P->http, on_request, d);
	P->d = d;
	P->resume = evtimer_new(d->base, on_resume, P);
	int fd = P->resume != NULL ? listen_on(addr, port, err) :
	    pt_fail(err, "--prometheus: out of memory");
	struct evhttp_bound_socket *bound = fd < 0 ? NULL :
	    evhttp_accept_socket_with_handle(P->http, fd);
	if (bound == NULL) {
		if (fd >= 0) {
			close(fd);
			pt_fail(err, "--prometheus: out of memory");
		}
		if (P->resume != NULL)
			event_free(P->resume);
		evhttp_free(P->http);
		free(P);
		return -1;
	}
	P->lev = evhttp_bound_socket_get_listener(bound);
	the_prom = P;
	evconnlistener_set_error_cb(P->lev, on_accept_error);
	d->prom = P;
	st_log(d, 0, "Prometheus metrics on http://%s:%u/metrics", addr, port);
	return 0;
}

void
st_prom_stop(st_daemon *d)
{
	if (d->prom == NULL)
		return;
	evhttp_free(d->prom->http);
	event_free(d->prom->resume);
	free(d->prom);
	the_prom = NULL;
	d->prom = NULL;
}
