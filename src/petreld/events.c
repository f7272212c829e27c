/*
 * The event log of petreld (docs/eventlog.md). For now events go to the
 * daemon's log only; the ring, the events file and subscribers follow.
 */
#include <string.h>

#include "petreld.h"

void
ev_record(pt_daemon *d, pt_event *e)
{
	(void)d;
	e->time_ms = pt_now_ms();
	pt_buf b = {0};
	if (pt_event_print(e, &b) == 0 && pt_buf_append_byte(&b, 0) == 0)
		log_debug("event: %s", (const char *)b.data);
	pt_buf_free(&b);
}

void
ev_name(pt_daemon *d, pt_event_kind kind, const pt_name *name)
{
	pt_event e;
	memset(&e, 0, sizeof(e));
	e.kind = kind;
	e.name = *name;
	ev_record(d, &e);
}

void
ev_refused(pt_daemon *d, const pt_name *name, const char *command,
    const char *reason)
{
	pt_event e;
	memset(&e, 0, sizeof(e));
	e.kind = PT_EV_REFUSED;
	e.name = *name;
	e.command.s = command;
	e.command.len = strlen(command);
	e.reason.s = reason;
	e.reason.len = strlen(reason);
	ev_record(d, &e);
}
