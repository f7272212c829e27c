/*
 * The petrel client: what every command implementation shares. The
 * command line contract (commands, output, exit codes) is docs/cli.md.
 */
#ifndef PETREL_CLIENT_H
#define PETREL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "args.h"
#include "name.h"
#include "transport.h"
#include "util.h"
#include "wire.h"
#include "x509.h"

/* Exit codes (docs/cli.md). */
enum {
	PT_EXIT_OK = 0,
	PT_EXIT_FAILURE = 1,   /* the daemon answered with a failure */
	PT_EXIT_USAGE = 2,     /* bad option, bad name, unreadable input file */
	PT_EXIT_COMM = 3,      /* cannot connect, closed, undecodable reply */
};

/* Largest accepted reply frame: an image of up to 1 GiB plus its
 * envelope. */
#define PT_CLIENT_MAX_FRAME ((size_t)1024 * 1024 * 1024 + 64 * 1024)
/* Largest image `create` sends, and `get` writes (uncompressed). */
#define PT_CLIENT_MAX_IMAGE ((size_t)1024 * 1024 * 1024)

typedef struct {
	const char *tmpdir;    /* --tmpdir (default /run/petrel) */
	const char *socket;    /* --socket PATH, NULL: the daemon's default */
	bool dry_run;          /* --socket=- : print the request as hex */
	bool json;
	bool verbose;
	/* Remote mode (--remote): the command goes into a leaf certificate
	 * signed by ca_cert/ca_key, over TLS to petrel-tls. */
	const char *remote;    /* HOST[:PORT] */
	const char *ca_cert;   /* --ca-cert (default ca.pem) */
	const char *ca_key;    /* --ca-key (default ca.key) */
	const char *server_ca; /* --server-ca (default cacert.pem) */
	pt_keytype key_type;   /* --key-type (default ed25519) */
	/* `petrel ca request NAME COMMAND`: the command goes into NAME.req
	 * instead (implies dry_run: nothing is asked of a daemon). */
	const char *csr_base;
	const char *command;   /* the command's name, for messages */
	pt_cli_args args;      /* its positionals and options */
} pt_client;

typedef struct {
	const char *name;
	const char *synopsis;      /* what follows "petrel NAME" in usage */
	const char *summary;       /* one line */
	const pt_cli_optspec *opts;
	size_t min_pos, max_pos;   /* allowed number of positionals */
	int (*run)(pt_client *c);  /* returns the exit code */
} pt_client_cmd;

/* albatross-client's spellings of the options petrel spells otherwise,
 * accepted so that albatross users' habits and scripts work (issue 14;
 * petrel(1), ALBATROSS SPELLINGS). Not listed by --help. */
#define PT_ALBATROSS_NAME_OPT \
	{"name", 'n', true, PT_CLI_POSITIONAL, "NAME", NULL}
#define PT_ALBATROSS_PATH_OPT \
	{"path", 'p', true, PT_CLI_POSITIONAL, "PATH", NULL}
#define PT_ALBATROSS_LEVEL_OPT(id) \
	{"compression-level", 0, true, (id), "N", NULL}

/* The commands, one group per file. */
extern const pt_client_cmd pt_cmd_create, pt_cmd_destroy, pt_cmd_restart,
    pt_cmd_info, pt_cmd_get;
extern const pt_client_cmd pt_cmd_policy, pt_cmd_add_policy,
    pt_cmd_replace_policy, pt_cmd_remove_policy;
extern const pt_client_cmd pt_cmd_create_block, pt_cmd_destroy_block,
    pt_cmd_block, pt_cmd_set_block, pt_cmd_dump_block;
extern const pt_client_cmd pt_cmd_console, pt_cmd_inactive_consoles;
extern const pt_client_cmd pt_cmd_log;
extern const pt_client_cmd pt_cmd_stats;
/* `petrel ca SUBCOMMAND` (cmd_ca.c); request is special: main runs the
 * command that follows its NAME in CSR mode. */
extern const pt_client_cmd pt_cmd_ca_generate, pt_cmd_ca_request,
    pt_cmd_ca_sign, pt_cmd_ca_revoke;

/* ---- errors (stderr) ---- */

/* "petrel: <command>: <message>" and a pointer to --help; returns 2. */
int pt_usage(const pt_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "petrel: <subject>: <message>" (message escaped); returns code. */
int pt_report(int code, const char *subject, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Parses a NAME / PATH positional; on error prints a usage error and
 * returns -1. */
int pt_client_name(const pt_client *c, const char *s, pt_name *out);
int pt_client_path(const pt_client *c, const char *s, pt_name *out);
/* The optional first positional of the listing commands (info, block,
 * policy, log, inactive-consoles): a name, or only a path if path_only;
 * the root ':' when absent. -1 after a usage error. */
int pt_client_name_arg(const pt_client *c, bool path_only, pt_name *out);

/* ---- requests (request.c) ---- */

typedef enum { PT_SOCK_VMMD, PT_SOCK_CONSOLE, PT_SOCK_STATS } pt_sock_kind;

/* Encodes `cmd` for `name` (sequence 0). With --socket=- prints the hex and
 * returns 1. Otherwise connects, sends it (printed on stderr with -v) and
 * returns 0 with conn open. On failure reports it and returns -1 with the
 * exit code in *rc. */
int pt_request_start(const pt_client *c, pt_sock_kind sock,
    const pt_name *name, const pt_command *cmd, pt_conn *conn, int *rc);

/* Reads the next message of the conversation into w (allocated in a).
 * Checks that a reply carries our sequence number (0). Returns 1 with a
 * message, 0 when the peer ended the conversation, -1 on a communication
 * error (reported; *rc = 3). */
int pt_request_read(const pt_client *c, pt_conn *conn, const pt_name *name,
    pt_arena *a, pt_wire *w, int *rc);

/* Like pt_request_read, but a missing message is an error too. */
int pt_request_reply(const pt_client *c, pt_conn *conn, const pt_name *name,
    pt_arena *a, pt_wire *w, int *rc);

/* A subscription's stream: the first reply goes to `status` (which
 * returns an exit code; non-zero ends the stream), then every data message
 * of kind `kind` to `item`, until the daemon closes the stream, `item`
 * returns non-zero, or a failure or another message arrives (`what` names
 * the stream in that error). A stream that only the user ends (`endless`:
 * console, log --follow) and that the daemon closes is a communication
 * error: lines or events may have been lost (a subscriber that falls
 * behind is dropped). Returns the exit code. */
int pt_request_stream(const pt_client *c, pt_conn *conn, const pt_name *name,
    int (*status)(const pt_client *c, const pt_wire *w),
    pt_data_kind kind, const char *what, bool endless,
    int (*item)(const pt_client *c, const pt_data *d));

/* One command, one reply, printed. Returns the exit code. */
int pt_request_simple(const pt_client *c, pt_sock_kind sock,
    const pt_name *name, const pt_command *cmd);

/* One command to vmmd whose successful reply the caller inspects (a query
 * made on the way, like `info` before a restart). Returns 0 with the
 * reply in *w (a success), or an exit code != 0 after printing the
 * problem. With --socket=- the query cannot be made: PT_EXIT_USAGE. The
 * reply may point into conn's buffer: pt_conn_close(conn) after use, in
 * every case. */
int pt_request_query(const pt_client *c, const pt_name *name,
    const pt_command *cmd, pt_conn *conn, pt_arena *a, pt_wire *w);

/* ---- commands in certificates (remote.c) ---- */

/* pt_request_start over TLS: the command in an on-the-fly leaf, a large
 * image streamed after it. 0 with conn open, or -1 with *rc. */
int pt_remote_start(const pt_client *c, const pt_name *name,
    const pt_command *cmd, pt_conn *conn, int *rc);
/* pt_request_start of `ca request`: writes csr_base.req (and .key).
 * 0 with *rc = 0, or -1 with *rc. */
int pt_remote_csr(const pt_client *c, const pt_name *name,
    const pt_command *cmd, int *rc);

/* ---- output (output.c) ---- */

/* Prints a reply (success or failure) per docs/cli.md; returns 0 for a
 * success, 1 for a failure, 3 for a message that is no reply. */
int pt_out_reply(const pt_client *c, const pt_wire *w);
/* A failure found by the client itself on the daemon's answers (no such
 * unikernel, no policy to replace): like a daemon failure, exit code 1,
 * "petrel: <subject>: <message>" on stderr or the failure object with
 * --json. */
int pt_out_failure(const pt_client *c, const char *subject,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A success made by the client itself (e.g. after writing a file):
 * text: the message; JSON: kind, "message", and a "file"/"size" pair when
 * file is non-NULL. */
int pt_out_client_success(const pt_client *c, const char *kind,
    const char *message, const char *file, uint64_t size);
/* A console line: text "<time> <line>", JSON one object per line.
 * Returns 0, or 3 when stdout cannot be written. */
int pt_out_console_line(const pt_client *c, pt_time_ms t,
    const pt_text *line);
/* An event of petreld's log: text "<time> <kind> <name> <details>", JSON
 * one object per event (docs/cli.md). Returns 0, or 3 when stdout cannot
 * be written. */
int pt_out_event(const pt_client *c, const pt_event *e);
/* Writes out.data to stdout; returns -1 if stdout fails. */
int pt_out_flush(pt_buf *out);

#endif
