/*
 * What petrel-stats keeps of its privileges. Reading another user's
 * (petreld's tenders run as root) /proc/<pid>/io and /proc/<pid>/fd takes
 * both a ptrace access check (CAP_SYS_PTRACE) and getting past the files'
 * modes (0400 / 0500, owned by the tender's user: CAP_DAC_READ_SEARCH);
 * pidfd_getfd of the tender's VM takes CAP_SYS_PTRACE. /proc/<pid>/stat
 * and status and the netlink link dump need nothing. So: those two
 * capabilities stay, every other goes (effective, permitted, inheritable,
 * ambient and bounding sets), and no_new_privs is set. With --user the
 * process also leaves root.
 *
 * Raw capget/capset: no libcap dependency for a dozen lines.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/capability.h>

#include "statsd.h"

static const int keep[] = {CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH};

static bool
kept(int cap)
{
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		if (keep[i] == cap)
			return true;
	return false;
}

static int
switch_user(const char *user, pt_err *err)
{
	struct passwd *pw = getpwnam(user);
	if (pw == NULL)
		return pt_fail(err, "--user %s: no such user", user);
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return pt_fail(err, "PR_SET_KEEPCAPS: %s", strerror(errno));
	if (initgroups(user, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0)
		return pt_fail(err, "switching to user %s: %s", user,
		    strerror(errno));
	return 0;
}

int
st_drop_privileges(const char *user, pt_err *err)
{
	if (user != NULL && geteuid() != 0)
		return pt_fail(err, "--user %s needs to be started as root",
		    user);
	/* The bounding set first, while CAP_SETPCAP is still there. */
	for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
		if (!kept(cap) && prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1)
			(void)prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
	(void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if (user != NULL && switch_user(user, err) < 0)
		return -1;
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &h, data) < 0)
		return pt_fail(err, "capget: %s", strerror(errno));
	struct __user_cap_data_struct want[2];
	memset(want, 0, sizeof(want));
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		int c = keep[i];
		uint32_t bit = 1u << (c % 32);
		if (data[c / 32].permitted & bit) {
			want[c / 32].permitted |= bit;
			want[c / 32].effective |= bit;
		}
	}
	/* Nothing more to drop (systemd already limited the sets, and may
	 * forbid capset itself): leave them. */
	bool same = true;
	for (int i = 0; i < 2; i++)
		same = same && data[i].permitted == want[i].permitted &&
		    data[i].effective == want[i].effective &&
		    data[i].inheritable == 0;
	if (!same && syscall(SYS_capset, &h, want) < 0)
		return pt_fail(err, "capset: %s", strerror(errno));
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return pt_fail(err, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	return 0;
}
