"""Bounds of one connection, in petreld and petrel-console
(src/daemon/fconn.h):

- backpressure: a client that pipelines requests and never reads is not
  read from while its replies wait, so the daemon's memory stays bounded,
  other clients are still answered, and every reply is delivered once the
  client reads;
- half-close: a client that sends its request and then shuts down its
  sending side (as `socat` and `nc -N` do) gets the whole reply or stream,
  then the connection closes.

Needs root (the fixtures run petreld in a network namespace).
"""

import os
import socket
import threading
import time

import pthelpers as H
from pthelpers import der_ctx, der_int, der_seq
from test_blocks import Raw, cmd_dump, cmd_info

MiB = 1 << 20
# What one client may make a daemon hold, at most (the bound itself is
# 256 KiB of replies, plus socket buffers and allocator noise).
RSS_GROWTH_MAX_KIB = 32 * 1024


def quiet_asan(monkeypatch):
    """ASan keeps freed memory in quarantine (256 MiB by default), which
    is not the daemon's: keep it small for these measurements."""
    opts = os.environ.get("ASAN_OPTIONS", "")
    monkeypatch.setenv("ASAN_OPTIONS", (opts + ":" if opts else "") +
                       "quarantine_size_mb=4")


def rss_kib(pid):
    return int(H.proc_status(pid)["VmRSS"].split()[0])


def frame(header, payload):
    body = der_seq(header, payload)
    return len(body).to_bytes(4, "big") + body


def policy_add_frame(name):
    """policy add (kept open, §8.2), no bridges (no host lookup); the same
    policy each time, so each is answered "no modification" after the
    first."""
    pol = H.policy_der(1, 64, [0], [])
    return frame(H.wire_header(name), der_ctx(0, der_ctx(4, der_ctx(1, pol))))


def console_add_frame(name):
    """console add 1 (kept open, §8.3)."""
    return frame(H.wire_header(name), der_ctx(0, der_ctx(0, der_ctx(0, der_int(1)))))


def pipeline_until_stalled(sock_path, one, pid, deadline_s=90, stall_s=2.0):
    """Sends `one` over and over without reading, until the daemon stops
    taking them (no progress for stall_s) or its memory grows beyond the
    bound. Returns (socket, frames sent whole, RSS growth in KiB)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    s.connect(sock_path)
    s.setblocking(False)
    chunk = one * (256 * 1024 // len(one))
    before = rss_kib(pid)
    sent = off = 0
    start = last = time.monotonic()
    grown = 0
    while True:
        now = time.monotonic()
        grown = max(grown, rss_kib(pid) - before)
        if grown > RSS_GROWTH_MAX_KIB or now - last > stall_s:
            break
        assert now - start < deadline_s, \
            "the daemon kept reading for %d s (%d MB) without growing" % (
                deadline_s, sent // MiB)
        try:
            n = s.send(chunk[off:])
        except BlockingIOError:
            time.sleep(0.05)  # the daemon does not read: look again later
            continue
        except (BrokenPipeError, ConnectionResetError):
            raise AssertionError("the daemon dropped a client that sent "
                                 "%d requests instead of slowing it down"
                                 % (sent // len(one)))
        sent += n
        off = (off + n) % len(chunk)
        last = time.monotonic()
    return s, sent // len(one), grown


def read_replies(s, count, timeout=120):
    """Reads `count` whole frames; returns their bodies' first bytes (for
    checks) and fails if the daemon closes first."""
    s.setblocking(True)
    s.settimeout(timeout)
    buf = bytearray()
    got = 0
    while got < count:
        b = s.recv(1 << 20)
        assert b, "closed after %d of %d replies" % (got, count)
        buf += b
        while len(buf) >= 4:
            n = int.from_bytes(buf[:4], "big", signed=True)
            assert n > 0
            if len(buf) < 4 + n:
                break
            del buf[:4 + n]
            got += 1
    return got


def assert_backpressure(s, sent, grown, answered_meanwhile):
    try:
        assert grown <= RSS_GROWTH_MAX_KIB, \
            "memory grew by %d KiB for one client that does not read" % grown
        answered_meanwhile()
        # Nothing was lost: once the client reads, every reply comes.
        assert read_replies(s, sent) == sent
    finally:
        s.close()


# ---------------------------------------------------------------------------
# Pipelined requests, never read


def test_petreld_does_not_buffer_for_a_client_that_does_not_read(
        petreld_factory, monkeypatch):
    quiet_asan(monkeypatch)
    pd = petreld_factory()
    pd.ok("add-policy", "team:", "--unikernels", "1", "--mem", "64",
          "--cpu", "0")
    s, sent, grown = pipeline_until_stalled(pd.sock, policy_add_frame("team:"),
                                            pd.pid)
    print("petreld: %d requests taken, RSS +%d KiB" % (sent, grown))

    def answered():
        other = Raw(pd, ":")
        try:
            other.command(cmd_info())
            assert other.reply().kind == "success"
        finally:
            other.close()
    assert_backpressure(s, sent, grown, answered)
    pd.ok("info")


def test_console_does_not_buffer_for_a_client_that_does_not_read(
        petreld_factory, console_factory, monkeypatch):
    quiet_asan(monkeypatch)
    pd = petreld_factory(start=False)
    cd = console_factory(pd)
    pd.start()
    name = "team:web"
    fifo = pd.fifo_path(name)  # what petreld makes before a launch
    os.mkfifo(fifo)
    try:
        check_console(cd, name)
    finally:
        os.unlink(fifo)


def check_console(cd, name):
    s, sent, grown = pipeline_until_stalled(cd.sock, console_add_frame(name),
                                            cd.proc.pid)
    print("petrel-console: %d requests taken, RSS +%d KiB" % (sent, grown))

    def answered():
        other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            other.connect(cd.sock)
            other.sendall(console_add_frame(name))
            assert read_replies(other, 1, timeout=30) == 1
        finally:
            other.close()
    assert_backpressure(s, sent, grown, answered)
    assert cd.alive()


# ---------------------------------------------------------------------------
# Half-closed clients


def test_a_half_closed_dump_gets_the_whole_device(petreld):
    pd = petreld
    size_mb = 64
    pd.ok("create-block", "big", str(size_mb))
    c = Raw(pd, ":big", timeout=120)
    try:
        c.command(cmd_dump(0))
        c.s.shutdown(socket.SHUT_WR)
        first = c.reply()
        assert first.kind == "success" and first.tag == 0xAA, first
        n = 0
        while True:
            r = c.reply()
            if r.kind == "end":
                break
            assert r.kind == "chunk", r
            n += len(r.value)
        assert n == size_mb * MiB
        assert c.frame() is None  # then closed
    finally:
        c.close()
    pd.ok("destroy-block", "big")


def test_a_half_closed_info_gets_its_reply(petreld):
    pd = petreld
    c = Raw(pd, ":")
    try:
        c.command(cmd_info())
        c.s.shutdown(socket.SHUT_WR)
        assert c.reply().kind == "success"
        assert c.frame() is None
    finally:
        c.close()


def test_half_closed_pipelined_requests_are_all_answered(petreld):
    """Requests that keep the connection open (policy add), then the
    half-close: every reply comes, then the connection closes (it is not
    kept open for a client that can send nothing more)."""
    pd = petreld
    pd.ok("add-policy", "team:", "--unikernels", "1", "--mem", "64",
          "--cpu", "0")
    count = 20000  # about 1 MB of replies: more than the socket holds
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    s.settimeout(120)
    s.connect(pd.sock)
    # Sent by another thread: petreld reads no more while the replies
    # wait, so sending it all before reading would never finish.
    failed = []

    def send():
        try:
            s.sendall(policy_add_frame("team:") * count)
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            failed.append(e)
    t = threading.Thread(target=send)
    t.start()
    try:
        assert read_replies(s, count) == count
        assert s.recv(1) == b""
    finally:
        t.join(120)
        s.close()
    assert not failed, failed
    pd.ok("info")
