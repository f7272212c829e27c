/*
 * Logging: to stderr (with a timestamp and level) or to syslog. -v raises
 * the verbosity: default warnings and errors plus info; -v adds debug.
 */
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>
#include <time.h>

#include "petreld.h"

static bool log_syslog;
static int log_level = PT_LOG_INFO;

void
pt_log_init(bool use_syslog, int verbosity)
{
	log_syslog = use_syslog;
	log_level = PT_LOG_INFO + verbosity;
	if (use_syslog)
		openlog("petreld", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

static int
syslog_priority(int level)
{
	switch (level) {
	case PT_LOG_ERR:
		return LOG_ERR;
	case PT_LOG_WARN:
		return LOG_WARNING;
	case PT_LOG_INFO:
		return LOG_INFO;
	default:
		return LOG_DEBUG;
	}
}

static const char *
level_name(int level)
{
	static const char *names[] = {"error", "warning", "info", "debug"};
	return level >= 0 && level <= PT_LOG_DEBUG ? names[level] : "debug";
}

void
pt_log(int level, const char *fmt, ...)
{
	if (level > log_level)
		return;
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (log_syslog) {
		syslog(syslog_priority(level), "%s", msg);
		return;
	}
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	char when[32];
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ petreld %s: %s\n", when,
	    ts.tv_nsec / 1000000L, level_name(level), msg);
}
