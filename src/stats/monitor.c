/*
 * The monitored unikernels, as petreld announced them (`stats add`:
 * name, tender pid, taps with the manifest's network names).
 *
 * Each holds /proc/<pid> open: the directory stays bound to that very
 * process, so a pid reused after the tender died is never read as if it
 * were the unikernel (reads through it fail with ESRCH instead).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "statsd.h"

/* More than any manifest has (Solo5 allows 63 devices in all). */
#define MAX_NETS 64
/* Unikernels monitored at once: a bound on what petreld can make us
 * hold (one fd each, a few for KVM). */
#define MAX_UKS 100000

st_uk *
st_uk_find(st_daemon *d, const pt_name *name)
{
	for (st_uk *u = d->uks; u != NULL; u = u->next)
		if (pt_name_equal(&u->m.name, name))
			return u;
	return NULL;
}

static void
uk_free(st_daemon *d, st_uk *u)
{
	if (u->prev != NULL)
		u->prev->next = u->next;
	else
		d->uks = u->next;
	if (u->next != NULL)
		u->next->prev = u->prev;
	d->nuks--;
	int fds[] = {u->procfd, u->statfd, u->statusfd, u->iofd};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	st_kvm_close(&u->kvm);
	free(u->m.ifs);
	free(u->m.vmm);
	free(u);
}

static int
copy_nets(st_uk *u, const pt_stats_add *a, pt_err *err)
{
	if (a->nnets > MAX_NETS)
		return pt_fail(err, "%zu networks, at most %d", a->nnets,
		    MAX_NETS);
	u->m.ifs = calloc(a->nnets ? a->nnets : 1, sizeof(*u->m.ifs));
	if (u->m.ifs == NULL)
		return pt_fail(err, "out of memory");
	for (size_t i = 0; i < a->nnets; i++) {
		const pt_stats_net *n = &a->nets[i];
		if (n->tap.len == 0 || n->tap.len >= IFNAMSIZ ||
		    memchr(n->tap.s, '/', n->tap.len) != NULL)
			return pt_fail(err, "tap name of %zu bytes is no "
			    "interface name", n->tap.len);
		if (n->name.len > PT_LABEL_MAX)
			return pt_fail(err, "network name of %zu bytes is too "
			    "long", n->name.len);
		memcpy(u->m.ifs[i].tap, n->tap.s, n->tap.len);
		memcpy(u->m.ifs[i].net, n->name.s, n->name.len);
	}
	u->m.nif = a->nnets;
	return 0;
}

int
st_uk_add(st_daemon *d, const pt_name *name, const pt_stats_add *a,
    pt_err *err)
{
	if (!name->has_label)
		return pt_fail(err, "%s is a path, not a unikernel", name->text);
	if (a->pid <= 1 || a->pid > 0x7fffffff)
		return pt_fail(err, "pid %lld is no tender", (long long)a->pid);
	st_uk *old = st_uk_find(d, name);
	if (old != NULL)
		uk_free(d, old);  /* re-added (restarted): the new process */
	if (d->nuks >= MAX_UKS)
		return pt_fail(err, "already %zu unikernels monitored",
		    d->nuks);
	st_uk *u = calloc(1, sizeof(*u));
	if (u == NULL)
		return pt_fail(err, "out of memory");
	u->m.name = *name;
	u->m.pid = a->pid;
	u->kvm.vm_stats_fd = -1;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%lld", (long long)a->pid);
	u->procfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (u->procfd < 0) {
		int e = errno;
		free(u);
		return pt_fail(err, "no process %lld (%s)", (long long)a->pid,
		    strerror(e));
	}
	/* The files stay bound to this process, whatever its pid becomes. */
	u->statfd = openat(u->procfd, "stat", O_RDONLY | O_CLOEXEC);
	u->statusfd = openat(u->procfd, "status", O_RDONLY | O_CLOEXEC);
	u->iofd = openat(u->procfd, "io", O_RDONLY | O_CLOEXEC);
	if (u->statfd < 0 || u->statusfd < 0 || copy_nets(u, a, err) < 0) {
		if (u->statfd < 0 || u->statusfd < 0)
			pt_fail(err, "cannot read /proc/%lld", (long long)a->pid);
		int fds[] = {u->procfd, u->statfd, u->statusfd, u->iofd};
		for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
			if (fds[i] >= 0)
				close(fds[i]);
		free(u->m.ifs);
		free(u);
		return -1;
	}
	u->next = d->uks;
	if (d->uks != NULL)
		d->uks->prev = u;
	d->uks = u;
	d->nuks++;
	if (u->m.nif > 0)
		d->need_links = true;  /* its taps' ifindex and bridge */
	st_log(d, 1, "%s: monitoring pid %lld with %zu taps", name->text,
	    (long long)a->pid, u->m.nif);
	return 0;
}

void
st_uk_remove(st_daemon *d, const pt_name *name)
{
	st_uk *u = st_uk_find(d, name);
	if (u == NULL)
		return;
	st_log(d, 1, "%s: no longer monitored", name->text);
	uk_free(d, u);
}

void
st_uk_remove_all(st_daemon *d)
{
	while (d->uks != NULL)
		uk_free(d, d->uks);
}
