/*
 * Keeps tenders writing while nobody keeps their consoles.
 *
 * A tender holds its console FIFO read-write (pt_spawn), so its writes
 * never fail for want of a reader; but once the pipe's 64 KiB are full
 * they block, and a unikernel that blocks on its console stops. While
 * petrel-console does not read a unikernel's FIFO (not running, its link
 * lost, the add refused, or --no-console), petreld reads it itself and
 * drops what it reads. It lets go as soon as petrel-console is told to
 * read, so the two never compete for lines.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "petreld.h"

static void
on_drain(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	pt_uk *uk = arg;
	char buf[4096];
	for (int i = 0; i < 16; i++) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			uk->drained_bytes += (uint64_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		/* EOF: no writer left, the tender is gone. */
		drain_stop(uk);
		return;
	}
}

void
drain_start(pt_daemon *d, pt_uk *uk)
{
	if (uk->drain_ev != NULL || !uk->has_fifo)
		return;
	char path[PATH_MAX];
	pt_err err = {{0}};
	if (pt_name_to_file(d->fifo_dir, &uk->name, NULL, path, sizeof(path),
	    &err) < 0)
		return;
	/* Non-blocking and read-only: it never waits for the tender, and
	 * (Linux) reports no hang-up before a writer has come. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		log_warn("%s: cannot drain the console FIFO: %s",
		    uk->name.text, strerror(errno));
		return;
	}
	uk->drain_ev = event_new(d->base, fd, EV_READ | EV_PERSIST, on_drain,
	    uk);
	if (uk->drain_ev == NULL || event_add(uk->drain_ev, NULL) < 0) {
		if (uk->drain_ev != NULL)
			event_free(uk->drain_ev);
		uk->drain_ev = NULL;
		close(fd);
		log_warn("%s: cannot drain the console FIFO", uk->name.text);
		return;
	}
	uk->drain_fd = fd;
	log_debug("%s: console output dropped while petrel-console does not "
	    "keep it", uk->name.text);
}

void
drain_stop(pt_uk *uk)
{
	if (uk->drain_ev == NULL)
		return;
	event_free(uk->drain_ev);
	uk->drain_ev = NULL;
	close(uk->drain_fd);
	uk->drain_fd = -1;
	if (uk->drained_bytes > 0)
		log_info("%s: %llu bytes of console output dropped while "
		    "petrel-console did not keep them", uk->name.text,
		    (unsigned long long)uk->drained_bytes);
	uk->drained_bytes = 0;
}

void
drain_all_running(pt_daemon *d)
{
	for (pt_uk *uk = d->uks; uk != NULL; uk = uk->next)
		if (uk_has_process(uk))
			drain_start(d, uk);
}
