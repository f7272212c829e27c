/*
 * Block device transfer benchmark (issue 4): starts petreld in a private
 * directory, creates one block device and measures, through the AV5 socket
 * as a client would use it,
 *  - block set (§8.4) of SIZE MB, uncompressed and zlib-compressed (the
 *    compressed stream is made before the clock starts, so the figure is
 *    petreld's inflate and write, not this program's deflate);
 *  - block dump (§8.5) of the device, uncompressed and at levels 1 and 9
 *    (petreld deflates; this program only counts and keeps the bytes);
 * in MB/s of device data (MB = 2^20 bytes, as albatross's sizes), and
 * petreld's peak resident memory (VmHWM) before and after. Every transfer
 * is checked (CRC-32 of the content). Prints figures; never fails on
 * timing. The file system cache is warm for the dumps.
 *
 * usage: bench_block PATH-TO-petreld [SIZE_MB]   (default 256)
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "frame.h"
#include "name.h"
#include "wire.h"
#include "loadavg.h"

#define MB ((size_t)1 << 20)
#define CHUNK 4096                /* raw upload frames, as the clients */
#define BATCH (64 * 1024)         /* raw frames per write(2) */

static char base[] = "/tmp/ptbench-blk-XXXXXX";
static char sock_path[108];  /* sun_path */
static pid_t daemon_pid;
static const char *device_name = "bench:disk";

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
remove_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void
cleanup(void)
{
	if (daemon_pid > 0) {
		kill(daemon_pid, SIGTERM);
		waitpid(daemon_pid, NULL, 0);
		daemon_pid = 0;
	}
	nftw(base, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Every fatal exit goes through here: the daemon and its files never
 * outlive the bench. */
static _Noreturn void
fatal(const char *msg)
{
	fprintf(stderr, "bench_block: %s\n", msg);
	cleanup();
	exit(1);
}

static _Noreturn void
die(const char *what)
{
	char msg[256];
	snprintf(msg, sizeof(msg), "%s: %s", what, strerror(errno));
	fatal(msg);
}

static long
vm_hwm_kb(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	long kb = -1;
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static int
connect_vmmd(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, sock_path, sizeof(sock_path));
	for (int i = 0; i < 1000; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			die("socket");
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		close(fd);
		int status;
		if (waitpid(daemon_pid, &status, WNOHANG) == daemon_pid) {
			daemon_pid = 0;
			fatal("petreld exited while starting");
		}
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL); /* waiting for start-up, with a bound */
	}
	fatal("petreld did not come up");
}

static void
send_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die("write");
		b += w;
		n -= (size_t)w;
	}
}

static void
send_command(int fd, const pt_command *cmd)
{
	pt_wire w;
	pt_name n;
	pt_err err;
	memset(&w, 0, sizeof(w));
	if (pt_name_parse_str(device_name, &n, &err) < 0)
		fatal(err.msg);
	pt_header_init(&w.header, 0, &n);
	w.kind = PT_PAYLOAD_COMMAND;
	w.u.command = *cmd;
	pt_buf body = {0}, frame = {0};
	if (pt_wire_encode(&w, &body, &err) < 0 ||
	    pt_frame_append(&frame, body.data, body.len) < 0)
		fatal("cannot encode a command");
	send_all(fd, frame.data, frame.len);
	pt_buf_free(&body);
	pt_buf_free(&frame);
}

/* Reads messages of one conversation. */
typedef struct {
	int fd;
	pt_frame_reader rd;
	pt_arena a;
} reader;

static void
reader_init(reader *r, int fd)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	pt_frame_reader_init(&r->rd, 64 * MB);
}

static void
reader_free(reader *r)
{
	pt_frame_reader_free(&r->rd);
	pt_arena_free(&r->a);
	close(r->fd);
}

/* The next message into w (valid until the next call). */
static void
next_wire(reader *r, pt_wire *w)
{
	pt_arena_free(&r->a);
	for (;;) {
		const uint8_t *body;
		size_t len;
		pt_frame_status st = pt_frame_reader_next(&r->rd, &body, &len);
		if (st == PT_FRAME_OK) {
			pt_err err;
			if (pt_wire_decode(body, len, &r->a, w, &err) < 0)
				fatal(err.msg);
			return;
		}
		if (st != PT_FRAME_NEED_MORE)
			fatal("petreld ended the conversation early");
		size_t avail;
		uint8_t *space = pt_frame_reader_space(&r->rd, &avail);
		if (space == NULL)
			fatal("out of memory");
		ssize_t n = read(r->fd, space, avail);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fatal("petreld closed the connection");
		pt_frame_reader_commit(&r->rd, (size_t)n);
	}
}

static void
expect_string(reader *r, const char *want)
{
	pt_wire w;
	next_wire(r, &w);
	if (w.kind == PT_PAYLOAD_FAILURE) {
		char msg[512];
		snprintf(msg, sizeof(msg), "petreld refused: %.*s",
		    (int)w.u.failure.len, w.u.failure.s);
		fatal(msg);
	}
	if (w.kind != PT_PAYLOAD_SUCCESS || w.u.success.kind != PT_OK_STRING ||
	    w.u.success.u.string.len != strlen(want) ||
	    memcmp(w.u.success.u.string.s, want, strlen(want)) != 0)
		fatal("unexpected reply");
}

/* ---- the content: MB i, reproducible, about 4:1 compressible ---- */

static void
make_mb(size_t i, uint8_t *out)
{
	uint64_t x = 0x9E3779B97F4A7C15u ^ (i + 1);
	for (size_t off = 0; off < MB; off += 64 * 1024) {
		/* 16 KiB of noise, then 48 KiB of text */
		for (size_t k = 0; k < 16 * 1024; k += 8) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			memcpy(out + off + k, &x, 8);
		}
		for (size_t k = 16 * 1024; k < 64 * 1024; k++)
			out[off + k] = (uint8_t)("a block device benchmark "
			    "line\n"[(k + i) % 30]);
	}
}

/* ---- set (§8.4) ---- */

/* Appends raw frames of at most CHUNK bytes to a batch and sends full
 * batches. */
typedef struct {
	int fd;
	uint8_t buf[BATCH + BATCH / CHUNK * 4 + 8];
	size_t len;
} batch;

static void
batch_add(batch *b, const uint8_t *p, size_t n)
{
	while (n > 0) {
		size_t k = n < CHUNK ? n : CHUNK;
		if (b->len + 4 + k > sizeof(b->buf)) {
			send_all(b->fd, b->buf, b->len);
			b->len = 0;
		}
		b->buf[b->len++] = (uint8_t)(k >> 24);
		b->buf[b->len++] = (uint8_t)(k >> 16);
		b->buf[b->len++] = (uint8_t)(k >> 8);
		b->buf[b->len++] = (uint8_t)k;
		memcpy(b->buf + b->len, p, k);
		b->len += k;
		p += k;
		n -= k;
	}
}

/* Sets the device to the generated content (z NULL) or to the zlib
 * stream z; returns the seconds taken. */
static double
bench_set(size_t size_mb, const pt_buf *z)
{
	static batch b;
	static uint8_t mb[MB];
	reader r;
	pt_command cmd = {.kind = PT_CMD_BLOCK_SET, .u.compressed = z != NULL};
	int fd = connect_vmmd();
	reader_init(&r, fd);
	double t0 = now();
	send_command(fd, &cmd);
	b.fd = fd;
	b.len = 0;
	if (z != NULL) {
		batch_add(&b, z->data, z->len);
	} else {
		for (size_t i = 0; i < size_mb; i++) {
			make_mb(i, mb);
			batch_add(&b, mb, MB);
		}
	}
	send_all(fd, b.buf, b.len);
	send_all(fd, "\0\0\0\0", 4);
	expect_string(&r, "set block device");
	double dt = now() - t0;
	reader_free(&r);
	return dt;
}

/* ---- dump (§8.5) ---- */

/* Dumps at `level`; the wire bytes are kept in *wire when compressed,
 * else their CRC-32 goes to *crc. Returns the seconds taken. */
static double
bench_dump(int64_t level, pt_buf *wire, uLong *crc)
{
	reader r;
	pt_command cmd = {.kind = PT_CMD_BLOCK_DUMP, .u.level = level};
	int fd = connect_vmmd();
	reader_init(&r, fd);
	double t0 = now();
	send_command(fd, &cmd);
	pt_wire w;
	next_wire(&r, &w);
	if (w.kind != PT_PAYLOAD_SUCCESS ||
	    w.u.success.kind != PT_OK_BLOCK_IMAGE ||
	    w.u.success.u.compressed != (level > 0))
		fatal("unexpected reply to block dump");
	*crc = crc32(0, NULL, 0);
	for (;;) {
		next_wire(&r, &w);
		if (w.kind != PT_PAYLOAD_DATA)
			fatal("block dump: not a data message");
		if (w.u.data.kind == PT_DATA_BLOCK_END)
			break;
		const pt_blob *c = &w.u.data.u.chunk;
		if (level > 0) {
			if (pt_buf_append(wire, c->data, c->len) < 0)
				fatal("out of memory");
		} else {
			*crc = crc32(*crc, c->data, (uInt)c->len);
		}
	}
	double dt = now() - t0;
	reader_free(&r);
	return dt;
}

/* CRC-32 of a zlib stream's content. */
static uLong
inflate_crc(const pt_buf *z)
{
	static uint8_t out[MB];
	z_stream s;
	memset(&s, 0, sizeof(s));
	if (inflateInit(&s) != Z_OK)
		fatal("inflateInit");
	uLong crc = crc32(0, NULL, 0);
	s.next_in = z->data;
	s.avail_in = (uInt)z->len;
	int rc;
	do {
		s.next_out = out;
		s.avail_out = sizeof(out);
		rc = inflate(&s, Z_NO_FLUSH);
		if (rc != Z_OK && rc != Z_STREAM_END)
			fatal("the compressed dump does not inflate");
		crc = crc32(crc, out, (uInt)(sizeof(out) - s.avail_out));
	} while (rc != Z_STREAM_END);
	inflateEnd(&s);
	return crc;
}

/* The generated content's CRC-32 and its zlib stream (level 1). */
static uLong
prepare(size_t size_mb, pt_buf *z)
{
	static uint8_t mb[MB], out[MB];
	z_stream s;
	memset(&s, 0, sizeof(s));
	if (deflateInit(&s, 1) != Z_OK)
		fatal("deflateInit");
	uLong crc = crc32(0, NULL, 0);
	for (size_t i = 0; i < size_mb; i++) {
		make_mb(i, mb);
		crc = crc32(crc, mb, (uInt)MB);
		s.next_in = mb;
		s.avail_in = (uInt)MB;
		int flush = i + 1 == size_mb ? Z_FINISH : Z_NO_FLUSH;
		int rc;
		do {
			s.next_out = out;
			s.avail_out = sizeof(out);
			rc = deflate(&s, flush);
			if (pt_buf_append(z, out, sizeof(out) - s.avail_out) < 0)
				fatal("out of memory");
		} while (s.avail_out == 0 || (flush == Z_FINISH &&
		    rc != Z_STREAM_END));
	}
	deflateEnd(&s);
	return crc;
}

static void
report(const char *what, size_t size_mb, double dt, size_t wire_bytes)
{
	printf("block %-31s %5zu MB in %6.3f s: %8.1f MB/s", what, size_mb,
	    dt, (double)size_mb / dt);
	if (wire_bytes > 0)
		printf(" (%.1f MB on the wire)", (double)wire_bytes / MB);
	printf("\n");
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	bench_load_start();
	if (argc < 2) {
		fprintf(stderr, "usage: bench_block PATH-TO-petreld "
		    "[SIZE_MB]\n");
		return 2;
	}
	long arg = argc > 2 ? atol(argv[2]) : 256;
	if (arg <= 0 || arg > 65536) {
		fprintf(stderr, "bench_block: SIZE_MB must be 1..65536\n");
		return 2;
	}
	size_t size_mb = (size_t)arg;
	signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(base) == NULL)
		die("mkdtemp");
	char tmpdir[128], dbdir[128];
	snprintf(tmpdir, sizeof(tmpdir), "%s/run", base);
	snprintf(dbdir, sizeof(dbdir), "%s/db", base);
	if (snprintf(sock_path, sizeof(sock_path), "%s/util/vmmd.sock",
	    tmpdir) >= (int)sizeof(sock_path))
		fatal("socket path too long");
	daemon_pid = fork();
	if (daemon_pid < 0)
		die("fork");
	if (daemon_pid == 0) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (null >= 0) {
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		execl(argv[1], argv[1], "--tmpdir", tmpdir, "--dbdir", dbdir,
		    (char *)NULL);
		_exit(127);
	}

	pt_buf zset = {0};
	uLong want = prepare(size_mb, &zset);

	reader r;
	int fd = connect_vmmd();
	reader_init(&r, fd);
	pt_command add = {.kind = PT_CMD_BLOCK_ADD, .u.size_mb =
	    (int64_t)size_mb};
	send_command(fd, &add);
	expect_string(&r, "added block device");
	reader_free(&r);
	long hwm0 = vm_hwm_kb(daemon_pid);

	report("set, uncompressed", size_mb, bench_set(size_mb, NULL), 0);
	uLong crc;
	pt_buf none = {0};
	double dt = bench_dump(0, &none, &crc);
	if (crc != want)
		fatal("the dump differs from what was set");
	report("dump, uncompressed", size_mb, dt, 0);

	report("set, compressed (zlib level 1)", size_mb,
	    bench_set(size_mb, &zset), zset.len);
	for (int64_t level = 1; level <= 9; level += 8) {
		pt_buf z = {0};
		dt = bench_dump(level, &z, &crc);
		if (inflate_crc(&z) != want)
			fatal("the compressed dump differs from what was set");
		char what[64];
		snprintf(what, sizeof(what), "dump, compressed (level %d)",
		    (int)level);
		report(what, size_mb, dt, z.len);
		pt_buf_free(&z);
	}
	long hwm1 = vm_hwm_kb(daemon_pid);
	printf("petreld peak resident memory (VmHWM): %ld KiB before, %ld "
	    "KiB after %zu MB moved 5 times\n", hwm0, hwm1, size_mb);
	pt_buf_free(&zset);
	cleanup();
	return 0;
}
