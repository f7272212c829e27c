/*
 * Whether one more unikernel fits on this host, checked with the rest of
 * a create (uk_prepare) so that it is refused with a reason instead of
 * failing half-way: petreld's descriptors, the ports of the bridges it
 * names, the tasks petreld's cgroup allows. docs/limits.md has the
 * figures.
 */
#include <string.h>

#include "capacity.h"
#include "cgroup.h"
#include "nofile.h"
#include "petreld.h"
#include "tap.h"

void
admit_init(void)
{
	pt_nofile n;
	pt_nofile_raise(&n);
	size_t cap = pt_fd_capacity(n.soft, PT_FDS_PER_UNIKERNEL,
	    PT_FDS_RESERVE);
	if (n.error != 0)
		log_warn("descriptor limit: cannot raise the soft limit %llu "
		    "to the hard limit %llu: %s", (unsigned long long)n.before,
		    (unsigned long long)n.hard, strerror(n.error));
	log_info("descriptor limit %llu (inherited soft limit %llu, hard "
	    "limit %llu): at most %zu unikernels", (unsigned long long)n.soft,
	    (unsigned long long)n.before, (unsigned long long)n.hard, cap);
}

static int
check_fds(pt_daemon *d, const pt_name *name, pt_err *err)
{
	/* A restart or a force-create keeps its registry entry. */
	if (uk_find(d, name) != NULL)
		return 0;
	uint64_t limit = pt_nofile_soft();
	size_t cap = pt_fd_capacity(limit, PT_FDS_PER_UNIKERNEL,
	    PT_FDS_RESERVE);
	if (d->nuks < cap)
		return 0;
	return pt_fail(err, "descriptor limit %llu allows at most %zu "
	    "unikernels; %zu run (petreld keeps %u descriptors per unikernel "
	    "and %u for itself; raise its RLIMIT_NOFILE, see docs/limits.md)",
	    (unsigned long long)limit, cap, d->nuks,
	    (unsigned)PT_FDS_PER_UNIKERNEL, (unsigned)PT_FDS_RESERVE);
}

/* How many of cfg's networks use `bridge`. */
static size_t
nets_on(const pt_ukconfig *cfg, const char *bridge)
{
	size_t n = 0;
	for (size_t i = 0; i < cfg->nnets; i++)
		if (strcmp(ukcfg_bridge(&cfg->nets[i]).s, bridge) == 0)
			n++;
	return n;
}

/* The unikernel being replaced, if its tender (and so its taps and
 * task) is still there. */
static const pt_uk *
running_replaced(pt_daemon *d, const pt_name *replacing)
{
	const pt_uk *old = replacing != NULL ? uk_find(d, replacing) : NULL;
	return old != NULL && uk_has_process(old) ? old : NULL;
}

static int
check_bridge(pt_daemon *d, const pt_ukconfig *cfg, size_t i,
    const pt_name *replacing, pt_err *err)
{
	const char *br = ukcfg_bridge(&cfg->nets[i]).s;
	for (size_t j = 0; j < i; j++)
		if (strcmp(ukcfg_bridge(&cfg->nets[j]).s, br) == 0)
			return 0;  /* counted with its first network */
	size_t ports;
	if (pt_bridge_port_count(br, &ports, err) < 0)
		return -1;
	const pt_uk *old = running_replaced(d, replacing);
	size_t freed = old != NULL ? nets_on(&old->cfg, br) : 0;
	ports = ports > freed ? ports - freed : 0;
	size_t adding = nets_on(cfg, br);
	if (pt_bridge_ports_fit(ports, adding, PT_BRIDGE_MAX_PORTS))
		return 0;
	return pt_fail(err, "bridge %s has %zu ports and the kernel allows "
	    "at most %d (BR_MAX_PORTS %d, port 0 reserved): no room for %zu "
	    "more; put this unikernel on another bridge (docs/limits.md)",
	    br, ports, PT_BRIDGE_MAX_PORTS, PT_BRIDGE_KERNEL_MAX_PORTS,
	    adding);
}

static int
check_tasks(pt_daemon *d, const pt_ukconfig *cfg, bool hvt,
    const pt_name *replacing, pt_err *err)
{
	pt_pids_room room;
	if (pt_cgroup_pids_room(&room, err) < 0)
		return pt_fail_prefix(err, "tasks");
	if (!room.limited)
		return 0;
	unsigned need = pt_tender_tasks(hvt, cfg->nnets);
	/* The one replaced goes first: its main task at least. */
	uint64_t room_left = room.headroom +
	    (running_replaced(d, replacing) != NULL ? 1 : 0);
	if (need <= room_left)
		return 0;
	return pt_fail(err, "tasks: pids.max %llu of cgroup %s allows %llu "
	    "more (%llu run); a solo5-%s tender needs %u",
	    (unsigned long long)room.max, room.dir,
	    (unsigned long long)room_left, (unsigned long long)room.current,
	    hvt ? "hvt" : "spt", need);
}

int
uk_check_capacity(pt_daemon *d, const pt_name *name, const pt_ukconfig *cfg,
    bool hvt, const pt_name *replacing, pt_err *err)
{
	if (check_fds(d, name, err) < 0)
		return -1;
	for (size_t i = 0; i < cfg->nnets; i++)
		if (check_bridge(d, cfg, i, replacing, err) < 0)
			return -1;
	return check_tasks(d, cfg, hvt, replacing, err);
}
