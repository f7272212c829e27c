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
	OPT_REMOTE,
	OPT_CA_CERT,
	OPT_CA_KEY,
	OPT_SERVER_CA,
	OPT_KEY_TYPE,
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
	{"remote", 0, true, OPT_REMOTE, "HOST[:PORT]",
	    "run the command on petrel-tls (or albatross-tls-endpoint) at "
	    "HOST, port 1025 by default, in a certificate signed by --ca-cert"},
	{"destination", 0, true, OPT_REMOTE, "HOST[:PORT]",
	    "the same as --remote (albatross-client's spelling)"},
	{"ca-cert", 0, true, OPT_CA_CERT, "FILE",
	    "the CA certificate that signs (PEM; more certificates after it "
	    "are its chain); default ca.pem with --remote"},
	{"ca", 0, true, OPT_CA_CERT, "FILE", "the same as --ca-cert"},
	{"ca-key", 0, true, OPT_CA_KEY, "FILE",
	    "the CA's private key (PEM); default ca.key with --remote"},
	{"server-ca", 0, true, OPT_SERVER_CA, "FILE",
	    "verify the server (and our chain) against this CA; default "
	    "cacert.pem"},
	{"key-type", 0, true, OPT_KEY_TYPE, "TYPE",
	    "type of new keys: ed25519 (default), p256, p384, p521, rsa2048, "
	    "rsa4096"},
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
	&pt_cmd_stats,
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/* `petrel ca SUBCOMMAND`; each one's name is "ca WORD". */
static const pt_client_cmd *const ca_commands[] = {
	&pt_cmd_ca_generate, &pt_cmd_ca_request, &pt_cmd_ca_sign,
	&pt_cmd_ca_revoke,
};
#define NCA (sizeof(ca_commands) / sizeof(ca_commands[0]))

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
	fprintf(f, "  %-18s ", "ca SUBCOMMAND");
	print_wrapped(f, "certificates: generate, request, sign, revoke "
	    "('petrel ca --help')", 21, 21);
	fprintf(f, "\nGlobal options (before or after the command):\n");
	print_options(f, global_opts);
	fprintf(f, "\nExit codes: 0 success, 1 the daemon answered with a "
	    "failure,\n2 usage error, 3 communication error.\n"
	    "'petrel COMMAND --help' describes one command.\n");
}

static void
ca_help(FILE *f)
{
	fprintf(f, "usage: petrel ca SUBCOMMAND [ARGS]\n\n"
	    "Certificates for petrel-tls and albatross (the profiles of "
	    "albatross-client).\nFiles are written in the current directory; "
	    "keys with mode 0600.\n\nSubcommands:\n");
	for (size_t i = 0; i < NCA; i++) {
		fprintf(f, "  %-18s ", ca_commands[i]->name + 3);
		print_wrapped(f, ca_commands[i]->summary, 21, 21);
	}
	fprintf(f, "\n'petrel ca SUBCOMMAND --help' describes one.\n");
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

static const pt_client_cmd *
find_ca_command(const char *word)
{
	for (size_t i = 0; i < NCA; i++)
		if (strcmp(ca_commands[i]->name + 3, word) == 0)
			return ca_commands[i];
	return NULL;
}

/* Does the option word w take the next word as its value? Only global
 * options can come before the command word. */
static bool
takes_value(const char *w)
{
	if (w[1] != '-' || strchr(w, '=') != NULL)
		return false;
	for (const pt_cli_optspec *o = global_opts; o->lng != NULL; o++)
		if (strcmp(o->lng, w + 2) == 0)
			return o->has_arg;
	return false;
}

/* The next command word from argv[from]: the first word that is neither
 * a global option nor the value of one. Returns its index or -1. */
static int
word_index(int argc, char **argv, int from)
{
	for (int i = from; i < argc; i++) {
		const char *w = argv[i];
		if (w[0] == '-' && strcmp(w, "--") != 0 && w[1] != '\0') {
			if (takes_value(w))
				i++;
			continue;
		}
		return i;
	}
	return -1;
}

/* The words main takes out of argv before parsing the rest: the command,
 * or "ca", the subcommand, and for "ca request" its NAME and COMMAND. */
typedef struct {
	int idx[4];
	int n;
	bool ca_group;   /* "ca" without a known subcommand yet */
} cmd_words;

static bool
is_taken(const cmd_words *w, int i)
{
	for (int k = 0; k < w->n; k++)
		if (w->idx[k] == i)
			return true;
	return false;
}

/* Finds the command to run; on a usage error returns its exit code. */
static int
find_words(pt_client *c, int argc, char **argv, cmd_words *w,
    const pt_client_cmd **cmd)
{
	int ci = word_index(argc, argv, 1);
	*cmd = NULL;
	w->n = 0;
	w->ca_group = false;
	if (ci < 0)
		return 0;
	w->idx[w->n++] = ci;
	if (strcmp(argv[ci], "ca") != 0) {
		*cmd = find_command(argv[ci]);
		if (*cmd == NULL)
			return pt_usage(c, "unknown command '%s'", argv[ci]);
		return 0;
	}
	c->command = "ca";
	w->ca_group = true;
	int si = word_index(argc, argv, ci + 1);
	if (si < 0)
		return 0;
	*cmd = find_ca_command(argv[si]);
	if (*cmd == NULL)
		return pt_usage(c, "unknown subcommand '%s'", argv[si]);
	w->idx[w->n++] = si;
	w->ca_group = false;
	c->command = (*cmd)->name;
	if (*cmd != &pt_cmd_ca_request)
		return 0;
	/* ca request NAME COMMAND [ARGS]: COMMAND runs with its own options
	 * and writes NAME.req instead of asking a daemon. */
	int ni = word_index(argc, argv, si + 1);
	int ki = ni < 0 ? -1 : word_index(argc, argv, ni + 1);
	if (ki < 0)
		return 0;     /* help, or the usage error after parsing */
	const pt_client_cmd *inner = find_command(argv[ki]);
	if (inner == NULL)
		return pt_usage(c, "unknown command '%s'", argv[ki]);
	w->idx[w->n++] = ni;
	w->idx[w->n++] = ki;
	c->csr_base = argv[ni];
	c->command = inner->name;
	*cmd = inner;
	return 0;
}

/* --remote, --socket and `ca request` exclude each other; the remote
 * defaults are albatross-client's. */
static int
check_modes(pt_client *c)
{
	if (c->remote != NULL && (c->socket != NULL || c->csr_base != NULL))
		return pt_usage(c, "--remote cannot be combined with %s",
		    c->socket != NULL ? "--socket" : "ca request");
	if (c->csr_base != NULL) {
		if (c->socket != NULL)
			return pt_usage(c, "ca request sends nothing: no "
			    "--socket");
		if (c->csr_base[0] == '\0')
			return pt_usage(c, "ca request needs a NAME for its "
			    "files");
		c->dry_run = true;
	}
	if (c->remote != NULL) {
		if (c->remote[0] == '\0')
			return pt_usage(c, "--remote needs HOST[:PORT]");
		if (c->ca_cert == NULL)
			c->ca_cert = "ca.pem";
		if (c->ca_key == NULL)
			c->ca_key = "ca.key";
	}
	if (c->server_ca == NULL)
		c->server_ca = "cacert.pem";
	return 0;
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
		case OPT_REMOTE:
			c->remote = o->val;
			break;
		case OPT_CA_CERT:
			c->ca_cert = o->val;
			break;
		case OPT_CA_KEY:
			c->ca_key = o->val;
			break;
		case OPT_SERVER_CA:
			c->server_ca = o->val;
			break;
		case OPT_KEY_TYPE: {
			pt_err err;
			if (pt_keytype_parse(o->val, &c->key_type, &err) != 0)
				return pt_usage(c, "%s", err.msg);
			break;
		}
		case OPT_VERSION:
			*version = true;
			break;
		default:
			break;
		}
	}
	return check_modes(c);
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

	cmd_words words;
	int rc = find_words(&c, argc, argv, &words, &cmd);
	if (rc != 0)
		return rc;
	if (cmd != NULL) {
		if (c.csr_base == NULL)
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
		if (!is_taken(&words, i))
			rest[nrest++] = argv[i];
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
		else if (words.ca_group)
			ca_help(stdout);
		else
			global_help(stdout);
		rc = fflush(stdout) == 0 ? PT_EXIT_OK : PT_EXIT_COMM;
		goto out;
	}
	if (cmd == NULL) {
		if (words.ca_group)
			ca_help(stderr);
		else
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
