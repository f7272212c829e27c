#include "transport.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "tls.h"

int
pt_conn_open(pt_conn *c, const char *path, size_t max_frame, pt_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(path);

	c->fd = -1;
	c->tls = NULL;
	pt_frame_reader_init(&c->rd, max_frame);
	if (n >= sizeof(sa.sun_path))
		return pt_fail(err, "socket path too long: %s", path);
	memcpy(sa.sun_path, path, n + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return pt_fail(err, "socket: %s", strerror(errno));
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;
		close(c->fd);
		c->fd = -1;
		return pt_fail(err, "cannot connect to %s: %s", path,
		    strerror(e));
	}
	return 0;
}

void
pt_conn_open_tls(pt_conn *c, struct pt_tls *t, int fd, size_t max_frame)
{
	c->fd = fd;
	c->tls = t;
	pt_frame_reader_init(&c->rd, max_frame);
}

void
pt_conn_close(pt_conn *c)
{
	if (c->tls != NULL)
		pt_tls_free(c->tls);   /* closes fd too */
	else if (c->fd >= 0)
		close(c->fd);
	c->tls = NULL;
	c->fd = -1;
	pt_frame_reader_free(&c->rd);
}

/* sendmsg until everything went out; MSG_NOSIGNAL turns a closed peer
 * into EPIPE instead of killing the client. */
static int
send_all(pt_conn *c, struct iovec *iov, int iovcnt, pt_err *err)
{
	int fd = c->fd;

	if (c->tls != NULL)
		return pt_tls_writev(c->tls, iov, iovcnt, err);
	while (iovcnt > 0) {
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)iovcnt};
		ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return pt_fail(err, "send: %s", strerror(errno));
		}
		size_t left = (size_t)w;
		while (iovcnt > 0 && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 0;
}

#define CHUNKS_PER_CALL 32

static void
put_be32(uint8_t p[4], size_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

int
pt_conn_send_frame(pt_conn *c, const uint8_t *body, size_t len, pt_err *err)
{
	uint8_t prefix[4];

	if (len > INT32_MAX)
		return pt_fail(err, "message too large (%zu bytes)", len);
	put_be32(prefix, len);
	struct iovec iov[2] = {
		{.iov_base = prefix, .iov_len = 4},
		{.iov_base = (void *)body, .iov_len = len},
	};
	return send_all(c, iov, len > 0 ? 2 : 1, err);
}

int
pt_conn_send_chunks(pt_conn *c, const uint8_t *data, size_t len,
    size_t chunk, pt_err *err)
{
	uint8_t prefix[CHUNKS_PER_CALL][4];
	struct iovec iov[2 * CHUNKS_PER_CALL];

	if (chunk == 0 || chunk > INT32_MAX)
		return pt_fail(err, "bad chunk size");
	while (len > 0) {
		int n = 0;
		while (len > 0 && n < CHUNKS_PER_CALL) {
			size_t k = len < chunk ? len : chunk;
			put_be32(prefix[n], k);
			iov[2 * n].iov_base = prefix[n];
			iov[2 * n].iov_len = 4;
			iov[2 * n + 1].iov_base = (void *)data;
			iov[2 * n + 1].iov_len = k;
			data += k;
			len -= k;
			n++;
		}
		if (send_all(c, iov, 2 * n, err) != 0)
			return -1;
	}
	return 0;
}

int
pt_conn_send_end(pt_conn *c, pt_err *err)
{
	uint8_t end[4] = {0, 0, 0, 0};
	struct iovec iov = {.iov_base = end, .iov_len = 4};
	return send_all(c, &iov, 1, err);
}

int
pt_conn_next(pt_conn *c, const uint8_t **body, size_t *len, pt_err *err)
{
	for (;;) {
		switch (pt_frame_reader_next(&c->rd, body, len)) {
		case PT_FRAME_OK:
			return 1;
		case PT_FRAME_END:
			return 0;
		case PT_FRAME_TOO_BIG:
			return pt_fail(err, "reply too large (over %zu bytes)",
			    c->rd.max_frame);
		case PT_FRAME_NOMEM:
			return pt_fail(err, "out of memory reading the reply");
		case PT_FRAME_NEED_MORE:
			break;
		}
		size_t avail;
		uint8_t *space = pt_frame_reader_space(&c->rd, &avail);
		if (space == NULL)
			return pt_fail(err, "out of memory reading the reply");
		ssize_t r = c->tls != NULL ?
		    pt_tls_read(c->tls, space, avail, err) :
		    read(c->fd, space, avail);
		if (r < 0 && c->tls != NULL)
			return -1;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return pt_fail(err, "read: %s", strerror(errno));
		}
		if (r == 0) {
			if (pt_frame_reader_pending(&c->rd) == 0)
				return 0;
			return pt_fail(err, "connection closed in the middle "
			    "of a message");
		}
		pt_frame_reader_commit(&c->rd, (size_t)r);
	}
}

bool
pt_conn_readable(pt_conn *c)
{
	struct pollfd p = {.fd = c->fd, .events = POLLIN};
	int r;

	if (c->tls != NULL)
		return pt_tls_readable(c->tls);
	do
		r = poll(&p, 1, 0);
	while (r < 0 && errno == EINTR);
	return r > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0;
}
