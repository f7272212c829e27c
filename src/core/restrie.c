/*
 * The resource trie (restrie.h).
 *
 * Layout: one node per label, keyed by ALL labels of a name, like
 * albatross's trie. The node reached by the labels of a path holds the
 * policy of that path; the node reached by path + label holds the
 * unikernel and/or the block device of that name (separate slots, so a
 * unikernel, a block device and a path may share a name).
 *
 * Usage: every node keeps the usage of the entries whose PATH is at or
 * below the node's path (so unikernel "a:web" counts at ":" and "a:", not
 * at the node "a:web" itself). It is updated incrementally on every
 * insert/remove, walking from the entry's path node to the root: checks
 * then read it in O(depth).
 *
 * Children are kept in a sorted array (binary search), which also gives
 * the ascending order iteration needs. Nodes that hold nothing are
 * removed at once, so the trie never grows beyond what it stores.
 *
 * CPU ids and bridges in use below a node are reference-counted there
 * (policy changes must know whether any unikernel below uses them).
 * Bridge names are interned once per pt_res and shared.
 */
#include "restrie.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct atom {
	size_t refs;
	size_t len;
	char s[];
} atom;

typedef struct {
	int64_t cpu;
	int64_t n;
} cpu_ref;

typedef struct {
	atom *a;
	int64_t n;
} bridge_ref;

typedef struct {
	int64_t count;
	int64_t memory;
	int64_t block;
	size_t ncpus, capcpus;
	cpu_ref *cpus;      /* ascending cpu */
	size_t nbr, capbr;
	bridge_ref *br;     /* ascending atom address */
} usage;

typedef struct {
	void *data;
	int64_t memory;
	size_t ncpuids;
	int64_t *cpuids;    /* ascending, unique */
	size_t nbridges;
	atom **bridges;     /* unique; each holds a reference */
	size_t nblocks;
	char (*blocks)[PT_LABEL_MAX + 1]; /* lower-cased labels */
} uk_entry;

typedef struct node node;
struct node {
	node *parent;
	node **kids;        /* ascending label */
	size_t nkids, capkids;
	pt_policy *policy;  /* of the path ending in this node */
	uk_entry *uk;       /* the unikernel named by this node */
	bool has_blk;       /* the block device named by this node */
	bool blk_in_use;
	int64_t blk_size;
	usage use;
	unsigned char len;
	char label[PT_LABEL_MAX + 1];
};

struct pt_res {
	node root;
	atom **atoms;       /* ascending name */
	size_t natoms, capatoms;
};

/* ---------------------------------------------------------------- */
/* Small helpers                                                    */

static int
bytes_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	size_t m = an < bn ? an : bn;
	int c = m == 0 ? 0 : memcmp(a, b, m);
	if (c != 0)
		return c;
	return (an > bn) - (an < bn);
}

/* Grows *arr (of elements of size sz) so that it holds at least `need`. */
static int
grow(void **arr, size_t *cap, size_t need, size_t sz)
{
	if (need <= *cap)
		return 0;
	size_t ncap = *cap ? *cap : 4;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2 / sz)
			return -1;
		ncap *= 2;
	}
	void *p = realloc(*arr, ncap * sz);
	if (p == NULL)
		return -1;
	*arr = p;
	*cap = ncap;
	return 0;
}

/* The text of the first k path labels of n, e.g. k = 1 of "a:b:x" is
 * "a:". Points into n->text (or a static ":"). */
static const char *
path_text(const pt_name *n, size_t k, int *len)
{
	if (k == 0) {
		*len = 1;
		return ":";
	}
	*len = n->off[k - 1] + n->lablen[k - 1] + 1;
	return n->text;
}

static size_t
common_path(const pt_name *a, const pt_name *b)
{
	size_t k = 0;
	while (k < a->npath && k < b->npath && a->lablen[k] == b->lablen[k] &&
	    memcmp(a->text + a->off[k], b->text + b->off[k],
	    a->lablen[k]) == 0)
		k++;
	return k;
}

/* ---------------------------------------------------------------- */
/* Interned bridge names                                            */

static size_t
atom_pos(const pt_res *r, const char *s, size_t len, bool *found)
{
	size_t lo = 0, hi = r->natoms;
	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = bytes_cmp(r->atoms[mid]->s, r->atoms[mid]->len, s, len);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static atom *
atom_get(pt_res *r, const char *s, size_t len)
{
	bool found;
	size_t pos = atom_pos(r, s, len, &found);
	if (found) {
		r->atoms[pos]->refs++;
		return r->atoms[pos];
	}
	if (grow((void **)&r->atoms, &r->capatoms, r->natoms + 1,
	    sizeof(*r->atoms)) != 0 || len > SIZE_MAX - sizeof(atom) - 1)
		return NULL;
	atom *a = malloc(sizeof(atom) + len + 1);
	if (a == NULL)
		return NULL;
	a->refs = 1;
	a->len = len;
	if (len)
		memcpy(a->s, s, len);
	a->s[len] = '\0';
	memmove(r->atoms + pos + 1, r->atoms + pos,
	    (r->natoms - pos) * sizeof(*r->atoms));
	r->atoms[pos] = a;
	r->natoms++;
	return a;
}

static void
atom_put(pt_res *r, atom *a)
{
	if (--a->refs > 0)
		return;
	bool found;
	size_t pos = atom_pos(r, a->s, a->len, &found);
	if (found) {
		memmove(r->atoms + pos, r->atoms + pos + 1,
		    (r->natoms - pos - 1) * sizeof(*r->atoms));
		r->natoms--;
	}
	free(a);
}

/* ---------------------------------------------------------------- */
/* Usage reference counts                                           */

static int
usage_reserve(usage *u, size_t ncpus, size_t nbr)
{
	if (grow((void **)&u->cpus, &u->capcpus, u->ncpus + ncpus,
	    sizeof(*u->cpus)) != 0)
		return -1;
	return grow((void **)&u->br, &u->capbr, u->nbr + nbr, sizeof(*u->br));
}

static size_t
cpu_pos(const usage *u, int64_t cpu, bool *found)
{
	size_t lo = 0, hi = u->ncpus;
	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (u->cpus[mid].cpu == cpu) {
			*found = true;
			return mid;
		}
		if (u->cpus[mid].cpu < cpu)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static size_t
br_pos(const usage *u, const atom *a, bool *found)
{
	size_t lo = 0, hi = u->nbr;
	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (u->br[mid].a == a) {
			*found = true;
			return mid;
		}
		if ((uintptr_t)u->br[mid].a < (uintptr_t)a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Capacity was reserved by usage_reserve: this cannot fail. */
static void
usage_add_cpu(usage *u, int64_t cpu)
{
	bool found;
	size_t pos = cpu_pos(u, cpu, &found);
	if (found) {
		u->cpus[pos].n++;
		return;
	}
	memmove(u->cpus + pos + 1, u->cpus + pos,
	    (u->ncpus - pos) * sizeof(*u->cpus));
	u->cpus[pos] = (cpu_ref){cpu, 1};
	u->ncpus++;
}

static void
usage_del_cpu(usage *u, int64_t cpu)
{
	bool found;
	size_t pos = cpu_pos(u, cpu, &found);
	if (!found || --u->cpus[pos].n > 0)
		return;
	memmove(u->cpus + pos, u->cpus + pos + 1,
	    (u->ncpus - pos - 1) * sizeof(*u->cpus));
	u->ncpus--;
}

static void
usage_add_br(usage *u, atom *a)
{
	bool found;
	size_t pos = br_pos(u, a, &found);
	if (found) {
		u->br[pos].n++;
		return;
	}
	memmove(u->br + pos + 1, u->br + pos, (u->nbr - pos) * sizeof(*u->br));
	u->br[pos] = (bridge_ref){a, 1};
	u->nbr++;
}

static void
usage_del_br(usage *u, const atom *a)
{
	bool found;
	size_t pos = br_pos(u, a, &found);
	if (!found || --u->br[pos].n > 0)
		return;
	memmove(u->br + pos, u->br + pos + 1,
	    (u->nbr - pos - 1) * sizeof(*u->br));
	u->nbr--;
}

static void
usage_release(usage *u)
{
	free(u->cpus);
	free(u->br);
	memset(u, 0, sizeof(*u));
}

/* Adds (sign +1) or removes (sign -1) a unikernel's resources on every
 * node from its path node up to the root. Adding needs reserved room. */
static void
usage_apply_uk(node *pathnode, const uk_entry *e, int sign)
{
	for (node *p = pathnode; p != NULL; p = p->parent) {
		p->use.count += sign;
		p->use.memory += sign * e->memory;
		for (size_t i = 0; i < e->ncpuids; i++) {
			if (sign > 0)
				usage_add_cpu(&p->use, e->cpuids[i]);
			else
				usage_del_cpu(&p->use, e->cpuids[i]);
		}
		for (size_t i = 0; i < e->nbridges; i++) {
			if (sign > 0)
				usage_add_br(&p->use, e->bridges[i]);
			else
				usage_del_br(&p->use, e->bridges[i]);
		}
	}
}

/* ---------------------------------------------------------------- */
/* Nodes                                                            */

static size_t
kid_pos(const node *n, const char *l, size_t len, bool *found)
{
	size_t lo = 0, hi = n->nkids;
	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const node *k = n->kids[mid];
		int c = bytes_cmp(k->label, k->len, l, len);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static node *
kid_find(const node *n, const char *l, size_t len)
{
	bool found;
	size_t pos = kid_pos(n, l, len, &found);
	return found ? n->kids[pos] : NULL;
}

static node *
kid_get_or_add(node *n, const char *l, size_t len)
{
	bool found;
	size_t pos = kid_pos(n, l, len, &found);
	if (found)
		return n->kids[pos];
	if (len > PT_LABEL_MAX || grow((void **)&n->kids, &n->capkids,
	    n->nkids + 1, sizeof(*n->kids)) != 0)
		return NULL;
	node *k = calloc(1, sizeof(*k));
	if (k == NULL)
		return NULL;
	k->parent = n;
	k->len = (unsigned char)len;
	memcpy(k->label, l, len);
	memmove(n->kids + pos + 1, n->kids + pos,
	    (n->nkids - pos) * sizeof(*n->kids));
	n->kids[pos] = k;
	n->nkids++;
	return k;
}

static bool
node_empty(const node *n)
{
	return n->nkids == 0 && n->policy == NULL && n->uk == NULL &&
	    !n->has_blk;
}

/* Removes n and then each ancestor that became empty (never the root). */
static void
node_prune(pt_res *r, node *n)
{
	while (n != NULL && n != &r->root && node_empty(n)) {
		node *p = n->parent;
		bool found;
		size_t pos = kid_pos(p, n->label, n->len, &found);
		if (found) {
			memmove(p->kids + pos, p->kids + pos + 1,
			    (p->nkids - pos - 1) * sizeof(*p->kids));
			p->nkids--;
		}
		if (p->nkids == 0) {
			free(p->kids);
			p->kids = NULL;
			p->capkids = 0;
		}
		free(n->kids);
		usage_release(&n->use);
		free(n);
		n = p;
	}
}

/* The node for the first `count` labels of name (path, then label). */
static node *
walk(const pt_res *r, const pt_name *name, size_t count)
{
	/* The trie is only read here; callers that own a non-const pt_res
	 * may modify the node they get back. */
	node *n = (node *)&r->root;
	for (size_t i = 0; i < count && n != NULL; i++) {
		size_t len;
		const char *l = pt_name_nth_label(name, i, &len);
		n = kid_find(n, l, len);
	}
	return n;
}

static node *
walk_create(pt_res *r, const pt_name *name, size_t count)
{
	node *n = &r->root;
	for (size_t i = 0; i < count; i++) {
		size_t len;
		const char *l = pt_name_nth_label(name, i, &len);
		node *k = kid_get_or_add(n, l, len);
		if (k == NULL) {
			node_prune(r, n);
			return NULL;
		}
		n = k;
	}
	return n;
}

/* ---------------------------------------------------------------- */
/* Unikernel entries                                                */

static void
uk_entry_free(pt_res *r, uk_entry *e)
{
	if (e == NULL)
		return;
	for (size_t i = 0; i < e->nbridges; i++)
		atom_put(r, e->bridges[i]);
	free(e->bridges);
	free(e->cpuids);
	free(e->blocks);
	free(e);
}

static void *
array_alloc(size_t n, size_t sz)
{
	return n == 0 ? NULL : calloc(n, sz);
}

/* Copies what the entry needs; the request was checked already. */
static uk_entry *
uk_entry_new(pt_res *r, const pt_uk_res *u, void *data)
{
	uk_entry *e = calloc(1, sizeof(*e));
	if (e == NULL)
		return NULL;
	e->data = data;
	e->memory = u->memory;
	e->cpuids = array_alloc(u->ncpuids, sizeof(*e->cpuids));
	e->bridges = array_alloc(u->nbridges, sizeof(*e->bridges));
	e->blocks = array_alloc(u->nblocks, sizeof(*e->blocks));
	if ((u->ncpuids && e->cpuids == NULL) ||
	    (u->nbridges && e->bridges == NULL) ||
	    (u->nblocks && e->blocks == NULL))
		goto fail;
	if (u->ncpuids)
		memcpy(e->cpuids, u->cpuids, u->ncpuids * sizeof(*e->cpuids));
	e->ncpuids = u->ncpuids;
	pt_sort_int64_unique(e->cpuids, &e->ncpuids);
	for (size_t i = 0; i < u->nbridges; i++) {
		atom *a = atom_get(r, u->bridges[i].s, u->bridges[i].len);
		if (a == NULL)
			goto fail;
		bool dup = false;
		for (size_t j = 0; j < e->nbridges && !dup; j++)
			dup = e->bridges[j] == a;
		if (dup)
			atom_put(r, a);
		else
			e->bridges[e->nbridges++] = a;
	}
	for (size_t i = 0; i < u->nblocks; i++) {
		size_t len = u->blocks[i].len;
		for (size_t j = 0; j < len && j < PT_LABEL_MAX; j++) {
			char c = u->blocks[i].s[j];
			e->blocks[i][j] = (c >= 'A' && c <= 'Z') ?
			    (char)(c - 'A' + 'a') : c;
		}
	}
	e->nblocks = u->nblocks;
	return e;
fail:
	uk_entry_free(r, e);
	return NULL;
}

static bool
uk_uses_block(const uk_entry *e, const char *label, size_t len)
{
	for (size_t i = 0; i < e->nblocks; i++)
		if (bytes_cmp(e->blocks[i], strlen(e->blocks[i]), label,
		    len) == 0)
			return true;
	return false;
}

/* ---------------------------------------------------------------- */
/* Life cycle                                                       */

pt_res *
pt_res_new(void)
{
	return calloc(1, sizeof(pt_res));
}

static void
node_free_tree(pt_res *r, node *n)
{
	for (size_t i = 0; i < n->nkids; i++)
		node_free_tree(r, n->kids[i]);
	free(n->kids);
	pt_policy_free(n->policy);
	uk_entry_free(r, n->uk);
	usage_release(&n->use);
	if (n != &r->root)
		free(n);
}

void
pt_res_free(pt_res *r)
{
	if (r == NULL)
		return;
	node_free_tree(r, &r->root);
	for (size_t i = 0; i < r->natoms; i++)
		free(r->atoms[i]);
	free(r->atoms);
	free(r);
}

/* ---------------------------------------------------------------- */
/* Unikernels                                                       */

/* Formats "0,1,5" (cut short if long) for error messages. */
static void
format_cpus(const pt_policy *p, char *out, size_t cap)
{
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < p->ncpuids; i++) {
		int w = snprintf(out + o, cap - o, "%s%lld", i ? "," : "",
		    (long long)p->cpuids[i]);
		if (w < 0 || (size_t)w >= cap - o) {
			snprintf(out + (o < cap - 4 ? o : cap - 4), 4, "...");
			return;
		}
		o += (size_t)w;
	}
	if (p->ncpuids == 0)
		snprintf(out, cap, "none");
}

/* Does one more unikernel `u` fit the limits (count, memory) of the
 * policy at the k-th path prefix of name, whose subtree uses `use`, minus
 * what `freed` gives back? */
static int
fits_share(const pt_name *name, size_t k, const pt_policy *pol,
    const usage *use, const uk_entry *freed, const pt_uk_res *u,
    pt_err *err)
{
	int plen;
	const char *ptxt = path_text(name, k, &plen);
	int64_t count = use->count - (freed ? 1 : 0);
	int64_t mem = use->memory - (freed ? freed->memory : 0);
	int64_t total;

	if (count >= pol->unikernels)
		return pt_fail(err, "policy %.*s allows %lld unikernels, "
		    "%lld in use, 1 more requested", plen, ptxt,
		    (long long)pol->unikernels, (long long)count);
	if (__builtin_add_overflow(mem, u->memory, &total) ||
	    total > pol->memory)
		return pt_fail(err, "policy %.*s allows memory %lld MB, "
		    "%lld MB in use, %lld MB requested", plen, ptxt,
		    (long long)pol->memory, (long long)mem,
		    (long long)u->memory);
	return 0;
}

/* The limits, and the CPU ids and bridges the policy allows. */
static int
fits_policy(const pt_name *name, size_t k, const pt_policy *pol,
    const usage *use, const uk_entry *freed, const pt_uk_res *u,
    pt_err *err)
{
	int plen;
	const char *ptxt = path_text(name, k, &plen);
	if (fits_share(name, k, pol, use, freed, u, err) != 0)
		return -1;
	for (size_t i = 0; i < u->ncpuids; i++) {
		if (!pt_policy_has_cpu(pol, u->cpuids[i])) {
			char allowed[96];
			format_cpus(pol, allowed, sizeof(allowed));
			return pt_fail(err, "CPU %lld not allowed by policy "
			    "%.*s (allowed: %s)", (long long)u->cpuids[i],
			    plen, ptxt, allowed);
		}
	}
	for (size_t i = 0; i < u->nbridges; i++) {
		const pt_text *b = &u->bridges[i];
		if (!pt_policy_has_bridge(pol, b->s, b->len))
			return pt_fail(err, "bridge %.*s not allowed by policy "
			    "%.*s", (int)(b->len > 64 ? 64 : b->len), b->s,
			    plen, ptxt);
	}
	return 0;
}

/* The existing nodes of name's path, from the root down: chain[k] is the
 * node of the first k path labels. Returns how many exist (at least the
 * root); the path node itself exists iff that is npath + 1. One walk
 * serves every check of a request. */
static size_t
walk_path_chain(const pt_res *r, const pt_name *name, const node **chain)
{
	size_t n = 1;
	chain[0] = &r->root;
	for (size_t k = 0; k < name->npath; k++) {
		size_t len;
		const char *l = pt_name_path_label(name, k, &len);
		const node *kid = kid_find(chain[k], l, len);
		if (kid == NULL)
			break;
		chain[n++] = kid;
	}
	return n;
}

static int
check_create_policies(const node *const *chain, size_t nchain,
    const pt_name *name, const pt_uk_res *u, const uk_entry *freed,
    size_t freed_common, pt_err *err)
{
	for (size_t k = 0; k < nchain; k++) {
		/* `freed` lives below this node iff its path shares the
		 * first k labels. */
		const uk_entry *f = (freed && k <= freed_common) ? freed : NULL;
		const node *n = chain[k];
		if (n->policy != NULL &&
		    fits_policy(name, k, n->policy, &n->use, f, u, err) != 0)
			return -1;
	}
	return 0;
}

static bool
same_label_ci(const pt_text *a, const pt_text *b)
{
	if (a->len != b->len)
		return false;
	for (size_t i = 0; i < a->len; i++) {
		char x = a->s[i], y = b->s[i];
		if (x >= 'A' && x <= 'Z')
			x = (char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (char)(y - 'A' + 'a');
		if (x != y)
			return false;
	}
	return true;
}

/* Each block device exists in the unikernel's own path and is free (or
 * used by `freed`, which lives in `freed_path`). */
static int
check_create_blocks(const node *pathnode, const pt_name *name,
    const pt_uk_res *u, const uk_entry *freed, const pt_name *freed_path,
    pt_err *err)
{
	pt_name path;
	pt_name_path(name, &path);
	bool freed_here = freed != NULL && pt_name_equal(freed_path, &path);
	for (size_t i = 0; i < u->nblocks; i++) {
		pt_name bn;
		if (pt_name_with_label(&path, u->blocks[i].s, u->blocks[i].len,
		    &bn, err) != 0)
			return pt_fail_prefix(err, "unikernel %s: block device",
			    name->text);
		for (size_t j = 0; j < i; j++)
			if (same_label_ci(&u->blocks[i], &u->blocks[j]))
				return pt_fail(err, "block device %s is listed "
				    "twice", bn.text);
		size_t llen;
		const char *lab = pt_name_label(&bn, &llen);
		const node *b = pathnode != NULL ?
		    kid_find(pathnode, lab, llen) : NULL;
		if (b == NULL || !b->has_blk)
			return pt_fail(err, "block device %s not found",
			    bn.text);
		if (b->blk_in_use && !(freed_here &&
		    uk_uses_block(freed, lab, llen)))
			return pt_fail(err, "block device %s is in use",
			    bn.text);
	}
	return 0;
}

static int
check_request(const pt_name *name, const pt_uk_res *u, pt_err *err)
{
	if (!name->has_label)
		return pt_fail(err, "%s is not a unikernel name", name->text);
	if (u->memory < 0)
		return pt_fail(err, "unikernel %s: invalid memory %lld MB",
		    name->text, (long long)u->memory);
	for (size_t i = 0; i < u->ncpuids; i++)
		if (u->cpuids[i] < 0)
			return pt_fail(err, "unikernel %s: invalid CPU id %lld",
			    name->text, (long long)u->cpuids[i]);
	for (size_t i = 0; i < u->nbridges; i++)
		if (u->bridges[i].len == 0 || u->bridges[i].s == NULL)
			return pt_fail(err, "unikernel %s: empty bridge name",
			    name->text);
	return 0;
}

int
pt_res_check_create(const pt_res *r, const pt_name *name,
    const pt_uk_res *u, const pt_name *replacing, pt_err *err)
{
	const uk_entry *freed = NULL;
	size_t freed_common = 0;
	pt_name freed_path;
	int64_t sum;
	const node *chain[PT_NAME_MAX_LABELS + 1];

	pt_name_root(&freed_path);
	if (check_request(name, u, err) != 0)
		return -1;
	size_t nchain = walk_path_chain(r, name, chain);
	const node *pathnode = nchain == (size_t)name->npath + 1 ?
	    chain[name->npath] : NULL;
	size_t llen;
	const char *label = pt_name_label(name, &llen);
	const node *self = pathnode != NULL ?
	    kid_find(pathnode, label, llen) : NULL;
	bool is_replaced = replacing != NULL &&
	    pt_name_equal(replacing, name);
	if (self != NULL && self->uk != NULL && !is_replaced)
		return pt_fail(err, "unikernel %s already exists", name->text);
	if (replacing != NULL && replacing->has_label) {
		const node *old = walk(r, replacing,
		    pt_name_nlabels(replacing));
		if (old != NULL && old->uk != NULL) {
			freed = old->uk;
			freed_common = common_path(name, replacing);
			pt_name_path(replacing, &freed_path);
		}
	}
	/* Totals must stay representable even without any policy. */
	if (__builtin_add_overflow(r->root.use.memory, u->memory, &sum))
		return pt_fail(err, "unikernel %s: memory %lld MB overflows "
		    "the total", name->text, (long long)u->memory);
	if (check_create_policies(chain, nchain, name, u, freed, freed_common,
	    err) != 0)
		return -1;
	return check_create_blocks(pathnode, name, u, freed, &freed_path, err);
}

/* Inserts a request that was checked (or is a claim, see below). */
static int
insert_unikernel(pt_res *r, const pt_name *name, const pt_uk_res *u,
    void *data, pt_err *err)
{
	uk_entry *e = uk_entry_new(r, u, data);
	if (e == NULL)
		return pt_fail(err, "unikernel %s: out of memory", name->text);
	node *leaf = walk_create(r, name, pt_name_nlabels(name));
	if (leaf == NULL) {
		uk_entry_free(r, e);
		return pt_fail(err, "unikernel %s: out of memory", name->text);
	}
	/* Reserve every array first, so the update below cannot fail
	 * half-way. */
	for (node *p = leaf->parent; p != NULL; p = p->parent) {
		if (usage_reserve(&p->use, e->ncpuids, e->nbridges) != 0) {
			uk_entry_free(r, e);
			node_prune(r, leaf);
			return pt_fail(err, "unikernel %s: out of memory",
			    name->text);
		}
	}
	leaf->uk = e;
	usage_apply_uk(leaf->parent, e, +1);
	for (size_t i = 0; i < e->nblocks; i++) {
		node *b = kid_find(leaf->parent, e->blocks[i],
		    strlen(e->blocks[i]));
		if (b != NULL)
			b->blk_in_use = true;
	}
	return 0;
}

int
pt_res_add_unikernel(pt_res *r, const pt_name *name, const pt_uk_res *u,
    void *data, pt_err *err)
{
	if (pt_res_check_create(r, name, u, NULL, err) != 0)
		return -1;
	return insert_unikernel(r, name, u, data, err);
}

/* The devices of u that exist in pathnode, into kept; one that another
 * unikernel uses fails the claim (its removal would free the device
 * under the other one). */
static int
claimable_blocks(const node *pathnode, const pt_name *name,
    const pt_uk_res *u, pt_text *kept, size_t *nkept, pt_err *err)
{
	pt_name path;
	pt_name_path(name, &path);
	*nkept = 0;
	for (size_t i = 0; i < u->nblocks; i++) {
		pt_name bn;
		size_t llen;
		if (pt_name_with_label(&path, u->blocks[i].s, u->blocks[i].len,
		    &bn, NULL) != 0)
			continue;
		const char *lab = pt_name_label(&bn, &llen);
		const node *b = pathnode != NULL ?
		    kid_find(pathnode, lab, llen) : NULL;
		if (b == NULL || !b->has_blk)
			continue;
		if (b->blk_in_use)
			return pt_fail(err, "block device %s is in use",
			    bn.text);
		kept[(*nkept)++] = u->blocks[i];
	}
	return 0;
}

int
pt_res_claim_unikernel(pt_res *r, const pt_name *name, const pt_uk_res *u,
    void *data, pt_err *err)
{
	int64_t sum;
	if (check_request(name, u, err) != 0)
		return -1;
	const node *pathnode = walk(r, name, name->npath);
	size_t llen;
	const char *label = pt_name_label(name, &llen);
	const node *self = pathnode != NULL ?
	    kid_find(pathnode, label, llen) : NULL;
	if (self != NULL && self->uk != NULL)
		return pt_fail(err, "unikernel %s already exists", name->text);
	if (__builtin_add_overflow(r->root.use.memory, u->memory, &sum))
		return pt_fail(err, "unikernel %s: memory %lld MB overflows "
		    "the total", name->text, (long long)u->memory);
	const node *chain[PT_NAME_MAX_LABELS + 1];
	size_t nchain = walk_path_chain(r, name, chain);
	for (size_t k = 0; k < nchain; k++)
		if (chain[k]->policy != NULL && fits_share(name, k,
		    chain[k]->policy, &chain[k]->use, NULL, u, err) != 0)
			return -1;
	pt_text *kept = array_alloc(u->nblocks, sizeof(*kept));
	if (u->nblocks > 0 && kept == NULL)
		return pt_fail(err, "unikernel %s: out of memory", name->text);
	pt_uk_res claim = *u;
	int rc = claimable_blocks(pathnode, name, u, kept, &claim.nblocks,
	    err);
	claim.blocks = kept;
	if (rc == 0)
		rc = insert_unikernel(r, name, &claim, data, err);
	free(kept);
	return rc;
}

void *
pt_res_remove_unikernel(pt_res *r, const pt_name *name)
{
	if (!name->has_label)
		return NULL;
	node *leaf = walk(r, name, pt_name_nlabels(name));
	if (leaf == NULL || leaf->uk == NULL)
		return NULL;
	uk_entry *e = leaf->uk;
	void *data = e->data;
	usage_apply_uk(leaf->parent, e, -1);
	for (size_t i = 0; i < e->nblocks; i++) {
		node *b = kid_find(leaf->parent, e->blocks[i],
		    strlen(e->blocks[i]));
		if (b != NULL)
			b->blk_in_use = false;
	}
	leaf->uk = NULL;
	uk_entry_free(r, e);
	node_prune(r, leaf);
	return data;
}

void *
pt_res_unikernel(const pt_res *r, const pt_name *name)
{
	if (!name->has_label)
		return NULL;
	const node *n = walk(r, name, pt_name_nlabels(name));
	return (n != NULL && n->uk != NULL) ? n->uk->data : NULL;
}

size_t
pt_res_unikernel_count(const pt_res *r)
{
	return (size_t)r->root.use.count;
}

/* ---------------------------------------------------------------- */
/* Block devices                                                    */

int
pt_res_check_block_add(const pt_res *r, const pt_name *name,
    int64_t size_mb, pt_err *err)
{
	int64_t sum;

	if (!name->has_label)
		return pt_fail(err, "%s is not a block device name",
		    name->text);
	if (size_mb <= 0)
		return pt_fail(err, "block device %s: size must be positive "
		    "(%lld MB)", name->text, (long long)size_mb);
	const node *chain[PT_NAME_MAX_LABELS + 1];
	size_t nchain = walk_path_chain(r, name, chain);
	size_t llen;
	const char *label = pt_name_label(name, &llen);
	const node *self = nchain == (size_t)name->npath + 1 ?
	    kid_find(chain[name->npath], label, llen) : NULL;
	if (self != NULL && self->has_blk)
		return pt_fail(err, "block device %s already exists",
		    name->text);
	if (__builtin_add_overflow(r->root.use.block, size_mb, &sum))
		return pt_fail(err, "block device %s: size %lld MB overflows "
		    "the total", name->text, (long long)size_mb);
	for (size_t k = 0; k < nchain; k++) {
		const node *n = chain[k];
		const pt_policy *pol = n->policy;
		int plen;
		const char *ptxt = path_text(name, k, &plen);
		if (pol != NULL && !pol->has_block)
			return pt_fail(err, "policy %.*s allows no block "
			    "storage, %lld MB requested", plen, ptxt,
			    (long long)size_mb);
		if (pol != NULL && n->use.block + size_mb > pol->block)
			return pt_fail(err, "policy %.*s allows block storage "
			    "%lld MB, %lld MB in use, %lld MB requested", plen,
			    ptxt, (long long)pol->block,
			    (long long)n->use.block, (long long)size_mb);
	}
	return 0;
}

int
pt_res_add_block(pt_res *r, const pt_name *name, int64_t size_mb,
    pt_err *err)
{
	if (pt_res_check_block_add(r, name, size_mb, err) != 0)
		return -1;
	node *leaf = walk_create(r, name, pt_name_nlabels(name));
	if (leaf == NULL)
		return pt_fail(err, "block device %s: out of memory",
		    name->text);
	leaf->has_blk = true;
	leaf->blk_in_use = false;
	leaf->blk_size = size_mb;
	for (node *p = leaf->parent; p != NULL; p = p->parent)
		p->use.block += size_mb;
	return 0;
}

int
pt_res_remove_block(pt_res *r, const pt_name *name, pt_err *err)
{
	node *leaf = name->has_label ?
	    walk(r, name, pt_name_nlabels(name)) : NULL;
	if (leaf == NULL || !leaf->has_blk)
		return pt_fail(err, "block device %s not found", name->text);
	if (leaf->blk_in_use)
		return pt_fail(err, "block device %s is in use", name->text);
	for (node *p = leaf->parent; p != NULL; p = p->parent)
		p->use.block -= leaf->blk_size;
	leaf->has_blk = false;
	leaf->blk_size = 0;
	node_prune(r, leaf);
	return 0;
}

int
pt_res_block(const pt_res *r, const pt_name *name, int64_t *size_mb,
    bool *in_use)
{
	const node *n = name->has_label ?
	    walk(r, name, pt_name_nlabels(name)) : NULL;
	if (n == NULL || !n->has_blk)
		return -1;
	if (size_mb != NULL)
		*size_mb = n->blk_size;
	if (in_use != NULL)
		*in_use = n->blk_in_use;
	return 0;
}

/* ---------------------------------------------------------------- */
/* Policies                                                         */

/* Does what runs below `n` (whose path is `path`) fit policy p? */
static int
usage_fits(const pt_name *path, const usage *use, const pt_policy *p,
    pt_err *err)
{
	if (use->count > p->unikernels)
		return pt_fail(err, "policy %s would allow %lld unikernels, "
		    "%lld in use", path->text, (long long)p->unikernels,
		    (long long)use->count);
	if (use->memory > p->memory)
		return pt_fail(err, "policy %s would allow memory %lld MB, "
		    "%lld MB in use", path->text, (long long)p->memory,
		    (long long)use->memory);
	if (use->block > 0 && !p->has_block)
		return pt_fail(err, "policy %s would allow no block storage, "
		    "%lld MB in use", path->text, (long long)use->block);
	if (p->has_block && use->block > p->block)
		return pt_fail(err, "policy %s would allow block storage "
		    "%lld MB, %lld MB in use", path->text,
		    (long long)p->block, (long long)use->block);
	for (size_t i = 0; i < use->ncpus; i++)
		if (!pt_policy_has_cpu(p, use->cpus[i].cpu))
			return pt_fail(err, "policy %s would not allow CPU "
			    "%lld, in use below", path->text,
			    (long long)use->cpus[i].cpu);
	for (size_t i = 0; i < use->nbr; i++) {
		const atom *a = use->br[i].a;
		if (!pt_policy_has_bridge(p, a->s, a->len))
			return pt_fail(err, "policy %s would not allow bridge "
			    "%.*s, in use below", path->text,
			    (int)(a->len > 64 ? 64 : a->len), a->s);
	}
	return 0;
}

/* Every policy strictly below n (path `path`) must be within p. */
static int
check_below(const node *n, const pt_name *path, const pt_policy *p,
    const pt_name *top, pt_err *err)
{
	for (size_t i = 0; i < n->nkids; i++) {
		const node *k = n->kids[i];
		if (k->policy == NULL && k->nkids == 0)
			continue;
		pt_name kpath;
		if (pt_name_append_path(path, k->label, k->len, &kpath,
		    NULL) != 0)
			continue; /* too long for a path: holds no policy */
		if (k->policy != NULL &&
		    pt_policy_is_smaller(k->policy, p, err) != 0)
			return pt_fail_prefix(err, "policy %s below does not "
			    "fit policy %s", kpath.text, top->text);
		if (check_below(k, &kpath, p, top, err) != 0)
			return -1;
	}
	return 0;
}

int
pt_res_check_policy(const pt_res *r, const pt_name *path_in,
    const pt_policy *p, pt_err *err)
{
	pt_name path;
	pt_name_path(path_in, &path);
	if (pt_policy_usable(p, err) != 0)
		return pt_fail_prefix(err, "cannot set policy %s", path.text);
	const node *self = walk(r, &path, path.npath);
	if (self != NULL && self->policy != NULL &&
	    pt_policy_equal(self->policy, p))
		return 1;
	const node *n = &r->root;
	for (size_t k = 0; k < path.npath && n != NULL; k++) {
		if (n->policy != NULL &&
		    pt_policy_is_smaller(p, n->policy, err) != 0) {
			int plen;
			const char *ptxt = path_text(&path, k, &plen);
			return pt_fail_prefix(err, "policy %s does not fit "
			    "policy %.*s above", path.text, plen, ptxt);
		}
		size_t len;
		const char *l = pt_name_path_label(&path, k, &len);
		n = kid_find(n, l, len);
	}
	if (self == NULL)
		return 0;
	if (check_below(self, &path, p, &path, err) != 0)
		return -1;
	return usage_fits(&path, &self->use, p, err);
}

static pt_policy *
policy_copy(const pt_policy *p)
{
	pt_policy *c = pt_policy_dup(p);
	if (c != NULL)
		pt_policy_normalise(c);
	return c;
}

int
pt_res_restore_policy(pt_res *r, const pt_name *path_in, const pt_policy *p,
    pt_err *err)
{
	pt_name path;
	pt_name_path(path_in, &path);
	pt_policy *c = policy_copy(p);
	if (c == NULL)
		return pt_fail(err, "policy %s: out of memory", path.text);
	node *n = walk_create(r, &path, path.npath);
	if (n == NULL) {
		pt_policy_free(c);
		return pt_fail(err, "policy %s: out of memory", path.text);
	}
	pt_policy_free(n->policy);
	n->policy = c;
	return 0;
}

int
pt_res_set_policy(pt_res *r, const pt_name *path_in, const pt_policy *p,
    pt_err *err)
{
	pt_name path;
	pt_name_path(path_in, &path);
	int rc = pt_res_check_policy(r, &path, p, err);
	if (rc != 0)
		return rc;
	return pt_res_restore_policy(r, &path, p, err);
}

int
pt_res_remove_policy(pt_res *r, const pt_name *path_in, pt_err *err)
{
	pt_name path;
	pt_name_path(path_in, &path);
	if (pt_name_is_root(&path))
		return pt_fail(err, "cannot remove the root policy");
	node *n = walk(r, &path, path.npath);
	if (n == NULL || n->policy == NULL)
		return pt_fail(err, "unknown policy %s", path.text);
	pt_policy_free(n->policy);
	n->policy = NULL;
	node_prune(r, n);
	return 0;
}

const pt_policy *
pt_res_policy(const pt_res *r, const pt_name *path)
{
	const node *n = walk(r, path, path->npath);
	return n != NULL ? n->policy : NULL;
}

int
pt_res_set_root_policy(pt_res *r, const pt_policy *p, pt_err *err)
{
	if (pt_policy_usable(p, err) != 0)
		return pt_fail_prefix(err, "cannot set the root policy");
	pt_name root;
	pt_name_root(&root);
	return pt_res_restore_policy(r, &root, p, err);
}

/* ---------------------------------------------------------------- */
/* Iteration                                                        */

typedef enum { ITER_POLICY, ITER_UK, ITER_BLOCK } iter_kind;

typedef struct {
	iter_kind kind;
	pt_res_policy_cb policy_cb;
	pt_res_uk_cb uk_cb;
	pt_res_block_cb block_cb;
	void *ctx;
} iter;

/* The entry of `it`'s kind named by node k (child of a node at `path`). */
static int
visit_entry(const iter *it, const node *k, const pt_name *name)
{
	if (it->kind == ITER_UK && k->uk != NULL)
		return it->uk_cb(name, k->uk->data, it->ctx);
	if (it->kind == ITER_BLOCK && k->has_blk)
		return it->block_cb(name, k->blk_size, k->blk_in_use,
		    it->ctx);
	return 0;
}

/* Pre-order: the node's own policy, then each child in ascending label
 * order: its unikernel / block device, then its subtree. */
static int
visit(const iter *it, const node *n, const pt_name *path)
{
	int rc;
	if (it->kind == ITER_POLICY && n->policy != NULL &&
	    (rc = it->policy_cb(path, n->policy, it->ctx)) != 0)
		return rc;
	for (size_t i = 0; i < n->nkids; i++) {
		const node *k = n->kids[i];
		pt_name name;
		if (it->kind != ITER_POLICY && (k->uk != NULL || k->has_blk) &&
		    pt_name_with_label(path, k->label, k->len, &name,
		    NULL) == 0 && (rc = visit_entry(it, k, &name)) != 0)
			return rc;
		if (k->nkids == 0 && k->policy == NULL)
			continue;
		if (pt_name_append_path(path, k->label, k->len, &name,
		    NULL) != 0)
			continue; /* longer than any stored name allows */
		if ((rc = visit(it, k, &name)) != 0)
			return rc;
	}
	return 0;
}

static int
iterate(const pt_res *r, const pt_name *below, const iter *it)
{
	if (it->kind != ITER_POLICY && below->has_label) {
		const node *k = walk(r, below, pt_name_nlabels(below));
		return k != NULL ? visit_entry(it, k, below) : 0;
	}
	pt_name path;
	pt_name_path(below, &path);
	const node *n = walk(r, &path, path.npath);
	return n != NULL ? visit(it, n, &path) : 0;
}

int
pt_res_foreach_policy(const pt_res *r, const pt_name *below,
    pt_res_policy_cb cb, void *ctx)
{
	iter it = {.kind = ITER_POLICY, .policy_cb = cb, .ctx = ctx};
	return iterate(r, below, &it);
}

int
pt_res_foreach_unikernel(const pt_res *r, const pt_name *below,
    pt_res_uk_cb cb, void *ctx)
{
	iter it = {.kind = ITER_UK, .uk_cb = cb, .ctx = ctx};
	return iterate(r, below, &it);
}

int
pt_res_foreach_block(const pt_res *r, const pt_name *below,
    pt_res_block_cb cb, void *ctx)
{
	iter it = {.kind = ITER_BLOCK, .block_cb = cb, .ctx = ctx};
	return iterate(r, below, &it);
}

void
pt_res_usage_at(const pt_res *r, const pt_name *path, pt_res_usage *u)
{
	const node *n = walk(r, path, path->npath);
	memset(u, 0, sizeof(*u));
	if (n == NULL)
		return;
	u->unikernels = n->use.count;
	u->memory = n->use.memory;
	u->block = n->use.block;
}

static size_t
count_nodes(const node *n)
{
	size_t c = n->nkids;
	for (size_t i = 0; i < n->nkids; i++)
		c += count_nodes(n->kids[i]);
	return c;
}

size_t
pt_res_node_count(const pt_res *r)
{
	return count_nodes(&r->root);
}
