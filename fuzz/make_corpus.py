#!/usr/bin/env python3
"""Writes the fuzzers' seed corpora (fuzz/corpus/<target>/) from hex.

The vectors are those of albatross-wire.md section 13 (plus the legacy and
stats variants the unit tests derive, see tests/unit/test_wire_golden.c),
kept here as hex so that the binary seed files can be reviewed and
regenerated: run `python3 fuzz/make_corpus.py` from anywhere; it rewrites
the corpus directories next to this script.

  wire     every message vector (frame bodies)
  certext  the 13.3 extension contents, and every command vector's
           WireCommand wrapped as an extension
  state    the 13.15 state files, the 13.4 entry as a v3 and a v5 file
  frame    byte streams: one selector byte (maximum frame size), one
           chunking seed byte, then length-prefixed frames of the message
           vectors with end markers, the 13.14 upload stream, a forged
           length and a negative length
  solo5    Solo5 images made by tests/tools/mkimage.py: both targets,
           with and without devices, without notes, a corrupt and a
           duplicate manifest, notes found through sections only

The wire corpus also gets event-log messages (docs/eventlog.md): the log
subscribe command and Data [2] log entries of several event kinds, built
here from the DER of the grammar, so that fuzz_wire reaches the event-log
decoder.
"""
import os
import shutil
import struct
import sys

WIRE = {
    "v13_1": """
30 20 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 04 3A 66 6F 6F A0
09 A0 07 A2 05 A1 03 02 01 14""",
    "v13_2": """
30 24 30 17 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 08 3A 66 6F 6F 2E
62 61 72 A0 09 A0 07 A2 05 A1 03 02 01 14""",
    "v13_5": """
30 3B 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 04 66 6F 6F 3A A0
24 A4 22 A1 20 30 1E 30 06 02 01 00 02 01 01 02 01 02 02 02 02 00 02 02
04 00 30 09 0C 07 73 65 72 76 69 63 65""",
    "v13_6": """
30 1F 30 15 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 06 3A 68 65 6C 6C
6F A0 06 A3 04 A3 02 05 00""",
    "v13_7a": """
30 1E 30 16 02 01 05 04 08 00 00 00 00 00 00 00 07 0C 07 66 6F 6F 3A 62
61 72 A1 04 A0 02 05 00""",
    "v13_7b": """
30 30 30 15 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 06 3A 68 65 6C 6C
6F A1 17 A1 15 0C 13 64 65 73 74 72 6F 79 65 64 20 75 6E 69 6B 65 72 6E
65 6C""",
    "v13_7c": """
30 1B 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 04 66 6F 6F 3A A1
04 AD 02 30 00""",
    "v13_7d": """
30 40 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 04 66 6F 6F 3A A1
29 A2 27 30 25 30 23 0C 01 3A 30 1E 30 06 02 01 00 02 01 01 02 01 02 02
02 02 00 02 02 04 00 30 09 0C 07 73 65 72 76 69 63 65""",
    "v13_7e": """
30 2A 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 04 66 6F 6F 3A A1
13 A4 11 30 0F 30 0D 0C 05 3A 64 69 73 6B 02 01 64 01 01 00""",
    "v13_7f": """
30 24 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 04 66 6F 6F 3A A1
0D AC 0B 30 09 0C 02 3A 61 0C 03 62 3A 63""",
    "v13_8": """
30 2D 30 15 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 06 3A 68 65 6C 6C
6F A2 14 0C 12 64 65 73 74 72 6F 79 3A 20 6E 6F 74 20 66 6F 75 6E 64""",
    "v13_9_info": """
30 1D 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 04 66 6F 6F 3A A0
06 A3 04 B3 02 05 00""",
    "v13_9_get": """
30 20 30 15 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 06 3A 68 65 6C 6C
6F A0 07 A3 05 AB 03 02 01 09""",
    "v13_9_restart": """
30 21 30 15 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 06 3A 68 65 6C 6C
6F A0 08 A3 06 AE 04 A0 02 05 00""",
    "v13_9_policy_info": """
30 1A 30 10 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 01 3A A0 06 A4 04
A0 02 05 00""",
    "v13_9_policy_remove": """
30 1D 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 04 66 6F 6F 3A A0
06 A4 04 A2 02 05 00""",
    "v13_9_block_add": """
30 22 30 17 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 08 66 6F 6F 3A 64
69 73 6B A0 07 A5 05 A1 03 02 01 64""",
    "v13_9_block_set": """
30 22 30 17 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 08 66 6F 6F 3A 64
69 73 6B A0 07 A5 05 A7 03 01 01 00""",
    "v13_9_block_dump": """
30 22 30 17 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 08 66 6F 6F 3A 64
69 73 6B A0 07 A5 05 A6 03 02 01 00""",
    "v13_9_block_info": """
30 1A 30 10 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 01 3A A0 06 A5 04
A0 02 05 00""",
    "v13_9_list_inactive": """
30 1D 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 04 66 6F 6F 3A A0
06 A0 04 A3 02 05 00""",
    "v13_9_console_add": """
30 21 30 16 02 01 05 04 08 00 00 00 00 00 00 00 07 0C 07 66 6F 6F 3A 62
61 72 A0 07 A0 05 A0 03 02 01 05""",
    "v13_9_subscribe_since": """
30 2D 30 12 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 03 61 3A 62 A0 17
A0 15 A2 13 A0 11 18 0F 32 30 32 34 30 31 30 32 30 33 30 34 30 35 5A""",
    "v13_9_stats_subscribe": """
30 1D 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 04 66 6F 6F 3A A0
06 A1 04 A2 02 05 00""",
    "v13_9_stats_initial": """
30 1A 30 10 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 01 3A A0 06 A1 04
A3 02 05 00""",
    "v13_9_stats_remove": """
30 22 30 18 02 01 05 04 08 00 00 00 00 00 00 00 02 0C 09 66 6F 6F 3A 68
65 6C 6C 6F A0 06 A1 04 A1 02 05 00""",
    "v13_9_image": """
30 25 30 15 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 06 3A 68 65 6C 6C
6F A1 0C A6 0A 30 08 01 01 00 04 03 45 4C 46""",
    "v13_9_stats_add": """
30 48 30 18 02 01 05 04 08 00 00 00 00 00 00 00 01 0C 09 66 6F 6F 3A 68
65 6C 6C 6F A0 2C A1 2A A0 28 30 26 0C 0A 73 6F 6C 6F 35 2D 31 32 33 34
02 02 04 D2 30 14 30 12 0C 07 73 65 72 76 69 63 65 0C 07 76 6D 6D 74 61
70 30""",
    "v13_10": """
30 5F 30 15 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 06 3A 68 65 6C 6C
6F A0 46 A3 44 B4 42 30 40 A0 02 05 00 01 01 00 04 03 41 42 43 01 01 FF
A0 02 05 00 31 03 02 01 00 02 01 20 A1 0D 31 0B 30 09 0C 07 73 65 72 76
69 63 65 A2 0F 30 0D 0C 02 2D 6C 0C 07 2A 3A 64 65 62 75 67 A3 03 02 01
01""",
    "v13_11": """
30 81 94 30 14 02 01 05 04 08 00 00 00 00 00 00 00 03 0C 05 61 3A 77 65
62 A0 7C A3 7A B5 78 30 76 A0 02 05 00 01 01 00 04 00 02 01 0A 01 01 00
A1 08 31 06 02 01 00 02 01 02 31 06 02 01 00 02 01 01 02 02 01 00 A0 20
31 1E 30 06 0C 04 64 61 74 61 30 14 0C 07 73 74 6F 72 61 67 65 0C 05 64
69 73 6B 31 02 02 10 00 A1 28 31 26 30 0C 0C 0A 6D 61 6E 61 67 65 6D 65
6E 74 30 16 0C 07 73 65 72 76 69 63 65 0C 03 62 72 30 04 06 00 80 41 AA
BB CC A3 03 02 01 01""",
    "v13_12": """
30 35 30 15 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 06 3A 68 65 6C 6C
6F A0 1C A3 1A AE 18 A3 16 30 14 A1 02 31 00 01 01 FF 31 03 02 01 00 02
01 40 A3 03 02 01 01""",
    "v13_13": """
30 81 B6 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 04 66 6F 6F 3A
A1 81 9E AD 81 9B 30 81 98 30 81 95 0C 06 3A 68 65 6C 6C 6F 30 81 8A A0
02 05 00 A0 02 05 00 31 03 02 01 00 02 01 20 04 20 AA AA AA AA AA AA AA
AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA
AA A0 1A 31 18 30 16 0C 07 73 74 6F 72 61 67 65 0C 04 64 69 73 6B 02 02
02 00 02 01 64 A1 1A 31 18 30 16 0C 07 73 65 72 76 69 63 65 0C 03 62 72
30 04 06 00 80 41 01 02 03 A2 06 30 04 0C 02 2D 6C A3 11 18 0F 32 30 32
34 30 31 30 32 30 33 30 34 30 35 5A A4 03 02 01 01""",
    "v13_14a": """
30 35 30 18 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 09 66 6F 6F 3A 68
65 6C 6C 6F A3 19 A3 17 30 15 18 0F 32 30 32 34 30 31 30 32 30 33 30 34
30 35 5A 0C 02 68 69""",
    "v13_14b": """
30 39 30 18 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 09 66 6F 6F 3A 68
65 6C 6C 6F A3 1D A3 1B 30 19 18 13 32 30 32 34 30 31 30 32 30 33 30 34
30 35 2E 32 35 30 5A 0C 02 68 69""",
    "v13_14c_image": """
30 20 30 17 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 08 66 6F 6F 3A 64
69 73 6B A1 05 AA 03 01 01 FF""",
    "v13_14c_chunk": """
30 23 30 17 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 08 66 6F 6F 3A 64
69 73 6B A3 08 A4 06 A0 04 04 02 00 01""",
    "v13_14c_end": """
30 21 30 17 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 08 66 6F 6F 3A 64
69 73 6B A3 06 A4 04 A1 02 05 00""",
    "v13_14d": """
30 81 CF 30 15 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 06 3A 68 65 6C
6C 6F A3 81 B5 A1 81 B2 30 81 AF 30 81 AA 30 0D 04 08 00 00 00 00 00 00
00 01 02 01 02 30 0D 04 08 00 00 00 00 00 00 00 03 02 01 04 04 08 00 00
00 00 00 00 00 05 04 08 00 00 00 00 00 00 00 00 04 08 00 00 00 00 00 00
00 00 04 08 00 00 00 00 00 00 00 00 04 08 00 00 00 00 00 00 00 00 04 08
00 00 00 00 00 00 00 00 04 08 00 00 00 00 00 00 00 00 04 08 00 00 00 00
00 00 00 00 04 08 00 00 00 00 00 00 00 00 04 08 00 00 00 00 00 00 00 00
04 08 00 00 00 00 00 00 00 00 04 08 00 00 00 00 00 00 00 00 04 08 00 00
00 00 00 00 00 00 04 08 00 00 00 00 00 00 00 00 30 00""",
    "v13_14d_vmm": """
30 81 E2 30 15 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 06 3A 68 65 6C
6C 6F A3 81 C8 A1 81 C5 30 81 C2 30 81 AA 30 0D 04 08 00 00 00 00 00 00
00 01 02 01 02 30 0D 04 08 00 00 00 00 00 00 00 03 02 01 04 04 08 00 00
00 00 00 00 00 05 04 08 00 00 00 00 00 00 00 00 04 08 00 00 00 00 00 00
00 00 04 08 00 00 00 00 00 00 00 00 04 08 00 00 00 00 00 00 00 00 04 08
00 00 00 00 00 00 00 00 04 08 00 00 00 00 00 00 00 00 04 08 00 00 00 00
00 00 00 00 04 08 00 00 00 00 00 00 00 00 04 08 00 00 00 00 00 00 00 00
04 08 00 00 00 00 00 00 00 00 04 08 00 00 00 00 00 00 00 00 04 08 00 00
00 00 00 00 00 00 04 08 00 00 00 00 00 00 00 00 30 00 A0 11 30 0F 30 0D
0C 01 61 04 08 00 00 00 00 00 00 00 01""",
    "v13_14d_empty_vmm": """
30 81 D3 30 15 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 06 3A 68 65 6C
6C 6F A3 81 B9 A1 81 B6 30 81 B3 30 81 AA 30 0D 04 08 00 00 00 00 00 00
00 01 02 01 02 30 0D 04 08 00 00 00 00 00 00 00 03 02 01 04 04 08 00 00
00 00 00 00 00 05 04 08 00 00 00 00 00 00 00 00 04 08 00 00 00 00 00 00
00 00 04 08 00 00 00 00 00 00 00 00 04 08 00 00 00 00 00 00 00 00 04 08
00 00 00 00 00 00 00 00 04 08 00 00 00 00 00 00 00 00 04 08 00 00 00 00
00 00 00 00 04 08 00 00 00 00 00 00 00 00 04 08 00 00 00 00 00 00 00 00
04 08 00 00 00 00 00 00 00 00 04 08 00 00 00 00 00 00 00 00 04 08 00 00
00 00 00 00 00 00 04 08 00 00 00 00 00 00 00 00 30 00 A0 02 30 00""",
    "v13_14d_kinfo": """
30 82 01 21 30 15 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 06 3A 68 65
6C 6C 6F A3 82 01 06 A1 82 01 02 30 81 FF 30 81 AA 30 0D 04 08 00 00 00
00 00 00 00 01 02 01 02 30 0D 04 08 00 00 00 00 00 00 00 03 02 01 04 04
08 00 00 00 00 00 00 00 05 04 08 00 00 00 00 00 00 00 00 04 08 00 00 00
00 00 00 00 00 04 08 00 00 00 00 00 00 00 00 04 08 00 00 00 00 00 00 00
00 04 08 00 00 00 00 00 00 00 00 04 08 00 00 00 00 00 00 00 00 04 08 00
00 00 00 00 00 00 00 04 08 00 00 00 00 00 00 00 00 04 08 00 00 00 00 00
00 00 00 04 08 00 00 00 00 00 00 00 00 04 08 00 00 00 00 00 00 00 00 04
08 00 00 00 00 00 00 00 00 04 08 00 00 00 00 00 00 00 00 30 00 A1 4E 04
08 00 00 00 00 00 00 00 01 04 08 00 00 00 00 00 00 00 02 04 08 00 00 00
00 00 00 00 03 04 08 00 00 00 00 00 00 00 04 04 08 00 00 00 00 00 00 00
05 04 08 00 00 00 00 00 00 00 06 02 01 07 30 0D 04 08 00 00 00 00 00 00
00 08 02 01 09""",
    "v13_14d_vmm_kinfo": """
30 82 01 35 30 15 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 06 3A 68 65
6C 6C 6F A3 82 01 1A A1 82 01 16 30 82 01 12 30 81 AA 30 0D 04 08 00 00
00 00 00 00 00 01 02 01 02 30 0D 04 08 00 00 00 00 00 00 00 03 02 01 04
04 08 00 00 00 00 00 00 00 05 04 08 00 00 00 00 00 00 00 00 04 08 00 00
00 00 00 00 00 00 04 08 00 00 00 00 00 00 00 00 04 08 00 00 00 00 00 00
00 00 04 08 00 00 00 00 00 00 00 00 04 08 00 00 00 00 00 00 00 00 04 08
00 00 00 00 00 00 00 00 04 08 00 00 00 00 00 00 00 00 04 08 00 00 00 00
00 00 00 00 04 08 00 00 00 00 00 00 00 00 04 08 00 00 00 00 00 00 00 00
04 08 00 00 00 00 00 00 00 00 04 08 00 00 00 00 00 00 00 00 30 00 A0 11
30 0F 30 0D 0C 01 61 04 08 00 00 00 00 00 00 00 01 A1 4E 04 08 00 00 00
00 00 00 00 01 04 08 00 00 00 00 00 00 00 02 04 08 00 00 00 00 00 00 00
03 04 08 00 00 00 00 00 00 00 04 04 08 00 00 00 00 00 00 00 05 04 08 00
00 00 00 00 00 00 06 02 01 07 30 0D 04 08 00 00 00 00 00 00 00 08 02 01
09""",
    "v13_14d_full": """
30 82 02 76 30 15 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 06 3A 68 65
6C 6C 6F A3 82 02 5B A1 82 02 57 30 82 02 53 30 81 AA 30 0D 04 08 00 00
00 00 00 00 00 01 02 01 02 30 0D 04 08 00 00 00 00 00 00 00 03 02 01 04
04 08 00 00 00 00 00 00 00 05 04 08 00 00 00 00 00 00 00 06 04 08 00 00
00 00 00 00 00 07 04 08 00 00 00 00 00 00 00 08 04 08 00 00 00 00 00 00
00 09 04 08 00 00 00 00 00 00 00 0A 04 08 00 00 00 00 00 00 00 0B 04 08
00 00 00 00 00 00 00 0C 04 08 00 00 00 00 00 00 00 0D 04 08 00 00 00 00
00 00 00 0E 04 08 00 00 00 00 00 00 00 0F 04 08 00 00 00 00 00 00 00 10
04 08 00 00 00 00 00 00 00 11 04 08 00 00 00 00 00 00 00 12 30 82 01 2D
30 81 93 0C 07 73 65 72 76 69 63 65 02 03 00 88 43 02 01 01 02 01 02 02
01 03 02 02 05 DC 04 08 00 00 00 00 00 00 00 0A 04 08 00 00 00 00 00 00
00 0B 04 08 00 00 00 00 00 00 00 0C 04 08 00 00 00 00 00 00 00 0D 04 08
00 00 00 00 00 00 00 0E 04 08 00 00 00 00 00 00 00 0F 04 08 00 00 00 00
00 00 00 10 04 08 00 00 00 00 00 00 00 11 04 08 00 00 00 00 00 00 00 12
04 08 00 00 00 00 00 00 00 13 04 08 00 00 00 00 00 00 00 14 04 08 00 00
00 00 00 00 00 15 30 81 94 0C 04 6D 67 6D 74 02 01 FF 02 04 7F FF FF FF
02 04 80 00 00 00 02 01 00 02 02 23 28 04 08 FF FF FF FF FF FF FF FF 04
08 FF FF FF FF FF FF FF FE 04 08 FF FF FF FF FF FF FF FD 04 08 FF FF FF
FF FF FF FF FC 04 08 FF FF FF FF FF FF FF FB 04 08 FF FF FF FF FF FF FF
FA 04 08 FF FF FF FF FF FF FF F9 04 08 FF FF FF FF FF FF FF F8 04 08 FF
FF FF FF FF FF FF F7 04 08 FF FF FF FF FF FF FF F6 04 08 FF FF FF FF FF
FF FF F5 04 08 FF FF FF FF FF FF FF F4 A0 20 30 1E 30 0D 0C 01 62 04 08
00 00 00 00 00 00 00 01 30 0D 0C 01 61 04 08 FF FF FF FF FF FF FF FE A1
51 04 08 00 00 01 00 00 00 00 00 04 08 00 00 00 00 00 00 00 02 04 08 00
00 00 00 00 00 00 03 04 08 00 00 00 00 00 00 00 04 04 08 00 00 00 00 00
00 00 05 04 08 00 00 00 00 00 00 00 06 02 02 01 2C 30 0F 04 08 00 00 00
00 65 53 F1 00 02 03 0F 42 3F""",
    "v13_16_upper": """
30 20 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 04 3A 46 4F 4F A0
09 A0 07 A2 05 A1 03 02 01 14""",
    "v13_16_bool_01": """
30 22 30 17 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 08 66 6F 6F 3A 64
69 73 6B A0 07 A5 05 A7 03 01 01 01""",
    "v13_16_bool_ff": """
30 22 30 17 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 08 66 6F 6F 3A 64
69 73 6B A0 07 A5 05 A7 03 01 01 FF""",
    "l_create_v3": """
30 5B 30 15 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 06 3A 68 65 6C 6C
6F A0 42 A3 40 A9 3E 30 3C A0 02 05 00 01 01 00 04 00 A0 02 05 00 02 01
02 02 01 0A A1 27 31 25 30 23 0C 07 73 65 72 76 69 63 65 0C 10 62 72 69
64 67 65 2D 69 6E 74 65 72 66 61 63 65 04 06 00 DE AD BE EF 00""",
    "l_create_v3_as_v5": """
30 65 30 15 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 06 3A 68 65 6C 6C
6F A0 4C A3 4A B4 48 30 46 A0 02 05 00 01 01 00 04 00 01 01 FF A0 02 05
00 31 03 02 01 02 02 01 0A A1 27 31 25 30 23 0C 07 73 65 72 76 69 63 65
0C 10 62 72 69 64 67 65 2D 69 6E 74 65 72 66 61 63 65 04 06 00 DE AD BE
EF 00 A3 03 02 01 01""",
    "l_force_v4": """
30 4A 30 12 02 01 05 04 08 00 00 00 00 00 00 00 01 0C 03 61 3A 62 A0 34
A3 32 B1 30 30 2E A0 02 05 00 01 01 FF 04 02 78 9C 02 01 07 01 01 00 A1
05 31 03 02 01 03 02 01 01 02 01 40 A0 0A 31 08 30 06 0C 04 64 69 73 6B
A2 02 30 00""",
    "l_force_v4_as_v5": """
30 51 30 12 02 01 05 04 08 00 00 00 00 00 00 00 01 0C 03 61 3A 62 A0 3B
A3 39 B5 37 30 35 A0 02 05 00 01 01 FF 04 02 78 9C 02 01 07 01 01 00 A1
05 31 03 02 01 03 31 03 02 01 01 02 01 40 A0 0A 31 08 30 06 0C 04 64 69
73 6B A2 02 30 00 A3 03 02 01 01""",
    "l_restart_v0": """
30 2B 30 15 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 06 3A 68 65 6C 6C
6F A0 12 A3 10 AE 0E A1 0C 30 0A A0 02 05 00 02 01 03 02 01 10""",
    "l_restart_v0_as_v3": """
30 35 30 15 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 06 3A 68 65 6C 6C
6F A0 1C A3 1A AE 18 A3 16 30 14 A0 02 05 00 01 01 FF 31 03 02 01 03 02
01 10 A3 03 02 01 01""",
    "l_restart_v1": """
30 38 30 15 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 06 3A 68 65 6C 6C
6F A0 1F A3 1D AE 1B A2 19 30 17 A1 02 31 00 02 01 05 01 01 FF 02 01 00
02 01 20 A2 05 30 03 0C 01 78""",
    "l_restart_v1_as_v3": """
30 3F 30 15 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 06 3A 68 65 6C 6C
6F A0 26 A3 24 AE 22 A3 20 30 1E A1 02 31 00 02 01 05 01 01 FF 31 03 02
01 00 02 01 20 A2 05 30 03 0C 01 78 A3 03 02 01 01""",
    "l_info5": """
30 6D 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 04 66 6F 6F 3A A1
56 AB 54 30 52 30 50 0C 06 3A 68 65 6C 6C 6F 30 46 A0 02 05 00 02 01 03
A0 02 05 00 02 01 00 02 01 20 04 20 AA AA AA AA AA AA AA AA AA AA AA AA
AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA A3 11 18 0F
32 30 32 34 30 31 30 32 30 33 30 34 30 35 5A""",
    "l_info4": """
30 6A 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 04 66 6F 6F 3A A1
53 A9 51 30 4F 30 4D 0C 06 3A 68 65 6C 6C 6F 30 43 A0 02 05 00 A0 02 05
00 02 01 00 02 01 20 04 20 AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA
AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA A3 11 18 0F 32 30 32
34 30 31 30 32 30 33 30 34 30 35 5A""",
    "d_setof_order": """
30 46 30 11 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 02 3A 78 A0 31 A3
2F B4 2D 30 2B A0 02 05 00 01 01 00 04 00 01 01 00 A1 0C 31 0A 02 01 01
02 01 FF 02 02 00 80 31 07 02 01 00 02 02 01 00 02 01 20 A3 03 02 01 01""",
    "d_policy_dups": """
30 3A 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 04 66 6F 6F 3A A0
23 A4 21 A1 1F 30 1D 30 09 02 01 01 02 01 00 02 01 01 02 01 01 02 02 02
00 30 09 0C 01 62 0C 01 61 0C 01 62""",
    "d_policy_dedup": """
30 34 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 04 66 6F 6F 3A A0
1D A4 1B A1 19 30 17 30 06 02 01 00 02 01 01 02 01 01 02 02 02 00 30 06
0C 01 61 0C 01 62""",
}

CERTEXT = {
    "v13_3a": """
30 0C 02 01 05 A0 07 A2 05 A1 03 02 01 14""",
    "v13_3b": """
30 17 02 01 05 A4 12 A1 10 30 0E 30 03 02 01 00 02 01 01 02 02 02 00 30
00""",
}

STATE = {
    "v13_15": """
A6 81 A3 30 81 A0 30 4F 30 4D 0C 09 66 6F 6F 3A 68 65 6C 6C 6F 30 40 A0
02 05 00 01 01 00 04 03 41 42 43 01 01 FF A0 02 05 00 31 03 02 01 00 02
01 20 A1 0D 31 0B 30 09 0C 07 73 65 72 76 69 63 65 A2 0F 30 0D 0C 02 2D
6C 0C 07 2A 3A 64 65 62 75 67 A3 03 02 01 01 30 4D 30 23 0C 01 3A 30 1E
30 06 02 01 00 02 01 01 02 01 02 02 02 02 00 02 02 04 00 30 09 0C 07 73
65 72 76 69 63 65 30 26 0C 04 66 6F 6F 3A 30 1E 30 06 02 01 00 02 01 01
02 01 02 02 02 02 00 02 02 04 00 30 09 0C 07 73 65 72 76 69 63 65""",
    "v13_15_empty": """
A6 06 30 04 30 00 30 00""",
    "v13_4_as_v3_file": """
A3 4D 30 4B 30 49 0C 09 62 61 72 3A 68 65 6C 6C 6F 30 3C A0 02 05 00 01
01 00 04 00 A0 02 05 00 02 01 02 02 01 0A A1 27 31 25 30 23 0C 07 73 65
72 76 69 63 65 0C 10 62 72 69 64 67 65 2D 69 6E 74 65 72 66 61 63 65 04
06 00 DE AD BE EF 00""",
    "v13_4_as_v5_file": """
A6 5B 30 59 30 55 30 53 0C 09 62 61 72 3A 68 65 6C 6C 6F 30 46 A0 02 05
00 01 01 00 04 00 01 01 FF A0 02 05 00 31 03 02 01 02 02 01 0A A1 27 31
25 30 23 0C 07 73 65 72 76 69 63 65 0C 10 62 72 69 64 67 65 2D 69 6E 74
65 72 66 61 63 65 04 06 00 DE AD BE EF 00 A3 03 02 01 01 30 00""",
}


def unhex(text):
    return bytes.fromhex("".join(text.split()))


def tlv_header(data, pos):
    """(tag, content offset, content length) of the DER value at pos."""
    tag, first = data[pos], data[pos + 1]
    if first < 0x80:
        return tag, pos + 2, first
    count = first & 0x7F
    length = int.from_bytes(data[pos + 2:pos + 2 + count], "big")
    return tag, pos + 2 + count, length


def der_length(n):
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def wire_command(message):
    """The WireCommand inside a command message, or None."""
    _, content, _ = tlv_header(message, 0)
    _, hdr_content, hdr_len = tlv_header(message, content)
    payload = hdr_content + hdr_len
    tag, cmd, cmd_len = tlv_header(message, payload)
    if tag != 0xA0:
        return None
    return message[cmd:cmd + cmd_len]


def as_certext(command):
    body = bytes([0x02, 0x01, 0x05]) + command
    return bytes([0x30]) + der_length(len(body)) + body


def frame(body):
    return len(body).to_bytes(4, "big") + body


END = bytes(4)


def frame_streams():
    bodies = [unhex(h) for h in WIRE.values()]
    streams = {
        # selector 5: the default 64 MiB maximum; seed varies chunking
        "all-vectors": bytes([5, 1]) + b"".join(frame(b) for b in bodies)
        + END,
        "one-message-then-end": bytes([5, 7]) + frame(bodies[0]) + END,
        "upload-13.14": bytes([5, 3]) + unhex("00 00 00 04 DE AD BE EF")
        + END,
        "after-end-more": bytes([3, 9]) + frame(bodies[1]) + END
        + frame(bodies[2]) + END,
        # selector 2: maximum 300 bytes, the 13.14 stats vector is refused
        "too-big": bytes([2, 5]) + frame(bodies[0])
        + frame(unhex(WIRE["v13_14d_full"])),
        "forged-length": bytes([5, 11]) + unhex("7F FF FF FF") + bodies[0],
        "negative-length": bytes([4, 2]) + unhex("FF FF FF FE")
        + frame(bodies[0]),
        "split-prefix": bytes([0, 200]) + frame(bodies[3])[:3],
    }
    return streams


# ---- event-log messages (docs/eventlog.md) ----

T = unhex("18 0F 32 30 32 34 30 31 30 32 30 33 30 34 30 35 5A")


def tlv(tag, body):
    return bytes([tag]) + der_length(len(body)) + body


def utf8(s):
    return tlv(0x0C, s.encode())


def integer(n):
    """A DER INTEGER (minimal two's complement)."""
    length = max(1, (n.bit_length() + 8) // 8)
    return tlv(0x02, n.to_bytes(length, "big", signed=True))


def message(name, payload):
    header = tlv(0x30, integer(5) + tlv(0x04, bytes(8)) + utf8(name))
    return tlv(0x30, header + payload)


def log_command(name, logcmd):
    """command [0] { WireCommand log [2] LogCmd }"""
    return message(name, tlv(0xA0, tlv(0xA2, logcmd)))


def log_data(name, event):
    """data [3] { Data log [2] LogEntry { T, event } }"""
    return message(name, tlv(0xA3, tlv(0xA2, tlv(0x30, T + event))))


# The Policy of vector 13.5 (unikernels 2, cpuids 0 1, memory 512, block
# 1024, bridge "service").
POLICY = unhex("""30 1E 30 06 02 01 00 02 01 01 02 01 02 02 02 02 00 02 02
04 00 30 09 0C 07 73 65 72 76 69 63 65""")


def eventlog_messages():
    web = utf8("a:web")
    digest = tlv(0x04, bytes(range(32)))
    return {
        # the vectors of docs/eventlog.md
        "log_subscribe_since_follow": log_command(
            ":", unhex("A0 16 30 14") + T + unhex("01 01 FF")),
        "log_subscribe_all": log_command("a:", unhex("A0 05 30 03 01 01 00")),
        "log_startup": log_data(":", unhex("A0 02 05 00")),
        "log_destroyed": log_data("a:", tlv(0xAA, web)),
        "log_exited_signal": log_data("a:", tlv(0xA4, tlv(
            0x30, web + integer(1234) + tlv(0xA1, integer(15))))),
        # one of each other shape
        "log_login": log_data(":", tlv(0xA1, tlv(
            0x30, utf8("ops:alice") + tlv(0x04, bytes([192, 0, 2, 1]))
            + integer(443)))),
        "log_logout_ipv6": log_data(":", tlv(0xA2, tlv(
            0x30, utf8("ops:alice") + tlv(0x04, bytes(15) + b"\x01")
            + integer(443)))),
        "log_started": log_data("a:", tlv(0xA3, tlv(
            0x30, web + integer(1234) + tlv(0x30, utf8("tap0"))
            + tlv(0x30, utf8("disk") + utf8("data")) + digest))),
        "log_exited_code": log_data("a:", tlv(0xA4, tlv(
            0x30, web + integer(1234) + tlv(0xA0, integer(2))))),
        "log_hup": log_data(":", unhex("A5 02 05 00")),
        "log_created": log_data("a:", tlv(0xA6, tlv(0x30, web + digest))),
        "log_restart_scheduled": log_data("a:", tlv(0xA8, tlv(
            0x30, web + integer(2000)))),
        "log_policy_added": log_data(":", tlv(0xAB, tlv(
            0x30, utf8("a:") + POLICY))),
        "log_block_created": log_data("a:", tlv(0xAE, tlv(
            0x30, utf8("a:disk") + integer(100)))),
        "log_refused": log_data("a:", tlv(0xB1, tlv(
            0x30, web + utf8("unikernel create")
            + utf8("no solo5-hvt tender for ABI version 2")))),
    }


# ---- Solo5 images (tests/tools/mkimage.py) ----

def hide_program_notes(img):
    """The image with its PT_NOTE program headers turned into PT_NULL, so
    that the notes are found only through the section names."""
    img = bytearray(img)
    phoff, = struct.unpack_from("<Q", img, 32)
    phentsize, phnum = struct.unpack_from("<HH", img, 54)
    for i in range(phnum):
        off = phoff + i * phentsize
        if struct.unpack_from("<I", img, off)[0] == 4:  # PT_NOTE
            struct.pack_into("<I", img, off, 0)
    return bytes(img)


def solo5_images(here):
    sys.path.insert(0, os.path.join(here, "..", "tests", "tools"))
    import mkimage as mk
    net, block = mk.MFT_NET_BASIC, mk.MFT_BLOCK_BASIC
    both = dict(nets=["service"], blocks=["storage"])
    return {
        "hvt_plain": mk.make_image("hvt"),
        # matches the fuzzer's fixed configuration
        "hvt_service_storage": mk.make_image("hvt", **both),
        "spt_devices": mk.make_image(
            "spt", nets=["service", "management"], blocks=["storage", "b1"]),
        "virtio_abi1": mk.make_image("virtio", abi=1, nets=["net0"]),
        "many_devices": mk.make_image(
            "hvt", nets=["n%d" % i for i in range(8)],
            blocks=["b%d" % i for i in range(8)]),
        "no_abi": mk.make_image("hvt", with_abi=False, **both),
        "no_manifest": mk.make_image("hvt", with_manifest=False),
        "corrupt_manifest": mk.make_image(
            "hvt", corrupt_manifest=True, **both),
        "duplicate_device": mk.make_image(
            "hvt", devices=[("service", net), ("service", net)]),
        "same_name_two_types": mk.make_image(
            "hvt", devices=[("data", net), ("data", block)]),
        "sections_only": hide_program_notes(mk.make_image("spt", **both)),
    }


def stats_seeds():
    """petrel-stats's parsers (fuzz_stats.c): byte 0 picks the parser (0
    stat, 1 status, 2 io, 3 KVM statistics), the rest is what the kernel
    would give."""
    import struct
    stat = (b"4242 (solo5) (hvt x) S 1 4242 4242 0 -1 4194560 1234 0 3 0 "
            b"250 75 0 0 20 0 2 0 987654 52428800 3000 18446744073709551615 "
            b"1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n")
    status = (b"Name:\tsolo5-hvt\nVmHWM:\t   12100 kB\nVmRSS:\t   12000 kB\n"
              b"VmData:\t    8192 kB\nVmStk:\t     132 kB\nVmExe:\t     400 kB\n"
              b"voluntary_ctxt_switches:\t77\nnonvoluntary_ctxt_switches:\t5\n")
    io = b"rchar: 6976\nwchar: 100\nread_bytes: 1048576\nwrite_bytes: 4096\n"
    names = [(b"exits", 0, 1), (b"halt_poll_fail_hist", 3, 3), (b"io_exits", 0, 1)]
    name_size = 48
    desc_off = 24 + name_size
    data_off = desc_off + len(names) * (16 + name_size)
    kvm = struct.pack("=6I", 0, name_size, len(names), 24, desc_off, data_off)
    kvm += b"kvm-4242/vm".ljust(name_size, b"\0")
    off = 0
    for n, flags, size in names:
        kvm += struct.pack("=IhHII", flags, 0, size, off, 0) + n.ljust(name_size, b"\0")
        off += 8 * size
    kvm += struct.pack("=5Q", 1000, 1, 2, 3, 42)
    return {"stat": b"\0" + stat, "status": b"\1" + status, "io": b"\2" + io,
            "kvm": b"\3" + kvm}
def chain_cert(cn, ext):
    """One certificate in fuzz_chain.c's framing (CN or ext may be None)."""
    flags = (1 if cn is not None else 0) | (2 if ext is not None else 0)
    cn = (cn or b"")[:255]
    ext = ext or b""
    return bytes([flags, len(cn)]) + cn + len(ext).to_bytes(2, "big") + ext


def chain_seeds(certexts):
    """fuzz_chain: the spec's two §9.3 examples, a deep chain, and every
    extension seed as a leaf under the 13.3 sub-CA."""
    leaf = unhex(CERTEXT["v13_3a"])
    arc = unhex(CERTEXT["v13_3b"])
    seeds = {
        "spec-arc": bytes([2]) + chain_cert(b"foo.bar", leaf) +
            chain_cert(b"arc", arc),
        "spec-root": bytes([2]) + chain_cert(b"foo", leaf) +
            chain_cert(b"test", None),
        "deep": bytes([5]) + chain_cert(b"web", leaf) +
            chain_cert(b"c", arc) + chain_cert(b"b", arc) +
            chain_cert(None, None) + chain_cert(b"a", arc),
        "too-long": bytes([10]) + chain_cert(b"x", leaf) +
            chain_cert(b"ca", None) * 9,
    }
    for name, ext in certexts.items():
        seeds["leaf-" + name] = bytes([2]) + chain_cert(b"x", ext) + \
            chain_cert(b"arc", arc)
    return seeds


def write(directory, name, data):
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.join(here, "corpus")
    targets = {
        "wire": {k: unhex(v) for k, v in WIRE.items()},
        "certext": {k: unhex(v) for k, v in CERTEXT.items()},
        "state": {k: unhex(v) for k, v in STATE.items()},
        "frame": frame_streams(),
    }
    for name, hexmsg in WIRE.items():
        command = wire_command(unhex(hexmsg))
        if command is not None:
            targets["certext"]["from-" + name] = as_certext(command)
    for name, msg in eventlog_messages().items():
        targets["wire"][name] = msg
        command = wire_command(msg)
        if command is not None:
            targets["certext"]["from-" + name] = as_certext(command)
    targets["solo5"] = solo5_images(here)
    targets["stats"] = stats_seeds()
    targets["chain"] = chain_seeds(targets["certext"])
    for target, files in targets.items():
        directory = os.path.join(root, target)
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory)
        for name, data in sorted(files.items()):
            write(directory, name.replace("_", "-"), data)
        print("%s: %d seeds" % (target, len(files)))


if __name__ == "__main__":
    main()
