/*
 * One conversation with a daemon: encode the command, send it (or print it
 * with --socket=-), read and check the replies.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "client.h"
#include "escape.h"

/* Decoded replies may allocate this much; a hostile daemon cannot make
 * the client allocate without bound. */
#define DECODE_LIMIT ((size_t)512 * 1024 * 1024)

/* albatross's paths: <tmpdir>/util/vmmd.sock and util/console.sock. The
 * latter is petreld's symlink to petrel-console's own socket,
 * <tmpdir>/console/console.sock, which is used directly while there is no
 * link (petrel-console running without a petreld yet). */
static const char *
socket_path(const pt_client *c, pt_sock_kind sock, char *buf, size_t cap)
{
	if (c->socket != NULL)
		return c->socket;
	if (sock == PT_SOCK_STATS) {
		snprintf(buf, cap, "%s/util/stat.sock", c->tmpdir);
		return buf;
	}
	if (sock != PT_SOCK_CONSOLE) {
		snprintf(buf, cap, "%s/util/vmmd.sock", c->tmpdir);
		return buf;
	}
	struct stat st;
	snprintf(buf, cap, "%s/console/console.sock", c->tmpdir);
	if (stat(buf, &st) == 0) {
		char link[4096];
		snprintf(link, sizeof(link), "%s/util/console.sock",
		    c->tmpdir);
		if (lstat(link, &st) < 0 && errno == ENOENT)
			return buf;
	}
	snprintf(buf, cap, "%s/util/console.sock", c->tmpdir);
	return buf;
}

static void
verbose_print(const pt_client *c, const char *dir, const pt_wire *w)
{
	pt_buf line = {0};

	if (!c->verbose)
		return;
	if (pt_wire_print(w, &line) == 0 && !line.oom) {
		pt_buf esc = {0};
		pt_text_escape(&esc, (const char *)line.data, line.len);
		fprintf(stderr, "%s %.*s\n", dir, (int)esc.len,
		    esc.data != NULL ? (const char *)esc.data : "");
		pt_buf_free(&esc);
	}
	pt_buf_free(&line);
}

static int
print_hex(const pt_buf *body)
{
	char *hex = malloc(2 * body->len + 1);
	if (hex == NULL)
		return pt_report(PT_EXIT_COMM, "petrel", "out of memory");
	pt_hex_encode(body->data, body->len, hex);
	printf("%s\n", hex);
	free(hex);
	return fflush(stdout) == 0 ? 0 :
	    pt_report(PT_EXIT_COMM, "stdout", "write error");
}

int
pt_request_start(const pt_client *c, pt_sock_kind sock, const pt_name *name,
    const pt_command *cmd, pt_conn *conn, int *rc)
{
	pt_wire w;
	pt_buf body = {0};
	pt_err err;
	char path[4096];

	memset(&w, 0, sizeof(w));
	pt_header_init(&w.header, 0, name);
	w.kind = PT_PAYLOAD_COMMAND;
	w.u.command = *cmd;
	memset(conn, 0, sizeof(*conn));
	conn->fd = -1;
	if (pt_wire_encode(&w, &body, &err) != 0 || body.oom) {
		pt_buf_free(&body);
		*rc = pt_report(PT_EXIT_USAGE, name->text,
		    "cannot encode the request: %s",
		    body.oom ? "out of memory" : err.msg);
		return -1;
	}
	if (c->csr_base != NULL) {
		pt_buf_free(&body);
		return pt_remote_csr(c, name, cmd, rc) == 0 ? 1 : -1;
	}
	if (c->dry_run) {
		*rc = print_hex(&body);
		pt_buf_free(&body);
		return *rc == 0 ? 1 : -1;
	}
	verbose_print(c, "->", &w);
	if (c->remote != NULL) {
		pt_buf_free(&body);
		return pt_remote_start(c, name, cmd, conn, rc);
	}
	const char *p = socket_path(c, sock, path, sizeof(path));
	if (pt_conn_open(conn, p, PT_CLIENT_MAX_FRAME, &err) != 0 ||
	    pt_conn_send_frame(conn, body.data, body.len, &err) != 0) {
		pt_buf_free(&body);
		pt_conn_close(conn);
		*rc = pt_report(PT_EXIT_COMM, NULL, "%s", err.msg);
		return -1;
	}
	pt_buf_free(&body);
	return 0;
}

int
pt_request_read(const pt_client *c, pt_conn *conn, const pt_name *name,
    pt_arena *a, pt_wire *w, int *rc)
{
	const uint8_t *body;
	size_t len;
	pt_err err;

	int r = pt_conn_next(conn, &body, &len, &err);
	if (r == 0)
		return 0;
	if (r < 0) {
		*rc = pt_report(PT_EXIT_COMM, name->text, "%s", err.msg);
		return -1;
	}
	pt_arena_free(a);
	a->limit = DECODE_LIMIT;
	if (pt_wire_decode(body, len, a, w, &err) != 0) {
		*rc = pt_report(PT_EXIT_COMM, name->text,
		    "undecodable reply: %s", err.msg);
		return -1;
	}
	verbose_print(c, "<-", w);
	/* Replies carry the request's header (§8.1); console and stats data
	 * carry their own name but sequence 0 too. */
	if (w->header.sequence != 0) {
		*rc = pt_report(PT_EXIT_COMM, name->text,
		    "reply with sequence %lld to a request with sequence 0",
		    (long long)w->header.sequence);
		return -1;
	}
	if (w->kind == PT_PAYLOAD_COMMAND) {
		*rc = pt_report(PT_EXIT_COMM, name->text,
		    "the daemon sent a command instead of a reply");
		return -1;
	}
	return 1;
}

int
pt_request_reply(const pt_client *c, pt_conn *conn, const pt_name *name,
    pt_arena *a, pt_wire *w, int *rc)
{
	int r = pt_request_read(c, conn, name, a, w, rc);
	if (r == 0) {
		*rc = pt_report(PT_EXIT_COMM, name->text,
		    "connection closed without a reply");
		return -1;
	}
	return r;
}

int
pt_request_simple(const pt_client *c, pt_sock_kind sock,
    const pt_name *name, const pt_command *cmd)
{
	pt_conn conn;
	pt_arena a = {0};
	pt_wire w;
	int rc = 0;

	int r = pt_request_start(c, sock, name, cmd, &conn, &rc);
	if (r != 0)
		return r > 0 ? PT_EXIT_OK : rc;
	if (pt_request_reply(c, &conn, name, &a, &w, &rc) > 0)
		rc = pt_out_reply(c, &w);
	pt_arena_free(&a);
	pt_conn_close(&conn);
	return rc;
}

int
pt_request_query(const pt_client *c, const pt_name *name,
    const pt_command *cmd, pt_conn *conn, pt_arena *a, pt_wire *w)
{
	int rc = 0;

	memset(conn, 0, sizeof(*conn));
	conn->fd = -1;
	if (c->dry_run)
		return pt_usage(c, "needs an answer from the daemon, so it "
		    "cannot be used with --socket=- or in a certificate "
		    "request");
	if (pt_request_start(c, PT_SOCK_VMMD, name, cmd, conn, &rc) != 0)
		return rc;
	if (pt_request_reply(c, conn, name, a, w, &rc) > 0 &&
	    w->kind != PT_PAYLOAD_SUCCESS)
		rc = pt_out_reply(c, w);
	return rc;
}

int
pt_request_stream(const pt_client *c, pt_conn *conn, const pt_name *name,
    int (*status)(const pt_client *c, const pt_wire *w),
    pt_data_kind kind, const char *what, bool endless,
    int (*item)(const pt_client *c, const pt_data *d))
{
	pt_arena a = {0};
	pt_wire w;
	int rc = 0, r;

	if (pt_request_reply(c, conn, name, &a, &w, &rc) <= 0)
		goto out;
	rc = status(c, &w);
	if (rc != 0)
		goto out;
	/* Until the daemon closes the stream or we are interrupted. */
	while ((r = pt_request_read(c, conn, name, &a, &w, &rc)) > 0) {
		if (w.kind == PT_PAYLOAD_FAILURE) {
			rc = pt_out_reply(c, &w);
			break;
		}
		if (w.kind != PT_PAYLOAD_DATA || w.u.data.kind != kind) {
			rc = pt_report(PT_EXIT_COMM, name->text,
			    "unexpected message on the %s", what);
			break;
		}
		rc = item(c, &w.u.data);
		if (rc != 0)
			break;
	}
	if (r == 0 && rc == 0 && endless)
		rc = pt_report(PT_EXIT_COMM, name->text, "the daemon ended the "
		    "%s", what);
out:
	pt_arena_free(&a);
	return rc;
}
