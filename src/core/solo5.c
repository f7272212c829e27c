/*
 * Solo5 images and tenders, the pure part: see solo5.h.
 *
 * The image is hostile. Every offset and size read from it is checked
 * against the file size before use (with overflow-safe arithmetic), the
 * number of headers examined is bounded, and nothing is allocated from a
 * size found in the file: note payloads land in fixed buffers sized to the
 * largest payload Solo5 allows.
 */
#include "solo5.h"

#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

/* ---- ELF layout (ELF64, little-endian) ---- */

#define EHDR_SIZE 64
#define PHDR_SIZE 56
#define SHDR_SIZE 64
#define ELFCLASS64 2
#define ELFDATA2LSB 1
#define EV_CURRENT 1
#define ET_EXEC 2
#define PT_NOTE 4
#define SHN_UNDEF 0

#if defined(__x86_64__)
#define HOST_MACHINE 62
#define HOST_MACHINE_NAME "x86_64"
#elif defined(__aarch64__)
#define HOST_MACHINE 183
#define HOST_MACHINE_NAME "aarch64"
#elif defined(__powerpc64__)
#define HOST_MACHINE 21
#define HOST_MACHINE_NAME "ppc64"
#else
#error "Solo5 supports x86_64, aarch64 and ppc64le hosts only"
#endif

/* Solo5 images have about eight program headers and a few dozen sections;
 * these caps only bound the work a hostile header can cause. */
#define MAX_PHNUM 256
#define MAX_SHNUM 4096

/* ---- Solo5 notes (solo5.md §3, §4) ---- */

#define NOTE_HDR_SIZE 20
#define NOTE_TYPE_ABI 0x31494241u /* "ABI1" */
#define NOTE_TYPE_MFT 0x3154464Du /* "MFT1" */
#define ABI_MAX_DESCSZ 32
#define ABI_PAYLOAD_SIZE 16
#define MFT_PAD 4
#define MFT_VERSION 1
#define MFT_HDR_SIZE 8
#define MFT_ENTRY_SIZE 104
#define MFT_MAX_DESCSZ (MFT_PAD + MFT_HDR_SIZE + \
	PT_MFT_MAX_ENTRIES * MFT_ENTRY_SIZE)

/* Offsets inside struct mft_entry. */
#define MFTE_TYPE 68
#define MFTE_U 72
#define MFTE_U_SIZE 16
#define MFTE_B 88
#define MFTE_B_SIZE 8
#define MFTE_ATTACHED 96

/* The tenders' command-line buffer, NUL included (§5.1 step 4). */
#define TENDER_CMDLINE_SIZE 8192
/* IFNAMSIZ - 1: the tender hands the name to TUNSETIFF. */
#define TAP_NAME_MAX 15

typedef struct {
	uint32_t type;
	size_t max_descsz;  /* the tenders' bound */
	size_t pad;         /* descriptor bytes before the payload */
	const char *what;   /* for messages */
	const char *missing;
	const char *section;
} note_kind;

static const note_kind abi_note = {
	NOTE_TYPE_ABI, ABI_MAX_DESCSZ, 0, "Solo5 ABI note",
	"No Solo5 ABI information found", ".note.solo5.abi",
};
static const note_kind mft_note = {
	NOTE_TYPE_MFT, MFT_MAX_DESCSZ, MFT_PAD, "Solo5 manifest note",
	"No Solo5 manifest found", ".note.solo5.manifest",
};

typedef struct {
	pt_read_at_fn rd;
	void *ctx;
	uint64_t size;
	uint64_t phoff;
	unsigned phnum;
	uint64_t shoff;
	unsigned shnum;
	unsigned shentsize;
	unsigned shstrndx;
} elf_file;

static uint16_t
le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) |
	    ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t
le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | ((uint64_t)le32(p + 4) << 32);
}

static bool
all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

/* Does [off, off+len) lie inside a file of `size` bytes? */
static bool
in_file(uint64_t size, uint64_t off, uint64_t len)
{
	return off <= size && len <= size - off;
}

static int
read_at(const elf_file *e, uint64_t off, void *buf, size_t n,
    const char *what, pt_err *err)
{
	if (!in_file(e->size, off, n))
		return pt_fail(err, "%s lies outside the file (offset %" PRIu64
		    ", %zu bytes, file size %" PRIu64 ")", what, off, n, e->size);
	if (e->rd(e->ctx, off, buf, n) != 0)
		return pt_fail(err, "cannot read %s (offset %" PRIu64 ")", what,
		    off);
	return 0;
}

/* §2: the checks every tender makes on the ELF header. */
static int
read_ehdr(elf_file *e, pt_err *err)
{
	uint8_t h[EHDR_SIZE];
	if (e->size < EHDR_SIZE)
		return pt_fail(err, "not an ELF file (only %" PRIu64 " bytes)",
		    e->size);
	if (read_at(e, 0, h, sizeof(h), "ELF header", err) != 0)
		return -1;
	if (memcmp(h, "\177ELF", 4) != 0)
		return pt_fail(err, "not an ELF file (bad magic)");
	if (h[4] != ELFCLASS64)
		return pt_fail(err, "not a 64-bit ELF file (class %u)", h[4]);
	if (h[5] != ELFDATA2LSB)
		return pt_fail(err, "ELF file is not little-endian (data %u)",
		    h[5]);
	if (le32(h + 20) != EV_CURRENT)
		return pt_fail(err, "unsupported ELF version %" PRIu32,
		    le32(h + 20));
	if (le16(h + 16) != ET_EXEC)
		return pt_fail(err, "ELF file is not an executable (type %u)",
		    le16(h + 16));
	if (le16(h + 18) != HOST_MACHINE)
		return pt_fail(err, "ELF file is not for this machine "
		    "(machine %u, host is " HOST_MACHINE_NAME ")", le16(h + 18));
	if (le16(h + 52) != EHDR_SIZE)
		return pt_fail(err, "bad ELF header size %u", le16(h + 52));
	if (le16(h + 54) != PHDR_SIZE)
		return pt_fail(err, "bad ELF program header size %u",
		    le16(h + 54));
	e->phoff = le64(h + 32);
	e->phnum = le16(h + 56);
	if (e->phnum == 0)
		return pt_fail(err, "ELF file has no program headers");
	if (e->phnum > MAX_PHNUM)
		return pt_fail(err, "ELF file has too many program headers "
		    "(%u, at most %d)", e->phnum, MAX_PHNUM);
	if (!in_file(e->size, e->phoff, (uint64_t)e->phnum * PHDR_SIZE))
		return pt_fail(err, "ELF program header table lies outside "
		    "the file");
	e->shoff = le64(h + 40);
	e->shentsize = le16(h + 58);
	e->shnum = le16(h + 60);
	e->shstrndx = le16(h + 62);
	return 0;
}

/* Reads a Solo5 note header at off (inside a region of `avail` bytes) and
 * says whether it is the wanted note; if so, checks n_descsz. */
static int
match_note(const elf_file *e, const note_kind *k, uint64_t off,
    uint64_t avail, bool *match, uint32_t *descsz, pt_err *err)
{
	uint8_t h[NOTE_HDR_SIZE];
	*match = false;
	if (read_at(e, off, h, sizeof(h), k->what, err) != 0)
		return -1;
	if (le32(h) != 6 || memcmp(h + 12, "Solo5\0", 6) != 0 ||
	    le32(h + 8) != k->type)
		return 0;
	*match = true;
	*descsz = le32(h + 4);
	if (*descsz < 1 || *descsz > k->max_descsz)
		return pt_fail(err, "%s: descriptor size %" PRIu32 " out of "
		    "range (1..%zu)", k->what, *descsz, k->max_descsz);
	if (avail < (uint64_t)NOTE_HDR_SIZE + *descsz)
		return pt_fail(err, "%s: descriptor (%" PRIu32 " bytes) does "
		    "not fit its %" PRIu64 "-byte container", k->what, *descsz,
		    avail);
	if (*descsz < k->pad)
		return pt_fail(err, "%s: descriptor size %" PRIu32 " too small",
		    k->what, *descsz);
	return 0;
}

/* §3.1: the first wanted note at the start of a PT_NOTE segment. */
static int
find_note_phdr(const elf_file *e, const note_kind *k, uint8_t *payload,
    size_t *plen, bool *found, pt_err *err)
{
	*found = false;
	for (unsigned i = 0; i < e->phnum; i++) {
		uint8_t ph[PHDR_SIZE];
		if (read_at(e, e->phoff + (uint64_t)i * PHDR_SIZE, ph,
		    sizeof(ph), "ELF program header", err) != 0)
			return -1;
		if (le32(ph) != PT_NOTE)
			continue;
		uint64_t off = le64(ph + 8), filesz = le64(ph + 32);
		/* The tenders refuse the whole file here, so do we. */
		if (filesz < 12)
			return pt_fail(err, "PT_NOTE segment %u is too small "
			    "(%" PRIu64 " bytes)", i, filesz);
		if (!in_file(e->size, off, filesz))
			return pt_fail(err, "PT_NOTE segment %u lies outside "
			    "the file", i);
		if (filesz < NOTE_HDR_SIZE)
			continue;
		bool match;
		uint32_t descsz;
		if (match_note(e, k, off, filesz, &match, &descsz, err) != 0)
			return -1;
		if (!match)
			continue;
		*plen = descsz - k->pad;
		*found = true;
		return read_at(e, off + NOTE_HDR_SIZE + k->pad, payload, *plen,
		    k->what, err);
	}
	return 0;
}

/* Reads section header i. */
static int
read_shdr(const elf_file *e, unsigned i, uint8_t sh[SHDR_SIZE], pt_err *err)
{
	return read_at(e, e->shoff + (uint64_t)i * e->shentsize, sh, SHDR_SIZE,
	    "ELF section header", err);
}

/* Is the name of a section (at name_off in the name table `strtab`)
 * exactly `want`? Unreadable names are just no match. */
static bool
section_named(const elf_file *e, const uint8_t strtab[SHDR_SIZE],
    uint32_t name_off, const char *want)
{
	uint64_t str_off = le64(strtab + 24), str_size = le64(strtab + 32);
	size_t n = strlen(want) + 1; /* compare the NUL too */
	char buf[32];
	if (n > sizeof(buf) || name_off > str_size || n > str_size - name_off)
		return false;
	if (!in_file(e->size, str_off, str_size))
		return false;
	if (e->rd(e->ctx, str_off + name_off, buf, n) != 0)
		return false;
	return memcmp(buf, want, n) == 0;
}

/* §3.2: the section named k->section, as albatross finds it. */
static int
find_note_section(const elf_file *e, const note_kind *k, uint8_t *payload,
    size_t *plen, bool *found, pt_err *err)
{
	*found = false;
	if (e->shoff == 0 || e->shnum == 0 || e->shstrndx == SHN_UNDEF)
		return 0;
	if (e->shentsize != SHDR_SIZE)
		return pt_fail(err, "bad ELF section header size %u",
		    e->shentsize);
	if (e->shnum > MAX_SHNUM)
		return pt_fail(err, "ELF file has too many sections (%u, at "
		    "most %d)", e->shnum, MAX_SHNUM);
	if (!in_file(e->size, e->shoff, (uint64_t)e->shnum * SHDR_SIZE))
		return pt_fail(err, "ELF section header table lies outside "
		    "the file");
	if (e->shstrndx >= e->shnum)
		return pt_fail(err, "bad ELF section name table index %u",
		    e->shstrndx);
	uint8_t strtab[SHDR_SIZE];
	if (read_shdr(e, e->shstrndx, strtab, err) != 0)
		return -1;
	for (unsigned i = 0; i < e->shnum; i++) {
		uint8_t sh[SHDR_SIZE];
		if (read_shdr(e, i, sh, err) != 0)
			return -1;
		if (!section_named(e, strtab, le32(sh), k->section))
			continue;
		uint64_t off = le64(sh + 24), size = le64(sh + 32);
		if (size < NOTE_HDR_SIZE || !in_file(e->size, off, size))
			return pt_fail(err, "section %s is malformed",
			    k->section);
		bool match;
		uint32_t descsz;
		if (match_note(e, k, off, size, &match, &descsz, err) != 0)
			return -1;
		if (!match)
			return pt_fail(err, "section %s does not hold a %s",
			    k->section, k->what);
		*plen = descsz - k->pad;
		*found = true;
		return read_at(e, off + NOTE_HDR_SIZE + k->pad, payload, *plen,
		    k->what, err);
	}
	return 0;
}

static int
find_note(const elf_file *e, const note_kind *k, uint8_t *payload,
    size_t *plen, pt_err *err)
{
	bool found;
	if (find_note_phdr(e, k, payload, plen, &found, err) != 0)
		return -1;
	if (!found && find_note_section(e, k, payload, plen, &found, err) != 0)
		return -1;
	if (!found)
		return pt_fail(err, "%s", k->missing);
	return 0;
}

/* §4.1, as strict as albatross: exactly 16 bytes, reserved words zero, a
 * known target. (Which targets petrel can run is the caller's choice.) */
static int
parse_abi(const uint8_t *p, size_t n, pt_solo5_abi *abi, pt_err *err)
{
	if (n != ABI_PAYLOAD_SIZE)
		return pt_fail(err, "Solo5 ABI note: %zu bytes, expected %d", n,
		    ABI_PAYLOAD_SIZE);
	abi->target = le32(p);
	abi->version = le32(p + 4);
	if (le32(p + 8) != 0 || le32(p + 12) != 0)
		return pt_fail(err, "Solo5 ABI note: reserved fields not zero");
	if (abi->target < PT_SOLO5_TARGET_HVT ||
	    abi->target > PT_SOLO5_TARGET_XEN)
		return pt_fail(err, "Solo5 ABI note: unknown target %" PRIu32,
		    abi->target);
	return 0;
}

/* The tenders' device-name syntax (§5.3), which the solo5-elftool
 * manifest generator enforces too: 1-67 of [A-Za-z0-9]. */
static bool
device_name_valid(const char *s, size_t n)
{
	if (n < 1 || n > PT_MFT_NAME_SIZE - 1)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9')))
			return false;
	}
	return true;
}

static int
parse_mft_entry(const uint8_t *e, size_t i, pt_solo5_manifest *mft,
    pt_err *err)
{
	uint32_t type = le32(e + MFTE_TYPE);
	if (e[PT_MFT_NAME_SIZE - 1] != 0)
		return pt_fail(err, "Solo5 manifest: entry %zu: name not "
		    "NUL-terminated", i);
	if (!all_zero(e + MFTE_U, MFTE_U_SIZE) ||
	    !all_zero(e + MFTE_B, MFTE_B_SIZE))
		return pt_fail(err, "Solo5 manifest: entry %zu: run-time "
		    "fields not zero", i);
	if (e[MFTE_ATTACHED] != 0)
		return pt_fail(err, "Solo5 manifest: entry %zu: marked "
		    "attached", i);
	if (i == 0) {
		if (type != PT_MFT_RESERVED_FIRST ||
		    !all_zero(e, PT_MFT_NAME_SIZE))
			return pt_fail(err, "Solo5 manifest: first entry is "
			    "not the reserved entry");
		return 0;
	}
	if (type == PT_MFT_RESERVED_FIRST)
		return pt_fail(err, "Solo5 manifest: entry %zu: reserved "
		    "entry after the first", i);
	if (type != PT_MFT_BLOCK_BASIC && type != PT_MFT_NET_BASIC)
		return pt_fail(err, "Solo5 manifest: entry %zu: unknown "
		    "device type %" PRIu32, i, type);
	const char *name = (const char *)e;
	size_t len = strlen(name);
	if (!device_name_valid(name, len))
		return pt_fail(err, "Solo5 manifest: entry %zu: invalid "
		    "device name", i);
	/* A tender resolves a name to its first entry, so a duplicate could
	 * never be attached and the image could never start. */
	for (size_t j = 0; j < mft->ndevices; j++)
		if (mft->devices[j].type == type &&
		    strcmp(mft->devices[j].name, name) == 0)
			return pt_fail(err, "Solo5 manifest: device '%s' "
			    "declared twice", name);
	pt_mft_device *d = &mft->devices[mft->ndevices++];
	memcpy(d->name, name, len + 1);
	d->type = type;
	return 0;
}

/* §4.2, §4.3: the union of the tenders' and albatross's checks. */
static int
parse_mft(const uint8_t *p, size_t n, pt_solo5_manifest *mft, pt_err *err)
{
	memset(mft, 0, sizeof(*mft));
	if (n < MFT_HDR_SIZE)
		return pt_fail(err, "Solo5 manifest: %zu bytes, too short", n);
	uint32_t version = le32(p), entries = le32(p + 4);
	if (version != MFT_VERSION)
		return pt_fail(err, "Solo5 manifest: version %" PRIu32
		    " (expected %d)", version, MFT_VERSION);
	if (entries < 1 || entries > PT_MFT_MAX_ENTRIES)
		return pt_fail(err, "Solo5 manifest: %" PRIu32 " entries "
		    "(1..%d allowed)", entries, PT_MFT_MAX_ENTRIES);
	if (n != MFT_HDR_SIZE + (size_t)entries * MFT_ENTRY_SIZE)
		return pt_fail(err, "Solo5 manifest: size %zu does not match "
		    "%" PRIu32 " entries", n, entries);
	for (size_t i = 0; i < entries; i++)
		if (parse_mft_entry(p + MFT_HDR_SIZE + i * MFT_ENTRY_SIZE, i,
		    mft, err) != 0)
			return -1;
	return 0;
}

int
pt_solo5_inspect(pt_read_at_fn rd, void *ctx, uint64_t size,
    pt_solo5_abi *abi, pt_solo5_manifest *mft, pt_err *err)
{
	elf_file e = {.rd = rd, .ctx = ctx, .size = size};
	uint8_t payload[MFT_MAX_DESCSZ];
	size_t plen;
	if (read_ehdr(&e, err) != 0)
		return -1;
	if (abi != NULL) {
		if (find_note(&e, &abi_note, payload, &plen, err) != 0 ||
		    parse_abi(payload, plen, abi, err) != 0)
			return -1;
	}
	if (mft != NULL) {
		if (find_note(&e, &mft_note, payload, &plen, err) != 0 ||
		    parse_mft(payload, plen, mft, err) != 0)
			return -1;
	}
	return 0;
}

typedef struct {
	const uint8_t *p;
	size_t n;
} mem_image;

static int
mem_read_at(void *ctx, uint64_t off, void *buf, size_t n)
{
	const mem_image *m = ctx;
	if (!in_file(m->n, off, n))
		return -1;
	memcpy(buf, m->p + off, n);
	return 0;
}

int
pt_solo5_inspect_mem(const uint8_t *p, size_t n, pt_solo5_abi *abi,
    pt_solo5_manifest *mft, pt_err *err)
{
	mem_image m = {p, n};
	return pt_solo5_inspect(mem_read_at, &m, n, abi, mft, err);
}

const char *
pt_solo5_target_name(uint32_t target)
{
	switch (target) {
	case PT_SOLO5_TARGET_HVT: return "hvt";
	case PT_SOLO5_TARGET_SPT: return "spt";
	case PT_SOLO5_TARGET_VIRTIO: return "virtio";
	case PT_SOLO5_TARGET_MUEN: return "muen";
	case PT_SOLO5_TARGET_GENODE: return "genode";
	case PT_SOLO5_TARGET_XEN: return "xen";
	default: return "unknown";
	}
}

/* ---- manifest vs configuration ---- */

/* A configured name for an error message: names come from clients, so
 * they are cut short and stripped of anything unprintable. */
static const char *
printable(const pt_text *t, char out[PT_MFT_NAME_SIZE + 4])
{
	size_t n = t->len < PT_MFT_NAME_SIZE ? t->len : PT_MFT_NAME_SIZE;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)t->s[i];
		out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	strcpy(out + n, t->len > n ? "..." : "");
	return out;
}

static bool
text_equal(const pt_text *t, const char *s)
{
	return t->len == strlen(s) && memcmp(t->s, s, t->len) == 0;
}

static bool
texts_equal(const pt_text *a, const pt_text *b)
{
	return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
}

/* Compares the manifest's devices of `type` with the configured names
 * (`stride` bytes apart, each starting with its pt_text name) as sets. */
static int
check_set(const pt_solo5_manifest *mft, uint32_t type, const void *specs,
    size_t n, size_t stride, const char *what, pt_err *err)
{
	char buf[PT_MFT_NAME_SIZE + 4];
	for (size_t i = 0; i < n; i++) {
		const pt_text *t = (const pt_text *)(const void *)
		    ((const char *)specs + i * stride);
		for (size_t j = 0; j < i; j++)
			if (texts_equal(t, (const pt_text *)(const void *)
			    ((const char *)specs + j * stride)))
				return pt_fail(err, "%s '%s' is configured "
				    "twice", what, printable(t, buf));
		bool declared = false;
		for (size_t j = 0; j < mft->ndevices && !declared; j++)
			declared = mft->devices[j].type == type &&
			    text_equal(t, mft->devices[j].name);
		if (!declared)
			return pt_fail(err, "specified %s(s) do not match the "
			    "manifest: '%s' is not declared by the image",
			    what, printable(t, buf));
	}
	for (size_t j = 0; j < mft->ndevices; j++) {
		if (mft->devices[j].type != type)
			continue;
		bool configured = false;
		for (size_t i = 0; i < n && !configured; i++)
			configured = text_equal((const pt_text *)(const void *)
			    ((const char *)specs + i * stride),
			    mft->devices[j].name);
		if (!configured)
			return pt_fail(err, "specified %s(s) do not match the "
			    "manifest: the image declares '%s', which is not "
			    "configured", what, mft->devices[j].name);
	}
	return 0;
}

int
pt_solo5_check_manifest(const pt_solo5_manifest *mft, const pt_ukconfig *cfg,
    pt_err *err)
{
	/* pt_blockspec and pt_netspec both start with their pt_text name. */
	_Static_assert(offsetof(pt_blockspec, name) == 0, "name first");
	_Static_assert(offsetof(pt_netspec, name) == 0, "name first");
	if (check_set(mft, PT_MFT_BLOCK_BASIC, cfg->blocks, cfg->nblocks,
	    sizeof(pt_blockspec), "block device", err) != 0)
		return -1;
	return check_set(mft, PT_MFT_NET_BASIC, cfg->nets, cfg->nnets,
	    sizeof(pt_netspec), "network", err);
}

/* ---- `<tender> --version` ---- */

/* albatross splits each line on single spaces and wants exactly the three
 * tokens "ABI", "version" and a decimal number. */
static bool
parse_version_line(const char *l, size_t n, uint32_t *version)
{
	static const char prefix[] = "ABI version ";
	size_t plen = sizeof(prefix) - 1;
	if (n <= plen || memcmp(l, prefix, plen) != 0 || n - plen > 10)
		return false;
	uint64_t v = 0;
	for (size_t i = plen; i < n; i++) {
		if (l[i] < '0' || l[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(l[i] - '0');
	}
	if (v > UINT32_MAX)
		return false;
	*version = (uint32_t)v;
	return true;
}

int
pt_solo5_parse_version(const char *out, size_t n, uint32_t *version)
{
	size_t start = 0;
	while (start < n) {
		const char *nl = memchr(out + start, '\n', n - start);
		size_t end = nl != NULL ? (size_t)(nl - out) : n;
		if (parse_version_line(out + start, end - start, version))
			return 0;
		start = end + 1;
	}
	return -1;
}

/* ---- default MAC (albatross-wire.md A.3) ---- */

int
pt_solo5_default_mac(const char *netname, size_t n, const pt_name *uk,
    uint8_t mac[6])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int ok = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	/* "-fips": MD5 is no security function here, only albatross's way of
	 * deriving a stable address, so a FIPS-configured host must not stop
	 * unikernels from starting. */
	EVP_MD *md5 = EVP_MD_fetch(NULL, "MD5", "-fips");
	if (c != NULL && md5 != NULL)
		ok = EVP_DigestInit_ex(c, md5, NULL) &&
		    EVP_DigestUpdate(c, netname, n) &&
		    EVP_DigestUpdate(c, uk->text, uk->len) &&
		    EVP_DigestFinal_ex(c, md, &mdlen);
	EVP_MD_free(md5);
	EVP_MD_CTX_free(c);
	if (!ok || mdlen < 3)
		return -1;
	mac[0] = 0x00;
	mac[1] = 0x80;
	mac[2] = 0x41;
	memcpy(mac + 3, md, 3);
	return 0;
}

/* ---- the tender argv (solo5.md §9, albatross-wire.md A.2 step 6) ---- */

static char *
arena_printf(pt_arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static char *
arena_printf(pt_arena *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	char *s = pt_arena_alloc(a, (size_t)n + 1);
	if (s == NULL)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

/* The tender reads option values with sscanf("%s"): no whitespace. */
static bool
has_space(const char *s)
{
	for (; *s != '\0'; s++)
		if (isspace((unsigned char)*s))
			return true;
	return false;
}

static int
check_device_name(const pt_text *t, const char *what, pt_err *err)
{
	char buf[PT_MFT_NAME_SIZE + 4];
	if (!device_name_valid(t->s, t->len))
		return pt_fail(err, "%s name '%s' is not a valid Solo5 device "
		    "name (1-67 letters and digits)", what, printable(t, buf));
	return 0;
}

typedef struct {
	char **v;
	size_t n, cap;
	pt_arena *a;
	bool oom;
} argv_builder;

static void
push(argv_builder *b, char *s)
{
	if (s == NULL || b->n >= b->cap) {
		b->oom = true;
		return;
	}
	b->v[b->n++] = s;
}

static int
push_nets(argv_builder *b, const pt_ukconfig *cfg, const pt_tender_args *ta,
    pt_err *err)
{
	if (cfg->nnets > 0 && ta->taps == NULL)
		return pt_fail(err, "no taps for the networks");
	for (size_t i = 0; i < cfg->nnets; i++) {
		const char *tap = ta->taps[i];
		if (check_device_name(&cfg->nets[i].name, "network", err) != 0)
			return -1;
		if (tap == NULL || tap[0] == '\0' ||
		    strlen(tap) > TAP_NAME_MAX || has_space(tap))
			return pt_fail(err, "bad tap name for network '%s'",
			    cfg->nets[i].name.s);
		push(b, arena_printf(b->a, "--net:%s=%s", cfg->nets[i].name.s,
		    tap));
	}
	for (size_t i = 0; i < cfg->nnets; i++) {
		const pt_netspec *ns = &cfg->nets[i];
		uint8_t mac[6];
		if (ns->has_mac)
			memcpy(mac, ns->mac, 6);
		else if (pt_solo5_default_mac(ns->name.s, ns->name.len,
		    ta->name, mac) != 0)
			return pt_fail(err, "cannot compute the MAC address of "
			    "network '%s': MD5 unavailable", ns->name.s);
		push(b, arena_printf(b->a,
		    "--net-mac:%s=%02x:%02x:%02x:%02x:%02x:%02x", ns->name.s,
		    mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]));
	}
	return 0;
}

/* <block_dir>/<unikernel path>:<device label>, e.g. ".../block/a:disk1" or
 * ".../block/:disk1" for a unikernel at the root. */
static int
block_file(const pt_blockspec *bs, const pt_tender_args *ta, char *out,
    size_t cap, pt_err *err)
{
	const pt_text *dev = bs->has_device ? &bs->device : &bs->name;
	char buf[PT_MFT_NAME_SIZE + 4];
	pt_name path, bn;
	pt_name_path(ta->name, &path);
	if (pt_name_with_label(&path, dev->s, dev->len, &bn, err) != 0)
		return pt_fail_prefix(err, "block device '%s'",
		    printable(dev, buf));
	if (pt_name_to_file(ta->block_dir, &bn, NULL, out, cap, err) != 0)
		return -1;
	if (has_space(out))
		return pt_fail(err, "block file '%s' contains white space, "
		    "which the tender cannot parse", out);
	return 0;
}

static bool
sector_size_valid(int64_t n)
{
	return n >= 512 && n <= 32768 && (n & (n - 1)) == 0;
}

static int
push_blocks(argv_builder *b, const pt_ukconfig *cfg,
    const pt_tender_args *ta, pt_err *err)
{
	char path[PATH_MAX];
	for (size_t i = 0; i < cfg->nblocks; i++) {
		const pt_blockspec *bs = &cfg->blocks[i];
		if (check_device_name(&bs->name, "block device", err) != 0 ||
		    block_file(bs, ta, path, sizeof(path), err) != 0)
			return -1;
		push(b, arena_printf(b->a, "--block:%s=%s", bs->name.s, path));
	}
	for (size_t i = 0; i < cfg->nblocks; i++) {
		const pt_blockspec *bs = &cfg->blocks[i];
		if (!bs->has_sector_size)
			continue;
		if (!sector_size_valid(bs->sector_size))
			return pt_fail(err, "block device '%s': sector size "
			    "%" PRId64 " is not a power of two between 512 and "
			    "32768", bs->name.s, bs->sector_size);
		push(b, arena_printf(b->a, "--block-sector-size:%s=%" PRId64,
		    bs->name.s, bs->sector_size));
	}
	return 0;
}

/* The guest sees the arguments after the image joined by spaces, in a
 * buffer of TENDER_CMDLINE_SIZE bytes; refuse early what would not fit. */
static int
push_guest_args(argv_builder *b, const pt_ukconfig *cfg,
    const pt_tender_args *ta, pt_err *err)
{
	size_t first = b->n, len = 0;
	if (ta->add_name) {
		size_t llen;
		const char *label = pt_name_label(ta->name, &llen);
		if (label != NULL)
			push(b, arena_printf(b->a, "--name=%.*s", (int)llen,
			    label));
		else
			push(b, arena_printf(b->a, "--name=%s",
			    ta->name->text));
	}
	for (size_t i = 0; i < cfg->argc; i++)
		push(b, pt_arena_strndup(b->a, cfg->argv[i].s,
		    cfg->argv[i].len));
	if (b->oom)
		return 0;
	for (size_t i = first; i < b->n; i++)
		len += strlen(b->v[i]) + (i > first ? 1 : 0);
	if (len > TENDER_CMDLINE_SIZE - 1)
		return pt_fail(err, "unikernel arguments too long: %zu bytes "
		    "on the guest command line, at most %d", len,
		    TENDER_CMDLINE_SIZE - 1);
	return 0;
}

int
pt_solo5_build_argv(const pt_ukconfig *cfg, const pt_tender_args *ta,
    pt_arena *a, char ***argv_out, size_t *argc_out, pt_err *err)
{
	if (cfg->memory < 1)
		return pt_fail(err, "memory must be at least 1 MB, not %" PRId64,
		    cfg->memory);
	if (cfg->nnets > PT_MFT_MAX_ENTRIES || cfg->nblocks > PT_MFT_MAX_ENTRIES)
		return pt_fail(err, "too many devices");
	argv_builder b = {.a = a};
	/* tender, --mem, 2 per network, 2 per block, --, image, --name, args,
	 * NULL */
	b.cap = 2 + 2 * cfg->nnets + 2 * cfg->nblocks + 3 + cfg->argc + 1;
	b.v = pt_arena_calloc(a, b.cap, sizeof(char *));
	if (b.v == NULL)
		return pt_fail(err, "out of memory");
	b.cap--; /* keep the terminating NULL */
	push(&b, pt_arena_strndup(a, ta->tender, strlen(ta->tender)));
	push(&b, arena_printf(a, "--mem=%" PRId64, cfg->memory));
	if (push_nets(&b, cfg, ta, err) != 0 ||
	    push_blocks(&b, cfg, ta, err) != 0)
		return -1;
	push(&b, arena_printf(a, "--"));
	push(&b, pt_arena_strndup(a, ta->image_path, strlen(ta->image_path)));
	if (push_guest_args(&b, cfg, ta, err) != 0)
		return -1;
	if (b.oom)
		return pt_fail(err, "out of memory building the tender command "
		    "line");
	b.v[b.n] = NULL;
	*argv_out = b.v;
	*argc_out = b.n;
	return 0;
}
