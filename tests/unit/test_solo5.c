/*
 * Unit tests for solo5.c: image inspection (good images and every
 * rejection), manifest vs configuration, `--version` parsing, the default
 * MAC and the tender argv.
 *
 * Images are built here byte by byte, laid out like the Solo5 toolchain
 * lays them out (solo5.md §2-§4); each test then breaks one thing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "solo5.h"

/* ---- a small ELF writer ---- */

#define IMG_MAX 16384
#define PH_INTERP 0
#define PH_OPENBSD 1
#define PH_ABI 2
#define PH_MFT 3
#define PH_LOAD 4
#define NPH 5
#define SH_ABI 3
#define SH_MFT 4

typedef struct {
	uint8_t b[IMG_MAX];
	size_t len;
	size_t ph[NPH];        /* offset of each program header */
	size_t abi;            /* offset of the ABI note */
	size_t mft;            /* offset of the manifest note */
	size_t sh;             /* offset of the section header table */
	size_t shstrtab;
} image;

typedef struct {
	const char *name;
	uint32_t type;
} dev;

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void
put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static size_t
align(size_t n, size_t a)
{
	return (n + a - 1) / a * a;
}

static size_t
note(image *im, size_t off, const char *name, size_t namesz, uint32_t type,
    const uint8_t *desc, size_t descsz)
{
	put32(im->b + off, (uint32_t)namesz);
	put32(im->b + off + 4, (uint32_t)descsz);
	put32(im->b + off + 8, type);
	memcpy(im->b + off + 12, name, namesz);
	size_t d = off + 12 + align(namesz, 4);
	memcpy(im->b + d, desc, descsz);
	return d + descsz - off;
}

static void
phdr(image *im, int i, uint32_t type, size_t off, size_t size, size_t al)
{
	uint8_t *p = im->b + 64 + (size_t)i * 56;
	im->ph[i] = 64 + (size_t)i * 56;
	put32(p, type);
	put32(p + 4, 4);
	put64(p + 8, off);
	put64(p + 32, size);
	put64(p + 40, size);
	put64(p + 48, al);
}

static const char shnames[] = "\0.interp\0.note.solo5.not_openbsd\0"
    ".note.solo5.abi\0.note.solo5.manifest\0.text\0.shstrtab";

static void
shdr(image *im, int i, uint32_t name, uint32_t type, size_t off, size_t size)
{
	uint8_t *p = im->b + im->sh + (size_t)i * 64;
	put32(p, name);
	put32(p + 4, type);
	put64(p + 24, off);
	put64(p + 32, size);
}

/* hvt/spt image with ABI `abi` and the given manifest devices. */
static void
build(image *im, uint32_t target, uint32_t abi, const dev *devs, size_t n)
{
	memset(im, 0, sizeof(*im));
	uint8_t *h = im->b;
	memcpy(h, "\177ELF\2\1\1", 7);
	put16(h + 16, 2);          /* ET_EXEC */
	put16(h + 18, 62);         /* x86_64 */
	put32(h + 20, 1);
	put64(h + 24, 0x100000);
	put64(h + 32, 64);
	put16(h + 52, 64);
	put16(h + 54, 56);
	put16(h + 56, NPH);
	put16(h + 58, 64);

	size_t off = 64 + NPH * 56;
	memcpy(im->b + off, "/nonexistent/solo5/", 20);
	phdr(im, PH_INTERP, 3, off, 20, 1);
	size_t interp = off;
	off += 20;

	uint8_t zero4[4] = {0};
	size_t obsd = off;
	size_t sz = note(im, off, "OpenBSD", 8, 1, zero4, 4);
	phdr(im, PH_OPENBSD, 4, off, sz, 4);
	off += sz;

	uint8_t abid[16] = {0};
	put32(abid, target);
	put32(abid + 4, abi);
	im->abi = off;
	size_t abisz = note(im, off, "Solo5", 6, 0x31494241, abid, 16);
	phdr(im, PH_ABI, 4, off, abisz, 4);
	off = align(off + abisz, 8);

	static uint8_t mftd[4 + 8 + 64 * 104];
	size_t entries = n + 1;
	memset(mftd, 0, sizeof(mftd));
	put32(mftd + 4, 1);
	put32(mftd + 8, (uint32_t)entries);
	put32(mftd + 12 + 68, 0x40000000);
	for (size_t i = 0; i < n; i++) {
		uint8_t *e = mftd + 12 + (i + 1) * 104;
		memcpy(e, devs[i].name, strlen(devs[i].name));
		put32(e + 68, devs[i].type);
	}
	im->mft = off;
	size_t mftsz = note(im, off, "Solo5", 6, 0x3154464D, mftd,
	    12 + entries * 104);
	phdr(im, PH_MFT, 4, off, mftsz, 8);
	off += mftsz;

	size_t text = align(off, 16);
	memset(im->b + text, 0xf4, 16);
	phdr(im, PH_LOAD, 1, text, 16, 16);
	off = text + 16;

	im->shstrtab = off;
	memcpy(im->b + off, shnames, sizeof(shnames));
	off += sizeof(shnames);
	im->sh = align(off, 8);
	shdr(im, 1, 1, 1, interp, 20);
	shdr(im, 2, 9, 7, obsd, 24);
	shdr(im, SH_ABI, 33, 7, im->abi, abisz);
	shdr(im, SH_MFT, 49, 7, im->mft, mftsz);
	shdr(im, 5, 70, 1, text, 16);
	shdr(im, 6, 76, 3, im->shstrtab, sizeof(shnames));
	put64(h + 40, im->sh);
	put16(h + 60, 7);
	put16(h + 62, 6);
	im->len = im->sh + 7 * 64;
	assert_true(im->len <= IMG_MAX);
}

static const dev two_devs[] = {
	{"service", PT_MFT_NET_BASIC},
	{"storage", PT_MFT_BLOCK_BASIC},
};

static void
build_default(image *im)
{
	build(im, PT_SOLO5_TARGET_HVT, 2, two_devs, 2);
}

/* Offset of byte `at` of manifest entry i (0 = reserved). */
static size_t
entry(const image *im, size_t i, size_t at)
{
	return im->mft + 32 + i * 104 + at;
}

static int
inspect(const image *im, pt_solo5_abi *abi, pt_solo5_manifest *mft,
    pt_err *err)
{
	return pt_solo5_inspect_mem(im->b, im->len, abi, mft, err);
}

/* Expects inspection to fail with a message containing `want`. */
static void
expect_reject(const image *im, const char *want)
{
	pt_solo5_abi abi;
	pt_solo5_manifest mft;
	pt_err err = {{0}};
	if (inspect(im, &abi, &mft, &err) == 0)
		fail_msg("accepted, expected: %s", want);
	if (strstr(err.msg, want) == NULL)
		fail_msg("error '%s' does not contain '%s'", err.msg, want);
}

static void
drop_sections(image *im)
{
	put16(im->b + 60, 0);
	put64(im->b + 40, 0);
}

/* ---- inspection: good images ---- */

static void
test_inspect_good(void **state)
{
	(void)state;
	static image im;
	pt_solo5_abi abi;
	pt_solo5_manifest mft;
	pt_err err;
	build_default(&im);
	assert_int_equal(inspect(&im, &abi, &mft, &err), 0);
	assert_int_equal(abi.target, PT_SOLO5_TARGET_HVT);
	assert_int_equal(abi.version, 2);
	assert_int_equal(mft.ndevices, 2);
	assert_string_equal(mft.devices[0].name, "service");
	assert_int_equal(mft.devices[0].type, PT_MFT_NET_BASIC);
	assert_string_equal(mft.devices[1].name, "storage");
	assert_int_equal(mft.devices[1].type, PT_MFT_BLOCK_BASIC);
	assert_string_equal(pt_solo5_target_name(abi.target), "hvt");
	assert_string_equal(pt_solo5_target_name(2), "spt");
	assert_string_equal(pt_solo5_target_name(99), "unknown");

	/* The manifest note is byte for byte the one of solo5.md §4.5. */
	static const uint8_t head[] = {
		0x06, 0, 0, 0, 0x44, 0x01, 0, 0, 'M', 'F', 'T', '1',
		'S', 'o', 'l', 'o', '5', 0, 0, 0, 0, 0, 0, 0,
		1, 0, 0, 0, 3, 0, 0, 0,
	};
	assert_memory_equal(im.b + im.mft, head, sizeof(head));
	assert_int_equal(im.b[im.mft + 0x64 + 3], 0x40);
	assert_memory_equal(im.b + im.mft + 0x88, "service", 8);
	assert_int_equal(im.b[im.mft + 0xCC], 2);
	assert_memory_equal(im.b + im.mft + 0xF0, "storage", 8);
	assert_int_equal(im.b[im.mft + 0x134], 1);

	/* spt, no devices at all, ABI only */
	build(&im, PT_SOLO5_TARGET_SPT, 7, NULL, 0);
	assert_int_equal(inspect(&im, &abi, &mft, &err), 0);
	assert_int_equal(abi.target, PT_SOLO5_TARGET_SPT);
	assert_int_equal(abi.version, 7);
	assert_int_equal(mft.ndevices, 0);
	assert_int_equal(inspect(&im, &abi, NULL, &err), 0);

	/* 63 devices: the most a manifest holds */
	static dev many[63];
	static char names[63][8];
	for (size_t i = 0; i < 63; i++) {
		snprintf(names[i], sizeof(names[i]), "dev%zu", i);
		many[i].name = names[i];
		many[i].type = i % 2 ? PT_MFT_NET_BASIC : PT_MFT_BLOCK_BASIC;
	}
	build(&im, PT_SOLO5_TARGET_HVT, 2, many, 63);
	assert_int_equal(inspect(&im, &abi, &mft, &err), 0);
	assert_int_equal(mft.ndevices, 63);
	assert_string_equal(mft.devices[62].name, "dev62");

	/* the same name as net and as block is fine */
	static const dev both[] = {
		{"x", PT_MFT_NET_BASIC}, {"x", PT_MFT_BLOCK_BASIC},
	};
	build(&im, PT_SOLO5_TARGET_HVT, 2, both, 2);
	assert_int_equal(inspect(&im, &abi, &mft, &err), 0);
	assert_int_equal(mft.ndevices, 2);
}

/* albatross finds the notes through section names; so do we when the
 * program headers hold none. */
static void
test_inspect_section_fallback(void **state)
{
	(void)state;
	static image im;
	pt_solo5_abi abi;
	pt_solo5_manifest mft;
	pt_err err;
	build_default(&im);
	put32(im.b + im.ph[PH_ABI], 0);     /* PT_NULL */
	put32(im.b + im.ph[PH_MFT], 0);
	assert_int_equal(inspect(&im, &abi, &mft, &err), 0);
	assert_int_equal(abi.version, 2);
	assert_int_equal(mft.ndevices, 2);

	/* A PT_NOTE of 12..19 bytes is skipped, not fatal. */
	build_default(&im);
	put64(im.b + im.ph[PH_ABI] + 32, 16);
	assert_int_equal(inspect(&im, &abi, &mft, &err), 0);
	drop_sections(&im);
	expect_reject(&im, "No Solo5 ABI information found");

	/* A broken section holding the note is an error. */
	build_default(&im);
	put32(im.b + im.ph[PH_MFT], 0);
	put32(im.b + im.mft + 8, 0x12345678);
	expect_reject(&im, "does not hold");
	build_default(&im);
	put32(im.b + im.ph[PH_MFT], 0);
	put16(im.b + 62, 9);                /* e_shstrndx out of range */
	expect_reject(&im, "section name table");
	build_default(&im);
	put32(im.b + im.ph[PH_MFT], 0);
	put64(im.b + 40, 1u << 30);         /* e_shoff beyond the file */
	expect_reject(&im, "outside the file");
	build_default(&im);
	put32(im.b + im.ph[PH_MFT], 0);
	put64(im.b + im.sh + SH_MFT * 64 + 24, 1u << 30);
	expect_reject(&im, "malformed");
	build_default(&im);
	put32(im.b + im.ph[PH_MFT], 0);
	put16(im.b + 60, 0xffff);           /* e_shnum */
	expect_reject(&im, "too many sections");
}

/* ---- inspection: rejections ---- */

static void
test_reject_elf_header(void **state)
{
	(void)state;
	static image im;
	build_default(&im);
	im.b[0] = 'X';
	expect_reject(&im, "not an ELF file");
	build_default(&im);
	im.len = 40;
	expect_reject(&im, "not an ELF file");
	build_default(&im);
	im.b[4] = 1;
	expect_reject(&im, "not a 64-bit ELF");
	build_default(&im);
	im.b[5] = 2;
	expect_reject(&im, "little-endian");
	build_default(&im);
	put16(im.b + 16, 3);
	expect_reject(&im, "not an executable");
	build_default(&im);
	put16(im.b + 18, 183);
	expect_reject(&im, "not for this machine");
	build_default(&im);
	put32(im.b + 20, 2);
	expect_reject(&im, "ELF version");
	build_default(&im);
	put16(im.b + 54, 32);
	expect_reject(&im, "program header size");
	build_default(&im);
	put16(im.b + 56, 0);
	expect_reject(&im, "no program headers");
	build_default(&im);
	put16(im.b + 56, 0xffff);
	expect_reject(&im, "too many program headers");
	build_default(&im);
	put16(im.b + 56, 200);              /* table runs past the end */
	expect_reject(&im, "outside the file");
	build_default(&im);
	put64(im.b + 32, UINT64_MAX - 8);   /* e_phoff overflows */
	expect_reject(&im, "outside the file");
}

static void
test_reject_notes(void **state)
{
	(void)state;
	static image im;
	/* no PT_NOTE and no sections */
	build_default(&im);
	for (int i = PH_OPENBSD; i <= PH_MFT; i++)
		put32(im.b + im.ph[i], 0);
	drop_sections(&im);
	expect_reject(&im, "No Solo5 ABI information found");
	build_default(&im);
	put32(im.b + im.ph[PH_MFT], 0);
	drop_sections(&im);
	expect_reject(&im, "No Solo5 manifest found");

	/* a PT_NOTE shorter than a note header is fatal, like the tenders */
	build_default(&im);
	put64(im.b + im.ph[PH_OPENBSD] + 32, 8);
	expect_reject(&im, "too small");
	/* segment outside the file */
	build_default(&im);
	put64(im.b + im.ph[PH_ABI] + 8, im.len - 10);
	expect_reject(&im, "outside the file");
	build_default(&im);
	put64(im.b + im.ph[PH_MFT] + 8, UINT64_MAX - 4);
	expect_reject(&im, "outside the file");

	/* n_descsz: 0, above the tenders' maximum, beyond the segment */
	build_default(&im);
	put32(im.b + im.abi + 4, 0);
	expect_reject(&im, "out of range");
	build_default(&im);
	put32(im.b + im.abi + 4, 33);
	expect_reject(&im, "out of range");
	build_default(&im);
	put32(im.b + im.abi + 4, 20);
	expect_reject(&im, "does not fit");
	build_default(&im);
	put32(im.b + im.mft + 4, 6669);
	expect_reject(&im, "out of range");
	build_default(&im);
	put32(im.b + im.mft + 4, 3);        /* less than the padding */
	expect_reject(&im, "too small");

	/* ABI payload: size, reserved words, target */
	build_default(&im);
	put32(im.b + im.abi + 4, 12);
	put64(im.b + im.ph[PH_ABI] + 32, 32);
	expect_reject(&im, "expected 16");
	build_default(&im);
	put32(im.b + im.abi + 28, 1);
	expect_reject(&im, "reserved");
	build_default(&im);
	put32(im.b + im.abi + 20, 9);
	expect_reject(&im, "unknown target");
	/* another owner's note of the right type is not ours */
	build_default(&im);
	im.b[im.abi + 12] = 'X';
	drop_sections(&im);
	expect_reject(&im, "No Solo5 ABI information found");
}

static void
test_reject_manifest(void **state)
{
	(void)state;
	static image im;
	build_default(&im);
	put32(im.b + im.mft + 24, 2);
	expect_reject(&im, "version 2");
	build_default(&im);
	put32(im.b + im.mft + 28, 0);
	expect_reject(&im, "0 entries");
	build_default(&im);
	put32(im.b + im.mft + 28, 65);
	expect_reject(&im, "65 entries");
	build_default(&im);
	put32(im.b + im.mft + 28, 2);       /* 3 entries' worth of bytes */
	expect_reject(&im, "does not match");
	build_default(&im);                 /* payload below 8 bytes */
	put32(im.b + im.mft + 4, 8);
	expect_reject(&im, "too short");

	/* the reserved first entry */
	build_default(&im);
	put32(im.b + entry(&im, 0, 68), PT_MFT_NET_BASIC);
	expect_reject(&im, "reserved entry");
	build_default(&im);
	im.b[entry(&im, 0, 3)] = 'a';
	expect_reject(&im, "reserved entry");
	build_default(&im);
	put32(im.b + entry(&im, 2, 68), PT_MFT_RESERVED_FIRST);
	expect_reject(&im, "reserved entry after the first");
	build_default(&im);
	put32(im.b + entry(&im, 2, 68), 3);
	expect_reject(&im, "unknown device type 3");

	/* run-time fields must be zero in the file */
	build_default(&im);
	im.b[entry(&im, 1, 96)] = 1;
	expect_reject(&im, "attached");
	build_default(&im);
	im.b[entry(&im, 0, 96)] = 1;
	expect_reject(&im, "attached");
	build_default(&im);
	im.b[entry(&im, 1, 72 + 5)] = 1;    /* u */
	expect_reject(&im, "run-time fields");
	build_default(&im);
	im.b[entry(&im, 2, 88 + 7)] = 1;    /* b */
	expect_reject(&im, "run-time fields");

	/* names */
	build_default(&im);
	memset(im.b + entry(&im, 1, 0), 'a', 68);
	expect_reject(&im, "not NUL-terminated");
	build_default(&im);
	memset(im.b + entry(&im, 1, 0), 0, 68);
	expect_reject(&im, "invalid device name");
	build_default(&im);
	im.b[entry(&im, 1, 3)] = '-';
	expect_reject(&im, "invalid device name");
	static const dev dup[] = {
		{"a", PT_MFT_NET_BASIC}, {"a", PT_MFT_NET_BASIC},
	};
	build(&im, PT_SOLO5_TARGET_HVT, 2, dup, 2);
	expect_reject(&im, "declared twice");
}

typedef struct {
	const image *im;
	uint64_t fail_at;  /* reads touching this offset fail */
} failing_reader;

static int
failing_read_at(void *ctx, uint64_t off, void *buf, size_t n)
{
	const failing_reader *f = ctx;
	if (off <= f->fail_at && f->fail_at < off + n)
		return -1;
	memcpy(buf, f->im->b + off, n);
	return 0;
}

/* An I/O error is reported, not mistaken for a missing note. */
static void
test_inspect_read_error(void **state)
{
	(void)state;
	static image im;
	build_default(&im);
	failing_reader f = {&im, im.mft + 2};
	pt_solo5_abi abi;
	pt_solo5_manifest mft;
	pt_err err;
	assert_int_equal(pt_solo5_inspect(failing_read_at, &f, im.len, &abi,
	    &mft, &err), -1);
	assert_non_null(strstr(err.msg, "cannot read"));
	f.fail_at = 0;
	assert_int_equal(pt_solo5_inspect(failing_read_at, &f, im.len, &abi,
	    &mft, &err), -1);
	assert_non_null(strstr(err.msg, "cannot read ELF header"));
}

/* ---- manifest vs configuration ---- */

static pt_text
T(const char *s)
{
	return (pt_text){s, strlen(s)};
}

static void
manifest_of(pt_solo5_manifest *m, const dev *d, size_t n)
{
	memset(m, 0, sizeof(*m));
	for (size_t i = 0; i < n; i++) {
		strcpy(m->devices[i].name, d[i].name);
		m->devices[i].type = d[i].type;
	}
	m->ndevices = n;
}

static void
test_check_manifest(void **state)
{
	(void)state;
	static const dev d[] = {
		{"service", PT_MFT_NET_BASIC}, {"storage", PT_MFT_BLOCK_BASIC},
		{"admin", PT_MFT_NET_BASIC},
	};
	pt_solo5_manifest m;
	manifest_of(&m, d, 3);
	pt_netspec nets[3] = {{.name = T("admin")}, {.name = T("service")},
	    {.name = T("other")}};
	pt_blockspec blocks[2] = {{.name = T("storage")}, {.name = T("x")}};
	pt_ukconfig cfg = {.nets = nets, .nnets = 2, .blocks = blocks,
	    .nblocks = 1};
	pt_err err;
	assert_int_equal(pt_solo5_check_manifest(&m, &cfg, &err), 0);

	cfg.nnets = 1;                      /* missing network */
	assert_int_equal(pt_solo5_check_manifest(&m, &cfg, &err), -1);
	assert_non_null(strstr(err.msg, "network"));
	assert_non_null(strstr(err.msg, "'service'"));
	cfg.nnets = 3;                      /* extra network */
	assert_int_equal(pt_solo5_check_manifest(&m, &cfg, &err), -1);
	assert_non_null(strstr(err.msg, "'other'"));
	cfg.nnets = 2;
	cfg.nblocks = 0;                    /* missing block */
	assert_int_equal(pt_solo5_check_manifest(&m, &cfg, &err), -1);
	assert_non_null(strstr(err.msg, "block device"));
	assert_non_null(strstr(err.msg, "'storage'"));
	cfg.nblocks = 2;                    /* extra block */
	assert_int_equal(pt_solo5_check_manifest(&m, &cfg, &err), -1);
	assert_non_null(strstr(err.msg, "'x'"));

	/* a block named like a network is not that network */
	cfg.nblocks = 1;
	nets[1].name = T("storage");
	assert_int_equal(pt_solo5_check_manifest(&m, &cfg, &err), -1);
	nets[1].name = T("service");

	/* the same name as both a net and a block device */
	static const dev both[] = {
		{"x", PT_MFT_NET_BASIC}, {"x", PT_MFT_BLOCK_BASIC},
	};
	manifest_of(&m, both, 2);
	pt_netspec xn = {.name = T("x")};
	pt_blockspec xb = {.name = T("x")};
	pt_ukconfig c2 = {.nets = &xn, .nnets = 1, .blocks = &xb, .nblocks = 1};
	assert_int_equal(pt_solo5_check_manifest(&m, &c2, &err), 0);
	c2.nblocks = 0;
	assert_int_equal(pt_solo5_check_manifest(&m, &c2, &err), -1);

	/* a name configured twice; hostile text is made printable */
	pt_netspec twice[2] = {{.name = T("x")}, {.name = T("x")}};
	c2.nets = twice;
	c2.nnets = 2;
	c2.nblocks = 1;
	assert_int_equal(pt_solo5_check_manifest(&m, &c2, &err), -1);
	assert_non_null(strstr(err.msg, "twice"));
	pt_netspec weird = {.name = T("a\nb")};
	c2.nets = &weird;
	c2.nnets = 1;
	assert_int_equal(pt_solo5_check_manifest(&m, &c2, &err), -1);
	assert_non_null(strstr(err.msg, "'a?b'"));
	assert_null(strchr(err.msg, '\n'));

	/* an empty manifest matches an empty configuration */
	manifest_of(&m, NULL, 0);
	pt_ukconfig none = {0};
	assert_int_equal(pt_solo5_check_manifest(&m, &none, &err), 0);
}

/* ---- `--version` ---- */

static int
parse_version(const char *s, uint32_t *v)
{
	return pt_solo5_parse_version(s, strlen(s), v);
}

static void
test_parse_version(void **state)
{
	(void)state;
	uint32_t v = 0;
	/* what solo5-hvt v0.12.1 prints (solo5.md §10) */
	assert_int_equal(parse_version("solo5-hvt tender, version v0.12.1\n"
	    "ABI version 2\n", &v), 0);
	assert_int_equal(v, 2);
	assert_int_equal(parse_version("ABI version 17", &v), 0);
	assert_int_equal(v, 17);
	assert_int_equal(parse_version("noise\nABI version 1\nABI version 3\n",
	    &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(parse_version("ABI version 4294967295\n", &v), 0);
	assert_int_equal(v, UINT32_MAX);

	assert_int_equal(parse_version("ABI version 2x\n", &v), -1);
	assert_int_equal(parse_version("ABI version 2 extra\n", &v), -1);
	assert_int_equal(parse_version("ABI  version 2\n", &v), -1);
	assert_int_equal(parse_version(" ABI version 2\n", &v), -1);
	assert_int_equal(parse_version("ABI version \n", &v), -1);
	assert_int_equal(parse_version("ABI version -2\n", &v), -1);
	assert_int_equal(parse_version("ABI version 4294967296\n", &v), -1);
	assert_int_equal(parse_version("abi version 2\n", &v), -1);
	assert_int_equal(parse_version("solo5-hvt tender, version v0.12.1\n",
	    &v), -1);
	assert_int_equal(parse_version("", &v), -1);
	/* the length bounds the search, not a NUL */
	assert_int_equal(pt_solo5_parse_version("ABI version 23", 13, &v), 0);
	assert_int_equal(v, 2);
	assert_int_equal(pt_solo5_parse_version("ABI version 2\0\n", 15, &v),
	    -1);
}

/* ---- default MAC (albatross-wire.md A.3) ---- */

static void
test_default_mac(void **state)
{
	(void)state;
	pt_name n;
	pt_err err;
	uint8_t mac[6];
	static const uint8_t want[6] = {0x00, 0x80, 0x41, 0xdf, 0xaa, 0x23};
	assert_int_equal(pt_name_parse_str("foo:hello", &n, &err), 0);
	assert_int_equal(pt_solo5_default_mac("service", 7, &n, mac), 0);
	assert_memory_equal(mac, want, 6);
	/* the length counts, not a NUL */
	assert_int_equal(pt_solo5_default_mac("servicex", 7, &n, mac), 0);
	assert_memory_equal(mac, want, 6);
	assert_int_equal(pt_solo5_default_mac("other", 5, &n, mac), 0);
	assert_memory_not_equal(mac, want, 6);
	assert_memory_equal(mac, want, 3);
}

/* ---- the tender argv ---- */

static void
assert_argv(char **argv, size_t argc, const char *const *want)
{
	size_t n = 0;
	while (want[n] != NULL)
		n++;
	for (size_t i = 0; i < argc && i < n; i++)
		if (strcmp(argv[i], want[i]) != 0)
			fail_msg("argv[%zu] is '%s', expected '%s'", i,
			    argv[i], want[i]);
	assert_int_equal(argc, n);
	assert_null(argv[argc]);
}

/* solo5.md §5.5, with the MAC computed per A.3. */
static void
test_argv_example(void **state)
{
	(void)state;
	pt_name n;
	pt_err err;
	assert_int_equal(pt_name_parse_str("foo:hello", &n, &err), 0);
	pt_netspec net = {.name = T("service")};
	pt_blockspec blk = {.name = T("storage"), .has_device = true,
	    .device = T("disk"), .has_sector_size = true,
	    .sector_size = 4096};
	pt_text args[2] = {T("-l"), T("*:debug")};
	pt_ukconfig cfg = {.memory = 256, .nets = &net, .nnets = 1,
	    .blocks = &blk, .nblocks = 1, .has_argv = true, .argc = 2,
	    .argv = args, .add_name = true};
	const char *taps[] = {"vmmtap0"};
	pt_tender_args ta = {.tender = "solo5-hvt",
	    .image_path = "/run/albatross/foo:hello.img",
	    .block_dir = "/var/lib/albatross/block", .name = &n, .taps = taps,
	    .add_name = true};
	pt_arena a = {0};
	char **argv;
	size_t argc;
	assert_int_equal(pt_solo5_build_argv(&cfg, &ta, &a, &argv, &argc,
	    &err), 0);
	static const char *const want[] = {
		"solo5-hvt", "--mem=256",
		"--net:service=vmmtap0",
		"--net-mac:service=00:80:41:df:aa:23",
		"--block:storage=/var/lib/albatross/block/foo:disk",
		"--block-sector-size:storage=4096",
		"--", "/run/albatross/foo:hello.img", "--name=hello",
		"-l", "*:debug", NULL,
	};
	assert_argv(argv, argc, want);
	pt_arena_free(&a);
}

/* Several devices: all --net, then all --net-mac, all --block, then the
 * configured sector sizes (albatross's order); a configured MAC wins;
 * a root unikernel's block file is ":<device>"; no --name unless asked. */
static void
test_argv_order(void **state)
{
	(void)state;
	pt_name n;
	pt_err err;
	assert_int_equal(pt_name_parse_str(":hello", &n, &err), 0);
	pt_netspec nets[2] = {{.name = T("a"), .has_mac = true,
	    .mac = {0x02, 0, 0, 0, 0, 0xff}}, {.name = T("b")}};
	pt_blockspec blks[2] = {{.name = T("disk1")}, {.name = T("d2"),
	    .has_device = true, .device = T("other"), .has_sector_size = true,
	    .sector_size = 512}};
	pt_ukconfig cfg = {.memory = 32, .nets = nets, .nnets = 2,
	    .blocks = blks, .nblocks = 2, .add_name = true};
	const char *taps[] = {"tap0", "tap1"};
	pt_tender_args ta = {.tender = "/usr/bin/solo5-spt",
	    .image_path = "/tmp/:hello.img", .block_dir = "/db/block",
	    .name = &n, .taps = taps, .add_name = false};
	pt_arena a = {0};
	char **argv;
	size_t argc;
	uint8_t mac[6];
	char macopt[64];
	assert_int_equal(pt_solo5_default_mac("b", 1, &n, mac), 0);
	snprintf(macopt, sizeof(macopt),
	    "--net-mac:b=%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1],
	    mac[2], mac[3], mac[4], mac[5]);
	assert_int_equal(pt_solo5_build_argv(&cfg, &ta, &a, &argv, &argc,
	    &err), 0);
	const char *const want[] = {
		"/usr/bin/solo5-spt", "--mem=32",
		"--net:a=tap0", "--net:b=tap1",
		"--net-mac:a=02:00:00:00:00:ff", macopt,
		"--block:disk1=/db/block/:disk1",
		"--block:d2=/db/block/:other",
		"--block-sector-size:d2=512",
		"--", "/tmp/:hello.img", NULL,
	};
	assert_argv(argv, argc, want);

	/* a present but empty argv adds nothing; add_name adds the label */
	ta.add_name = true;
	cfg.has_argv = true;
	assert_int_equal(pt_solo5_build_argv(&cfg, &ta, &a, &argv, &argc,
	    &err), 0);
	assert_int_equal(argc, 12);
	assert_string_equal(argv[11], "--name=hello");

	/* a path-only name passes its full text */
	pt_name p;
	assert_int_equal(pt_name_parse_str("a:b:", &p, &err), 0);
	pt_ukconfig bare = {.memory = 1};
	pt_tender_args tb = {.tender = "t", .image_path = "i",
	    .block_dir = "/b", .name = &p, .add_name = true};
	assert_int_equal(pt_solo5_build_argv(&bare, &tb, &a, &argv, &argc,
	    &err), 0);
	static const char *const want2[] = {
		"t", "--mem=1", "--", "i", "--name=a:b:", NULL,
	};
	assert_argv(argv, argc, want2);
	pt_arena_free(&a);
}

static void
expect_argv_error(const pt_ukconfig *cfg, const pt_tender_args *ta,
    const char *want)
{
	pt_arena a = {0};
	char **argv;
	size_t argc;
	pt_err err = {{0}};
	if (pt_solo5_build_argv(cfg, ta, &a, &argv, &argc, &err) == 0)
		fail_msg("accepted, expected: %s", want);
	if (strstr(err.msg, want) == NULL)
		fail_msg("error '%s' does not contain '%s'", err.msg, want);
	pt_arena_free(&a);
}

static void
test_argv_errors(void **state)
{
	(void)state;
	pt_name n;
	pt_err err;
	assert_int_equal(pt_name_parse_str("foo:hello", &n, &err), 0);
	pt_netspec net = {.name = T("service")};
	pt_blockspec blk = {.name = T("storage")};
	pt_ukconfig cfg = {.memory = 64, .nets = &net, .nnets = 1,
	    .blocks = &blk, .nblocks = 1};
	const char *taps[] = {"vmmtap0"};
	pt_tender_args ta = {.tender = "solo5-hvt", .image_path = "/i.img",
	    .block_dir = "/db/block", .name = &n, .taps = taps};

	cfg.memory = 0;
	expect_argv_error(&cfg, &ta, "memory");
	cfg.memory = 64;

	net.name = T("ser-vice");
	expect_argv_error(&cfg, &ta, "not a valid Solo5 device name");
	net.name = T("");
	expect_argv_error(&cfg, &ta, "not a valid Solo5 device name");
	net.name = T("service");
	taps[0] = "averyveryverylongtap";
	expect_argv_error(&cfg, &ta, "bad tap name");
	taps[0] = "tap 0";
	expect_argv_error(&cfg, &ta, "bad tap name");
	taps[0] = "vmmtap0";
	ta.taps = NULL;
	expect_argv_error(&cfg, &ta, "no taps");
	ta.taps = taps;

	blk.name = T("sto/rage");
	expect_argv_error(&cfg, &ta, "not a valid Solo5 device name");
	blk.name = T("storage");
	blk.has_device = true;
	blk.device = T("../etc");
	expect_argv_error(&cfg, &ta, "block device '../etc'");
	blk.has_device = false;
	blk.has_sector_size = true;
	blk.sector_size = 1000;
	expect_argv_error(&cfg, &ta, "sector size 1000");
	blk.sector_size = 65536;
	expect_argv_error(&cfg, &ta, "sector size 65536");
	blk.sector_size = 256;
	expect_argv_error(&cfg, &ta, "sector size 256");
	blk.has_sector_size = false;
	ta.block_dir = "/my dir/block";
	expect_argv_error(&cfg, &ta, "white space");
	ta.block_dir = "/db/block";

	/* the guest command line holds 8191 bytes */
	static char big[8200];
	memset(big, 'x', sizeof(big) - 1);
	pt_text arg = {big, 8191};
	cfg.argv = &arg;
	cfg.argc = 1;
	cfg.has_argv = true;
	pt_arena a = {0};
	char **argv;
	size_t argc;
	assert_int_equal(pt_solo5_build_argv(&cfg, &ta, &a, &argv, &argc,
	    &err), 0);
	pt_arena_free(&a);
	arg.len = 8192;
	expect_argv_error(&cfg, &ta, "too long");
	arg.len = 8185;                     /* + "--name=hello" + space */
	ta.add_name = true;
	expect_argv_error(&cfg, &ta, "too long");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inspect_good),
		cmocka_unit_test(test_inspect_section_fallback),
		cmocka_unit_test(test_reject_elf_header),
		cmocka_unit_test(test_reject_notes),
		cmocka_unit_test(test_reject_manifest),
		cmocka_unit_test(test_inspect_read_error),
		cmocka_unit_test(test_check_manifest),
		cmocka_unit_test(test_parse_version),
		cmocka_unit_test(test_default_mac),
		cmocka_unit_test(test_argv_example),
		cmocka_unit_test(test_argv_order),
		cmocka_unit_test(test_argv_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
