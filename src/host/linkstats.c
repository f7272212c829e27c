/*
 * One RTM_GETLINK dump per call, through libnl-route-3's link cache
 * (which takes IFLA_STATS64 when the kernel sends it, as every kernel
 * since 2.6.35 does).
 */
#include "linkstats.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/netlink.h>
#include <netlink/cache.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>

struct pt_linkstats {
	struct nl_sock *sk;
};

pt_linkstats *
pt_linkstats_open(pt_err *err)
{
	pt_linkstats *ls = calloc(1, sizeof(*ls));
	if (ls == NULL) {
		pt_fail(err, "out of memory");
		return NULL;
	}
	ls->sk = nl_socket_alloc();
	if (ls->sk == NULL) {
		free(ls);
		pt_fail(err, "netlink: out of memory");
		return NULL;
	}
	int rc = nl_connect(ls->sk, NETLINK_ROUTE);
	if (rc < 0) {
		nl_socket_free(ls->sk);
		free(ls);
		pt_fail(err, "netlink connect: %s", nl_geterror(rc));
		return NULL;
	}
	int fd = nl_socket_get_fd(ls->sk);
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		int e = errno;
		pt_linkstats_close(ls);
		pt_fail(err, "netlink socket: %s", strerror(e));
		return NULL;
	}
	return ls;
}

void
pt_linkstats_close(pt_linkstats *ls)
{
	if (ls == NULL)
		return;
	nl_socket_free(ls->sk);
	free(ls);
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(((const pt_link_stat *)a)->name,
	    ((const pt_link_stat *)b)->name);
}

static void
fill(struct rtnl_link *l, pt_link_stat *s)
{
	memset(s, 0, sizeof(*s));
	const char *name = rtnl_link_get_name(l);
	if (name != NULL) {
		strncpy(s->name, name, IFNAMSIZ - 1);
		s->name[IFNAMSIZ - 1] = '\0';
	}
	s->ifindex = rtnl_link_get_ifindex(l);
	s->master = rtnl_link_get_master(l);
	s->mtu = rtnl_link_get_mtu(l);
	s->flags = rtnl_link_get_flags(l);
	s->rx_packets = rtnl_link_get_stat(l, RTNL_LINK_RX_PACKETS);
	s->rx_bytes = rtnl_link_get_stat(l, RTNL_LINK_RX_BYTES);
	s->rx_errors = rtnl_link_get_stat(l, RTNL_LINK_RX_ERRORS);
	s->rx_dropped = rtnl_link_get_stat(l, RTNL_LINK_RX_DROPPED);
	s->rx_mcast = rtnl_link_get_stat(l, RTNL_LINK_MULTICAST);
	s->tx_packets = rtnl_link_get_stat(l, RTNL_LINK_TX_PACKETS);
	s->tx_bytes = rtnl_link_get_stat(l, RTNL_LINK_TX_BYTES);
	s->tx_errors = rtnl_link_get_stat(l, RTNL_LINK_TX_ERRORS);
	s->tx_dropped = rtnl_link_get_stat(l, RTNL_LINK_TX_DROPPED);
	s->collisions = rtnl_link_get_stat(l, RTNL_LINK_COLLISIONS);
}

int
pt_linkstats_dump(pt_linkstats *ls, pt_link_stat **out, size_t *n,
    pt_err *err)
{
	*out = NULL;
	*n = 0;
	struct nl_cache *cache = NULL;
	int rc = rtnl_link_alloc_cache(ls->sk, AF_UNSPEC, &cache);
	if (rc < 0)
		return pt_fail(err, "netlink link dump: %s", nl_geterror(rc));
	size_t cap = (size_t)nl_cache_nitems(cache);
	pt_link_stat *v = calloc(cap ? cap : 1, sizeof(*v));
	if (v == NULL) {
		nl_cache_free(cache);
		return pt_fail(err, "out of memory");
	}
	size_t k = 0;
	for (struct nl_object *o = nl_cache_get_first(cache);
	    o != NULL && k < cap; o = nl_cache_get_next(o))
		fill((struct rtnl_link *)o, &v[k++]);
	nl_cache_free(cache);
	qsort(v, k, sizeof(*v), by_name);
	*out = v;
	*n = k;
	return 0;
}

const pt_link_stat *
pt_linkstats_find(const pt_link_stat *v, size_t n, const char *name)
{
	pt_link_stat key;
	memset(&key, 0, sizeof(key));
	strncpy(key.name, name, IFNAMSIZ - 1);
	return bsearch(&key, v, n, sizeof(*v), by_name);
}

const pt_link_stat *
pt_linkstats_by_index(const pt_link_stat *v, size_t n, int ifindex)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].ifindex == ifindex)
			return &v[i];
	return NULL;
}
