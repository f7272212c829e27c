/*
 * The per-path totals of the Prometheus endpoint set usage against the
 * policies' limits. petrel-stats learns both from petreld, as any client
 * would: each round (when Prometheus is on) it asks `policy info` and
 * `unikernel info` for ":" on two short connections to vmmd.sock, and
 * keeps the last complete answer. Nothing waits for them; a petreld that
 * does not answer only leaves the totals as they were.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "statsd.h"

#define QUERY_MAX_FRAME (16u * 1024 * 1024)
#define MAX_PATHS 100000

typedef struct {
	st_policies *P;
	pt_fconn *c;
	bool policies;             /* policy info, else unikernel info */
} query;

typedef struct {
	pt_name name;
	int64_t memory;
	size_t ncpuids;
	int64_t cpuids[8];         /* the first ones: enough to count */
} uk_conf;

struct st_policies {
	st_daemon *d;
	query *q[2];
	/* The answers of the round in progress. */
	pt_sm_path *pol;
	size_t npol;
	uk_conf *uks;
	size_t nuks;
	bool have_pol, have_uks;
	/* The last complete view. */
	pt_sm_path *view;
	size_t nview;
};

static void
query_free(query *q)
{
	if (q == NULL)
		return;
	q->P->q[q->policies ? 0 : 1] = NULL;
	pt_fconn_free(q->c);
	free(q);
}

static bool
has_cpu(const int64_t *v, size_t n, int64_t c)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == c)
			return true;
	return false;
}

/* Both answers are in: the totals below every policy's path (and ":"). */
static void
combine(st_policies *P)
{
	for (size_t p = 0; p < P->npol; p++) {
		pt_sm_path *S = &P->pol[p];
		int64_t seen[256];
		size_t nseen = 0;
		for (size_t i = 0; i < P->nuks; i++) {
			const uk_conf *u = &P->uks[i];
			if (!pt_sm_covers(&S->path, &u->name))
				continue;
			S->unikernels++;
			S->memory_mb += u->memory;
			for (size_t k = 0; k < u->ncpuids; k++)
				if (nseen < 256 && !has_cpu(seen, nseen,
				    u->cpuids[k]))
					seen[nseen++] = u->cpuids[k];
		}
		S->cpus = (int64_t)nseen;
	}
	free(P->view);
	P->view = P->pol;
	P->nview = P->npol;
	P->pol = NULL;
	P->npol = 0;
	free(P->uks);
	P->uks = NULL;
	P->nuks = 0;
	P->have_pol = P->have_uks = false;
}

static void
take_policies(st_policies *P, const pt_success *s)
{
	size_t n = s->u.policies.n;
	bool root = false;
	for (size_t i = 0; i < n; i++)
		root |= pt_name_is_root(&s->u.policies.v[i].name);
	if (n + 1 > MAX_PATHS)
		return;
	free(P->pol);
	P->pol = calloc(n + 1, sizeof(*P->pol));
	if (P->pol == NULL)
		return;
	P->npol = 0;
	if (!root)
		pt_name_root(&P->pol[P->npol++].path);
	for (size_t i = 0; i < n; i++) {
		pt_sm_path *S = &P->pol[P->npol++];
		S->path = s->u.policies.v[i].name;
		S->has_policy = true;
		S->policy.unikernels = s->u.policies.v[i].policy.unikernels;
		S->policy.memory = s->u.policies.v[i].policy.memory;
		S->policy.ncpuids = s->u.policies.v[i].policy.ncpuids;
	}
	P->have_pol = true;
}

static void
take_infos(st_policies *P, const pt_success *s)
{
	size_t n = s->u.infos.n;
	free(P->uks);
	P->uks = calloc(n ? n : 1, sizeof(*P->uks));
	if (P->uks == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		uk_conf *u = &P->uks[i];
		const pt_ukinfo *in = &s->u.infos.v[i].info;
		u->name = s->u.infos.v[i].name;
		u->memory = in->memory;
		for (size_t k = 0; k < in->ncpuids && k < 8; k++)
			u->cpuids[u->ncpuids++] = in->cpuids[k];
	}
	P->nuks = n;
	P->have_uks = true;
}

static void
on_frame(pt_fconn *c, const uint8_t *body, size_t len, void *ctx)
{
	(void)c;
	query *q = ctx;
	st_policies *P = q->P;
	pt_arena a = {.limit = QUERY_MAX_FRAME * 4};
	pt_wire w;
	if (pt_wire_decode(body, len, &a, &w, NULL) == 0 &&
	    w.kind == PT_PAYLOAD_SUCCESS) {
		if (q->policies && w.u.success.kind == PT_OK_POLICIES)
			take_policies(P, &w.u.success);
		else if (!q->policies &&
		    w.u.success.kind == PT_OK_UNIKERNEL_INFO)
			take_infos(P, &w.u.success);
		if (P->have_pol && P->have_uks)
			combine(P);
	}
	pt_arena_free(&a);
	query_free(q);
}

static void
on_closed(pt_fconn *c, const char *why, void *ctx)
{
	(void)c;
	(void)why;
	query_free(ctx);
}

static const pt_fconn_ops query_ops = {
	.frame = on_frame,
	.closed = on_closed,
};

static void
ask(st_policies *P, bool policies)
{
	if (P->q[policies ? 0 : 1] != NULL)
		return;  /* the last one is still out */
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(P->d->vmmd_sock) >= sizeof(sa.sun_path))
		return;
	strcpy(sa.sun_path, P->d->vmmd_sock);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (fd < 0)
		return;
	if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return;
	}
	query *q = calloc(1, sizeof(*q));
	if (q == NULL) {
		close(fd);
		return;
	}
	q->P = P;
	q->policies = policies;
	q->c = pt_fconn_new(P->d->base, fd, QUERY_MAX_FRAME, 64 * 1024,
	    &query_ops, q);
	if (q->c == NULL) {
		close(fd);
		free(q);
		return;
	}
	P->q[policies ? 0 : 1] = q;
	pt_wire w = {.kind = PT_PAYLOAD_COMMAND};
	pt_name root;
	pt_name_root(&root);
	pt_header_init(&w.header, 0, &root);
	w.u.command.kind = policies ? PT_CMD_POLICY_INFO : PT_CMD_UK_INFO;
	if (pt_fconn_send_wire(q->c, &w) < 0)
		query_free(q);
}

int
st_policies_start(st_daemon *d, pt_err *err)
{
	st_policies *P = calloc(1, sizeof(*P));
	if (P == NULL)
		return pt_fail(err, "out of memory");
	P->d = d;
	d->policies = P;
	return 0;
}

void
st_policies_refresh(st_daemon *d)
{
	st_policies *P = d->policies;
	if (P == NULL || d->prom == NULL)
		return;
	ask(P, true);
	ask(P, false);
}

void
st_policies_view(st_daemon *d, const pt_sm_path **v, size_t *n)
{
	st_policies *P = d->policies;
	*v = P != NULL ? P->view : NULL;
	*n = P != NULL ? P->nview : 0;
}

void
st_policies_stop(st_daemon *d)
{
	st_policies *P = d->policies;
	if (P == NULL)
		return;
	query_free(P->q[0]);
	query_free(P->q[1]);
	free(P->pol);
	free(P->uks);
	free(P->view);
	free(P);
	d->policies = NULL;
}
