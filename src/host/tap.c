/*
 * Taps and bridges. A tap is created with the tun driver's ioctls (the only
 * way to make a persistent tap) and then enslaved and brought up over
 * rtnetlink (libnl-route-3). Every call opens its own netlink socket: calls
 * are rare, and a fresh socket always talks to the network namespace of
 * the caller at that moment.
 */
#include "tap.h"
#include "image.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>

#define TUN_DEVICE "/dev/net/tun"
/* How often a lost race for a tap name is retried before giving up. */
#define TAP_NAME_ATTEMPTS 64

void
pt_tap_owner(char out[PT_TAP_OWNER_MAX], const char *rundir_real,
    unsigned long long db_dev, unsigned long long db_ino)
{
	char full[PATH_MAX + 64];
	int n = snprintf(full, sizeof(full), "petrel:%s db:%llx:%llu",
	    rundir_real, db_dev, db_ino);
	if (n >= 0 && n < PT_TAP_OWNER_MAX) {
		memcpy(out, full, (size_t)n + 1);
		return;
	}
	/* Too long for an alias (or even for full): the hash stays unique
	 * per daemon, only less telling in `ip link`. */
	size_t len = n < 0 ? 0 : (size_t)n < sizeof(full) ? (size_t)n :
	    sizeof(full) - 1;
	uint8_t h[32];
	pt_sha256((const uint8_t *)full, len, h);
	int k = snprintf(out, PT_TAP_OWNER_MAX, "petrel:sha256:");
	for (size_t i = 0; i < sizeof(h); i++)
		k += snprintf(out + k, PT_TAP_OWNER_MAX - (size_t)k, "%02x",
		    h[i]);
}

/* A name the kernel could accept for an interface: 1..15 bytes, no '/',
 * no white space, not "." or "..". */
static bool
valid_ifname(const char *name)
{
	size_t n = strnlen(name, IFNAMSIZ);
	if (n == 0 || n >= IFNAMSIZ)
		return false;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c == '/' || c == ':' || c <= ' ' || c == 0x7f)
			return false;
	}
	return true;
}

static int
nl_open(struct nl_sock **out, pt_err *err)
{
	*out = NULL;
	struct nl_sock *sk = nl_socket_alloc();
	if (sk == NULL)
		return pt_fail(err, "netlink: out of memory");
	int rc = nl_connect(sk, NETLINK_ROUTE);
	if (rc < 0) {
		nl_socket_free(sk);
		return pt_fail(err, "netlink connect: %s", nl_geterror(rc));
	}
	/* libnl >= 3.2.x opens with SOCK_CLOEXEC; make sure of it anyway so
	 * that no tender ever inherits a route socket. */
	int fd = nl_socket_get_fd(sk);
	int flags = fcntl(fd, F_GETFD);
	if (flags < 0 || (!(flags & FD_CLOEXEC) &&
	    fcntl(fd, F_SETFD, flags | FD_CLOEXEC) != 0)) {
		int saved = errno;
		nl_socket_free(sk);
		return pt_fail(err, "netlink socket: %s", strerror(saved));
	}
	*out = sk;
	return 0;
}

static bool
nl_not_found(int rc)
{
	return rc == -NLE_OBJ_NOTFOUND || rc == -NLE_NODEV;
}

/* 1 and *link set if `name` exists, 0 if not, -1 on error. */
static int
link_lookup(struct nl_sock *sk, const char *name, struct rtnl_link **link,
    pt_err *err)
{
	*link = NULL;
	int rc = rtnl_link_get_kernel(sk, 0, name, link);
	if (rc == 0)
		return 1;
	if (nl_not_found(rc))
		return 0;
	return pt_fail(err, "look up interface %s: %s", name,
	    nl_geterror(rc));
}

static bool
link_is(struct rtnl_link *link, const char *kind)
{
	const char *type = rtnl_link_get_type(link);
	return type != NULL && strcmp(type, kind) == 0;
}

int
pt_link_exists(const char *name)
{
	if (!valid_ifname(name))
		return 0;
	struct nl_sock *sk;
	if (nl_open(&sk, NULL) != 0)
		return -1;
	struct rtnl_link *link;
	int rc = link_lookup(sk, name, &link, NULL);
	if (link != NULL)
		rtnl_link_put(link);
	nl_socket_free(sk);
	return rc;
}

int
pt_bridge_exists(const char *name, pt_err *err)
{
	if (!valid_ifname(name))
		return 0;
	struct nl_sock *sk;
	if (nl_open(&sk, err) != 0)
		return -1;
	struct rtnl_link *link;
	int rc = link_lookup(sk, name, &link, err);
	if (rc == 1) {
		rc = link_is(link, "bridge") ? 1 : 0;
		rtnl_link_put(link);
	}
	nl_socket_free(sk);
	return rc;
}

/* Returns N if name is exactly PT_TAP_PREFIX followed by a canonical
 * decimal number N, else -1. */
static long
tap_number(const char *name)
{
	size_t plen = strlen(PT_TAP_PREFIX);
	if (strncmp(name, PT_TAP_PREFIX, plen) != 0)
		return -1;
	const char *d = name + plen;
	if (*d == '\0' || (d[0] == '0' && d[1] != '\0'))
		return -1;
	long v = 0;
	for (; *d; d++) {
		if (*d < '0' || *d > '9' || v > 99999999)
			return -1;
		v = v * 10 + (*d - '0');
	}
	return v;
}

typedef struct {
	long *v;
	size_t n, cap;
} num_set;

static bool
num_set_has(const num_set *s, long x)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i] == x)
			return true;
	return false;
}

static int
num_set_add(num_set *s, long x)
{
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 16;
		long *nv = realloc(s->v, ncap * sizeof(*nv));
		if (nv == NULL)
			return -1;
		s->v = nv;
		s->cap = ncap;
	}
	s->v[s->n++] = x;
	return 0;
}

/* The numbers N of all existing PT_TAP_PREFIX<N> interfaces. */
static int
used_tap_numbers(struct nl_sock *sk, num_set *used, pt_err *err)
{
	struct nl_cache *cache;
	int rc = rtnl_link_alloc_cache(sk, AF_UNSPEC, &cache);
	if (rc < 0)
		return pt_fail(err, "list interfaces: %s", nl_geterror(rc));
	int result = 0;
	for (struct nl_object *o = nl_cache_get_first(cache); o != NULL;
	    o = nl_cache_get_next(o)) {
		const char *name = rtnl_link_get_name((struct rtnl_link *)o);
		long num = name ? tap_number(name) : -1;
		if (num >= 0 && num_set_add(used, num) != 0) {
			result = pt_fail(err, "list interfaces: out of memory");
			break;
		}
	}
	nl_cache_free(cache);
	return result;
}

/* Creates the persistent tap `name`. IFF_TUN_EXCL makes the kernel refuse
 * (EBUSY) rather than attach to an interface of that name that appeared
 * since we listed them. Returns 0, or -1 with errno (EBUSY/EEXIST: the
 * name was taken meanwhile). */
static int
tun_create(const char *name, pt_err *err)
{
	int fd = open(TUN_DEVICE, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int saved = errno;
		pt_fail(err, "open %s: %s", TUN_DEVICE, strerror(saved));
		errno = saved;
		return -1;
	}
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	/* ifr_flags is a short; IFF_TUN_EXCL (0x8000) is its sign bit. */
	ifr.ifr_flags = (short)(IFF_TAP | IFF_NO_PI | IFF_TUN_EXCL);
	const char *what = NULL;
	if (ioctl(fd, TUNSETIFF, &ifr) != 0)
		what = "TUNSETIFF";
	else if (ioctl(fd, TUNSETPERSIST, 1) != 0)
		what = "TUNSETPERSIST";
	int saved = errno;
	/* Closing a non-persistent tap removes it, so an error above leaves
	 * nothing behind. */
	close(fd);
	if (what != NULL) {
		pt_fail(err, "create tap %s: %s: %s", name, what,
		    strerror(saved));
		errno = saved;
		return -1;
	}
	return 0;
}

/* Removes a persistent tap through the tun driver: attach, clear the
 * persist flag, close. The fallback when RTM_DELLINK is refused. */
static int
tun_unpersist(const char *name, pt_err *err)
{
	int fd = open(TUN_DEVICE, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return pt_fail(err, "open %s: %s", TUN_DEVICE, strerror(errno));
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	int rc = 0;
	if (ioctl(fd, TUNSETIFF, &ifr) != 0)
		rc = pt_fail(err, "attach tap %s: %s", name, strerror(errno));
	else if (ioctl(fd, TUNSETPERSIST, 0) != 0)
		rc = pt_fail(err, "unpersist tap %s: %s", name,
		    strerror(errno));
	close(fd);
	return rc;
}

static int
delete_tap(struct nl_sock *sk, const char *name, pt_err *err)
{
	struct rtnl_link *link;
	int found = link_lookup(sk, name, &link, err);
	if (found <= 0)
		return found;
	if (!link_is(link, "tun")) {
		rtnl_link_put(link);
		return pt_fail(err, "%s is not a tap; not deleting it", name);
	}
	int rc = rtnl_link_delete(sk, link);
	rtnl_link_put(link);
	if (rc == 0 || nl_not_found(rc))
		return 0;
	pt_err why;
	if (tun_unpersist(name, &why) == 0)
		return 0;
	return pt_fail(err, "delete tap %s: %s; %s", name, nl_geterror(rc),
	    why.msg);
}

/* Enslaves the tap to the bridge (by ifindex) and sets it up, in one
 * RTM_SETLINK. */
static int
attach_tap(struct nl_sock *sk, const char *tap, int bridge_index,
    const char *bridge, const char *owner, pt_err *err)
{
	struct rtnl_link *link;
	int found = link_lookup(sk, tap, &link, err);
	if (found < 0)
		return -1;
	if (found == 0)
		return pt_fail(err, "tap %s vanished after creation", tap);
	struct rtnl_link *change = rtnl_link_alloc();
	if (change == NULL) {
		rtnl_link_put(link);
		return pt_fail(err, "netlink: out of memory");
	}
	rtnl_link_set_master(change, bridge_index);
	rtnl_link_set_flags(change, IFF_UP);
	if (owner != NULL)
		rtnl_link_set_ifalias(change, owner);
	int rc = rtnl_link_change(sk, link, change, 0);
	rtnl_link_put(change);
	rtnl_link_put(link);
	if (rc < 0)
		return pt_fail(err, "enslave tap %s to bridge %s and set it "
		    "up: %s", tap, bridge, nl_geterror(rc));
	return 0;
}

/* The bridge's ifindex, or -1 with a reason. */
static int
bridge_index(struct nl_sock *sk, const char *bridge, pt_err *err)
{
	struct rtnl_link *link;
	int found = link_lookup(sk, bridge, &link, err);
	if (found < 0)
		return -1;
	if (found == 0)
		return pt_fail(err, "bridge %s does not exist", bridge);
	bool is_bridge = link_is(link, "bridge");
	int index = rtnl_link_get_ifindex(link);
	rtnl_link_put(link);
	if (!is_bridge)
		return pt_fail(err, "%s is not a bridge", bridge);
	return index;
}

typedef struct {
	int master;
	size_t ports;
} port_count;

static int
count_port(struct nl_msg *msg, void *arg)
{
	port_count *pc = arg;
	struct nlmsghdr *h = nlmsg_hdr(msg);
	struct nlattr *tb[IFLA_MAX + 1];
	if (h->nlmsg_type != RTM_NEWLINK ||
	    nlmsg_parse(h, sizeof(struct ifinfomsg), tb, IFLA_MAX, NULL) < 0)
		return NL_OK;
	/* Counted here too: a kernel that ignores the filter (older than
	 * 4.15) sends every link. */
	if (tb[IFLA_MASTER] != NULL &&
	    nla_len(tb[IFLA_MASTER]) >= (int)sizeof(uint32_t) &&
	    (int)nla_get_u32(tb[IFLA_MASTER]) == pc->master)
		pc->ports++;
	return NL_OK;
}

/* RTM_GETLINK dump filtered by IFLA_MASTER: the kernel sends only the
 * bridge's ports, not every link of the host. */
static int
dump_ports(struct nl_sock *sk, const char *bridge, port_count *pc,
    pt_err *err)
{
	struct nl_msg *msg = nlmsg_alloc_simple(RTM_GETLINK, NLM_F_DUMP);
	struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
	if (msg == NULL || nlmsg_append(msg, &ifi, sizeof(ifi),
	    NLMSG_ALIGNTO) < 0 || nla_put_u32(msg, IFLA_MASTER,
	    (uint32_t)pc->master) < 0) {
		nlmsg_free(msg);
		return pt_fail(err, "ports of bridge %s: netlink: out of "
		    "memory", bridge);
	}
	int rc = nl_send_auto(sk, msg);
	nlmsg_free(msg);
	if (rc >= 0)
		rc = nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM,
		    count_port, pc);
	if (rc >= 0)
		rc = nl_recvmsgs_default(sk);
	if (rc < 0)
		return pt_fail(err, "ports of bridge %s: %s", bridge,
		    nl_geterror(rc));
	return 0;
}

int
pt_bridge_port_count(const char *bridge, size_t *ports, pt_err *err)
{
	*ports = 0;
	if (!valid_ifname(bridge))
		return pt_fail(err, "invalid bridge name \"%.*s\"", IFNAMSIZ,
		    bridge);
	struct nl_sock *sk;
	if (nl_open(&sk, err) != 0)
		return -1;
	port_count pc = {.master = bridge_index(sk, bridge, err)};
	int rc = pc.master < 0 ? -1 : dump_ports(sk, bridge, &pc, err);
	nl_socket_free(sk);
	if (rc == 0)
		*ports = pc.ports;
	return rc;
}

/* Creates the lowest free PT_TAP_PREFIX<N>, retrying when another process
 * takes the name between our listing and our ioctl. */
static int
create_lowest_free(struct nl_sock *sk, char name[IFNAMSIZ], pt_err *err)
{
	num_set used = {0};
	if (used_tap_numbers(sk, &used, err) != 0) {
		free(used.v);
		return -1;
	}
	int rc = -1;
	long candidate = 0;
	for (int attempt = 0; attempt < TAP_NAME_ATTEMPTS; attempt++) {
		while (num_set_has(&used, candidate))
			candidate++;
		char cand[32];
		int len = snprintf(cand, sizeof(cand), "%s%ld", PT_TAP_PREFIX,
		    candidate);
		if (len < 0 || len >= IFNAMSIZ) {
			pt_fail(err, "create tap: no free %s<N> name",
			    PT_TAP_PREFIX);
			errno = 0;
			break;
		}
		memcpy(name, cand, (size_t)len + 1);
		if (tun_create(name, err) == 0) {
			rc = 0;
			break;
		}
		if (errno != EBUSY && errno != EEXIST)
			break;
		candidate++;
	}
	if (rc != 0 && (errno == EBUSY || errno == EEXIST))
		pt_fail(err, "create tap: no free %s<N> name after %d "
		    "attempts", PT_TAP_PREFIX, TAP_NAME_ATTEMPTS);
	free(used.v);
	return rc;
}

int
pt_tap_create(const char *bridge, const char *owner, char name[IFNAMSIZ],
    pt_err *err)
{
	name[0] = '\0';
	if (!valid_ifname(bridge))
		return pt_fail(err, "invalid bridge name \"%.*s\"", IFNAMSIZ,
		    bridge);
	struct nl_sock *sk;
	if (nl_open(&sk, err) != 0)
		return -1;
	int index = bridge_index(sk, bridge, err);
	if (index < 0 || create_lowest_free(sk, name, err) != 0) {
		nl_socket_free(sk);
		name[0] = '\0';
		return -1;
	}
	if (attach_tap(sk, name, index, bridge, owner, err) != 0) {
		pt_err cleanup;
		if (delete_tap(sk, name, &cleanup) != 0 && err != NULL) {
			pt_err first = *err;
			pt_fail(err, "%s; removing it failed too: %s",
			    first.msg, cleanup.msg);
		}
		nl_socket_free(sk);
		name[0] = '\0';
		return -1;
	}
	nl_socket_free(sk);
	return 0;
}

int
pt_tap_destroy(const char *name, pt_err *err)
{
	if (!valid_ifname(name))
		return pt_fail(err, "invalid tap name \"%.*s\"", IFNAMSIZ, name);
	struct nl_sock *sk;
	if (nl_open(&sk, err) != 0)
		return -1;
	int rc = delete_tap(sk, name, err);
	nl_socket_free(sk);
	return rc < 0 ? -1 : 0;
}

void
pt_bridges_free(char **names, size_t n)
{
	if (names == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int
pt_bridges_list(char ***names, size_t *n, pt_err *err)
{
	*names = NULL;
	*n = 0;
	struct nl_sock *sk;
	if (nl_open(&sk, err) != 0)
		return -1;
	struct nl_cache *cache;
	int rc = rtnl_link_alloc_cache(sk, AF_UNSPEC, &cache);
	nl_socket_free(sk);
	if (rc < 0)
		return pt_fail(err, "list interfaces: %s", nl_geterror(rc));
	size_t cap = (size_t)nl_cache_nitems(cache);
	char **v = calloc(cap > 0 ? cap : 1, sizeof(*v));
	size_t k = 0;
	int result = v == NULL ? -1 : 0;
	for (struct nl_object *o = nl_cache_get_first(cache);
	    o != NULL && result == 0 && k < cap; o = nl_cache_get_next(o)) {
		struct rtnl_link *link = (struct rtnl_link *)o;
		const char *name = rtnl_link_get_name(link);
		if (name == NULL || !link_is(link, "bridge"))
			continue;
		if ((v[k] = strdup(name)) == NULL)
			result = -1;
		else
			k++;
	}
	nl_cache_free(cache);
	if (result != 0) {
		pt_bridges_free(v, k);
		return pt_fail(err, "list bridges: out of memory");
	}
	*names = v;
	*n = k;
	return 0;
}

int
pt_tap_remove_orphans(const char *owner, size_t *removed, pt_err *err)
{
	*removed = 0;
	struct nl_sock *sk;
	if (nl_open(&sk, err) != 0)
		return -1;
	struct nl_cache *cache;
	int rc = rtnl_link_alloc_cache(sk, AF_UNSPEC, &cache);
	if (rc < 0) {
		nl_socket_free(sk);
		return pt_fail(err, "list interfaces: %s", nl_geterror(rc));
	}
	int result = 0;
	for (struct nl_object *o = nl_cache_get_first(cache); o != NULL;
	    o = nl_cache_get_next(o)) {
		struct rtnl_link *link = (struct rtnl_link *)o;
		const char *name = rtnl_link_get_name(link);
		const char *alias = rtnl_link_get_ifalias(link);
		if (name == NULL || alias == NULL || !link_is(link, "tun") ||
		    strcmp(alias, owner) != 0)
			continue;
		if (delete_tap(sk, name, err) < 0)
			result = -1;
		else
			(*removed)++;
	}
	nl_cache_free(cache);
	nl_socket_free(sk);
	return result;
}
