/*
 * Parsers of /proc/<pid>/stat, status and io (proc(5)), and their mapping
 * onto §6.8's Rusage and KinfoMem. The input is whatever the kernel gave
 * (or a hostile test): bounded, never trusted to be NUL-terminated.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

/* A decimal (optionally negative) integer at p[0..n); -1 if it is not. */
static int
parse_int(const char *p, size_t n, int64_t *out)
{
	if (n == 0 || n > 20)
		return -1;
	char tmp[24];
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	char *end;
	errno = 0;
	long long v = strtoll(tmp, &end, 10);
	if (errno != 0 || *end != '\0' || end == tmp)
		return -1;
	*out = v;
	return 0;
}

/* proc(5) field numbers, 1-based, of the fields read from stat. */
enum {
	F_MINFLT = 10, F_MAJFLT = 12, F_UTIME = 14, F_STIME = 15,
	F_STARTTIME = 22, F_VSIZE = 23, F_RSS = 24,
};

int
pt_proc_parse_stat(const char *s, size_t n, pt_procinfo *out, pt_err *err)
{
	/* The comm may contain ')': the fields start after the last one. */
	size_t close = n;
	for (size_t i = n; i > 0; i--)
		if (s[i - 1] == ')') {
			close = i - 1;
			break;
		}
	if (close == n)
		return pt_fail(err, "/proc/<pid>/stat: no ')' after the "
		    "command name");
	size_t i = close + 1;
	int field = 3;  /* the state follows the comm */
	int found = 0;
	while (i < n && field <= F_RSS) {
		while (i < n && (s[i] == ' ' || s[i] == '\n'))
			i++;
		size_t start = i;
		while (i < n && s[i] != ' ' && s[i] != '\n')
			i++;
		if (i == start)
			break;
		int64_t *dst = NULL;
		switch (field) {
		case F_MINFLT: dst = &out->minflt; break;
		case F_MAJFLT: dst = &out->majflt; break;
		case F_UTIME: dst = &out->utime_ticks; break;
		case F_STIME: dst = &out->stime_ticks; break;
		case F_STARTTIME: dst = &out->start_ticks; break;
		case F_VSIZE: dst = &out->vsize_bytes; break;
		case F_RSS: dst = &out->rss_pages; break;
		default: break;
		}
		if (dst != NULL) {
			if (parse_int(s + start, i - start, dst) < 0)
				return pt_fail(err, "/proc/<pid>/stat: field %d "
				    "is not a number", field);
			found++;
		}
		field++;
	}
	if (found != 7)
		return pt_fail(err, "/proc/<pid>/stat: only %d fields", field - 1);
	return 0;
}

/* Calls fn for every "key: value" line (value without blanks around). */
typedef int (*line_fn)(const char *k, size_t kn, const char *v, size_t vn,
    pt_procinfo *out);

static int
each_line(const char *s, size_t n, line_fn fn, pt_procinfo *out)
{
	size_t i = 0;
	int seen = 0;
	while (i < n) {
		size_t start = i;
		while (i < n && s[i] != '\n')
			i++;
		const char *line = s + start;
		size_t len = i - start;
		if (i < n)
			i++;
		const char *colon = memchr(line, ':', len);
		if (colon == NULL)
			continue;
		size_t kn = (size_t)(colon - line);
		const char *v = colon + 1;
		size_t vn = len - kn - 1;
		while (vn > 0 && (*v == ' ' || *v == '\t')) {
			v++;
			vn--;
		}
		while (vn > 0 && (v[vn - 1] == ' ' || v[vn - 1] == '\t'))
			vn--;
		seen += fn(line, kn, v, vn, out);
	}
	return seen;
}

static bool
key_is(const char *k, size_t kn, const char *want)
{
	return strlen(want) == kn && memcmp(k, want, kn) == 0;
}

/* "1234 kB" -> 1234. */
static int
parse_kb(const char *v, size_t vn, int64_t *out)
{
	if (vn > 3 && memcmp(v + vn - 3, " kB", 3) == 0)
		vn -= 3;
	return parse_int(v, vn, out);
}

static int
status_line(const char *k, size_t kn, const char *v, size_t vn,
    pt_procinfo *out)
{
	static const struct {
		const char *key;
		size_t off;
		bool kb;
	} keys[] = {
		{"VmHWM", offsetof(pt_procinfo, vm_hwm_kb), true},
		{"VmRSS", offsetof(pt_procinfo, vm_rss_kb), true},
		{"VmExe", offsetof(pt_procinfo, vm_exe_kb), true},
		{"VmData", offsetof(pt_procinfo, vm_data_kb), true},
		{"VmStk", offsetof(pt_procinfo, vm_stk_kb), true},
		{"voluntary_ctxt_switches", offsetof(pt_procinfo, nvcsw), false},
		{"nonvoluntary_ctxt_switches", offsetof(pt_procinfo, nivcsw),
		    false},
	};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (!key_is(k, kn, keys[i].key))
			continue;
		int64_t *dst = (int64_t *)(void *)((char *)out + keys[i].off);
		int r = keys[i].kb ? parse_kb(v, vn, dst) :
		    parse_int(v, vn, dst);
		return r == 0 ? 1 : 0;
	}
	return 0;
}

int
pt_proc_parse_status(const char *s, size_t n, pt_procinfo *out, pt_err *err)
{
	/* Kernel threads and zombies have no Vm* lines: only the context
	 * switches are required. */
	out->vm_hwm_kb = out->vm_rss_kb = out->vm_exe_kb = 0;
	out->vm_data_kb = out->vm_stk_kb = 0;
	out->nvcsw = out->nivcsw = -1;
	each_line(s, n, status_line, out);
	if (out->nvcsw < 0 || out->nivcsw < 0)
		return pt_fail(err, "/proc/<pid>/status: no context switch "
		    "counts");
	return 0;
}

static int
io_line(const char *k, size_t kn, const char *v, size_t vn, pt_procinfo *out)
{
	if (key_is(k, kn, "read_bytes"))
		return parse_int(v, vn, &out->read_bytes) == 0 ? 1 : 0;
	if (key_is(k, kn, "write_bytes"))
		return parse_int(v, vn, &out->write_bytes) == 0 ? 1 : 0;
	return 0;
}

int
pt_proc_parse_io(const char *s, size_t n, pt_procinfo *out, pt_err *err)
{
	out->read_bytes = out->write_bytes = 0;
	if (each_line(s, n, io_line, out) != 2) {
		out->has_io = false;
		return pt_fail(err, "/proc/<pid>/io: no read_bytes and "
		    "write_bytes");
	}
	out->has_io = true;
	return 0;
}

static pt_timeval
ticks_to_tv(int64_t t, int64_t ticks)
{
	if (ticks <= 0)
		ticks = 100;
	if (t < 0)       /* hostile or garbled text: never a negative time */
		t = 0;
	/* t % ticks < ticks, so the product fits 128 bits whatever the
	 * values (a fuzzer found the 64-bit one overflowing). */
	pt_timeval tv = {t / ticks,
	    (int64_t)((unsigned __int128)(t % ticks) * 1000000 /
	    (unsigned __int128)ticks)};
	return tv;
}

/* a + b and a * b, saturated at INT64_MAX: counters parsed from /proc
 * text are not trusted to stay in range. */
static int64_t
sat_add(int64_t a, int64_t b)
{
	int64_t r;
	return __builtin_add_overflow(a, b, &r) ? INT64_MAX : r;
}

static int64_t
sat_mul(int64_t a, int64_t b)
{
	int64_t r;
	return __builtin_mul_overflow(a, b, &r) ? INT64_MAX : r;
}

void
pt_proc_to_rusage(const pt_procinfo *p, int64_t ticks, pt_rusage *ru)
{
	memset(ru, 0, sizeof(*ru));
	ru->utime = ticks_to_tv(p->utime_ticks, ticks);
	ru->stime = ticks_to_tv(p->stime_ticks, ticks);
	ru->maxrss = p->vm_hwm_kb;        /* KiB, as getrusage's ru_maxrss */
	ru->minflt = p->minflt;
	ru->majflt = p->majflt;
	/* Linux's getrusage counts blocks of 512 bytes. */
	ru->inblock = p->read_bytes / 512;
	ru->outblock = p->write_bytes / 512;
	ru->nvcsw = p->nvcsw;
	ru->nivcsw = p->nivcsw;
}

void
pt_proc_to_kinfo(const pt_procinfo *p, int64_t ticks, int64_t page_kb,
    int64_t boot_time_s, pt_kinfo_mem *km)
{
	memset(km, 0, sizeof(*km));
	if (ticks <= 0)
		ticks = 100;
	if (page_kb <= 0)
		page_kb = 4;
	km->vsize = p->vsize_bytes;
	km->rss = p->rss_pages;           /* pages, as FreeBSD's ki_rssize */
	km->tsize = p->vm_exe_kb / page_kb;
	km->dsize = p->vm_data_kb / page_kb;
	km->ssize = p->vm_stk_kb / page_kb;
	/* Microseconds, as FreeBSD's ki_runtime. */
	pt_timeval rt = ticks_to_tv(sat_add(p->utime_ticks < 0 ? 0 :
	    p->utime_ticks, p->stime_ticks < 0 ? 0 : p->stime_ticks), ticks);
	km->runtime = sat_add(sat_mul(rt.sec, 1000000), rt.usec);
	pt_timeval st = ticks_to_tv(p->start_ticks, ticks);
	km->start.sec = sat_add(boot_time_s, st.sec);
	km->start.usec = st.usec;
}
