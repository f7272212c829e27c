/*
 * `petrel log`: petreld's event log (docs/eventlog.md), a stream on
 * vmmd.sock. The subscribe reply comes first, then one event per data
 * message; without --follow petreld closes the stream after the history.
 */
#include <stdio.h>
#include <string.h>

#include "client.h"

enum {
	OPT_SINCE = 1,
	OPT_FOLLOW,
};

static const pt_cli_optspec log_opts[] = {
	{"since", 0, true, OPT_SINCE, "TIME",
	    "only the events since TIME (RFC 3339, e.g. "
	    "2024-01-02T03:04:05Z); default: all that petreld still holds"},
	{"follow", 'f', false, OPT_FOLLOW, NULL,
	    "after the history, show new events as they happen, until "
	    "interrupted"},
	{NULL, 0, false, 0, NULL, NULL},
};

static int
subscribe_arg(const pt_client *c, pt_log_subscribe *sub)
{
	const pt_cli_optval *since = pt_cli_last(&c->args, OPT_SINCE);
	pt_err err;

	memset(sub, 0, sizeof(*sub));
	sub->follow = pt_cli_last(&c->args, OPT_FOLLOW) != NULL;
	if (since != NULL) {
		sub->has_since = true;
		if (pt_cli_parse_time(since->val, &sub->since_ms, &err) != 0)
			return pt_usage(c, "%s", err.msg);
	}
	return 0;
}

/* The subscribe reply: a success is not printed (stdout carries only
 * events, so that every --json line is one event); a failure is, and
 * ends the command with exit code 1. */
static int
check_subscribed(const pt_client *c, const pt_wire *w)
{
	if (w->kind == PT_PAYLOAD_SUCCESS)
		return PT_EXIT_OK;
	return pt_out_reply(c, w);
}

static int
print_event(const pt_client *c, const pt_data *d)
{
	return pt_out_event(c, &d->u.event);
}

static int
run_log(pt_client *c)
{
	pt_name name;
	pt_command cmd = {.kind = PT_CMD_LOG_SUBSCRIBE};
	pt_conn conn;
	int rc = 0;

	if (pt_client_name_arg(c, false, &name) != 0)
		return PT_EXIT_USAGE;
	if ((rc = subscribe_arg(c, &cmd.u.log)) != 0)
		return rc;
	int r = pt_request_start(c, PT_SOCK_VMMD, &name, &cmd, &conn, &rc);
	if (r != 0)
		return r > 0 ? PT_EXIT_OK : rc;
	rc = pt_request_stream(c, &conn, &name, check_subscribed, PT_DATA_LOG,
	    "event stream", cmd.u.log.follow, print_event);
	pt_conn_close(&conn);
	return rc;
}

const pt_client_cmd pt_cmd_log = {
	"log", "[NAME|PATH] [--since TIME] [--follow]",
	"show petreld's events about a unikernel, or everything below a path "
	"(default ':', all); with --follow keep showing new ones",
	log_opts, 0, 1, run_log,
};
