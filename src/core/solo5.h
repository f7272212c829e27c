/*
 * Solo5 images and tenders, the pure part (solo5.md §2-§5, §9):
 *  - reading the ABI and manifest notes of an ELF image through a bounded
 *    read callback (the image is hostile: every offset and size is checked);
 *  - building the exact tender argv of solo5.md §9;
 *  - the deterministic MAC of albatross-wire.md A.3;
 *  - recognising the "ABI version N" line of `<tender> --version`.
 */
#ifndef PETREL_SOLO5_H
#define PETREL_SOLO5_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "name.h"
#include "util.h"
#include "wire.h"

enum {
	PT_SOLO5_TARGET_HVT = 1,
	PT_SOLO5_TARGET_SPT = 2,
	PT_SOLO5_TARGET_VIRTIO = 3,
	PT_SOLO5_TARGET_MUEN = 4,
	PT_SOLO5_TARGET_GENODE = 5,
	PT_SOLO5_TARGET_XEN = 6,
};

enum {
	PT_MFT_BLOCK_BASIC = 1,
	PT_MFT_NET_BASIC = 2,
	PT_MFT_RESERVED_FIRST = 0x40000000,
};

#define PT_MFT_MAX_ENTRIES 64
#define PT_MFT_NAME_SIZE 68

typedef struct {
	uint32_t target;
	uint32_t version;
} pt_solo5_abi;

typedef struct {
	char name[PT_MFT_NAME_SIZE]; /* NUL-terminated */
	uint32_t type;               /* BLOCK_BASIC or NET_BASIC */
} pt_mft_device;

typedef struct {
	size_t ndevices;             /* user devices, reserved entry excluded */
	pt_mft_device devices[PT_MFT_MAX_ENTRIES - 1];
} pt_solo5_manifest;

/* Reads exactly n bytes at off; returns 0, or -1 (short file, I/O error). */
typedef int (*pt_read_at_fn)(void *ctx, uint64_t off, void *buf, size_t n);

/* Reads the ELF header, program headers and the Solo5 ABI1 and MFT1 notes
 * (the way the tenders do, §3.1; with the section-name lookup of §3.2 as a
 * fallback). Validates as strictly as albatross (§4.1, §4.3). */
int pt_solo5_inspect(pt_read_at_fn rd, void *ctx, uint64_t size,
    pt_solo5_abi *abi, pt_solo5_manifest *mft, pt_err *err);
int pt_solo5_inspect_mem(const uint8_t *p, size_t n, pt_solo5_abi *abi,
    pt_solo5_manifest *mft, pt_err *err);

/* "hvt", "spt", ... or "unknown". */
const char *pt_solo5_target_name(uint32_t target);

/* The manifest's block / net names must equal the configured ones as sets
 * (A.2 step 3). Error names the difference. */
int pt_solo5_check_manifest(const pt_solo5_manifest *mft,
    const pt_ukconfig *cfg, pt_err *err);

/* Parses `--version` output: finds a line that is exactly "ABI version N".
 * Returns 0 and sets *version, or -1. */
int pt_solo5_parse_version(const char *out, size_t n, uint32_t *version);

/* A.3: 00:80:41 + first three bytes of MD5(netname || full name text).
 * Returns 0, or -1 if OpenSSL cannot compute MD5. */
int pt_solo5_default_mac(const char *netname, size_t n,
    const pt_name *uk, uint8_t mac[6]);

/* Everything the tender argv needs besides the config. */
typedef struct {
	const char *tender;          /* argv[0] */
	const char *image_path;      /* <tmpdir>/<name>.img */
	const char *block_dir;       /* <dbdir>/block */
	const pt_name *name;         /* the unikernel */
	const char *const *taps;     /* one per cfg->nets[i], same order */
	bool add_name;               /* effective (may differ from cfg) */
} pt_tender_args;

/* Builds argv exactly as solo5.md §9: --mem, --net, --net-mac (always),
 * --block, --block-sector-size (when set), --, image, [--name=<label>],
 * arguments. The result (NULL-terminated) and its strings are allocated in
 * the arena. */
int pt_solo5_build_argv(const pt_ukconfig *cfg, const pt_tender_args *ta,
    pt_arena *a, char ***argv_out, size_t *argc_out, pt_err *err);

#endif
