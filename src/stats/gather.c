/*
 * One gathering round: for every monitored unikernel the three /proc
 * files of its tender, the counters of all taps from ONE link dump, and
 * the KVM statistics of its VM; then the subscribers and InfluxDB get the
 * round (Prometheus reads it when it scrapes).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "statsd.h"

/* /proc/<pid>/status is about 1.5 KiB. */
#define PROC_FILE_MAX 8192

/* The whole file (bounded) into buf, re-read from offset 0; its length,
 * or -1 (ESRCH once the process is gone). */
static ssize_t
read_at(int fd, char *buf, size_t cap)
{
	if (fd < 0) {
		errno = EACCES;
		return -1;
	}
	size_t n = 0;
	while (n < cap) {
		ssize_t r = pread(fd, buf + n, cap - n, (off_t)n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	return (ssize_t)n;
}

static bool warned_io;

static void
read_proc(st_daemon *d, st_uk *u)
{
	char buf[PROC_FILE_MAX];
	pt_procinfo p;
	memset(&p, 0, sizeof(p));
	pt_err err = {{0}};
	ssize_t n = read_at(u->statfd, buf, sizeof(buf));
	if (n < 0 || pt_proc_parse_stat(buf, (size_t)n, &p, &err) < 0) {
		if (u->m.ok)
			st_log(d, 0, "%s: cannot read pid %lld: %s",
			    u->m.name.text, (long long)u->m.pid, n < 0 ?
			    strerror(errno) : err.msg);
		u->m.ok = false;
		return;
	}
	n = read_at(u->statusfd, buf, sizeof(buf));
	if (n < 0 || pt_proc_parse_status(buf, (size_t)n, &p, &err) < 0) {
		u->m.ok = false;
		return;
	}
	n = read_at(u->iofd, buf, sizeof(buf));
	if (n < 0 || pt_proc_parse_io(buf, (size_t)n, &p, &err) < 0) {
		if (!warned_io)
			st_log(d, 0, "%s: /proc/%lld/io: %s (block counters "
			    "stay 0; see docs/stats.md for the capabilities)",
			    u->m.name.text, (long long)u->m.pid, n < 0 ?
			    strerror(errno) : err.msg);
		warned_io = true;
		p.read_bytes = p.write_bytes = 0;
	}
	pt_proc_to_rusage(&p, d->clk_tck, &u->m.ru);
	pt_proc_to_kinfo(&p, d->clk_tck, d->page_kb, d->boot_time_s,
	    &u->m.km);
	u->m.rss_bytes = p.vm_rss_kb * 1024;
	u->m.maxrss_bytes = p.vm_hwm_kb * 1024;
	u->m.vsize_bytes = p.vsize_bytes;
	u->m.io_read_bytes = p.read_bytes;
	u->m.io_write_bytes = p.write_bytes;
	u->m.start_s = (double)u->m.km.start.sec +
	    (double)u->m.km.start.usec / 1e6;
	u->m.ok = true;
}

/* Even without new taps, the link dump is made again this often, so that
 * a changed MTU or bridge shows. */
#define LINKS_REFRESH_ROUNDS 60

static void
take_counters(pt_sm_if *t, const pt_link_stat *s)
{
	t->rx_packets = s->rx_packets;
	t->rx_bytes = s->rx_bytes;
	t->rx_errors = s->rx_errors;
	t->rx_dropped = s->rx_dropped;
	t->rx_mcast = s->rx_mcast;
	t->tx_packets = s->tx_packets;
	t->tx_bytes = s->tx_bytes;
	t->tx_errors = s->tx_errors;
	t->tx_dropped = s->tx_dropped;
	t->collisions = s->collisions;
}

/* From a full link dump (sorted by name): ifindex, bridge, MTU, flags
 * and the counters. */
static void
match_links(st_uk *u, const pt_link_stat *v, size_t n)
{
	for (size_t i = 0; i < u->m.nif; i++) {
		pt_sm_if *t = &u->m.ifs[i];
		const pt_link_stat *s = pt_linkstats_find(v, n, t->tap);
		t->found = s != NULL;
		t->ifindex = s != NULL ? s->ifindex : 0;
		if (s == NULL)
			continue;
		take_counters(t, s);
		t->mtu = s->mtu;
		t->flags = s->flags;
		t->bridge[0] = '\0';
		const pt_link_stat *m = s->master > 0 ?
		    pt_linkstats_by_index(v, n, s->master) : NULL;
		if (m != NULL)
			memcpy(t->bridge, m->name, IFNAMSIZ);
	}
}

/* From a counters dump (sorted by ifindex). A tap missing from it was
 * removed or recreated: the next round makes the link dump. */
static void
match_counters(st_daemon *d, st_uk *u, const pt_link_stat *v, size_t n)
{
	for (size_t i = 0; i < u->m.nif; i++) {
		pt_sm_if *t = &u->m.ifs[i];
		const pt_link_stat *s = t->ifindex > 0 ?
		    pt_linkstats_find_index(v, n, t->ifindex) : NULL;
		t->found = s != NULL;
		if (s != NULL)
			take_counters(t, s);
		else
			d->need_links = true;
	}
}

/* This round's one dump: the link dump when needed, else the counters. */
static void
dump_links(st_daemon *d, pt_link_stat **v, size_t *n, bool *full)
{
	pt_err err = {{0}};
	*full = d->need_links ||
	    d->rounds - d->links_round >= LINKS_REFRESH_ROUNDS;
	int r = *full ? pt_linkstats_dump(d->links, v, n, &err) :
	    pt_linkstats_counters(d->links, v, n, &err);
	if (r < 0) {
		st_log(d, 0, "%s", err.msg);
		return;
	}
	if (*full) {
		d->need_links = false;
		d->links_round = d->rounds;
	}
}

static double
cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
feed_influx(st_daemon *d, int64_t now)
{
	if (d->influx == NULL)
		return;
	pt_buf lines = {0};
	for (st_uk *u = d->uks; u != NULL; u = u->next)
		pt_render_influx(&u->m, now, d->o.influx_drop_path, &lines);
	if (lines.oom) {
		st_log(d, 0, "out of memory rendering the InfluxDB lines");
		pt_buf_free(&lines);
		return;
	}
	if (lines.len > 0)
		st_influx_push(d, &lines);  /* takes the buffer */
	pt_buf_free(&lines);
}

void
st_gather_round(st_daemon *d)
{
	double t0 = cpu_now();
	pt_link_stat *links = NULL;
	size_t nlinks = 0;
	bool full = false;
	if (d->nuks > 0)
		dump_links(d, &links, &nlinks, &full);
	double t1 = cpu_now();
	for (st_uk *u = d->uks; u != NULL; u = u->next) {
		read_proc(d, u);
		if (full)
			match_links(u, links, nlinks);
		else
			match_counters(d, u, links, nlinks);
		if (!d->o.no_kvm && u->m.ok)
			st_kvm_read(d, u);
	}
	free(links);
	d->rounds++;
	double t2 = cpu_now();
	d->round_seconds = t2 - t0;
	st_log(d, 3, "round %llu: %s dump %.2f ms, processes %.2f ms CPU",
	    (unsigned long long)d->rounds, full ? "link" : "counters",
	    (t1 - t0) * 1e3, (t2 - t1) * 1e3);
	st_subs_reap(d);
	for (st_uk *u = d->uks; u != NULL; u = u->next)
		if (u->m.ok)
			st_subs_publish(d, u);
	feed_influx(d, st_now_ms());
	st_policies_refresh(d);
}

int
st_round_view(st_daemon *d, pt_sm_round *r)
{
	memset(r, 0, sizeof(*r));
	r->time_ms = st_now_ms();
	r->uks = calloc(d->nuks ? d->nuks : 1, sizeof(*r->uks));
	if (r->uks == NULL)
		return -1;
	for (st_uk *u = d->uks; u != NULL; u = u->next)
		r->uks[r->nuk++] = &u->m;
	st_policies_view(d, &r->paths, &r->npath);
	r->rounds = d->rounds;
	r->round_seconds = d->round_seconds;
	r->influx_dropped = st_influx_dropped(d);
	r->subscribers_dropped = d->subs_dropped;
	return 0;
}

void
st_round_free(pt_sm_round *r)
{
	free(r->uks);
	r->uks = NULL;
}
