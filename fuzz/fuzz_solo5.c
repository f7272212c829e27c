/*
 * libFuzzer target: pt_solo5_inspect_mem on arbitrary bytes (an image sent
 * by a client is hostile), then pt_solo5_check_manifest on what it found.
 *
 * Rejections must carry a reason. An accepted image must satisfy:
 *   - asking for the ABI note alone or the manifest alone gives the same
 *     answer as asking for both (the two lookups are independent);
 *   - the same bytes read through a callback that hands out one small
 *     piece at a time give the same answer (no read is assumed to be
 *     contiguous with another);
 *   - the manifest holds at most 63 devices, each of a known type with a
 *     1..67 character [A-Za-z0-9] name, no (type, name) pair twice;
 *   - a configuration naming exactly the manifest's devices passes the
 *     manifest check, and one that drops or adds a device fails it;
 *   - against a fixed configuration (net "service", block "storage") the
 *     check passes exactly when those are the only devices.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "solo5.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
die(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz oracle: %s: %s\n", what, detail);
	abort();
}

static void
require_reason(const pt_err *err, const char *what)
{
	if (err->msg[0] == '\0')
		die(what, "rejected without a reason");
}

typedef struct {
	const uint8_t *p;
	size_t n;
} image;

/* Reads through a bounce buffer in pieces of at most 7 bytes, so that the
 * parser gets no pointer into the image and no read is larger than the
 * parser asked for. */
static int
piecewise_read(void *ctx, uint64_t off, void *buf, size_t n)
{
	const image *im = ctx;
	if (off > im->n || n > im->n - off)
		return -1;
	uint8_t *out = buf;
	for (size_t done = 0; done < n;) {
		size_t k = n - done < 7 ? n - done : 7;
		memcpy(out + done, im->p + off + done, k);
		done += k;
	}
	return 0;
}

static bool
same_abi(const pt_solo5_abi *a, const pt_solo5_abi *b)
{
	return a->target == b->target && a->version == b->version;
}

static bool
same_manifest(const pt_solo5_manifest *a, const pt_solo5_manifest *b)
{
	if (a->ndevices != b->ndevices)
		return false;
	for (size_t i = 0; i < a->ndevices; i++)
		if (a->devices[i].type != b->devices[i].type ||
		    strcmp(a->devices[i].name, b->devices[i].name) != 0)
			return false;
	return true;
}

static void
check_device_names(const pt_solo5_manifest *m)
{
	if (m->ndevices > PT_MFT_MAX_ENTRIES - 1)
		die("manifest", "too many devices");
	for (size_t i = 0; i < m->ndevices; i++) {
		const pt_mft_device *d = &m->devices[i];
		if (d->type != PT_MFT_BLOCK_BASIC && d->type != PT_MFT_NET_BASIC)
			die("manifest", "device of an unknown type accepted");
		size_t len = strnlen(d->name, PT_MFT_NAME_SIZE);
		if (len == 0 || len >= PT_MFT_NAME_SIZE)
			die("manifest", "device name empty or unterminated");
		for (size_t k = 0; k < len; k++) {
			char c = d->name[k];
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9')))
				die("manifest", "device name with a character "
				    "the tenders refuse");
		}
		for (size_t j = 0; j < i; j++)
			if (m->devices[j].type == d->type &&
			    strcmp(m->devices[j].name, d->name) == 0)
				die("manifest", "device declared twice");
	}
}

/* A configuration naming the manifest's devices (in the caller's arrays),
 * optionally without the device at index `skip`. */
static void
config_of(const pt_solo5_manifest *m, size_t skip, pt_blockspec *blocks,
    pt_netspec *nets, pt_ukconfig *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->blocks = blocks;
	cfg->nets = nets;
	for (size_t i = 0; i < m->ndevices; i++) {
		if (i == skip)
			continue;
		pt_text t = {m->devices[i].name, strlen(m->devices[i].name)};
		if (m->devices[i].type == PT_MFT_BLOCK_BASIC)
			blocks[cfg->nblocks++] = (pt_blockspec){.name = t};
		else
			nets[cfg->nnets++] = (pt_netspec){.name = t};
	}
}

static void
check_against_itself(const pt_solo5_manifest *m)
{
	static pt_blockspec blocks[PT_MFT_MAX_ENTRIES];
	static pt_netspec nets[PT_MFT_MAX_ENTRIES];
	pt_ukconfig cfg;
	pt_err err;
	memset(&err, 0, sizeof(err));
	config_of(m, SIZE_MAX, blocks, nets, &cfg);
	if (pt_solo5_check_manifest(m, &cfg, &err) != 0)
		die("check_manifest", "the manifest's own devices refused");
	if (m->ndevices > 0) {
		/* One device left out: the image declares it, unconfigured. */
		config_of(m, m->ndevices - 1, blocks, nets, &cfg);
		if (pt_solo5_check_manifest(m, &cfg, &err) == 0)
			die("check_manifest", "a missing device went unnoticed");
		require_reason(&err, "check_manifest (missing device)");
	}
	/* One device too many ('-' is never in a manifest name). */
	config_of(m, SIZE_MAX, blocks, nets, &cfg);
	nets[cfg.nnets++] = (pt_netspec){.name = {"not-declared", 12}};
	memset(&err, 0, sizeof(err));
	if (pt_solo5_check_manifest(m, &cfg, &err) == 0)
		die("check_manifest", "an undeclared device went unnoticed");
	require_reason(&err, "check_manifest (extra device)");
}

static void
check_against_fixed(const pt_solo5_manifest *m)
{
	pt_blockspec block = {.name = {"storage", 7}};
	pt_netspec net = {.name = {"service", 7}};
	pt_ukconfig cfg = {.nblocks = 1, .blocks = &block, .nnets = 1,
	    .nets = &net};
	pt_err err;
	memset(&err, 0, sizeof(err));
	bool exact = m->ndevices == 2;
	for (size_t i = 0; i < m->ndevices && exact; i++) {
		const pt_mft_device *d = &m->devices[i];
		exact = (d->type == PT_MFT_BLOCK_BASIC &&
		    strcmp(d->name, "storage") == 0) ||
		    (d->type == PT_MFT_NET_BASIC &&
		    strcmp(d->name, "service") == 0);
	}
	int r = pt_solo5_check_manifest(m, &cfg, &err);
	if ((r == 0) != exact)
		die("check_manifest", exact ? "the matching manifest refused" :
		    "a different manifest accepted");
	if (r != 0)
		require_reason(&err, "check_manifest (fixed configuration)");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pt_solo5_abi abi, abi_only, abi_pw;
	pt_solo5_manifest *mft = malloc(3 * sizeof(*mft));
	if (mft == NULL)
		return 0;
	pt_solo5_manifest *mft_only = mft + 1, *mft_pw = mft + 2;
	pt_err err;
	memset(&err, 0, sizeof(err));
	int r = pt_solo5_inspect_mem(data, size, &abi, mft, &err);
	if (r != 0)
		require_reason(&err, "inspect");

	/* The two notes are found independently of each other. */
	memset(&err, 0, sizeof(err));
	int ra = pt_solo5_inspect_mem(data, size, &abi_only, NULL, &err);
	if (ra != 0)
		require_reason(&err, "inspect (ABI only)");
	memset(&err, 0, sizeof(err));
	int rm = pt_solo5_inspect_mem(data, size, NULL, mft_only, &err);
	if (rm != 0)
		require_reason(&err, "inspect (manifest only)");
	if ((r == 0) != (ra == 0 && rm == 0))
		die("inspect", "both notes and each note alone disagree");

	image im = {data, size};
	memset(&err, 0, sizeof(err));
	int rp = pt_solo5_inspect(piecewise_read, &im, size, &abi_pw, mft_pw,
	    &err);
	if (rp != r)
		die("inspect", "piecewise reads give another answer");

	if (r == 0) {
		if (!same_abi(&abi, &abi_only) || !same_abi(&abi, &abi_pw))
			die("inspect", "ABI differs between lookups");
		if (!same_manifest(mft, mft_only) ||
		    !same_manifest(mft, mft_pw))
			die("inspect", "manifest differs between lookups");
		if (pt_solo5_target_name(abi.target) == NULL)
			die("target name", "NULL");
		check_device_names(mft);
		check_against_itself(mft);
		check_against_fixed(mft);
	}
	free(mft);
	return 0;
}
