/*
 * The pure part of the client's command line: a small option parser that
 * lets global options appear before or after the command, and the parsers
 * of the option values that have a syntax of their own (--net, --block,
 * integers, MAC addresses, times). No I/O, so that all of it is unit-tested
 * (tests/unit/test_client_args.c).
 */
#ifndef PETREL_CLIENT_ARGS_H
#define PETREL_CLIENT_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "name.h"
#include "util.h"
#include "wire.h"

/* ---- the option parser ---- */

/* An option whose value is taken as the next positional argument:
 * albatross-client's `info --name=NAME` for `info NAME`. */
#define PT_CLI_POSITIONAL (-1)

/* An entry with help NULL is an alias that --help does not list
 * (albatross-client's spellings, client.h). */
typedef struct {
	const char *lng;      /* long name without "--"; NULL ends a table */
	char shrt;            /* short letter or 0 */
	bool has_arg;
	int id;               /* what the caller switches on */
	const char *argname;  /* for --help: "MB", "NAME[:DEVICE][@SECTOR]" */
	const char *help;     /* one line for --help */
} pt_cli_optspec;

typedef struct {
	int id;
	const char *val;      /* the option's argument; NULL for a flag */
} pt_cli_optval;

/* Both arrays point into caller storage of argc entries each; the strings
 * are the caller's argv. */
typedef struct {
	size_t npos;
	const char **pos;
	size_t nopts;
	pt_cli_optval *opts;
} pt_cli_args;

/* Parses argv[0..argc) (argv[0] is a real argument, not the program).
 * Options are looked up in `tables` (ntables NULL-terminated spec arrays),
 * in order. Accepts "--opt VALUE", "--opt=VALUE", "-f", "-f VALUE"; "--"
 * makes every later word positional; "-" alone is positional.
 * pos and opts must each have room for argc entries. */
int pt_cli_parse(int argc, char *const *argv,
    const pt_cli_optspec *const *tables, size_t ntables,
    const char **pos, pt_cli_optval *opts, pt_cli_args *out, pt_err *err);

/* The last value of option id, or NULL (flags: their presence). */
const pt_cli_optval *pt_cli_last(const pt_cli_args *a, int id);
size_t pt_cli_count(const pt_cli_args *a, int id);

/* The zlib level option id asks for: petrel's --compress (a flag) is 9,
 * albatross-client's --compression-level N is N (0..9, 0: none); the
 * last one given counts; 0 without either. It is the level asked of
 * petreld for downloads; uploads only need to know whether to compress. */
int pt_cli_compress_level(const pt_cli_args *a, int id, int64_t *level,
    pt_err *err);

/* ---- value parsers; every error message names the bad input ---- */

/* Strict decimal integer (optional leading '-'), within [min, max]. */
int pt_cli_parse_int(const char *what, const char *s, int64_t min,
    int64_t max, int64_t *out, pt_err *err);

/* "00:80:41:aa:bb:cc" (':' or '-' separators, any case). */
int pt_cli_parse_mac(const char *s, uint8_t mac[6], pt_err *err);

/* A device or bridge name on the command line: 1..PT_CLI_DEVNAME_MAX
 * printable ASCII characters, none of ":@/\\" nor blanks. */
#define PT_CLI_DEVNAME_MAX 67
bool pt_cli_devname_valid(const char *s, size_t n);

/* --net [NAME:]BRIDGE[@MAC]. Without NAME, the manifest name is BRIDGE and
 * the bridge is left absent on the wire (it defaults to the name there).
 * The texts point into s or a: strings are copied into the arena. */
int pt_cli_parse_net(const char *s, pt_arena *a, pt_netspec *out,
    pt_err *err);

/* --block NAME[:DEVICE][@SECTOR]. DEVICE is a block device label (it lives
 * in the unikernel's path); SECTOR a power of two >= 512. */
int pt_cli_parse_block(const char *s, pt_arena *a, pt_blockspec *out,
    pt_err *err);

/* Times as RFC 3339 ("2024-01-02T03:04:05Z", optional fraction, 'Z' or an
 * offset "+02:00"; 't'/'z' and a space for 'T' accepted). */
int pt_cli_parse_time(const char *s, pt_time_ms *out, pt_err *err);
/* "2024-01-02T03:04:05Z", or with ".250" when there are milliseconds.
 * buf needs PT_CLI_TIME_MAX bytes. */
#define PT_CLI_TIME_MAX 40
void pt_cli_format_time(pt_time_ms t, char buf[PT_CLI_TIME_MAX]);

/* Default file for `get`/`dump-block`: the name's text without a leading
 * ':' (root-level names), every ':' replaced by '_', plus suffix:
 * ":hello" -> "hello.img", "a:b:web" -> "a_b_web.img". */
int pt_cli_default_file(const pt_name *n, const char *suffix, char *out,
    size_t cap, pt_err *err);

/* For commands that take a PATH: a name with a label is read as a path
 * ending in that label ("foo" -> "foo:", "a:b" -> "a:b:"), like
 * albatross-client's path arguments. */
int pt_cli_parse_path(const char *s, pt_name *out, pt_err *err);

#endif
