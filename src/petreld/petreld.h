/*
 * petreld's internal interfaces: the daemon object, connections, the
 * unikernel registry, persistence, block devices and logging.
 *
 * One event loop (libevent) drives everything. Handlers stay short: the
 * work is done by functions that take the daemon and return 0 / -1 with a
 * pt_err, so the logic can be followed without the event plumbing.
 */
#ifndef PETRELD_H
#define PETRELD_H

#include <limits.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "name.h"
#include "policy.h"
#include "restrie.h"
#include "server.h"
#include "util.h"
#include "wire.h"
#include "fconn.h"
#include "frame.h"
#include "solo5.h"

struct event_base;
struct event;

typedef struct pt_daemon pt_daemon;
typedef struct pt_conn pt_conn;
typedef struct pt_uk pt_uk;

/* ---- log.c ---- */

enum { PT_LOG_ERR = 0, PT_LOG_WARN = 1, PT_LOG_INFO = 2, PT_LOG_DEBUG = 3 };

void pt_log_init(bool use_syslog, int verbosity);
void pt_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#define log_err(...) pt_log(PT_LOG_ERR, __VA_ARGS__)
#define log_warn(...) pt_log(PT_LOG_WARN, __VA_ARGS__)
#define log_info(...) pt_log(PT_LOG_INFO, __VA_ARGS__)
#define log_debug(...) pt_log(PT_LOG_DEBUG, __VA_ARGS__)

/* ---- the daemon ---- */

typedef struct {
	const char *tmpdir;
	const char *dbdir;
	bool use_syslog;
	int verbosity;
	int64_t grace_ms;          /* SIGTERM -> SIGKILL */
	size_t max_conns;
	size_t max_frame;
	int64_t backoff_base_ms;   /* first restart delay */
	int64_t backoff_max_ms;    /* cap */
	int64_t stable_ms;         /* a run this long resets the backoff */
	const char *logdir;        /* the events file (docs/eventlog.md) */
	size_t events_max_bytes;   /* rotate the events file beyond this */
	size_t events_ring;        /* events held in memory */
	bool no_console;           /* do not talk to petrel-console */
	/* A peer with output waiting that takes none of it for this long is
	 * dropped: it holds a slot, its output and maybe a device lock. */
	int64_t write_timeout_ms;
	const char *console_group; /* petrel-console's group, or NULL */
	const char *group;         /* operators' group for vmmd.sock, or NULL */
	int64_t console_timeout_ms; /* a launch waits this long for `add` */
} pt_opts;

typedef struct pt_evlog pt_evlog;
typedef struct pt_console_link pt_console_link;
typedef struct pt_stats_link pt_stats_link;
typedef struct pt_image_book pt_image_book;

struct pt_daemon {
	pt_opts o;
	struct event_base *base;

	char sock_path[PATH_MAX];
	char fifo_dir[PATH_MAX];
	char block_dir[PATH_MAX];
	char image_dir[PATH_MAX];  /* <dbdir>/images: the stored images */
	char state_path[PATH_MAX];
	char tap_owner[PATH_MAX + 8]; /* the taps' alias (pt_tap_owner) */
	/* The canonical --tmpdir and --dbdir, which o.tmpdir and o.dbdir
	 * point to once rundir_setup made them: the cwd no longer matters. */
	char tmpdir_real[PATH_MAX];
	char dbdir_real[PATH_MAX];
	int run_lock_fd, db_lock_fd; /* held for our life; -1: not taken */

	pt_res *res;
	pt_policy *host_root;      /* the host's resources */
	bool root_by_operator;     /* root policy set by "policy add :" */
	/* The operator's root policy as stored, while the one checked is
	 * narrowed to a host that no longer fits it (docs/policies.md);
	 * written back to the state unchanged. NULL otherwise. */
	pt_policy *root_stored;

	pt_uk *uks;                /* every known unikernel (registry) */
	size_t nuks;

	int listen_fd;
	bool socket_is_ours;       /* unlink it at exit (not systemd's) */
	pt_server *server;         /* the accept loop (src/daemon) */
	pt_conn *conns;
	size_t nconns;

	pt_evlog *evlog;           /* events.c */
	pt_console_link *console;  /* console_link.c; NULL: disabled */
	pt_stats_link *stats;      /* stats_link.c; NULL: no petrel-stats */

	struct event *sig_ev[3];   /* SIGTERM, SIGINT, SIGCHLD */
	bool shutting_down;
	bool loading;              /* state being restored: no writes */
	/* A state write failed: the disk is behind memory, and the write
	 * is tried again on this timer until it succeeds. */
	struct event *state_retry;
	int64_t state_retry_ms;
	pt_image_book *images;     /* persist_images.c */
};

/* ---- conn.c: petreld's side of the framed connection (src/daemon/fconn.h:
 * bounds, backpressure, half-close, lifetime, streams) ---- */

/* Stream hooks for commands that carry data (block set / dump, log). */
typedef struct {
	/* A raw frame of an upload (end = the terminator). The hook replies
	 * and finishes (or discards) when the upload is over; returns 0, or
	 * 1 to be called again with the same frame from a later event-loop
	 * turn (work bounded per turn; no input is read meanwhile).
	 * NULL: the stream takes no input; a frame from the client ends it
	 * and the connection. The end of input (a half-close) cuts an upload
	 * and lets any other stream finish. */
	int (*on_frame)(pt_conn *c, const uint8_t *p, size_t n, bool end);
	/* The output drained below the low-water mark. */
	void (*on_drain)(pt_conn *c);
	/* The stream is over (peer closed, error, finish, replaced). */
	void (*on_close)(pt_conn *c);
	void *ctx;
} pt_stream;

struct pt_conn {
	pt_conn *next, *prev;
	pt_daemon *d;
	pt_fconn *f;
	pt_stream stream;
	const char *cmd;   /* the command being handled, for refusals */
};

void conn_accepted(pt_daemon *d, int fd);
void conn_close_all(pt_daemon *d);
/* Replies; all carry the request header unchanged. */
void conn_reply(pt_conn *c, const pt_header *h, const pt_success *s);
void conn_reply_string(pt_conn *c, const pt_header *h, const char *text);
void conn_reply_failure(pt_conn *c, const pt_header *h, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A failure reply that also records the refusal in the event log, named
 * after the connection's current command (c->cmd). */
void conn_refuse(pt_conn *c, const pt_header *h, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sends any message as it is (a command on the stats link). */
void conn_send_wire(pt_conn *c, const pt_wire *w);
/* Sends a data message (block dump). */
void conn_send_data(pt_conn *c, const pt_header *h, const pt_data *dt);
/* After the reply: close once flushed, or read the next command. */
void conn_finish(pt_conn *c, bool keep_open);
/* An asynchronous operation takes / returns the connection. After
 * conn_release the connection may be gone. */
void conn_hold(pt_conn *c);
void conn_release(pt_conn *c);
size_t conn_out_pending(const pt_conn *c);
/* The peer is gone (sends do nothing); the struct lives while held. */
bool conn_dead(const pt_conn *c);
/* A stream is on (not ended, the peer still there). */
bool conn_streaming(const pt_conn *c);
/* Keeps the struct alive across calls that may close the connection
 * (from outside its own callbacks, e.g. while feeding a subscriber). */
void conn_grab(pt_conn *c);
void conn_drop(pt_conn *c);
/* Closes at once, dropping unsent output (a subscriber that is dropped
 * must not linger until a stalled peer reads). */
void conn_abort(pt_conn *c);
/* Installs the hooks. On a connection that is already gone, on_close
 * runs at once, or when the current holders are done. */
void conn_set_stream(pt_conn *c, const pt_stream *s);
/* The stream's on_frame gets (p, n, end) from a later event-loop turn,
 * and again while it returns 1; no input is read meanwhile. p must lie in
 * the frame being handled (a command's data: block set-old). */
void conn_continue_later(pt_conn *c, const uint8_t *p, size_t n, bool end);
/* After a refused or failed upload: the reply is queued; the rest of the
 * upload is read and dropped up to its terminator, then the connection
 * closes. (Closing with unread data would reset the connection, and the
 * client could lose the reply.) */
void conn_discard_upload(pt_conn *c);

/* ---- rundir.c: directories, locks, who may reach what ---- */

/* Takes the locks of the db dir and the run dir, then makes or repairs
 * every directory (docs/permissions.md) and the taps' alias. First thing
 * at start-up: nothing else touches either directory before. */
int rundir_setup(pt_daemon *d, pt_err *err);
void rundir_close(pt_daemon *d);
/* The gid of group `name`, given to option --`opt`. */
int rundir_group(const char *name, const char *opt, gid_t *gid,
    pt_err *err);

/* ---- listener.c ---- */

int listener_open(pt_daemon *d, pt_err *err);
int listener_start(pt_daemon *d, pt_err *err);
void listener_stop(pt_daemon *d);

/* ---- vmm.c: command dispatch ---- */

/* Handles one decoded command. Either replies and finishes, or holds the
 * connection until an asynchronous operation completes. The message
 * (and the frame it points into) is valid only during the call. */
void vmm_dispatch(pt_conn *c, const pt_wire *w);

/* ---- ukconfig.c: pure helpers about configurations ---- */

/* Deep copy into the arena. with_image false: the copy's image is empty. */
int ukcfg_copy(pt_arena *a, const pt_ukconfig *src, pt_ukconfig *dst,
    bool with_image);
/* The stored configuration with restart arguments applied (typ,
 * compressed and image kept). */
int ukcfg_apply_restart(pt_arena *a, const pt_ukconfig *old,
    const pt_ukconfig *args, pt_ukconfig *dst);
/* What the unikernel takes, for the resource checks (arena-allocated). */
int ukcfg_resources(pt_arena *a, const pt_ukconfig *cfg, pt_uk_res *u);
/* Effective bridge / block device label of a spec. */
pt_text ukcfg_bridge(const pt_netspec *n);
pt_text ukcfg_device(const pt_blockspec *b);
/* Checks what the core cannot: typ, sector sizes, device names. */
int ukcfg_validate(const pt_ukconfig *cfg, pt_err *err);

/* ---- unikernel.c: the lifecycle ---- */

typedef enum {
	UK_RUNNING,        /* a process exists */
	UK_STOPPING,       /* a process exists and was told to stop */
	UK_BACKOFF,        /* no process, restart timer armed */
	UK_STOPPED,        /* no process (transient) */
} pt_uk_state;

typedef void (*pt_uk_gone_fn)(pt_daemon *d, pt_uk *uk, void *ctx);

struct pt_uk {
	pt_uk *next, *prev;
	pt_daemon *d;
	pt_name name;
	pt_arena arena;            /* owns cfg's contents */
	pt_ukconfig cfg;           /* image always empty: it is on disk */
	uint8_t digest[32];
	pt_time_ms started;
	int64_t started_mono_ms;
	pt_uk_state state;
	pid_t pid;
	int pidfd;
	struct event *exit_ev;
	struct event *timer;       /* grace timer or restart backoff */
	bool killed;               /* SIGKILL sent */
	size_t ntaps;
	char (*taps)[IFNAMSIZ];
	bool in_res;
	bool has_fifo;
	bool has_image;
	bool ran_with_name;        /* this run had --name= injected */
	/* Recorded with the next successful launch (created, force-created,
	 * restarted), before its `started`. */
	bool has_launch_event;
	pt_event_kind launch_event;
	bool console_refused;      /* petrel-console refused this run's add:
	                              not re-added on reconnects */
	int drain_fd;              /* console_drain.c: petreld reads the
	                              FIFO while no console daemon does */
	struct event *drain_ev;
	uint64_t drained_bytes;
	int64_t backoff_ms;        /* next restart delay */
	/* An image read inline from a state file that could not be stored
	 * in images/ yet (a full disk): it stays inline in the state until
	 * the next start attempt stores it. Heap, or NULL. */
	uint8_t *inline_image;
	size_t inline_image_len;
	pt_uk_gone_fn on_gone;     /* who decides after a stop */
	void *gone_ctx;
};

pt_uk *uk_find(pt_daemon *d, const pt_name *name);
/* The unikernel whose configuration names this block device, or NULL. */
pt_uk *uk_block_user(pt_daemon *d, const pt_name *block);
bool uk_has_process(const pt_uk *uk);

/* Everything checked and staged for a start, nothing running yet. */
typedef struct {
	char tender[PATH_MAX];
	char staged_image[PATH_MAX];   /* <tmpdir>/<name>.img.new */
	bool has_staged_image;
	char staged_store[PATH_MAX];   /* <dbdir>/images/<name>.img.new */
	bool has_staged_store;
	uint8_t digest[32];
	pt_solo5_abi abi;
} pt_uk_prep;

/* Steps 1-4 of a create (image, ABI, manifest, tender, resources, bridges),
 * checked as if `replacing` were gone. image NULL: take the stored image
 * of `name`. On failure nothing is left. */
int uk_prepare(pt_daemon *d, const pt_name *name, const pt_ukconfig *cfg,
    const pt_blob *image, const pt_name *replacing, pt_uk_prep *p,
    pt_err *err);
void uk_prep_discard(pt_uk_prep *p);
/* Steps 2-4 for an image already staged in p (staged_image, staged_store
 * and digest filled in: a streamed create, ukstream.c). On failure the
 * staged files are removed. */
int uk_prepare_staged(pt_daemon *d, const pt_name *name,
    const pt_ukconfig *cfg, const pt_name *replacing, pt_uk_prep *p,
    pt_err *err);
/* New registry entry (not started) with a copy of cfg (image dropped). */
pt_uk *uk_new(pt_daemon *d, const pt_name *name, const pt_ukconfig *cfg);
void uk_register(pt_daemon *d, pt_uk *uk);
void uk_free(pt_daemon *d, pt_uk *uk);  /* unlinks from the registry */
/* What the next successful launch of uk records before `started`:
 * created, force-created or restarted. */
void uk_set_launch_event(pt_uk *uk, pt_event_kind kind);
/* Steps 5-7: image, FIFO, taps, console add, spawn. Consumes p (success
 * or not). */
int uk_launch(pt_daemon *d, pt_uk *uk, pt_uk_prep *p, pt_err *err);
/* prepare + launch from the stored image and uk's config. */
int uk_start_stored(pt_daemon *d, pt_uk *uk, pt_err *err);
/* SIGTERM, grace, SIGKILL; fn runs once the process is gone and its
 * resources are freed (immediately if there is no process). */
void uk_stop(pt_daemon *d, pt_uk *uk, pt_uk_gone_fn fn, void *ctx);
void uk_cancel_backoff(pt_uk *uk);
/* A start that failed: keep the unikernel (registry and state) and try
 * again after the backoff; returns the delay (ms). While it waits it
 * keeps its share of the resources (policies, CPUs, block devices). */
int64_t uk_retry_later(pt_daemon *d, pt_uk *uk, const char *why);
/* Removes a stopped unikernel for good: registry, state, and its stored
 * image once no durable state names it. uk_forget_err: -1 with the
 * reason when the state could not be written (it is retried). */
void uk_forget(pt_daemon *d, pt_uk *uk);
int uk_forget_err(pt_daemon *d, pt_uk *uk, pt_err *err);
/* The info record of a unikernel (arena-allocated). */
int uk_info(pt_daemon *d, const pt_uk *uk, pt_arena *a, pt_ukinfo *out);
/* Stops everything for shutdown; returns true when nothing runs. */
bool uk_shutdown_all(pt_daemon *d);
/* SIGCHLD fallback when pidfds are unavailable. */
void uk_reap_fallback(pt_daemon *d);

/* Command handlers (the reply may come later). */
void uk_cmd_create(pt_conn *c, const pt_header *h, const pt_ukconfig *cfg,
    bool force);
/* The part of a create after its image is staged (ukcmd.c). */
void uk_create_prepared(pt_conn *c, const pt_header *h,
    const pt_ukconfig *cfg, bool force, pt_uk *old, pt_uk_prep *p);
/* ukstream.c: a create whose image is empty and follows as raw frames
 * (albatross-wire.md §9.6, the same stream as §8.4), written to disk as
 * it arrives. */
void uk_cmd_create_stream(pt_conn *c, const pt_header *h,
    const pt_ukconfig *cfg, bool force);
void uk_cmd_destroy(pt_conn *c, const pt_header *h);
void uk_cmd_restart(pt_conn *c, const pt_header *h, const pt_restart *r);

/* ---- admit.c: does one more unikernel fit (docs/limits.md) ---- */

/* Raises the descriptor limit and logs it (at start). */
void admit_init(void);
/* Descriptors (a new name only), ports of the bridges cfg names, tasks of
 * petreld's cgroup for a tender of the target (hvt, else spt), as if
 * `replacing` were gone. */
int uk_check_capacity(pt_daemon *d, const pt_name *name,
    const pt_ukconfig *cfg, bool hvt, const pt_name *replacing, pt_err *err);

/* ---- persist.c ---- */

int persist_image_path(pt_daemon *d, const pt_name *name, const char *suffix,
    char *out, size_t cap, pt_err *err);
/* Writes the state (no-op while loading). A failure is logged and the
 * write tried again on a timer (with the restart backoff) until one
 * succeeds; each success deletes the images no state names any more. */
int persist_save(pt_daemon *d);
/* The same, with the reason of a failure in err (also logged). */
int persist_save_err(pt_daemon *d, pt_err *err);
/* Writes the state without `name` (already gone from the registry); its
 * image is deleted at once if the last durable state did not name it,
 * else after the first write that succeeds. */
int persist_forget(pt_daemon *d, const pt_name *name, pt_err *err);
/* An image kept inline (uk->inline_image) is stored in images/ now. */
int persist_store_inline(pt_daemon *d, pt_uk *uk, pt_err *err);
/* Restores policies and unikernels at start. */
int persist_load(pt_daemon *d, pt_err *err);
/* At exit: one last try of a state write that failed; frees it all. */
void persist_close(pt_daemon *d);

/* ---- persist_images.c: when a stored image may go ---- */

/* The state st was read / written: its unikernels are the ones named. */
void images_state_named(pt_daemon *d, const pt_state *st);
/* ... and after a write, the doomed images it no longer names go. */
void images_state_written(pt_daemon *d, const pt_state *st);
/* Does the last state read or written name it (true when unsure)? */
bool images_named(pt_daemon *d, const pt_name *name);
/* If images_named: its image waits for the next successful write (true);
 * else false, and the caller deletes it at once. */
bool images_doom(pt_daemon *d, const pt_name *name);
void images_unlink(pt_daemon *d, const pt_name *name);
/* At start, after the state was written: images of no unikernel. */
void images_sweep_orphans(pt_daemon *d);
void images_free(pt_daemon *d);

/* ---- block.c ---- */

/* Sizes of the block device files already on disk (for the root policy's
 * block budget), then their registration in the resources. Files it
 * cannot account for are reported and left alone. */
int block_scan(pt_daemon *d, int64_t *total_mb, pt_err *err);
int block_load(pt_daemon *d, pt_err *err);
void block_cmd(pt_conn *c, const pt_wire *w);
/* A set or dump of the device is in progress. */
bool block_busy(const pt_name *name);

/* ---- events.c: the event log (docs/eventlog.md) ---- */

/* Records a lifecycle event: the time is filled in, then it goes to the
 * in-memory ring, the events file and every log subscriber allowed to see
 * it. Never fails the caller's operation. */
void ev_record(pt_daemon *d, pt_event *e);
/* Shorthand for the events that carry only a name (restarted, destroyed,
 * policy-removed, block-set, block-removed). */
void ev_name(pt_daemon *d, pt_event_kind kind, const pt_name *name);
/* A refused command, with the failure text sent to the client. */
void ev_refused(pt_daemon *d, const pt_name *name, const char *command,
    const char *reason);

/* Opens <logdir> and its events file, and reads the events kept there
 * back into the ring (bounded; it stops at the first bad frame). Trouble
 * with the files is logged, never fatal: the log then lives in memory
 * until the file can be opened. -1 only when out of memory. */
int ev_open(pt_daemon *d, pt_err *err);
void ev_close(pt_daemon *d);
/* `log subscribe` (PT_CMD_LOG_SUBSCRIBE): the history, then with follow
 * new events, as data [2] with the request header. */
void ev_cmd_subscribe(pt_conn *c, const pt_header *h,
    const pt_log_subscribe *s);
/* evrecord.c: `log record` (PT_CMD_LOG_RECORD) of login, logout and
 * refused events, from petrel-tls. */
void ev_cmd_record(pt_conn *c, const pt_header *h, const pt_event *e);
/* SHA-256 of the DER UnikernelConfig with an empty image: the digest of
 * created / force-created. */
void ev_config_digest(const pt_ukconfig *cfg, uint8_t out[32]);

/* ---- console_link.c: petreld's side of petrel-console (§8.3) ---- */

/* Connects to <tmpdir>/util/console.sock unless --no-console; while
 * petrel-console is away, reconnects on a capped backoff timer and then
 * re-adds every running unikernel. */
int console_link_start(pt_daemon *d, pt_err *err);
void console_link_stop(pt_daemon *d);
/* `console add n` for a unikernel about to be exec'd (its FIFO exists).
 * Never fails the launch: petreld runs without petrel-console. */
void console_link_add(pt_daemon *d, pt_uk *uk);

/* ---- stats_link.c: petreld's side of petrel-stats (§8.3) ---- */

/* `stats initial` from petrel-stats: this connection becomes the link. */
void stats_link_initial(pt_conn *c, const pt_header *h);
/* `stats add` after a launch / `stats remove` after an exit, if linked. */
void stats_link_add(pt_daemon *d, const pt_uk *uk);
void stats_link_remove(pt_daemon *d, const pt_uk *uk);

/* ---- console_drain.c: reading FIFOs nobody else reads ---- */

void drain_start(pt_daemon *d, pt_uk *uk);
void drain_stop(pt_uk *uk);
/* After the link to petrel-console is lost. */
void drain_all_running(pt_daemon *d);

/* ---- main.c ---- */

int64_t pt_now_mono_ms(void);
/* Bridges come and go while petreld runs: re-reads them before a check
 * that uses them (create, restart, policy add). The root policy follows
 * unless an operator set it. */
void host_refresh_bridges(pt_daemon *d);
pt_time_ms pt_now_ms(void);
void daemon_check_shutdown(pt_daemon *d);

#endif
