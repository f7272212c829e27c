/*
 * Interface counters of every link of the caller's network namespace, each
 * from ONE rtnetlink dump, through libnl-route-3: petrel-stats reads all
 * its taps at once per round instead of asking once per tap.
 *
 * Two dumps: the link dump (RTM_GETLINK: names, masters, MTU, flags and
 * IFLA_STATS64), and the counters-only dump (RTM_GETSTATS filtered to
 * IFLA_STATS_LINK_64, the same 64-bit counters), which costs the kernel
 * about a seventh of the link dump for 1,000 taps. A round takes the
 * counters; the link dump is needed only when a tap is new to it.
 */
#ifndef PETREL_LINKSTATS_H
#define PETREL_LINKSTATS_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

typedef struct {
	char name[IFNAMSIZ];
	int ifindex;
	int master;                /* ifindex of its bridge, 0: none */
	uint32_t mtu, flags;
	uint64_t rx_packets, rx_bytes, rx_errors, rx_dropped, rx_mcast;
	uint64_t tx_packets, tx_bytes, tx_errors, tx_dropped, collisions;
} pt_link_stat;

typedef struct pt_linkstats pt_linkstats;

/* A netlink socket kept for the dumps. */
pt_linkstats *pt_linkstats_open(pt_err *err);
void pt_linkstats_close(pt_linkstats *ls);
/* One dump; *out (heap, sorted by name, free()) gets every link. */
int pt_linkstats_dump(pt_linkstats *ls, pt_link_stat **out, size_t *n,
    pt_err *err);
/* The counters only (name, master, mtu, flags left 0), sorted by
 * ifindex, into *out (heap, free()). */
int pt_linkstats_counters(pt_linkstats *ls, pt_link_stat **out, size_t *n,
    pt_err *err);
/* The entry with that ifindex in a dump sorted by ifindex, or NULL. */
const pt_link_stat *pt_linkstats_find_index(const pt_link_stat *v, size_t n,
    int ifindex);
/* The entry for `name` in a sorted dump, or NULL. */
const pt_link_stat *pt_linkstats_find(const pt_link_stat *v, size_t n,
    const char *name);
/* The entry with that ifindex (linear), or NULL. */
const pt_link_stat *pt_linkstats_by_index(const pt_link_stat *v, size_t n,
    int ifindex);

#endif
