/*
 * The InfluxDB writer. Each round's lines (albatross_influx's measurements,
 * metrics.h) go into a bounded queue of rounds; a writer empties it:
 *
 *   --influx HOST:PORT   line protocol over plain TCP, as albatross-influx
 *                        writes it (to Telegraf's socket_listener or any
 *                        line-protocol TCP listener);
 *   --influx-url URL     InfluxDB's HTTP write API (1.x /write?db=, 2.x
 *                        /api/v2/write?org=&bucket= with the token of
 *                        --influx-token-file), through libevent's evhttp.
 *
 * While the server is away the queue keeps the last --influx-queue rounds:
 * the oldest are dropped first, counted (petrel_stats_influx_dropped_total)
 * and logged. Reconnection backs off from 1 s to 60 s. HOST is resolved
 * once, at start.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "statsd.h"

#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 60000
/* What is handed to a connection at once (TCP) / posted at once (HTTP). */
#define BATCH_MAX (1024u * 1024)
#define TOKEN_MAX 4096
#define ANSWER_HEADERS_MAX (16u * 1024)
#define ANSWER_BODY_MAX (64u * 1024)

struct st_influx {
	st_daemon *d;
	/* The queue: a ring of rounds. */
	pt_buf *q;
	size_t cap, head, count;
	uint64_t dropped, dropped_in_outage;
	/* TCP */
	struct sockaddr_storage sa;
	socklen_t salen;
	struct bufferevent *bev;
	bool connected;
	/* HTTP */
	struct evhttp_uri *uri;
	char *token;
	char host_header[300];
	struct evhttp_connection *http;
	size_t inflight;           /* rounds in the request being posted */
	/* both */
	struct event *retry;
	int64_t backoff_ms;
	bool down_logged;
};

static void flush(st_influx *X);

/* ---- the queue ---- */

static void
queue_pop(st_influx *X)
{
	pt_buf_free(&X->q[X->head]);
	X->head = (X->head + 1) % X->cap;
	X->count--;
}

void
st_influx_push(st_daemon *d, pt_buf *lines)
{
	st_influx *X = d->influx;
	if (X == NULL)
		return;
	if (X->count == X->cap) {
		/* A round being posted is not dropped under the writer's
		 * feet: the next oldest goes instead (or this one). */
		if (X->inflight > 0 && X->cap <= X->inflight) {
			X->dropped++;
			X->dropped_in_outage++;
			return;
		}
		size_t victim = (X->head + X->inflight) % X->cap;
		pt_buf_free(&X->q[victim]);
		for (size_t i = X->inflight; i + 1 < X->count; i++) {
			size_t a = (X->head + i) % X->cap;
			size_t b = (X->head + i + 1) % X->cap;
			X->q[a] = X->q[b];
		}
		memset(&X->q[(X->head + X->count - 1) % X->cap], 0,
		    sizeof(pt_buf));
		X->count--;
		X->dropped++;
		if (X->dropped_in_outage++ == 0)
			st_log(d, 0, "InfluxDB is away and the queue of %zu "
			    "rounds is full: dropping the oldest", X->cap);
	}
	X->q[(X->head + X->count) % X->cap] = *lines;
	memset(lines, 0, sizeof(*lines));
	X->count++;
	flush(X);
}

uint64_t
st_influx_dropped(const st_daemon *d)
{
	return d->influx != NULL ? d->influx->dropped : 0;
}

static void
up(st_influx *X)
{
	X->backoff_ms = BACKOFF_FIRST_MS;
	if (X->down_logged || X->dropped_in_outage > 0)
		st_log(X->d, 0, "InfluxDB reachable again (%llu rounds dropped "
		    "meanwhile)", (unsigned long long)X->dropped_in_outage);
	X->down_logged = false;
	X->dropped_in_outage = 0;
}

static void
schedule(st_influx *X, const char *why)
{
	if (!X->down_logged)
		st_log(X->d, 0, "InfluxDB: %s; retrying with backoff", why);
	X->down_logged = true;
	if (evtimer_pending(X->retry, NULL))
		return;
	struct timeval tv = {(time_t)(X->backoff_ms / 1000),
	    (suseconds_t)(X->backoff_ms % 1000) * 1000};
	evtimer_add(X->retry, &tv);
	X->backoff_ms = X->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
	    X->backoff_ms * 2;
}

/* ---- TCP ---- */

static void
tcp_drop(st_influx *X, const char *why)
{
	if (X->bev != NULL)
		bufferevent_free(X->bev);
	X->bev = NULL;
	X->connected = false;
	schedule(X, why);
}

static void
tcp_flush(st_influx *X)
{
	struct evbuffer *out = bufferevent_get_output(X->bev);
	while (X->count > 0 && evbuffer_get_length(out) < BATCH_MAX) {
		pt_buf *b = &X->q[X->head];
		if (evbuffer_add(out, b->data, b->len) < 0)
			break;
		queue_pop(X);
	}
}

static void
on_tcp_write(struct bufferevent *bev, void *arg)
{
	(void)bev;
	tcp_flush(arg);
}

static void
on_tcp_read(struct bufferevent *bev, void *arg)
{
	(void)arg;
	/* Nothing is expected back: discard. */
	struct evbuffer *in = bufferevent_get_input(bev);
	evbuffer_drain(in, evbuffer_get_length(in));
}

static void
on_tcp_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	st_influx *X = arg;
	if (what & BEV_EVENT_CONNECTED) {
		X->connected = true;
		up(X);
		tcp_flush(X);
		return;
	}
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) {
		char why[200];
		snprintf(why, sizeof(why), "connection to %s: %s",
		    X->d->o.influx, what & BEV_EVENT_EOF ? "closed" :
		    strerror(EVUTIL_SOCKET_ERROR()));
		tcp_drop(X, why);
	}
}

static void
tcp_connect(st_influx *X)
{
	int fd = socket(X->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0);
	if (fd < 0) {
		schedule(X, strerror(errno));
		return;
	}
	int one = 1;
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	X->bev = bufferevent_socket_new(X->d->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (X->bev == NULL) {
		close(fd);
		schedule(X, "out of memory");
		return;
	}
	bufferevent_setcb(X->bev, on_tcp_read, on_tcp_write, on_tcp_event, X);
	bufferevent_enable(X->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(X->bev, (struct sockaddr *)&X->sa,
	    (int)X->salen) < 0)
		tcp_drop(X, "cannot connect");
}

/* ---- HTTP ---- */

static void http_post(st_influx *X);

static void
on_http_done(struct evhttp_request *req, void *arg)
{
	st_influx *X = arg;
	int code = req != NULL ? evhttp_request_get_response_code(req) : 0;
	size_t n = X->inflight;
	X->inflight = 0;
	if (code >= 200 && code < 300) {
		up(X);
		for (size_t i = 0; i < n && X->count > 0; i++)
			queue_pop(X);
		if (X->count > 0)
			http_post(X);
		return;
	}
	if (code == 400) {
		/* The server rejects the data itself: retrying cannot help. */
		st_log(X->d, 0, "InfluxDB refused %zu rounds (400 Bad "
		    "Request): dropped", n);
		for (size_t i = 0; i < n && X->count > 0; i++)
			queue_pop(X);
		X->dropped += n;
		return;
	}
	char why[100];
	if (code == 0)
		snprintf(why, sizeof(why), "no answer from %s",
		    X->d->o.influx_url);
	else
		snprintf(why, sizeof(why), "%s answered %d", X->d->o.influx_url,
		    code);
	schedule(X, why);
}

static void
http_post(st_influx *X)
{
	if (X->inflight > 0 || X->count == 0 || evtimer_pending(X->retry,
	    NULL))
		return;
	struct evhttp_request *req = evhttp_request_new(on_http_done, X);
	if (req == NULL)
		return;
	struct evbuffer *body = evhttp_request_get_output_buffer(req);
	size_t n = 0;
	while (n < X->count) {
		pt_buf *b = &X->q[(X->head + n) % X->cap];
		if (n > 0 && evbuffer_get_length(body) + b->len > BATCH_MAX)
			break;
		evbuffer_add(body, b->data, b->len);
		n++;
	}
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Host", X->host_header);
	evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
	if (X->token != NULL) {
		char auth[TOKEN_MAX + 16];
		snprintf(auth, sizeof(auth), "Token %s", X->token);
		evhttp_add_header(h, "Authorization", auth);
	}
	char target[2048];
	const char *path = evhttp_uri_get_path(X->uri);
	const char *query = evhttp_uri_get_query(X->uri);
	snprintf(target, sizeof(target), "%s%s%s", path && *path ? path : "/",
	    query ? "?" : "", query ? query : "");
	X->inflight = n;
	if (evhttp_make_request(X->http, req, EVHTTP_REQ_POST, target) < 0) {
		/* evhttp freed the request. */
		X->inflight = 0;
		schedule(X, "cannot make the request");
	}
}

static int
read_token(const char *file, char **out, pt_err *err)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pt_fail(err, "--influx-token-file %s: %s", file,
		    strerror(errno));
	char buf[TOKEN_MAX + 1];
	ssize_t n = read(fd, buf, TOKEN_MAX + 1);
	close(fd);
	if (n < 0 || n > TOKEN_MAX)
		return pt_fail(err, "--influx-token-file %s: %s", file,
		    n < 0 ? strerror(errno) : "longer than 4 KiB");
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
	    buf[n - 1] == ' '))
		n--;
	for (ssize_t i = 0; i < n; i++)
		if ((unsigned char)buf[i] < 0x21 || buf[i] == 0x7f)
			return pt_fail(err, "--influx-token-file %s: the token "
			    "has blanks or control characters", file);
	if (n == 0)
		return pt_fail(err, "--influx-token-file %s is empty", file);
	buf[n] = '\0';
	*out = strdup(buf);
	return *out != NULL ? 0 : pt_fail(err, "out of memory");
}

static int
http_setup(st_influx *X, pt_err *err)
{
	const st_opts *o = &X->d->o;
	X->uri = evhttp_uri_parse(o->influx_url);
	const char *scheme = X->uri ? evhttp_uri_get_scheme(X->uri) : NULL;
	const char *host = X->uri ? evhttp_uri_get_host(X->uri) : NULL;
	if (X->uri == NULL || scheme == NULL || strcmp(scheme, "http") != 0 ||
	    host == NULL || *host == '\0')
		return pt_fail(err, "--influx-url %s: expected http://HOST"
		    "[:PORT]/PATH?QUERY (https is not supported)",
		    o->influx_url);
	int port = evhttp_uri_get_port(X->uri);
	if (port < 0)
		port = 8086;
	snprintf(X->host_header, sizeof(X->host_header), "%s:%d", host, port);
	if (o->influx_token_file != NULL &&
	    read_token(o->influx_token_file, &X->token, err) < 0)
		return -1;
	X->http = evhttp_connection_base_new(X->d->base, NULL, host,
	    (ev_uint16_t)port);
	if (X->http == NULL)
		return pt_fail(err, "--influx-url: cannot resolve %s", host);
	evhttp_connection_set_timeout(X->http, 10);
	/* The answer to a write is a status and at most a short error text:
	 * whatever talks on that port, an endless answer is cut (the request
	 * then fails and is retried with backoff) rather than buffered. */
	evhttp_connection_set_max_headers_size(X->http, ANSWER_HEADERS_MAX);
	evhttp_connection_set_max_body_size(X->http, ANSWER_BODY_MAX);
	return 0;
}

static int
tcp_setup(st_influx *X, pt_err *err)
{
	const char *spec = X->d->o.influx;
	const char *colon = strrchr(spec, ':');
	if (colon == NULL || colon == spec || colon[1] == '\0')
		return pt_fail(err, "--influx %s: expected HOST:PORT", spec);
	char host[256];
	size_t n = (size_t)(colon - spec);
	if (spec[0] == '[' && n >= 2 && spec[n - 1] == ']') {
		spec++;
		n -= 2;
	}
	if (n >= sizeof(host))
		return pt_fail(err, "--influx %s: host too long", spec);
	memcpy(host, spec, n);
	host[n] = '\0';
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	int r = getaddrinfo(host, colon + 1, &hints, &res);
	if (r != 0 || res == NULL)
		return pt_fail(err, "--influx %s: %s", X->d->o.influx,
		    gai_strerror(r));
	memcpy(&X->sa, res->ai_addr, res->ai_addrlen);
	X->salen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static void
flush(st_influx *X)
{
	if (X->d->o.influx_url != NULL)
		http_post(X);
	else if (X->connected)
		tcp_flush(X);
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	st_influx *X = arg;
	if (X->d->o.influx_url != NULL)
		http_post(X);
	else if (X->bev == NULL)
		tcp_connect(X);
}

int
st_influx_start(st_daemon *d, pt_err *err)
{
	st_influx *X = calloc(1, sizeof(*X));
	if (X == NULL)
		return pt_fail(err, "out of memory");
	X->d = d;
	d->influx = X;
	X->cap = d->o.influx_queue;
	X->backoff_ms = BACKOFF_FIRST_MS;
	X->q = calloc(X->cap, sizeof(*X->q));
	X->retry = evtimer_new(d->base, on_retry, X);
	if (X->q == NULL || X->retry == NULL)
		return pt_fail(err, "out of memory");
	if (d->o.influx_url != NULL) {
		if (http_setup(X, err) < 0)
			return -1;
		st_log(d, 0, "writing to InfluxDB at %s", d->o.influx_url);
		return 0;
	}
	if (tcp_setup(X, err) < 0)
		return -1;
	st_log(d, 0, "pushing line protocol to %s", d->o.influx);
	tcp_connect(X);
	return 0;
}

void
st_influx_stop(st_daemon *d)
{
	st_influx *X = d->influx;
	if (X == NULL)
		return;
	if (X->bev != NULL)
		bufferevent_free(X->bev);
	if (X->http != NULL)
		evhttp_connection_free(X->http);
	if (X->uri != NULL)
		evhttp_uri_free(X->uri);
	while (X->q != NULL && X->count > 0)
		queue_pop(X);
	free(X->q);
	if (X->retry != NULL)
		event_free(X->retry);
	free(X->token);
	free(X);
	d->influx = NULL;
}
