/*
 * Unikernel commands: create, destroy, restart, info, get
 * (albatross-wire.md §6.1, §6.3, §6.5, §8.2).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "files.h"
#include "solo5.h"
#include "zpipe.h"

enum {
	OPT_MEM = 1,
	OPT_CPU,
	OPT_ARG,
	OPT_BLOCK,
	OPT_NET,
	OPT_RESTART_ON_FAIL,
	OPT_EXIT_CODE,
	OPT_STARTUP,
	OPT_NO_ADD_NAME,
	OPT_FORCE,
	OPT_COMPRESS,
	OPT_REPLACE_ARGS,
};

#define DEFAULT_MEMORY_MB 32
#define MAX_MEMORY_MB ((int64_t)1 << 40)
#define MAX_CPU_ID 65535

/* ---- create ---- */

static const pt_cli_optspec create_opts[] = {
	{"mem", 0, true, OPT_MEM, "MB", "memory in MB (default 32)"},
	{"cpu", 0, true, OPT_CPU, "ID",
	    "CPU to pin to (repeatable; default 0)"},
	{"arg", 0, true, OPT_ARG, "ARG",
	    "argument for the unikernel (repeatable, in order)"},
	{"block", 0, true, OPT_BLOCK, "NAME[:DEVICE][@SECTOR]",
	    "block device NAME of the manifest, backed by block device "
	    "DEVICE (default NAME), sector size SECTOR (repeatable)"},
	{"net", 0, true, OPT_NET, "[NAME:]BRIDGE[@MAC]",
	    "network NAME of the manifest (default BRIDGE) on bridge BRIDGE, "
	    "with this MAC (repeatable)"},
	{"restart-on-fail", 0, false, OPT_RESTART_ON_FAIL, NULL,
	    "restart the unikernel when it exits"},
	{"exit-code", 0, true, OPT_EXIT_CODE, "N",
	    "restart only on these exit codes (repeatable; implies "
	    "--restart-on-fail)"},
	{"startup", 0, true, OPT_STARTUP, "N",
	    "start priority at petreld start, lower first (default 50)"},
	{"no-add-name", 0, false, OPT_NO_ADD_NAME, NULL,
	    "do not pass --name=LABEL to the unikernel"},
	{"force", 'f', false, OPT_FORCE, NULL,
	    "replace a running unikernel of that name"},
	{"compress", 0, false, OPT_COMPRESS, NULL,
	    "send the image zlib-compressed"},
	/* albatross-client's spellings (client.h) */
	{"restart", 0, false, OPT_RESTART_ON_FAIL, NULL, NULL},
	PT_ALBATROSS_LEVEL_OPT(OPT_COMPRESS),
	{NULL, 0, false, 0, NULL, NULL},
};

/* Collects every value of a repeatable integer option. */
static int
collect_ints(const pt_client *c, int id, const char *what, int64_t min,
    int64_t max, pt_arena *a, int64_t **out, size_t *n)
{
	size_t count = pt_cli_count(&c->args, id), k = 0;
	pt_err err;

	*out = NULL;
	*n = 0;
	if (count == 0)
		return 0;
	*out = pt_arena_calloc(a, count, sizeof(**out));
	if (*out == NULL)
		return pt_report(PT_EXIT_COMM, NULL, "out of memory");
	for (size_t i = 0; i < c->args.nopts; i++) {
		if (c->args.opts[i].id != id)
			continue;
		if (pt_cli_parse_int(what, c->args.opts[i].val, min, max,
		    &(*out)[k++], &err) != 0)
			return pt_usage(c, "%s", err.msg);
	}
	*n = count;
	pt_sort_int64_unique(*out, n);
	return 0;
}

static int
collect_argv(const pt_client *c, pt_arena *a, pt_text **argv, size_t *argc)
{
	size_t count = pt_cli_count(&c->args, OPT_ARG), k = 0;

	*argv = NULL;
	*argc = 0;
	if (count == 0)
		return 0;
	*argv = pt_arena_calloc(a, count, sizeof(**argv));
	if (*argv == NULL)
		return pt_report(PT_EXIT_COMM, NULL, "out of memory");
	for (size_t i = 0; i < c->args.nopts; i++) {
		if (c->args.opts[i].id != OPT_ARG)
			continue;
		(*argv)[k].s = c->args.opts[i].val;
		(*argv)[k].len = strlen(c->args.opts[i].val);
		k++;
	}
	*argc = count;
	return 0;
}

static bool
same_text(const pt_text *a, const pt_text *b)
{
	return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
}

static int
collect_devices(const pt_client *c, pt_arena *a, pt_ukconfig *cfg)
{
	size_t nb = pt_cli_count(&c->args, OPT_BLOCK);
	size_t nn = pt_cli_count(&c->args, OPT_NET);
	pt_err err;

	cfg->blocks = nb > 0 ? pt_arena_calloc(a, nb, sizeof(*cfg->blocks)) :
	    NULL;
	cfg->nets = nn > 0 ? pt_arena_calloc(a, nn, sizeof(*cfg->nets)) : NULL;
	if ((nb > 0 && cfg->blocks == NULL) || (nn > 0 && cfg->nets == NULL))
		return pt_report(PT_EXIT_COMM, NULL, "out of memory");
	for (size_t i = 0; i < c->args.nopts; i++) {
		const pt_cli_optval *o = &c->args.opts[i];
		int r = 0;
		if (o->id == OPT_BLOCK)
			r = pt_cli_parse_block(o->val, a,
			    &cfg->blocks[cfg->nblocks++], &err);
		else if (o->id == OPT_NET)
			r = pt_cli_parse_net(o->val, a, &cfg->nets[cfg->nnets++],
			    &err);
		if (r != 0)
			return pt_usage(c, "%s", err.msg);
	}
	/* The manifest names are sets (albatross-client refuses the same). */
	for (size_t i = 0; i < cfg->nblocks; i++)
		for (size_t j = i + 1; j < cfg->nblocks; j++)
			if (same_text(&cfg->blocks[i].name, &cfg->blocks[j].name))
				return pt_usage(c, "block device '%s' given "
				    "twice", cfg->blocks[i].name.s);
	for (size_t i = 0; i < cfg->nnets; i++)
		for (size_t j = i + 1; j < cfg->nnets; j++)
			if (same_text(&cfg->nets[i].name, &cfg->nets[j].name))
				return pt_usage(c, "network '%s' given twice",
				    cfg->nets[i].name.s);
	return 0;
}

/* The configuration fields shared by create and restart: everything
 * except typ, compressed and image. */
static int
config_from_options(const pt_client *c, pt_arena *a, pt_ukconfig *cfg)
{
	const pt_cli_optval *o;
	pt_err err;
	int rc;

	cfg->memory = DEFAULT_MEMORY_MB;
	if ((o = pt_cli_last(&c->args, OPT_MEM)) != NULL &&
	    pt_cli_parse_int("memory", o->val, 1, MAX_MEMORY_MB, &cfg->memory,
	    &err) != 0)
		return pt_usage(c, "%s", err.msg);
	if ((o = pt_cli_last(&c->args, OPT_STARTUP)) != NULL) {
		if (pt_cli_parse_int("startup", o->val, INT32_MIN, INT32_MAX,
		    &cfg->startup, &err) != 0)
			return pt_usage(c, "%s", err.msg);
		cfg->has_startup = true;
	}
	if ((rc = collect_ints(c, OPT_CPU, "CPU id", 0, MAX_CPU_ID, a,
	    &cfg->cpuids, &cfg->ncpuids)) != 0)
		return rc;
	if (cfg->ncpuids == 0) {
		static int64_t cpu0[1] = {0};
		cfg->cpuids = cpu0;
		cfg->ncpuids = 1;
	}
	if ((rc = collect_ints(c, OPT_EXIT_CODE, "exit code", 0, 255, a,
	    &cfg->fail.codes, &cfg->fail.ncodes)) != 0)
		return rc;
	cfg->fail.restart = cfg->fail.ncodes > 0 ||
	    pt_cli_last(&c->args, OPT_RESTART_ON_FAIL) != NULL;
	cfg->add_name = pt_cli_last(&c->args, OPT_NO_ADD_NAME) == NULL;
	if ((rc = collect_argv(c, a, &cfg->argv, &cfg->argc)) != 0)
		return rc;
	cfg->has_argv = cfg->argc > 0;
	cfg->cpus = 1;
	return collect_devices(c, a, cfg);
}

static int
run_create(pt_client *c)
{
	pt_name name;
	pt_command cmd;
	pt_arena a = {0};
	pt_buf image = {0};
	pt_err err;
	int rc;

	if (pt_client_name(c, c->args.pos[0], &name) != 0)
		return PT_EXIT_USAGE;
	if (!name.has_label)
		return pt_usage(c, "'%s' is a path, not a unikernel name",
		    name.text);
	memset(&cmd, 0, sizeof(cmd));
	cmd.kind = pt_cli_last(&c->args, OPT_FORCE) != NULL ?
	    PT_CMD_UK_FORCE_CREATE : PT_CMD_UK_CREATE;
	pt_ukconfig *cfg = &cmd.u.config;
	if ((rc = config_from_options(c, &a, cfg)) != 0)
		goto out;
	cfg->typ = PT_TYP_SOLO5;
	int64_t level;
	if (pt_cli_compress_level(&c->args, OPT_COMPRESS, &level, &err) != 0) {
		rc = pt_usage(c, "%s", err.msg);
		goto out;
	}
	cfg->compressed = level > 0;
	if (pt_input_slurp(c->args.pos[1], PT_CLIENT_MAX_IMAGE,
	    cfg->compressed, &image, &err) != 0) {
		rc = pt_usage(c, "cannot read the image: %s", err.msg);
		goto out;
	}
	cfg->image.data = image.data;
	cfg->image.len = image.len;
	rc = pt_request_simple(c, PT_SOCK_VMMD, &name, &cmd);
out:
	pt_buf_free(&image);
	pt_arena_free(&a);
	return rc;
}

const pt_client_cmd pt_cmd_create = {
	"create", "NAME IMAGE [OPTIONS]",
	"create a unikernel from a Solo5 image file",
	create_opts, 2, 2, run_create,
};

/* ---- destroy ---- */

static const pt_cli_optspec no_opts[] = {
	{NULL, 0, false, 0, NULL, NULL},
};

static const pt_cli_optspec info_opts[] = {
	PT_ALBATROSS_NAME_OPT,
	{NULL, 0, false, 0, NULL, NULL},
};

static int
run_destroy(pt_client *c)
{
	pt_name name;
	pt_command cmd = {.kind = PT_CMD_UK_DESTROY};

	if (pt_client_name(c, c->args.pos[0], &name) != 0)
		return PT_EXIT_USAGE;
	return pt_request_simple(c, PT_SOCK_VMMD, &name, &cmd);
}

const pt_client_cmd pt_cmd_destroy = {
	"destroy", "NAME", "destroy a unikernel",
	no_opts, 1, 1, run_destroy,
};

/* ---- restart ---- */

static const pt_cli_optspec restart_opts[] = {
	{"replace-arguments", 0, false, OPT_REPLACE_ARGS, NULL,
	    "restart with the given --arg's instead of the stored arguments "
	    "(the other settings are kept as `info` reports them)"},
	{"arg", 0, true, OPT_ARG, "ARG",
	    "new argument (repeatable; with --replace-arguments)"},
	{NULL, 0, false, 0, NULL, NULL},
};

static int
copy_text(pt_arena *a, const pt_text *in, pt_text *out)
{
	char *s = pt_arena_strndup(a, in->s, in->len);
	if (s == NULL)
		return -1;
	out->s = s;
	out->len = in->len;
	return 0;
}

/* RestartArguments from what `info` reports. Fields that equal their
 * defaults are left out, so the stored configuration keeps its shape. */
static int
restart_args_from_info(const pt_name *name, const pt_ukinfo *u, pt_arena *a,
    pt_ukconfig *cfg)
{
	cfg->fail = u->fail;
	cfg->has_startup = u->has_startup;
	cfg->startup = u->startup;
	/* `info` does not report add-name; albatross's default is on. */
	cfg->add_name = true;
	cfg->cpuids = u->cpuids;
	cfg->ncpuids = u->ncpuids;
	cfg->memory = u->memory;
	cfg->cpus = u->cpus;
	cfg->has_boot_partition = u->has_boot_partition;
	cfg->boot_partition = u->boot_partition;
	cfg->blocks = pt_arena_calloc(a, u->nblocks + 1, sizeof(*cfg->blocks));
	cfg->nets = pt_arena_calloc(a, u->nnets + 1, sizeof(*cfg->nets));
	if (cfg->blocks == NULL || cfg->nets == NULL)
		return -1;
	for (size_t i = 0; i < u->nblocks; i++) {
		const pt_blockinfo *b = &u->blocks[i];
		pt_blockspec *s = &cfg->blocks[cfg->nblocks++];
		if (copy_text(a, &b->unikernel_device, &s->name) != 0)
			return -1;
		if (!same_text(&b->unikernel_device, &b->host_device)) {
			s->has_device = true;
			if (copy_text(a, &b->host_device, &s->device) != 0)
				return -1;
		}
		s->has_sector_size = b->sector_size != 512;
		s->sector_size = b->sector_size;
	}
	for (size_t i = 0; i < u->nnets; i++) {
		const pt_netinfo *n = &u->nets[i];
		pt_netspec *s = &cfg->nets[cfg->nnets++];
		uint8_t mac[6];
		if (copy_text(a, &n->unikernel_device, &s->name) != 0)
			return -1;
		if (!same_text(&n->unikernel_device, &n->host_device)) {
			s->has_bridge = true;
			if (copy_text(a, &n->host_device, &s->bridge) != 0)
				return -1;
		}
		/* A MAC that is the derived default (A.3) stays implicit. */
		s->has_mac = pt_solo5_default_mac(n->unikernel_device.s,
		    n->unikernel_device.len, name, mac) != 0 ||
		    memcmp(mac, n->mac, 6) != 0;
		memcpy(s->mac, n->mac, 6);
	}
	return 0;
}

/* Asks `info NAME` and fills the restart arguments from it. */
static int
query_config(const pt_client *c, const pt_name *name, pt_arena *a,
    pt_ukconfig *cfg)
{
	pt_command q = {.kind = PT_CMD_UK_INFO};
	pt_conn conn;
	pt_arena qa = {0};
	pt_wire w;
	int rc = pt_request_query(c, name, &q, &conn, &qa, &w);

	if (rc == 0) {
		const pt_success *s = &w.u.success;
		if (s->kind != PT_OK_UNIKERNEL_INFO) {
			rc = pt_report(PT_EXIT_COMM, name->text,
			    "unexpected reply to info");
		} else if (s->u.infos.n == 0) {
			rc = pt_out_failure(c, name->text,
			    "restart: %s not found", name->text);
		} else if (restart_args_from_info(name, &s->u.infos.v[0].info,
		    a, cfg) != 0) {
			rc = pt_report(PT_EXIT_COMM, NULL, "out of memory");
		}
	}
	/* Everything kept from the reply was copied into a (the arrays of
	 * integers too, below), so the reply can go. */
	if (rc == 0) {
		int64_t *cpus = pt_arena_memdup(a, cfg->cpuids,
		    cfg->ncpuids * sizeof(*cpus));
		int64_t *codes = cfg->fail.ncodes == 0 ? NULL :
		    pt_arena_memdup(a, cfg->fail.codes,
		    cfg->fail.ncodes * sizeof(*codes));
		char *bp = !cfg->has_boot_partition ? NULL :
		    pt_arena_strndup(a, cfg->boot_partition.s,
		    cfg->boot_partition.len);
		if ((cfg->ncpuids > 0 && cpus == NULL) ||
		    (cfg->fail.ncodes > 0 && codes == NULL) ||
		    (cfg->has_boot_partition && bp == NULL))
			rc = pt_report(PT_EXIT_COMM, NULL, "out of memory");
		cfg->cpuids = cpus;
		cfg->fail.codes = codes;
		cfg->boot_partition.s = bp;
	}
	pt_conn_close(&conn);
	pt_arena_free(&qa);
	return rc;
}

static int
run_restart(pt_client *c)
{
	pt_name name;
	pt_command cmd = {.kind = PT_CMD_UK_RESTART};
	pt_arena a = {0};
	bool replace = pt_cli_last(&c->args, OPT_REPLACE_ARGS) != NULL;
	int rc;

	if (pt_client_name(c, c->args.pos[0], &name) != 0)
		return PT_EXIT_USAGE;
	if (!replace) {
		if (pt_cli_count(&c->args, OPT_ARG) > 0)
			return pt_usage(c, "--arg needs --replace-arguments");
		return pt_request_simple(c, PT_SOCK_VMMD, &name, &cmd);
	}
	if (!name.has_label)
		return pt_usage(c, "'%s' is a path, not a unikernel name",
		    name.text);
	pt_ukconfig *cfg = &cmd.u.restart.args;
	cmd.u.restart.has_args = true;
	rc = query_config(c, &name, &a, cfg);
	if (rc == 0)
		rc = collect_argv(c, &a, &cfg->argv, &cfg->argc);
	if (rc == 0) {
		cfg->has_argv = cfg->argc > 0;
		rc = pt_request_simple(c, PT_SOCK_VMMD, &name, &cmd);
	}
	pt_arena_free(&a);
	return rc;
}

const pt_client_cmd pt_cmd_restart = {
	"restart", "NAME [--replace-arguments] [--arg ARG]...",
	"restart a unikernel, optionally with new arguments",
	restart_opts, 1, 1, run_restart,
};

/* ---- info ---- */

static int
run_info(pt_client *c)
{
	pt_name name;
	pt_command cmd = {.kind = PT_CMD_UK_INFO};

	if (pt_client_name_arg(c, false, &name) != 0)
		return PT_EXIT_USAGE;
	return pt_request_simple(c, PT_SOCK_VMMD, &name, &cmd);
}

const pt_client_cmd pt_cmd_info = {
	"info", "[NAME|PATH]",
	"show unikernels: one, or all below a path (default ':', all)",
	info_opts, 0, 1, run_info,
};

/* ---- get ---- */

static const pt_cli_optspec get_opts[] = {
	{"compress", 0, false, OPT_COMPRESS, NULL,
	    "transfer the image zlib-compressed (the file is written "
	    "uncompressed)"},
	PT_ALBATROSS_LEVEL_OPT(OPT_COMPRESS),
	{NULL, 0, false, 0, NULL, NULL},
};

/* Writes the image (inflating it if it came compressed) to path.
 * Returns 0, or an exit code: 2 for a file we cannot write, 3 for image
 * data from the daemon that does not inflate. */
static int
write_image(const pt_image *img, const char *path, uint64_t *size)
{
	pt_outfile f;
	pt_zpipe zp;
	pt_err err;
	int rc = 0;

	if (!img->compressed && img->data.len > PT_CLIENT_MAX_IMAGE)
		return pt_report(PT_EXIT_COMM, path, "image too large");
	if (pt_outfile_open(&f, path, &err) != 0)
		return pt_report(PT_EXIT_USAGE, path, "%s", err.msg);
	if (!img->compressed) {
		if (pt_outfile_write(&f, img->data.data, img->data.len,
		    &err) != 0)
			rc = PT_EXIT_USAGE;
	} else if (pt_zpipe_inflate_init(&zp, PT_CLIENT_MAX_IMAGE,
	    pt_outfile_write, &f, &err) != 0) {
		rc = PT_EXIT_COMM;
	} else {
		if (pt_zpipe_feed(&zp, img->data.data, img->data.len,
		    &err) != 0 || pt_zpipe_finish(&zp, &err) != 0) {
			rc = f.failed ? PT_EXIT_USAGE : PT_EXIT_COMM;
			if (rc == PT_EXIT_COMM)
				pt_fail_prefix(&err, "the compressed image");
		}
		pt_zpipe_free(&zp);
	}
	if (rc == 0 && pt_outfile_commit(&f, &err) != 0)
		rc = PT_EXIT_USAGE;
	if (rc != 0) {
		pt_outfile_abort(&f);
		return pt_report(rc, path, "%s", err.msg);
	}
	*size = f.written;
	return 0;
}

static int
run_get(pt_client *c)
{
	pt_name name;
	pt_command cmd = {.kind = PT_CMD_UK_GET};
	char deffile[PT_NAME_TEXT_MAX + 8];
	const char *file;
	pt_conn conn;
	pt_arena a = {0};
	pt_wire w;
	pt_err err;
	uint64_t size = 0;
	int rc = 0;

	if (pt_client_name(c, c->args.pos[0], &name) != 0)
		return PT_EXIT_USAGE;
	if (!name.has_label)
		return pt_usage(c, "'%s' is a path, not a unikernel name",
		    name.text);
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
		    w.u.success.kind != PT_OK_UNIKERNEL_IMAGE) {
			rc = pt_out_reply(c, &w);
			if (rc == PT_EXIT_OK)
				rc = pt_report(PT_EXIT_COMM, name.text,
				    "unexpected reply to get");
		} else {
			rc = write_image(&w.u.success.u.image, file, &size);
		}
	}
	pt_arena_free(&a);
	pt_conn_close(&conn);
	if (rc == 0) {
		char msg[PATH_MAX + 64];
		snprintf(msg, sizeof(msg), "wrote the image to %s", file);
		rc = pt_out_client_success(c, "unikernel-image", msg, file,
		    size);
	}
	return rc;
}

const pt_client_cmd pt_cmd_get = {
	"get", "NAME [FILE] [--compress]",
	"download the image of a unikernel into FILE (default NAME.img)",
	get_opts, 1, 2, run_get,
};
