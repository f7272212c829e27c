/* Unit tests for pt_spawn (tender.c): a child that dies between fork and
 * exec is a failure to start, a tender that dies right after its exec is
 * a started tender. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/filter.h>
#include <linux/seccomp.h>

#include <cmocka.h>

#include "tender.h"

static int
wait_status(pid_t pid, int pidfd)
{
	struct pollfd pf = {.fd = pidfd, .events = POLLIN};
	int r;
	do {
		r = poll(&pf, 1, 10000);
	} while (r < 0 && errno == EINTR);
	assert_int_equal(r, 1);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(pidfd);
	return status;
}

/* Kills the calling process (and its future children) on setsid(2), the
 * first thing a spawned child does after fork that the parent never does:
 * the child dies before its exec as if the OOM killer had picked it. */
static int
kill_on_setsid(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_setsid, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {
		.len = (unsigned short)(sizeof(f) / sizeof(f[0])),
		.filter = f,
	};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}

/* Runs in a throwaway process (the filter cannot be removed): 0 if the
 * spawn failed as it should, the reason on stderr otherwise. */
static int
spawn_killed_before_exec(void)
{
	if (kill_on_setsid() != 0) {
		fprintf(stderr, "seccomp: %s\n", strerror(errno));
		return 2;
	}
	const char *const argv[] = {"/bin/true", NULL};
	pt_spawn_args sa = {.argv = argv};
	pid_t pid;
	int pidfd;
	pt_err e = {{0}};
	if (pt_spawn(&sa, &pid, &pidfd, &e) == 0) {
		fprintf(stderr, "pt_spawn succeeded for a child killed "
		    "before exec\n");
		return 3;
	}
	char want[64];
	snprintf(want, sizeof(want), "killed by signal %d", SIGSYS);
	if (strstr(e.msg, want) == NULL ||
	    strstr(e.msg, "before its exec") == NULL ||
	    strstr(e.msg, "/bin/true") == NULL) {
		fprintf(stderr, "unexpected message: %s\n", e.msg);
		return 4;
	}
	/* The dead child was reaped. */
	if (waitpid(-1, NULL, WNOHANG) != -1 || errno != ECHILD) {
		fprintf(stderr, "the dead child was not reaped\n");
		return 5;
	}
	return 0;
}

static void
test_killed_before_exec_is_a_failure(void **state)
{
	(void)state;
	fflush(NULL);
	pid_t helper = fork();
	assert_true(helper >= 0);
	if (helper == 0)
		_exit(spawn_killed_before_exec());
	int status;
	assert_int_equal(waitpid(helper, &status, 0), helper);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void
test_killed_after_exec_is_a_start(void **state)
{
	(void)state;
	/* The tender ran (sh is its name now) and killed itself: an
	 * ordinary exit for the caller, whether it is already dead when
	 * pt_spawn looks or not. */
	const char *const argv[] = {"/bin/sh", "-c", "kill -9 $$", NULL};
	pt_spawn_args sa = {.argv = argv};
	pid_t pid;
	int pidfd;
	pt_err e = {{0}};
	for (int i = 0; i < 20; i++) {
		assert_int_equal(pt_spawn(&sa, &pid, &pidfd, &e), 0);
		assert_true(pidfd >= 0);
		int status = wait_status(pid, pidfd);
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), SIGKILL);
	}
	const char *const quick[] = {"/bin/true", NULL};
	sa.argv = quick;
	assert_int_equal(pt_spawn(&sa, &pid, &pidfd, &e), 0);
	int status = wait_status(pid, pidfd);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_killed_before_exec_is_a_failure),
		cmocka_unit_test(test_killed_after_exec_is_a_start),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
