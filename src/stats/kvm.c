/*
 * The hypervisor's counters of an hvt unikernel: KVM's binary statistics
 * (KVM_GET_STATS_FD) of its VM and vCPUs (exits, halt polls, I/O exits,
 * ...). /proc/<pid>/fd names the tender's descriptors and pidfd_getfd
 * copies them into petrel-stats:
 *
 *   anon_inode:kvm-vm-stats, anon_inode:kvm-vcpu-stats:N  statistics files
 *       the tender opened itself: copied and read as they are;
 *   anon_inode:kvm-vm, anon_inode:kvm-vcpu:N  the VM and its vCPUs:
 *       KVM_GET_STATS_FD is tried on the copy. KVM refuses every VM and
 *       vCPU ioctl from a process other than the VM's creator (kvm->mm !=
 *       current->mm: EIO), so today this only works for a tender that
 *       keeps its statistics files open (docs/stats.md); the attempt is
 *       kept for a kernel that allows it, and its refusal logged once.
 *
 * The statistics files stay open (each holds its VM's statistics while
 * open); the copies of VM and vCPU fds are closed at once.
 *
 * No KVM, a spt tender, a tender without statistics files, an older
 * kernel, or missing privileges: the list stays empty and nothing fails.
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

static bool warned_ioctl;

/* The statistics file of the tender's fd `target`, or -1: the copy
 * itself if it is one (is_stats), else what KVM_GET_STATS_FD gives. */
static int
stats_fd_of(st_daemon *d, int pidfd, int target, bool is_stats)
{
	int fd = (int)syscall(SYS_pidfd_getfd, pidfd, target, 0);
	if (fd < 0 || is_stats)
		return fd;  /* pidfd_getfd sets O_CLOEXEC */
	int sfd = ioctl(fd, KVM_GET_STATS_FD, NULL);
	if (sfd < 0 && !warned_ioctl) {
		st_log(d, 1, "KVM_GET_STATS_FD on a tender's VM: %s (KVM "
		    "answers only the VM's creator; see docs/stats.md)",
		    strerror(errno));
		warned_ioctl = true;
	}
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
add_vcpu(st_kvm *k, int sfd)
{
	if (sfd < 0)
		return;
	int *v = k->nvcpu < MAX_VCPUS ? realloc(k->vcpu_stats_fd,
	    (k->nvcpu + 1) * sizeof(*v)) : NULL;
	if (v == NULL) {
		close(sfd);
		return;
	}
	k->vcpu_stats_fd = v;
	v[k->nvcpu++] = sfd;
}

/* The tender's descriptors of one kind: vm (at most one) and vcpus. */
typedef struct {
	int vm;
	int vcpu[MAX_VCPUS];
	size_t nvcpu;
} targets;

static void
note(targets *t, bool vm, int fd)
{
	if (vm)
		t->vm = fd;
	else if (t->nvcpu < MAX_VCPUS)
		t->vcpu[t->nvcpu++] = fd;
}

/* Its own statistics files if the tender keeps any, else its VM and
 * vCPUs (never both: the counters would be summed twice). */
static void
find_fds(st_daemon *d, st_uk *u, int pidfd)
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
	targets own = {.vm = -1}, kvm = {.vm = -1};
	struct dirent *e;
	while ((e = readdir(dir)) != NULL) {
		char link[64];
		ssize_t n = readlinkat(dirfd(dir), e->d_name, link,
		    sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		int target = atoi(e->d_name);
		if (strcmp(link, "anon_inode:kvm-vm-stats") == 0)
			note(&own, true, target);
		else if (strncmp(link, "anon_inode:kvm-vcpu-stats", 25) == 0)
			note(&own, false, target);
		else if (strcmp(link, "anon_inode:kvm-vm") == 0)
			note(&kvm, true, target);
		else if (strncmp(link, "anon_inode:kvm-vcpu:", 20) == 0)
			note(&kvm, false, target);
	}
	closedir(dir);
	bool is_own = own.vm >= 0 || own.nvcpu > 0;
	const targets *t = is_own ? &own : &kvm;
	if (t->vm >= 0)
		k->vm_stats_fd = stats_fd_of(d, pidfd, t->vm, is_own);
	for (size_t i = 0; i < t->nvcpu; i++)
		add_vcpu(k, stats_fd_of(d, pidfd, t->vcpu[i], is_own));
}

void
st_kvm_open(st_daemon *d, st_uk *u)
{
	st_kvm *k = &u->kvm;
	k->tries++;
	int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)u->m.pid, 0);
	if (pidfd < 0)
		return;
	find_fds(d, u, pidfd);
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
