/*
 * Block device commands: create-block, destroy-block, block (info),
 * set-block and dump-block (albatross-wire.md §6.1, §8.2, §8.4, §8.5).
 *
 * Uploads and downloads are streamed through fixed buffers: a device is
 * never held in memory whole, whatever its size.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "files.h"
#include "zpipe.h"

enum {
	OPT_DATA = 1,
	OPT_COMPRESS,
};

/* Raw upload frames carry at most this much, as albatross-client's. */
#define UPLOAD_CHUNK 4096
/* File reads and frame batches. */
#define STAGE_SIZE (64 * 1024)
/* Block devices are sized in MB = 2^20 bytes; 2^30 MB is plenty. */
#define MAX_BLOCK_MB ((int64_t)1 << 30)
/* A compressed dump may not inflate beyond this (a hostile daemon could
 * otherwise fill the disk from a few bytes). */
#define MAX_DUMP_BYTES ((uint64_t)1 << 44)

static const pt_cli_optspec no_opts[] = {
	{NULL, 0, false, 0, NULL, NULL},
};

static const pt_cli_optspec info_opts[] = {
	PT_ALBATROSS_NAME_OPT,
	{NULL, 0, false, 0, NULL, NULL},
};

/* ---- progress on a terminal ---- */

#define PROGRESS_MIN ((uint64_t)8 << 20)
#define PROGRESS_STEP ((uint64_t)1 << 20)

typedef struct {
	bool on;
	bool shown;
	const char *what;
	uint64_t total;   /* 0: unknown */
	uint64_t done;
	uint64_t next_at;
} progress;

static void
progress_init(progress *p, const pt_client *c, const char *what,
    uint64_t total)
{
	memset(p, 0, sizeof(*p));
	/* Only for a human watching, and only when it takes a while. */
	p->on = !c->json && isatty(STDERR_FILENO) &&
	    (total == 0 || total >= PROGRESS_MIN);
	p->what = what;
	p->total = total;
	p->next_at = PROGRESS_MIN;
}

static void
progress_show(progress *p)
{
	double mib = (double)p->done / (1 << 20);
	if (p->total > 0)
		fprintf(stderr, "\r%s: %.0f of %.0f MiB (%u%%)", p->what, mib,
		    (double)p->total / (1 << 20),
		    (unsigned)(p->done * 100 / p->total));
	else
		fprintf(stderr, "\r%s: %.0f MiB", p->what, mib);
	p->shown = true;
}

static void
progress_add(progress *p, uint64_t n)
{
	p->done += n;
	if (!p->on || p->done < p->next_at)
		return;
	progress_show(p);
	p->next_at = p->done + PROGRESS_STEP;
}

static void
progress_end(progress *p)
{
	if (!p->shown)
		return;
	progress_show(p);
	fputc('\n', stderr);
}

/* ---- upload (§8.4) ---- */

/* Collects upload bytes and sends them as frames in batches. */
typedef struct {
	pt_conn *conn;
	uint8_t buf[STAGE_SIZE];
	size_t len;
	bool send_failed;
} stager;

static int
stage_flush(stager *s, pt_err *err)
{
	if (s->len == 0)
		return 0;
	if (pt_conn_send_chunks(s->conn, s->buf, s->len, UPLOAD_CHUNK,
	    err) != 0) {
		s->send_failed = true;
		return -1;
	}
	s->len = 0;
	return 0;
}

static int
stage_write(void *ctx, const uint8_t *p, size_t n, pt_err *err)
{
	stager *s = ctx;
	while (n > 0) {
		size_t k = sizeof(s->buf) - s->len;
		if (k > n)
			k = n;
		memcpy(s->buf + s->len, p, k);
		s->len += k;
		p += k;
		n -= k;
		if (s->len == sizeof(s->buf) && stage_flush(s, err) != 0)
			return -1;
	}
	return 0;
}

typedef enum { UP_DONE, UP_ANSWERED, UP_SEND_FAILED, UP_INPUT_FAILED } up_end;

/* Streams the file as the upload: raw, or one zlib stream. Stops early
 * when the daemon answers before the end (it refuses at once a device
 * that is missing or in use). */
static up_end
stream_file(const pt_client *c, const pt_name *name, pt_conn *conn, int fd,
    uint64_t size, bool compress, pt_err *err)
{
	/* Static: 64 KiB is a lot for the stack next to `in`, and the client
	 * runs one upload at a time. */
	static stager st;
	uint8_t in[STAGE_SIZE];
	pt_zpipe zp;
	progress pr;
	up_end end = UP_DONE;

	memset(&st, 0, sizeof(st));
	st.conn = conn;
	if (compress && pt_zpipe_deflate_init(&zp, Z_DEFAULT_COMPRESSION,
	    stage_write, &st, err) != 0)
		return UP_INPUT_FAILED;
	progress_init(&pr, c, name->text, size);
	for (;;) {
		if (pt_conn_readable(conn)) {
			end = UP_ANSWERED;
			break;
		}
		long r = pt_input_read(fd, in, sizeof(in), err);
		if (r < 0) {
			end = UP_INPUT_FAILED;
			break;
		}
		if (r == 0)
			break;
		int w = compress ? pt_zpipe_feed(&zp, in, (size_t)r, err) :
		    stage_write(&st, in, (size_t)r, err);
		if (w != 0) {
			end = st.send_failed ? UP_SEND_FAILED : UP_INPUT_FAILED;
			break;
		}
		progress_add(&pr, (uint64_t)r);
	}
	if (end == UP_DONE && compress && pt_zpipe_finish(&zp, err) != 0)
		end = st.send_failed ? UP_SEND_FAILED : UP_INPUT_FAILED;
	if (end == UP_DONE && (stage_flush(&st, err) != 0 ||
	    pt_conn_send_end(conn, err) != 0))
		end = UP_SEND_FAILED;
	if (compress)
		pt_zpipe_free(&zp);
	progress_end(&pr);
	return end;
}

/* block set NAME from the file at path; prints the one reply. */
static int
upload(const pt_client *c, const pt_name *name, const char *path,
    bool compress)
{
	pt_command cmd = {.kind = PT_CMD_BLOCK_SET, .u.compressed = compress};
	pt_conn conn;
	pt_arena a = {0};
	pt_wire w;
	pt_err err;
	uint64_t size;
	int rc = 0;

	int fd = pt_input_open(path, &size, &err);
	if (fd < 0)
		return pt_usage(c, "%s", err.msg);
	int r = pt_request_start(c, PT_SOCK_VMMD, name, &cmd, &conn, &rc);
	if (r != 0) {
		close(fd);
		return r > 0 ? PT_EXIT_OK : rc;
	}
	up_end end = stream_file(c, name, &conn, fd, size, compress, &err);
	close(fd);
	if (end == UP_INPUT_FAILED) {
		/* Closing without the end marker makes petreld drop the
		 * upload; the device keeps its old content. */
		rc = pt_report(PT_EXIT_USAGE, path, "%s", err.msg);
	} else if (pt_request_read(c, &conn, name, &a, &w, &rc) > 0) {
		/* Also after a failed send: the daemon may have explained
		 * why it stopped reading. */
		rc = pt_out_reply(c, &w);
	} else if (rc == 0) {
		rc = pt_report(PT_EXIT_COMM, name->text, "%s",
		    end == UP_SEND_FAILED ? err.msg :
		    "connection closed without a reply");
	}
	pt_arena_free(&a);
	pt_conn_close(&conn);
	return rc;
}

static int
block_name(const pt_client *c, pt_name *name)
{
	if (pt_client_name(c, c->args.pos[0], name) != 0)
		return -1;
	if (!name->has_label) {
		pt_usage(c, "'%s' is a path, not a block device name",
		    name->text);
		return -1;
	}
	return 0;
}

/* ---- create-block ---- */

static const pt_cli_optspec create_opts[] = {
	{"data", 0, true, OPT_DATA, "FILE",
	    "initial content (at most SIZE_MB MB), uploaded after creation"},
	{"compress", 0, false, OPT_COMPRESS, NULL,
	    "upload the data zlib-compressed"},
	PT_ALBATROSS_LEVEL_OPT(OPT_COMPRESS),
	{NULL, 0, false, 0, NULL, NULL},
};

static int
run_create_block(pt_client *c)
{
	pt_name name;
	pt_command cmd = {.kind = PT_CMD_BLOCK_ADD};
	const pt_cli_optval *data = pt_cli_last(&c->args, OPT_DATA);
	int64_t level;
	pt_conn conn;
	pt_arena a = {0};
	pt_wire w;
	pt_err err;
	int rc = 0;

	if (block_name(c, &name) != 0)
		return PT_EXIT_USAGE;
	if (pt_cli_parse_int("size in MB", c->args.pos[1], 1, MAX_BLOCK_MB,
	    &cmd.u.size_mb, &err) != 0)
		return pt_usage(c, "%s", err.msg);
	if (pt_cli_compress_level(&c->args, OPT_COMPRESS, &level, &err) != 0)
		return pt_usage(c, "%s", err.msg);
	if (level > 0 && data == NULL)
		return pt_usage(c, "--compress needs --data");
	if (data != NULL) {
		/* Refuse data that cannot fit before creating anything. */
		uint64_t size;
		int fd = pt_input_open(data->val, &size, &err);
		if (fd < 0)
			return pt_usage(c, "%s", err.msg);
		close(fd);
		if (size > (uint64_t)cmd.u.size_mb << 20)
			return pt_usage(c, "%s (%llu bytes) exceeds the size "
			    "of the block device", data->val,
			    (unsigned long long)size);
	}
	int r = pt_request_start(c, PT_SOCK_VMMD, &name, &cmd, &conn, &rc);
	if (r < 0)
		return rc;
	if (r == 0) {
		if (pt_request_reply(c, &conn, &name, &a, &w, &rc) > 0) {
			/* In JSON mode a successful add is not printed when
			 * a set follows: one object on stdout, the last. */
			bool quiet = c->json && data != NULL &&
			    w.kind == PT_PAYLOAD_SUCCESS;
			if (!quiet)
				rc = pt_out_reply(c, &w);
		}
		pt_arena_free(&a);
		pt_conn_close(&conn);
	}
	if (rc != 0 || data == NULL)
		return rc;
	return upload(c, &name, data->val, level > 0);
}

const pt_client_cmd pt_cmd_create_block = {
	"create-block", "NAME SIZE_MB [--data FILE] [--compress]",
	"create a block device of SIZE_MB MB, optionally with content",
	create_opts, 2, 2, run_create_block,
};

/* ---- destroy-block ---- */

static int
run_destroy_block(pt_client *c)
{
	pt_name name;
	pt_command cmd = {.kind = PT_CMD_BLOCK_REMOVE};

	if (block_name(c, &name) != 0)
		return PT_EXIT_USAGE;
	return pt_request_simple(c, PT_SOCK_VMMD, &name, &cmd);
}

const pt_client_cmd pt_cmd_destroy_block = {
	"destroy-block", "NAME", "remove a block device and its data",
	no_opts, 1, 1, run_destroy_block,
};

/* ---- block ---- */

static int
run_block(pt_client *c)
{
	pt_name name;
	pt_command cmd = {.kind = PT_CMD_BLOCK_INFO};

	if (pt_client_name_arg(c, false, &name) != 0)
		return PT_EXIT_USAGE;
	return pt_request_simple(c, PT_SOCK_VMMD, &name, &cmd);
}

const pt_client_cmd pt_cmd_block = {
	"block", "[NAME|PATH]",
	"show block devices: one, or all below a path (default ':', all)",
	info_opts, 0, 1, run_block,
};

/* ---- set-block ---- */

static const pt_cli_optspec set_opts[] = {
	{"compress", 0, false, OPT_COMPRESS, NULL,
	    "upload the data zlib-compressed"},
	PT_ALBATROSS_LEVEL_OPT(OPT_COMPRESS),
	{NULL, 0, false, 0, NULL, NULL},
};

static int
run_set_block(pt_client *c)
{
	pt_name name;
	int64_t level;
	pt_err err;

	if (block_name(c, &name) != 0)
		return PT_EXIT_USAGE;
	if (pt_cli_compress_level(&c->args, OPT_COMPRESS, &level, &err) != 0)
		return pt_usage(c, "%s", err.msg);
	return upload(c, &name, c->args.pos[1], level > 0);
}

const pt_client_cmd pt_cmd_set_block = {
	"set-block", "NAME FILE [--compress]",
	"replace the content of a block device with FILE (streamed)",
	set_opts, 2, 2, run_set_block,
};

/* ---- dump-block (§8.5) ---- */

static const pt_cli_optspec dump_opts[] = {
	{"compress", 0, false, OPT_COMPRESS, NULL,
	    "transfer the data zlib-compressed (the file is written "
	    "uncompressed)"},
	PT_ALBATROSS_LEVEL_OPT(OPT_COMPRESS),
	{NULL, 0, false, 0, NULL, NULL},
};

/* The stream after the block-device-image reply: chunks, end, and a
 * failure only if reading the device failed. Returns 0 when the data is
 * complete in the file, else an exit code (reported). */
static int
receive_dump(const pt_client *c, const pt_name *name, pt_conn *conn,
    bool compressed, pt_outfile *f)
{
	pt_zpipe zp;
	pt_arena a = {0};
	pt_wire w;
	pt_err err;
	progress pr;
	bool ended = false;
	int rc = 0, r;

	if (compressed && pt_zpipe_inflate_init(&zp, MAX_DUMP_BYTES,
	    pt_outfile_write, f, &err) != 0)
		return pt_report(PT_EXIT_COMM, name->text, "%s", err.msg);
	progress_init(&pr, c, name->text, 0);
	while ((r = pt_request_read(c, conn, name, &a, &w, &rc)) > 0) {
		if (w.kind == PT_PAYLOAD_FAILURE) {
			rc = pt_out_reply(c, &w);
			break;
		}
		if (ended || w.kind != PT_PAYLOAD_DATA ||
		    (w.u.data.kind != PT_DATA_BLOCK_CHUNK &&
		    w.u.data.kind != PT_DATA_BLOCK_END)) {
			rc = pt_report(PT_EXIT_COMM, name->text,
			    "unexpected message in the block dump");
			break;
		}
		if (w.u.data.kind == PT_DATA_BLOCK_END) {
			ended = true;
			continue;
		}
		const pt_blob *ch = &w.u.data.u.chunk;
		int wr = compressed ? pt_zpipe_feed(&zp, ch->data, ch->len,
		    &err) : pt_outfile_write(f, ch->data, ch->len, &err);
		if (wr != 0) {
			rc = pt_report(f->failed ? PT_EXIT_USAGE :
			    PT_EXIT_COMM, f->failed ? f->path :
			    name->text, "%s", err.msg);
			break;
		}
		progress_add(&pr, ch->len);
	}
	progress_end(&pr);
	if (rc == 0 && !ended)
		rc = pt_report(PT_EXIT_COMM, name->text,
		    "connection closed before the end of the dump");
	if (rc == 0 && compressed && pt_zpipe_finish(&zp, &err) != 0)
		rc = pt_report(PT_EXIT_COMM, name->text, "%s", err.msg);
	if (compressed)
		pt_zpipe_free(&zp);
	pt_arena_free(&a);
	return rc;
}

static int
run_dump_block(pt_client *c)
{
	pt_name name;
	pt_command cmd = {.kind = PT_CMD_BLOCK_DUMP};
	char deffile[PT_NAME_TEXT_MAX + 8];
	const char *file;
	pt_conn conn;
	pt_arena a = {0};
	pt_wire w;
	pt_err err;
	pt_outfile f = {.fd = -1};
	int rc = 0;

	if (block_name(c, &name) != 0)
		return PT_EXIT_USAGE;
	if (c->args.npos > 1) {
		file = c->args.pos[1];
	} else {
		if (pt_cli_default_file(&name, ".img", deffile,
		    sizeof(deffile), &err) != 0)
			return pt_usage(c, "%s", err.msg);
		file = deffile;
	}
	if (pt_cli_compress_level(&c->args, OPT_COMPRESS, &cmd.u.level,
	    &err) != 0)
		return pt_usage(c, "%s", err.msg);
	int r = pt_request_start(c, PT_SOCK_VMMD, &name, &cmd, &conn, &rc);
	if (r != 0)
		return r > 0 ? PT_EXIT_OK : rc;
	if (pt_request_reply(c, &conn, &name, &a, &w, &rc) > 0) {
		if (w.kind != PT_PAYLOAD_SUCCESS ||
		    w.u.success.kind != PT_OK_BLOCK_IMAGE) {
			rc = pt_out_reply(c, &w);
			if (rc == PT_EXIT_OK)
				rc = pt_report(PT_EXIT_COMM, name.text,
				    "unexpected reply to block dump");
		} else if (pt_outfile_open(&f, file, &err) != 0) {
			rc = pt_report(PT_EXIT_USAGE, file, "%s", err.msg);
		} else {
			bool compressed = w.u.success.u.compressed;
			rc = receive_dump(c, &name, &conn, compressed, &f);
			if (rc == 0 && pt_outfile_commit(&f, &err) != 0)
				rc = pt_report(PT_EXIT_USAGE, file, "%s",
				    err.msg);
			pt_outfile_abort(&f);
		}
	}
	pt_arena_free(&a);
	pt_conn_close(&conn);
	if (rc == 0) {
		char msg[PATH_MAX + 64];
		snprintf(msg, sizeof(msg), "wrote the block device to %s",
		    file);
		rc = pt_out_client_success(c, "block-device-image", msg, file,
		    f.written);
	}
	return rc;
}

const pt_client_cmd pt_cmd_dump_block = {
	"dump-block", "NAME [FILE] [--compress]",
	"download the content of a block device into FILE (default "
	"NAME.img)",
	dump_opts, 1, 2, run_dump_block,
};
