#!/usr/bin/env python3
"""Makes Solo5-shaped test images (solo5.md §2-§4).

The result is a real ELF64 little-endian x86_64 ET_EXEC file laid out the
way the Solo5 toolchain lays one out: a PT_INTERP of /nonexistent/solo5/,
the OpenBSD identification note, the ABI1 note and the MFT1 manifest note,
each in its own PT_NOTE segment, and one PT_LOAD. The notes also sit in
sections named .note.solo5.* so that both lookup methods (program headers
as the tenders do, section names as albatross does) find them.

There is no code in the image: the stand-in tender (tests/tender) never
runs it; it takes the unikernel's behaviour from the unikernel arguments.

    mkimage.py OUT --target hvt|spt [--abi 2] [--net NAME]... \
        [--block NAME]... [--no-abi] [--no-manifest] [--corrupt-manifest]

From Python: make_image(target="hvt", abi=2, nets=(), blocks=(), ...)
returns the bytes.
"""

import argparse
import struct
import sys

TARGETS = {"hvt": 1, "spt": 2, "virtio": 3, "muen": 4, "genode": 5, "xen": 6}

ET_EXEC = 2
EM_X86_64 = 62
PT_LOAD, PT_NOTE, PT_INTERP = 1, 4, 3
PF_X, PF_R = 1, 4
SHT_PROGBITS, SHT_NOTE, SHT_STRTAB = 1, 7, 3
SHF_ALLOC, SHF_EXECINSTR = 2, 4

NOTE_ABI = 0x31494241  # "ABI1"
NOTE_MFT = 0x3154464D  # "MFT1"
MFT_BLOCK_BASIC, MFT_NET_BASIC, MFT_RESERVED_FIRST = 1, 2, 0x40000000

LOAD_VADDR = 0x100000  # Solo5 loads guests at 1 MiB
PAGE = 0x1000
INTERP = b"/nonexistent/solo5/\0"


def _align(n, a):
    return (n + a - 1) // a * a


def _note(name, ntype, desc):
    """An ELF note; desc already includes any internal padding."""
    namesz = len(name)
    hdr = struct.pack("<III", namesz, len(desc), ntype)
    return hdr + name.ljust(_align(namesz, 4), b"\0") + desc


def abi_note(target, abi):
    payload = struct.pack("<IIII", TARGETS[target], abi, 0, 0)
    return _note(b"Solo5\0", NOTE_ABI, payload)


def manifest_entry(name, mtype):
    raw = name.encode() if isinstance(name, str) else name
    if len(raw) > 67:
        raise ValueError("device name longer than 67 bytes")
    # name[68], type, u[16], b[8], attached, 7 bytes of padding
    return raw.ljust(68, b"\0") + struct.pack("<I", mtype) + bytes(32)


def manifest_note(devices, corrupt=False):
    """devices: [(name, MFT_NET_BASIC | MFT_BLOCK_BASIC)] in order."""
    entries = [manifest_entry(b"", MFT_RESERVED_FIRST)]
    entries += [manifest_entry(n, t) for n, t in devices]
    # corrupt: a manifest version no tender knows (invalid per §4.3)
    version = 99 if corrupt else 1
    payload = struct.pack("<II", version, len(entries)) + b"".join(entries)
    # MFT1 payloads are 8-aligned: 4 zero bytes after the 20-byte header
    return _note(b"Solo5\0", NOTE_MFT, bytes(4) + payload)


def openbsd_note():
    return _note(b"OpenBSD\0", 1, bytes(4))


def make_image(target="hvt", abi=2, nets=(), blocks=(), with_abi=True,
               with_manifest=True, corrupt_manifest=False, devices=None):
    """Returns the image bytes. `devices` ([(name, type)]) overrides the
    declaration order (nets first, then blocks)."""
    if devices is None:
        devices = [(n, MFT_NET_BASIC) for n in nets]
        devices += [(n, MFT_BLOCK_BASIC) for n in blocks]
    # (section name, contents, alignment, program header type or None)
    parts = [(".interp", INTERP, 1, PT_INTERP),
             (".note.solo5.not_openbsd", openbsd_note(), 4, PT_NOTE)]
    if with_abi:
        parts.append((".note.solo5.abi", abi_note(target, abi), 4, PT_NOTE))
    if with_manifest:
        parts.append((".note.solo5.manifest",
                      manifest_note(devices, corrupt_manifest), 8, PT_NOTE))
    text = b"\xf4" * 16  # hlt: never executed

    nph = len(parts) + 1
    off = 64 + 56 * nph
    placed = []
    for name, data, align, ptype in parts:
        off = _align(off, align)
        placed.append((name, data, align, ptype, off))
        off += len(data)
    text_off = _align(off, PAGE)
    off = text_off + len(text)

    shnames = [""] + [p[0] for p in parts] + [".text", ".shstrtab"]
    shstrtab = b""
    name_off = {}
    for n in shnames:
        name_off[n] = len(shstrtab)
        shstrtab += n.encode() + b"\0"
    shstr_off = off
    off += len(shstrtab)
    shoff = _align(off, 8)
    shnum = len(shnames)

    ehdr = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    ehdr += struct.pack("<HHIQQQIHHHHHH", ET_EXEC, EM_X86_64, 1,
                        LOAD_VADDR, 64, shoff, 0, 64, 56, nph, 64, shnum,
                        shnum - 1)
    phdrs = b""
    for _name, data, align, ptype, poff in placed:
        phdrs += struct.pack("<IIQQQQQQ", ptype, PF_R, poff, 0, 0,
                             len(data), len(data), align)
    phdrs += struct.pack("<IIQQQQQQ", PT_LOAD, PF_R | PF_X, text_off,
                         LOAD_VADDR, LOAD_VADDR, len(text), len(text), PAGE)

    img = bytearray(shoff + 64 * shnum)
    img[0:64] = ehdr
    img[64:64 + len(phdrs)] = phdrs
    for _name, data, _al, _pt, poff in placed:
        img[poff:poff + len(data)] = data
    img[text_off:text_off + len(text)] = text
    img[shstr_off:shstr_off + len(shstrtab)] = shstrtab

    def shdr(name, stype, flags, addr, soff, size, align):
        return struct.pack("<IIQQQQIIQQ", name_off[name], stype, flags, addr,
                           soff, size, 0, 0, align, 0)

    shdrs = [bytes(64)]
    for name, data, align, ptype, poff in placed:
        stype = SHT_NOTE if ptype == PT_NOTE else SHT_PROGBITS
        shdrs.append(shdr(name, stype, SHF_ALLOC, 0, poff, len(data), align))
    shdrs.append(shdr(".text", SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR,
                      LOAD_VADDR, text_off, len(text), 16))
    shdrs.append(shdr(".shstrtab", SHT_STRTAB, 0, 0, shstr_off,
                      len(shstrtab), 1))
    img[shoff:] = b"".join(shdrs)
    return bytes(img)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Make a Solo5 test image.")
    ap.add_argument("out")
    ap.add_argument("--target", choices=sorted(TARGETS), default="hvt")
    ap.add_argument("--abi", type=int, default=2)
    ap.add_argument("--net", action="append", default=[], metavar="NAME")
    ap.add_argument("--block", action="append", default=[], metavar="NAME")
    ap.add_argument("--no-abi", action="store_true")
    ap.add_argument("--no-manifest", action="store_true")
    ap.add_argument("--corrupt-manifest", action="store_true")
    a = ap.parse_args(argv)
    img = make_image(target=a.target, abi=a.abi, nets=a.net, blocks=a.block,
                     with_abi=not a.no_abi, with_manifest=not a.no_manifest,
                     corrupt_manifest=a.corrupt_manifest)
    with open(a.out, "wb") as f:
        f.write(img)
    return 0


if __name__ == "__main__":
    sys.exit(main())
