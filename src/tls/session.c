/*
 * One remote client (albatross-wire.md §9.3-§9.6): after the handshake
 * the verified chain gives the name, the delegated policies and the
 * command; the command goes to petreld, petrel-console or the stats
 * daemon, after the policies (petreld only, deepest first, each answered
 * with a success), and the replies come back:
 *
 *   single-reply commands: one frame, re-headed {5, 0, name}, then close;
 *   console/stats subscribe and block dump: every daemon frame as it is,
 *     the end of a dump re-headed, a lost daemon reported as
 *     "exception while reading from fd";
 *   block set and a create with an empty image: the client's raw frames
 *     are passed to petreld one by one up to the terminator (§8.4, §9.6),
 *     never collected here.
 *
 * Both sides are framed connections (src/daemon/fconn.h): the client's
 * over TLS (fconn_ssl.c) once the handshake (handshake.c) is done, the
 * daemon's over its Unix socket. Memory stays bounded both ways, paced by
 * the module's drain hooks: the client is not read while petreld's side
 * holds more than UP_HIGH bytes, and again once that has drained below
 * UP_LOW; petreld's side is not read while the client's holds more than
 * CLIENT_HIGH, and again once that has drained below CLIENT_LOW.
 *
 * Every refusal reaches the client as a failure reply naming the reason.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/event.h>

#include "fconn.h"
#include "fconn_ssl.h"
#include "frame.h"
#include "tls.h"

#define UP_MAX_OUT (8u << 20)
#define UP_HIGH (1u << 20)
#define UP_LOW (256u * 1024)
/* Client frames (upload chunks) are at most this big; albatross's client
 * sends 4 KiB. */
#define CLIENT_MAX_FRAME (4u << 20)
/* The largest reply frame relayed, plus slack: the output cap. */
#define CLIENT_MAX_OUT (PT_FRAME_DEFAULT_MAX + (1u << 20))
#define CLIENT_HIGH (256u * 1024)
#define CLIENT_LOW (128u * 1024)
#define CHAIN_CAP 16

typedef enum {
	S_HANDSHAKE,
	S_POLICIES,    /* waiting for the reply to a policy add */
	S_UPLOAD,      /* relaying the client's frames */
	S_DRAIN,       /* replied early: dropping the rest of an upload */
	S_REPLY,       /* waiting for the one reply */
	S_STREAM,      /* relaying a daemon's stream */
	S_DONE,
} sstate;

struct tls_session {
	tls_session *next, *prev;
	tls_daemon *d;
	int in_fd, out_fd;
	tls_handshake *hs;     /* until the handshake is done */
	pt_fconn *t;           /* the client, after it */
	pt_fconn *up;          /* the daemon */
	pt_err verify_note;    /* the first verification failure (tlsctx.c) */
	char tls_why[160];     /* why the client's TLS failed (fconn_ssl.c) */
	struct sockaddr_storage peer;
	char peer_text[INET6_ADDRSTRLEN + 8];
	sstate state;
	pt_arena arena;
	pt_chain_result chain;
	pt_header hdr;         /* {5, 0, derived name}: our final replies */
	bool logged_in;
	bool upload;           /* the client streams frames */
	bool streaming;        /* the daemon streams frames */
	bool cmd_held;         /* a streamed create waits for its first frame */
	bool client_blocked;   /* not read until petreld's side drains */
	size_t next_policy;
	int64_t expect_seq;
	const char *service;
};

static void session_free(tls_session *s);
static int client_frame(pt_fconn *c, const uint8_t *p, size_t n, bool end,
    void *ctx);
static void client_drain(pt_fconn *c, void *ctx);

static void
endpoint_header(tls_session *s, const pt_name *name)
{
	pt_header_init(&s->hdr, 0, name);
}

/* The final frame to the client, then close. */
static void
finish_failure(tls_session *s, const char *msg)
{
	pt_wire w;
	pt_wire_reply_failure(&w, &s->hdr, msg);
	if (pt_fconn_send_wire(s->t, &w) < 0)
		tls_log(TLS_LOG_WARN, "%s: cannot queue the failure reply",
		    s->peer_text);
	s->state = S_DONE;
	pt_fconn_close_when_flushed(s->t);
}

/* A refusal of petrel-tls's own: the client is told, petreld's log
 * records it. */
static void
refuse(tls_session *s, const char *cmd, const char *reason)
{
	tls_log(TLS_LOG_INFO, "%s: %s refused: %s", s->peer_text,
	    s->hdr.name.text, reason);
	record_refused(s->d, &s->hdr.name, cmd, reason);
	finish_failure(s, reason);
}

/* The client is read again (it may wait for petreld's side to drain). */
static void
client_unblock(tls_session *s)
{
	if (!s->client_blocked)
		return;
	s->client_blocked = false;
	pt_fconn_resume(s->t);
}

static void
up_close(tls_session *s)
{
	if (s->up != NULL) {
		pt_fconn_free(s->up);
		s->up = NULL;
	}
}

static int64_t
next_sequence(tls_session *s)
{
	return s->d->sequence++;
}

/* ---- towards the daemon ---- */

static int
send_up(tls_session *s, const pt_name *name, const pt_command *cmd)
{
	pt_wire w = {.kind = PT_PAYLOAD_COMMAND};
	s->expect_seq = next_sequence(s);
	pt_header_init(&w.header, s->expect_seq, name);
	w.u.command = *cmd;
	return pt_fconn_send_wire(s->up, &w);
}

static bool
is_stream_upload(const pt_command *c)
{
	if (c->kind == PT_CMD_BLOCK_SET)
		return true;
	return (c->kind == PT_CMD_UK_CREATE ||
	    c->kind == PT_CMD_UK_FORCE_CREATE) && c->u.config.image.len == 0;
}

static bool
is_stream_reply(pt_cmd_kind k)
{
	return k == PT_CMD_CONSOLE_SUBSCRIBE || k == PT_CMD_STATS_SUBSCRIBE ||
	    k == PT_CMD_BLOCK_DUMP;
}

static int
send_held_command(tls_session *s)
{
	s->cmd_held = false;
	if (send_up(s, &s->chain.name, &s->chain.command) < 0) {
		up_close(s);
		finish_failure(s, "couldn't write unikernel to VMMD");
		return -1;
	}
	return 0;
}

static void
send_command(tls_session *s)
{
	const pt_command *cmd = &s->chain.command;
	/* A streamed create goes to petreld with its first frame: petreld
	 * refuses an empty image that no frame follows soon (ukstream.c). */
	s->cmd_held = cmd->kind != PT_CMD_BLOCK_SET && is_stream_upload(cmd);
	if (!s->cmd_held && send_held_command(s) < 0)
		return;
	s->upload = is_stream_upload(cmd);
	s->streaming = is_stream_reply(cmd->kind);
	s->state = s->upload ? S_UPLOAD : s->streaming ? S_STREAM : S_REPLY;
	/* The client is read again: for its upload, or to notice it
	 * leaving (anything else it sends ends the conversation, its end of
	 * input cuts it at once). Its frames go to client_frame; a relayed
	 * stream also wants to hear when the client's output drained. Only
	 * an upload waits on the client: silence then counts as idle. */
	pt_fconn_stream st = {.frame = client_frame, .ctx = s};
	if (s->streaming)
		st.drain = client_drain;
	pt_fconn_set_stream(s->t, &st);
	if (s->upload)
		pt_fconn_set_idle_timeout(s->t, s->d->o.idle_timeout_ms);
	pt_fconn_resume(s->t);
}

static void
send_policy(tls_session *s)
{
	const pt_chain_policy *p = &s->chain.policies[s->next_policy];
	pt_command cmd;
	memset(&cmd, 0, sizeof(cmd));
	cmd.kind = PT_CMD_POLICY_ADD;
	cmd.u.policy = p->policy;
	tls_log(TLS_LOG_DEBUG, "%s: policy add %s", s->peer_text,
	    p->path.text);
	if (send_up(s, &p->path, &cmd) < 0) {
		up_close(s);
		finish_failure(s, "failed to write policy");
		return;
	}
	s->state = S_POLICIES;
}

static void
on_policy_reply(tls_session *s, const pt_wire *w)
{
	const pt_chain_policy *p = &s->chain.policies[s->next_policy];
	char msg[600];
	if (w->header.sequence != s->expect_seq) {
		up_close(s);
		finish_failure(s, "read error after writing policy");
		return;
	}
	if (w->kind != PT_PAYLOAD_SUCCESS) {
		up_close(s);
		if (w->kind == PT_PAYLOAD_FAILURE)
			snprintf(msg, sizeof(msg), "policy of %s: %.*s",
			    p->path.text, (int)w->u.failure.len,
			    w->u.failure.s);
		else
			snprintf(msg, sizeof(msg), "policy of %s: expected "
			    "success when adding policy", p->path.text);
		pt_utf8_trim_tail(msg);
		finish_failure(s, msg);
		return;
	}
	s->next_policy++;
	if (s->next_policy < s->chain.npolicies)
		send_policy(s);
	else
		send_command(s);
}

/* The one reply, re-headed for the client (§9.5). */
static void
relay_reply(tls_session *s, const pt_wire *w)
{
	pt_wire out = *w;
	out.header = s->hdr;
	if (pt_fconn_send_wire(s->t, &out) < 0)
		tls_log(TLS_LOG_WARN, "%s: cannot queue the reply",
		    s->peer_text);
	up_close(s);
	if (s->state == S_UPLOAD) {
		/* Refused before the upload ended: take the rest of it, so
		 * that closing does not reset the connection and lose the
		 * reply. */
		s->state = S_DRAIN;
		client_unblock(s);
		return;
	}
	s->state = S_DONE;
	pt_fconn_close_when_flushed(s->t);
}

static void
relay_stream(tls_session *s, const uint8_t *p, size_t n, const pt_wire *w)
{
	bool end = w->kind == PT_PAYLOAD_DATA &&
	    w->u.data.kind == PT_DATA_BLOCK_END;
	if (end || w->kind == PT_PAYLOAD_FAILURE) {
		relay_reply(s, w);
		return;
	}
	/* Daemon header, as it is: the version is 5 like every
	 * certificate's (§9.5). */
	if (pt_fconn_send(s->t, p, n) < 0) {
		tls_log(TLS_LOG_WARN, "%s: output cap reached, closing",
		    s->peer_text);
		up_close(s);
		s->state = S_DONE;
		pt_fconn_close_when_flushed(s->t);
		return;
	}
	/* Resumed by client_drain. */
	if (pt_fconn_queued(s->t) >= CLIENT_HIGH)
		pt_fconn_pause(s->up);
}

static void
up_frame(pt_fconn *c, const uint8_t *p, size_t n, void *ctx)
{
	(void)c;
	tls_session *s = ctx;
	pt_arena a = {.limit = 64u << 20};
	pt_wire w;
	pt_err err = {{0}};
	if (pt_wire_decode(p, n, &a, &w, &err) < 0) {
		tls_log(TLS_LOG_WARN, "%s: undecodable frame from %s: %s",
		    s->peer_text, s->service, err.msg);
		up_close(s);
		finish_failure(s, "exception while reading from fd");
	} else if (s->state == S_POLICIES) {
		on_policy_reply(s, &w);
	} else if (s->state == S_STREAM) {
		relay_stream(s, p, n, &w);
	} else if (s->state == S_REPLY || s->state == S_UPLOAD) {
		relay_reply(s, &w);
	}
	pt_arena_free(&a);
}

static void
up_closed(pt_fconn *c, const char *why, void *ctx)
{
	(void)c;
	tls_session *s = ctx;
	tls_log(TLS_LOG_DEBUG, "%s: %s connection: %s", s->peer_text,
	    s->service, why);
	up_close(s);
	if (s->state != S_DONE && s->state != S_DRAIN)
		finish_failure(s, "exception while reading from fd");
}

/* The daemon's frames, the end marker included (a stream on petreld's
 * side for its drain hook: its frames come here, not to up_ops). */
static int
up_stream_frame(pt_fconn *c, const uint8_t *p, size_t n, bool end,
    void *ctx)
{
	if (end)
		up_closed(c, "end of stream", ctx);
	else
		up_frame(c, p, n, ctx);
	return 0;
}

/* petreld's side drained below UP_LOW: the upload goes on. */
static void
up_drain(pt_fconn *c, void *ctx)
{
	(void)c;
	client_unblock(ctx);
}

static const pt_fconn_ops up_ops = {
	.frame = up_frame,
	.end = NULL,
	.closed = up_closed,
};

static int
connect_service(tls_session *s, const char *name)
{
	char path[PATH_MAX];
	if (tls_socket_path(s->d, name, path, sizeof(path)) < 0)
		return -1;
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		tls_log(TLS_LOG_WARN, "connect %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* §7: which daemon serves the command. */
static const char *
service_of(pt_cmd_kind k)
{
	switch (k) {
	case PT_CMD_CONSOLE_SUBSCRIBE:
	case PT_CMD_CONSOLE_LIST_INACTIVE:
		return "console";
	case PT_CMD_STATS_SUBSCRIBE:
		return "stat";
	default:
		return "vmmd";
	}
}

static void
forward(tls_session *s)
{
	s->service = service_of(s->chain.command.kind);
	int fd = connect_service(s, s->service);
	if (fd < 0) {
		finish_failure(s, "couldn't reach service");
		return;
	}
	pt_fconn_params p = {.max_frame = PT_FRAME_DEFAULT_MAX,
	    .max_out = UP_MAX_OUT, .pause_out = UP_HIGH, .low_water = UP_LOW};
	s->up = pt_fconn_open(s->d->base, fd, NULL, NULL, &p, &up_ops, s);
	if (s->up == NULL) {  /* the fd is closed */
		finish_failure(s, "couldn't reach service");
		return;
	}
	pt_fconn_stream st = {.frame = up_stream_frame, .drain = up_drain,
	    .ctx = s};
	pt_fconn_set_stream(s->up, &st);
	bool vmmd = strcmp(s->service, "vmmd") == 0;
	if (vmmd && s->chain.npolicies > 0)
		send_policy(s);
	else
		send_command(s);
}

/* ---- the client ---- */

static void
on_frame(tls_session *s, const uint8_t *p, size_t n)
{
	if (s->state == S_DRAIN)
		return;
	if (s->state != S_UPLOAD || s->up == NULL) {
		/* Like the daemons: a client that sends something during a
		 * stream ends it. */
		up_close(s);
		s->state = S_DONE;
		pt_fconn_close_when_flushed(s->t);
		return;
	}
	if (n == 0)
		return;  /* an empty chunk is no data, and no terminator */
	if (s->cmd_held && send_held_command(s) < 0)
		return;
	if (pt_fconn_send(s->up, p, n) < 0) {
		up_close(s);
		finish_failure(s, "writing block data");
		return;
	}
	/* At the pace petreld takes it: up_drain reads on. */
	if (pt_fconn_queued(s->up) >= UP_HIGH) {
		s->client_blocked = true;
		pt_fconn_pause(s->t);
	}
}

static void
on_end(tls_session *s)
{
	if (s->state == S_DRAIN) {
		s->state = S_DONE;
		pt_fconn_close_when_flushed(s->t);
		return;
	}
	if (s->state != S_UPLOAD || s->up == NULL) {
		up_close(s);
		s->state = S_DONE;
		pt_fconn_close_when_flushed(s->t);
		return;
	}
	if (s->cmd_held && send_held_command(s) < 0)
		return;
	if (pt_fconn_send(s->up, NULL, 0) < 0) {
		up_close(s);
		finish_failure(s, "writing block data");
		return;
	}
	/* Nothing more is awaited from the client. */
	pt_fconn_set_idle_timeout(s->t, 0);
	s->state = S_REPLY;
}

/* The client's frames once its command is sent (a stream, so that its
 * end of input cuts the session at once). */
static int
client_frame(pt_fconn *c, const uint8_t *p, size_t n, bool end, void *ctx)
{
	(void)c;
	if (end)
		on_end(ctx);
	else
		on_frame(ctx, p, n);
	return 0;
}

/* The client's output drained below CLIENT_LOW: relay on. */
static void
client_drain(pt_fconn *c, void *ctx)
{
	(void)c;
	tls_session *s = ctx;
	if (s->up != NULL && s->state == S_STREAM)
		pt_fconn_resume(s->up);
}

static void
on_closed(pt_fconn *c, const char *why, void *ctx)
{
	(void)c;
	tls_session *s = ctx;
	tls_log(s->state == S_DONE ? TLS_LOG_DEBUG : TLS_LOG_INFO,
	    "%s: connection closed: %s", s->peer_text,
	    s->tls_why[0] != '\0' ? s->tls_why : why);
	session_free(s);
}

static const pt_fconn_ops client_ops = {
	.closed = on_closed,
};

/* The verified chain gives the name and the command (tls.md). */
static void
login(tls_session *s, SSL *ssl)
{
	pt_err err = {{0}};
	pt_chain_cert certs[CHAIN_CAP];
	if (tlsctx_peer_verified(ssl, &err) < 0) {
		refuse(s, "tls", err.msg);
		return;
	}
	crl_refresh(s->d->crls);
	if (crl_check_chain(s->d->crls, SSL_get0_verified_chain(ssl),
	    &err) < 0) {
		refuse(s, "tls", err.msg);
		return;
	}
	int n = peer_chain(ssl, certs, CHAIN_CAP, &err);
	if (n < 0 || pt_chain_process(certs, (size_t)n, &s->arena, &s->chain,
	    &err) < 0) {
		refuse(s, "tls", err.msg);
		return;
	}
	endpoint_header(s, &s->chain.name);
	s->logged_in = true;
	tls_log(TLS_LOG_INFO, "%s: login as %s: %s", s->peer_text,
	    s->chain.name.text, pt_cmd_kind_name(s->chain.command.kind));
	record_endpoint(s->d, PT_EV_LOGIN, &s->chain.name, &s->peer);
	forward(s);
}

static void
on_handshake(SSL *ssl, const char *fail, void *ctx)
{
	tls_session *s = ctx;
	s->hs = NULL;
	if (ssl == NULL) {
		tls_log(TLS_LOG_INFO, "%s: connection closed: %s",
		    s->peer_text, fail);
		record_refused(s->d, &s->hdr.name, "tls", fail);
		session_free(s);
		return;
	}
	/* The SSL is still needed for the chain: the transport only holds
	 * it until the connection goes, after the session is done with it. */
	void *tr = pt_fconn_ssl_new(ssl, s->in_fd, s->out_fd, s->tls_why,
	    sizeof(s->tls_why));
	pt_fconn_params p = {.max_frame = CLIENT_MAX_FRAME,
	    .max_out = CLIENT_MAX_OUT, .pause_out = CLIENT_HIGH,
	    .low_water = CLIENT_LOW,
	    .write_timeout_ms = s->d->o.idle_timeout_ms};
	s->t = tr != NULL ? pt_fconn_open(s->d->base, s->in_fd, &pt_fconn_ssl,
	    tr, &p, &client_ops, s) : NULL;
	if (s->t == NULL) {
		tls_log(TLS_LOG_ERR, "%s: out of memory for a connection",
		    s->peer_text);
		session_free(s);
		return;
	}
	/* Nothing is read from the client until its command is sent. */
	pt_fconn_pause(s->t);
	login(s, ssl);
}

static void
describe_peer(tls_session *s)
{
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (s->peer.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)&s->peer;
		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		port = ntohs(a->sin_port);
	} else if (s->peer.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)&s->peer;
		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		port = ntohs(a->sin6_port);
	} else {
		snprintf(s->peer_text, sizeof(s->peer_text), "local");
		return;
	}
	snprintf(s->peer_text, sizeof(s->peer_text), "%s%s%s:%d",
	    s->peer.ss_family == AF_INET6 ? "[" : "", host,
	    s->peer.ss_family == AF_INET6 ? "]" : "", port);
}

void
session_start(tls_daemon *d, int in_fd, int out_fd,
    const struct sockaddr_storage *peer)
{
	tls_session *s = calloc(1, sizeof(*s));
	pt_err err = {{0}};
	if (s == NULL) {
		tls_log(TLS_LOG_ERR, "out of memory for a connection");
		close(in_fd);
		if (out_fd != in_fd)
			close(out_fd);
		listen_session_gone(d);
		return;
	}
	s->d = d;
	s->peer = *peer;
	s->in_fd = in_fd;
	s->out_fd = out_fd;
	describe_peer(s);
	pt_name root;
	pt_name_root(&root);
	endpoint_header(s, &root);
	s->hs = handshake_start(d, in_fd, out_fd, &s->verify_note,
	    on_handshake, s, &err);
	if (s->hs == NULL) {
		tls_log(TLS_LOG_ERR, "%s: %s", s->peer_text, err.msg);
		close(in_fd);
		if (out_fd != in_fd)
			close(out_fd);
		free(s);
		listen_session_gone(d);
		return;
	}
	s->next = d->sessions;
	if (d->sessions != NULL)
		d->sessions->prev = s;
	d->sessions = s;
	d->nsessions++;
}

static void
session_free(tls_session *s)
{
	tls_daemon *d = s->d;
	if (s->logged_in) {
		tls_log(TLS_LOG_INFO, "%s: logout of %s", s->peer_text,
		    s->chain.name.text);
		record_endpoint(d, PT_EV_LOGOUT, &s->chain.name, &s->peer);
	}
	up_close(s);
	handshake_free(s->hs);
	/* The transport, and the tls_why it writes to, go here at the
	 * latest (a closed connection's went already). */
	pt_fconn_free(s->t);
	pt_arena_free(&s->arena);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		d->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	d->nsessions--;
	free(s);
	listen_session_gone(d);
}

void
session_close_all(tls_daemon *d)
{
	while (d->sessions != NULL)
		session_free(d->sessions);
}

static bool
same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)(const void *)a)->sin_addr
		    .s_addr == ((const struct sockaddr_in *)(const void *)b)
		    ->sin_addr.s_addr;
	if (a->ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)(const void *)a)
		    ->sin6_addr, &((const struct sockaddr_in6 *)(const void *)
		    b)->sin6_addr, sizeof(struct in6_addr)) == 0;
	return false;
}

size_t
session_count_addr(tls_daemon *d, const struct sockaddr_storage *a)
{
	size_t n = 0;
	for (tls_session *s = d->sessions; s != NULL; s = s->next)
		if (same_addr(&s->peer, a))
			n++;
	return n;
}
