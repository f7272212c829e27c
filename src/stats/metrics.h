/*
 * petrel-stats's pure part: the parsers of what the kernel reports
 * (/proc/<pid>/stat, status and io; KVM's binary statistics) and the
 * renderers of one gathering round (Prometheus text exposition, InfluxDB
 * line protocol). No I/O: the daemon reads the bytes, these functions
 * only look at them, so they are unit-tested on recorded input.
 *
 * The mapping onto albatross's Rusage and KinfoMem (albatross-wire.md
 * §6.8) is docs/stats.md's table.
 */
#ifndef PETREL_STATS_METRICS_H
#define PETREL_STATS_METRICS_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "name.h"
#include "policy.h"
#include "util.h"
#include "wire.h"

/* ---- /proc ---- */

/* What the three files of one process say, in the kernel's units. */
typedef struct {
	/* stat */
	int64_t minflt, majflt, utime_ticks, stime_ticks, start_ticks;
	int64_t vsize_bytes, rss_pages;
	/* status (kB) and context switches */
	int64_t vm_hwm_kb, vm_rss_kb, vm_exe_kb, vm_data_kb, vm_stk_kb;
	int64_t nvcsw, nivcsw;
	/* io (absent without the rights to read it: all 0, has_io false) */
	bool has_io;
	int64_t read_bytes, write_bytes;
} pt_procinfo;

/* /proc/<pid>/stat: the comm in parentheses may hold anything, spaces
 * and ')' included; the fields after the LAST ')' are counted. */
int pt_proc_parse_stat(const char *s, size_t n, pt_procinfo *out,
    pt_err *err);
/* /proc/<pid>/status: the lines it needs; unknown lines are skipped. */
int pt_proc_parse_status(const char *s, size_t n, pt_procinfo *out,
    pt_err *err);
/* /proc/<pid>/io. */
int pt_proc_parse_io(const char *s, size_t n, pt_procinfo *out,
    pt_err *err);

/* Onto §6.8's records. ticks: sysconf(_SC_CLK_TCK); page_kb: the page
 * size in KiB; boot_time_s: btime of /proc/stat (the start time is boot +
 * start_ticks). */
void pt_proc_to_rusage(const pt_procinfo *p, int64_t ticks, pt_rusage *ru);
void pt_proc_to_kinfo(const pt_procinfo *p, int64_t ticks, int64_t page_kb,
    int64_t boot_time_s, pt_kinfo_mem *km);

/* ---- KVM binary statistics (Documentation/virt/kvm/api.rst,
 * KVM_GET_STATS_FD) ---- */

#define PT_KVM_STAT_NAME_MAX 64

typedef struct {
	char name[PT_KVM_STAT_NAME_MAX];
	uint64_t value;
} pt_kvm_stat;

/* The descriptors of a stats file: header and descriptor block, read
 * once (they never change for a file). */
typedef struct {
	size_t n;
	struct {
		char name[PT_KVM_STAT_NAME_MAX];
		uint32_t offset;   /* of its value in the data block, bytes */
	} *v;
	uint32_t data_offset;
	uint32_t data_size;    /* bytes needed from data_offset */
} pt_kvm_layout;

/* Parses the header and descriptors at the start of a stats file (`p`,
 * `n` bytes read from offset 0). Keeps the scalar counters (cumulative,
 * instant, peak with one value); histograms are skipped. Names are cut
 * at PT_KVM_STAT_NAME_MAX - 1. -1 on a malformed or truncated file;
 * *need tells how many bytes a complete read needs when the input was
 * too short (0 if it is malformed). */
int pt_kvm_parse_layout(const uint8_t *p, size_t n, pt_kvm_layout *out,
    size_t *need, pt_err *err);
void pt_kvm_layout_free(pt_kvm_layout *l);
/* Values from the data block (`data`, l->data_size bytes read at
 * l->data_offset), native-endian u64 each; adds them into acc by name
 * (acc has l->n entries, names filled on first use: vCPUs are summed). */
int pt_kvm_read_values(const pt_kvm_layout *l, const uint8_t *data,
    size_t n, pt_kvm_stat *acc, pt_err *err);

/* ---- one gathering round ---- */

typedef struct {
	char tap[IFNAMSIZ];        /* the host's tap */
	char bridge[IFNAMSIZ];     /* its master, "" if none */
	char net[PT_LABEL_MAX + 1];/* the manifest's network name */
	int ifindex;               /* from the last link dump, 0: unknown */
	bool found;                /* in this round's dump */
	/* Host view (the tap): rx = unikernel to host. */
	uint64_t rx_packets, rx_bytes, rx_errors, rx_dropped, rx_mcast;
	uint64_t tx_packets, tx_bytes, tx_errors, tx_dropped, collisions;
	uint32_t mtu, flags;
} pt_sm_if;

typedef struct {
	pt_name name;
	int64_t pid;
	bool ok;                   /* /proc read this round */
	pt_rusage ru;
	pt_kinfo_mem km;
	int64_t rss_bytes, vsize_bytes, maxrss_bytes;
	int64_t io_read_bytes, io_write_bytes;
	double start_s;            /* Unix time */
	size_t nif;
	pt_sm_if *ifs;
	bool has_vmm;              /* KVM statistics read */
	size_t nvmm;
	pt_kvm_stat *vmm;
} pt_sm_uk;

/* A policy and what is configured below it (from petreld's `policy
 * info` and `unikernel info`), for the per-path totals. */
typedef struct {
	pt_name path;
	pt_policy policy;          /* cpuids, bridges not used */
	bool has_policy;
	int64_t unikernels;        /* configured below the path */
	int64_t memory_mb;         /* configured below the path */
	int64_t cpus;              /* distinct cpuids used below the path */
} pt_sm_path;

typedef struct {
	int64_t time_ms;           /* when the round ran */
	size_t nuk;
	pt_sm_uk **uks;
	size_t npath;
	const pt_sm_path *paths;
	/* Exporter health. */
	uint64_t rounds, influx_dropped, subscribers_dropped;
	double round_seconds;      /* CPU time of the last round */
} pt_sm_round;

/* The §6.8 stats record of a unikernel (ifdata, vmm in the arena). */
int pt_sm_to_stats(const pt_sm_uk *u, pt_arena *a, pt_stats *out);
/* Does the name `s` (a subscriber's, a policy's path) cover the unikernel
 * `n`: a name with a label itself only, a path everything below it. The
 * path `a:b:` is not above the unikernel `a:b` (its path is `a:`), though
 * pt_name_is_prefix compares the labels alike. */
bool pt_sm_covers(const pt_name *s, const pt_name *n);

/* Prometheus text exposition format 0.0.4. Appends to out. */
int pt_render_prometheus(const pt_sm_round *r, pt_buf *out);

/* InfluxDB line protocol with albatross_influx's measurements, tags and
 * fields (resource_usage, kinfo_mem, vmm, interface; tag vm, plus bridge
 * for interface), one line each, '\n'-terminated, with a timestamp in ns.
 * drop_path: the vm tag is the label only (albatross-influx's default),
 * else the full name. */
int pt_render_influx(const pt_sm_uk *u, int64_t time_ms, bool drop_path,
    pt_buf *out);

/* Escapes for the line protocol (tag keys and values, field keys: ',',
 * '=' and ' ') and for Prometheus label values ('\\', '"', '\n'). */
void pt_influx_escape(pt_buf *out, const char *s, size_t n);
void pt_prom_escape(pt_buf *out, const char *s, size_t n);

#endif
