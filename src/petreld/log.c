/*
 * Logging: to stderr (with a timestamp and level) or to syslog. -v raises
 * the verbosity: default warnings and errors plus info; -v adds debug.
 * When stderr is systemd's journal, each line carries its priority as a
 * "<N>" prefix instead of a timestamp, which the journal records itself.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>

#include "petreld.h"

static bool log_syslog;
static bool log_journal;
static int log_level = PT_LOG_INFO;

/* systemd sets JOURNAL_STREAM to the device and inode of the stream it
 * connected to stderr (systemd.exec(5)); stderr redirected elsewhere
 * since does not match. */
static bool
stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	if (env == NULL || sscanf(env, "%llu:%llu", &dev, &ino) != 2 ||
	    fstat(2, &st) != 0)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
pt_log_init(bool use_syslog, int verbosity)
{
	log_syslog = use_syslog;
	log_journal = !use_syslog && stderr_is_journal();
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

/* Messages quote names, arguments and failure texts that clients chose:
 * control characters are escaped so that no client can forge a log line
 * or send escape sequences to a terminal. out needs 4 * strlen(in) + 1. */
static void
escape_controls(const char *in, char *out)
{
	static const char hex[] = "0123456789abcdef";
	for (; *in != '\0'; in++) {
		unsigned char c = (unsigned char)*in;
		if (c < 0x20 || c == 0x7f) {
			*out++ = '\\';
			*out++ = 'x';
			*out++ = hex[c >> 4];
			*out++ = hex[c & 15];
		} else {
			*out++ = (char)c;
		}
	}
	*out = '\0';
}

void
pt_log(int level, const char *fmt, ...)
{
	if (level > log_level)
		return;
	char raw[2048], msg[4 * sizeof(raw)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	escape_controls(raw, msg);
	if (log_syslog) {
		syslog(syslog_priority(level), "%s", msg);
		return;
	}
	if (log_journal) {
		fprintf(stderr, "<%d>%s: %s\n", syslog_priority(level),
		    level_name(level), msg);
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
