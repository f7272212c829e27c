/*
 * `petrel stats [NAME|PATH] [--follow]`: `stats subscribe` on petrel-stats's
 * <tmpdir>/util/stat.sock (albatross-wire.md §8.3); every gathering round
 * brings one `data [1] stats` per unikernel covered, named relative to
 * the subscription's path. Without --follow the first round is shown: the
 * command ends when a name comes again (the next round) or when nothing
 * came for a second after the last record.
 */
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "escape.h"

enum {
	OPT_FOLLOW = 1,
};

/* A round's records come together; a second of silence ends it. */
#define ROUND_GAP_MS 1000
#define MAX_SEEN 4096

static const pt_cli_optspec stats_opts[] = {
	{"follow", 'f', false, OPT_FOLLOW, NULL,
	    "show every gathering round until interrupted"},
	{NULL, 0, false, 0, NULL, NULL},
};

static void
json_int(pt_buf *o, const char *k, int64_t v, bool comma)
{
	pt_buf_printf(o, "%s\"%s\":%" PRId64, comma ? "," : "", k, v);
}

static void
json_tv(pt_buf *o, const char *k, pt_timeval tv)
{
	pt_buf_printf(o, ",\"%s\":%" PRId64 ".%06" PRId64, k, tv.sec, tv.usec);
}

static void
render_json(pt_buf *o, const pt_name *name, const pt_stats *s)
{
	const pt_rusage *r = &s->rusage;
	pt_buf_append(o, "{\"name\":", 8);
	pt_json_string(o, name->text, name->len);
	pt_buf_append(o, ",\"rusage\":{", 11);
	pt_buf_printf(o, "\"utime\":%" PRId64 ".%06" PRId64, r->utime.sec,
	    r->utime.usec);
	json_tv(o, "stime", r->stime);
	json_int(o, "maxrss", r->maxrss, true);
	json_int(o, "ixrss", r->ixrss, true);
	json_int(o, "idrss", r->idrss, true);
	json_int(o, "isrss", r->isrss, true);
	json_int(o, "minflt", r->minflt, true);
	json_int(o, "majflt", r->majflt, true);
	json_int(o, "nswap", r->nswap, true);
	json_int(o, "inblock", r->inblock, true);
	json_int(o, "outblock", r->outblock, true);
	json_int(o, "msgsnd", r->msgsnd, true);
	json_int(o, "msgrcv", r->msgrcv, true);
	json_int(o, "nsignals", r->nsignals, true);
	json_int(o, "nvcsw", r->nvcsw, true);
	json_int(o, "nivcsw", r->nivcsw, true);
	pt_buf_append(o, "},\"kinfo_mem\":", 14);
	if (s->has_kinfo) {
		const pt_kinfo_mem *k = &s->kinfo;
		pt_buf_printf(o, "{\"vsize\":%" PRId64, k->vsize);
		json_int(o, "rss", k->rss, true);
		json_int(o, "tsize", k->tsize, true);
		json_int(o, "dsize", k->dsize, true);
		json_int(o, "ssize", k->ssize, true);
		json_int(o, "runtime", k->runtime, true);
		json_int(o, "cow", k->cow, true);
		json_tv(o, "start", k->start);
		pt_buf_append_byte(o, '}');
	} else {
		pt_buf_append(o, "null", 4);
	}
	pt_buf_append(o, ",\"ifdata\":[", 11);
	for (size_t i = 0; i < s->nifdata; i++) {
		const pt_ifdata *f = &s->ifdata[i];
		pt_buf_append(o, i ? ",{\"bridge\":" : "{\"bridge\":", i ? 11 :
		    10);
		pt_json_string(o, f->bridge.s, f->bridge.len);
		json_int(o, "flags", f->flags, true);
		json_int(o, "mtu", f->mtu, true);
		json_int(o, "input_packets", f->input_packets, true);
		json_int(o, "input_bytes", f->input_bytes, true);
		json_int(o, "input_errors", f->input_errors, true);
		json_int(o, "input_dropped", f->input_dropped, true);
		json_int(o, "input_mcast", f->input_mcast, true);
		json_int(o, "output_packets", f->output_packets, true);
		json_int(o, "output_bytes", f->output_bytes, true);
		json_int(o, "output_errors", f->output_errors, true);
		json_int(o, "output_dropped", f->output_dropped, true);
		json_int(o, "output_mcast", f->output_mcast, true);
		json_int(o, "collisions", f->collisions, true);
		pt_buf_append_byte(o, '}');
	}
	pt_buf_append(o, "],\"vmm\":", 8);
	if (s->has_vmm) {
		pt_buf_append_byte(o, '{');
		for (size_t i = 0; i < s->nvmm; i++) {
			if (i)
				pt_buf_append_byte(o, ',');
			pt_json_string(o, s->vmm[i].key.s, s->vmm[i].key.len);
			pt_buf_printf(o, ":%" PRId64, s->vmm[i].value);
		}
		pt_buf_append_byte(o, '}');
	} else {
		pt_buf_append(o, "null", 4);
	}
	pt_buf_append(o, "}\n", 2);
}

static void
render_text(pt_buf *o, const pt_name *name, const pt_stats *s)
{
	const pt_rusage *r = &s->rusage;
	pt_text_escape(o, name->text, name->len);
	pt_buf_printf(o, "\n  cpu      user %" PRId64 ".%06" PRId64
	    " s, system %" PRId64 ".%06" PRId64 " s\n", r->utime.sec,
	    r->utime.usec, r->stime.sec, r->stime.usec);
	if (s->has_kinfo)
		pt_buf_printf(o, "  memory   rss %" PRId64 " pages, max rss %"
		    PRId64 " KiB, virtual %" PRId64 " bytes\n", s->kinfo.rss,
		    r->maxrss, s->kinfo.vsize);
	pt_buf_printf(o, "  faults   minor %" PRId64 ", major %" PRId64
	    "; context switches %" PRId64 " voluntary, %" PRId64
	    " involuntary; blocks in %" PRId64 ", out %" PRId64 "\n",
	    r->minflt, r->majflt, r->nvcsw, r->nivcsw, r->inblock,
	    r->outblock);
	for (size_t i = 0; i < s->nifdata; i++) {
		const pt_ifdata *f = &s->ifdata[i];
		pt_buf_append(o, "  net      ", 11);
		pt_text_escape(o, f->bridge.s, f->bridge.len);
		pt_buf_printf(o, ": from unikernel %" PRId64 " packets %" PRId64
		    " bytes, to unikernel %" PRId64 " packets %" PRId64
		    " bytes, dropped %" PRId64 "/%" PRId64 ", errors %" PRId64
		    "/%" PRId64 "\n", f->input_packets, f->input_bytes,
		    f->output_packets, f->output_bytes, f->input_dropped,
		    f->output_dropped, f->input_errors, f->output_errors);
	}
	if (s->has_vmm && s->nvmm > 0) {
		pt_buf_append(o, "  vmm     ", 10);
		for (size_t i = 0; i < s->nvmm; i++) {
			pt_buf_append_byte(o, ' ');
			pt_text_escape(o, s->vmm[i].key.s, s->vmm[i].key.len);
			pt_buf_printf(o, "=%" PRId64, s->vmm[i].value);
		}
		pt_buf_append_byte(o, '\n');
	}
}

static int
print_stats(const pt_client *c, const pt_header *h, const pt_stats *s)
{
	pt_buf o = {0};
	if (c->json)
		render_json(&o, &h->name, s);
	else
		render_text(&o, &h->name, s);
	return pt_out_flush(&o) == 0 ? PT_EXIT_OK : PT_EXIT_COMM;
}

/* Is there a message to read within ms (buffered, or on the socket)? */
static bool
more_within(pt_conn *conn, int ms)
{
	if (conn->rd.len > conn->rd.consumed)
		return true;
	struct pollfd p = {.fd = conn->fd, .events = POLLIN};
	int r;
	do
		r = poll(&p, 1, ms);
	while (r < 0);
	return r > 0;
}

static int
stream(const pt_client *c, pt_conn *conn, const pt_name *name, bool follow)
{
	static pt_name seen[MAX_SEEN];
	size_t nseen = 0;
	pt_arena a = {0};
	pt_wire w;
	int rc = 0;
	if (pt_request_reply(c, conn, name, &a, &w, &rc) <= 0)
		goto out;
	if (w.kind != PT_PAYLOAD_SUCCESS) {
		rc = pt_out_reply(c, &w);
		goto out;
	}
	for (;;) {
		if (!follow && nseen > 0 && !more_within(conn, ROUND_GAP_MS))
			break;
		int r = pt_request_read(c, conn, name, &a, &w, &rc);
		if (r <= 0) {
			if (r == 0)
				rc = pt_report(PT_EXIT_COMM, name->text,
				    "petrel-stats ended the stream");
			break;
		}
		if (w.kind == PT_PAYLOAD_FAILURE) {
			rc = pt_out_reply(c, &w);
			break;
		}
		if (w.kind != PT_PAYLOAD_DATA ||
		    w.u.data.kind != PT_DATA_STATS) {
			rc = pt_report(PT_EXIT_COMM, name->text,
			    "unexpected message on the stats stream");
			break;
		}
		if (!follow) {
			bool again = false;
			for (size_t i = 0; i < nseen && !again; i++)
				again = pt_name_equal(&seen[i], &w.header.name);
			if (again)
				break;  /* the next round */
			if (nseen < MAX_SEEN)
				seen[nseen++] = w.header.name;
		}
		if ((rc = print_stats(c, &w.header, &w.u.data.u.stats)) != 0)
			break;
		/* One unikernel: its record is the round. */
		if (!follow && name->has_label)
			break;
	}
out:
	pt_arena_free(&a);
	return rc;
}

static int
run_stats(pt_client *c)
{
	pt_name name;
	pt_command cmd = {.kind = PT_CMD_STATS_SUBSCRIBE};
	pt_conn conn;
	int rc = 0;

	if (pt_client_name_arg(c, false, &name) != 0)
		return PT_EXIT_USAGE;
	int r = pt_request_start(c, PT_SOCK_STATS, &name, &cmd, &conn, &rc);
	if (r != 0)
		return r > 0 ? PT_EXIT_OK : rc;
	rc = stream(c, &conn, &name, pt_cli_last(&c->args, OPT_FOLLOW) !=
	    NULL);
	pt_conn_close(&conn);
	return rc;
}

const pt_client_cmd pt_cmd_stats = {
	"stats", "[NAME|PATH] [--follow]",
	"show what unikernels consume (CPU, memory, taps, KVM counters), "
	"from petrel-stats",
	stats_opts, 0, 1, run_stats,
};
