/*
 * Golden vectors of albatross-wire.md §13 (and the §9.2 extension example).
 *
 * Every vector gives two tests: "decode" (the bytes decode to the expected
 * structure) and "encode" (the structure encodes to exactly those bytes).
 * Vectors albatross writes in a legacy or lenient form decode to the
 * current model and encode to the canonical bytes given with them.
 *
 * Vectors marked "derived here" are not in the spec text: they were
 * computed from the grammar of §5–§6 and the structure descriptions of
 * §13.4 and §13.14 (with an independent DER encoder, and checked against
 * the spec vectors it reproduces byte for byte).
 *
 * Then: the negative cases of §13.16, the frame prefixes stated in §13,
 * and the printer's line for several vectors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "frame.h"
#include "wire.h"
#include "wire_testlib.h"

#define HDR_HELLO "30 15 02 01 05 04 08 00 00 00 00 00 00 00 00 " \
	"0C 06 3A 68 65 6C 6C 6F"
#define HDR_FOO_PATH "30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 " \
	"0C 04 66 6F 6F 3A"
#define HDR_FOO_DISK "30 17 02 01 05 04 08 00 00 00 00 00 00 00 00 " \
	"0C 08 66 6F 6F 3A 64 69 73 6B"
#define HDR_ROOT "30 10 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 01 3A"
#define HDR_FOO_HELLO "30 18 02 01 05 04 08 00 00 00 00 00 00 00 00 " \
	"0C 09 66 6F 6F 3A 68 65 6C 6C 6F"

/* 2024-01-02T03:04:05Z */
#define T_20240102030405 INT64_C(1704164645000)

/* ---- the vectors (hex as printed in the spec) ---- */

static const char V13_1[] =
    "30 20 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 04 3A 66 6F 6F"
    "A0 09 A0 07 A2 05 A1 03 02 01 14";
static const char V13_2[] =
    "30 24 30 17 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 08 3A 66 6F 6F 2E"
    "62 61 72 A0 09 A0 07 A2 05 A1 03 02 01 14";
static const char V13_3A[] = "30 0C 02 01 05 A0 07 A2 05 A1 03 02 01 14";
static const char V13_3B[] =
    "30 17 02 01 05 A4 12 A1 10 30 0E 30 03 02 01 00 02 01 01 02 02 02 00"
    "30 00";
static const char V13_4_ENTRY[] =
    "30 49 0C 09 62 61 72 3A 68 65 6C 6C 6F 30 3C A0 02 05 00 01 01 00 04 00"
    "A0 02 05 00 02 01 02 02 01 0A A1 27 31 25 30 23 0C 07 73 65 72 76 69 63"
    "65 0C 10 62 72 69 64 67 65 2D 69 6E 74 65 72 66 61 63 65"
    "04 06 00 DE AD BE EF 00";
static const char V13_5[] =
    "30 3B" HDR_FOO_PATH "A0 24 A4 22 A1 20 30 1E 30 06 02 01 00 02 01 01"
    "02 01 02 02 02 02 00 02 02 04 00 30 09 0C 07 73 65 72 76 69 63 65";
static const char V13_6[] = "30 1F" HDR_HELLO "A0 06 A3 04 A3 02 05 00";
static const char V13_7A[] =
    "30 1E 30 16 02 01 05 04 08 00 00 00 00 00 00 00 07 0C 07 66 6F 6F 3A 62"
    "61 72 A1 04 A0 02 05 00";
static const char V13_7B[] =
    "30 30" HDR_HELLO "A1 17 A1 15 0C 13 64 65 73 74 72 6F 79 65 64 20 75 6E"
    "69 6B 65 72 6E 65 6C";
static const char V13_7C[] = "30 1B" HDR_FOO_PATH "A1 04 AD 02 30 00";
static const char V13_7D[] =
    "30 40" HDR_FOO_PATH "A1 29 A2 27 30 25 30 23 0C 01 3A"
    "30 1E 30 06 02 01 00 02 01 01 02 01 02 02 02 02 00 02 02 04 00 30 09 0C"
    "07 73 65 72 76 69 63 65";
static const char V13_7E[] =
    "30 2A" HDR_FOO_PATH "A1 13 A4 11 30 0F 30 0D 0C 05 3A 64 69 73 6B 02 01"
    "64 01 01 00";
static const char V13_7F[] =
    "30 24" HDR_FOO_PATH "A1 0D AC 0B 30 09 0C 02 3A 61 0C 03 62 3A 63";
static const char V13_8[] =
    "30 2D" HDR_HELLO "A2 14 0C 12 64 65 73 74 72 6F 79 3A 20 6E 6F 74 20 66"
    "6F 75 6E 64";
static const char V13_9_INFO[] = "30 1D" HDR_FOO_PATH "A0 06 A3 04 B3 02 05 00";
static const char V13_9_GET[] = "30 20" HDR_HELLO "A0 07 A3 05 AB 03 02 01 09";
static const char V13_9_RESTART[] =
    "30 21" HDR_HELLO "A0 08 A3 06 AE 04 A0 02 05 00";
static const char V13_9_POLICY_INFO[] =
    "30 1A" HDR_ROOT "A0 06 A4 04 A0 02 05 00";
static const char V13_9_POLICY_REMOVE[] =
    "30 1D" HDR_FOO_PATH "A0 06 A4 04 A2 02 05 00";
static const char V13_9_BLOCK_ADD[] =
    "30 22" HDR_FOO_DISK "A0 07 A5 05 A1 03 02 01 64";
static const char V13_9_BLOCK_SET[] =
    "30 22" HDR_FOO_DISK "A0 07 A5 05 A7 03 01 01 00";
static const char V13_9_BLOCK_DUMP[] =
    "30 22" HDR_FOO_DISK "A0 07 A5 05 A6 03 02 01 00";
static const char V13_9_BLOCK_INFO[] =
    "30 1A" HDR_ROOT "A0 06 A5 04 A0 02 05 00";
static const char V13_9_LIST_INACTIVE[] =
    "30 1D" HDR_FOO_PATH "A0 06 A0 04 A3 02 05 00";
static const char V13_9_CONSOLE_ADD[] =
    "30 21 30 16 02 01 05 04 08 00 00 00 00 00 00 00 07 0C 07 66 6F 6F 3A 62"
    "61 72 A0 07 A0 05 A0 03 02 01 05";
static const char V13_9_SUBSCRIBE_SINCE[] =
    "30 2D 30 12 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 03 61 3A 62 A0 17"
    "A0 15 A2 13 A0 11 18 0F 32 30 32 34 30 31 30 32 30 33 30 34 30 35 5A";
static const char V13_9_STATS_SUBSCRIBE[] =
    "30 1D" HDR_FOO_PATH "A0 06 A1 04 A2 02 05 00";
static const char V13_9_STATS_INITIAL[] =
    "30 1A" HDR_ROOT "A0 06 A1 04 A3 02 05 00";
static const char V13_9_STATS_REMOVE[] =
    "30 22 30 18 02 01 05 04 08 00 00 00 00 00 00 00 02 0C 09 66 6F 6F 3A 68"
    "65 6C 6C 6F A0 06 A1 04 A1 02 05 00";
static const char V13_9_IMAGE[] =
    "30 25" HDR_HELLO "A1 0C A6 0A 30 08 01 01 00 04 03 45 4C 46";
static const char V13_9_STATS_ADD[] =
    "30 48 30 18 02 01 05 04 08 00 00 00 00 00 00 00 01 0C 09 66 6F 6F 3A 68"
    "65 6C 6C 6F A0 2C A1 2A A0 28 30 26 0C 0A 73 6F 6C 6F 35 2D 31 32 33 34"
    "02 02 04 D2 30 14 30 12 0C 07 73 65 72 76 69 63 65 0C 07 76 6D 6D 74 61"
    "70 30";
static const char V13_10[] =
    "30 5F" HDR_HELLO "A0 46 A3 44 B4 42 30 40 A0 02 05 00 01 01 00 04 03 41"
    "42 43 01 01 FF A0 02 05 00 31 03 02 01 00 02 01 20 A1 0D 31 0B 30 09 0C"
    "07 73 65 72 76 69 63 65 A2 0F 30 0D 0C 02 2D 6C 0C 07 2A 3A 64 65 62 75"
    "67 A3 03 02 01 01";
static const char V13_11[] =
    "30 81 94 30 14 02 01 05 04 08 00 00 00 00 00 00 00 03 0C 05 61 3A 77 65"
    "62 A0 7C A3 7A B5 78 30 76 A0 02 05 00 01 01 00 04 00 02 01 0A 01 01 00"
    "A1 08 31 06 02 01 00 02 01 02 31 06 02 01 00 02 01 01 02 02 01 00"
    "A0 20 31 1E 30 06 0C 04 64 61 74 61"
    "30 14 0C 07 73 74 6F 72 61 67 65 0C 05 64 69 73 6B 31 02 02 10 00"
    "A1 28 31 26 30 0C 0C 0A 6D 61 6E 61 67 65 6D 65 6E 74"
    "30 16 0C 07 73 65 72 76 69 63 65 0C 03 62 72 30 04 06 00 80 41 AA BB CC"
    "A3 03 02 01 01";
static const char V13_12[] =
    "30 35" HDR_HELLO "A0 1C A3 1A AE 18 A3 16 30 14 A1 02 31 00 01 01 FF 31"
    "03 02 01 00 02 01 40 A3 03 02 01 01";
static const char V13_13[] =
    "30 81 B6" HDR_FOO_PATH "A1 81 9E AD 81 9B 30 81 98 30 81 95"
    "0C 06 3A 68 65 6C 6C 6F 30 81 8A A0 02 05 00 A0 02 05 00 31 03 02 01 00"
    "02 01 20 04 20 AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA"
    "AA AA AA AA AA AA AA AA AA AA AA AA AA"
    "A0 1A 31 18 30 16 0C 07 73 74 6F 72 61 67 65 0C 04 64 69 73 6B 02 02 02"
    "00 02 01 64"
    "A1 1A 31 18 30 16 0C 07 73 65 72 76 69 63 65 0C 03 62 72 30 04 06 00 80"
    "41 01 02 03"
    "A2 06 30 04 0C 02 2D 6C"
    "A3 11 18 0F 32 30 32 34 30 31 30 32 30 33 30 34 30 35 5A"
    "A4 03 02 01 01";
static const char V13_14A[] =
    "30 35" HDR_FOO_HELLO "A3 19 A3 17 30 15 18 0F 32 30 32 34 30 31 30 32 30"
    "33 30 34 30 35 5A 0C 02 68 69";
static const char V13_14B[] =
    "30 39" HDR_FOO_HELLO "A3 1D A3 1B 30 19 18 13 32 30 32 34 30 31 30 32 30"
    "33 30 34 30 35 2E 32 35 30 5A 0C 02 68 69";
static const char V13_14C_IMAGE[] = "30 20" HDR_FOO_DISK "A1 05 AA 03 01 01 FF";
static const char V13_14C_CHUNK[] =
    "30 23" HDR_FOO_DISK "A3 08 A4 06 A0 04 04 02 00 01";
static const char V13_14C_END[] = "30 21" HDR_FOO_DISK "A3 06 A4 04 A1 02 05 00";

/* The Rusage of §13.14 d): utime 1 s 2 µs, stime 3 s 4 µs, maxrss 5. */
#define RUSAGE_13_14D "30 81 AA 30 0D 04 08 00 00 00 00 00 00 00 01 02 01 02" \
	"30 0D 04 08 00 00 00 00 00 00 00 03 02 01 04" \
	"04 08 00 00 00 00 00 00 00 05 04 08 00 00 00 00 00 00 00 00" \
	"04 08 00 00 00 00 00 00 00 00 04 08 00 00 00 00 00 00 00 00" \
	"04 08 00 00 00 00 00 00 00 00 04 08 00 00 00 00 00 00 00 00" \
	"04 08 00 00 00 00 00 00 00 00 04 08 00 00 00 00 00 00 00 00" \
	"04 08 00 00 00 00 00 00 00 00 04 08 00 00 00 00 00 00 00 00" \
	"04 08 00 00 00 00 00 00 00 00 04 08 00 00 00 00 00 00 00 00" \
	"04 08 00 00 00 00 00 00 00 00 04 08 00 00 00 00 00 00 00 00"
/* kinfo-mem of 1..6, cow 7, start 8 s 9 µs: IMPLICIT [1], so A1 for 30. */
#define KINFO_1_TO_9 "A1 4E 04 08 00 00 00 00 00 00 00 01" \
	"04 08 00 00 00 00 00 00 00 02 04 08 00 00 00 00 00 00 00 03" \
	"04 08 00 00 00 00 00 00 00 04 04 08 00 00 00 00 00 00 00 05" \
	"04 08 00 00 00 00 00 00 00 06 02 01 07" \
	"30 0D 04 08 00 00 00 00 00 00 00 08 02 01 09"
#define VMM_A_1 "A0 11 30 0F 30 0D 0C 01 61 04 08 00 00 00 00 00 00 00 01"

static const char V13_14D[] =
    "30 81 CF" HDR_HELLO "A3 81 B5 A1 81 B2 30 81 AF" RUSAGE_13_14D "30 00";
/* Derived here from the §13.14 structure description. */
static const char V13_14D_VMM[] =
    "30 81 E2" HDR_HELLO "A3 81 C8 A1 81 C5 30 81 C2" RUSAGE_13_14D "30 00"
    VMM_A_1;
static const char V13_14D_EMPTY_VMM[] =
    "30 81 D3" HDR_HELLO "A3 81 B9 A1 81 B6 30 81 B3" RUSAGE_13_14D "30 00"
    "A0 02 30 00";
static const char V13_14D_KINFO[] =
    "30 82 01 21" HDR_HELLO "A3 82 01 06 A1 82 01 02 30 81 FF" RUSAGE_13_14D
    "30 00" KINFO_1_TO_9;
static const char V13_14D_VMM_KINFO[] =
    "30 82 01 35" HDR_HELLO "A3 82 01 1A A1 82 01 16 30 82 01 12"
    RUSAGE_13_14D "30 00" VMM_A_1 KINFO_1_TO_9;
/* Every counter distinct (so that a swapped field shows), two interfaces
 * (the first starting 30 81 93 0C 07 "service" 02 03 00 88 43 as §13.14
 * says), two vmm-stats in non-sorted order, and kinfo-mem. */
static const char V13_14D_FULL[] =
    "30 82 02 76" HDR_HELLO "A3 82 02 5B A1 82 02 57 30 82 02 53"
    "30 81 AA 30 0D 04 08 00 00 00 00 00 00 00 01 02 01 02 30 0D 04 08 00 00"
    "00 00 00 00 00 03 02 01 04 04 08 00 00 00 00 00 00 00 05 04 08 00 00 00"
    "00 00 00 00 06 04 08 00 00 00 00 00 00 00 07 04 08 00 00 00 00 00 00 00"
    "08 04 08 00 00 00 00 00 00 00 09 04 08 00 00 00 00 00 00 00 0A 04 08 00"
    "00 00 00 00 00 00 0B 04 08 00 00 00 00 00 00 00 0C 04 08 00 00 00 00 00"
    "00 00 0D 04 08 00 00 00 00 00 00 00 0E 04 08 00 00 00 00 00 00 00 0F 04"
    "08 00 00 00 00 00 00 00 10 04 08 00 00 00 00 00 00 00 11 04 08 00 00 00"
    "00 00 00 00 12"
    "30 82 01 2D"
    "30 81 93 0C 07 73 65 72 76 69 63 65 02 03 00 88 43 02 01 01 02 01 02 02"
    "01 03 02 02 05 DC 04 08 00 00 00 00 00 00 00 0A 04 08 00 00 00 00 00 00"
    "00 0B 04 08 00 00 00 00 00 00 00 0C 04 08 00 00 00 00 00 00 00 0D 04 08"
    "00 00 00 00 00 00 00 0E 04 08 00 00 00 00 00 00 00 0F 04 08 00 00 00 00"
    "00 00 00 10 04 08 00 00 00 00 00 00 00 11 04 08 00 00 00 00 00 00 00 12"
    "04 08 00 00 00 00 00 00 00 13 04 08 00 00 00 00 00 00 00 14 04 08 00 00"
    "00 00 00 00 00 15"
    "30 81 94 0C 04 6D 67 6D 74 02 01 FF 02 04 7F FF FF FF 02 04 80 00 00 00"
    "02 01 00 02 02 23 28 04 08 FF FF FF FF FF FF FF FF 04 08 FF FF FF FF FF"
    "FF FF FE 04 08 FF FF FF FF FF FF FF FD 04 08 FF FF FF FF FF FF FF FC 04"
    "08 FF FF FF FF FF FF FF FB 04 08 FF FF FF FF FF FF FF FA 04 08 FF FF FF"
    "FF FF FF FF F9 04 08 FF FF FF FF FF FF FF F8 04 08 FF FF FF FF FF FF FF"
    "F7 04 08 FF FF FF FF FF FF FF F6 04 08 FF FF FF FF FF FF FF F5 04 08 FF"
    "FF FF FF FF FF FF F4"
    "A0 20 30 1E 30 0D 0C 01 62 04 08 00 00 00 00 00 00 00 01 30 0D 0C 01 61"
    "04 08 FF FF FF FF FF FF FF FE"
    "A1 51 04 08 00 00 01 00 00 00 00 00 04 08 00 00 00 00 00 00 00 02 04 08"
    "00 00 00 00 00 00 00 03 04 08 00 00 00 00 00 00 00 04 04 08 00 00 00 00"
    "00 00 00 05 04 08 00 00 00 00 00 00 00 06 02 02 01 2C 30 0F 04 08 00 00"
    "00 00 65 53 F1 00 02 03 0F 42 3F";

static const char V13_15[] =
    "A6 81 A3 30 81 A0 30 4F 30 4D 0C 09 66 6F 6F 3A 68 65 6C 6C 6F 30 40 A0"
    "02 05 00 01 01 00 04 03 41 42 43 01 01 FF A0 02 05 00 31 03 02 01 00 02"
    "01 20 A1 0D 31 0B 30 09 0C 07 73 65 72 76 69 63 65 A2 0F 30 0D 0C 02 2D"
    "6C 0C 07 2A 3A 64 65 62 75 67 A3 03 02 01 01 30 4D 30 23 0C 01 3A 30 1E"
    "30 06 02 01 00 02 01 01 02 01 02 02 02 02 00 02 02 04 00 30 09 0C 07 73"
    "65 72 76 69 63 65 30 26 0C 04 66 6F 6F 3A 30 1E 30 06 02 01 00 02 01 01"
    "02 01 02 02 02 02 00 02 02 04 00 30 09 0C 07 73 65 72 76 69 63 65";
static const char V13_15_EMPTY[] = "A6 06 30 04 30 00 30 00";
/* §13.4's entry as a whole v3 state file ([3] Trie{UnikernelConfigV3}),
 * and its re-encoding as [6] (derived here). */
#define V13_4_STATE "A3 4D 30 4B"
static const char V13_4_AS_V5[] =
    "A6 5B 30 59 30 55 30 53 0C 09 62 61 72 3A 68 65 6C 6C 6F 30 46 A0 02 05"
    "00 01 01 00 04 00 01 01 FF A0 02 05 00 31 03 02 01 02 02 01 0A A1 27 31"
    "25 30 23 0C 07 73 65 72 76 69 63 65 0C 10 62 72 69 64 67 65 2D 69 6E 74"
    "65 72 66 61 63 65 04 06 00 DE AD BE EF 00 A3 03 02 01 01 30 00";

/* §13.16: the lenient inputs albatross accepts, with their canonical
 * re-encoding. */
static const char V13_16_UPPER[] =
    "30 20 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 04 3A 46 4F 4F"
    "A0 09 A0 07 A2 05 A1 03 02 01 14";
static const char V13_16_BOOL_01[] =
    "30 22" HDR_FOO_DISK "A0 07 A5 05 A7 03 01 01 01";
static const char V13_16_BOOL_FF[] =
    "30 22" HDR_FOO_DISK "A0 07 A5 05 A7 03 01 01 FF";

/* Legacy forms (decode only), derived here from §6.4/§6.5/§6.6, with the
 * current form they re-encode to. */
static const char L_CREATE_V3[] =
    "30 5B" HDR_HELLO "A0 42 A3 40 A9 3E 30 3C A0 02 05 00 01 01 00 04 00 A0"
    "02 05 00 02 01 02 02 01 0A A1 27 31 25 30 23 0C 07 73 65 72 76 69 63 65"
    "0C 10 62 72 69 64 67 65 2D 69 6E 74 65 72 66 61 63 65 04 06 00 DE AD BE"
    "EF 00";
static const char L_CREATE_V3_AS_V5[] =
    "30 65" HDR_HELLO "A0 4C A3 4A B4 48 30 46 A0 02 05 00 01 01 00 04 00 01"
    "01 FF A0 02 05 00 31 03 02 01 02 02 01 0A A1 27 31 25 30 23 0C 07 73 65"
    "72 76 69 63 65 0C 10 62 72 69 64 67 65 2D 69 6E 74 65 72 66 61 63 65 04"
    "06 00 DE AD BE EF 00 A3 03 02 01 01";
#define HDR_A_B_SEQ1 "30 12 02 01 05 04 08 00 00 00 00 00 00 00 01 " \
	"0C 03 61 3A 62"
static const char L_FORCE_V4[] =
    "30 4A" HDR_A_B_SEQ1 "A0 34 A3 32 B1 30 30 2E A0 02 05 00 01 01 FF 04 02"
    "78 9C 02 01 07 01 01 00 A1 05 31 03 02 01 03 02 01 01 02 01 40 A0 0A 31"
    "08 30 06 0C 04 64 69 73 6B A2 02 30 00";
static const char L_FORCE_V4_AS_V5[] =
    "30 51" HDR_A_B_SEQ1 "A0 3B A3 39 B5 37 30 35 A0 02 05 00 01 01 FF 04 02"
    "78 9C 02 01 07 01 01 00 A1 05 31 03 02 01 03 31 03 02 01 01 02 01 40 A0"
    "0A 31 08 30 06 0C 04 64 69 73 6B A2 02 30 00 A3 03 02 01 01";
static const char L_RESTART_V0[] =
    "30 2B" HDR_HELLO "A0 12 A3 10 AE 0E A1 0C 30 0A A0 02 05 00 02 01 03 02"
    "01 10";
static const char L_RESTART_V0_AS_V3[] =
    "30 35" HDR_HELLO "A0 1C A3 1A AE 18 A3 16 30 14 A0 02 05 00 01 01 FF 31"
    "03 02 01 03 02 01 10 A3 03 02 01 01";
static const char L_RESTART_V1[] =
    "30 38" HDR_HELLO "A0 1F A3 1D AE 1B A2 19 30 17 A1 02 31 00 02 01 05 01"
    "01 FF 02 01 00 02 01 20 A2 05 30 03 0C 01 78";
static const char L_RESTART_V1_AS_V3[] =
    "30 3F" HDR_HELLO "A0 26 A3 24 AE 22 A3 20 30 1E A1 02 31 00 02 01 05 01"
    "01 FF 31 03 02 01 00 02 01 20 A2 05 30 03 0C 01 78 A3 03 02 01 01";
static const char L_INFO5[] =
    "30 6D" HDR_FOO_PATH "A1 56 AB 54 30 52 30 50 0C 06 3A 68 65 6C 6C 6F 30"
    "46 A0 02 05 00 02 01 03 A0 02 05 00 02 01 00 02 01 20 04 20 AA AA AA AA"
    "AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA"
    "AA AA AA AA A3 11 18 0F 32 30 32 34 30 31 30 32 30 33 30 34 30 35 5A";
static const char L_INFO4[] =
    "30 6A" HDR_FOO_PATH "A1 53 A9 51 30 4F 30 4D 0C 06 3A 68 65 6C 6C 6F 30"
    "43 A0 02 05 00 A0 02 05 00 02 01 00 02 01 20 04 20 AA AA AA AA AA AA AA"
    "AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA"
    "AA A3 11 18 0F 32 30 32 34 30 31 30 32 30 33 30 34 30 35 5A";
/* §3.1: SET OF INTEGER sorts by encoding, not numerically: 1 (02 01 01)
 * before -1 (02 01 FF) before 128 (02 02 00 80); 0 before 256. */
static const char D_SETOF_ORDER[] =
    "30 46 30 11 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 02 3A 78 A0 31 A3"
    "2F B4 2D 30 2B A0 02 05 00 01 01 00 04 00 01 01 00 A1 0C 31 0A 02 01 01"
    "02 01 FF 02 02 00 80 31 07 02 01 00 02 02 01 00 02 01 20 A3 03 02 01 01";
/* §6.2: duplicates in a policy collapse on decode; emitted sorted. */
static const char D_POLICY_DUPS[] =
    "30 3A" HDR_FOO_PATH "A0 23 A4 21 A1 1F 30 1D 30 09 02 01 01 02 01 00 02"
    "01 01 02 01 01 02 02 02 00 30 09 0C 01 62 0C 01 61 0C 01 62";
static const char D_POLICY_DEDUP[] =
    "30 34" HDR_FOO_PATH "A0 1D A4 1B A1 19 30 17 30 06 02 01 00 02 01 01 02"
    "01 01 02 02 02 00 30 06 0C 01 61 0C 01 62";

/* §3.4: albatross's lenient GeneralizedTime reading, and the canonical
 * form the same instant encodes to (derived here). */
#define HDR_A_B "30 12 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 03 61 3A 62"
static const char D_TIME_HOUR[] =
    "30 29" HDR_A_B "A0 13 A0 11 A2 0F A0 0D 18 0B 32 30 32 34 30 31 30 32 30"
    "33 5A";
static const char D_TIME_HOUR_CANON[] =
    "30 2D" HDR_A_B "A0 17 A0 15 A2 13 A0 11 18 0F 32 30 32 34 30 31 30 32 30"
    "33 30 30 30 30 5A";
static const char D_TIME_FRACTION[] =
    "30 2F" HDR_A_B "A0 19 A0 17 A2 15 A0 13 18 11 32 30 32 34 30 31 30 32 30"
    "33 30 34 30 35 2E 35 5A";
static const char D_TIME_FRACTION_CANON[] =
    "30 31" HDR_A_B "A0 1B A0 19 A2 17 A0 15 18 13 32 30 32 34 30 31 30 32 30"
    "33 30 34 30 35 2E 30 30 35 5A";
static const char D_TIME_OFFSET[] =
    "30 31" HDR_A_B "A0 1B A0 19 A2 17 A0 15 18 13 32 30 32 34 30 31 30 32 30"
    "33 30 34 30 35 2D 30 31 33 30";
static const char D_TIME_OFFSET_CANON[] =
    "30 2D" HDR_A_B "A0 17 A0 15 A2 13 A0 11 18 0F 32 30 32 34 30 31 30 32 30"
    "34 33 34 30 35 5A";
static const char D_TIME_NO_ZONE[] =
    "30 2C" HDR_A_B "A0 16 A0 14 A2 12 A0 10 18 0E 32 30 32 34 30 31 30 32 30"
    "33 30 34 30 35";

/* ---- expected structures ---- */

static void
command(pt_wire *w, int64_t seq, const char *name, pt_cmd_kind kind)
{
	tl_header(w, seq, name);
	w->kind = PT_PAYLOAD_COMMAND;
	w->u.command.kind = kind;
}

static void
success(pt_wire *w, int64_t seq, const char *name, pt_success_kind kind)
{
	tl_header(w, seq, name);
	w->kind = PT_PAYLOAD_SUCCESS;
	w->u.success.kind = kind;
}

static void
data(pt_wire *w, int64_t seq, const char *name, pt_data_kind kind)
{
	tl_header(w, seq, name);
	w->kind = PT_PAYLOAD_DATA;
	w->u.data.kind = kind;
}

/* {unikernels 2, cpuids {0,1}, memory 512, block 1024, bridges
 * {"service"}} (§13.5) */
static pt_policy
policy_13_5(void)
{
	static int64_t cpuids[] = {0, 1};
	static pt_text bridges[1];
	bridges[0] = tl_text("service");
	return (pt_policy){.unikernels = 2, .memory = 512, .has_block = true,
	    .block = 1024, .ncpuids = 2, .cpuids = cpuids, .nbridges = 1,
	    .bridges = bridges};
}

/* The configuration of §13.10. */
static pt_ukconfig
config_13_10(void)
{
	static int64_t cpuids[] = {0};
	static pt_netspec nets[1];
	static pt_text argv[2];
	nets[0] = (pt_netspec){.name = tl_text("service")};
	argv[0] = tl_text("-l");
	argv[1] = tl_text("*:debug");
	return (pt_ukconfig){.typ = PT_TYP_SOLO5, .image = tl_blob("ABC", 3),
	    .add_name = true, .ncpuids = 1, .cpuids = cpuids, .memory = 32,
	    .nnets = 1, .nets = nets, .has_argv = true, .argc = 2,
	    .argv = argv, .cpus = 1};
}

/* The v3 configuration of §13.4 in the current model (§6.4 defaults). */
static pt_ukconfig
config_13_4(void)
{
	static int64_t cpuids[] = {2};
	static pt_netspec nets[1];
	nets[0] = (pt_netspec){.name = tl_text("service"), .has_bridge = true,
	    .bridge = tl_text("bridge-interface"), .has_mac = true,
	    .mac = {0x00, 0xDE, 0xAD, 0xBE, 0xEF, 0x00}};
	return (pt_ukconfig){.typ = PT_TYP_SOLO5, .image = tl_blob("", 0),
	    .add_name = true, .ncpuids = 1, .cpuids = cpuids, .memory = 10,
	    .nnets = 1, .nets = nets, .cpus = 1};
}

static void
b13_1(pt_wire *w)
{
	command(w, 0, ":foo", PT_CMD_CONSOLE_SUBSCRIBE);
	w->u.command.u.subscribe = (pt_subscribe){.by_count = true, .count = 20};
}

static void
b13_2(pt_wire *w)
{
	b13_1(w);
	w->header.name = tl_name(":foo.bar");
}

static void
b13_5(pt_wire *w)
{
	command(w, 0, "foo:", PT_CMD_POLICY_ADD);
	w->u.command.u.policy = policy_13_5();
}

static void
b13_6(pt_wire *w)
{
	command(w, 0, ":hello", PT_CMD_UK_DESTROY);
}

static void
b13_7a(pt_wire *w)
{
	success(w, 7, "foo:bar", PT_OK_EMPTY);
}

static void
b13_7b(pt_wire *w)
{
	success(w, 0, ":hello", PT_OK_STRING);
	w->u.success.u.string = tl_text("destroyed unikernel");
}

static void
b13_7c(pt_wire *w)
{
	success(w, 0, "foo:", PT_OK_UNIKERNEL_INFO);
}

static void
b13_7d(pt_wire *w)
{
	static pt_named_policy v[1];
	v[0].name = tl_name(":");
	v[0].policy = policy_13_5();
	success(w, 0, "foo:", PT_OK_POLICIES);
	w->u.success.u.policies.n = 1;
	w->u.success.u.policies.v = v;
}

static void
b13_7e(pt_wire *w)
{
	static pt_block_entry v[1];
	v[0] = (pt_block_entry){.name = tl_name(":disk"), .size_mb = 100,
	    .active = false};
	success(w, 0, "foo:", PT_OK_BLOCK_DEVICES);
	w->u.success.u.blocks.n = 1;
	w->u.success.u.blocks.v = v;
}

static void
b13_7f(pt_wire *w)
{
	static pt_name v[2];
	v[0] = tl_name(":a");
	v[1] = tl_name("b:c");
	success(w, 0, "foo:", PT_OK_CONSOLES);
	w->u.success.u.consoles.n = 2;
	w->u.success.u.consoles.v = v;
}

static void
b13_8(pt_wire *w)
{
	tl_header(w, 0, ":hello");
	w->kind = PT_PAYLOAD_FAILURE;
	w->u.failure = tl_text("destroy: not found");
}

static void
b13_9_info(pt_wire *w)
{
	command(w, 0, "foo:", PT_CMD_UK_INFO);
}

static void
b13_9_get(pt_wire *w)
{
	command(w, 0, ":hello", PT_CMD_UK_GET);
	w->u.command.u.level = 9;
}

static void
b13_9_restart(pt_wire *w)
{
	command(w, 0, ":hello", PT_CMD_UK_RESTART);
	w->u.command.u.restart.has_args = false;
}

static void
b13_9_policy_info(pt_wire *w)
{
	command(w, 0, ":", PT_CMD_POLICY_INFO);
}

static void
b13_9_policy_remove(pt_wire *w)
{
	command(w, 0, "foo:", PT_CMD_POLICY_REMOVE);
}

static void
b13_9_block_add(pt_wire *w)
{
	command(w, 0, "foo:disk", PT_CMD_BLOCK_ADD);
	w->u.command.u.size_mb = 100;
}

static void
b13_9_block_set(pt_wire *w)
{
	command(w, 0, "foo:disk", PT_CMD_BLOCK_SET);
	w->u.command.u.compressed = false;
}

static void
b13_9_block_dump(pt_wire *w)
{
	command(w, 0, "foo:disk", PT_CMD_BLOCK_DUMP);
	w->u.command.u.level = 0;
}

static void
b13_9_block_info(pt_wire *w)
{
	command(w, 0, ":", PT_CMD_BLOCK_INFO);
}

static void
b13_9_list_inactive(pt_wire *w)
{
	command(w, 0, "foo:", PT_CMD_CONSOLE_LIST_INACTIVE);
}

static void
b13_9_console_add(pt_wire *w)
{
	command(w, 7, "foo:bar", PT_CMD_CONSOLE_ADD);
	w->u.command.u.count = 5;
}

static void
b13_9_subscribe_since(pt_wire *w)
{
	command(w, 0, "a:b", PT_CMD_CONSOLE_SUBSCRIBE);
	w->u.command.u.subscribe = (pt_subscribe){.by_count = false,
	    .since = T_20240102030405};
}

static void
b13_9_stats_subscribe(pt_wire *w)
{
	command(w, 0, "foo:", PT_CMD_STATS_SUBSCRIBE);
}

static void
b13_9_stats_initial(pt_wire *w)
{
	command(w, 0, ":", PT_CMD_STATS_INITIAL);
}

static void
b13_9_stats_remove(pt_wire *w)
{
	command(w, 2, "foo:hello", PT_CMD_STATS_REMOVE);
}

static void
b13_9_image(pt_wire *w)
{
	success(w, 0, ":hello", PT_OK_UNIKERNEL_IMAGE);
	w->u.success.u.image = (pt_image){.compressed = false,
	    .data = tl_blob("ELF", 3)};
}

static void
b13_9_stats_add(pt_wire *w)
{
	static pt_stats_net nets[1];
	nets[0] = (pt_stats_net){.name = tl_text("service"),
	    .tap = tl_text("vmmtap0")};
	command(w, 1, "foo:hello", PT_CMD_STATS_ADD);
	w->u.command.u.stats_add = (pt_stats_add){
	    .vmmdev = tl_text("solo5-1234"), .pid = 1234, .nnets = 1,
	    .nets = nets};
}

static void
b13_10(pt_wire *w)
{
	command(w, 0, ":hello", PT_CMD_UK_CREATE);
	w->u.command.config_version = 5;
	w->u.command.u.config = config_13_10();
}

/* Sets given unsorted, as the user would type them (§13.11). */
static void
b13_11(pt_wire *w)
{
	static int64_t codes[] = {2, 0};
	static int64_t cpuids[] = {1, 0};
	static pt_blockspec blocks[2];
	static pt_netspec nets[2];
	blocks[0] = (pt_blockspec){.name = tl_text("storage"),
	    .has_device = true, .device = tl_text("disk1"),
	    .has_sector_size = true, .sector_size = 4096};
	blocks[1] = (pt_blockspec){.name = tl_text("data")};
	nets[0] = (pt_netspec){.name = tl_text("service"), .has_bridge = true,
	    .bridge = tl_text("br0"), .has_mac = true,
	    .mac = {0x00, 0x80, 0x41, 0xAA, 0xBB, 0xCC}};
	nets[1] = (pt_netspec){.name = tl_text("management")};
	command(w, 3, "a:web", PT_CMD_UK_FORCE_CREATE);
	w->u.command.config_version = 5;
	w->u.command.u.config = (pt_ukconfig){.typ = PT_TYP_SOLO5,
	    .image = tl_blob("", 0), .has_startup = true, .startup = 10,
	    .add_name = false,
	    .fail = {.restart = true, .ncodes = 2, .codes = codes},
	    .ncpuids = 2, .cpuids = cpuids, .memory = 256, .nblocks = 2,
	    .blocks = blocks, .nnets = 2, .nets = nets, .cpus = 1};
}

static void
b13_12(pt_wire *w)
{
	static int64_t cpuids[] = {0};
	command(w, 0, ":hello", PT_CMD_UK_RESTART);
	w->u.command.u.restart = (pt_restart){.has_args = true,
	    .args_version = 3,
	    .args = {.add_name = true, .fail = {.restart = true},
	    .ncpuids = 1, .cpuids = cpuids, .memory = 64, .cpus = 1}};
}

static uint8_t digest_aa[32];

static void
b13_13(pt_wire *w)
{
	static int64_t cpuids[] = {0};
	static pt_blockinfo blocks[1];
	static pt_netinfo nets[1];
	static pt_text argv[1];
	static pt_named_info v[1];
	memset(digest_aa, 0xAA, sizeof(digest_aa));
	blocks[0] = (pt_blockinfo){.unikernel_device = tl_text("storage"),
	    .host_device = tl_text("disk"), .sector_size = 512,
	    .block_size_mb = 100};
	nets[0] = (pt_netinfo){.unikernel_device = tl_text("service"),
	    .host_device = tl_text("br0"),
	    .mac = {0x00, 0x80, 0x41, 0x01, 0x02, 0x03}};
	argv[0] = tl_text("-l");
	v[0].name = tl_name(":hello");
	v[0].info = (pt_ukinfo){.typ = PT_TYP_SOLO5, .ncpuids = 1,
	    .cpuids = cpuids, .memory = 32,
	    .digest = tl_blob(digest_aa, sizeof(digest_aa)), .nblocks = 1,
	    .blocks = blocks, .nnets = 1, .nets = nets, .has_argv = true,
	    .argc = 1, .argv = argv, .started = T_20240102030405, .cpus = 1};
	success(w, 0, "foo:", PT_OK_UNIKERNEL_INFO);
	w->u.success.u.infos.n = 1;
	w->u.success.u.infos.v = v;
}

static void
b13_14a(pt_wire *w)
{
	data(w, 0, "foo:hello", PT_DATA_CONSOLE);
	w->u.data.u.console.time = T_20240102030405;
	w->u.data.u.console.line = tl_text("hi");
}

static void
b13_14b(pt_wire *w)
{
	b13_14a(w);
	w->u.data.u.console.time = T_20240102030405 + 250;
}

static void
b13_14c_image(pt_wire *w)
{
	success(w, 0, "foo:disk", PT_OK_BLOCK_IMAGE);
	w->u.success.u.compressed = true;
}

static void
b13_14c_chunk(pt_wire *w)
{
	data(w, 0, "foo:disk", PT_DATA_BLOCK_CHUNK);
	w->u.data.u.chunk = tl_blob("\x00\x01", 2);
}

static void
b13_14c_end(pt_wire *w)
{
	data(w, 0, "foo:disk", PT_DATA_BLOCK_END);
}

static void
b13_14d(pt_wire *w)
{
	data(w, 0, ":hello", PT_DATA_STATS);
	pt_rusage *r = &w->u.data.u.stats.rusage;
	r->utime = (pt_timeval){1, 2};
	r->stime = (pt_timeval){3, 4};
	r->maxrss = 5;
}

static pt_kinfo_mem
kinfo_1_to_9(void)
{
	return (pt_kinfo_mem){.vsize = 1, .rss = 2, .tsize = 3, .dsize = 4,
	    .ssize = 5, .runtime = 6, .cow = 7, .start = {8, 9}};
}

static void
b13_14d_vmm(pt_wire *w)
{
	static pt_vmmstat vmm[1];
	vmm[0] = (pt_vmmstat){.key = tl_text("a"), .value = 1};
	b13_14d(w);
	w->u.data.u.stats.has_vmm = true;
	w->u.data.u.stats.nvmm = 1;
	w->u.data.u.stats.vmm = vmm;
}

static void
b13_14d_empty_vmm(pt_wire *w)
{
	b13_14d(w);
	w->u.data.u.stats.has_vmm = true;
}

static void
b13_14d_kinfo(pt_wire *w)
{
	b13_14d(w);
	w->u.data.u.stats.has_kinfo = true;
	w->u.data.u.stats.kinfo = kinfo_1_to_9();
}

static void
b13_14d_vmm_kinfo(pt_wire *w)
{
	b13_14d_vmm(w);
	w->u.data.u.stats.has_kinfo = true;
	w->u.data.u.stats.kinfo = kinfo_1_to_9();
}

static void
b13_14d_full(pt_wire *w)
{
	static pt_ifdata ifd[2];
	static pt_vmmstat vmm[2];
	data(w, 0, ":hello", PT_DATA_STATS);
	pt_stats *s = &w->u.data.u.stats;
	s->rusage = (pt_rusage){.utime = {1, 2}, .stime = {3, 4}, .maxrss = 5,
	    .ixrss = 6, .idrss = 7, .isrss = 8, .minflt = 9, .majflt = 10,
	    .nswap = 11, .inblock = 12, .outblock = 13, .msgsnd = 14,
	    .msgrcv = 15, .nsignals = 16, .nvcsw = 17, .nivcsw = 18};
	ifd[0] = (pt_ifdata){.bridge = tl_text("service"), .flags = 0x8843,
	    .send_length = 1, .max_send_length = 2, .send_drops = 3,
	    .mtu = 1500, .baudrate = 10, .input_packets = 11,
	    .input_errors = 12, .output_packets = 13, .output_errors = 14,
	    .collisions = 15, .input_bytes = 16, .output_bytes = 17,
	    .input_mcast = 18, .output_mcast = 19, .input_dropped = 20,
	    .output_dropped = 21};
	ifd[1] = (pt_ifdata){.bridge = tl_text("mgmt"), .flags = -1,
	    .send_length = INT32_MAX, .max_send_length = INT32_MIN,
	    .send_drops = 0, .mtu = 9000, .baudrate = -1, .input_packets = -2,
	    .input_errors = -3, .output_packets = -4, .output_errors = -5,
	    .collisions = -6, .input_bytes = -7, .output_bytes = -8,
	    .input_mcast = -9, .output_mcast = -10, .input_dropped = -11,
	    .output_dropped = -12};
	vmm[0] = (pt_vmmstat){.key = tl_text("b"), .value = 1};
	vmm[1] = (pt_vmmstat){.key = tl_text("a"), .value = -2};
	s->nifdata = 2;
	s->ifdata = ifd;
	s->has_vmm = true;
	s->nvmm = 2;
	s->vmm = vmm;
	s->has_kinfo = true;
	s->kinfo = (pt_kinfo_mem){.vsize = INT64_C(1) << 40, .rss = 2,
	    .tsize = 3, .dsize = 4, .ssize = 5, .runtime = 6, .cow = 300,
	    .start = {1700000000, 999999}};
}

static void
since(pt_wire *w, pt_time_ms t)
{
	b13_9_subscribe_since(w);
	w->u.command.u.subscribe.since = t;
}

static void
bd_since_0300(pt_wire *w)
{
	since(w, T_20240102030405 - 245 * 1000);
}

static void
bd_since_plus_5ms(pt_wire *w)
{
	since(w, T_20240102030405 + 5);
}

static void
bd_since_plus_90min(pt_wire *w)
{
	since(w, T_20240102030405 + 90 * 60 * 1000);
}

static void
b13_16_block_set_true(pt_wire *w)
{
	command(w, 0, "foo:disk", PT_CMD_BLOCK_SET);
	w->u.command.u.compressed = true;
}

static void
bl_create_v3(pt_wire *w)
{
	command(w, 0, ":hello", PT_CMD_UK_CREATE);
	w->u.command.config_version = 3;
	w->u.command.u.config = config_13_4();
}

static void
bl_force_v4(pt_wire *w)
{
	static int64_t codes[] = {3};
	static int64_t cpuids[] = {1};
	static pt_blockspec blocks[1];
	blocks[0] = (pt_blockspec){.name = tl_text("disk")};
	command(w, 1, "a:b", PT_CMD_UK_FORCE_CREATE);
	w->u.command.config_version = 4;
	w->u.command.u.config = (pt_ukconfig){.typ = PT_TYP_SOLO5,
	    .compressed = true, .image = tl_blob("\x78\x9c", 2),
	    .has_startup = true, .startup = 7, .add_name = false,
	    .fail = {.restart = true, .ncodes = 1, .codes = codes},
	    .ncpuids = 1, .cpuids = cpuids, .memory = 64, .nblocks = 1,
	    .blocks = blocks, .has_argv = true, .argc = 0, .cpus = 1};
}

static void
bl_restart_v0(pt_wire *w)
{
	static int64_t cpuids[] = {3};
	command(w, 0, ":hello", PT_CMD_UK_RESTART);
	w->u.command.u.restart = (pt_restart){.has_args = true,
	    .args_version = 1,
	    .args = {.add_name = true, .ncpuids = 1, .cpuids = cpuids,
	    .memory = 16, .cpus = 1}};
}

static void
bl_restart_v1(pt_wire *w)
{
	static int64_t cpuids[] = {0};
	static pt_text argv[1];
	argv[0] = tl_text("x");
	command(w, 0, ":hello", PT_CMD_UK_RESTART);
	w->u.command.u.restart = (pt_restart){.has_args = true,
	    .args_version = 2,
	    .args = {.fail = {.restart = true}, .has_startup = true,
	    .startup = 5, .add_name = true, .ncpuids = 1, .cpuids = cpuids,
	    .memory = 32, .has_argv = true, .argc = 1, .argv = argv,
	    .cpus = 1}};
}

static void
old_info(pt_wire *w, pt_success_kind kind)
{
	static int64_t cpuids[] = {0};
	static pt_named_info v[1];
	memset(digest_aa, 0xAA, sizeof(digest_aa));
	v[0].name = tl_name(":hello");
	v[0].info = (pt_ukinfo){.typ = PT_TYP_SOLO5, .ncpuids = 1,
	    .cpuids = cpuids, .memory = 32,
	    .digest = tl_blob(digest_aa, sizeof(digest_aa)),
	    .started = T_20240102030405, .cpus = 1};
	if (kind == PT_OK_OLD_UNIKERNEL_INFO5) {
		v[0].info.has_startup = true;
		v[0].info.startup = 3;
	}
	success(w, 0, "foo:", kind);
	w->u.success.u.infos.n = 1;
	w->u.success.u.infos.v = v;
}

static void
bl_info5(pt_wire *w)
{
	old_info(w, PT_OK_OLD_UNIKERNEL_INFO5);
}

static void
bl_info4(pt_wire *w)
{
	old_info(w, PT_OK_OLD_UNIKERNEL_INFO4);
}

static void
bd_setof_order(pt_wire *w)
{
	static int64_t codes[] = {128, -1, 1};
	static int64_t cpuids[] = {256, 0};
	command(w, 0, ":x", PT_CMD_UK_CREATE);
	w->u.command.config_version = 5;
	w->u.command.u.config = (pt_ukconfig){.typ = PT_TYP_SOLO5,
	    .image = tl_blob("", 0),
	    .fail = {.restart = true, .ncodes = 3, .codes = codes},
	    .ncpuids = 2, .cpuids = cpuids, .memory = 32, .cpus = 1};
}

static void
bd_policy_dedup(pt_wire *w)
{
	static int64_t cpuids[] = {0, 1};
	static pt_text bridges[2];
	bridges[0] = tl_text("a");
	bridges[1] = tl_text("b");
	command(w, 0, "foo:", PT_CMD_POLICY_ADD);
	w->u.command.u.policy = (pt_policy){.unikernels = 1, .memory = 512,
	    .ncpuids = 2, .cpuids = cpuids, .nbridges = 2, .bridges = bridges};
}

static void
bc13_3a(pt_certext *c)
{
	c->version = 5;
	c->command.kind = PT_CMD_CONSOLE_SUBSCRIBE;
	c->command.u.subscribe = (pt_subscribe){.by_count = true, .count = 20};
}

static void
bc13_3b(pt_certext *c)
{
	static int64_t cpuids[] = {0};
	c->version = 5;
	c->command.kind = PT_CMD_POLICY_ADD;
	c->command.u.policy = (pt_policy){.unikernels = 1, .memory = 512,
	    .has_block = false, .ncpuids = 1, .cpuids = cpuids};
}

static void
bs13_15(pt_state *s)
{
	static pt_state_uk uks[1];
	static pt_named_policy pols[2];
	uks[0].name = tl_name("foo:hello");
	uks[0].config = config_13_10();
	pols[0].name = tl_name(":");
	pols[0].policy = policy_13_5();
	pols[1].name = tl_name("foo:");
	pols[1].policy = policy_13_5();
	s->choice = 6;
	s->nunikernels = 1;
	s->unikernels = uks;
	s->npolicies = 2;
	s->policies = pols;
}

static void
bs13_15_empty(pt_state *s)
{
	s->choice = 6;
}

static void
bs13_4(pt_state *s)
{
	static pt_state_uk uks[1];
	uks[0].name = tl_name("bar:hello");
	uks[0].config = config_13_4();
	s->choice = 3;
	s->nunikernels = 1;
	s->unikernels = uks;
}

/* ---- the decode/encode test pairs ---- */

typedef struct {
	const char *id;
	const char *hex;        /* the bytes decoded */
	const char *hex_suffix; /* appended to hex (NULL: nothing) */
	const char *canonical;  /* what encoding gives; NULL: hex */
	void (*wire)(pt_wire *);
	void (*cert)(pt_certext *);
	void (*state)(pt_state *);
} vector;

#define W(id, hex, fn) {id, hex, NULL, NULL, fn, NULL, NULL}
#define WC(id, hex, canon, fn) {id, hex, NULL, canon, fn, NULL, NULL}

static const vector vectors[] = {
	W("13.1 console subscribe count 20 :foo", V13_1, b13_1),
	W("13.2 console subscribe :foo.bar", V13_2, b13_2),
	W("13.5 policy add foo:", V13_5, b13_5),
	W("13.6 unikernel destroy :hello", V13_6, b13_6),
	W("13.7a success empty seq 7", V13_7A, b13_7a),
	W("13.7b success string", V13_7B, b13_7b),
	W("13.7c success unikernel-info empty", V13_7C, b13_7c),
	W("13.7d success policies", V13_7D, b13_7d),
	W("13.7e success block-devices", V13_7E, b13_7e),
	W("13.7f success consoles", V13_7F, b13_7f),
	W("13.8 failure", V13_8, b13_8),
	W("13.9 unikernel info", V13_9_INFO, b13_9_info),
	W("13.9 unikernel get 9", V13_9_GET, b13_9_get),
	W("13.9 unikernel restart no arguments", V13_9_RESTART, b13_9_restart),
	W("13.9 policy info", V13_9_POLICY_INFO, b13_9_policy_info),
	W("13.9 policy remove", V13_9_POLICY_REMOVE, b13_9_policy_remove),
	W("13.9 block add 100", V13_9_BLOCK_ADD, b13_9_block_add),
	W("13.9 block set uncompressed", V13_9_BLOCK_SET, b13_9_block_set),
	W("13.9 block dump 0", V13_9_BLOCK_DUMP, b13_9_block_dump),
	W("13.9 block info", V13_9_BLOCK_INFO, b13_9_block_info),
	W("13.9 console list-inactive", V13_9_LIST_INACTIVE,
	    b13_9_list_inactive),
	W("13.9 console add 5 seq 7", V13_9_CONSOLE_ADD, b13_9_console_add),
	W("13.9 console subscribe since", V13_9_SUBSCRIBE_SINCE,
	    b13_9_subscribe_since),
	W("13.9 stats subscribe", V13_9_STATS_SUBSCRIBE, b13_9_stats_subscribe),
	W("13.9 stats initial", V13_9_STATS_INITIAL, b13_9_stats_initial),
	W("13.9 stats remove seq 2", V13_9_STATS_REMOVE, b13_9_stats_remove),
	W("13.9 success unikernel-image", V13_9_IMAGE, b13_9_image),
	W("13.9 stats add", V13_9_STATS_ADD, b13_9_stats_add),
	W("13.10 unikernel create", V13_10, b13_10),
	W("13.11 force-create SET OF ordering", V13_11, b13_11),
	W("13.12 restart with arguments", V13_12, b13_12),
	W("13.13 unikernel info reply long lengths", V13_13, b13_13),
	W("13.14a console data", V13_14A, b13_14a),
	W("13.14b console data with milliseconds", V13_14B, b13_14b),
	W("13.14c block-device-image", V13_14C_IMAGE, b13_14c_image),
	W("13.14c block chunk", V13_14C_CHUNK, b13_14c_chunk),
	W("13.14c block end", V13_14C_END, b13_14c_end),
	W("13.14d stats", V13_14D, b13_14d),
	W("13.14d stats + vmm-stats (derived)", V13_14D_VMM, b13_14d_vmm),
	W("13.14d stats + empty vmm-stats (derived)", V13_14D_EMPTY_VMM,
	    b13_14d_empty_vmm),
	W("13.14d stats + kinfo-mem (derived)", V13_14D_KINFO, b13_14d_kinfo),
	W("13.14d stats + vmm-stats + kinfo-mem (derived)", V13_14D_VMM_KINFO,
	    b13_14d_vmm_kinfo),
	W("13.14d stats all fields distinct + ifdata (derived)", V13_14D_FULL,
	    b13_14d_full),
	WC("13.16 name :FOO normalised", V13_16_UPPER, V13_1, b13_1),
	WC("13.16 BOOLEAN 01 is TRUE", V13_16_BOOL_01, V13_16_BOOL_FF,
	    b13_16_block_set_true),
	WC("3.4 time YYYYMMDDHHZ (derived)", D_TIME_HOUR, D_TIME_HOUR_CANON,
	    bd_since_0300),
	WC("3.4 time fraction .5 is 5 ms (derived)", D_TIME_FRACTION,
	    D_TIME_FRACTION_CANON, bd_since_plus_5ms),
	WC("3.4 time offset -0130 (derived)", D_TIME_OFFSET, D_TIME_OFFSET_CANON,
	    bd_since_plus_90min),
	WC("3.4 time without zone is UTC (derived)", D_TIME_NO_ZONE,
	    V13_9_SUBSCRIBE_SINCE, b13_9_subscribe_since),
	WC("6.4 create-v3 [9] (derived)", L_CREATE_V3, L_CREATE_V3_AS_V5,
	    bl_create_v3),
	WC("6.4 force-create-v4 [17] (derived)", L_FORCE_V4, L_FORCE_V4_AS_V5,
	    bl_force_v4),
	WC("6.5 restart arguments-v0 [1] (derived)", L_RESTART_V0,
	    L_RESTART_V0_AS_V3, bl_restart_v0),
	WC("6.5 restart arguments-v1 [2] (derived)", L_RESTART_V1,
	    L_RESTART_V1_AS_V3, bl_restart_v1),
	W("6.6 old-unikernel-info5 [11] (derived)", L_INFO5, bl_info5),
	W("6.6 old-unikernel-info4 [9] (derived)", L_INFO4, bl_info4),
	W("3.1 SET OF INTEGER sorted by encoding (derived)", D_SETOF_ORDER,
	    bd_setof_order),
	WC("6.2 policy duplicates collapse (derived)", D_POLICY_DUPS,
	    D_POLICY_DEDUP, bd_policy_dedup),
	{"13.3a certificate extension console subscribe", V13_3A, NULL, NULL,
	    NULL, bc13_3a, NULL},
	{"13.3b certificate extension policy add", V13_3B, NULL, NULL, NULL,
	    bc13_3b, NULL},
	{"13.15 state file", V13_15, NULL, NULL, NULL, NULL, bs13_15},
	{"13.15 empty state file", V13_15_EMPTY, NULL, NULL, NULL, NULL,
	    bs13_15_empty},
	{"13.4 v3 state entry (as [3] file)", V13_4_STATE, V13_4_ENTRY,
	    V13_4_AS_V5, NULL, NULL, bs13_4},
};

/* The vector's input bytes (hex plus suffix). */
static uint8_t *
vector_input(const vector *v, size_t *n)
{
	size_t len = strlen(v->hex) + 2 +
	    (v->hex_suffix ? strlen(v->hex_suffix) : 0);
	char *hex = malloc(len);
	assert_non_null(hex);
	snprintf(hex, len, "%s %s", v->hex, v->hex_suffix ? v->hex_suffix : "");
	uint8_t *p = tl_hex(hex, n);
	free(hex);
	return p;
}

static void
test_decode(void **state)
{
	const vector *v = *state;
	size_t n;
	uint8_t *in = vector_input(v, &n);
	pt_arena a = {0};
	pt_err err = {{0}};
	int rc;
	bool same;
	if (v->wire != NULL) {
		pt_wire want, got;
		memset(&want, 0, sizeof(want));
		memset(&got, 0, sizeof(got));
		v->wire(&want);
		rc = pt_wire_decode(in, n, &a, &got, &err);
		same = rc == 0 && tl_eq_wire(&want, &got);
	} else if (v->cert != NULL) {
		pt_certext want, got;
		memset(&want, 0, sizeof(want));
		memset(&got, 0, sizeof(got));
		v->cert(&want);
		rc = pt_certext_decode(in, n, &a, &got, &err);
		same = rc == 0 && tl_eq_certext(&want, &got);
	} else {
		pt_state want, got;
		memset(&want, 0, sizeof(want));
		memset(&got, 0, sizeof(got));
		v->state(&want);
		rc = pt_state_decode(in, n, &a, &got, &err);
		same = rc == 0 && tl_eq_state(&want, &got);
	}
	if (rc != 0)
		fprintf(stderr, "%s: decode failed: %s\n", v->id, err.msg);
	else if (!same)
		fprintf(stderr, "%s: decoded value differs (see above)\n", v->id);
	pt_arena_free(&a);
	free(in);
	assert_int_equal(rc, 0);
	assert_true(same);
}

static void
test_encode(void **state)
{
	const vector *v = *state;
	size_t n;
	uint8_t *want = v->canonical ? tl_hex(v->canonical, &n) :
	    vector_input(v, &n);
	pt_buf out = {0};
	pt_err err = {{0}};
	int rc;
	if (v->wire != NULL) {
		pt_wire w;
		memset(&w, 0, sizeof(w));
		v->wire(&w);
		rc = pt_wire_encode(&w, &out, &err);
	} else if (v->cert != NULL) {
		pt_certext c;
		memset(&c, 0, sizeof(c));
		v->cert(&c);
		rc = pt_certext_encode(&c, &out, &err);
	} else {
		pt_state s;
		memset(&s, 0, sizeof(s));
		v->state(&s);
		rc = pt_state_encode(&s, &out, &err);
	}
	bool same = rc == 0 && out.len == n && memcmp(out.data, want, n) == 0;
	if (rc != 0)
		fprintf(stderr, "%s: encode failed: %s\n", v->id, err.msg);
	else if (!same)
		tl_diff(want, n, out.data, out.len);
	pt_buf_free(&out);
	free(want);
	assert_int_equal(rc, 0);
	assert_true(same);
}

/* ---- §9.2 / §13.3: the full X.509 Extension around the contents ---- */

static void
expect_extension(const char *ext_hex, void (*build)(pt_certext *))
{
	size_t n;
	uint8_t *want = tl_hex(ext_hex, &n);
	pt_certext c;
	memset(&c, 0, sizeof(c));
	build(&c);
	pt_buf body = {0};
	assert_int_equal(pt_certext_encode(&c, &body, NULL), 0);
	/* SEQUENCE { OID 1.3.6.1.4.1.49836.42, OCTET STRING { body } } */
	static const uint8_t oid[] = {0x06, 0x09, 0x2B, 0x06, 0x01, 0x04, 0x01,
	    0x83, 0x85, 0x2C, 0x2A};
	assert_true(body.len < 100);
	pt_buf ext = {0};
	pt_buf_append_byte(&ext, 0x30);
	pt_buf_append_byte(&ext, (uint8_t)(sizeof(oid) + 2 + body.len));
	pt_buf_append(&ext, oid, sizeof(oid));
	pt_buf_append_byte(&ext, 0x04);
	pt_buf_append_byte(&ext, (uint8_t)body.len);
	pt_buf_append(&ext, body.data, body.len);
	bool same = ext.len == n && memcmp(ext.data, want, n) == 0;
	if (!same)
		tl_diff(want, n, ext.data, ext.len);
	/* and the extnValue contents decode back */
	pt_arena a = {0};
	pt_certext back;
	int rc = pt_certext_decode(want + 15, n - 15, &a, &back, NULL);
	bool back_same = rc == 0 && tl_eq_certext(&c, &back);
	pt_arena_free(&a);
	pt_buf_free(&ext);
	pt_buf_free(&body);
	free(want);
	assert_true(same);
	assert_true(back_same);
}

static void
test_extension_9_2(void **state)
{
	(void)state;
	expect_extension("30 1B 06 09 2B 06 01 04 01 83 85 2C 2A 04 0E"
	    "30 0C 02 01 05 A0 07 A2 05 A1 03 02 01 14", bc13_3a);
}

static void
test_extension_13_3b(void **state)
{
	(void)state;
	expect_extension("30 26 06 09 2B 06 01 04 01 83 85 2C 2A 04 19"
	    "30 17 02 01 05 A4 12 A1 10 30 0E 30 03 02 01 00 02 01 01 02 02 02"
	    "00 30 00", bc13_3b);
}

/* §3.3: albatross accepts the long form for a length of exactly 127 (an
 * upstream quirk); petrel reads it too, and writes the short form. */
static void
test_long_form_127_quirk(void **state)
{
	(void)state;
	static const uint8_t hdr[] = {0x30, 0x15, 0x02, 0x01, 0x05, 0x04, 0x08,
	    0, 0, 0, 0, 0, 0, 0, 0, 0x0C, 0x06, ':', 'h', 'e', 'l', 'l', 'o'};
	uint8_t in[3 + sizeof(hdr) + 6 + 127];
	size_t n = 0;
	in[n++] = 0x30;
	in[n++] = 0x81;
	in[n++] = (uint8_t)(sizeof(hdr) + 6 + 127);
	memcpy(in + n, hdr, sizeof(hdr));
	n += sizeof(hdr);
	static const uint8_t payload[] = {0xA2, 0x81, 0x82, 0x0C, 0x81, 0x7F};
	memcpy(in + n, payload, sizeof(payload));
	n += sizeof(payload);
	memset(in + n, 'x', 127);
	n += 127;
	assert_int_equal(n, sizeof(in));

	pt_arena a = {0};
	pt_wire w;
	pt_err err = {{0}};
	int rc = pt_wire_decode(in, n, &a, &w, &err);
	if (rc != 0)
		fprintf(stderr, "decode: %s\n", err.msg);
	bool text_ok = rc == 0 && w.kind == PT_PAYLOAD_FAILURE &&
	    w.u.failure.len == 127 && w.u.failure.s[0] == 'x' &&
	    w.u.failure.s[126] == 'x';
	pt_buf out = {0};
	bool canonical = rc == 0 && pt_wire_encode(&w, &out, NULL) == 0 &&
	    out.len == n - 1 && out.data[1] == 0x81 &&
	    out.data[2] == n - 4 && out.data[sizeof(hdr) + 3] == 0xA2 &&
	    out.data[sizeof(hdr) + 4] == 0x81 &&
	    out.data[sizeof(hdr) + 5] == 0x81 &&
	    out.data[sizeof(hdr) + 6] == 0x0C &&
	    out.data[sizeof(hdr) + 7] == 0x7F;
	if (rc == 0 && !canonical)
		tl_dump("re-encoded", out.data, out.len);
	pt_buf_free(&out);
	pt_arena_free(&a);
	assert_int_equal(rc, 0);
	assert_true(text_ok);
	assert_true(canonical);
}

/* ---- §13.16 negative cases ---- */

typedef enum { DEC_WIRE, DEC_CERTEXT, DEC_STATE } decoder;

typedef struct {
	const char *id;
	decoder dec;
	const char *hex;
	/* '|'-separated words, one of which the reason must contain
	 * (case-insensitive); NULL: any non-empty reason */
	const char *words;
} rejection;

static const rejection rejections[] = {
	{"13.16 trailing byte", DEC_WIRE,
	    "30 20 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 04 3A 66 6F"
	    "6F A0 09 A0 07 A2 05 A1 03 02 01 14 00", "trailing"},
	{"13.16 version 4", DEC_WIRE,
	    "30 20 30 13 02 01 04 04 08 00 00 00 00 00 00 00 00 0C 04 3A 66 6F"
	    "6F A0 09 A0 07 A2 05 A1 03 02 01 14", "version"},
	{"13.16 7-byte sequence number", DEC_WIRE,
	    "30 1F 30 12 02 01 05 04 07 00 00 00 00 00 00 00 0C 04 3A 66 6F 6F"
	    "A0 09 A0 07 A2 05 A1 03 02 01 14", NULL},
	{"13.16 redundant length form 81 09", DEC_WIRE,
	    "30 21 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 04 3A 66 6F"
	    "6F A0 81 09 A0 07 A2 05 A1 03 02 01 14",
	    "length|redundant|minimal"},
	{"13.16 INTEGER redundant form 02 02 00 14", DEC_WIRE,
	    "30 21 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 04 3A 66 6F"
	    "6F A0 0A A0 08 A2 06 A1 04 02 02 00 14",
	    "redundant|minimal|integer"},
	{"13.16 empty name", DEC_WIRE,
	    "30 1C 30 0F 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 00 A0 09 A0"
	    "07 A2 05 A1 03 02 01 14", "empty"},
	{"13.16 name as PrintableString", DEC_WIRE,
	    "30 20 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 13 04 3A 66 6F"
	    "6F A0 09 A0 07 A2 05 A1 03 02 01 14", NULL},
	{"13.16 log command", DEC_WIRE,
	    "30 1B 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 04 3A 66 6F"
	    "6F A0 04 A2 02 05 00", NULL},
	{"6.9 certificate extension version 4", DEC_CERTEXT,
	    "30 0C 02 01 04 A0 07 A2 05 A1 03 02 01 14", "version"},
	{"6.9 certificate extension trailing byte", DEC_CERTEXT,
	    "30 0C 02 01 05 A0 07 A2 05 A1 03 02 01 14 00", "trailing"},
	{"10 state choice [7]", DEC_STATE, "A7 02 05 00", NULL},
	{"10 state trailing byte", DEC_STATE, "A6 06 30 04 30 00 30 00 00",
	    "trailing"},
};

static bool
reason_has_word(const char *msg, const char *words)
{
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", words);
	char *save = NULL;
	for (char *w = strtok_r(buf, "|", &save); w != NULL;
	    w = strtok_r(NULL, "|", &save))
		if (strcasestr(msg, w) != NULL)
			return true;
	return false;
}

static void
test_reject(void **state)
{
	const rejection *r = *state;
	size_t n;
	uint8_t *in = tl_hex(r->hex, &n);
	pt_arena a = {0};
	pt_err err;
	memset(&err, 0, sizeof(err));
	int rc;
	switch (r->dec) {
	case DEC_WIRE: {
		pt_wire w;
		rc = pt_wire_decode(in, n, &a, &w, &err);
		break;
	}
	case DEC_CERTEXT: {
		pt_certext c;
		rc = pt_certext_decode(in, n, &a, &c, &err);
		break;
	}
	default: {
		pt_state s;
		rc = pt_state_decode(in, n, &a, &s, &err);
		break;
	}
	}
	pt_arena_free(&a);
	free(in);
	fprintf(stderr, "%s: rc %d, reason \"%s\"\n", r->id, rc, err.msg);
	assert_int_equal(rc, -1);
	assert_true(err.msg[0] != '\0');
	if (r->words != NULL && !reason_has_word(err.msg, r->words)) {
		fprintf(stderr, "reason lacks one of: %s\n", r->words);
		fail();
	}
}

/* ---- frame prefixes stated in §13 ---- */

static void
test_frame_prefixes(void **state)
{
	(void)state;
	static const struct {
		const char *hex;
		uint8_t prefix[4];
	} stated[] = {
		{V13_1, {0, 0, 0, 0x22}}, {V13_2, {0, 0, 0, 0x26}},
		{V13_5, {0, 0, 0, 0x3D}}, {V13_6, {0, 0, 0, 0x21}},
		{V13_8, {0, 0, 0, 0x2F}}, {V13_10, {0, 0, 0, 0x61}},
		{V13_11, {0, 0, 0, 0x97}}, {V13_13, {0, 0, 0, 0xB9}},
	};
	for (size_t i = 0; i < sizeof(stated) / sizeof(stated[0]); i++) {
		size_t n;
		uint8_t *body = tl_hex(stated[i].hex, &n);
		pt_buf out = {0};
		assert_int_equal(pt_frame_append(&out, body, n), 0);
		assert_int_equal(out.len, n + 4);
		assert_memory_equal(out.data, stated[i].prefix, 4);
		assert_memory_equal(out.data + 4, body, n);
		pt_buf_free(&out);
		free(body);
	}
	/* The end-of-stream marker, and §13.14's raw upload stream. */
	pt_buf out = {0};
	assert_int_equal(pt_frame_append_end(&out), 0);
	assert_int_equal(out.len, 4);
	assert_memory_equal(out.data, "\0\0\0\0", 4);
	pt_buf_reset(&out);
	assert_int_equal(pt_frame_append(&out, (const uint8_t *)"\xDE\xAD\xBE\xEF",
	    4), 0);
	assert_int_equal(pt_frame_append_end(&out), 0);
	assert_int_equal(out.len, 12);
	assert_memory_equal(out.data,
	    "\x00\x00\x00\x04\xDE\xAD\xBE\xEF\x00\x00\x00\x00", 12);
	pt_buf_free(&out);
}

/* ---- the printer ---- */

static char *
print_wire(const pt_wire *w)
{
	pt_buf out = {0};
	assert_int_equal(pt_wire_print(w, &out), 0);
	pt_buf_append_byte(&out, 0);
	assert_false(out.oom);
	return (char *)out.data;
}

static void
expect_line(void (*build)(pt_wire *), const char *line)
{
	pt_wire w;
	memset(&w, 0, sizeof(w));
	build(&w);
	char *got = print_wire(&w);
	if (strcmp(got, line) != 0)
		fprintf(stderr, "want: %s\ngot:  %s\n", line, got);
	bool same = strcmp(got, line) == 0;
	free(got);
	assert_true(same);
}

static void
test_print_vectors(void **state)
{
	(void)state;
	expect_line(b13_10, "seq 0 :hello command unikernel create: solo5 "
	    "memory=32MB cpuids=0 add-name fail=quit bridges=[service] "
	    "argv=[\"-l\",\"*:debug\"] image=3 bytes");
	expect_line(b13_8, "seq 0 :hello failure \"destroy: not found\"");
	expect_line(b13_1, "seq 0 :foo command console subscribe count=20");
	expect_line(b13_9_subscribe_since, "seq 0 a:b command console "
	    "subscribe since=2024-01-02T03:04:05Z");
	expect_line(b13_7a, "seq 7 foo:bar success");
	expect_line(b13_7b, "seq 0 :hello success \"destroyed unikernel\"");
	expect_line(b13_7f, "seq 0 foo: success consoles [:a, b:c]");
	expect_line(b13_7e, "seq 0 foo: success block-devices [:disk 100MB]");
	expect_line(b13_5, "seq 0 foo: command policy add: unikernels=2 "
	    "memory=512MB block=1024MB cpuids=0,1 bridges=[service]");
	expect_line(b13_11, "seq 3 a:web command unikernel force-create: "
	    "solo5 startup=10 memory=256MB cpuids=1,0 fail=restart(2,0) "
	    "blocks=[storage=disk1 sector-size=4096, data] "
	    "bridges=[service=br0 mac=00:80:41:aa:bb:cc, management] "
	    "image=0 bytes");
	expect_line(b13_12, "seq 0 :hello command unikernel restart: "
	    "memory=64MB cpuids=0 add-name fail=restart");
	expect_line(b13_9_restart, "seq 0 :hello command unikernel restart");
	expect_line(b13_9_image, "seq 0 :hello success unikernel-image "
	    "uncompressed 3 bytes 454c46");
	expect_line(b13_9_stats_add, "seq 1 foo:hello command stats add "
	    "vmmdev=solo5-1234 pid=1234 nets=[service=vmmtap0]");
	expect_line(b13_13, "seq 0 foo: success unikernel-info [:hello "
	    "{solo5 memory=32MB cpuids=0 fail=quit "
	    "blocks=[storage=disk sector-size=512 size=100MB] "
	    "bridges=[service=br0 mac=00:80:41:01:02:03] argv=[\"-l\"] "
	    "started=2024-01-02T03:04:05Z digest="
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}]");
	expect_line(b13_14a, "seq 0 foo:hello data console "
	    "2024-01-02T03:04:05Z \"hi\"");
	expect_line(b13_14b, "seq 0 foo:hello data console "
	    "2024-01-02T03:04:05.250Z \"hi\"");
	expect_line(b13_14c_chunk, "seq 0 foo:disk data block chunk 2 bytes "
	    "0001");
	expect_line(b13_14c_end, "seq 0 foo:disk data block end");
	expect_line(b13_14c_image, "seq 0 foo:disk success block-device-image "
	    "compressed");
}

/* Text from peers is escaped: quotes, backslashes, controls, invalid
 * UTF-8 and the invisible controls that reorder a terminal line. */
static void
test_print_escapes(void **state)
{
	(void)state;
	static const char text[] = "a\"b\\c\nd\x01" "e\xE2\x80\xAE" "f\xFF"
	    "g\xC3\xA9\x7F";
	pt_wire w;
	memset(&w, 0, sizeof(w));
	tl_header(&w, -1, ":x");
	w.kind = PT_PAYLOAD_FAILURE;
	w.u.failure = (pt_text){.s = text, .len = sizeof(text) - 1};
	char *got = print_wire(&w);
	const char *want = "seq -1 :x failure "
	    "\"a\\\"b\\\\c\\nd\\x01e\\u{202E}f\\xffg\xC3\xA9\\x7f\"";
	if (strcmp(got, want) != 0)
		fprintf(stderr, "want: %s\ngot:  %s\n", want, got);
	bool same = strcmp(got, want) == 0;
	free(got);
	assert_true(same);

	/* a bridge name with a space is quoted, a NUL inside text shown */
	static pt_netspec nets[1];
	nets[0] = (pt_netspec){.name = {.s = "a b\0c", .len = 5}};
	memset(&w, 0, sizeof(w));
	b13_10(&w);
	w.u.command.u.config.nets = nets;
	got = print_wire(&w);
	same = strstr(got, "bridges=[\"a b\\x00c\"]") != NULL;
	if (!same)
		fprintf(stderr, "got: %s\n", got);
	free(got);
	assert_true(same);
}

/* No line carries a whole image, a huge text or an unbounded list. */
static void
test_print_bounded(void **state)
{
	(void)state;
	size_t big = 1 << 20;
	uint8_t *image = calloc(big, 1);
	char *text = malloc(big);
	pt_text *argv = calloc(10000, sizeof(*argv));
	assert_non_null(image);
	assert_non_null(text);
	assert_non_null(argv);
	memset(text, 'x', big);
	for (size_t i = 0; i < 10000; i++)
		argv[i] = tl_text("arg");

	pt_wire w;
	memset(&w, 0, sizeof(w));
	b13_10(&w);
	w.u.command.u.config.image = tl_blob(image, big);
	w.u.command.u.config.argc = 10000;
	w.u.command.u.config.argv = argv;
	char *line = print_wire(&w);
	bool ok = strlen(line) < 4096 &&
	    strstr(line, "image=1048576 bytes") != NULL &&
	    strstr(line, "(10000 in all)") != NULL;
	if (!ok)
		fprintf(stderr, "line of %zu bytes: %.300s\n", strlen(line), line);
	free(line);

	memset(&w, 0, sizeof(w));
	b13_9_image(&w);
	w.u.success.u.image.data = tl_blob(image, big);
	line = print_wire(&w);
	ok = ok && strlen(line) < 200 && strstr(line, "1048576 bytes") != NULL;
	free(line);

	memset(&w, 0, sizeof(w));
	b13_8(&w);
	w.u.failure = (pt_text){.s = text, .len = big};
	line = print_wire(&w);
	ok = ok && strlen(line) < 2048 &&
	    strstr(line, "(1048576 bytes)") != NULL;
	free(line);
	free(image);
	free(text);
	free(argv);
	assert_true(ok);
}

static void
test_cmd_kind_names(void **state)
{
	(void)state;
	for (int k = PT_CMD_CONSOLE_ADD; k <= PT_CMD_BLOCK_SET; k++) {
		const char *name = pt_cmd_kind_name((pt_cmd_kind)k);
		assert_non_null(name);
		assert_string_not_equal(name, "unknown command");
		for (int j = PT_CMD_CONSOLE_ADD; j < k; j++)
			assert_string_not_equal(name,
			    pt_cmd_kind_name((pt_cmd_kind)j));
	}
	assert_string_equal(pt_cmd_kind_name((pt_cmd_kind)999),
	    "unknown command");
	assert_string_equal(pt_cmd_kind_name(PT_CMD_UK_FORCE_CREATE),
	    "unikernel force-create");
}

/* ---- test list: two tests per vector, one per rejection ---- */

int
main(void)
{
	size_t nvec = sizeof(vectors) / sizeof(vectors[0]);
	size_t nrej = sizeof(rejections) / sizeof(rejections[0]);
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_extension_9_2),
		cmocka_unit_test(test_extension_13_3b),
		cmocka_unit_test(test_long_form_127_quirk),
		cmocka_unit_test(test_frame_prefixes),
		cmocka_unit_test(test_print_vectors),
		cmocka_unit_test(test_print_escapes),
		cmocka_unit_test(test_print_bounded),
		cmocka_unit_test(test_cmd_kind_names),
	};
	size_t nfixed = sizeof(fixed) / sizeof(fixed[0]);
	size_t total = 2 * nvec + nrej + nfixed;
	struct CMUnitTest *tests = calloc(total, sizeof(*tests));
	char **names = calloc(2 * nvec + nrej, sizeof(*names));
	if (tests == NULL || names == NULL)
		return 1;
	size_t t = 0, nn = 0;
	for (size_t i = 0; i < nvec; i++) {
		const char *dir[2] = {"decode", "encode"};
		for (int d = 0; d < 2; d++) {
			if (asprintf(&names[nn], "%s %s", dir[d],
			    vectors[i].id) < 0)
				return 1;
			tests[t++] = (struct CMUnitTest){.name = names[nn++],
			    .test_func = d == 0 ? test_decode : test_encode,
			    .initial_state = (void *)&vectors[i]};
		}
	}
	for (size_t i = 0; i < nrej; i++) {
		if (asprintf(&names[nn], "reject %s", rejections[i].id) < 0)
			return 1;
		tests[t++] = (struct CMUnitTest){.name = names[nn++],
		    .test_func = test_reject,
		    .initial_state = (void *)&rejections[i]};
	}
	for (size_t i = 0; i < nfixed; i++)
		tests[t++] = fixed[i];
	int rc = _cmocka_run_group_tests("wire_golden", tests, total, NULL,
	    NULL);
	for (size_t i = 0; i < nn; i++)
		free(names[i]);
	free(names);
	free(tests);
	return rc;
}
