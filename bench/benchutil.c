#include "benchutil.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
pause_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

bool
wait_deadline(pid_t pid, double seconds, int *status)
{
	double end = now() + seconds;
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	bool reaped = false;
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid) {
			reaped = true;
			break;
		}
		if ((r < 0 && errno != EINTR) || now() > end)
			break;
		if (pidfd >= 0) {
			struct pollfd pf = {.fd = pidfd, .events = POLLIN};
			int ms = (int)((end - now()) * 1000) + 1;
			(void)poll(&pf, 1, ms > 0 ? ms : 0);
		} else {
			pause_ms(1);
		}
	}
	if (pidfd >= 0)
		close(pidfd);
	return reaped;
}

int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

bool
can_connect(const char *sock)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	bool ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}
