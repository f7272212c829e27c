"""petreld and petrel-console against clients that misbehave on purpose,
in raw AV5 frames: frames sent into a dump, peers that vanish in the middle
of a transfer or before the first reply, peers that never read or never
speak, zlib bombs in a block set, replies too large for a frame. Each case
once crashed petreld, leaked a device lock, held a connection slot forever
or stalled the event loop.

Under the ASan build a use-after-free or a leak shows up as a sanitizer
report in petreld's log, which the fixtures turn into a failure.

Needs root (the fixtures run petreld in a network namespace).
"""

import os
import select
import socket
import time
import zlib

import pytest

import pthelpers as H
from pthelpers import der_ctx, der_int, der_seq
from test_blocks import (Raw, blocks, cmd_add_old, cmd_dump, cmd_dump_old,
                         cmd_info, cmd_set, cmd_set_old, device, not_busy,
                         staging_dir)

MiB = 1 << 20


def random_device(pd, tmp_path, name, size_mb):
    """A device full of incompressible bytes (so a dump has a lot to send
    at every compression level)."""
    src = tmp_path / ("%s.data" % name)
    data = os.urandom(size_mb * MiB)
    src.write_bytes(data)
    pd.ok("create-block", name, str(size_mb), "--data", src)
    return data


def read_until_closed(c, timeout=30):
    """Reads and drops everything until petreld closes; fails if it does
    not within the deadline."""
    c.s.settimeout(timeout)
    deadline = time.monotonic() + timeout
    while True:
        try:
            got = c.s.recv(1 << 20)
        except ConnectionResetError:
            return
        if not got:
            return
        assert time.monotonic() < deadline, "petreld kept the connection open"


def assert_alive(pd):
    assert pd.alive(), "petreld died:\n%s" % pd.log_text(tail=6000)
    pd.ok("info")


# ---------------------------------------------------------------------------
# A dump stream has no use for frames from the client


def test_a_frame_during_a_dump_closes_the_connection(petreld, tmp_path):
    pd = petreld
    random_device(pd, tmp_path, "disk", 16)
    for frame in (b"\0\0\0\0", b"\0\0\0\x03abc"):
        c = Raw(pd, ":disk")
        try:
            c.command(cmd_dump(0))
            first = c.reply()
            assert first.kind == "success" and first.tag == 0xAA, first
            # 16 MB do not fit the socket: petreld waits for the client
            # to read, and reads what it sends meanwhile. It drops the
            # connection, which frees the device (the client reads
            # nothing until then, so the dump cannot have ended).
            c.s.sendall(frame)
            not_busy(pd, ":disk")
            read_until_closed(c)
        finally:
            c.close()
        assert_alive(pd)


# ---------------------------------------------------------------------------
# The peer goes away while a dump is being produced


@pytest.mark.parametrize("level", [0, 1])
def test_peer_gone_in_the_middle_of_a_dump(petreld, tmp_path, level):
    pd = petreld
    random_device(pd, tmp_path, "disk", 16)
    for _ in range(8):
        c = Raw(pd, ":disk")
        try:
            c.command(cmd_dump(level))
            got = 0
            while got < 200 * 1024:
                b = c.s.recv(64 * 1024)
                assert b, "petreld closed early"
                got += len(b)
        finally:
            c.close()
        assert_alive(pd)
    not_busy(pd, ":disk")


# ---------------------------------------------------------------------------
# The peer is gone before the first reply of a dump


def test_peer_gone_before_the_dump_reply(petreld, tmp_path):
    pd = petreld
    random_device(pd, tmp_path, "disk", 4)
    for _ in range(8):
        c = Raw(pd, ":disk")
        c.command(cmd_dump(0))
        c.close()
    assert_alive(pd)
    not_busy(pd, ":disk")
    pd.ok("destroy-block", "disk")


# ---------------------------------------------------------------------------
# A client that never reads what it asked for


def hung_up(c, timeout):
    """Waits (without reading) until the daemon has closed its end."""
    p = select.poll()
    p.register(getattr(c, "s", c), select.POLLHUP)

    def closed():
        return any(ev & select.POLLHUP for _, ev in p.poll(0))
    H.wait_for(closed, timeout, what="the daemon to drop the connection")


@pytest.mark.parametrize("command", ["dump", "dump-old"])
def test_a_client_that_never_reads_is_dropped(petreld_factory, tmp_path, command):
    pd = petreld_factory(extra_args=["--write-timeout-ms", "300"])
    random_device(pd, tmp_path, "disk", 16)
    c = Raw(pd, ":disk")
    try:
        c.command(cmd_dump(0) if command == "dump" else cmd_dump_old(0))
        # 16 MB do not fit the socket: output waits, nothing is read.
        hung_up(c, 15)
    finally:
        c.close()
    not_busy(pd, ":disk")
    assert "took none of its" in pd.log_text()
    assert_alive(pd)


def test_a_slow_reader_is_not_dropped(petreld_factory, tmp_path):
    """The timeout is about progress, not about the whole transfer: a
    client that reads a little more often than the timeout gets it all."""
    pd = petreld_factory(extra_args=["--write-timeout-ms", "1000"])
    data = random_device(pd, tmp_path, "disk", 2)
    c = Raw(pd, ":disk")
    try:
        c.command(cmd_dump(0))
        got = bytearray()
        assert c.reply().kind == "success"
        while True:
            r = c.reply()
            if r.kind == "end":
                break
            got += r.value
            if len(got) % (256 * 1024) == 0:
                time.sleep(0.2)  # a slow disk on the client's side
        assert c.frame() is None
    finally:
        c.close()
    assert bytes(got) == data


# ---------------------------------------------------------------------------
# zlib bombs: a small frame that inflates to a whole device


BOMB_MB = 1024


def zlib_bomb():
    """About 1 MB of zlib that inflates to 1 GiB: "x", then zeros."""
    co = zlib.compressobj(9)
    out = [co.compress(b"x" + bytes(MiB - 1))]
    zero = bytes(MiB)
    for _ in range(BOMB_MB - 1):
        out.append(co.compress(zero))
    out.append(co.flush())
    return b"".join(out)


def readable(c):
    return bool(select.select([c.s], [], [], 0)[0])


def staging_written(pd):
    """The inflate has begun: its first output is in the staging file."""
    try:
        return any(f.stat().st_size > 0 for f in staging_dir(pd).iterdir())
    except FileNotFoundError:
        return False


def answered_meanwhile(pd, c):
    """Another client is answered while the bomb inflates (before its
    reply): petreld's event loop kept turning."""
    H.wait_for(lambda: staging_written(pd) or readable(c), 60,
               what="the inflate to begin")
    other = Raw(pd, ":")
    try:
        other.command(cmd_info())
        assert other.reply().kind == "success"
    finally:
        other.close()
    assert not readable(c), "petreld answered nobody else until the " \
        "whole bomb was inflated"


@pytest.mark.parametrize("how", ["set", "set-old", "add-old"])
def test_a_zlib_bomb_does_not_stall_petreld(petreld, how):
    pd = petreld
    bomb = zlib_bomb()
    assert len(bomb) < 2 * MiB
    if how != "add-old":
        pd.ok("create-block", "big", str(BOMB_MB))
    c = Raw(pd, ":big", timeout=300)
    try:
        if how == "set":
            c.command(cmd_set(True))
            c.chunk(bomb)
            c.end()
        elif how == "set-old":
            c.command(cmd_set_old(bomb, compressed=True))
        else:
            c.command(cmd_add_old(BOMB_MB, compressed=True, data=bomb))
        answered_meanwhile(pd, c)
        r = c.reply()
        assert r.kind == "success", r
        assert c.frame() is None
    finally:
        c.close()
    dev = device(pd, ":big")
    assert dev.stat().st_size == BOMB_MB * MiB
    with open(dev, "rb") as f:
        assert f.read(2) == b"x\0"
    assert_alive(pd)


@pytest.mark.parametrize("how", ["set-old", "add-old"])
def test_a_bomb_that_fails_late_changes_nothing(petreld, how):
    """The zlib stream turns out truncated after its 1 GiB: refused with
    the reason, after many turns; set-old keeps the old content, add-old
    leaves no device; nothing stays locked or staged."""
    pd = petreld
    bomb = zlib_bomb()[:-64]
    if how == "set-old":
        pd.ok("create-block", "big", str(BOMB_MB))
        payload = cmd_set_old(bomb, compressed=True)
    else:
        payload = cmd_add_old(BOMB_MB, compressed=True, data=bomb)
    c = Raw(pd, ":big", timeout=300)
    try:
        c.command(payload)
        r = c.reply()
        assert r.kind == "failure" and "truncated" in r.text, r
        assert c.frame() is None
    finally:
        c.close()
    assert not list(staging_dir(pd).iterdir())
    if how == "set-old":
        assert blocks(pd) == {":big": (BOMB_MB, False)}
        assert device(pd, ":big").stat().st_blocks == 0  # still all holes
        pd.ok("destroy-block", "big")
    else:
        assert blocks(pd) == {}
        assert not device(pd, ":big").exists()
    assert_alive(pd)


# ---------------------------------------------------------------------------
# get: the reply is one message, bounded by the frame limit


def test_get_bounded_by_the_frame_limit(petreld_factory, images, tender, tmp_path):
    """A stored compressed image that inflates beyond what a reply can
    carry is refused uncompressed (not inflated to up to 1 GiB and copied
    into the output), and still sent as stored when asked compressed."""
    tender.need_scripted()
    pd = petreld_factory(extra_args=["--max-frame-mb", "2"])
    data = images.data("hvt")
    data += bytes(3 * MiB - len(data))
    img = images.write("padded.img", data)
    pd.ok("create", "big", img, "--compress", "--arg", "run")
    out = tmp_path / "out.img"
    j = pd.jfail("get", "big", out)
    assert "--max-frame-mb" in j["message"], j
    assert not out.exists()
    pd.ok("get", "big", out, "--compress")
    assert out.read_bytes() == data
    assert_alive(pd)


# ---------------------------------------------------------------------------
# petrel-console: slots are not held by silent or non-reading clients


def console_and_petreld(petreld_factory, console_factory, *opts, **kw):
    pd = petreld_factory(start=False)
    cd = console_factory(pd, start=False, **kw)
    cd.opts += list(opts)
    cd.start()
    pd.start()
    H.wait_for(lambda: "connected to petrel-console" in pd.log_text(), 15,
               what="petreld's link to petrel-console")
    return cd


def silent_client(cd):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    s.connect(cd.sock)
    return s


def test_console_drops_silent_clients_not_petreld(petreld_factory, console_factory):
    cd = console_and_petreld(petreld_factory, console_factory,
                             "--idle-timeout-ms", "300")
    pd = cd.pd
    for _ in range(2):
        s = silent_client(cd)
        try:
            hung_up(s, 15)
        finally:
            s.close()
    assert "without a command" in cd.log_text()
    # petreld's link is as silent (no unikernel to add) and older: it
    # would have gone first, and petreld would have said so.
    assert "reconnecting" not in pd.log_text()
    assert_alive(pd)


def console_subscribe(name, count):
    body = der_seq(H.wire_header(name),
                   der_ctx(0, der_ctx(0, der_ctx(2, der_ctx(1, der_int(count))))))
    return len(body).to_bytes(4, "big") + body


def test_console_drops_a_subscriber_that_never_reads(petreld_factory, console_factory,
                                                      images, tender):
    tender.need_scripted()
    cd = console_and_petreld(petreld_factory, console_factory,
                             "--write-timeout-ms", "300")
    pd = cd.pd
    # Subscribed before the unikernel exists ("waiting for VM"), so that
    # it gets every line live: about 2 MB, more than the socket takes,
    # less than the output cap that drops a lagging subscriber. Nothing
    # is read.
    s = silent_client(cd)
    try:
        s.sendall(console_subscribe(":talk", 1))
        pd.ok("create", "talk", images.path("hvt"), "--arg", "lines:40000",
              "--arg", "run")
        hung_up(s, 30)
    finally:
        s.close()
    assert "took none of its" in cd.log_text()
    assert_alive(pd)
