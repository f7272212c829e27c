/*
 * The AV5 message model and its DER codec (albatross-wire.md §5, §6, §10).
 *
 * Decoding is strict (§3.3 plus: Int64 must be exactly 8 octets, UTF8String
 * must be valid UTF-8 without NUL) and allocation-bounded: everything a
 * decoded message points to lives either in the caller's arena or in the
 * input buffer (OCTET STRINGs such as images are not copied). Keep both
 * alive while using the message.
 *
 * Encoding is canonical DER, byte-identical to albatross (SET OF sorted,
 * `cpus` always emitted, ...). Encoders always emit the current forms; the
 * legacy forms are decoded only, and reported through the `*_version`
 * fields so that a server can answer in kind.
 */
#ifndef PETREL_WIRE_H
#define PETREL_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eventlog.h"
#include "name.h"
#include "policy.h"
#include "util.h"

#define PT_WIRE_VERSION 5

/* Milliseconds since the Unix epoch (GeneralizedTime, §3.4). */
typedef int64_t pt_time_ms;

/* ---- unikernel configuration (§6.3) ---- */

typedef enum { PT_TYP_SOLO5 = 0, PT_TYP_BHYVE = 1 } pt_typ;

typedef struct {
	bool restart;          /* false: quit */
	size_t ncodes;         /* 0 with restart: restart on any exit code */
	int64_t *codes;        /* ascending, unique after decode/normalise */
} pt_fail_behaviour;

typedef struct {
	pt_text name;          /* manifest name */
	bool has_device;
	pt_text device;        /* block device label; absent = name */
	bool has_sector_size;
	int64_t sector_size;
} pt_blockspec;

typedef struct {
	pt_text name;          /* manifest name */
	bool has_bridge;
	pt_text bridge;        /* absent = name */
	bool has_mac;
	uint8_t mac[6];
} pt_netspec;

typedef struct {
	pt_typ typ;
	bool compressed;
	pt_blob image;
	bool has_startup;
	int64_t startup;       /* absent = 50 */
	bool add_name;
	pt_fail_behaviour fail;
	size_t ncpuids;
	int64_t *cpuids;
	int64_t memory;        /* MB */
	size_t nblocks;
	pt_blockspec *blocks;
	size_t nnets;
	pt_netspec *nets;
	bool has_argv;         /* present-but-empty differs from absent */
	size_t argc;
	pt_text *argv;
	int64_t cpus;          /* absent on the wire = 1 */
	bool has_boot_partition;
	pt_text boot_partition;
} pt_ukconfig;

/* ---- unikernel info (§6.7) ---- */

typedef struct {
	pt_text unikernel_device;
	pt_text host_device;
	int64_t sector_size;
	int64_t block_size_mb;
} pt_blockinfo;

typedef struct {
	pt_text unikernel_device;
	pt_text host_device;
	uint8_t mac[6];
} pt_netinfo;

typedef struct {
	pt_typ typ;
	bool has_startup;
	int64_t startup;
	pt_fail_behaviour fail;
	size_t ncpuids;
	int64_t *cpuids;       /* old formats carry exactly one */
	int64_t memory;
	pt_blob digest;
	size_t nblocks;
	pt_blockinfo *blocks;
	size_t nnets;
	pt_netinfo *nets;
	bool has_argv;
	size_t argc;
	pt_text *argv;
	pt_time_ms started;    /* absent on decode = 0 (epoch) */
	int64_t cpus;          /* absent = 1 */
	bool has_boot_partition;
	pt_text boot_partition;
} pt_ukinfo;

/* ---- statistics (§6.8) ---- */

typedef struct {
	int64_t sec;
	int64_t usec;
} pt_timeval;

typedef struct {
	pt_timeval utime, stime;
	int64_t maxrss, ixrss, idrss, isrss, minflt, majflt, nswap, inblock,
	    outblock, msgsnd, msgrcv, nsignals, nvcsw, nivcsw;
} pt_rusage;

typedef struct {
	pt_text bridge;
	int64_t flags, send_length, max_send_length, send_drops, mtu; /* 32-bit */
	int64_t baudrate, input_packets, input_errors, output_packets,
	    output_errors, collisions, input_bytes, output_bytes, input_mcast,
	    output_mcast, input_dropped, output_dropped;
} pt_ifdata;

typedef struct {
	pt_text key;
	int64_t value;
} pt_vmmstat;

typedef struct {
	int64_t vsize, rss, tsize, dsize, ssize, runtime, cow;
	pt_timeval start;
} pt_kinfo_mem;

typedef struct {
	pt_rusage rusage;
	size_t nifdata;
	pt_ifdata *ifdata;
	bool has_vmm;
	size_t nvmm;
	pt_vmmstat *vmm;
	bool has_kinfo;
	pt_kinfo_mem kinfo;
} pt_stats;

/* ---- commands (§6.1) ---- */

typedef enum {
	PT_CMD_CONSOLE_ADD,           /* u.count */
	PT_CMD_CONSOLE_SUBSCRIBE,     /* u.subscribe */
	PT_CMD_CONSOLE_LIST_INACTIVE,
	PT_CMD_STATS_ADD,             /* u.stats_add */
	PT_CMD_STATS_REMOVE,
	PT_CMD_STATS_SUBSCRIBE,
	PT_CMD_STATS_INITIAL,
	PT_CMD_UK_DESTROY,
	PT_CMD_UK_CREATE,             /* u.config, config_version */
	PT_CMD_UK_FORCE_CREATE,       /* u.config, config_version */
	PT_CMD_UK_GET,                /* u.level */
	PT_CMD_UK_RESTART,            /* u.restart */
	PT_CMD_UK_INFO,
	PT_CMD_UK_INFO_OLD4,
	PT_CMD_UK_INFO_OLD5,
	PT_CMD_POLICY_INFO,
	PT_CMD_POLICY_ADD,            /* u.policy */
	PT_CMD_POLICY_REMOVE,
	PT_CMD_BLOCK_INFO,
	PT_CMD_BLOCK_ADD,             /* u.size_mb */
	PT_CMD_BLOCK_REMOVE,
	PT_CMD_BLOCK_ADD_OLD,         /* u.block_add_old */
	PT_CMD_BLOCK_SET_OLD,         /* u.block_set_old */
	PT_CMD_BLOCK_DUMP_OLD,        /* u.level */
	PT_CMD_BLOCK_DUMP,            /* u.level */
	PT_CMD_BLOCK_SET,             /* u.compressed */
	PT_CMD_LOG_SUBSCRIBE,         /* u.log: petrel's event log in the
	                                 slot AV5 left empty, see
	                                 docs/eventlog.md */
	PT_CMD_LOG_RECORD,            /* u.record: petrel-tls's login,
	                                 logout and refused events */
} pt_cmd_kind;

typedef struct {
	bool by_count;         /* true: count, false: since */
	int64_t count;
	pt_time_ms since;
} pt_subscribe;

typedef struct {
	pt_text name;          /* unikernel-side network name */
	pt_text tap;
} pt_stats_net;

typedef struct {
	pt_text vmmdev;
	int64_t pid;
	size_t nnets;
	pt_stats_net *nets;
} pt_stats_add;

typedef struct {
	bool has_args;         /* false: restart with the stored config */
	int args_version;      /* 0, 1 or 3 (the RestartCmd tag) on decode */
	/* the new configuration: typ, compressed and image are unused */
	pt_ukconfig args;
} pt_restart;

typedef struct {
	int64_t size_mb;
	bool compressed;
	bool has_data;
	pt_blob data;
} pt_block_add_old;

typedef struct {
	bool compressed;
	pt_blob data;
} pt_block_set_old;

typedef struct {
	pt_cmd_kind kind;
	int config_version;    /* create/force-create: 3, 4 or 5 on decode */
	union {
		int64_t count;
		pt_subscribe subscribe;
		pt_stats_add stats_add;
		pt_ukconfig config;
		int64_t level;
		pt_restart restart;
		pt_policy policy;
		int64_t size_mb;
		pt_block_add_old block_add_old;
		pt_block_set_old block_set_old;
		bool compressed;
		pt_log_subscribe log;
		pt_event record;
	} u;
} pt_command;

/* ---- success replies (§6.6) ---- */

typedef enum {
	PT_OK_EMPTY,
	PT_OK_STRING,              /* u.string */
	PT_OK_POLICIES,            /* u.policies */
	PT_OK_BLOCK_DEVICES,       /* u.blocks */
	PT_OK_UNIKERNEL_IMAGE,     /* u.image */
	PT_OK_OLD_BLOCK_IMAGE,     /* u.image */
	PT_OK_OLD_UNIKERNEL_INFO4, /* u.infos */
	PT_OK_BLOCK_IMAGE,         /* u.compressed */
	PT_OK_OLD_UNIKERNEL_INFO5, /* u.infos */
	PT_OK_CONSOLES,            /* u.consoles */
	PT_OK_UNIKERNEL_INFO,      /* u.infos */
} pt_success_kind;

typedef struct {
	pt_name name;
	pt_policy policy;
} pt_named_policy;

typedef struct {
	pt_name name;
	int64_t size_mb;
	bool active;
} pt_block_entry;

typedef struct {
	pt_name name;
	pt_ukinfo info;
} pt_named_info;

typedef struct {
	bool compressed;
	pt_blob data;
} pt_image;

typedef struct {
	pt_success_kind kind;
	union {
		pt_text string;
		struct { size_t n; pt_named_policy *v; } policies;
		struct { size_t n; pt_block_entry *v; } blocks;
		pt_image image;
		struct { size_t n; pt_named_info *v; } infos;
		bool compressed;
		struct { size_t n; pt_name *v; } consoles;
	} u;
} pt_success;

/* ---- data (§6.8) ---- */

typedef enum {
	PT_DATA_STATS,         /* u.stats */
	PT_DATA_CONSOLE,       /* u.console */
	PT_DATA_BLOCK_CHUNK,   /* u.chunk */
	PT_DATA_BLOCK_END,
	PT_DATA_LOG,           /* u.event (docs/eventlog.md) */
} pt_data_kind;

typedef struct {
	pt_data_kind kind;
	union {
		pt_stats stats;
		struct { pt_time_ms time; pt_text line; } console;
		pt_blob chunk;
		pt_event event;
	} u;
} pt_data;

/* ---- the message ---- */

typedef struct {
	int64_t version;       /* always 5 */
	int64_t sequence;
	pt_name name;
} pt_header;

typedef enum {
	PT_PAYLOAD_COMMAND,
	PT_PAYLOAD_SUCCESS,
	PT_PAYLOAD_FAILURE,
	PT_PAYLOAD_DATA,
} pt_payload_kind;

typedef struct {
	pt_header header;
	pt_payload_kind kind;
	union {
		pt_command command;
		pt_success success;
		pt_text failure;
		pt_data data;
	} u;
} pt_wire;

/* ---- certificate extension (§6.9, §9.2) ---- */

typedef struct {
	int64_t version;
	pt_command command;
} pt_certext;

/* ---- state file (§6.9, §10) ---- */

typedef struct {
	pt_name name;
	pt_ukconfig config;
} pt_state_uk;

typedef struct {
	int choice;            /* the State CHOICE tag read, 0..6; 6 written */
	size_t nunikernels;
	pt_state_uk *unikernels;
	size_t npolicies;
	pt_named_policy *policies;
} pt_state;

/* ---- codec ----
 * Encoders append to `out` and return 0, or -1 with err set (only on
 * invalid input such as an out-of-range value, or out of memory).
 * Decoders return 0, or -1 with a reason in err. */

int pt_wire_encode(const pt_wire *w, pt_buf *out, pt_err *err);
/* The two replies every daemon sends: success with a text, and failure.
 * The text is borrowed, not copied. */
void pt_wire_reply_string(pt_wire *w, const pt_header *h, const char *text);
void pt_wire_reply_failure(pt_wire *w, const pt_header *h, const char *text);
int pt_wire_decode(const uint8_t *p, size_t n, pt_arena *a, pt_wire *out,
    pt_err *err);

/* Helpers that build common messages. */
void pt_header_init(pt_header *h, int64_t sequence, const pt_name *name);

int pt_certext_encode(const pt_certext *c, pt_buf *out, pt_err *err);
int pt_certext_decode(const uint8_t *p, size_t n, pt_arena *a,
    pt_certext *out, pt_err *err);

/* Writes choice [6] with the entries of each trie in pre-order (sorted by
 * their label lists, labels byte-wise: "a:" < "a:b:" < "b:"), whatever
 * their order in `s`, as albatross writes them (§10). */
int pt_state_encode(const pt_state *s, pt_buf *out, pt_err *err);
int pt_state_decode(const uint8_t *p, size_t n, pt_arena *a, pt_state *out,
    pt_err *err);

/* Encodes a policy / a unikernel config on its own (digests, tests). */
int pt_policy_encode(const pt_policy *p, pt_buf *out, pt_err *err);
int pt_ukconfig_encode(const pt_ukconfig *c, pt_buf *out, pt_err *err);

/* GeneralizedTime text, canonical emitted form (§3.4), and the lenient
 * parser. buf needs 20 bytes. */
void pt_gtime_format(pt_time_ms t, char buf[20]);
int pt_gtime_parse(const char *s, size_t n, pt_time_ms *out, pt_err *err);

/* Sorting/de-duplication helpers shared with the policy code. */
void pt_sort_int64_unique(int64_t *v, size_t *n);

/* ---- printing (wire_print.c): one line per message, for logs and the
 * client. Appends to out. ---- */
const char *pt_cmd_kind_name(pt_cmd_kind k);
int pt_wire_print(const pt_wire *w, pt_buf *out);
int pt_command_print(const pt_command *c, pt_buf *out);
int pt_policy_print(const pt_policy *p, pt_buf *out);
int pt_ukconfig_print(const pt_ukconfig *c, pt_buf *out);
int pt_ukinfo_print(const pt_ukinfo *i, pt_buf *out);
/* Appends text as the printer quotes it: in double quotes, control
 * characters, invalid UTF-8 and invisible code points escaped, long texts
 * cut. For any text a peer chose. */
void pt_print_quoted(pt_buf *out, const char *s, size_t len);

#endif
