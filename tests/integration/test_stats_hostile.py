"""petrel-stats attacked as a hostile tenant and an unlucky operator: a
subscriber that half-closes, a subscriber path next to a unikernel of the
same name, a connection flood on /metrics under a low RLIMIT_NOFILE, an
InfluxDB that answers without end.

Every wait is on a condition with a deadline; gathering runs every 200 ms.
"""

import os
import socket
import struct
import subprocess
import time

import pytest

import pthelpers as H
from test_stats import (StatsDaemon, create, free_port, ns_http_get,  # noqa: F401
                        stats_factory, followers, stats_pid)

SUBSCRIBE = H.der_ctx(0, H.der_ctx(1, H.der_ctx(2, H.der_null())))


def subscribe(sd, name):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(sd.sock)
    body = H.der_seq(H.wire_header(name), SUBSCRIBE)
    s.sendall(struct.pack(">I", len(body)) + body)
    return s


def recv_frame(s):
    n = struct.unpack(">i", H.recv_exact(s, 4))[0]
    assert 0 < n < 1 << 20, "frame length %d" % n
    return H.recv_exact(s, n)


def cpu_seconds(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def hwm_kib(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


@pytest.fixture
def pd(petreld_factory, tender):
    tender.need_scripted()
    return petreld_factory()


def test_half_closed_subscriber_keeps_its_stream(pd, stats_factory, images):
    """A subscriber that half-closes after its request (socat, nc -N) is
    still streamed to: the end of its input is not the end of the
    subscription."""
    sd = stats_factory(pd)
    sd.wait_linked()
    create(pd, images, "web")
    s = subscribe(sd, ":")
    try:
        s.shutdown(socket.SHUT_WR)
        assert b"subscribed" in recv_frame(s)
        for _ in range(3):
            assert b"web" in recv_frame(s)
    finally:
        s.close()


def test_path_does_not_cover_the_unikernel_of_its_name(pd, stats_factory, images,
                                                       followers):
    """The path `web:` is below the root, the unikernel `web` is at the
    root: a subscriber of `web:` gets nothing of `web`, and the path
    totals of `web:` do not count it."""
    port = free_port()
    sd = stats_factory(pd, extra=["--prometheus", str(port)])
    sd.wait_linked()
    pd.ok("add-policy", "web:", "--unikernels", "3", "--mem", "200", "--cpu", "0",
          "--bridge", "br0")
    create(pd, images, "web")
    s = subscribe(sd, "web:")
    try:
        assert b"subscribed" in recv_frame(s)
        everyone = followers(pd, ":")
        everyone.wait(lambda f: sum(r["name"] == ":web" for r in f.records) >= 5,
                      what="five rounds of web")
        s.setblocking(False)
        try:
            got = s.recv(65536)
        except BlockingIOError:
            got = b""
        assert got == b"", "web: was sent %d bytes" % len(got)
    finally:
        s.close()
    url = "http://127.0.0.1:%d/metrics" % port
    H.wait_for(lambda: 'petrel_path_unikernels{path=":"} 1' in ns_http_get(pd.ns, url),
               20, interval=0.2, what="the round in /metrics")
    assert 'petrel_path_unikernels{path="web:"} 0' in ns_http_get(pd.ns, url)


class LimitedStats(StatsDaemon):
    """petrel-stats with a low RLIMIT_NOFILE (soft and hard: it raises the
    soft limit to the hard one)."""
    NOFILE = 40

    def argv(self):
        argv = super().argv()
        i = argv.index("exec") + 2  # ip netns exec NAME <here>
        return argv[:i] + ["/usr/bin/prlimit", "--nofile=%d:%d" % (self.NOFILE, self.NOFILE),
                           "--"] + argv[i:]


HOLD_CONNECTIONS = (
    "import socket, sys\n"
    "held = []\n"
    "for _ in range(%d):\n"
    "    s = socket.socket(); s.settimeout(10)\n"
    "    s.connect(('127.0.0.1', %d)); held.append(s)\n"
    "print('held', flush=True)\n"
    "sys.stdin.read()\n")


def test_metrics_connection_flood_at_the_fd_limit(pd, tmp_path, images):
    """More connections to /metrics than descriptors: petrel-stats does not
    spin on accept (nor flood its log), and serves again once they go."""
    port = free_port()
    sd = LimitedStats(pd, tmp_path, extra=["--prometheus", str(port)])
    sd.start()
    try:
        sd.wait_linked()
        create(pd, images, "web")
        holder = subprocess.Popen(pd.ns.exec_argv(
            ["/usr/bin/python3", "-c", HOLD_CONNECTIONS % (3 * LimitedStats.NOFILE, port)]),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline().strip() == "held"
            H.wait_for(lambda: len(os.listdir("/proc/%d/fd" % stats_pid(sd)))
                       >= LimitedStats.NOFILE - 1, 20, what="the descriptors to run out")
            before, t0 = cpu_seconds(stats_pid(sd)), time.monotonic()
            log0 = len(sd.log_text())
            time.sleep(2)  # measuring a rate over a span, not waiting for an event
            used = cpu_seconds(stats_pid(sd)) - before
            span = time.monotonic() - t0
            grown = len(sd.log_text()) - log0
        finally:
            holder.stdin.close()
            holder.wait(30)
        assert used < 0.5 * span, "%.2f s of CPU in %.2f s at EMFILE" % (used, span)
        assert grown < 20000, "the log grew by %d bytes in %.2f s" % (grown, span)
        url = "http://127.0.0.1:%d/metrics" % port
        H.wait_for(lambda: 'name=":web"' in ns_http_get(pd.ns, url), 40, interval=0.5,
                   what="/metrics to answer again")
        assert sd.alive()
    finally:
        problems = sd.final_check()
        assert not problems, problems


ENDLESS_ANSWER = (
    "import socket, sys\n"
    "l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "l.bind(('127.0.0.1', %d)); l.listen(1); l.settimeout(60)\n"
    "c, _ = l.accept(); c.settimeout(30)\n"
    "buf = b''\n"
    "while b'\\r\\n\\r\\n' not in buf:\n"
    "    buf += c.recv(65536)\n"
    "mode = %r\n"
    "if mode == 'body':\n"
    "    c.sendall(b'HTTP/1.1 200 OK\\r\\nContent-Length: 100000000000\\r\\n\\r\\n')\n"
    "    chunk = b'x' * (1 << 20)\n"
    "else:\n"
    "    c.sendall(b'HTTP/1.1 204 No Content\\r\\n')\n"
    "    chunk = (b'X-Junk: ' + b'a' * 1000 + b'\\r\\n') * 1000\n"
    "sent = 0\n"
    "try:\n"
    "    while sent < (300 << 20):\n"
    "        c.sendall(chunk); sent += len(chunk)\n"
    "except OSError:\n"
    "    pass\n"
    "print(sent, flush=True)\n")


@pytest.mark.parametrize("mode", ["body", "headers"])
def test_influx_http_answer_without_end(pd, stats_factory, images, mode):
    """An InfluxDB (or anything on that port) that answers a write with an
    endless body or endless headers: petrel-stats reads a bounded amount,
    drops the connection and keeps its memory."""
    port = free_port()
    sd = stats_factory(pd, extra=["--influx-url", "http://127.0.0.1:%d/write?db=x" % port])
    sd.wait_linked()
    create(pd, images, "web")
    pid = stats_pid(sd)
    base = hwm_kib(pid)
    r = subprocess.run(pd.ns.exec_argv(["/usr/bin/python3", "-c", ENDLESS_ANSWER % (port, mode)]),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    sent = int(r.stdout)
    assert sent < (64 << 20), "petrel-stats took %d bytes of an answer" % sent
    assert hwm_kib(pid) - base < 64 * 1024, "peak memory grew by %d KiB" % (hwm_kib(pid) - base)
    assert sd.alive()


def test_subscribers_that_go_away_free_their_places(pd, stats_factory):
    """Subscribers of a name nothing runs under that close at once (a
    half-close keeps the stream, a close must not keep the place): the
    places among --max-subscribers come back."""
    sd = stats_factory(pd, extra=["--max-subscribers", "2"])
    sd.wait_linked()
    for i in range(6):
        def subscribed():
            s = subscribe(sd, "nothing%d:" % i)
            try:
                return b"subscribed" in recv_frame(s)
            finally:
                s.close()
        H.wait_for(subscribed, 20, interval=0.1, what="subscriber %d to be let in" % i)
