"""petrel-console on its own: the test plays petreld (it sends `console add`
over the socket and creates the FIFO) and the tender (it writes into the
FIFO), and reads through the real client (`petrel console`,
`petrel inactive-consoles`). Needs no root and no network namespace: the
console daemon touches neither."""

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import BUILD_DIR, PETREL_BIN, need_binary
from pthelpers import (der_ctx, der_int, der_null, der_octets, der_seq,
                       der_utf8, tlv, wait_for)

CONSOLE_BIN = BUILD_DIR / "src" / "console" / "petrel-console"


def header(name, seq=0):
    return der_seq(der_int(5), der_octets(seq.to_bytes(8, "big")),
                   der_utf8(name))


def frame(body):
    return len(body).to_bytes(4, "big") + body


def read_frame(sock, timeout=10.0):
    sock.settimeout(timeout)
    buf = b""
    while len(buf) < 4:
        chunk = sock.recv(4 - len(buf))
        if not chunk:
            return None
        buf += chunk
    n = int.from_bytes(buf, "big", signed=True)
    body = b""
    while len(body) < n:
        chunk = sock.recv(n - len(body))
        if not chunk:
            return None
        body += chunk
    return body


def payload_tag(body):
    """The identifier of the payload alternative: 0xA1 success, 0xA2
    failure, ... (after the header SEQUENCE inside the outer one)."""
    assert body[0] == 0x30
    i = 2 if body[1] < 0x80 else 2 + (body[1] & 0x7F)
    assert body[i] == 0x30
    hlen = body[i + 1]
    return body[i + 2 + hlen]


class Console:
    """A petrel-console in a private tmpdir, plus the petreld side of the
    conversation: a persistent control connection for `add`."""

    def __init__(self, tmpdir, max_subs=5, ring_lines=1024):
        self.tmpdir = tmpdir
        self.fifo_dir = os.path.join(tmpdir, "fifo")
        os.makedirs(self.fifo_dir, exist_ok=True)
        self.sock_path = os.path.join(tmpdir, "console", "console.sock")
        self.log = open(os.path.join(tmpdir, "console.log"), "w+")
        self.proc = subprocess.Popen(
            [str(CONSOLE_BIN), "--tmpdir", tmpdir, "-vv",
             "--max-subscribers", str(max_subs),
             "--ring-lines", str(ring_lines)],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(self._answers, what="petrel-console socket")
        self.control = None
        self.seq = 0
        self.writers = {}

    def _answers(self):
        if self.proc.poll() is not None:
            raise AssertionError("petrel-console exited: " + self.logtext())
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(self.sock_path)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def logtext(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def add(self, name, n=2**62 - 1):
        """What petreld does before exec'ing a tender: mkfifo, then `add`."""
        path = os.path.join(self.fifo_dir, name)
        if not os.path.exists(path):
            os.mkfifo(path, 0o660)
        if self.control is None:
            self.control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.control.connect(self.sock_path)
        self.seq += 1
        body = der_seq(header(name, self.seq),
                       der_ctx(0, der_ctx(0, der_ctx(0, der_int(n)))))
        self.control.sendall(frame(body))
        reply = read_frame(self.control)
        assert reply is not None, "console closed the control connection"
        assert payload_tag(reply) == 0xA1, reply.hex()

    def start(self, name):
        """The tender opens the FIFO for writing."""
        fd = os.open(os.path.join(self.fifo_dir, name),
                     os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        self.writers[name] = fd

    def write(self, name, data):
        os.write(self.writers[name], data)

    def stop(self, name):
        """The tender exits: its end of the FIFO closes."""
        os.close(self.writers.pop(name))

    def close(self):
        for fd in self.writers.values():
            os.close(fd)
        if self.control is not None:
            self.control.close()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("petrel-console ignored SIGTERM")
        text = self.logtext()
        self.log.close()
        assert rc == 0, text
        assert "Sanitizer" not in text, text
        assert not os.path.exists(self.sock_path), "socket left behind"


@pytest.fixture
def console():
    need_binary(CONSOLE_BIN)
    need_binary(PETREL_BIN)
    tmpdir = tempfile.mkdtemp(prefix="ptc-", dir="/tmp")
    c = Console(tmpdir, max_subs=2, ring_lines=50)
    try:
        yield c
    finally:
        try:
            c.close()
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)


class Follower:
    """`petrel console` running in the background; its JSON lines are read
    with a deadline."""

    def __init__(self, console, name, *args):
        self.proc = subprocess.Popen(
            [str(PETREL_BIN), "--tmpdir", console.tmpdir, "--json",
             "console", name, *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.buf = b""

    def next(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no output from petrel console; have %r"
                                     % self.buf)
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    raise EOFError(self.proc.stderr.read().decode())
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def lines(self, n, timeout=10.0):
        out = []
        while len(out) < n:
            obj = self.next(timeout)
            if "line" in obj:
                out.append(obj["line"])
        return out

    def ended(self, timeout=10.0):
        """The daemon closed the stream: the client exits."""
        try:
            self.proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()


def run_client(console, *args):
    p = subprocess.run([str(PETREL_BIN), "--tmpdir", console.tmpdir,
                        "--json", *args], capture_output=True, timeout=30)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def last_line(console, name):
    """The newest line in the ring (a --count 1 subscription), or None."""
    f = Follower(console, name, "--count", "1")
    try:
        first = f.next()
        if first.get("message") != "subscribed":
            return None
        try:
            return f.lines(1, timeout=0.5)[0]
        except AssertionError:
            return None
    finally:
        f.close()


def test_history_by_count_then_live(console):
    console.add("a:web")
    console.start("a:web")
    console.write("a:web", b"".join(b"line %d\n" % i for i in range(10)))
    # The history is what reached the ring before the subscription: wait
    # until the last line is there (a probe reading the newest line).
    wait_for(lambda: last_line(console, "a:web") == "line 9",
             what="all ten lines in the ring")
    f = Follower(console, "a:web", "--count", "3")
    try:
        first = f.next()
        assert first.get("message") == "subscribed", first
        assert f.lines(3) == ["line 7", "line 8", "line 9"]
        console.write("a:web", b"live one\nlive two\n")
        assert f.lines(2) == ["live one", "live two"]
    finally:
        f.close()


def test_history_since_time(console):
    console.add("a:web")
    console.start("a:web")
    console.write("a:web", b"old\n")
    # The ring timestamps with the reading time: wait until "old" is in,
    # then take a time strictly after it.
    f = Follower(console, "a:web", "--count", "10")
    assert f.lines(1) == ["old"]
    f.close()
    time.sleep(0.01)  # not synchronisation: makes the clock move past "old"
    # One reading of the clock, in whole milliseconds (two readings, or a
    # rounded fraction, could put `since` before "old").
    t_ms = time.time_ns() // 1000000
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t_ms // 1000))
    since += ".%03dZ" % (t_ms % 1000)
    time.sleep(0.01)
    console.write("a:web", b"new\n")
    g = Follower(console, "a:web", "--count", "10")
    assert g.lines(2) == ["old", "new"]
    g.close()
    h = Follower(console, "a:web", "--since", since)
    try:
        assert h.lines(1) == ["new"]
    finally:
        h.close()


def test_waiting_for_vm(console):
    f = Follower(console, "b:late", "--count", "5")
    try:
        assert f.next().get("message") == "waiting for VM"
        console.add("b:late")
        console.start("b:late")
        console.write("b:late", b"hello\n")
        assert f.lines(1) == ["hello"]
    finally:
        f.close()


def test_subscriber_eviction(console):
    # The fixture allows 2 subscribers per unikernel: a third drops the
    # oldest, whose stream then ends.
    console.add("a:web")
    console.start("a:web")
    subs = []
    try:
        # One after the other, so that "oldest" is well defined.
        for _ in range(3):
            subs.append(Follower(console, "a:web", "--count", "1"))
            assert subs[-1].next().get("message") == "subscribed"
        assert subs[0].ended(), "the oldest subscriber was not dropped"
        assert not subs[1].ended(timeout=0.2)
        console.write("a:web", b"after\n")
        assert subs[1].lines(1) == ["after"]
        assert subs[2].lines(1) == ["after"]
    finally:
        for s in subs:
            s.close()


def inactive(console, path):
    rc, out, err = run_client(console, "inactive-consoles", path)
    assert rc == 0, err
    return sorted(json.loads(out)["consoles"])


def test_ring_eviction_keeps_n_plus_one(console):
    # n = 0 (a path without policy): at most one ring for the path; the
    # oldest inactive one goes, an active one never does.
    console.add("p:one", n=0)
    console.start("p:one")
    console.write("p:one", b"x\n")
    console.stop("p:one")
    wait_for(lambda: inactive(console, "p:") == [":one"], what="p:one inactive")
    console.add("p:two", n=0)
    console.start("p:two")
    assert inactive(console, "p:") == []
    # p:two is active, so adding p:three keeps both live rings.
    console.add("p:three", n=0)
    console.start("p:three")
    console.stop("p:two")
    wait_for(lambda: inactive(console, "p:") == [":two"], what="p:two inactive")
    assert inactive(console, ":") == ["p:two"]


def test_long_line_truncated(console):
    console.add("a:web")
    console.start("a:web")
    console.write("a:web", b"x" * 512 + b"\n" + b"y" * 600 + b"\nshort\n")
    f = Follower(console, "a:web", "--count", "10")
    try:
        lines = f.lines(3)
    finally:
        f.close()
    assert lines[0] == "x" * 512
    assert lines[1] == "y" * 512 + " [truncated]"
    assert lines[2] == "short"


def test_console_survives_restart(console):
    console.add("a:web")
    console.start("a:web")
    console.write("a:web", b"first run\n")
    console.stop("a:web")
    wait_for(lambda: inactive(console, "a:") == [":web"], what="inactive")
    console.add("a:web")          # petreld restarts the unikernel
    console.start("a:web")
    assert inactive(console, "a:") == []
    console.write("a:web", b"second run\n")
    f = Follower(console, "a:web", "--count", "10")
    try:
        assert f.lines(2) == ["first run", "second run"]
    finally:
        f.close()


def raw_subscribe(console, name, arg):
    """Sends a subscribe with a hand-made SubscribeArg; returns the socket
    and the first reply's payload tag."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(console.sock_path)
    s.sendall(frame(der_seq(header(name), der_ctx(0, der_ctx(0, der_ctx(2, arg))))))
    reply = read_frame(s)
    return s, reply


def test_hostile_requests(console):
    console.add("a:web")
    console.start("a:web")
    console.write("a:web", b"one\n")
    # The client refuses silly counts itself...
    for bad in ("0", "-1", "100000"):
        rc, out, err = run_client(console, "console", "a:web", "--count", bad)
        assert rc == 2, (bad, out, err)
    # ...and the daemon refuses them when they come raw.
    for n in (0, -1, -(2**62)):
        s, reply = raw_subscribe(console, ":web", der_ctx(1, der_int(n)))
        assert reply is not None and payload_tag(reply) == 0xA2, (n, reply)
        s.close()
    # A huge count is served from what is there, without looping.
    f = Follower(console, "a:web", "--count", "1024")
    try:
        assert f.lines(1) == ["one"]
    finally:
        f.close()
    s, reply = raw_subscribe(console, "a:web", der_ctx(1, der_int(2**62 - 1)))
    assert payload_tag(reply) == 0xA1
    line = read_frame(s)
    assert line is not None and b"one" in line
    s.close()
    # A time far in the future gives no history but live lines.
    g = Follower(console, "a:web", "--since", "9999-12-31T23:59:59Z")
    try:
        assert g.next().get("message") == "subscribed"
        console.write("a:web", b"two\n")
        assert g.lines(1) == ["two"]
    finally:
        g.close()
    # A path instead of a name, a name instead of a path.
    # The client refuses both itself; the daemon answers raw requests.
    rc, out, err = run_client(console, "console", "a:", "--count", "1")
    assert rc == 2, (out, err)
    s, reply = raw_subscribe(console, "a:", der_ctx(1, der_int(1)))
    assert payload_tag(reply) == 0xA2 and b"path used instead of name" in reply
    s.close()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(console.sock_path)
    s.sendall(frame(der_seq(header("a:web"),
                            der_ctx(0, der_ctx(0, der_ctx(3, der_null()))))))
    reply = read_frame(s)
    assert payload_tag(reply) == 0xA2 and b"name used" in reply
    s.close()


def test_garbage_and_wrong_commands_are_dropped(console):
    # Undecodable frames and commands for other daemons: the connection is
    # closed without a reply, and the daemon carries on.
    for body in (b"\x30\x03\x02\x01\x05",
                 der_seq(header(":"), der_ctx(0, der_ctx(4, der_ctx(0, der_null()))))):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(console.sock_path)
        s.sendall(frame(body))
        assert read_frame(s) is None
        s.close()
    # A forged 2 GiB length: the daemon must not wait for it forever or
    # allocate it; it closes the connection (the frame is above its limit).
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(console.sock_path)
    s.sendall(b"\x7f\xff\xff\xff" + b"\x00" * 16)
    assert read_frame(s) is None
    s.close()
    console.add("a:alive")
    assert console.proc.poll() is None


def test_control_characters_escaped(console):
    console.add("a:web")
    console.start("a:web")
    console.write("a:web", b"\x1b[31mred\x07\n")
    p = subprocess.Popen([str(PETREL_BIN), "--tmpdir", console.tmpdir,
                          "console", "a:web", "--count", "1"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out = b""
        deadline = time.monotonic() + 10
        while b"red" not in out and time.monotonic() < deadline:
            r, _, _ = select.select([p.stdout], [], [], 0.5)
            if r:
                out += os.read(p.stdout.fileno(), 4096)
    finally:
        p.send_signal(signal.SIGINT)
        p.wait(timeout=5)
        p.stdout.close()
        p.stderr.close()
    assert b"red" in out
    assert b"\x1b" not in out and b"\x07" not in out
