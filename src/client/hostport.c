#include "hostport.h"

#include <stdio.h>
#include <string.h>

static int
parse_port(const char *s, const char *p, char out[6], pt_err *err)
{
	unsigned long v = 0;
	size_t n = strlen(p);

	if (n == 0 || n > 5)
		return pt_fail(err, "invalid port in '%s'", s);
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return pt_fail(err, "invalid port in '%s'", s);
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	if (v == 0 || v > 65535)
		return pt_fail(err, "port out of range (1-65535) in '%s'", s);
	snprintf(out, 6, "%lu", v);
	return 0;
}

static int
set_host(const char *s, const char *h, size_t n, pt_hostport *out,
    pt_err *err)
{
	if (n == 0)
		return pt_fail(err, "no host in '%s'", s);
	if (n > PT_HOST_MAX)
		return pt_fail(err, "host name too long in '%s'", s);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)h[i] <= ' ' || (unsigned char)h[i] >= 0x7f)
			return pt_fail(err, "invalid host in '%s'", s);
	memcpy(out->host, h, n);
	out->host[n] = '\0';
	return 0;
}

int
pt_parse_hostport(const char *s, pt_hostport *out, pt_err *err)
{
	const char *colon;

	snprintf(out->port, sizeof(out->port), "%d", PT_REMOTE_DEFAULT_PORT);
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL)
			return pt_fail(err, "missing ']' in '%s'", s);
		if (set_host(s, s + 1, (size_t)(close - s - 1), out, err) != 0)
			return -1;
		if (close[1] == '\0')
			return 0;
		if (close[1] != ':')
			return pt_fail(err, "unexpected text after ']' in '%s'",
			    s);
		return parse_port(s, close + 2, out->port, err);
	}
	colon = strchr(s, ':');
	if (colon == NULL || strchr(colon + 1, ':') != NULL)
		return set_host(s, s, strlen(s), out, err);
	if (set_host(s, s, (size_t)(colon - s), out, err) != 0)
		return -1;
	return parse_port(s, colon + 1, out->port, err);
}
