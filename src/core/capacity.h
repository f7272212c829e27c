/*
 * How many unikernels fit: the arithmetic behind the refusals of a create
 * that would run the daemon out of descriptors, a bridge out of ports or
 * its cgroup out of tasks (docs/limits.md). Pure: the callers read the
 * limits (getrlimit, netlink, /proc and /sys/fs/cgroup) and pass them in.
 */
#ifndef PETREL_CAPACITY_H
#define PETREL_CAPACITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- descriptors ---- */

/* What petreld holds for each registered unikernel: the tender's pidfd
 * while it runs, and the console FIFO it reads itself while petrel-console
 * does not (console_drain.c). Everything else a create opens (the image
 * files, the console fd handed to the tender, the report pipe, netlink and
 * tun sockets) is closed before the create answers. */
#define PT_FDS_PER_UNIKERNEL 2
/* What petreld keeps for everything else: stdio, the event loop, the
 * listening socket, the link to petrel-console, the events file, the
 * transient descriptors of one create or state write, block transfers,
 * and client connections, so that `info` and `destroy` still get through
 * once the unikernels have taken their share. */
#define PT_FDS_RESERVE 64
/* petrel-console: the FIFO of each console it reads; its reserve covers
 * its own plumbing, petreld's link and subscribers. */
#define PT_CONSOLE_FDS_PER_UNIKERNEL 1
#define PT_CONSOLE_FDS_RESERVE 64

/* How many unikernels a descriptor limit allows, each taking per_uk
 * descriptors, after the reserve: 0 when the limit does not even cover
 * the reserve (or per_uk is 0). */
size_t pt_fd_capacity(uint64_t limit, unsigned per_uk, unsigned reserve);

/* ---- bridge ports ---- */

/* The kernel numbers a bridge's ports 1..BR_MAX_PORTS-1 (BR_MAX_PORTS is
 * 1024, port 0 is never handed out): enslaving a 1024th fails with
 * EXFULL. */
#define PT_BRIDGE_KERNEL_MAX_PORTS 1024
#define PT_BRIDGE_MAX_PORTS (PT_BRIDGE_KERNEL_MAX_PORTS - 1)

/* Whether `adding` more ports fit on a bridge that has `ports`, at most
 * `max` in all. */
bool pt_bridge_ports_fit(size_t ports, size_t adding, size_t max);

/* ---- tasks (the pids controller of the daemon's cgroup) ---- */

/* The tasks a tender of the target runs with (spt: one thread; hvt: the
 * vCPU thread, the network I/O thread it starts when the guest has a
 * network device, and KVM's per-VM worker, counted to be safe). `hvt`
 * false: spt. */
unsigned pt_tender_tasks(bool hvt, size_t nnets);

/* Where the pids controller of a process is, from its /proc/<pid>/cgroup
 * (text, n bytes): a cgroup v1 line "<id>:<controllers>:<path>" whose
 * controllers include "pids" wins; else the v2 line "0::<path>". Writes
 * the path (it starts with '/') and *v2. Returns 0, or -1 if there is no
 * such line or the path does not fit `cap` or is unsafe (".." component). */
int pt_cgroup_pids_path(const char *text, size_t n, char *path, size_t cap,
    bool *v2);

/* The contents of a pids.max or pids.current file: a decimal number, or
 * "max" (pids.max only: *unlimited). Trailing white space is allowed.
 * Returns 0 or -1. */
int pt_pids_parse(const char *text, size_t n, uint64_t *value,
    bool *unlimited);

/* Tasks one cgroup level still allows: max - current (0 when beyond). */
uint64_t pt_pids_headroom(uint64_t max, uint64_t current);

#endif
