/*
 * petrel: the command-line client of petreld (docs/cli.md).
 *
 * This file holds the global options, the table of commands, --help and
 * the error reporting shared by the commands.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "escape.h"

enum {
	OPT_TMPDIR = 1000,
	OPT_SOCKET,
	OPT_JSON,
	OPT_VERBOSE,
	OPT_HELP,
	OPT_VERSION,
};

static const pt_cli_optspec global_opts[] = {
	{"tmpdir", 0, true, OPT_TMPDIR, "DIR",
	    "run dir of the daemons (default /run/petrel); the socket is "
	    "DIR/util/vmmd.sock"},
	{"socket", 0, true, OPT_SOCKET, "PATH",
	    "talk to this socket instead; '-' prints the encoded request as "
	    "hex and sends nothing"},
	{"json", 0, false, OPT_JSON, NULL, "machine-readable output"},
	{"verbose", 'v', false, OPT_VERBOSE, NULL,
	    "print the request and the replies on stderr"},
	{"help", 'h', false, OPT_HELP, NULL, "this help"},
	{"version", 0, false, OPT_VERSION, NULL,
	    "print the version and exit"},
	{NULL, 0, false, 0, NULL, NULL},
};

static const pt_client_cmd *const commands[] = {
	&pt_cmd_create, &pt_cmd_destroy, &pt_cmd_restart, &pt_cmd_info,
	&pt_cmd_get,
	&pt_cmd_policy, &pt_cmd_add_policy, &pt_cmd_replace_policy,
	&pt_cmd_remove_policy,
	&pt_cmd_create_block, &pt_cmd_destroy_block, &pt_cmd_block,
	&pt_cmd_set_block, &pt_cmd_dump_block,
	&pt_cmd_console, &pt_cmd_inactive_consoles,
	&pt_cmd_log,
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/* ---- errors ---- */

static void
vreport(const char *subject, const char *fmt, va_list ap)
{
	char msg[1024];
	pt_buf o = {0};

	vsnprintf(msg, sizeof(msg), fmt, ap);
	pt_buf_append(&o, "petrel: ", 8);
	if (subject != NULL) {
		pt_text_escape(&o, subject, strlen(subject));
		pt_buf_append(&o, ": ", 2);
	}
	pt_text_escape(&o, msg, strlen(msg));
	pt_buf_append_byte(&o, '\n');
	if (!o.oom)
		fwrite(o.data, 1, o.len, stderr);
	pt_buf_free(&o);
}

int
pt_report(int code, const char *subject, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(subject, fmt, ap);
	va_end(ap);
	return code;
}

int
pt_usage(const pt_client *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(c->command, fmt, ap);
	va_end(ap);
	if (c->command != NULL)
		fprintf(stderr, "Try 'petrel %s --help'.\n", c->command);
	else
		fprintf(stderr, "Try 'petrel --help'.\n");
	return PT_EXIT_USAGE;
}

int
pt_client_name(const pt_client *c, const char *s, pt_name *out)
{
	pt_err err;
	if (pt_name_parse_str(s, out, &err) != 0) {
		pt_usage(c, "invalid name '%s': %s", s, err.msg);
		return -1;
	}
	return 0;
}

int
pt_client_path(const pt_client *c, const char *s, pt_name *out)
{
	pt_err err;
	if (pt_cli_parse_path(s, out, &err) != 0) {
		pt_usage(c, "invalid path '%s': %s", s, err.msg);
		return -1;
	}
	return 0;
}

int
pt_client_name_arg(const pt_client *c, bool path_only, pt_name *out)
{
	if (c->args.npos == 0) {
		pt_name_root(out);
		return 0;
	}
	return path_only ? pt_client_path(c, c->args.pos[0], out) :
	    pt_client_name(c, c->args.pos[0], out);
}

/* ---- help ---- */

/* Prints text from column `indent`, wrapped before column 79. */
static void
print_wrapped(FILE *f, const char *text, int indent, int col)
{
	const char *p = text;
	while (*p != '\0') {
		int room = 79 - col;
		int len = (int)strlen(p);
		int cut = len;
		if (len > room) {
			cut = room;
			while (cut > 0 && p[cut] != ' ')
				cut--;
			if (cut == 0)
				cut = len;
		}
		fprintf(f, "%.*s\n", cut, p);
		p += cut;
		while (*p == ' ')
			p++;
		if (*p != '\0')
			fprintf(f, "%*s", indent, "");
		col = indent;
	}
}

static void
print_options(FILE *f, const pt_cli_optspec *opts)
{
	for (const pt_cli_optspec *o = opts; o->lng != NULL; o++) {
		char head[64];
		if (o->help == NULL)
			continue;
		if (o->shrt != 0)
			snprintf(head, sizeof(head), "-%c, --%s%s%s", o->shrt,
			    o->lng, o->has_arg ? " " : "",
			    o->has_arg ? o->argname : "");
		else
			snprintf(head, sizeof(head), "--%s%s%s", o->lng,
			    o->has_arg ? " " : "",
			    o->has_arg ? o->argname : "");
		if (strlen(head) <= 26)
			fprintf(f, "  %-26s ", head);
		else
			fprintf(f, "  %s\n%29s", head, "");
		print_wrapped(f, o->help, 29, 29);
	}
}

static void
global_help(FILE *f)
{
	fprintf(f, "usage: petrel [GLOBAL OPTIONS] COMMAND [ARGS]\n\n"
	    "Talks to petreld (and petrel-console) over their Unix sockets.\n"
	    "Names are albatross names: 'team:alice:web', ':web' or 'web' "
	    "at the root,\n'team:alice:' for a path.\n\nCommands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++) {
		fprintf(f, "  %-18s ", commands[i]->name);
		print_wrapped(f, commands[i]->summary, 21, 21);
	}
	fprintf(f, "\nGlobal options (before or after the command):\n");
	print_options(f, global_opts);
	fprintf(f, "\nExit codes: 0 success, 1 the daemon answered with a "
	    "failure,\n2 usage error, 3 communication error.\n"
	    "'petrel COMMAND --help' describes one command.\n");
}

static void
command_help(FILE *f, const pt_client_cmd *cmd)
{
	fprintf(f, "usage: petrel %s %s\n\n", cmd->name, cmd->synopsis);
	print_wrapped(f, cmd->summary, 0, 0);
	bool any = false;
	for (const pt_cli_optspec *o = cmd->opts; o->lng != NULL; o++)
		any = any || o->help != NULL;
	if (any) {
		fprintf(f, "\nOptions:\n");
		print_options(f, cmd->opts);
	}
	fprintf(f, "\nGlobal options:\n");
	print_options(f, global_opts);
}

/* ---- main ---- */

static const pt_client_cmd *
find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i]->name, name) == 0)
			return commands[i];
	return NULL;
}

/* The command word: the first word that is neither a global option nor
 * the value of one. Returns its index or -1. */
static int
command_index(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *w = argv[i];
		if (strcmp(w, "--tmpdir") == 0 || strcmp(w, "--socket") == 0) {
			i++;
			continue;
		}
		if (w[0] == '-' && strcmp(w, "--") != 0 && w[1] != '\0')
			continue;
		return i;
	}
	return -1;
}

static int
apply_global(pt_client *c, bool *help, bool *version)
{
	for (size_t i = 0; i < c->args.nopts; i++) {
		const pt_cli_optval *o = &c->args.opts[i];
		switch (o->id) {
		case OPT_TMPDIR:
			if (o->val[0] == '\0')
				return pt_usage(c, "--tmpdir needs a directory");
			c->tmpdir = o->val;
			break;
		case OPT_SOCKET:
			if (o->val[0] == '\0')
				return pt_usage(c, "--socket needs a path");
			c->socket = o->val;
			c->dry_run = strcmp(o->val, "-") == 0;
			break;
		case OPT_JSON:
			c->json = true;
			break;
		case OPT_VERBOSE:
			c->verbose = true;
			break;
		case OPT_HELP:
			*help = true;
			break;
		case OPT_VERSION:
			*version = true;
			break;
		default:
			break;
		}
	}
	return 0;
}

int
main(int argc, char **argv)
{
	pt_client c = {.tmpdir = "/run/petrel"};
	const pt_client_cmd *cmd = NULL;
	const pt_cli_optspec *tables[2] = {global_opts, NULL};
	size_t ntables = 1;
	bool help = false, version = false;
	pt_err err;

	int ci = command_index(argc, argv);
	if (ci > 0) {
		cmd = find_command(argv[ci]);
		if (cmd == NULL)
			return pt_usage(&c, "unknown command '%s'", argv[ci]);
		c.command = cmd->name;
		tables[ntables++] = cmd->opts;
	}
	/* Everything but the program and the command word is parsed in one
	 * go, so that global options may come anywhere. */
	char **rest = calloc((size_t)argc + 1, sizeof(*rest));
	const char **pos = calloc((size_t)argc + 1, sizeof(*pos));
	pt_cli_optval *opts = calloc((size_t)argc + 1, sizeof(*opts));
	if (rest == NULL || pos == NULL || opts == NULL)
		return pt_report(PT_EXIT_COMM, NULL, "out of memory");
	int nrest = 0;
	for (int i = 1; i < argc; i++)
		if (i != ci)
			rest[nrest++] = argv[i];
	int rc;
	if (pt_cli_parse(nrest, rest, tables, ntables, pos, opts, &c.args,
	    &err) != 0) {
		rc = pt_usage(&c, "%s", err.msg);
		goto out;
	}
	rc = apply_global(&c, &help, &version);
	if (rc != 0)
		goto out;
	if (version) {
		puts("petrel " PETREL_VERSION);
		rc = fflush(stdout) == 0 ? PT_EXIT_OK : PT_EXIT_COMM;
		goto out;
	}
	if (help) {
		if (cmd != NULL)
			command_help(stdout, cmd);
		else
			global_help(stdout);
		rc = fflush(stdout) == 0 ? PT_EXIT_OK : PT_EXIT_COMM;
		goto out;
	}
	if (cmd == NULL) {
		global_help(stderr);
		rc = PT_EXIT_USAGE;
		goto out;
	}
	if (c.args.npos < cmd->min_pos || c.args.npos > cmd->max_pos) {
		rc = pt_usage(&c, "%s arguments (usage: petrel %s %s)",
		    c.args.npos < cmd->min_pos ? "missing" : "too many",
		    cmd->name, cmd->synopsis);
		goto out;
	}
	rc = cmd->run(&c);
out:
	free(rest);
	free(pos);
	free(opts);
	return rc;
}
