#include "args.h"

#include <stdio.h>
#include <string.h>

/* ---- the option parser ---- */

static const pt_cli_optspec *
find_long(const pt_cli_optspec *const *tables, size_t ntables,
    const char *s, size_t n)
{
	for (size_t t = 0; t < ntables; t++)
		for (const pt_cli_optspec *o = tables[t]; o->lng != NULL; o++)
			if (strlen(o->lng) == n && memcmp(o->lng, s, n) == 0)
				return o;
	return NULL;
}

static const pt_cli_optspec *
find_short(const pt_cli_optspec *const *tables, size_t ntables, char c)
{
	for (size_t t = 0; t < ntables; t++)
		for (const pt_cli_optspec *o = tables[t]; o->lng != NULL; o++)
			if (o->shrt != 0 && o->shrt == c)
				return o;
	return NULL;
}

/* One option word at argv[*i]; may consume the next word as its value. */
static int
parse_option(int argc, char *const *argv, int *i,
    const pt_cli_optspec *const *tables, size_t ntables, pt_cli_optval *ov,
    pt_err *err)
{
	const char *w = argv[*i];
	const pt_cli_optspec *o;
	const char *inline_val = NULL;

	if (w[1] == '-') {
		const char *name = w + 2;
		const char *eq = strchr(name, '=');
		size_t n = eq != NULL ? (size_t)(eq - name) : strlen(name);
		o = find_long(tables, ntables, name, n);
		if (o == NULL)
			return pt_fail(err, "unknown option '--%.*s'", (int)n,
			    name);
		if (eq != NULL)
			inline_val = eq + 1;
	} else {
		o = find_short(tables, ntables, w[1]);
		if (o == NULL || w[2] != '\0')
			return pt_fail(err, "unknown option '%s'", w);
	}
	ov->id = o->id;
	ov->val = NULL;
	if (!o->has_arg) {
		if (inline_val != NULL)
			return pt_fail(err, "option '--%s' takes no value",
			    o->lng);
		return 0;
	}
	if (inline_val != NULL) {
		ov->val = inline_val;
		return 0;
	}
	/* The value is the next word even if it starts with '-', so that
	 * `--arg -l` passes "-l" to the unikernel. */
	if (*i + 1 >= argc)
		return pt_fail(err, "option '--%s' needs a value (%s)", o->lng,
		    o->argname != NULL ? o->argname : "VALUE");
	*i += 1;
	ov->val = argv[*i];
	return 0;
}

int
pt_cli_parse(int argc, char *const *argv,
    const pt_cli_optspec *const *tables, size_t ntables,
    const char **pos, pt_cli_optval *opts, pt_cli_args *out, pt_err *err)
{
	bool only_positional = false;

	out->npos = 0;
	out->nopts = 0;
	out->pos = pos;
	out->opts = opts;
	for (int i = 0; i < argc; i++) {
		const char *w = argv[i];
		if (only_positional || w[0] != '-' || w[1] == '\0') {
			pos[out->npos++] = w;
			continue;
		}
		if (strcmp(w, "--") == 0) {
			only_positional = true;
			continue;
		}
		if (parse_option(argc, argv, &i, tables, ntables,
		    &opts[out->nopts], err) != 0)
			return -1;
		if (opts[out->nopts].id == PT_CLI_POSITIONAL)
			pos[out->npos++] = opts[out->nopts].val;
		else
			out->nopts++;
	}
	return 0;
}

const pt_cli_optval *
pt_cli_last(const pt_cli_args *a, int id)
{
	for (size_t i = a->nopts; i > 0; i--)
		if (a->opts[i - 1].id == id)
			return &a->opts[i - 1];
	return NULL;
}

int
pt_cli_compress_level(const pt_cli_args *a, int id, int64_t *level,
    pt_err *err)
{
	const pt_cli_optval *o = pt_cli_last(a, id);
	int64_t v = 0;
	if (o != NULL && o->val == NULL)
		v = 9;
	else if (o != NULL && pt_cli_parse_int("compression level", o->val, 0,
	    9, &v, err) != 0)
		return -1;
	*level = v;
	return 0;
}

size_t
pt_cli_count(const pt_cli_args *a, int id)
{
	size_t n = 0;
	for (size_t i = 0; i < a->nopts; i++)
		if (a->opts[i].id == id)
			n++;
	return n;
}

/* ---- value parsers ---- */

static int
parse_int_n(const char *s, size_t n, int64_t min, int64_t max, int64_t *out)
{
	bool neg = false;
	uint64_t v = 0;
	size_t i = 0;
	uint64_t limit;

	if (n > 0 && s[0] == '-') {
		neg = true;
		i = 1;
	}
	if (i == n)
		return -1;
	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (limit - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	int64_t r;
	if (neg)
		r = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	else
		r = (int64_t)v;
	if (r < min || r > max)
		return -1;
	*out = r;
	return 0;
}

int
pt_cli_parse_int(const char *what, const char *s, int64_t min, int64_t max,
    int64_t *out, pt_err *err)
{
	if (parse_int_n(s, strlen(s), min, max, out) != 0)
		return pt_fail(err,
		    "invalid %s '%s' (an integer from %lld to %lld)", what, s,
		    (long long)min, (long long)max);
	return 0;
}

static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
parse_mac_n(const char *s, size_t n, uint8_t mac[6])
{
	if (n != 17)
		return -1;
	for (size_t i = 0; i < 6; i++) {
		const char *p = s + 3 * i;
		int hi = hex_digit(p[0]), lo = hex_digit(p[1]);
		if (hi < 0 || lo < 0)
			return -1;
		if (i < 5 && p[2] != ':' && p[2] != '-')
			return -1;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int
pt_cli_parse_mac(const char *s, uint8_t mac[6], pt_err *err)
{
	if (parse_mac_n(s, strlen(s), mac) != 0)
		return pt_fail(err, "invalid MAC address '%s' "
		    "(expected six hex bytes like 00:80:41:aa:bb:cc)", s);
	return 0;
}

bool
pt_cli_devname_valid(const char *s, size_t n)
{
	if (n == 0 || n > PT_CLI_DEVNAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c >= 0x7f || strchr(":@/\\", c) != NULL)
			return false;
	}
	return true;
}

static int
arena_text(pt_arena *a, const char *s, size_t n, pt_text *out, pt_err *err)
{
	char *p = pt_arena_strndup(a, s, n);
	if (p == NULL)
		return pt_fail(err, "out of memory");
	out->s = p;
	out->len = n;
	return 0;
}

int
pt_cli_parse_net(const char *s, pt_arena *a, pt_netspec *out, pt_err *err)
{
	const char *at = strchr(s, '@');
	size_t dev_len = at != NULL ? (size_t)(at - s) : strlen(s);
	const char *colon = memchr(s, ':', dev_len);

	memset(out, 0, sizeof(*out));
	if (at != NULL) {
		if (parse_mac_n(at + 1, strlen(at + 1), out->mac) != 0)
			return pt_fail(err, "invalid --net '%s': bad MAC "
			    "address '%s'", s, at + 1);
		out->has_mac = true;
	}
	if (colon == NULL) {
		if (!pt_cli_devname_valid(s, dev_len))
			return pt_fail(err, "invalid --net '%s': bad bridge "
			    "name", s);
		return arena_text(a, s, dev_len, &out->name, err);
	}
	size_t name_len = (size_t)(colon - s);
	const char *bridge = colon + 1;
	size_t bridge_len = dev_len - name_len - 1;
	if (!pt_cli_devname_valid(s, name_len))
		return pt_fail(err, "invalid --net '%s': bad network name", s);
	if (!pt_cli_devname_valid(bridge, bridge_len))
		return pt_fail(err, "invalid --net '%s': bad bridge name", s);
	out->has_bridge = true;
	if (arena_text(a, s, name_len, &out->name, err) != 0)
		return -1;
	return arena_text(a, bridge, bridge_len, &out->bridge, err);
}

int
pt_cli_parse_block(const char *s, pt_arena *a, pt_blockspec *out,
    pt_err *err)
{
	const char *at = strchr(s, '@');
	size_t dev_len = at != NULL ? (size_t)(at - s) : strlen(s);
	const char *colon = memchr(s, ':', dev_len);
	size_t name_len = colon != NULL ? (size_t)(colon - s) : dev_len;

	memset(out, 0, sizeof(*out));
	if (at != NULL) {
		int64_t v;
		if (parse_int_n(at + 1, strlen(at + 1), 512, INT32_MAX, &v)
		    != 0 || (v & (v - 1)) != 0)
			return pt_fail(err, "invalid --block '%s': the sector "
			    "size must be a power of two >= 512", s);
		out->has_sector_size = true;
		out->sector_size = v;
	}
	if (!pt_cli_devname_valid(s, name_len))
		return pt_fail(err, "invalid --block '%s': bad block name", s);
	if (arena_text(a, s, name_len, &out->name, err) != 0)
		return -1;
	if (colon == NULL)
		return 0;
	const char *dev = colon + 1;
	size_t len = dev_len - name_len - 1;
	/* The device is a label of the unikernel's path: lower case, as
	 * names are. */
	char label[PT_LABEL_MAX + 1];
	if (!pt_label_valid(dev, len))
		return pt_fail(err, "invalid --block '%s': '%.*s' is not a "
		    "valid block device label", s, (int)len, dev);
	for (size_t i = 0; i < len; i++)
		label[i] = (dev[i] >= 'A' && dev[i] <= 'Z') ?
		    (char)(dev[i] - 'A' + 'a') : dev[i];
	out->has_device = true;
	return arena_text(a, label, len, &out->device, err);
}

/* ---- times ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * civil algorithm). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool
leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned
month_days(int64_t y, unsigned m)
{
	static const unsigned days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30,
	    31, 30, 31};
	return m == 2 && leap(y) ? 29 : days[m - 1];
}

/* Reads exactly n digits at *p. */
static int
digits(const char **p, size_t n, unsigned *out)
{
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (unsigned)(c - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

static int
expect(const char **p, const char *set)
{
	if (**p == '\0' || strchr(set, **p) == NULL)
		return -1;
	*p += 1;
	return 0;
}

static int
parse_offset(const char **p, int64_t *offset_s)
{
	unsigned oh, om;
	int sign;

	if (**p == 'Z' || **p == 'z') {
		*p += 1;
		*offset_s = 0;
		return 0;
	}
	if (**p != '+' && **p != '-')
		return -1;
	sign = **p == '-' ? -1 : 1;
	*p += 1;
	if (digits(p, 2, &oh) != 0 || expect(p, ":") != 0 ||
	    digits(p, 2, &om) != 0 || oh > 23 || om > 59)
		return -1;
	*offset_s = sign * (int64_t)(oh * 3600 + om * 60);
	return 0;
}

static int
parse_time(const char *s, pt_time_ms *out)
{
	const char *p = s;
	unsigned y, mo, d, h, mi, sec, ms = 0;
	int64_t offset;

	if (digits(&p, 4, &y) != 0 || expect(&p, "-") != 0 ||
	    digits(&p, 2, &mo) != 0 || expect(&p, "-") != 0 ||
	    digits(&p, 2, &d) != 0 || expect(&p, "Tt ") != 0 ||
	    digits(&p, 2, &h) != 0 || expect(&p, ":") != 0 ||
	    digits(&p, 2, &mi) != 0 || expect(&p, ":") != 0 ||
	    digits(&p, 2, &sec) != 0)
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) || h > 23 ||
	    mi > 59 || sec > 59)
		return -1;
	if (*p == '.') {
		unsigned scale = 100;
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		/* Sub-millisecond digits are dropped. */
		for (; *p >= '0' && *p <= '9'; p++) {
			ms += (unsigned)(*p - '0') * scale;
			scale /= 10;
		}
	}
	if (parse_offset(&p, &offset) != 0 || *p != '\0')
		return -1;
	int64_t days = days_from_civil(y, mo, d);
	int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset;
	*out = secs * 1000 + ms;
	return 0;
}

int
pt_cli_parse_time(const char *s, pt_time_ms *out, pt_err *err)
{
	if (parse_time(s, out) != 0)
		return pt_fail(err, "invalid time '%s' (expected RFC 3339, "
		    "e.g. 2024-01-02T03:04:05Z)", s);
	return 0;
}

void
pt_cli_format_time(pt_time_ms t, char buf[PT_CLI_TIME_MAX])
{
	int64_t secs = t / 1000, ms = t % 1000;
	if (ms < 0) {
		ms += 1000;
		secs -= 1;
	}
	int64_t days = secs / 86400, rem = secs % 86400;
	if (rem < 0) {
		rem += 86400;
		days -= 1;
	}
	int64_t y;
	unsigned m, d;
	civil_from_days(days, &y, &m, &d);
	int n = snprintf(buf, PT_CLI_TIME_MAX, "%04lld-%02u-%02uT%02u:%02u:%02u",
	    (long long)y, m, d, (unsigned)(rem / 3600),
	    (unsigned)(rem / 60 % 60), (unsigned)(rem % 60));
	if (n < 0 || n >= PT_CLI_TIME_MAX - 6)
		return;
	if (ms != 0)
		snprintf(buf + n, (size_t)(PT_CLI_TIME_MAX - n), ".%03uZ",
		    (unsigned)ms);
	else
		snprintf(buf + n, (size_t)(PT_CLI_TIME_MAX - n), "Z");
}

/* ---- names ---- */

int
pt_cli_default_file(const pt_name *n, const char *suffix, char *out,
    size_t cap, pt_err *err)
{
	const char *text = n->text;
	size_t len = n->len;

	if (!n->has_label)
		return pt_fail(err, "'%s' is a path, not a name", n->text);
	if (text[0] == ':') {
		text++;
		len--;
	}
	size_t slen = strlen(suffix);
	if (len + slen + 1 > cap)
		return pt_fail(err, "name too long for a file name");
	for (size_t i = 0; i < len; i++)
		out[i] = text[i] == ':' ? '_' : text[i];
	memcpy(out + len, suffix, slen + 1);
	return 0;
}

int
pt_cli_parse_path(const char *s, pt_name *out, pt_err *err)
{
	pt_name n, path;
	const char *label;
	size_t len;

	if (pt_name_parse_str(s, &n, err) != 0)
		return -1;
	if (!n.has_label) {
		*out = n;
		return 0;
	}
	pt_name_path(&n, &path);
	label = pt_name_label(&n, &len);
	return pt_name_append_path(&path, label, len, out, err);
}
