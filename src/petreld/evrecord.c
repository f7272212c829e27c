/*
 * `log record` (docs/eventlog.md): events that happen outside petreld
 * but belong in its log. petrel-tls records the logins, logouts and
 * refusals of remote clients this way; nothing else may be recorded, so
 * that a local client cannot forge lifecycle events. petrel-tls never
 * forwards this command from a certificate (chain.c allows no log command
 * in a leaf).
 */
#include <string.h>

#include "petreld.h"

void
ev_cmd_record(pt_conn *c, const pt_header *h, const pt_event *e)
{
	if (e->kind != PT_EV_LOGIN && e->kind != PT_EV_LOGOUT &&
	    e->kind != PT_EV_REFUSED) {
		conn_refuse(c, h, "log record: only login, logout and refused "
		    "events can be recorded, not %s",
		    pt_event_kind_name(e->kind));
		conn_finish(c, false);
		return;
	}
	/* ev_record stamps the time and copies what it keeps. */
	pt_event copy = *e;
	ev_record(c->d, &copy);
	conn_reply_string(c, h, "recorded");
	conn_finish(c, false);
}
