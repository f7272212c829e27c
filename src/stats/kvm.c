/*
 * The hypervisor's counters of an hvt unikernel: KVM's binary statistics
 * of its VM and vCPUs (exits, halt polls, I/O exits, ...). The tender
 * holds the VM's and vCPUs' file descriptors; /proc/<pid>/fd names them
 * (anon_inode:kvm-vm, anon_inode:kvm-vcpu:N), pidfd_getfd copies them
 * into petrel-stats, and KVM_GET_STATS_FD on each gives a statistics file
 * that stays valid while it is open. The copies of the VM and vCPU fds
 * are closed at once; only the statistics files are kept.
 *
 * No KVM, an older kernel without KVM_GET_STATS_FD or pidfd_getfd, a spt
 * tender, or missing privileges: the list stays empty and nothing fails.
 * The VM is looked for in the first rounds only (the tender creates it
 * right after its start).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "statsd.h"

#define KVM_TRIES 5
#define MAX_VCPUS 64
/* Header and descriptors of a KVM stats file: some KiB. */
#define LAYOUT_MAX (1u << 20)

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

void
st_kvm_close(st_kvm *k)
{
	if (k->vm_stats_fd >= 0)
		close(k->vm_stats_fd);
	k->vm_stats_fd = -1;
	for (size_t i = 0; i < k->nvcpu; i++)
		close(k->vcpu_stats_fd[i]);
	free(k->vcpu_stats_fd);
	k->vcpu_stats_fd = NULL;
	k->nvcpu = 0;
	pt_kvm_layout_free(&k->vm);
	pt_kvm_layout_free(&k->vcpu);
}

/* The statistics file of the tender's fd `target`, or -1. */
static int
stats_fd_of(int pidfd, int target)
{
	int fd = (int)syscall(SYS_pidfd_getfd, pidfd, target, 0);
	if (fd < 0)
		return -1;
	int sfd = ioctl(fd, KVM_GET_STATS_FD, NULL);
	close(fd);
	if (sfd >= 0)
		(void)fcntl(sfd, F_SETFD, FD_CLOEXEC);
	return sfd;
}

static int
read_layout(int fd, pt_kvm_layout *l)
{
	size_t cap = 4096;
	for (;;) {
		uint8_t *buf = malloc(cap);
		if (buf == NULL)
			return -1;
		ssize_t n = pread(fd, buf, cap, 0);
		size_t need = 0;
		int r = n < 0 ? -1 : pt_kvm_parse_layout(buf, (size_t)n, l,
		    &need, NULL);
		free(buf);
		if (r == 0)
			return 0;
		if (n < 0 || need <= cap || need > LAYOUT_MAX)
			return -1;
		cap = need;
	}
}

static void
find_fds(st_uk *u, int pidfd)
{
	st_kvm *k = &u->kvm;
	int dfd = openat(u->procfd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return;
	DIR *dir = fdopendir(dfd);
	if (dir == NULL) {
		close(dfd);
		return;
	}
	struct dirent *e;
	while ((e = readdir(dir)) != NULL) {
		char link[64];
		ssize_t n = readlinkat(dirfd(dir), e->d_name, link,
		    sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		int target = atoi(e->d_name);
		if (strcmp(link, "anon_inode:kvm-vm") == 0 &&
		    k->vm_stats_fd < 0) {
			k->vm_stats_fd = stats_fd_of(pidfd, target);
		} else if (strncmp(link, "anon_inode:kvm-vcpu:", 20) == 0 &&
		    k->nvcpu < MAX_VCPUS) {
			int sfd = stats_fd_of(pidfd, target);
			if (sfd < 0)
				continue;
			int *v = realloc(k->vcpu_stats_fd, (k->nvcpu + 1) *
			    sizeof(*v));
			if (v == NULL) {
				close(sfd);
				continue;
			}
			k->vcpu_stats_fd = v;
			v[k->nvcpu++] = sfd;
		}
	}
	closedir(dir);
}

void
st_kvm_open(st_daemon *d, st_uk *u)
{
	st_kvm *k = &u->kvm;
	k->tries++;
	int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)u->m.pid, 0);
	if (pidfd < 0)
		return;
	find_fds(u, pidfd);
	close(pidfd);
	if (k->vm_stats_fd >= 0 && read_layout(k->vm_stats_fd, &k->vm) < 0) {
		close(k->vm_stats_fd);
		k->vm_stats_fd = -1;
	}
	if (k->nvcpu > 0 && read_layout(k->vcpu_stats_fd[0], &k->vcpu) < 0) {
		for (size_t i = 0; i < k->nvcpu; i++)
			close(k->vcpu_stats_fd[i]);
		k->nvcpu = 0;
	}
	if (k->vm_stats_fd >= 0 || k->nvcpu > 0)
		st_log(d, 1, "%s: KVM statistics of the VM and %zu vCPUs",
		    u->m.name.text, k->nvcpu);
}

static int
read_values(int fd, const pt_kvm_layout *l, pt_kvm_stat *acc)
{
	if (l->data_size == 0)
		return 0;
	uint8_t *buf = malloc(l->data_size);
	if (buf == NULL)
		return -1;
	ssize_t n = pread(fd, buf, l->data_size, l->data_offset);
	int r = n < 0 ? -1 : pt_kvm_read_values(l, buf, (size_t)n, acc, NULL);
	free(buf);
	return r;
}

void
st_kvm_read(st_daemon *d, st_uk *u)
{
	st_kvm *k = &u->kvm;
	u->m.has_vmm = true;  /* present, maybe empty (§6.8 vmm-stats) */
	u->m.nvmm = 0;
	if (k->vm_stats_fd < 0 && k->nvcpu == 0) {
		if (k->tries >= KVM_TRIES)
			return;
		st_kvm_open(d, u);
		if (k->vm_stats_fd < 0 && k->nvcpu == 0)
			return;
	}
	size_t total = k->vm.n + k->vcpu.n;
	if (u->m.vmm == NULL) {
		u->m.vmm = calloc(total ? total : 1, sizeof(*u->m.vmm));
		if (u->m.vmm == NULL)
			return;
	}
	memset(u->m.vmm, 0, (total ? total : 1) * sizeof(*u->m.vmm));
	if (k->vm_stats_fd >= 0 && read_values(k->vm_stats_fd, &k->vm,
	    u->m.vmm) < 0)
		return;
	for (size_t i = 0; i < k->nvcpu; i++)
		if (read_values(k->vcpu_stats_fd[i], &k->vcpu,
		    u->m.vmm + k->vm.n) < 0)
			return;
	u->m.nvmm = total;
}
