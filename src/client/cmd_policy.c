/*
 * Policy commands: policy (info), add-policy, replace-policy,
 * remove-policy (albatross-wire.md §6.2, §8.2, A.5).
 */
#include <string.h>

#include "client.h"

enum {
	OPT_UNIKERNELS = 1,
	OPT_MEM,
	OPT_CPU,
	OPT_BLOCK,
	OPT_BRIDGE,
};

#define MAX_CPU_ID 65535

static const pt_cli_optspec add_opts[] = {
	{"unikernels", 0, true, OPT_UNIKERNELS, "N",
	    "how many unikernels may run at and below PATH (required)"},
	{"mem", 0, true, OPT_MEM, "MB", "total memory in MB (required)"},
	{"cpu", 0, true, OPT_CPU, "ID",
	    "CPU id the unikernels may use (repeatable, at least one)"},
	{"block", 0, true, OPT_BLOCK, "MB",
	    "block storage in MB (default: none allowed)"},
	{"bridge", 0, true, OPT_BRIDGE, "NAME",
	    "bridge the unikernels may use (repeatable)"},
	/* albatross-client's spellings (client.h); its UNIKERNELS is the
	 * second positional argument (policy_from_options). */
	{"network", 0, true, OPT_BRIDGE, "NAME", NULL},
	{"size", 0, true, OPT_BLOCK, "MB", NULL},
	{NULL, 0, false, 0, NULL, NULL},
};

static const pt_cli_optspec path_opts[] = {
	PT_ALBATROSS_PATH_OPT,
	{NULL, 0, false, 0, NULL, NULL},
};

static int
required_int(const pt_client *c, int id, const char *opt, const char *what,
    int64_t min, int64_t *out)
{
	const pt_cli_optval *o = pt_cli_last(&c->args, id);
	pt_err err;

	if (o == NULL)
		return pt_usage(c, "--%s is required", opt);
	if (pt_cli_parse_int(what, o->val, min, INT64_MAX, out, &err) != 0)
		return pt_usage(c, "%s", err.msg);
	return 0;
}

/* The policy described by the options, checked the way albatross-client
 * checks it before sending (Policy.usable). */
static int
policy_from_options(const pt_client *c, pt_arena *a, pt_policy *p)
{
	const pt_cli_optval *o;
	size_t ncpu = pt_cli_count(&c->args, OPT_CPU);
	size_t nbr = pt_cli_count(&c->args, OPT_BRIDGE);
	pt_err err;
	int rc;

	memset(p, 0, sizeof(*p));
	if (c->args.npos == 2) {
		/* albatross-client: add-policy PATH UNIKERNELS */
		if (pt_cli_last(&c->args, OPT_UNIKERNELS) != NULL)
			return pt_usage(c, "the number of unikernels is given "
			    "twice (UNIKERNELS and --unikernels)");
		if (pt_cli_parse_int("number of unikernels", c->args.pos[1],
		    0, INT64_MAX, &p->unikernels, &err) != 0)
			return pt_usage(c, "%s", err.msg);
	} else if ((rc = required_int(c, OPT_UNIKERNELS, "unikernels",
	    "number of unikernels", 0, &p->unikernels)) != 0)
		return rc;
	if ((rc = required_int(c, OPT_MEM, "mem", "memory", 0,
	    &p->memory)) != 0)
		return rc;
	if ((o = pt_cli_last(&c->args, OPT_BLOCK)) != NULL) {
		if (pt_cli_parse_int("block size", o->val, 0, INT64_MAX,
		    &p->block, &err) != 0)
			return pt_usage(c, "%s", err.msg);
		p->has_block = true;
	}
	p->cpuids = pt_arena_calloc(a, ncpu + 1, sizeof(*p->cpuids));
	p->bridges = pt_arena_calloc(a, nbr + 1, sizeof(*p->bridges));
	if (p->cpuids == NULL || p->bridges == NULL)
		return pt_report(PT_EXIT_COMM, NULL, "out of memory");
	for (size_t i = 0; i < c->args.nopts; i++) {
		o = &c->args.opts[i];
		if (o->id == OPT_CPU) {
			if (pt_cli_parse_int("CPU id", o->val, 0, MAX_CPU_ID,
			    &p->cpuids[p->ncpuids++], &err) != 0)
				return pt_usage(c, "%s", err.msg);
		} else if (o->id == OPT_BRIDGE) {
			if (!pt_cli_devname_valid(o->val, strlen(o->val)))
				return pt_usage(c, "invalid bridge name '%s'",
				    o->val);
			p->bridges[p->nbridges].s = o->val;
			p->bridges[p->nbridges++].len = strlen(o->val);
		}
	}
	pt_policy_normalise(p);
	if (pt_policy_usable(p, &err) != 0)
		return pt_usage(c, "unusable policy: %s", err.msg);
	return 0;
}

/* ---- policy ---- */

static int
run_policy(pt_client *c)
{
	pt_name path;
	pt_command cmd = {.kind = PT_CMD_POLICY_INFO};

	if (pt_client_name_arg(c, true, &path) != 0)
		return PT_EXIT_USAGE;
	return pt_request_simple(c, PT_SOCK_VMMD, &path, &cmd);
}

const pt_client_cmd pt_cmd_policy = {
	"policy", "[PATH]",
	"show the policies at and below PATH (default ':', all)",
	path_opts, 0, 1, run_policy,
};

/* ---- add-policy, replace-policy ---- */

/* Does PATH have a policy of its own? Asks petreld (policy info reports
 * the policy of the path itself as ':'). Returns 0 if it has, else an
 * exit code after reporting. */
static int
check_policy_exists(const pt_client *c, const pt_name *path)
{
	pt_command q = {.kind = PT_CMD_POLICY_INFO};
	pt_conn conn;
	pt_arena a = {0};
	pt_wire w;
	int rc = pt_request_query(c, path, &q, &conn, &a, &w);

	if (rc == 0) {
		const pt_success *s = &w.u.success;
		bool found = false;
		if (s->kind != PT_OK_POLICIES) {
			rc = pt_report(PT_EXIT_COMM, path->text,
			    "unexpected reply to policy info");
		} else {
			for (size_t i = 0; i < s->u.policies.n; i++)
				found |= pt_name_is_root(
				    &s->u.policies.v[i].name);
			if (!found)
				rc = pt_out_failure(c, path->text,
				    "no policy at %s to replace", path->text);
		}
	}
	pt_conn_close(&conn);
	pt_arena_free(&a);
	return rc;
}

static int
add_or_replace(pt_client *c, bool replace)
{
	pt_name path;
	pt_command cmd = {.kind = PT_CMD_POLICY_ADD};
	pt_arena a = {0};
	int rc;

	if (pt_client_name_arg(c, true, &path) != 0)
		return PT_EXIT_USAGE;
	rc = policy_from_options(c, &a, &cmd.u.policy);
	/* With --socket=- there is no daemon to ask: the request is the same
	 * policy add either way. */
	if (rc == 0 && replace && !c->dry_run)
		rc = check_policy_exists(c, &path);
	if (rc == 0)
		rc = pt_request_simple(c, PT_SOCK_VMMD, &path, &cmd);
	pt_arena_free(&a);
	return rc;
}

static int
run_add_policy(pt_client *c)
{
	return add_or_replace(c, false);
}

static int
run_replace_policy(pt_client *c)
{
	return add_or_replace(c, true);
}

const pt_client_cmd pt_cmd_add_policy = {
	"add-policy",
	"PATH --unikernels N --mem MB --cpu ID... [--block MB] "
	"[--bridge NAME]...",
	"add (or change) the policy of PATH",
	add_opts, 1, 2, run_add_policy,
};

const pt_client_cmd pt_cmd_replace_policy = {
	"replace-policy",
	"PATH --unikernels N --mem MB --cpu ID... [--block MB] "
	"[--bridge NAME]...",
	"change the policy of PATH; fails if PATH has no policy yet",
	add_opts, 1, 2, run_replace_policy,
};

/* ---- remove-policy ---- */

static int
run_remove_policy(pt_client *c)
{
	pt_name path;
	pt_command cmd = {.kind = PT_CMD_POLICY_REMOVE};

	if (pt_client_name_arg(c, true, &path) != 0)
		return PT_EXIT_USAGE;
	return pt_request_simple(c, PT_SOCK_VMMD, &path, &cmd);
}

const pt_client_cmd pt_cmd_remove_policy = {
	"remove-policy", "PATH", "remove the policy of PATH",
	path_opts, 1, 1, run_remove_policy,
};
