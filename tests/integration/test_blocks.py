"""Block devices (issue 4; albatross-wire.md §8.2, §8.4, §8.5) against a real
petreld: every command through the real client and as raw AV5 frames, every
refusal, uploads that break half-way (the old content survives), compressed
transfers, a device attached to a running unikernel (the stand-in tender
really reads and writes the file), 1 GiB transfers with petreld's peak memory
bounded, the legacy commands, and the rescan of the block directory at start.

Needs root (the fixtures run petreld in a network namespace).
"""

import errno
import hashlib
import json
import os
import pty
import select
import signal
import socket
import stat
import subprocess
import zlib
from contextlib import contextmanager
from pathlib import Path

import pytest

import pthelpers as H
from conftest import PETREL_BIN
from pthelpers import der_bool, der_ctx, der_int, der_null, der_octets, der_seq

MiB = 1 << 20


# ---------------------------------------------------------------------------
# AV5 by hand: block commands (§6.1 BlockCmd) and the replies


def block_cmd(inner):
    """payload [0] command / [5] block / inner."""
    return der_ctx(0, der_ctx(5, inner))


def cmd_info():
    return block_cmd(der_ctx(0, der_null()))


def cmd_add(mb):
    return block_cmd(der_ctx(1, der_int(mb)))


def cmd_remove():
    return block_cmd(der_ctx(2, der_null()))


def cmd_add_old(mb, compressed=False, data=None):
    items = [der_int(mb), der_bool(compressed)]
    if data is not None:
        items.append(der_octets(data))
    return block_cmd(der_ctx(3, der_seq(*items)))


def cmd_set_old(data, compressed=False):
    return block_cmd(der_ctx(4, der_seq(der_bool(compressed), der_octets(data))))


def cmd_dump_old(level):
    return block_cmd(der_ctx(5, der_int(level)))


def cmd_dump(level):
    return block_cmd(der_ctx(6, der_int(level)))


def cmd_set(compressed):
    return block_cmd(der_ctx(7, der_bool(compressed)))


def tlv(b, off=0):
    """(tag, content, end) of the TLV at off."""
    tag, start, end = H.parse_tlv(b, off)
    assert end <= len(b), "TLV overruns its message"
    return tag, b[start:end], end


class Reply:
    """One message of petreld: kind 'success' (tag = the Success choice,
    value = its content), 'failure' (text), 'chunk' (bytes) or 'end'."""

    def __init__(self, body, header):
        tag, content, end = tlv(body)
        assert tag == 0x30 and end == len(body), body[:16].hex()
        assert content.startswith(header), "the request header is not echoed"
        ptag, payload, pend = tlv(content, len(header))
        assert pend == len(content), "trailing bytes in a reply"
        self.tag = self.value = self.text = None
        if ptag == 0xA1:
            self.kind = "success"
            self.tag, self.value, _ = tlv(payload)
            if self.tag == 0xA1:
                self.text = tlv(self.value)[1].decode()
        elif ptag == 0xA2:
            self.kind = "failure"
            t, text, _ = tlv(payload)
            assert t == 0x0C
            self.text = text.decode()
        elif ptag == 0xA3:
            dtag, block, _ = tlv(payload)
            assert dtag == 0xA4, "data that is no block data"
            ctag, inner, _ = tlv(block)
            if ctag == 0xA0:
                self.kind = "chunk"
                t, self.value, _ = tlv(inner)
                assert t == 0x04
            else:
                assert (ctag, inner) == (0xA1, der_null())
                self.kind = "end"
        else:
            raise AssertionError("payload tag %#x" % ptag)

    def __repr__(self):
        return "<%s %s %s>" % (self.kind, self.tag, self.text)


class Raw:
    """A client speaking frames directly (§2): what the real client does not
    do (legacy commands, uploads cut short, bytes the codec refuses)."""

    def __init__(self, pd, name, timeout=60):
        self.header = H.wire_header(name)
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.s.settimeout(timeout)
        self.s.connect(pd.sock)
        self.buf = bytearray()

    def command(self, payload):
        body = der_seq(self.header, payload)
        self.s.sendall(len(body).to_bytes(4, "big") + body)

    def chunk(self, data):
        self.s.sendall(len(data).to_bytes(4, "big") + bytes(data))

    def end(self):
        self.s.sendall(b"\0\0\0\0")

    def _fill(self, n):
        while len(self.buf) < n:
            got = self.s.recv(max(1 << 20, n - len(self.buf)))
            if not got:
                return False
            self.buf += got
        return True

    def frame(self):
        """The next frame body, or None when petreld closed the connection
        between frames."""
        if not self._fill(4):
            assert not self.buf, "connection closed inside a frame header"
            return None
        n = int.from_bytes(self.buf[:4], "big", signed=True)
        assert 0 < n < 1 << 26, "frame length %d" % n
        assert self._fill(4 + n), "connection closed inside a frame"
        body = bytes(self.buf[4:4 + n])
        del self.buf[:4 + n]
        return body

    def reply(self):
        body = self.frame()
        assert body is not None, "closed without a reply"
        return Reply(body, self.header)

    def replies(self):
        """Everything until petreld closes."""
        out = []
        while True:
            body = self.frame()
            if body is None:
                return out
            out.append(Reply(body, self.header))

    def close(self):
        self.s.close()


def raw(pd, name, payload):
    """One command; every message until petreld closes."""
    c = Raw(pd, name)
    try:
        c.command(payload)
        return c.replies()
    finally:
        c.close()


def raw_one(pd, name, payload):
    rs = raw(pd, name, payload)
    assert len(rs) == 1, rs
    return rs[0]


def raw_string(pd, name, payload):
    r = raw_one(pd, name, payload)
    assert r.kind == "success" and r.tag == 0xA1, r
    return r.text


def raw_failure(pd, name, payload):
    r = raw_one(pd, name, payload)
    assert r.kind == "failure", r
    return r.text


def raw_upload(pd, name, pieces, compressed=False, end=True):
    """block set, then the pieces as raw frames (and the terminator)."""
    c = Raw(pd, name)
    try:
        c.command(cmd_set(compressed))
        for p in pieces:
            c.chunk(p)
        if end:
            c.end()
        return c.replies()
    finally:
        c.close()


def raw_dump(pd, name, level=0):
    """(compressed flag, content, the messages after the data)."""
    c = Raw(pd, name)
    try:
        c.command(cmd_dump(level))
        first = c.reply()
        assert first.kind == "success" and first.tag == 0xAA, first
        flag = first.value == der_bool(True)
        assert flag or first.value == der_bool(False), first.value
        data = bytearray()
        while True:
            r = c.reply()
            if r.kind == "end":
                break
            assert r.kind == "chunk", r
            assert 0 < len(r.value) <= 4096 or flag, len(r.value)
            data += r.value
        return flag, bytes(data), c.replies()
    finally:
        c.close()


# ---------------------------------------------------------------------------
# Looking at petreld's block directory


def block_dir(pd):
    return Path(pd.dbdir) / "block"


def staging_dir(pd):
    return Path(pd.dbdir) / "block-staging"


def device(pd, name):
    return block_dir(pd) / name


def content(pd, name):
    return device(pd, name).read_bytes()


def blocks(pd, what=None):
    j = pd.jok("block", *([what] if what else []))
    assert j["kind"] == "block-devices", j
    return {b["name"]: (b["size"], b["active"]) for b in j["block_devices"]}


def no_staging_left(pd):
    return H.wait_for(lambda: list(staging_dir(pd).iterdir()) == [], 10,
                      what="the staging file to go")


def not_busy(pd, name):
    """A set or dump whose connection went away frees the device: a dump
    is possible again (polled: the close is asynchronous)."""
    def free():
        rs = raw(pd, name, cmd_dump_old(0))
        return rs and rs[0].kind == "success"
    H.wait_for(free, 10, what="%s to be free again" % name)


def pattern(n, seed=b"petrel"):
    """n pseudo-random but reproducible bytes."""
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:n])


def with_zeros(data, size_mb):
    return data + b"\0" * (size_mb * MiB - len(data))


# ---------------------------------------------------------------------------
# block add, info, remove


def test_create_info_destroy(petreld):
    pd = petreld
    assert pd.ok("create-block", "disk", "2").out == "added block device\n"
    assert pd.jok("create-block", "team:db:data", "3")["message"] == "added block device"
    pd.ok("create-block", "team:logs", "1")

    d = device(pd, ":disk")
    st = d.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    assert st.st_size == 2 * MiB
    assert stat.S_IMODE(block_dir(pd).stat().st_mode) == 0o700
    assert d.read_bytes() == b"\0" * (2 * MiB)
    assert device(pd, "team:db:data").stat().st_size == 3 * MiB

    assert blocks(pd) == {":disk": (2, False), "team:db:data": (3, False),
                          "team:logs": (1, False)}
    # A path: names relative to it (§4.3); a name: just that device.
    assert blocks(pd, "team:") == {"db:data": (3, False), ":logs": (1, False)}
    assert blocks(pd, "team:db:") == {":data": (3, False)}
    assert blocks(pd, "team:db:data") == {"team:db:data": (3, False)}
    assert blocks(pd, "nothing") == {}
    assert blocks(pd, "nothing:") == {}
    text = pd.ok("block", "disk").out
    assert text == "name: :disk\nsize: 2\nactive: false\n", text

    assert pd.ok("destroy-block", "disk").out == "removed block\n"
    assert not d.exists()
    assert pd.jok("destroy-block", "team:logs")["message"] == "removed block"
    assert blocks(pd) == {"team:db:data": (3, False)}
    assert sorted(os.listdir(block_dir(pd))) == ["team:db:data"]


def test_info_and_remove_as_raw_frames(petreld):
    pd = petreld
    assert raw_string(pd, "foo:disk", cmd_add(100)) == "added block device"
    r = raw_one(pd, ":", cmd_info())
    assert r.kind == "success" and r.tag == 0xA4
    # SEQUENCE OF SEQUENCE { name, size, active } (§6.6), relative to ':'.
    assert r.value == der_seq(der_seq(H.der_utf8("foo:disk"), der_int(100),
                                      der_bool(False)))
    assert raw_string(pd, "foo:disk", cmd_remove()) == "removed block"
    assert raw_one(pd, ":", cmd_info()).value == der_seq()


def unhex(text):
    return bytes.fromhex("".join(text.split()))


FOO_DISK = "30 17 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 08 66 6F 6F 3A 64 69 73 6B"
FOO = "30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 04 66 6F 6F 3A"


def exchange(pd, body, upload=()):
    """Sends one frame (and raw upload frames, then the terminator if
    any); returns every frame body until petreld closes."""
    c = Raw(pd, ":", timeout=60)
    try:
        c.s.sendall(len(body).to_bytes(4, "big") + body)
        if upload:
            for piece in upload:
                c.chunk(piece)
            c.end()
        out = []
        while (f := c.frame()) is not None:
            out.append(f)
        return out
    finally:
        c.close()


def test_spec_vectors_byte_for_byte(petreld):
    """What albatross-client sends (§13.9, §13.14c) gets exactly the bytes
    albatross answers (§8.2, §13.7e, §13.14c)."""
    pd = petreld
    add = unhex("30 22" + FOO_DISK + "A0 07 A5 05 A1 03 02 01 64")
    assert exchange(pd, add) == [string_reply(FOO_DISK, "added block device")]
    info = unhex("30 1D" + FOO + "A0 06 A5 04 A0 02 05 00")
    assert exchange(pd, info) == [unhex("""30 2A 30 13 02 01 05 04 08 00 00 00 00
        00 00 00 00 0C 04 66 6F 6F 3A A1 13 A4 11 30 0F 30 0D 0C 05 3A 64 69 73
        6B 02 01 64 01 01 00""")]
    set_cmd = unhex("30 22" + FOO_DISK + "A0 07 A5 05 A7 03 01 01 00")
    assert exchange(pd, set_cmd, upload=[unhex("DE AD BE EF")]) == [
        string_reply(FOO_DISK, "set block device")]
    dump = unhex("30 22" + FOO_DISK + "A0 07 A5 05 A6 03 02 01 00")
    frames = exchange(pd, dump)
    assert frames[0] == unhex("30 20" + FOO_DISK + "A1 05 AA 03 01 01 00")
    assert frames[-1] == unhex("30 21" + FOO_DISK + "A3 06 A4 04 A1 02 05 00")
    data = bytearray()
    for f in frames[1:-1]:
        r = Reply(f, unhex(FOO_DISK))
        assert r.kind == "chunk" and len(r.value) == 4096, r
        data += r.value
    assert bytes(data) == with_zeros(unhex("DE AD BE EF"), 100)


def string_reply(header_hex, text):
    header = unhex(header_hex)
    return der_seq(header, der_ctx(1, der_ctx(1, H.der_utf8(text))))


def test_add_refusals(petreld):
    pd = petreld
    pd.ok("create-block", "disk", "1")
    before = pd.snapshot()
    j = pd.jfail("create-block", "disk", "1")
    assert j["message"] == "block device with same name already exists"
    # Sizes: the client refuses what it cannot send (usage, exit 2) ...
    for size in ("0", "-1", "1.5", "x", str(1 << 40)):
        pd.fails("create-block", "other", size, rc=2)
    # ... and petreld what arrives anyway.
    for size in (0, -1, -(1 << 62)):
        msg = raw_failure(pd, ":other", cmd_add(size))
        assert "positive" in msg, msg
    # Names: a path is no device name.
    assert pd.fails("create-block", "team:", "1", rc=2).rc == 2
    assert "path" in raw_failure(pd, "team:", cmd_add(1))
    assert "path" in raw_failure(pd, ":", cmd_add(1))
    pd.assert_unchanged(before, "the refused block adds")


def test_names_stay_inside_the_block_directory(petreld):
    """'.' and '..' are valid labels (§4.1): the file is ':..' inside the
    block directory, nothing outside it."""
    pd = petreld
    pd.ok("create-block", "..", "1")
    pd.ok("create-block", "a:.", "1")
    assert sorted(os.listdir(block_dir(pd))) == [":..", "a:."]
    assert blocks(pd) == {":..": (1, False), "a:.": (1, False)}
    assert not (Path(pd.dbdir) / "..").is_file()
    pd.ok("destroy-block", "..")
    pd.ok("destroy-block", "a:.")
    assert os.listdir(block_dir(pd)) == []


def test_undecodable_name_gets_no_answer(petreld):
    """A name the codec refuses (§4: '/' is no label character): no reply
    at all (§8.1), nothing created."""
    pd = petreld
    body = der_seq(der_seq(der_int(5), der_octets(bytes(8)), H.der_utf8("a/b")),
                   cmd_add(1))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    try:
        s.connect(pd.sock)
        s.sendall(len(body).to_bytes(4, "big") + body)
        assert s.recv(4) == b""
    finally:
        s.close()
    assert os.listdir(block_dir(pd)) == []


def test_block_budget_at_every_level(petreld):
    """block add is checked against every policy on the path (A.5): no
    budget at all, and over the budget at each of three levels."""
    pd = petreld
    pol = ["--unikernels", "4", "--mem", "256", "--cpu", "0", "--bridge", "br0"]
    pd.ok("add-policy", ":", *pol, "--block", "10")
    pd.ok("add-policy", "a:", *pol, "--block", "8")
    pd.ok("add-policy", "a:b:", *pol, "--block", "4")
    pd.ok("add-policy", "nob:", *pol)  # no block storage at all
    before = pd.snapshot()
    for name, size in [("nob:disk", 1), ("nob:sub:disk", 1),
                       ("a:b:disk", 5), ("a:disk", 9), (":disk", 11)]:
        j = pd.jfail("create-block", name, str(size))
        assert "block" in j["message"], j
    pd.assert_unchanged(before, "block adds over a budget")

    pd.ok("create-block", "a:b:d1", "4")        # a:b: full
    pd.jfail("create-block", "a:b:d2", "1")
    pd.ok("create-block", "a:d3", "4")          # a: full (4 + 4)
    pd.jfail("create-block", "a:d4", "1")
    pd.jfail("create-block", "a:c:d4", "1")
    pd.ok("create-block", "z:d5", "2")          # root full (8 + 2)
    before = pd.snapshot()
    pd.jfail("create-block", "d6", "1")
    pd.jfail("create-block", "y:d6", "1")
    pd.assert_unchanged(before, "block adds over a full budget")
    # Freeing space makes room again.
    pd.ok("destroy-block", "a:b:d1")
    pd.ok("create-block", "a:d4", "4")


def test_remove_refusals(petreld):
    pd = petreld
    j = pd.jfail("destroy-block", "nodisk")
    assert j["message"] == "remove block: not found"
    assert raw_failure(pd, "a:", cmd_remove()) == "remove block: not found"
    assert pd.fails("destroy-block", "a:", rc=2).rc == 2


# ---------------------------------------------------------------------------
# set and dump (§8.4, §8.5)


def test_set_and_dump_round_trip(petreld, tmp_path):
    pd = petreld
    pd.ok("create-block", "team:disk", "4")
    data = pattern(3 * MiB + 12345)
    src = tmp_path / "data"
    src.write_bytes(data)
    assert pd.ok("set-block", "team:disk", src).out == "set block device\n"
    assert content(pd, "team:disk") == with_zeros(data, 4)
    assert stat.S_IMODE(device(pd, "team:disk").stat().st_mode) == 0o600

    out = tmp_path / "out.img"
    j = pd.jok("dump-block", "team:disk", out)
    assert j == {"result": "success", "kind": "block-device-image",
                 "message": "wrote the block device to %s" % out,
                 "file": str(out), "size": 4 * MiB}, j
    assert out.read_bytes() == with_zeros(data, 4)
    # The default file: the name with ':' replaced, in the current directory.
    pd.ok("dump-block", "team:disk", cwd=str(tmp_path))
    assert (tmp_path / "team_disk.img").read_bytes() == with_zeros(data, 4)

    # A shorter set replaces everything: the rest reads as zeros again.
    src.write_bytes(b"short")
    pd.ok("set-block", "team:disk", src)
    assert content(pd, "team:disk") == with_zeros(b"short", 4)
    # An empty upload zeroes the device.
    src.write_bytes(b"")
    pd.ok("set-block", "team:disk", src)
    assert content(pd, "team:disk") == b"\0" * (4 * MiB)
    no_staging_left(pd)


def test_compressed_round_trip(petreld, tmp_path):
    pd = petreld
    data = pattern(MiB) + b"A" * (2 * MiB) + pattern(5000, b"tail")
    src = tmp_path / "data"
    src.write_bytes(data)
    pd.ok("create-block", "disk", "4", "--data", src, "--compress")
    assert content(pd, ":disk") == with_zeros(data, 4)

    out = tmp_path / "out.img"
    pd.ok("dump-block", "disk", out, "--compress")
    assert out.read_bytes() == with_zeros(data, 4)
    # Compressed on the wire: fewer bytes than the device, one zlib stream.
    flag, z, tail = raw_dump(pd, ":disk", level=9)
    assert flag is True and tail == []
    assert len(z) < 2 * MiB
    assert zlib.decompress(z) == with_zeros(data, 4)
    flag, plain, tail = raw_dump(pd, ":disk", level=0)
    assert flag is False and plain == with_zeros(data, 4) and tail == []

    # Compressed upload in odd pieces, straight from zlib.
    new = pattern(2 * MiB, b"new")
    z = zlib.compress(new, 6)
    pieces = [z[i:i + 1000] for i in range(0, len(z), 1000)]
    rs = raw_upload(pd, ":disk", pieces, compressed=True)
    assert [r.text for r in rs] == ["set block device"]
    assert content(pd, ":disk") == with_zeros(new, 4)


def test_set_refusals_keep_the_old_content(petreld, tmp_path):
    pd = petreld
    old = pattern(MiB + 7, b"old")
    src = tmp_path / "old"
    src.write_bytes(old)
    pd.ok("create-block", "disk", "2", "--data", src)
    want = with_zeros(old, 2)

    def unchanged():
        assert content(pd, ":disk") == want
        no_staging_left(pd)
        not_busy(pd, ":disk")

    # Not found.
    assert pd.jfail("set-block", "nodisk", src)["message"] == "set block: not found"
    assert pd.jfail("dump-block", "nodisk", tmp_path / "x")["message"] == \
        "dump block: not found"
    assert not (tmp_path / "x").exists()

    # More data than the device holds: one byte too many.
    big = tmp_path / "big"
    big.write_bytes(pattern(2 * MiB + 1, b"big"))
    assert pd.jfail("set-block", "disk", big)["message"] == "stream exceeds size"
    unchanged()
    # ... also when it only inflates beyond (a zlib bomb).
    assert pd.jfail("set-block", "disk", big, "--compress")["message"] == \
        "stream exceeds size"
    unchanged()
    bomb = zlib.compress(b"\0" * (64 * MiB), 9)
    rs = raw_upload(pd, ":disk", [bomb], compressed=True)
    assert [(r.kind, r.text) for r in rs] == [("failure", "stream exceeds size")]
    unchanged()

    # Corrupt zlib: not zlib at all, a flipped byte, a truncated stream,
    # and trailing garbage after the end of the stream.
    z = bytearray(zlib.compress(pattern(MiB, b"z"), 6))
    flipped = bytes(z[:100]) + bytes([z[100] ^ 0xFF]) + bytes(z[101:])
    for pieces in ([b"this is not zlib"], [flipped], [bytes(z[:len(z) // 2])],
                   [bytes(z), b"garbage"]):
        rs = raw_upload(pd, ":disk", pieces, compressed=True)
        assert len(rs) == 1 and rs[0].kind == "failure", rs
        assert "zlib" in rs[0].text or "decompression" in rs[0].text, rs
        unchanged()


def test_broken_upload_keeps_the_old_content(petreld, tmp_path):
    """The client's connection closes in the middle of a set (between
    frames, and inside a frame): no reply is owed, the device keeps its old
    content, the staging file goes, the device is free again."""
    pd = petreld
    old = pattern(3 * MiB, b"before")
    src = tmp_path / "old"
    src.write_bytes(old)
    pd.ok("create-block", "disk", "4", "--data", src)
    new = pattern(4 * MiB, b"after")

    for cut_inside_frame in (False, True):
        c = Raw(pd, ":disk")
        c.command(cmd_set(False))
        for i in range(0, 2 * MiB, 4096):
            c.chunk(new[i:i + 4096])
        if cut_inside_frame:
            c.s.sendall((4096).to_bytes(4, "big") + new[:100])
        # The upload has reached petreld: a staging file holds it.
        H.wait_for(lambda: any(staging_dir(pd).iterdir()), 10,
                   what="the upload to reach the staging directory")
        c.close()
        no_staging_left(pd)
        not_busy(pd, ":disk")
        assert content(pd, ":disk") == with_zeros(old, 4)
    assert "block set aborted" in pd.log_text()

    # The same device takes a complete upload afterwards.
    src.write_bytes(new)
    pd.ok("set-block", "disk", src)
    assert content(pd, ":disk") == new


def test_concurrent_transfers_are_refused(petreld, images, tender, tmp_path):
    """While a set is in progress the device is busy: another set, a dump,
    a remove and a unikernel that wants it are refused; afterwards all is
    well."""
    pd = petreld
    pd.ok("create-block", "disk", "2")
    c = Raw(pd, ":disk")
    try:
        c.command(cmd_set(False))
        c.chunk(b"first half")
        H.wait_for(lambda: any(staging_dir(pd).iterdir()), 10,
                   what="the upload to start")
        assert pd.jfail("set-block", "disk", __file__)["message"] == "set block: is in use"
        assert pd.jfail("dump-block", "disk", tmp_path / "o")["message"] == \
            "dump block: is in use"
        assert pd.jfail("destroy-block", "disk")["message"] == "remove block: is in use"
        assert raw_failure(pd, ":disk", cmd_set_old(b"x")) == "set block: is in use"
        assert raw_failure(pd, ":disk", cmd_dump_old(0)) == "dump block: is in use"
        if tender.scripted:
            j = pd.jfail("create", "user", images.path("hvt", blocks=["storage"]),
                         "--block", "storage:disk", "--arg", "run")
            assert "disk" in j["message"], j
        c.chunk(b", second half")
        c.end()
        assert c.reply().text == "set block device"
        assert c.frame() is None
    finally:
        c.close()
    assert content(pd, ":disk") == with_zeros(b"first half, second half", 2)
    flag, data, tail = raw_dump(pd, ":disk")
    assert data == with_zeros(b"first half, second half", 2)
    pd.ok("destroy-block", "disk")


def test_disk_full_keeps_the_old_content(petreld_factory, tender, tmp_path):
    """The staging file cannot be written (the file system is full): the
    set fails with the reason, the old content and nothing else stays."""
    pd = petreld_factory(start=False)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3072k,mode=0700", "pt-blk-db",
                    pd.dbdir], check=True, timeout=30)
    try:
        for target, path in tender.paths.items():
            if path:
                os.symlink(os.path.abspath(path), pd.tender_link(target))
        pd.start()
        old = pattern(2 * MiB, b"old")
        src = tmp_path / "old"
        src.write_bytes(old)
        pd.ok("create-block", "disk", "2", "--data", src)
        src.write_bytes(pattern(2 * MiB, b"new"))
        j = pd.jfail("set-block", "disk", src)
        assert os.strerror(errno.ENOSPC) in j["message"], j
        assert content(pd, ":disk") == old
        no_staging_left(pd)
        not_busy(pd, ":disk")
        assert blocks(pd) == {":disk": (2, False)}
    finally:
        pd.stop()
        subprocess.run(["umount", "-l", pd.dbdir], timeout=30)


def test_progress_on_a_terminal(petreld, tmp_path):
    pd = petreld
    pd.ok("create-block", "disk", "16")
    src = tmp_path / "data"
    src.write_bytes(pattern(12 * MiB))
    master, slave = pty.openpty()
    p = subprocess.Popen([str(PETREL_BIN), "--tmpdir", pd.tmpdir, "set-block",
                          "disk", str(src)], stdout=subprocess.PIPE,
                         stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    seen = b""
    try:
        while True:
            r, _, _ = select.select([master], [], [], 30)
            assert r, "no progress output"
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the client closed the terminal
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(master)
    assert p.wait(timeout=30) == 0
    assert p.stdout.read() == b"set block device\n"
    p.stdout.close()
    assert b":disk: 12 of 12 MiB (100%)" in seen, seen
    assert content(pd, ":disk") == with_zeros(pattern(12 * MiB), 16)


# ---------------------------------------------------------------------------
# A device attached to a running unikernel


def console_until(pd, name, needle, timeout=20):
    """The console lines of `name` (`petrel --json console`, through
    petrel-console) up to the first that contains needle."""
    p = subprocess.Popen([str(PETREL_BIN), "--tmpdir", pd.tmpdir, "--json", "console",
                          name, "--count", "100"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    lines = []
    buf = b""
    try:
        def seen():
            nonlocal buf
            r, _, _ = select.select([p.stdout], [], [], 0.2)
            if r:
                chunk = os.read(p.stdout.fileno(), 65536)
                assert chunk, "petrel console ended: %r" % p.stderr.read()
                buf += chunk
                *whole, buf = buf.split(b"\n")
                for line in whole:
                    obj = json.loads(line)
                    if "line" in obj:
                        lines.append(obj["line"])
            return any(needle in l for l in lines)
        H.wait_for(seen, timeout, what="%r on the console of %s" % (needle, name))
    finally:
        p.kill()
        p.wait(10)
        p.stdout.close()
        p.stderr.close()
    return lines


def test_device_of_a_running_unikernel(petrel_console, images, tender, tmp_path):
    tender.need_scripted()
    pd = petrel_console.pd
    host = tmp_path / "host"
    host.write_bytes(b"hello-from-host")
    pd.ok("create-block", "team:disk", "1", "--data", host)
    img = images.path("hvt", blocks=["storage"])
    pd.ok("create", "team:db", img, "--block", "storage:disk@512",
          "--arg", "block-read:storage:0:15",
          "--arg", "block-write:storage:4096:written-by-guest", "--arg", "run")
    out = console_until(pd, "team:db", "block-write storage 4096")
    assert "block-read storage 0: hello-from-host" in out, out
    # The tender holds the device file itself open.
    pid, _ = pd.wait_tender("team:db")
    dev_stat = device(pd, "team:disk").stat()
    held = [os.stat("/proc/%d/fd/%s" % (pid, fd)) for fd in os.listdir("/proc/%d/fd" % pid)]
    assert any((s.st_dev, s.st_ino) == (dev_stat.st_dev, dev_stat.st_ino) for s in held)
    dev = device(pd, "team:disk")
    with open(dev, "rb") as f:
        f.seek(4096)
        assert f.read(16) == b"written-by-guest"
    assert blocks(pd, "team:") == {":disk": (1, True)}

    # In use: set and dump are refused at once, before any data is sent.
    for payload, msg in ((cmd_set(False), "set block: is in use"),
                         (cmd_set(True), "set block: is in use"),
                         (cmd_dump(0), "dump block: is in use"),
                         (cmd_set_old(b"x"), "set block: is in use"),
                         (cmd_dump_old(0), "dump block: is in use")):
        c = Raw(pd, "team:disk", timeout=10)
        try:
            c.command(payload)
            r = c.reply()
            assert (r.kind, r.text) == ("failure", msg), r
            if payload in (cmd_set(False), cmd_set(True)):
                c.end()  # petreld drops the (empty) upload, then closes
            assert c.frame() is None
        finally:
            c.close()
    before = pd.snapshot()
    assert pd.jfail("set-block", "team:disk", host)["message"] == "set block: is in use"
    assert pd.jfail("dump-block", "team:disk", tmp_path / "o")["message"] == \
        "dump block: is in use"
    assert pd.jfail("destroy-block", "team:disk")["message"] == "remove block: is in use"
    pd.assert_unchanged(before, "the refused transfers")

    pd.ok("destroy", "team:db")
    assert blocks(pd, "team:") == {":disk": (1, False)}
    out_file = tmp_path / "after.img"
    pd.ok("dump-block", "team:disk", out_file)
    data = out_file.read_bytes()
    assert data[:15] == b"hello-from-host" and data[4096:4112] == b"written-by-guest"


def test_in_use_until_the_process_is_gone(petreld_factory, images, tender):
    """In use from exec until the tender is gone, also while it is being
    stopped: a stopped (SIGSTOP) tender does not act on SIGTERM, so the
    destroy waits, and the device stays in use until it has exited."""
    tender.need_scripted()
    pd = petreld_factory(grace_ms=60000)
    pd.ok("create-block", "disk", "1")
    pd.ok("create", "db", images.path("hvt", blocks=["storage"]),
          "--block", "storage:disk", "--arg", "run")
    pid, _ = pd.wait_tender(":db")
    assert blocks(pd) == {":disk": (1, True)}
    os.kill(pid, signal.SIGSTOP)
    H.wait_for(lambda: (H.proc_stat(pid) or ("?",))[0] == "T", 10,
               what="the tender to stop")
    destroy = subprocess.Popen([str(PETREL_BIN), "--tmpdir", pd.tmpdir, "destroy", "db"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        def sigterm_pending():
            st = H.proc_status(pid) or {}
            bit = 1 << (signal.SIGTERM - 1)
            return (int(st.get("ShdPnd", "0"), 16) | int(st.get("SigPnd", "0"), 16)) & bit
        H.wait_for(sigterm_pending, 10, what="petreld's SIGTERM to the tender")
        assert destroy.poll() is None
        assert blocks(pd) == {":disk": (1, True)}
        assert pd.jfail("set-block", "disk", __file__)["message"] == "set block: is in use"
        assert pd.jfail("destroy-block", "disk")["message"] == "remove block: is in use"
    finally:
        os.kill(pid, signal.SIGCONT)
        out, err = destroy.communicate(timeout=30)
    assert destroy.returncode == 0, err
    H.wait_for(lambda: H.pid_reaped(pid), 10, what="the tender to be reaped")
    assert blocks(pd) == {":disk": (1, False)}
    pd.ok("destroy-block", "disk")


def test_sector_sizes(petreld, images, tender):
    tender.need_scripted()
    pd = petreld
    pd.ok("create-block", "disk", "1")
    img = images.path("hvt", blocks=["storage"])
    before = pd.snapshot()
    for bad in ("256", "1000", "768", "0"):
        r = pd.petrel("create", "db", img, "--block", "storage:disk@" + bad,
                      "--arg", "run")
        assert r.rc in (1, 2), r
        assert "sector" in r.err, r
    pd.assert_unchanged(before, "bad sector sizes")
    pd.ok("create", "db", img, "--block", "storage:disk@4096", "--arg", "run")
    _, argv = pd.wait_tender(":db")
    assert "--block-sector-size:storage=4096" in argv
    pd.ok("destroy", "db")


# ---------------------------------------------------------------------------
# Legacy commands (§8.2 table): add-old, set-old, dump-old


def test_legacy_commands(petreld):
    pd = petreld
    assert raw_string(pd, ":empty", cmd_add_old(1)) == "added block device"
    assert content(pd, ":empty") == b"\0" * MiB

    data = pattern(300000, b"legacy")
    assert raw_string(pd, ":plain", cmd_add_old(1, False, data)) == "added block device"
    assert content(pd, ":plain") == with_zeros(data, 1)
    assert raw_string(pd, ":z", cmd_add_old(2, True, zlib.compress(data))) == \
        "added block device"
    assert content(pd, ":z") == with_zeros(data, 2)
    assert blocks(pd) == {":empty": (1, False), ":plain": (1, False), ":z": (2, False)}

    # Too much data: refused, and the device is not created at all.
    before = pd.snapshot()
    assert raw_failure(pd, ":big", cmd_add_old(1, False, bytes(MiB + 1))) == \
        "data exceeds block size"
    assert raw_failure(pd, ":bigz", cmd_add_old(1, True, zlib.compress(bytes(2 * MiB)))) == \
        "data exceeds block size"
    assert "decompression failed" in raw_failure(pd, ":badz",
                                                 cmd_add_old(1, True, b"not zlib"))
    assert raw_failure(pd, ":empty", cmd_add_old(1)) == \
        "block device with same name already exists"
    pd.assert_unchanged(before, "refused legacy adds")
    assert ":big" not in blocks(pd)

    new = pattern(5000, b"set-old")
    assert raw_string(pd, ":plain", cmd_set_old(new)) == "set block device"
    assert content(pd, ":plain") == with_zeros(new, 1)
    assert raw_string(pd, ":plain", cmd_set_old(zlib.compress(data), True)) == \
        "set block device"
    assert content(pd, ":plain") == with_zeros(data, 1)
    assert raw_failure(pd, ":plain", cmd_set_old(bytes(MiB + 1))) == \
        "data exceeds block size"
    assert content(pd, ":plain") == with_zeros(data, 1)
    assert raw_failure(pd, ":nothing", cmd_set_old(b"x")) == "set block: not found"

    for level in (0, 1, 9):
        r = raw_one(pd, ":z", cmd_dump_old(level))
        assert r.kind == "success" and r.tag == 0xA7, r
        # SEQUENCE { compressed BOOLEAN, image OCTET STRING } (§6.6)
        t, inner, end = tlv(r.value)
        assert t == 0x30 and end == len(r.value)
        bt, flag, off = tlv(inner)
        ot, image, _ = tlv(inner, off)
        assert (bt, ot) == (0x01, 0x04)
        assert flag == (b"\xff" if level else b"\x00")
        got = zlib.decompress(image) if level else image
        assert got == with_zeros(data, 2)
    assert raw_failure(pd, ":nothing", cmd_dump_old(0)) == "dump block: not found"
    no_staging_left(pd)


# ---------------------------------------------------------------------------
# Memory: 1 GiB through petreld with fixed buffers


def vm_hwm_kib(pid):
    return int(H.proc_status(pid)["VmHWM"].split()[0])


GIB_MB = 1024


def gib_stream():
    """1 GiB as 4 KiB frames, made on the fly: each MiB starts with a
    distinct pseudo-random 4 KiB block, the rest is zeros (petreld keeps
    the file sparse, so the disk is spared)."""
    zero_frame = (4096).to_bytes(4, "big") + bytes(4096)
    rest = zero_frame * 255
    seed = pattern(4096, b"gib")
    for i in range(GIB_MB):
        head = i.to_bytes(8, "big") + seed[8:]
        yield head, (4096).to_bytes(4, "big") + head + rest


def test_one_gib_set_and_dump_in_bounded_memory(petreld_factory, monkeypatch):
    # ASan keeps freed memory in quarantine (256 MiB by default), which is
    # not petreld's: keep it small for this measurement.
    opts = os.environ.get("ASAN_OPTIONS", "")
    monkeypatch.setenv("ASAN_OPTIONS", (opts + ":" if opts else "") + "quarantine_size_mb=4")
    pd = petreld_factory()
    pd.ok("create-block", "big", str(GIB_MB))
    before = vm_hwm_kib(pd.pid)

    want = hashlib.sha256()
    c = Raw(pd, ":big", timeout=300)
    try:
        c.command(cmd_set(False))
        for head, frames in gib_stream():
            want.update(head)
            want.update(bytes(MiB - 4096))
            c.s.sendall(frames)
        c.end()
        r = c.reply()
        assert (r.kind, r.text) == ("success", "set block device"), r
    finally:
        c.close()
    after_set = vm_hwm_kib(pd.pid)
    assert device(pd, ":big").stat().st_size == GIB_MB * MiB

    got = hashlib.sha256()
    n = 0
    c = Raw(pd, ":big", timeout=300)
    try:
        c.command(cmd_dump(0))
        assert c.reply().tag == 0xAA
        while True:
            r = c.reply()
            if r.kind == "end":
                break
            assert r.kind == "chunk" and len(r.value) <= 4096, r
            got.update(r.value)
            n += len(r.value)
        assert c.frame() is None
    finally:
        c.close()
    after_dump = vm_hwm_kib(pd.pid)
    assert n == GIB_MB * MiB
    assert got.hexdigest() == want.hexdigest()
    grown = max(after_set, after_dump) - before
    print("petreld VmHWM: %d KiB before, %d after the set, %d after the dump"
          % (before, after_set, after_dump))
    assert grown < 64 * 1024, "petreld's peak memory grew by %d KiB" % grown


# ---------------------------------------------------------------------------
# The block directory at start


def test_rescan_at_start(petreld_factory):
    pd = petreld_factory(start=False)
    bd = block_dir(pd)
    bd.mkdir(mode=0o755)
    os.chmod(bd, 0o755)
    (bd / ":good").write_bytes(b"g" * (2 * MiB))
    os.chmod(bd / ":good", 0o644)
    (bd / "team:other").write_bytes(bytes(MiB))
    strangers = {
        "junk.txt": b"not a name",
        ":odd": b"x" * 1000,           # not whole MB
        ":empty": b"",
        "UPPER:case": bytes(MiB),      # not the canonical text
        ".hidden": bytes(MiB),
    }
    for f, data in strangers.items():
        (bd / f).write_bytes(data)
    (bd / ":dir").mkdir()
    os.symlink("/etc/passwd", bd / ":link")
    staging = staging_dir(pd)
    staging.mkdir(mode=0o700)
    (staging / "set-abc123").write_bytes(b"half an upload")
    pd.start()

    assert blocks(pd) == {":good": (2, False), "team:other": (1, False)}
    log = pd.log_text()
    for f in list(strangers) + [":dir", ":link"]:
        assert "unknown file %s " % f in log, (f, log[-3000:])
    # Reported, never deleted.
    for f, data in strangers.items():
        assert (bd / f).read_bytes() == data
    assert (bd / ":dir").is_dir() and os.readlink(bd / ":link") == "/etc/passwd"
    assert stat.S_IMODE(os.stat("/etc/passwd").st_mode) == 0o644
    # Ours: made private again, and the interrupted upload is gone.
    assert stat.S_IMODE(bd.stat().st_mode) == 0o700
    assert stat.S_IMODE((bd / ":good").stat().st_mode) == 0o600
    assert list(staging.iterdir()) == []
    assert content(pd, ":good") == b"g" * (2 * MiB)

    # A device cannot be created over a file nobody accounts for.
    j = pd.jfail("create-block", "odd", "1")
    assert "exists" in j["message"], j
    assert (bd / ":odd").read_bytes() == b"x" * 1000

    # Devices survive a restart of petreld, content included.
    pd.ok("create-block", "new", "3")
    pd.stop()
    pd.start()
    assert blocks(pd) == {":good": (2, False), "team:other": (1, False),
                          ":new": (3, False)}
    assert content(pd, ":good") == b"g" * (2 * MiB)


def test_force_create_refuses_a_device_being_transferred(petreld_factory,
                                                         images, tender):
    """A force-create is checked, then waits for the old unikernel to go.
    A dump of a device only the new configuration uses, started in that
    wait, must not end up read while the new tender writes it: the launch
    checks again, fails, and the old unikernel comes back."""
    tender.need_scripted()
    pd = petreld_factory(grace_ms=60000)
    pd.ok("create-block", "disk2", "64")
    pd.ok("create", "web", images.path("hvt"), "--arg", "run")
    pid, _ = pd.wait_tender(":web")
    os.kill(pid, signal.SIGSTOP)
    H.wait_for(lambda: (H.proc_stat(pid) or ("?",))[0] == "T", 10,
               what="the old tender to stop")
    force = subprocess.Popen(
        [str(PETREL_BIN), "--tmpdir", pd.tmpdir, "--json", "create", "-f",
         "web", images.path("hvt", blocks=["storage"]), "--block",
         "storage:disk2", "--arg", "run"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    dump = Raw(pd, ":disk2")
    try:
        def sigterm_pending():
            st = H.proc_status(pid) or {}
            bit = 1 << (signal.SIGTERM - 1)
            return (int(st.get("ShdPnd", "0"), 16) |
                    int(st.get("SigPnd", "0"), 16)) & bit
        H.wait_for(sigterm_pending, 10, what="the force-create to stop :web")
        # The dump starts while the force-create waits; 64 MB do not fit
        # the socket, so it stays in progress while nothing is read.
        dump.command(cmd_dump(0))
        assert dump.reply().tag == 0xAA
        os.kill(pid, signal.SIGCONT)
        out, err = force.communicate(timeout=60)
    finally:
        if force.poll() is None:
            os.kill(pid, signal.SIGCONT)
            force.kill()
            force.communicate()
        dump.close()
    assert force.returncode == 1, (out, err)
    msg = json.loads(out)["message"]
    assert "disk2 is being transferred" in msg, msg
    # The old one was restarted (rollback), without the device.
    new, argv = pd.wait_tender(":web")
    assert new != pid and not any(a.startswith("--block") for a in argv)
    pd.ok("destroy", "web")
    # The dump's connection is gone: the device is free again (polled,
    # the close is asynchronous; dump-old would refuse a 64 MB device).
    H.wait_for(lambda: pd.petrel("destroy-block", "disk2").rc == 0, 10,
               what=":disk2 to be free and removed")
