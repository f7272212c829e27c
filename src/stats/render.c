/*
 * One gathering round rendered three ways: §6.8 stats records (for
 * subscribers), the Prometheus text exposition format (version 0.0.4:
 * `# HELP`, `# TYPE`, then the series of that family together) and the
 * InfluxDB line protocol albatross_influx writes (its measurements, tags
 * and field names, so that its dashboards keep working).
 */
#include <inttypes.h>
#include <string.h>

#include "metrics.h"

/* ---- §6.8 ---- */

static int64_t
clamp_u64(uint64_t v)
{
	return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

bool
pt_sm_covers(const pt_name *s, const pt_name *n)
{
	if (s->has_label)
		return pt_name_equal(s, n);
	return s->npath <= n->npath && pt_name_is_prefix(s, n);
}

int
pt_sm_to_stats(const pt_sm_uk *u, pt_arena *a, pt_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->rusage = u->ru;
	out->has_kinfo = true;
	out->kinfo = u->km;
	size_t nfound = 0;
	for (size_t i = 0; i < u->nif; i++)
		nfound += u->ifs[i].found;
	out->ifdata = pt_arena_calloc(a, nfound ? nfound : 1,
	    sizeof(*out->ifdata));
	if (out->ifdata == NULL)
		return -1;
	for (size_t i = 0; i < u->nif; i++) {
		const pt_sm_if *f = &u->ifs[i];
		if (!f->found)
			continue;
		pt_ifdata *d = &out->ifdata[out->nifdata++];
		d->bridge.s = f->net;
		d->bridge.len = strlen(f->net);
		d->flags = f->flags;
		d->mtu = f->mtu;
		/* The tap receives what the unikernel sends (input). */
		d->input_packets = clamp_u64(f->rx_packets);
		d->input_bytes = clamp_u64(f->rx_bytes);
		d->input_errors = clamp_u64(f->rx_errors);
		d->input_dropped = clamp_u64(f->rx_dropped);
		d->input_mcast = clamp_u64(f->rx_mcast);
		d->output_packets = clamp_u64(f->tx_packets);
		d->output_bytes = clamp_u64(f->tx_bytes);
		d->output_errors = clamp_u64(f->tx_errors);
		d->output_dropped = clamp_u64(f->tx_dropped);
		d->collisions = clamp_u64(f->collisions);
	}
	if (u->has_vmm) {
		out->has_vmm = true;
		out->vmm = pt_arena_calloc(a, u->nvmm ? u->nvmm : 1,
		    sizeof(*out->vmm));
		if (out->vmm == NULL)
			return -1;
		for (size_t i = 0; i < u->nvmm; i++) {
			out->vmm[i].key.s = u->vmm[i].name;
			out->vmm[i].key.len = strlen(u->vmm[i].name);
			out->vmm[i].value = clamp_u64(u->vmm[i].value);
		}
		out->nvmm = u->nvmm;
	}
	return 0;
}

/* ---- escaping ---- */

void
pt_influx_escape(pt_buf *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == ',' || s[i] == '=' || s[i] == ' ')
			pt_buf_append_byte(out, '\\');
		/* A newline would end the line: never let one through. */
		pt_buf_append_byte(out, s[i] == '\n' ? '_' : (uint8_t)s[i]);
	}
}

void
pt_prom_escape(pt_buf *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\')
			pt_buf_append(out, "\\\\", 2);
		else if (s[i] == '"')
			pt_buf_append(out, "\\\"", 2);
		else if (s[i] == '\n')
			pt_buf_append(out, "\\n", 2);
		else
			pt_buf_append_byte(out, (uint8_t)s[i]);
	}
}

/* ---- Prometheus ---- */

static double
tv_seconds(pt_timeval tv)
{
	return (double)tv.sec + (double)tv.usec / 1e6;
}

static void
family(pt_buf *o, const char *name, const char *type, const char *help)
{
	pt_buf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
	    type);
}

/* `{name="a:b:web",path="a:b:"` (open: the caller adds or closes). */
static void
uk_labels(pt_buf *o, const pt_sm_uk *u)
{
	pt_name path;
	pt_name_path(&u->name, &path);
	pt_buf_append(o, "{name=\"", 7);
	pt_prom_escape(o, u->name.text, u->name.len);
	pt_buf_append(o, "\",path=\"", 8);
	pt_prom_escape(o, path.text, path.len);
	pt_buf_append_byte(o, '"');
}

static void
value_line(pt_buf *o, const char *metric, const pt_sm_uk *u,
    const char *extra, double v)
{
	pt_buf_append(o, metric, strlen(metric));
	uk_labels(o, u);
	if (extra != NULL)
		pt_buf_printf(o, ",%s", extra);
	pt_buf_printf(o, "} %.17g\n", v);
}

typedef struct {
	const char *name, *type, *help;
	/* Up to two series per unikernel: label, value. */
	void (*emit)(pt_buf *o, const char *metric, const pt_sm_uk *u);
} uk_family;

static void
e_cpu(pt_buf *o, const char *m, const pt_sm_uk *u)
{
	value_line(o, m, u, "mode=\"user\"", tv_seconds(u->ru.utime));
	value_line(o, m, u, "mode=\"system\"", tv_seconds(u->ru.stime));
}
static void
e_rss(pt_buf *o, const char *m, const pt_sm_uk *u)
{
	value_line(o, m, u, NULL, (double)u->rss_bytes);
}
static void
e_maxrss(pt_buf *o, const char *m, const pt_sm_uk *u)
{
	value_line(o, m, u, NULL, (double)u->maxrss_bytes);
}
static void
e_vsize(pt_buf *o, const char *m, const pt_sm_uk *u)
{
	value_line(o, m, u, NULL, (double)u->vsize_bytes);
}
static void
e_faults(pt_buf *o, const char *m, const pt_sm_uk *u)
{
	value_line(o, m, u, "type=\"minor\"", (double)u->ru.minflt);
	value_line(o, m, u, "type=\"major\"", (double)u->ru.majflt);
}
static void
e_ctxsw(pt_buf *o, const char *m, const pt_sm_uk *u)
{
	value_line(o, m, u, "type=\"voluntary\"", (double)u->ru.nvcsw);
	value_line(o, m, u, "type=\"involuntary\"", (double)u->ru.nivcsw);
}
static void
e_ioread(pt_buf *o, const char *m, const pt_sm_uk *u)
{
	value_line(o, m, u, NULL, (double)u->io_read_bytes);
}
static void
e_iowrite(pt_buf *o, const char *m, const pt_sm_uk *u)
{
	value_line(o, m, u, NULL, (double)u->io_write_bytes);
}
static void
e_start(pt_buf *o, const char *m, const pt_sm_uk *u)
{
	value_line(o, m, u, NULL, u->start_s);
}
static void
e_pid(pt_buf *o, const char *m, const pt_sm_uk *u)
{
	value_line(o, m, u, NULL, (double)u->pid);
}

static const uk_family uk_families[] = {
	{"petrel_unikernel_cpu_seconds_total", "counter",
	    "CPU time of the unikernel's tender process.", e_cpu},
	{"petrel_unikernel_memory_rss_bytes", "gauge",
	    "Resident memory of the tender process.", e_rss},
	{"petrel_unikernel_memory_max_rss_bytes", "gauge",
	    "Peak resident memory of the tender process.", e_maxrss},
	{"petrel_unikernel_memory_virtual_bytes", "gauge",
	    "Virtual memory size of the tender process.", e_vsize},
	{"petrel_unikernel_page_faults_total", "counter",
	    "Page faults of the tender process.", e_faults},
	{"petrel_unikernel_context_switches_total", "counter",
	    "Context switches of the tender process.", e_ctxsw},
	{"petrel_unikernel_io_read_bytes_total", "counter",
	    "Bytes the tender process read from storage.", e_ioread},
	{"petrel_unikernel_io_write_bytes_total", "counter",
	    "Bytes the tender process wrote to storage.", e_iowrite},
	{"petrel_unikernel_start_time_seconds", "gauge",
	    "Start time of the tender process since the Unix epoch.", e_start},
	{"petrel_unikernel_tender_pid", "gauge",
	    "Process id of the tender.", e_pid},
};

typedef struct {
	const char *name, *help;
	size_t off;  /* of a uint64_t in pt_sm_if */
} if_family;

static const if_family if_families[] = {
	{"petrel_interface_receive_bytes_total",
	    "Bytes the host received from the unikernel on its tap.",
	    offsetof(pt_sm_if, rx_bytes)},
	{"petrel_interface_receive_packets_total",
	    "Packets the host received from the unikernel on its tap.",
	    offsetof(pt_sm_if, rx_packets)},
	{"petrel_interface_receive_errors_total",
	    "Receive errors on the tap.", offsetof(pt_sm_if, rx_errors)},
	{"petrel_interface_receive_drops_total",
	    "Packets from the unikernel dropped on the tap.",
	    offsetof(pt_sm_if, rx_dropped)},
	{"petrel_interface_transmit_bytes_total",
	    "Bytes the host sent to the unikernel on its tap.",
	    offsetof(pt_sm_if, tx_bytes)},
	{"petrel_interface_transmit_packets_total",
	    "Packets the host sent to the unikernel on its tap.",
	    offsetof(pt_sm_if, tx_packets)},
	{"petrel_interface_transmit_errors_total",
	    "Transmit errors on the tap.", offsetof(pt_sm_if, tx_errors)},
	{"petrel_interface_transmit_drops_total",
	    "Packets to the unikernel dropped on the tap (it did not read).",
	    offsetof(pt_sm_if, tx_dropped)},
};

static void
render_ifs(const pt_sm_round *r, pt_buf *o)
{
	for (size_t f = 0; f < sizeof(if_families) / sizeof(if_families[0]);
	    f++) {
		family(o, if_families[f].name, "counter", if_families[f].help);
		for (size_t i = 0; i < r->nuk; i++) {
			const pt_sm_uk *u = r->uks[i];
			if (!u->ok)
				continue;
			for (size_t k = 0; k < u->nif; k++) {
				const pt_sm_if *t = &u->ifs[k];
				if (!t->found)
					continue;
				uint64_t v;
				memcpy(&v, (const char *)t + if_families[f].off,
				    sizeof(v));
				pt_buf_append(o, if_families[f].name,
				    strlen(if_families[f].name));
				uk_labels(o, u);
				pt_buf_append(o, ",interface=\"", 12);
				pt_prom_escape(o, t->tap, strlen(t->tap));
				pt_buf_append(o, "\",network=\"", 11);
				pt_prom_escape(o, t->net, strlen(t->net));
				pt_buf_append(o, "\",bridge=\"", 10);
				pt_prom_escape(o, t->bridge, strlen(t->bridge));
				pt_buf_printf(o, "\"} %" PRIu64 "\n", v);
			}
		}
	}
}

static void
render_kvm(const pt_sm_round *r, pt_buf *o)
{
	family(o, "petrel_unikernel_kvm_stat", "gauge",
	    "KVM statistics of the unikernel's VM (summed over its vCPUs), "
	    "by name.");
	for (size_t i = 0; i < r->nuk; i++) {
		const pt_sm_uk *u = r->uks[i];
		if (!u->ok || !u->has_vmm)
			continue;
		for (size_t k = 0; k < u->nvmm; k++) {
			pt_buf_append(o, "petrel_unikernel_kvm_stat", 25);
			uk_labels(o, u);
			pt_buf_append(o, ",stat=\"", 7);
			pt_prom_escape(o, u->vmm[k].name,
			    strlen(u->vmm[k].name));
			pt_buf_printf(o, "\"} %" PRIu64 "\n", u->vmm[k].value);
		}
	}
}

/* Sums over the unikernels below each path, with the path's policy. */
static void
path_line(pt_buf *o, const char *metric, const pt_name *path, double v)
{
	pt_buf_append(o, metric, strlen(metric));
	pt_buf_append(o, "{path=\"", 7);
	pt_prom_escape(o, path->text, path->len);
	pt_buf_printf(o, "\"} %.17g\n", v);
}

static void
render_paths(const pt_sm_round *r, pt_buf *o)
{
	static const struct {
		const char *name, *type, *help;
		int what;
	} fams[] = {
		{"petrel_path_unikernels", "gauge",
		    "Unikernels running below the path.", 0},
		{"petrel_path_memory_rss_bytes", "gauge",
		    "Resident memory of the tenders below the path.", 1},
		{"petrel_path_cpu_seconds_total", "counter",
		    "CPU time of the tenders running below the path.", 2},
		{"petrel_path_memory_configured_bytes", "gauge",
		    "Memory the unikernels below the path are configured "
		    "with.", 3},
		{"petrel_path_cpus_used", "gauge",
		    "Distinct CPUs the unikernels below the path are pinned "
		    "to.", 4},
		{"petrel_path_unikernels_limit", "gauge",
		    "Unikernels the path's policy allows.", 5},
		{"petrel_path_memory_limit_bytes", "gauge",
		    "Memory the path's policy allows.", 6},
		{"petrel_path_cpus_limit", "gauge",
		    "CPUs the path's policy allows.", 7},
	};
	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
		family(o, fams[f].name, fams[f].type, fams[f].help);
		for (size_t p = 0; p < r->npath; p++) {
			const pt_sm_path *P = &r->paths[p];
			double v = 0;
			int w = fams[f].what;
			if (w >= 5 && !P->has_policy)
				continue;
			if (w <= 2) {
				for (size_t i = 0; i < r->nuk; i++) {
					const pt_sm_uk *u = r->uks[i];
					if (!u->ok || !pt_sm_covers(&P->path, &u->name))
						continue;
					if (w == 0)
						v += 1;
					else if (w == 1)
						v += (double)u->rss_bytes;
					else
						v += tv_seconds(u->ru.utime) +
						    tv_seconds(u->ru.stime);
				}
			} else if (w == 3) {
				v = (double)P->memory_mb * 1048576.0;
			} else if (w == 4) {
				v = (double)P->cpus;
			} else if (w == 5) {
				v = (double)P->policy.unikernels;
			} else if (w == 6) {
				v = (double)P->policy.memory * 1048576.0;
			} else {
				v = (double)P->policy.ncpuids;
			}
			path_line(o, fams[f].name, &P->path, v);
		}
	}
}

int
pt_render_prometheus(const pt_sm_round *r, pt_buf *o)
{
	for (size_t f = 0; f < sizeof(uk_families) / sizeof(uk_families[0]);
	    f++) {
		family(o, uk_families[f].name, uk_families[f].type,
		    uk_families[f].help);
		for (size_t i = 0; i < r->nuk; i++)
			if (r->uks[i]->ok)
				uk_families[f].emit(o, uk_families[f].name,
				    r->uks[i]);
	}
	render_ifs(r, o);
	render_kvm(r, o);
	render_paths(r, o);
	family(o, "petrel_stats_rounds_total", "counter",
	    "Gathering rounds petrel-stats ran.");
	pt_buf_printf(o, "petrel_stats_rounds_total %" PRIu64 "\n", r->rounds);
	family(o, "petrel_stats_round_cpu_seconds", "gauge",
	    "CPU time the last gathering round took.");
	pt_buf_printf(o, "petrel_stats_round_cpu_seconds %.9f\n",
	    r->round_seconds);
	family(o, "petrel_stats_influx_dropped_total", "counter",
	    "Rounds dropped from the InfluxDB queue while the server was "
	    "away.");
	pt_buf_printf(o, "petrel_stats_influx_dropped_total %" PRIu64 "\n",
	    r->influx_dropped);
	family(o, "petrel_stats_subscribers_dropped_total", "counter",
	    "Subscribers dropped for not reading their stream.");
	pt_buf_printf(o, "petrel_stats_subscribers_dropped_total %" PRIu64
	    "\n", r->subscribers_dropped);
	return o->oom ? -1 : 0;
}

/* ---- InfluxDB line protocol (albatross_influx's P module) ---- */

static void
influx_tv(pt_buf *o, const char *key, pt_timeval tv)
{
	pt_buf_printf(o, "%s=%" PRId64 ".%06" PRId64, key, tv.sec, tv.usec);
}

static void
influx_head(pt_buf *o, const char *measurement, const char *vm, size_t n)
{
	pt_buf_printf(o, "%s,vm=", measurement);
	pt_influx_escape(o, vm, n);
}

int
pt_render_influx(const pt_sm_uk *u, int64_t time_ms, bool drop_path,
    pt_buf *o)
{
	if (!u->ok)
		return 0;
	const char *vm = u->name.text;
	size_t vn = u->name.len;
	if (drop_path && u->name.has_label)
		vm = pt_name_label(&u->name, &vn);
	int64_t ts = time_ms * 1000000;
	const pt_rusage *ru = &u->ru;

	influx_head(o, "resource_usage", vm, vn);
	pt_buf_append_byte(o, ' ');
	influx_tv(o, "utime", ru->utime);
	pt_buf_append_byte(o, ',');
	influx_tv(o, "stime", ru->stime);
	/* "maxflt" is albatross's name for the major faults. */
	pt_buf_printf(o, ",maxrss=%" PRId64 "i,ixrss=%" PRId64 "i,idrss=%"
	    PRId64 "i,isrss=%" PRId64 "i,minflt=%" PRId64 "i,maxflt=%" PRId64
	    "i,nswap=%" PRId64 "i,inblock=%" PRId64 "i,outblock=%" PRId64
	    "i,msgsnd=%" PRId64 "i,msgrcv=%" PRId64 "i,nsignals=%" PRId64
	    "i,nvcsw=%" PRId64 "i,nivcsw=%" PRId64 "i %" PRId64 "\n",
	    ru->maxrss, ru->ixrss, ru->idrss, ru->isrss, ru->minflt,
	    ru->majflt, ru->nswap, ru->inblock, ru->outblock, ru->msgsnd,
	    ru->msgrcv, ru->nsignals, ru->nvcsw, ru->nivcsw, ts);

	const pt_kinfo_mem *km = &u->km;
	double uptime = (double)time_ms / 1000.0 - u->start_s;
	influx_head(o, "kinfo_mem", vm, vn);
	pt_buf_printf(o, " vsize=%" PRId64 "i,rss=%" PRId64 "i,tsize=%" PRId64
	    "i,dsize=%" PRId64 "i,ssize=%" PRId64 "i,cow_faults=%" PRId64
	    "i,runtime=%" PRId64 "i,uptime=%f %" PRId64 "\n", km->vsize,
	    km->rss, km->tsize, km->dsize, km->ssize, km->cow, km->runtime,
	    uptime < 0 ? 0.0 : uptime, ts);

	if (u->has_vmm && u->nvmm > 0) {
		influx_head(o, "vmm", vm, vn);
		for (size_t i = 0; i < u->nvmm; i++) {
			pt_buf_append_byte(o, i == 0 ? ' ' : ',');
			pt_influx_escape(o, u->vmm[i].name,
			    strlen(u->vmm[i].name));
			pt_buf_printf(o, "=%" PRId64 "i",
			    clamp_u64(u->vmm[i].value));
		}
		pt_buf_printf(o, " %" PRId64 "\n", ts);
	}

	for (size_t i = 0; i < u->nif; i++) {
		const pt_sm_if *t = &u->ifs[i];
		if (!t->found)
			continue;
		influx_head(o, "interface", vm, vn);
		pt_buf_append(o, ",bridge=", 8);
		/* albatross's tag carries the manifest's network name. */
		pt_influx_escape(o, t->net, strlen(t->net));
		pt_buf_printf(o, " send_queue_length=0i,"
		    "max_send_queue_length=0i,send_queue_drops=0i,mtu=%" PRIu32
		    "i,baudrate=0i,vm_to_host_packets=%" PRId64
		    "i,vm_to_host_errors=%" PRId64 "i,vm_to_host_bytes=%" PRId64
		    "i,vm_to_host_mcast=%" PRId64 "i,vm_to_host_dropped=%"
		    PRId64 "i,collisions=%" PRId64 "i,host_to_vm_packets=%"
		    PRId64 "i,host_to_vm_errors=%" PRId64 "i,host_to_vm_bytes=%"
		    PRId64 "i,host_to_vm_mcast=0i,host_to_vm_dropped=%" PRId64
		    "i %" PRId64 "\n", t->mtu, clamp_u64(t->rx_packets),
		    clamp_u64(t->rx_errors), clamp_u64(t->rx_bytes),
		    clamp_u64(t->rx_mcast), clamp_u64(t->rx_dropped),
		    clamp_u64(t->collisions), clamp_u64(t->tx_packets),
		    clamp_u64(t->tx_errors), clamp_u64(t->tx_bytes),
		    clamp_u64(t->tx_dropped), ts);
	}
	return o->oom ? -1 : 0;
}
