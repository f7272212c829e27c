/*
 * The arithmetic of capacity.h, and the parsers of the cgroup files it
 * needs. No I/O.
 */
#include "capacity.h"

#include <string.h>

size_t
pt_fd_capacity(uint64_t limit, unsigned per_uk, unsigned reserve)
{
	if (per_uk == 0 || limit <= reserve)
		return 0;
	uint64_t n = (limit - reserve) / per_uk;
	return n > SIZE_MAX ? SIZE_MAX : (size_t)n;
}

bool
pt_bridge_ports_fit(size_t ports, size_t adding, size_t max)
{
	return ports <= max && adding <= max - ports;
}

unsigned
pt_tender_tasks(bool hvt, size_t nnets)
{
	if (!hvt)
		return 1;
	return 2 + (nnets > 0 ? 1 : 0);
}

/* Whether the comma-separated list [s, s+n) holds `word`. */
static bool
list_has(const char *s, size_t n, const char *word)
{
	size_t wl = strlen(word);
	size_t i = 0;
	while (i <= n) {
		size_t j = i;
		while (j < n && s[j] != ',')
			j++;
		if (j - i == wl && memcmp(s + i, word, wl) == 0)
			return true;
		i = j + 1;
	}
	return false;
}

/* A path from /proc/<pid>/cgroup is joined to /sys/fs/cgroup: it must be
 * absolute and must not climb out. */
static bool
safe_path(const char *p, size_t n)
{
	if (n == 0 || p[0] != '/')
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] == '\0')
			return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '/')
			continue;
		size_t j = i + 1;
		while (j < n && p[j] != '/')
			j++;
		if (j - i - 1 == 2 && p[i + 1] == '.' && p[i + 2] == '.')
			return false;
		i = j - 1;
	}
	return true;
}

static int
copy_path(const char *p, size_t n, char *out, size_t cap)
{
	if (!safe_path(p, n) || n >= cap)
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

int
pt_cgroup_pids_path(const char *text, size_t n, char *path, size_t cap,
    bool *v2)
{
	const char *v2_path = NULL;
	size_t v2_len = 0;
	size_t i = 0;
	while (i < n) {
		const char *line = text + i;
		const char *nl = memchr(line, '\n', n - i);
		size_t len = nl ? (size_t)(nl - line) : n - i;
		i += len + 1;
		const char *c1 = memchr(line, ':', len);
		if (c1 == NULL)
			continue;
		const char *ctl = c1 + 1;
		const char *c2 = memchr(ctl, ':', len - (size_t)(ctl - line));
		if (c2 == NULL)
			continue;
		const char *p = c2 + 1;
		size_t plen = len - (size_t)(p - line);
		size_t ctl_len = (size_t)(c2 - ctl);
		if (c1 - line == 1 && line[0] == '0' && ctl_len == 0) {
			v2_path = p;
			v2_len = plen;
		} else if (list_has(ctl, ctl_len, "pids")) {
			*v2 = false;
			return copy_path(p, plen, path, cap);
		}
	}
	if (v2_path == NULL)
		return -1;
	*v2 = true;
	return copy_path(v2_path, v2_len, path, cap);
}

int
pt_pids_parse(const char *text, size_t n, uint64_t *value, bool *unlimited)
{
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' ' ||
	    text[n - 1] == '\t'))
		n--;
	*unlimited = false;
	*value = 0;
	if (n == 3 && memcmp(text, "max", 3) == 0) {
		*unlimited = true;
		return 0;
	}
	if (n == 0 || n > 19)
		return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (text[i] < '0' || text[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(text[i] - '0');
	}
	*value = v;
	return 0;
}

uint64_t
pt_pids_headroom(uint64_t max, uint64_t current)
{
	return current >= max ? 0 : max - current;
}
