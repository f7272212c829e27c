/*
 * Console commands, answered by petrel-console on <tmpdir>/util/console.sock
 * (petreld's symlink to <tmpdir>/console/console.sock)
 * (albatross-wire.md §8.3): console (subscribe) and inactive-consoles.
 */
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "escape.h"

enum {
	OPT_SINCE = 1,
	OPT_COUNT,
};

/* albatross-client's default: the last 20 lines. */
#define DEFAULT_COUNT 20
/* The console daemon keeps 1024 lines per unikernel. */
#define MAX_COUNT 1024

static const pt_cli_optspec console_opts[] = {
	{"since", 0, true, OPT_SINCE, "TIME",
	    "the lines since TIME (RFC 3339, e.g. 2024-01-02T03:04:05Z)"},
	{"count", 0, true, OPT_COUNT, "N", "the last N lines (default 20)"},
	{NULL, 0, false, 0, NULL, NULL},
};

static int
subscribe_arg(const pt_client *c, pt_subscribe *sub)
{
	const pt_cli_optval *since = pt_cli_last(&c->args, OPT_SINCE);
	const pt_cli_optval *count = pt_cli_last(&c->args, OPT_COUNT);
	pt_err err;

	if (since != NULL && count != NULL)
		return pt_usage(c, "--since and --count exclude each other");
	if (since != NULL) {
		sub->by_count = false;
		if (pt_cli_parse_time(since->val, &sub->since, &err) != 0)
			return pt_usage(c, "%s", err.msg);
		return 0;
	}
	sub->by_count = true;
	sub->count = DEFAULT_COUNT;
	if (count != NULL && pt_cli_parse_int("count", count->val, 1,
	    MAX_COUNT, &sub->count, &err) != 0)
		return pt_usage(c, "%s", err.msg);
	return 0;
}

/* The first reply says whether the unikernel runs ("subscribed") or not
 * yet ("waiting for VM"). Text mode shows it on stderr, so that stdout has
 * only console lines. */
static int
show_status(const pt_client *c, const pt_wire *w)
{
	if (c->json || w->kind != PT_PAYLOAD_SUCCESS ||
	    w->u.success.kind != PT_OK_STRING)
		return pt_out_reply(c, w);
	pt_buf o = {0};
	pt_text_escape(&o, w->u.success.u.string.s,
	    w->u.success.u.string.len);
	if (!o.oom)
		fprintf(stderr, "%s: %.*s\n", w->header.name.text, (int)o.len,
		    o.data != NULL ? (const char *)o.data : "");
	pt_buf_free(&o);
	return PT_EXIT_OK;
}

static int
print_line(const pt_client *c, const pt_data *d)
{
	return pt_out_console_line(c, d->u.console.time, &d->u.console.line);
}

static int
run_console(pt_client *c)
{
	pt_name name;
	pt_command cmd = {.kind = PT_CMD_CONSOLE_SUBSCRIBE};
	pt_conn conn;
	int rc = 0;

	if (pt_client_name(c, c->args.pos[0], &name) != 0)
		return PT_EXIT_USAGE;
	if (!name.has_label)
		return pt_usage(c, "'%s' is a path, not a unikernel name",
		    name.text);
	if ((rc = subscribe_arg(c, &cmd.u.subscribe)) != 0)
		return rc;
	int r = pt_request_start(c, PT_SOCK_CONSOLE, &name, &cmd, &conn, &rc);
	if (r != 0)
		return r > 0 ? PT_EXIT_OK : rc;
	rc = pt_request_stream(c, &conn, &name, show_status, PT_DATA_CONSOLE,
	    "console stream", true, print_line);
	pt_conn_close(&conn);
	return rc;
}

const pt_client_cmd pt_cmd_console = {
	"console", "NAME [--since TIME|--count N]",
	"show the console output of a unikernel, then follow it until "
	"interrupted",
	console_opts, 1, 1, run_console,
};

static const pt_cli_optspec inactive_opts[] = {
	PT_ALBATROSS_PATH_OPT,
	{NULL, 0, false, 0, NULL, NULL},
};

static int
run_inactive(pt_client *c)
{
	pt_name path;
	pt_command cmd = {.kind = PT_CMD_CONSOLE_LIST_INACTIVE};

	if (pt_client_name_arg(c, true, &path) != 0)
		return PT_EXIT_USAGE;
	return pt_request_simple(c, PT_SOCK_CONSOLE, &path, &cmd);
}

const pt_client_cmd pt_cmd_inactive_consoles = {
	"inactive-consoles", "[PATH]",
	"list the unikernels below PATH that stopped but whose console "
	"output is still kept",
	inactive_opts, 0, 1, run_inactive,
};
