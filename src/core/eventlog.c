#include "eventlog.h"

#include <stdlib.h>
#include <string.h>

#include "wire.h"


static const char *const kind_names[PT_EV_KIND_COUNT] = {
	[PT_EV_STARTUP] = "startup",
	[PT_EV_LOGIN] = "login",
	[PT_EV_LOGOUT] = "logout",
	[PT_EV_STARTED] = "started",
	[PT_EV_EXITED] = "exited",
	[PT_EV_HUP] = "hup",
	[PT_EV_CREATED] = "created",
	[PT_EV_FORCE_CREATED] = "force-created",
	[PT_EV_RESTART_SCHEDULED] = "restart-scheduled",
	[PT_EV_RESTARTED] = "restarted",
	[PT_EV_DESTROYED] = "destroyed",
	[PT_EV_POLICY_ADDED] = "policy-added",
	[PT_EV_POLICY_REPLACED] = "policy-replaced",
	[PT_EV_POLICY_REMOVED] = "policy-removed",
	[PT_EV_BLOCK_CREATED] = "block-created",
	[PT_EV_BLOCK_SET] = "block-set",
	[PT_EV_BLOCK_REMOVED] = "block-removed",
	[PT_EV_REFUSED] = "refused",
};

const char *
pt_event_kind_name(pt_event_kind k)
{
	if ((unsigned)k >= PT_EV_KIND_COUNT)
		return "unknown";
	return kind_names[k];
}

/* ---- writing ---- */

static void
write_texts(pt_derw *w, const pt_text *v, size_t n, const char *what)
{
	size_t m = pt_derw_begin(w, PT_DER_SEQ);
	for (size_t i = 0; i < n; i++)
		pt_derw_text(w, what, v[i].s, v[i].len);
	pt_derw_end(w, m);
}

static void
write_event_body(pt_derw *w, const pt_event *e)
{
	size_t m;
	switch (e->kind) {
	case PT_EV_STARTUP:
	case PT_EV_HUP:
		pt_derw_null(w);
		return;
	case PT_EV_RESTARTED:
	case PT_EV_DESTROYED:
	case PT_EV_POLICY_REMOVED:
	case PT_EV_BLOCK_SET:
	case PT_EV_BLOCK_REMOVED:
		pt_derw_name(w, &e->name);
		return;
	default:
		break;
	}
	m = pt_derw_begin(w, PT_DER_SEQ);
	pt_derw_name(w, &e->name);
	switch (e->kind) {
	case PT_EV_LOGIN:
	case PT_EV_LOGOUT:
		pt_derw_octets(w, e->address.data, e->address.len);
		pt_derw_int(w, "port", e->port);
		break;
	case PT_EV_STARTED:
		pt_derw_int(w, "pid", e->pid);
		write_texts(w, e->taps, e->ntaps, "tap");
		write_texts(w, e->blocks, e->nblocks, "block");
		pt_derw_octets(w, e->digest.data, e->digest.len);
		break;
	case PT_EV_EXITED: {
		pt_derw_int(w, "pid", e->pid);
		size_t s = pt_derw_begin(w, PT_DER_CTX(e->exit_kind));
		pt_derw_int(w, "exit status", e->exit_value);
		pt_derw_end(w, s);
		break;
	}
	case PT_EV_CREATED:
	case PT_EV_FORCE_CREATED:
		pt_derw_octets(w, e->digest.data, e->digest.len);
		break;
	case PT_EV_RESTART_SCHEDULED:
		pt_derw_int(w, "delay", e->delay_ms);
		break;
	case PT_EV_POLICY_ADDED:
	case PT_EV_POLICY_REPLACED:
		pt_policy_write(w, &e->policy);
		break;
	case PT_EV_BLOCK_CREATED:
		pt_derw_int(w, "size", e->size_mb);
		break;
	case PT_EV_REFUSED:
		pt_derw_text(w, "command", e->command.s, e->command.len);
		pt_derw_text(w, "reason", e->reason.s, e->reason.len);
		break;
	default:
		pt_derw_fail(w, "unknown event kind %d", (int)e->kind);
		break;
	}
	pt_derw_end(w, m);
}

void
pt_event_write(pt_derw *w, const pt_event *e)
{
	if ((unsigned)e->kind >= PT_EV_KIND_COUNT) {
		pt_derw_fail(w, "unknown event kind %d", (int)e->kind);
		return;
	}
	if ((unsigned)e->exit_kind > PT_EXIT_STOP) {
		pt_derw_fail(w, "unknown exit kind %d", (int)e->exit_kind);
		return;
	}
	size_t m = pt_derw_begin(w, PT_DER_SEQ);
	pt_derw_time(w, e->time_ms);
	size_t c = pt_derw_begin(w, PT_DER_CTX(e->kind));
	write_event_body(w, e);
	pt_derw_end(w, c);
	pt_derw_end(w, m);
}

int
pt_event_encode(const pt_event *e, pt_buf *out, pt_err *err)
{
	pt_derw w;
	pt_derw_init(&w, out, err);
	pt_event_write(&w, e);
	return pt_derw_finish(&w);
}

void
pt_log_subscribe_write(pt_derw *w, const pt_log_subscribe *s)
{
	size_t m = pt_derw_begin(w, PT_DER_SEQ);
	if (s->has_since)
		pt_derw_time(w, s->since_ms);
	pt_derw_bool(w, s->follow);
	pt_derw_end(w, m);
}

/* ---- reading ---- */

static int
read_texts(pt_der *d, const char *what, pt_text **v, size_t *n)
{
	pt_der seq;
	if (pt_der_expect(d, PT_DER_SEQ, what, &seq) < 0 ||
	    pt_der_count(&seq, PT_EVENT_MAX_LIST, what, n) < 0)
		return -1;
	*v = pt_arena_calloc(d->arena, *n, sizeof(**v));
	if (*v == NULL)
		return pt_fail(d->err, "%s: out of memory", what);
	for (size_t i = 0; i < *n; i++)
		if (pt_der_text(&seq, what, &(*v)[i]) < 0)
			return -1;
	return pt_der_done(&seq, what);
}

static int
read_exit(pt_der *d, pt_event *e)
{
	uint8_t tag;
	pt_der inner;
	if (pt_der_any(d, "exit status", &tag, &inner) < 0)
		return -1;
	if (tag < PT_DER_CTX(0) || tag > PT_DER_CTX(2))
		return pt_fail(d->err, "exit status: unknown choice 0x%02x",
		    tag);
	e->exit_kind = (pt_exit_kind)(tag & 0x1f);
	if (pt_der_int(&inner, "exit status", &e->exit_value) < 0)
		return -1;
	return pt_der_done(&inner, "exit status");
}

static int
read_fields(pt_der *s, pt_event *e)
{
	switch (e->kind) {
	case PT_EV_LOGIN:
	case PT_EV_LOGOUT:
		if (pt_der_octets(s, "address", &e->address) < 0 ||
		    pt_der_int(s, "port", &e->port) < 0)
			return -1;
		if (e->address.len != 4 && e->address.len != 16)
			return pt_fail(s->err, "address: %zu octets, expected "
			    "4 or 16", e->address.len);
		return 0;
	case PT_EV_STARTED:
		return pt_der_int(s, "pid", &e->pid) < 0 ||
		    read_texts(s, "taps", &e->taps, &e->ntaps) < 0 ||
		    read_texts(s, "blocks", &e->blocks, &e->nblocks) < 0 ||
		    pt_der_octets(s, "digest", &e->digest) < 0 ? -1 : 0;
	case PT_EV_EXITED:
		return pt_der_int(s, "pid", &e->pid) < 0 ||
		    read_exit(s, e) < 0 ? -1 : 0;
	case PT_EV_CREATED:
	case PT_EV_FORCE_CREATED:
		return pt_der_octets(s, "digest", &e->digest);
	case PT_EV_RESTART_SCHEDULED:
		return pt_der_int(s, "delay", &e->delay_ms);
	case PT_EV_POLICY_ADDED:
	case PT_EV_POLICY_REPLACED:
		return pt_policy_read(s, &e->policy);
	case PT_EV_BLOCK_CREATED:
		return pt_der_int(s, "size", &e->size_mb);
	case PT_EV_REFUSED:
		return pt_der_text(s, "command", &e->command) < 0 ||
		    pt_der_text(s, "reason", &e->reason) < 0 ? -1 : 0;
	default:
		return pt_fail(s->err, "event: unexpected fields");
	}
}

static int
read_event_body(pt_der *d, pt_event *e)
{
	switch (e->kind) {
	case PT_EV_STARTUP:
	case PT_EV_HUP:
		pt_name_root(&e->name);
		return pt_der_null(d, "event");
	case PT_EV_RESTARTED:
	case PT_EV_DESTROYED:
	case PT_EV_POLICY_REMOVED:
	case PT_EV_BLOCK_SET:
	case PT_EV_BLOCK_REMOVED:
		return pt_der_name(d, "event name", &e->name);
	default:
		break;
	}
	pt_der s;
	if (pt_der_expect(d, PT_DER_SEQ, "event", &s) < 0 ||
	    pt_der_name(&s, "event name", &e->name) < 0 ||
	    read_fields(&s, e) < 0)
		return -1;
	return pt_der_done(&s, pt_event_kind_name(e->kind));
}

int
pt_event_read(pt_der *d, pt_event *out)
{
	memset(out, 0, sizeof(*out));
	pt_der seq, choice;
	uint8_t tag;
	if (pt_der_expect(d, PT_DER_SEQ, "log entry", &seq) < 0 ||
	    pt_der_time(&seq, "log time", &out->time_ms) < 0 ||
	    pt_der_any(&seq, "log event", &tag, &choice) < 0)
		return -1;
	if (tag < PT_DER_CTX(0) || tag >= PT_DER_CTX(PT_EV_KIND_COUNT))
		return pt_fail(d->err, "log event: unknown choice 0x%02x", tag);
	out->kind = (pt_event_kind)(tag & 0x1f);
	if (read_event_body(&choice, out) < 0 ||
	    pt_der_done(&choice, "log event") < 0)
		return -1;
	return pt_der_done(&seq, "log entry");
}

int
pt_event_decode(const uint8_t *p, size_t n, pt_arena *a, pt_event *out,
    pt_err *err)
{
	pt_der d;
	pt_der_init(&d, p, n, a, err);
	if (pt_event_read(&d, out) < 0)
		return -1;
	return pt_der_done(&d, "log entry");
}

int
pt_log_subscribe_read(pt_der *d, pt_log_subscribe *out)
{
	memset(out, 0, sizeof(*out));
	pt_der s;
	if (pt_der_expect(d, PT_DER_SEQ, "log subscribe", &s) < 0)
		return -1;
	if (pt_der_peek(&s) == PT_DER_GTIME) {
		if (pt_der_time(&s, "since", &out->since_ms) < 0)
			return -1;
		out->has_since = true;
	}
	if (pt_der_bool(&s, "follow", &out->follow) < 0)
		return -1;
	return pt_der_done(&s, "log subscribe");
}

/* ---- printing ---- */

static void
print_texts(pt_buf *out, const char *key, const pt_text *v, size_t n)
{
	pt_buf_printf(out, " %s=[", key);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			pt_buf_append_byte(out, ',');
		pt_print_quoted(out, v[i].s, v[i].len);
	}
	pt_buf_append_byte(out, ']');
}

int
pt_event_print(const pt_event *e, pt_buf *out)
{
	char t[20];
	pt_gtime_format(e->time_ms, t);
	pt_buf_printf(out, "%s %s %s", t, pt_event_kind_name(e->kind),
	    e->name.text);
	char hex[2 * 32 + 1];
	switch (e->kind) {
	case PT_EV_STARTED:
		pt_buf_printf(out, " pid=%lld", (long long)e->pid);
		print_texts(out, "taps", e->taps, e->ntaps);
		print_texts(out, "blocks", e->blocks, e->nblocks);
		/* fall through */
	case PT_EV_CREATED:
	case PT_EV_FORCE_CREATED:
		pt_hex_encode(e->digest.data,
		    e->digest.len > 32 ? 32 : e->digest.len, hex);
		pt_buf_printf(out, " digest=%s", hex);
		break;
	case PT_EV_EXITED:
		pt_buf_printf(out, " pid=%lld %s=%lld", (long long)e->pid,
		    e->exit_kind == PT_EXIT_CODE ? "exit" :
		    e->exit_kind == PT_EXIT_SIGNAL ? "signal" : "stop",
		    (long long)e->exit_value);
		break;
	case PT_EV_RESTART_SCHEDULED:
		pt_buf_printf(out, " in %lld ms", (long long)e->delay_ms);
		break;
	case PT_EV_POLICY_ADDED:
	case PT_EV_POLICY_REPLACED:
		pt_buf_append_byte(out, ' ');
		pt_policy_print(&e->policy, out);
		break;
	case PT_EV_BLOCK_CREATED:
		pt_buf_printf(out, " size=%lld MB", (long long)e->size_mb);
		break;
	case PT_EV_REFUSED:
		pt_buf_append_byte(out, ' ');
		pt_print_quoted(out, e->command.s, e->command.len);
		pt_buf_append_byte(out, ' ');
		pt_print_quoted(out, e->reason.s, e->reason.len);
		break;
	case PT_EV_LOGIN:
	case PT_EV_LOGOUT:
		pt_buf_printf(out, " port=%lld", (long long)e->port);
		break;
	default:
		break;
	}
	return out->oom ? -1 : 0;
}

/* ---- the ring ---- */

int
pt_event_ring_init(pt_event_ring *r, size_t capacity)
{
	memset(r, 0, sizeof(*r));
	if (capacity == 0)
		capacity = 1;
	r->slots = calloc(capacity, sizeof(*r->slots));
	if (r->slots == NULL)
		return -1;
	r->capacity = capacity;
	return 0;
}

void
pt_event_ring_free(pt_event_ring *r)
{
	for (size_t i = 0; i < r->count; i++)
		free(r->slots[(r->start + i) % r->capacity].der);
	free(r->slots);
	memset(r, 0, sizeof(*r));
}

int
pt_event_ring_add(pt_event_ring *r, const pt_event *e, pt_err *err)
{
	pt_buf b = {0};
	if (pt_event_encode(e, &b, err) < 0) {
		pt_buf_free(&b);
		return -1;
	}
	pt_event_slot *slot;
	if (r->count == r->capacity) {
		slot = &r->slots[r->start];
		free(slot->der);
		r->start = (r->start + 1) % r->capacity;
	} else {
		slot = &r->slots[(r->start + r->count) % r->capacity];
		r->count++;
	}
	slot->time_ms = e->time_ms;
	slot->name = e->name;
	slot->der = b.data;
	slot->len = b.len;
	r->total++;
	return 0;
}

const pt_event_slot *
pt_event_ring_at(const pt_event_ring *r, size_t i)
{
	if (i >= r->count)
		return NULL;
	return &r->slots[(r->start + i) % r->capacity];
}

void
pt_event_refused(pt_event *e, const pt_name *name, const char *command,
    const char *reason)
{
	memset(e, 0, sizeof(*e));
	e->kind = PT_EV_REFUSED;
	e->name = *name;
	e->command.s = command;
	e->command.len = strlen(command);
	e->reason.s = reason;
	e->reason.len = strlen(reason);
}

bool
pt_event_visible(const pt_name *who, const pt_name *subject)
{
	/* A path sees the subjects whose PATH starts with it: "a:b:" sees
	 * "a:b:x" and "a:b:c:", but not "a:b", which is the label b of the
	 * path "a:" (a path and a label of the same spelling are different
	 * things, albatross-wire.md §4.1). A name sees itself and what lies
	 * below it read as a path: every label of `who` starts the labels
	 * of the subject. */
	size_t n = pt_name_nlabels(who);
	size_t have = who->has_label ? pt_name_nlabels(subject) :
	    subject->npath;
	if (have < n)
		return false;
	for (size_t i = 0; i < n; i++) {
		size_t la, lb;
		const char *a = pt_name_nth_label(who, i, &la);
		const char *b = pt_name_nth_label(subject, i, &lb);
		if (la != lb || memcmp(a, b, la) != 0)
			return false;
	}
	return true;
}
