/*
 * Printing replies: readable text, or --json (docs/cli.md). Every string
 * that came from a daemon goes through the escapers of escape.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "escape.h"

/* ---- small writers over a pt_buf ---- */

static void
put(pt_buf *o, const char *s)
{
	pt_buf_append(o, s, strlen(s));
}

static void
put_text(pt_buf *o, const pt_text *t)
{
	pt_text_escape(o, t->s, t->len);
}

static void
put_json_text(pt_buf *o, const pt_text *t)
{
	pt_json_string(o, t->s, t->len);
}

static void
put_json_cstr(pt_buf *o, const char *s)
{
	pt_json_string(o, s, strlen(s));
}

static void
put_mac(pt_buf *o, const uint8_t m[6])
{
	pt_buf_printf(o, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2],
	    m[3], m[4], m[5]);
}

static void
put_ints(pt_buf *o, const int64_t *v, size_t n, const char *sep)
{
	for (size_t i = 0; i < n; i++)
		pt_buf_printf(o, "%s%lld", i > 0 ? sep : "", (long long)v[i]);
}

static void
put_hex(pt_buf *o, const pt_blob *b)
{
	for (size_t i = 0; i < b->len; i++)
		pt_buf_printf(o, "%02x", b->data[i]);
}

static void
put_time(pt_buf *o, pt_time_ms t)
{
	char buf[PT_CLI_TIME_MAX];
	pt_cli_format_time(t, buf);
	put(o, buf);
}

int
pt_out_flush(pt_buf *out)
{
	int rc = 0;
	if (out->oom)
		rc = -1;
	else if (out->len > 0 && fwrite(out->data, 1, out->len, stdout) !=
	    out->len)
		rc = -1;
	if (fflush(stdout) != 0)
		rc = -1;
	pt_buf_free(out);
	return rc;
}

static int
flush_or_report(pt_buf *o)
{
	if (pt_out_flush(o) != 0)
		return pt_report(PT_EXIT_COMM, "stdout",
		    "cannot write the output");
	return PT_EXIT_OK;
}

static const char *
typ_name(pt_typ t)
{
	return t == PT_TYP_BHYVE ? "bhyve" : "solo5";
}

/* ---- unikernel info ---- */

static void
text_fail(pt_buf *o, const pt_fail_behaviour *f)
{
	if (!f->restart)
		put(o, "quit");
	else if (f->ncodes == 0)
		put(o, "restart (on any exit code)");
	else {
		put(o, "restart on exit codes ");
		put_ints(o, f->codes, f->ncodes, ", ");
	}
}

static void
text_ukinfo(pt_buf *o, const pt_name *name, const pt_ukinfo *u)
{
	pt_buf_printf(o, "name: %s\ntyp: %s\n", name->text, typ_name(u->typ));
	if (u->has_startup)
		pt_buf_printf(o, "startup: %lld\n", (long long)u->startup);
	put(o, "fail_behaviour: ");
	text_fail(o, &u->fail);
	pt_buf_printf(o, "\nmemory: %lld\ncpuids: ", (long long)u->memory);
	put_ints(o, u->cpuids, u->ncpuids, ", ");
	pt_buf_printf(o, "\ncpus: %lld\ndigest: ", (long long)u->cpus);
	if (u->typ == PT_TYP_BHYVE)
		pt_text_escape(o, (const char *)u->digest.data,
		    u->digest.len);
	else
		put_hex(o, &u->digest);
	put(o, "\nstarted: ");
	put_time(o, u->started);
	put(o, "\n");
	for (size_t i = 0; i < u->nblocks; i++) {
		const pt_blockinfo *b = &u->blocks[i];
		put(o, "block: ");
		put_text(o, &b->unikernel_device);
		put(o, " -> ");
		put_text(o, &b->host_device);
		pt_buf_printf(o, " (sector size %lld, %lld MB)\n",
		    (long long)b->sector_size, (long long)b->block_size_mb);
	}
	for (size_t i = 0; i < u->nnets; i++) {
		const pt_netinfo *n = &u->nets[i];
		put(o, "net: ");
		put_text(o, &n->unikernel_device);
		put(o, " -> ");
		put_text(o, &n->host_device);
		put(o, " (mac ");
		put_mac(o, n->mac);
		put(o, ")\n");
	}
	if (u->has_argv) {
		put(o, "arguments:");
		for (size_t i = 0; i < u->argc; i++) {
			put(o, " ");
			pt_text_quote_arg(o, u->argv[i].s, u->argv[i].len);
		}
		put(o, "\n");
	}
	if (u->has_boot_partition) {
		put(o, "linux_boot_partition: ");
		put_text(o, &u->boot_partition);
		put(o, "\n");
	}
}

static void
json_fail(pt_buf *o, const pt_fail_behaviour *f)
{
	if (!f->restart) {
		put(o, "{\"restart\": false}");
		return;
	}
	put(o, "{\"restart\": true, \"exit_codes\": [");
	put_ints(o, f->codes, f->ncodes, ", ");
	put(o, "]}");
}

static void
json_ukinfo_blocks(pt_buf *o, const pt_ukinfo *u)
{
	put(o, ", \"blocks\": [");
	for (size_t i = 0; i < u->nblocks; i++) {
		const pt_blockinfo *b = &u->blocks[i];
		put(o, i > 0 ? ", {\"unikernel_device\": " :
		    "{\"unikernel_device\": ");
		put_json_text(o, &b->unikernel_device);
		put(o, ", \"host_device\": ");
		put_json_text(o, &b->host_device);
		pt_buf_printf(o, ", \"sector_size\": %lld, \"block_size\": %lld}",
		    (long long)b->sector_size, (long long)b->block_size_mb);
	}
	put(o, "], \"bridges\": [");
	for (size_t i = 0; i < u->nnets; i++) {
		const pt_netinfo *n = &u->nets[i];
		put(o, i > 0 ? ", {\"unikernel_device\": " :
		    "{\"unikernel_device\": ");
		put_json_text(o, &n->unikernel_device);
		put(o, ", \"host_device\": ");
		put_json_text(o, &n->host_device);
		put(o, ", \"mac\": \"");
		put_mac(o, n->mac);
		put(o, "\"}");
	}
	put(o, "]");
}

static void
json_ukinfo(pt_buf *o, const pt_name *name, const pt_ukinfo *u)
{
	put(o, "{\"name\": ");
	put_json_cstr(o, name->text);
	pt_buf_printf(o, ", \"typ\": \"%s\"", typ_name(u->typ));
	if (u->has_startup)
		pt_buf_printf(o, ", \"startup\": %lld", (long long)u->startup);
	pt_buf_printf(o, ", \"memory\": %lld, \"cpuids\": [",
	    (long long)u->memory);
	put_ints(o, u->cpuids, u->ncpuids, ", ");
	pt_buf_printf(o, "], \"cpus\": %lld, \"digest\": ", (long long)u->cpus);
	if (u->typ == PT_TYP_BHYVE) {
		pt_json_string(o, (const char *)u->digest.data, u->digest.len);
	} else {
		put(o, "\"");
		put_hex(o, &u->digest);
		put(o, "\"");
	}
	put(o, ", \"started\": \"");
	put_time(o, u->started);
	put(o, "\", \"fail_behaviour\": ");
	json_fail(o, &u->fail);
	json_ukinfo_blocks(o, u);
	put(o, ", \"arguments\": [");
	for (size_t i = 0; i < u->argc; i++) {
		if (i > 0)
			put(o, ", ");
		put_json_text(o, &u->argv[i]);
	}
	put(o, "]");
	if (u->has_boot_partition) {
		put(o, ", \"linux_boot_partition\": ");
		put_json_text(o, &u->boot_partition);
	}
	put(o, "}");
}

/* ---- policies, block devices, consoles ---- */

static void
text_policy(pt_buf *o, const pt_named_policy *np)
{
	const pt_policy *p = &np->policy;
	pt_buf_printf(o, "name: %s\nunikernels: %lld\nmemory: %lld\n",
	    np->name.text, (long long)p->unikernels, (long long)p->memory);
	if (p->has_block)
		pt_buf_printf(o, "block: %lld\n", (long long)p->block);
	else
		put(o, "block: none\n");
	put(o, "cpuids: ");
	put_ints(o, p->cpuids, p->ncpuids, ", ");
	put(o, "\nbridges: ");
	if (p->nbridges == 0)
		put(o, "none");
	for (size_t i = 0; i < p->nbridges; i++) {
		if (i > 0)
			put(o, ", ");
		put_text(o, &p->bridges[i]);
	}
	put(o, "\n");
}

/* The fields of a policy object after its name (also in events). */
static void
json_policy_fields(pt_buf *o, const pt_policy *p)
{
	pt_buf_printf(o, "\"unikernels\": %lld, \"memory\": %lld, "
	    "\"block\": ", (long long)p->unikernels, (long long)p->memory);
	if (p->has_block)
		pt_buf_printf(o, "%lld", (long long)p->block);
	else
		put(o, "null");
	put(o, ", \"cpuids\": [");
	put_ints(o, p->cpuids, p->ncpuids, ", ");
	put(o, "], \"bridges\": [");
	for (size_t i = 0; i < p->nbridges; i++) {
		if (i > 0)
			put(o, ", ");
		put_json_text(o, &p->bridges[i]);
	}
	put(o, "]");
}

static void
json_policy(pt_buf *o, const pt_named_policy *np)
{
	put(o, "{\"name\": ");
	put_json_cstr(o, np->name.text);
	put(o, ", ");
	json_policy_fields(o, &np->policy);
	put(o, "}");
}

static void
text_block(pt_buf *o, const pt_block_entry *b)
{
	pt_buf_printf(o, "name: %s\nsize: %lld\nactive: %s\n", b->name.text,
	    (long long)b->size_mb, b->active ? "true" : "false");
}

static void
json_block(pt_buf *o, const pt_block_entry *b)
{
	put(o, "{\"name\": ");
	put_json_cstr(o, b->name.text);
	pt_buf_printf(o, ", \"size\": %lld, \"active\": %s}",
	    (long long)b->size_mb, b->active ? "true" : "false");
}

/* ---- lists: text entries separated by a blank line ---- */

static void
text_success(pt_buf *o, const pt_success *s)
{
	switch (s->kind) {
	case PT_OK_EMPTY:
		break;
	case PT_OK_STRING:
		put_text(o, &s->u.string);
		put(o, "\n");
		break;
	case PT_OK_POLICIES:
		for (size_t i = 0; i < s->u.policies.n; i++) {
			if (i > 0)
				put(o, "\n");
			text_policy(o, &s->u.policies.v[i]);
		}
		break;
	case PT_OK_BLOCK_DEVICES:
		for (size_t i = 0; i < s->u.blocks.n; i++) {
			if (i > 0)
				put(o, "\n");
			text_block(o, &s->u.blocks.v[i]);
		}
		break;
	case PT_OK_UNIKERNEL_INFO:
	case PT_OK_OLD_UNIKERNEL_INFO4:
	case PT_OK_OLD_UNIKERNEL_INFO5:
		for (size_t i = 0; i < s->u.infos.n; i++) {
			if (i > 0)
				put(o, "\n");
			text_ukinfo(o, &s->u.infos.v[i].name,
			    &s->u.infos.v[i].info);
		}
		break;
	case PT_OK_CONSOLES:
		for (size_t i = 0; i < s->u.consoles.n; i++)
			pt_buf_printf(o, "%s\n", s->u.consoles.v[i].text);
		break;
	case PT_OK_UNIKERNEL_IMAGE:
	case PT_OK_OLD_BLOCK_IMAGE:
		pt_buf_printf(o, "image of %zu bytes%s\n", s->u.image.data.len,
		    s->u.image.compressed ? " (compressed)" : "");
		break;
	case PT_OK_BLOCK_IMAGE:
		pt_buf_printf(o, "block device image follows%s\n",
		    s->u.compressed ? " (compressed)" : "");
		break;
	}
}

static const char *
kind_name(pt_success_kind k)
{
	switch (k) {
	case PT_OK_EMPTY: return "empty";
	case PT_OK_STRING: return "string";
	case PT_OK_POLICIES: return "policies";
	case PT_OK_BLOCK_DEVICES: return "block-devices";
	case PT_OK_UNIKERNEL_IMAGE: return "unikernel-image";
	case PT_OK_OLD_BLOCK_IMAGE: return "old-block-device-image";
	case PT_OK_OLD_UNIKERNEL_INFO4:
	case PT_OK_OLD_UNIKERNEL_INFO5:
	case PT_OK_UNIKERNEL_INFO: return "unikernel-info";
	case PT_OK_BLOCK_IMAGE: return "block-device-image";
	case PT_OK_CONSOLES: return "consoles";
	}
	return "unknown";
}

static void
json_success_body(pt_buf *o, const pt_success *s)
{
	switch (s->kind) {
	case PT_OK_EMPTY:
		break;
	case PT_OK_STRING:
		put(o, ", \"message\": ");
		put_json_text(o, &s->u.string);
		break;
	case PT_OK_POLICIES:
		put(o, ", \"policies\": [");
		for (size_t i = 0; i < s->u.policies.n; i++) {
			put(o, i > 0 ? ",\n  " : "\n  ");
			json_policy(o, &s->u.policies.v[i]);
		}
		put(o, "]");
		break;
	case PT_OK_BLOCK_DEVICES:
		put(o, ", \"block_devices\": [");
		for (size_t i = 0; i < s->u.blocks.n; i++) {
			put(o, i > 0 ? ",\n  " : "\n  ");
			json_block(o, &s->u.blocks.v[i]);
		}
		put(o, "]");
		break;
	case PT_OK_UNIKERNEL_INFO:
	case PT_OK_OLD_UNIKERNEL_INFO4:
	case PT_OK_OLD_UNIKERNEL_INFO5:
		put(o, ", \"unikernels\": [");
		for (size_t i = 0; i < s->u.infos.n; i++) {
			put(o, i > 0 ? ",\n  " : "\n  ");
			json_ukinfo(o, &s->u.infos.v[i].name,
			    &s->u.infos.v[i].info);
		}
		put(o, "]");
		break;
	case PT_OK_CONSOLES:
		put(o, ", \"consoles\": [");
		for (size_t i = 0; i < s->u.consoles.n; i++) {
			if (i > 0)
				put(o, ", ");
			put_json_cstr(o, s->u.consoles.v[i].text);
		}
		put(o, "]");
		break;
	case PT_OK_UNIKERNEL_IMAGE:
	case PT_OK_OLD_BLOCK_IMAGE:
		pt_buf_printf(o, ", \"size\": %zu, \"compressed\": %s",
		    s->u.image.data.len,
		    s->u.image.compressed ? "true" : "false");
		break;
	case PT_OK_BLOCK_IMAGE:
		pt_buf_printf(o, ", \"compressed\": %s",
		    s->u.compressed ? "true" : "false");
		break;
	}
}

int
pt_out_reply(const pt_client *c, const pt_wire *w)
{
	pt_buf o = {0};

	if (w->kind == PT_PAYLOAD_FAILURE) {
		if (!c->json)
			return pt_report(PT_EXIT_FAILURE, w->header.name.text,
			    "%.*s", (int)w->u.failure.len, w->u.failure.s);
		put(&o, "{\"result\": \"failure\", \"message\": ");
		put_json_text(&o, &w->u.failure);
		put(&o, "}\n");
		int rc = flush_or_report(&o);
		return rc != 0 ? rc : PT_EXIT_FAILURE;
	}
	if (w->kind != PT_PAYLOAD_SUCCESS)
		return pt_report(PT_EXIT_COMM, w->header.name.text,
		    "unexpected message instead of a reply");
	if (c->json) {
		pt_buf_printf(&o, "{\"result\": \"success\", \"kind\": \"%s\"",
		    kind_name(w->u.success.kind));
		json_success_body(&o, &w->u.success);
		put(&o, "}\n");
	} else {
		text_success(&o, &w->u.success);
	}
	return flush_or_report(&o);
}

int
pt_out_failure(const pt_client *c, const char *subject, const char *fmt,
    ...)
{
	char msg[1024];
	va_list ap;
	pt_buf o = {0};

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!c->json)
		return pt_report(PT_EXIT_FAILURE, subject, "%s", msg);
	put(&o, "{\"result\": \"failure\", \"message\": ");
	put_json_cstr(&o, msg);
	put(&o, "}\n");
	int rc = flush_or_report(&o);
	return rc != 0 ? rc : PT_EXIT_FAILURE;
}

int
pt_out_client_success(const pt_client *c, const char *kind,
    const char *message, const char *file, uint64_t size)
{
	pt_buf o = {0};

	if (!c->json) {
		pt_text_escape(&o, message, strlen(message));
		put(&o, "\n");
	} else {
		pt_buf_printf(&o, "{\"result\": \"success\", \"kind\": \"%s\", "
		    "\"message\": ", kind);
		put_json_cstr(&o, message);
		if (file != NULL) {
			put(&o, ", \"file\": ");
			put_json_cstr(&o, file);
			pt_buf_printf(&o, ", \"size\": %llu",
			    (unsigned long long)size);
		}
		put(&o, "}\n");
	}
	return flush_or_report(&o);
}

int
pt_out_console_line(const pt_client *c, pt_time_ms t, const pt_text *line)
{
	pt_buf o = {0};

	if (c->json) {
		put(&o, "{\"time\": \"");
		put_time(&o, t);
		put(&o, "\", \"line\": ");
		put_json_text(&o, line);
		put(&o, "}\n");
	} else {
		put_time(&o, t);
		put(&o, " ");
		put_text(&o, line);
		put(&o, "\n");
	}
	return flush_or_report(&o);
}

/* ---- events of petreld's log (docs/eventlog.md) ---- */

static void
json_texts(pt_buf *o, const char *key, const pt_text *v, size_t n)
{
	pt_buf_printf(o, ", \"%s\": [", key);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			put(o, ", ");
		put_json_text(o, &v[i]);
	}
	put(o, "]");
}

static void
json_digest(pt_buf *o, const pt_blob *digest)
{
	put(o, ", \"digest\": \"");
	put_hex(o, digest);
	put(o, "\"");
}

/* login/logout: the address as text when it is IPv4 or IPv6, hex
 * otherwise (a hostile peer may send any length). */
static void
json_endpoint(pt_buf *o, const pt_event *e)
{
	const uint8_t *a = e->address.data;
	put(o, ", \"address\": \"");
	if (e->address.len == 4) {
		pt_buf_printf(o, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
	} else if (e->address.len == 16) {
		for (size_t i = 0; i < 16; i += 2)
			pt_buf_printf(o, "%s%x", i > 0 ? ":" : "",
			    (unsigned)(a[i] << 8 | a[i + 1]));
	} else {
		put_hex(o, &e->address);
	}
	pt_buf_printf(o, "\", \"port\": %lld", (long long)e->port);
}

static const char *
exit_key(pt_exit_kind k)
{
	switch (k) {
	case PT_EXIT_CODE: return "code";
	case PT_EXIT_SIGNAL: return "signal";
	case PT_EXIT_STOP: return "stop";
	}
	return "unknown";
}

static void
json_event_fields(pt_buf *o, const pt_event *e)
{
	switch (e->kind) {
	case PT_EV_STARTED:
		pt_buf_printf(o, ", \"pid\": %lld", (long long)e->pid);
		json_texts(o, "taps", e->taps, e->ntaps);
		json_texts(o, "blocks", e->blocks, e->nblocks);
		json_digest(o, &e->digest);
		break;
	case PT_EV_CREATED:
	case PT_EV_FORCE_CREATED:
		json_digest(o, &e->digest);
		break;
	case PT_EV_EXITED:
		pt_buf_printf(o, ", \"pid\": %lld, \"exit\": {\"%s\": %lld}",
		    (long long)e->pid, exit_key(e->exit_kind),
		    (long long)e->exit_value);
		break;
	case PT_EV_RESTART_SCHEDULED:
		pt_buf_printf(o, ", \"delay_ms\": %lld", (long long)e->delay_ms);
		break;
	case PT_EV_POLICY_ADDED:
	case PT_EV_POLICY_REPLACED:
		put(o, ", \"policy\": {");
		json_policy_fields(o, &e->policy);
		put(o, "}");
		break;
	case PT_EV_BLOCK_CREATED:
		pt_buf_printf(o, ", \"size_mb\": %lld", (long long)e->size_mb);
		break;
	case PT_EV_REFUSED:
		put(o, ", \"command\": ");
		put_json_text(o, &e->command);
		put(o, ", \"reason\": ");
		put_json_text(o, &e->reason);
		break;
	case PT_EV_LOGIN:
	case PT_EV_LOGOUT:
		json_endpoint(o, e);
		break;
	default:
		break;
	}
}

/* Text: the shared printer's line (core/eventlog.c), with the time in
 * the client's RFC 3339 form instead of its GeneralizedTime, escaped as
 * a whole since names of taps, commands and reasons come from petreld. */
static void
text_event(pt_buf *o, const pt_event *e)
{
	pt_buf line = {0};

	put_time(o, e->time_ms);
	if (pt_event_print(e, &line) != 0 || line.oom) {
		o->oom = true;
	} else {
		const char *s = (const char *)line.data;
		const char *sp = memchr(s, ' ', line.len);
		size_t skip = sp != NULL ? (size_t)(sp - s) : line.len;
		pt_text_escape(o, s + skip, line.len - skip);
	}
	put(o, "\n");
	pt_buf_free(&line);
}

int
pt_out_event(const pt_client *c, const pt_event *e)
{
	pt_buf o = {0};

	if (!c->json) {
		text_event(&o, e);
		return flush_or_report(&o);
	}
	put(&o, "{\"time\": \"");
	put_time(&o, e->time_ms);
	put(&o, "\", \"event\": ");
	put_json_cstr(&o, pt_event_kind_name(e->kind));
	put(&o, ", \"name\": ");
	put_json_cstr(&o, e->name.text);
	json_event_fields(&o, e);
	put(&o, "}\n");
	return flush_or_report(&o);
}
