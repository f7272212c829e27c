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

#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <netlink/msg.h>
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

/* ---- the counters-only dump ---- */

typedef struct {
	pt_link_stat *v;
	size_t n, cap;
	bool oom;
} counters;

static int
on_stats(struct nl_msg *msg, void *arg)
{
	counters *c = arg;
	struct nlmsghdr *h = nlmsg_hdr(msg);
	if (h->nlmsg_type != RTM_NEWSTATS ||
	    nlmsg_datalen(h) < (int)sizeof(struct if_stats_msg))
		return NL_SKIP;
	const struct if_stats_msg *m = nlmsg_data(h);
	struct nlattr *tb[IFLA_STATS_MAX + 1];
	if (nlmsg_parse(h, sizeof(*m), tb, IFLA_STATS_MAX, NULL) < 0 ||
	    tb[IFLA_STATS_LINK_64] == NULL ||
	    nla_len(tb[IFLA_STATS_LINK_64]) <
	    (int)sizeof(struct rtnl_link_stats64))
		return NL_SKIP;
	struct rtnl_link_stats64 st;
	memcpy(&st, nla_data(tb[IFLA_STATS_LINK_64]), sizeof(st));
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		pt_link_stat *v = realloc(c->v, cap * sizeof(*v));
		if (v == NULL) {
			c->oom = true;
			return NL_STOP;
		}
		c->v = v;
		c->cap = cap;
	}
	pt_link_stat *s = &c->v[c->n++];
	memset(s, 0, sizeof(*s));
	s->ifindex = (int)m->ifindex;
	s->rx_packets = st.rx_packets;
	s->rx_bytes = st.rx_bytes;
	s->rx_errors = st.rx_errors;
	s->rx_dropped = st.rx_dropped;
	s->rx_mcast = st.multicast;
	s->tx_packets = st.tx_packets;
	s->tx_bytes = st.tx_bytes;
	s->tx_errors = st.tx_errors;
	s->tx_dropped = st.tx_dropped;
	s->collisions = st.collisions;
	return NL_OK;
}

static int
by_index(const void *a, const void *b)
{
	int x = ((const pt_link_stat *)a)->ifindex;
	int y = ((const pt_link_stat *)b)->ifindex;
	return x < y ? -1 : x > y;
}

int
pt_linkstats_counters(pt_linkstats *ls, pt_link_stat **out, size_t *n,
    pt_err *err)
{
	*out = NULL;
	*n = 0;
	struct if_stats_msg req;
	memset(&req, 0, sizeof(req));
	req.family = AF_UNSPEC;
	req.filter_mask = IFLA_STATS_FILTER_BIT(IFLA_STATS_LINK_64);
	int rc = nl_send_simple(ls->sk, RTM_GETSTATS, NLM_F_DUMP, &req,
	    sizeof(req));
	if (rc < 0)
		return pt_fail(err, "netlink stats dump: %s", nl_geterror(rc));
	struct nl_cb *base = nl_socket_get_cb(ls->sk);
	struct nl_cb *cb = base != NULL ? nl_cb_clone(base) : NULL;
	if (base != NULL)
		nl_cb_put(base);
	if (cb == NULL)
		return pt_fail(err, "netlink: out of memory");
	counters c = {0};
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_stats, &c);
	rc = nl_recvmsgs(ls->sk, cb);
	nl_cb_put(cb);
	if (rc < 0 || c.oom) {
		free(c.v);
		return pt_fail(err, "netlink stats dump: %s", c.oom ?
		    "out of memory" : nl_geterror(rc));
	}
	qsort(c.v, c.n, sizeof(*c.v), by_index);
	*out = c.v;
	*n = c.n;
	return 0;
}

const pt_link_stat *
pt_linkstats_find_index(const pt_link_stat *v, size_t n, int ifindex)
{
	pt_link_stat key;
	memset(&key, 0, sizeof(key));
	key.ifindex = ifindex;
	return bsearch(&key, v, n, sizeof(*v), by_index);
}
