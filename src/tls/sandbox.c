/*
 * Privileges: started as root, petrel-tls binds its sockets and reads its
 * key, then becomes --user (its groups from the group database: the one
 * that may reach petreld's, petrel-console's and the stats daemon's
 * sockets); it needs no capability after that.
 *
 * Then a seccomp filter (libseccomp) allows only the system calls it makes
 * while serving; anything else kills the process (SIGSYS). The sanitizer
 * runtimes of a test build need a few more (they stop the world with
 * ptrace to look for leaks at exit, and print reports).
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <seccomp.h>

#include "tls.h"

#if defined(__SANITIZE_ADDRESS__)
#define TLS_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define TLS_SANITIZED 1
#endif
#endif

int
sandbox_drop_user(const char *user, pt_err *err)
{
	errno = 0;
	struct passwd *pw = getpwnam(user);
	if (pw == NULL)
		return pt_fail(err, "--user %s: %s", user, errno ?
		    strerror(errno) : "no such user");
	if (pw->pw_uid == 0)
		return pt_fail(err, "--user %s: is root", user);
	if (initgroups(pw->pw_name, pw->pw_gid) < 0 ||
	    setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
		return pt_fail(err, "becoming %s: %s", user, strerror(errno));
	/* No way back. */
	if (setuid(0) == 0 || geteuid() == 0)
		return pt_fail(err, "becoming %s: root could be regained",
		    user);
	return 0;
}

static const int allowed[] = {
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
	SCMP_SYS(recvfrom), SCMP_SYS(sendto), SCMP_SYS(recvmsg),
	SCMP_SYS(sendmsg), SCMP_SYS(close), SCMP_SYS(shutdown),
	SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_ctl),
	SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(select),
	SCMP_SYS(accept), SCMP_SYS(accept4), SCMP_SYS(connect),
	SCMP_SYS(getsockopt), SCMP_SYS(setsockopt), SCMP_SYS(getpeername),
	SCMP_SYS(getsockname), SCMP_SYS(fcntl), SCMP_SYS(ioctl),
	/* the CRL directory */
	SCMP_SYS(openat), SCMP_SYS(newfstatat), SCMP_SYS(fstat),
	SCMP_SYS(getdents64), SCMP_SYS(lseek),
	/* memory, time, randomness, signals, the end */
	SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(brk),
	SCMP_SYS(madvise), SCMP_SYS(mprotect), SCMP_SYS(clock_gettime),
	SCMP_SYS(gettimeofday), SCMP_SYS(clock_nanosleep),
	SCMP_SYS(nanosleep), SCMP_SYS(getrandom), SCMP_SYS(futex),
	SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(rt_sigaction), SCMP_SYS(getpid), SCMP_SYS(gettid),
	SCMP_SYS(exit), SCMP_SYS(exit_group), SCMP_SYS(restart_syscall),
	SCMP_SYS(sched_yield), SCMP_SYS(tgkill),
};

#ifdef TLS_SANITIZED
static const int sanitizer_extra[] = {
	SCMP_SYS(clone), SCMP_SYS(clone3), SCMP_SYS(ptrace), SCMP_SYS(wait4),
	SCMP_SYS(prctl), SCMP_SYS(sigaltstack), SCMP_SYS(readlink),
	SCMP_SYS(readlinkat), SCMP_SYS(open), SCMP_SYS(stat),
	SCMP_SYS(getppid), SCMP_SYS(sched_getaffinity),
	SCMP_SYS(set_robust_list), SCMP_SYS(rseq), SCMP_SYS(uname),
	SCMP_SYS(getrlimit), SCMP_SYS(prlimit64), SCMP_SYS(kill),
	SCMP_SYS(rt_sigtimedwait), SCMP_SYS(pipe2), SCMP_SYS(dup2),
	SCMP_SYS(dup3), SCMP_SYS(setrlimit), SCMP_SYS(sysinfo),
	SCMP_SYS(membarrier), SCMP_SYS(process_vm_readv), SCMP_SYS(getdents),
	SCMP_SYS(dup),
};
#endif

int
sandbox_seccomp(pt_err *err)
{
	scmp_filter_ctx f = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (f == NULL)
		return pt_fail(err, "seccomp: cannot make a filter");
	int r = 0;
	for (size_t i = 0; i < sizeof(allowed) / sizeof(*allowed) && r == 0;
	    i++)
		r = seccomp_rule_add(f, SCMP_ACT_ALLOW, allowed[i], 0);
	/* New sockets only towards the local daemons. */
	if (r == 0) {
		struct scmp_arg_cmp unix_only = {.arg = 0, .op = SCMP_CMP_EQ,
			.datum_a = AF_UNIX, .datum_b = 0};
		r = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
		    unix_only);
	}
#ifdef TLS_SANITIZED
	for (size_t i = 0; i < sizeof(sanitizer_extra) /
	    sizeof(*sanitizer_extra) && r == 0; i++)
		r = seccomp_rule_add(f, SCMP_ACT_ALLOW, sanitizer_extra[i], 0);
#endif
	if (r == 0)
		r = seccomp_load(f);
	seccomp_release(f);
	if (r != 0)
		return pt_fail(err, "seccomp: %s", strerror(-r));
	return 0;
}
