/*
 * petrel-stats: meters every unikernel petreld runs (albatross-wire.md
 * §8.3, the data of §6.8), serves the numbers to subscribers on
 * <tmpdir>/util/stat.sock and feeds Prometheus and InfluxDB.
 *
 *   main.c       options, the socket, the event loop
 *   privs.c      dropping privileges (docs/stats.md)
 *   vmmd_link.c  the link to petreld: `stats initial`, then add / remove
 *   monitor.c    the monitored unikernels
 *   gather.c     one round: /proc, one link dump, KVM statistics
 *   kvm.c        the VM's statistics file, fetched with pidfd_getfd
 *   subs.c       connections on stat.sock, subscribers
 *   policies.c   petreld's policies and configurations, for path totals
 *   prom.c       the Prometheus endpoint (evhttp)
 *   influx.c     the InfluxDB writer (TCP line protocol or HTTP)
 * The parsers and renderers are pure (metrics.h).
 */
#ifndef PETREL_STATSD_H
#define PETREL_STATSD_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "fconn.h"
#include "linkstats.h"
#include "metrics.h"
#include "server.h"

#define ST_INTERVAL_DEFAULT_MS 10000
#define ST_MAX_SUBS_DEFAULT 64
#define ST_SUB_QUEUE_DEFAULT (1024 * 1024)

typedef struct st_daemon st_daemon;
typedef struct st_influx st_influx;
typedef struct st_prom st_prom;
typedef struct st_link st_link;
typedef struct st_policies st_policies;

typedef struct {
	int vm_stats_fd;           /* -1: none */
	size_t nvcpu;
	int *vcpu_stats_fd;
	pt_kvm_layout vm, vcpu;    /* the layouts (read once) */
	int tries;                 /* rounds that looked for the VM */
} st_kvm;

typedef struct st_uk {
	struct st_uk *next, *prev;
	pt_sm_uk m;                /* the last round's figures */
	int procfd;                /* /proc/<pid>, this very process */
	/* Its stat, status and io, kept open and re-read with pread: a
	 * fresh open costs as much again (a path walk in /proc). -1: not
	 * readable (io without the capabilities). */
	int statfd, statusfd, iofd;
	st_kvm kvm;
} st_uk;

typedef struct st_session {
	struct st_session *next, *prev;
	st_daemon *d;
	pt_fconn *c;
	bool subscribed;
	pt_name name;
	int64_t version;
} st_session;

typedef struct {
	const char *tmpdir;
	int64_t interval_ms;
	size_t max_subs;
	size_t sub_queue;          /* bytes queued per subscriber at most */
	size_t max_conns;
	const char *prometheus;    /* [ADDR:]PORT or NULL */
	const char *influx;        /* HOST:PORT (TCP line protocol) or NULL */
	const char *influx_url;    /* http://... write API, or NULL */
	const char *influx_token_file;
	bool influx_drop_path;
	size_t influx_queue;       /* rounds kept while the server is away */
	const char *user;          /* drop to this user, or NULL */
	bool no_kvm;
	int verbose;
	bool use_syslog;
} st_opts;

struct st_daemon {
	st_opts o;
	struct event_base *base;
	char vmmd_sock[PATH_MAX];
	pt_server *server;
	st_session *sessions;
	size_t nsubs;
	st_uk *uks;
	size_t nuks;
	struct event *tick;
	pt_linkstats *links;
	/* The next round makes the full link dump (names, bridges): a tap
	 * is new or went missing, or it is time for a refresh. */
	bool need_links;
	uint64_t links_round;      /* the round of the last link dump */
	int64_t clk_tck, page_kb, boot_time_s;
	uint64_t rounds, subs_dropped;
	double round_seconds;
	st_link *link;
	st_prom *prom;
	st_influx *influx;
	st_policies *policies;
};

/* main.c */
void st_log(st_daemon *d, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int64_t st_now_ms(void);

/* privs.c: keeps CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH, drops the rest
 * (and switches to `user` if given). 0, or -1 with err. */
int st_drop_privileges(const char *user, pt_err *err);

/* vmmd_link.c */
int st_link_start(st_daemon *d, pt_err *err);
void st_link_stop(st_daemon *d);

/* monitor.c */
int st_uk_add(st_daemon *d, const pt_name *name, const pt_stats_add *a,
    pt_err *err);
void st_uk_remove(st_daemon *d, const pt_name *name);
void st_uk_remove_all(st_daemon *d);
st_uk *st_uk_find(st_daemon *d, const pt_name *name);

/* gather.c: a round, then the subscribers and the influx queue. */
void st_gather_round(st_daemon *d);
/* The round for the renderers: pointers into d's unikernels (valid
 * until they change). Free with st_round_free. */
int st_round_view(st_daemon *d, pt_sm_round *r);
void st_round_free(pt_sm_round *r);

/* kvm.c */
void st_kvm_open(st_daemon *d, st_uk *u);
void st_kvm_close(st_kvm *k);
/* Reads the counters into u->m.vmm (has_vmm false when there are none). */
void st_kvm_read(st_daemon *d, st_uk *u);

/* subs.c */
void st_accept(int fd, void *ctx);
/* Sends u's record to every subscriber whose name covers it. */
void st_subs_publish(st_daemon *d, const st_uk *u);
/* Drops subscribers whose peer went away (once a round). */
void st_subs_reap(st_daemon *d);
void st_sessions_free_all(st_daemon *d);

/* policies.c: refreshed each round, asynchronously. */
int st_policies_start(st_daemon *d, pt_err *err);
void st_policies_refresh(st_daemon *d);
void st_policies_view(st_daemon *d, const pt_sm_path **v, size_t *n);
void st_policies_stop(st_daemon *d);

/* prom.c */
int st_prom_start(st_daemon *d, const char *spec, pt_err *err);
void st_prom_stop(st_daemon *d);

/* influx.c */
int st_influx_start(st_daemon *d, pt_err *err);
/* Queues this round's lines. */
void st_influx_push(st_daemon *d, pt_buf *lines);
uint64_t st_influx_dropped(const st_daemon *d);
void st_influx_stop(st_daemon *d);

#endif
