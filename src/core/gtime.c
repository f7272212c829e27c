/*
 * GeneralizedTime (albatross-wire.md §3.4): the canonical form petrel
 * emits, and the lenient forms albatross accepts.
 */
#include <stdbool.h>
#include <stdint.h>

#include "wire.h"

#define MS_PER_DAY INT64_C(86400000)

/* 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z: what four year digits
 * can express. */
#define GTIME_MIN INT64_C(-62167219200000)
#define GTIME_MAX INT64_C(253402300799999)

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil; exact for all years we accept). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static char *
put_digits(char *p, int64_t v, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + width;
}

void
pt_gtime_format(pt_time_ms t, char buf[20])
{
	/* Encoders range-check first; clamping keeps this total. */
	if (t < GTIME_MIN)
		t = GTIME_MIN;
	if (t > GTIME_MAX)
		t = GTIME_MAX;
	int64_t days = t / MS_PER_DAY;
	int64_t rem = t % MS_PER_DAY;
	if (rem < 0) {
		rem += MS_PER_DAY;
		days--;
	}
	int64_t y;
	int m, d;
	civil_from_days(days, &y, &m, &d);
	char *p = buf;
	p = put_digits(p, y, 4);
	p = put_digits(p, m, 2);
	p = put_digits(p, d, 2);
	p = put_digits(p, rem / 3600000, 2);
	p = put_digits(p, rem / 60000 % 60, 2);
	p = put_digits(p, rem / 1000 % 60, 2);
	if (rem % 1000 != 0) {
		*p++ = '.';
		p = put_digits(p, rem % 1000, 3);
	}
	*p++ = 'Z';
	*p = '\0';
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Reads `width` decimal digits at s[*i]. */
static bool
take_digits(const char *s, size_t n, size_t *i, int width, int *out)
{
	if (n - *i < (size_t)width)
		return false;
	int v = 0;
	for (int k = 0; k < width; k++) {
		char c = s[*i + (size_t)k];
		if (!is_digit(c))
			return false;
		v = v * 10 + (c - '0');
	}
	*i += (size_t)width;
	*out = v;
	return true;
}

static int
days_in_month(int y, int m)
{
	static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : dim[m - 1];
}

/* The optional "Z" / "+hhmm" / "-hhmm" suffix, as an offset in minutes
 * east of UTC. Nothing at all means UTC. */
static int
parse_zone(const char *s, size_t n, size_t i, int *offset_min)
{
	*offset_min = 0;
	if (i == n)
		return 0;
	if (s[i] == 'Z')
		return i + 1 == n ? 0 : -1;
	if (s[i] != '+' && s[i] != '-')
		return -1;
	int sign = s[i] == '-' ? -1 : 1;
	size_t j = i + 1;
	int hh, mm;
	if (!take_digits(s, n, &j, 2, &hh) || !take_digits(s, n, &j, 2, &mm) ||
	    j != n || hh > 23 || mm > 59)
		return -1;
	*offset_min = sign * (hh * 60 + mm);
	return 0;
}

int
pt_gtime_parse(const char *s, size_t n, pt_time_ms *out, pt_err *err)
{
	size_t i = 0;
	int y, mo, d, h, mi = 0, sec = 0, ms = 0;
	if (!take_digits(s, n, &i, 4, &y) || !take_digits(s, n, &i, 2, &mo) ||
	    !take_digits(s, n, &i, 2, &d) || !take_digits(s, n, &i, 2, &h))
		return pt_fail(err, "GeneralizedTime: expected YYYYMMDDHH");
	if (i < n && is_digit(s[i])) {
		if (!take_digits(s, n, &i, 2, &mi))
			return pt_fail(err, "GeneralizedTime: bad minutes");
		if (i < n && is_digit(s[i])) {
			if (!take_digits(s, n, &i, 2, &sec))
				return pt_fail(err,
				    "GeneralizedTime: bad seconds");
			/* albatross reads up to three fraction digits as
			 * an integer number of milliseconds: ".5" is 5 ms. */
			if (i < n && s[i] == '.') {
				i++;
				int k = 0;
				while (i < n && is_digit(s[i]) && k < 4) {
					ms = ms * 10 + (s[i] - '0');
					i++;
					k++;
				}
				if (k == 0 || k > 3)
					return pt_fail(err, "GeneralizedTime: "
					    "fraction must have 1 to 3 digits");
			}
		}
	}
	int offset_min;
	if (parse_zone(s, n, i, &offset_min) < 0)
		return pt_fail(err, "GeneralizedTime: bad time zone");
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) ||
	    h > 23 || mi > 59 || sec > 60)
		return pt_fail(err, "GeneralizedTime: invalid date or time");
	/* A leap second reads as the last second of its minute. */
	if (sec == 60)
		sec = 59;
	int64_t t = days_from_civil(y, mo, d) * MS_PER_DAY +
	    ((int64_t)h * 3600 + mi * 60 + sec) * 1000 + ms -
	    (int64_t)offset_min * 60000;
	*out = t;
	return 0;
}
