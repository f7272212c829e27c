"""petrel-stats next to petreld (issue 12): petrel-stats links to petreld
(`stats initial`, then `stats add` / `remove`), meters the stand-in
tenders (/proc, one link dump for the taps) and serves the rounds on
stat.sock to `petrel stats`, to a real Prometheus and a real InfluxDB.

Every wait is on a condition with a deadline; gathering runs every 200 ms.
"""

import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

import pthelpers as H
from conftest import (BUILD_DIR, PETREL_BIN, can_connect, need_binary,
                      sanitizer_report)

STATS_BIN = BUILD_DIR / "src" / "stats" / "petrel-stats"
INTERVAL_MS = 200


class StatsDaemon:
    def __init__(self, pd, logdir, extra=()):
        self.pd = pd
        self.sock = os.path.join(pd.tmpdir, "util", "stat.sock")
        self.logfile = Path(logdir) / ("petrel-stats-%s.log" % os.path.basename(pd.base))
        self.extra = list(extra)
        self.proc = None
        self.starts = 0

    def argv(self):
        return self.pd.ns.exec_argv([
            need_binary(STATS_BIN), "--tmpdir", self.pd.tmpdir,
            "--interval", str(INTERVAL_MS), "-vv"] + self.extra)

    def start(self, timeout=20):
        assert not self.alive()
        self.starts += 1
        with open(self.logfile, "ab") as log:
            log.write(("\n=== start %d: %s\n" % (self.starts, " ".join(self.argv()))).encode())
            log.flush()
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log)

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("petrel-stats exited with %s:\n%s"
                                     % (self.proc.returncode, self.log_text(4000)))
            return can_connect(self.sock)
        H.wait_for(ready, timeout, what="petrel-stats's socket")
        return self

    def wait_linked(self, timeout=20):
        H.wait_for(lambda: self.log_text().count("linked to petreld") >= self.starts,
                   timeout, what="petrel-stats to link to petreld")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def log_text(self, tail=None):
        try:
            text = self.logfile.read_text(errors="replace")
        except OSError:
            return ""
        return text[-tail:] if tail else text

    def final_check(self):
        problems = []
        if self.alive():
            rc = self.stop()
            if rc != 0:
                problems.append("petrel-stats exited with %s on SIGTERM" % rc)
            elif os.path.exists(self.sock):
                problems.append("petrel-stats left its socket %s" % self.sock)
        mark = sanitizer_report(self.log_text())
        if mark:
            problems.append("petrel-stats's log has a sanitizer report (%s)" % mark)
        return problems


@pytest.fixture
def stats_factory(request, petreld_factory, tmp_path):
    made = []

    def start(pd, start=True, **kw):
        sd = StatsDaemon(pd, tmp_path, **kw)
        made.append(sd)
        if start:
            sd.start()
        return sd

    yield start
    problems = []
    for sd in made:
        problems += sd.final_check()
    if problems:
        pytest.fail("petrel-stats left a mess:\n  " + "\n  ".join(problems))


@pytest.fixture
def linked(petreld_factory, stats_factory, tender):
    """A petreld and a petrel-stats linked to it; returns the StatsDaemon
    (its .pd is the petreld)."""
    tender.need_scripted()
    pd = petreld_factory()
    sd = stats_factory(pd)
    sd.wait_linked()
    return sd


def uk_image(images):
    return images.path("hvt", nets=["service"])


def create(pd, images, name, *args):
    pd.ok("create", name, uk_image(images), "--net", "service:br0",
          "--arg", "echo", *args)


def stats_json(pd, name, timeout=20):
    """`petrel --json stats NAME` until it shows a record; the records."""
    got = []

    def once():
        r = pd.petrel("stats", name, json=True, timeout=30)
        if r.rc != 0:
            return False
        got[:] = [json.loads(l) for l in r.out.splitlines() if l.strip()]
        return len(got) > 0
    H.wait_for(once, timeout, interval=0.1, what="petrel stats %s" % name)
    return got


def send_frames(ns, count=5, size=200):
    """Broadcast Ethernet frames on br0: the bridge floods them to every
    tap, i.e. from the host to the unikernels."""
    code = (
        "import socket\n"
        "s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n"
        "s.bind(('br0', 0))\n"
        "f = b'\\xff' * 6 + b'\\x02\\x00\\x00\\x00\\x00\\x01' + b'\\x88\\xb5' + b'x' * %d\n"
        "for _ in range(%d): s.send(f)\n" % (size, count))
    subprocess.run(ns.exec_argv(["/usr/bin/python3", "-c", code]), check=True,
                   timeout=30)


class Follower:
    """`petrel --json stats NAME --follow` in the background."""

    def __init__(self, pd, name):
        self.proc = subprocess.Popen(
            [need_binary(PETREL_BIN), "--tmpdir", pd.tmpdir, "--json", "stats",
             name, "--follow"], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.buf = b""
        self.records = []

    def pump(self, timeout=0.1):
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if r:
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                return False
            self.buf += chunk
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                self.records.append(json.loads(line))
        return True

    def names(self):
        return {r["name"] for r in self.records}

    def wait(self, cond, timeout=20, what="records"):
        def step():
            if not self.pump():
                raise AssertionError("petrel stats --follow ended: %s"
                                     % self.proc.stderr.read().decode(errors="replace"))
            return cond(self)
        H.wait_for(step, timeout, interval=0, what=what)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(10)
        err = self.proc.stderr.read().decode(errors="replace")
        assert sanitizer_report(err) is None, err


@pytest.fixture
def followers():
    made = []

    def start(pd, name):
        f = Follower(pd, name)
        made.append(f)
        return f
    yield start
    for f in made:
        f.stop()


# ---------------------------------------------------------------------------
# petrel stats


def test_stats_of_a_unikernel_and_its_tap(linked, images):
    """CPU, memory and the tap's counters of one unikernel; frames sent
    into its tap move them."""
    pd = linked.pd
    create(pd, images, "web")
    [rec] = stats_json(pd, "web")
    assert rec["name"] == ":web"  # the full name: no path to drop
    assert rec["kinfo_mem"]["vsize"] > 0
    assert rec["kinfo_mem"]["rss"] > 0
    assert rec["rusage"]["maxrss"] > 0
    assert rec["kinfo_mem"]["start"] > 1.6e9
    [tap] = rec["ifdata"]
    assert tap["bridge"] == "service"  # the manifest's name (§6.8)
    before = tap["output_packets"]
    send_frames(pd.ns, count=5)

    def moved():
        [r] = stats_json(pd, "web")
        t = r["ifdata"][0]
        # The tender echoes what it reads: the counters move both ways.
        return t["output_packets"] >= before + 5 and t["input_packets"] >= 5
    H.wait_for(moved, 20, interval=0.1, what="the tap counters to move")
    # No KVM in the stand-in: the list is there, and empty.
    assert stats_json(pd, "web")[0]["vmm"] == {}


def test_text_output(linked, images):
    pd = linked.pd
    create(pd, images, "web")
    stats_json(pd, "web")
    r = pd.ok("stats", "web")
    assert r.out.startswith(":web\n")
    assert "cpu      user" in r.out and "net      service:" in r.out


def test_path_subscribers_get_relative_names(linked, images, followers):
    """Several subscribers at once (albatross keeps one per name); names
    relative to the subscriber's path (§8.3)."""
    pd = linked.pd
    pd.ok("add-policy", "a:", "--unikernels", "4", "--mem", "256", "--cpu", "0",
          "--bridge", "br0")
    create(pd, images, "a:x")
    create(pd, images, "a:b:y")
    create(pd, images, "top")
    f1 = followers(pd, "a:")
    f2 = followers(pd, "a:")
    froot = followers(pd, ":")
    fone = followers(pd, "a:x")
    for f in (f1, f2):
        f.wait(lambda f: f.names() >= {":x", "b:y"}, what="a:'s records")
    froot.wait(lambda f: f.names() >= {"a:x", "a:b:y", ":top"}, what="root's records")
    fone.wait(lambda f: len(f.records) >= 3, what="a:x's records")
    assert f1.names() == {":x", "b:y"}
    assert fone.names() == {":x"}
    # A path without --follow: the first round, each name once.
    r = pd.ok("stats", "a:", json=True)
    names = [json.loads(l)["name"] for l in r.out.splitlines()]
    assert sorted(names) == [":x", "b:y"]


def test_exit_removes_and_restart_re_adds(linked, images, followers):
    """An exit sends `stats remove`; a restart's new tender is added
    again (petreld: one call at launch, one at exit)."""
    pd = linked.pd
    create(pd, images, "web")
    create(pd, images, "db")
    f = followers(pd, ":")
    f.wait(lambda f: f.names() >= {":web", ":db"})
    pd.ok("destroy", "web")
    H.wait_for(lambda: ":web: no longer monitored" in linked.log_text(), 20,
               what="the stats remove of web")
    # After the remove, only db's records come.
    n = len(f.records)
    f.wait(lambda f: len(f.records) >= n + 6, what="more rounds")
    assert all(r["name"] == ":db" for r in f.records[n + 1:])
    old_pid = pd.tender_of(":db")[0]
    pd.ok("restart", "db")
    H.wait_for(lambda: linked.log_text().count(":db: monitoring pid") >= 2, 20,
               what="the restarted db to be added again")
    assert "monitoring pid %d" % old_pid in linked.log_text()
    n = len(f.records)
    f.wait(lambda f: len(f.records) >= n + 3, what="db's records after its restart")


def test_slow_subscriber_is_dropped(petreld_factory, stats_factory, tender,
                                    images, followers):
    tender.need_scripted()
    pd = petreld_factory()
    sd = stats_factory(pd, extra=["--subscriber-queue", "4096"])
    sd.wait_linked()
    for i in range(4):
        create(pd, images, "u%d" % i)
    # A raw subscriber that never reads.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(sd.sock)
    body = H.der_seq(H.wire_header(":"), H.der_ctx(0, H.der_ctx(1, H.der_ctx(2, H.der_null()))))
    s.sendall(struct.pack(">I", len(body)) + body)
    good = followers(pd, ":")
    try:
        H.wait_for(lambda: "dropping a subscriber that does not read" in sd.log_text(),
                   60, what="the slow subscriber to be dropped")
        n = len(good.records)
        good.wait(lambda f: len(f.records) >= n + 8, what="the reader to go on")
        # The dropped one gets the end of its stream once it reads.
        s.settimeout(10)
        while s.recv(65536):
            pass
    finally:
        s.close()


def test_restarted_stats_relinks(linked, images):
    """petrel-stats restarted: it links again and gets every running
    unikernel with its initial; petreld goes on without it meanwhile."""
    pd = linked.pd
    create(pd, images, "web")
    stats_json(pd, "web")
    assert linked.stop() == 0
    create(pd, images, "db")  # while petrel-stats is away
    linked.start()
    linked.wait_linked()
    stats_json(pd, "web")
    stats_json(pd, "db")


def test_stats_before_petreld(petreld_factory, stats_factory, tender, images):
    """petrel-stats started first waits for petreld and links once it
    answers."""
    tender.need_scripted()
    pd = petreld_factory(start=False)
    sd = stats_factory(pd)
    pd.start()
    sd.wait_linked()
    create(pd, images, "web")
    stats_json(pd, "web")


def test_only_two_capabilities_remain(linked):
    status = Path("/proc/%d/status" % stats_pid(linked)).read_text()
    caps = {l.split(":")[0]: int(l.split(":")[1], 16) for l in status.splitlines()
            if l.startswith("Cap")}
    want = (1 << 2) | (1 << 19)  # CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE
    assert caps["CapEff"] == want and caps["CapPrm"] == want
    assert caps["CapBnd"] == want and caps["CapAmb"] == 0
    assert "NoNewPrivs:\t1" in status


def stats_pid(sd):
    # `ip netns exec` execs the daemon: the pid is petrel-stats's own.
    return sd.proc.pid


def test_stats_add_from_a_client_is_refused(linked):
    r = H.wire_request(linked.sock, H.der_seq(
        H.wire_header(":x"), H.der_ctx(0, H.der_ctx(1, H.der_ctx(1, H.der_null())))))
    assert b"petreld's link only" in r


# ---------------------------------------------------------------------------
# Prometheus


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def http_get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode()


def ns_http_get(ns, url):
    code = ("import urllib.request,sys\n"
            "r = urllib.request.urlopen(%r, timeout=10)\n"
            "sys.stdout.write(r.read().decode())\n" % url)
    r = subprocess.run(ns.exec_argv(["/usr/bin/python3", "-c", code]),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_metrics_endpoint(petreld_factory, stats_factory, tender, images):
    tender.need_scripted()
    pd = petreld_factory()
    port = 9000 + os.getpid() % 500
    sd = stats_factory(pd, extra=["--prometheus", str(port)])
    sd.wait_linked()
    pd.ok("add-policy", "team:", "--unikernels", "3", "--mem", "200", "--cpu", "0",
          "--bridge", "br0")
    create(pd, images, "team:web", "--mem", "32")
    url = "http://127.0.0.1:%d/metrics" % port

    def has_all():
        t = ns_http_get(pd.ns, url)
        return ('petrel_unikernel_cpu_seconds_total{name="team:web",path="team:",mode="user"}' in t
                and 'petrel_interface_transmit_packets_total{name="team:web",path="team:",'
                    'interface="vmmtap' in t
                and 'petrel_path_unikernels_limit{path="team:"} 3' in t
                and 'petrel_path_memory_configured_bytes{path="team:"} 33554432' in t)
    H.wait_for(has_all, 20, interval=0.2, what="the metrics of team:web")
    text = ns_http_get(pd.ns, url)
    assert "# TYPE petrel_unikernel_cpu_seconds_total counter" in text
    assert 'bridge="br0"' in text
    assert 'petrel_path_unikernels{path="team:"} 1' in text
    for line in text.splitlines():
        if line.startswith("# TYPE") and line.endswith(" counter"):
            assert line.split()[2].endswith("_total"), line


def prometheus_bin():
    p = shutil.which("prometheus")
    if p is None:
        pytest.skip("prometheus is not installed (apt-get install prometheus; "
                    "scripts/install-deps.sh does)")
    return p


def test_real_prometheus_scrapes_cpu_series(petreld_factory, stats_factory, tender,
                                            images, tmp_path):
    """A real Prometheus (Debian's package), in the same namespace on
    loopback, scrapes petrel-stats; its query API returns the unikernel's
    CPU series."""
    tender.need_scripted()
    prom = prometheus_bin()
    pd = petreld_factory()
    sport, pport = 9100, 9090
    sd = stats_factory(pd, extra=["--prometheus", "127.0.0.1:%d" % sport])
    sd.wait_linked()
    create(pd, images, "web")
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                   "scrape_configs:\n  - job_name: petrel\n    static_configs:\n"
                   "      - targets: ['127.0.0.1:%d']\n" % sport)
    log = open(tmp_path / "prometheus.log", "wb")
    p = subprocess.Popen(pd.ns.exec_argv([
        prom, "--config.file=%s" % cfg, "--storage.tsdb.path=%s" % (tmp_path / "tsdb"),
        "--web.listen-address=127.0.0.1:%d" % pport]),
        stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        q = urllib.parse.quote('petrel_unikernel_cpu_seconds_total{name=":web",mode="user"}')
        url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (pport, q)
        got = {}

        def answered():
            if p.poll() is not None:
                pytest.skip("prometheus could not start: %s"
                            % (tmp_path / "prometheus.log").read_text()[-2000:])
            try:
                data = json.loads(ns_http_get(pd.ns, url))
            except AssertionError:
                return False
            got["r"] = data
            return data.get("status") == "success" and data["data"]["result"]
        H.wait_for(answered, 60, interval=0.5, what="prometheus to have the CPU series")
        [series] = got["r"]["data"]["result"]
        assert series["metric"]["name"] == ":web"
        assert series["metric"]["path"] == ":"
        assert series["metric"]["job"] == "petrel"
        assert float(series["value"][1]) >= 0
    finally:
        p.terminate()
        p.wait(30)
        log.close()


# ---------------------------------------------------------------------------
# InfluxDB


def influxd_bin():
    p = shutil.which("influxd")
    if p is None:
        pytest.skip("influxd is not installed (apt-get install influxdb; "
                    "scripts/install-deps.sh does)")
    return p


def start_influxd(ns, tmp_path, port):
    d = tmp_path / "influx"
    d.mkdir()
    conf = d / "influxdb.conf"
    conf.write_text(
        'reporting-disabled = true\nbind-address = "127.0.0.1:%d"\n'
        '[meta]\n  dir = "%s/meta"\n'
        '[data]\n  dir = "%s/data"\n  wal-dir = "%s/wal"\n  query-log-enabled = false\n'
        '[http]\n  enabled = true\n  bind-address = "127.0.0.1:%d"\n  log-enabled = false\n'
        '[monitor]\n  store-enabled = false\n'
        '[continuous_queries]\n  enabled = false\n'
        % (port + 1, d, d, d, port))
    log = open(d / "influxd.log", "wb")
    p = subprocess.Popen(ns.exec_argv([influxd_bin(), "-config", str(conf)]),
                         stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    return p, log, d


def influx_query(ns, port, q, db="petrel", post=False):
    params = urllib.parse.urlencode({"q": q, "db": db})
    code = ("import urllib.request,sys\n"
            "u = 'http://127.0.0.1:%d/query?%s'\n"
            "r = urllib.request.urlopen(urllib.request.Request(u, data=%s), timeout=10)\n"
            "sys.stdout.write(r.read().decode())\n"
            % (port, params, "b''" if post else "None"))
    r = subprocess.run(ns.exec_argv(["/usr/bin/python3", "-c", code]),
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        return None
    return json.loads(r.stdout)


def test_real_influxdb_gets_albatross_measurements(petreld_factory, stats_factory,
                                                   tender, images, tmp_path):
    tender.need_scripted()
    influxd_bin()
    pd = petreld_factory()
    port = 8086
    p, log, d = start_influxd(pd.ns, tmp_path, port)
    try:
        def up():
            if p.poll() is not None:
                pytest.skip("influxd could not start: %s"
                            % (d / "influxd.log").read_text()[-2000:])
            return influx_query(pd.ns, port, "CREATE DATABASE petrel", post=True) is not None
        H.wait_for(up, 60, interval=0.3, what="influxd to answer")
        sd = stats_factory(pd, extra=["--influx-url",
                                      "http://127.0.0.1:%d/write?db=petrel" % port])
        sd.wait_linked()
        create(pd, images, "team:web")
        got = {}

        def points():
            r = influx_query(pd.ns, port, 'SELECT * FROM "interface" WHERE vm=\'team:web\'')
            if r is None:
                return False
            series = r["results"][0].get("series")
            got["s"] = series
            return bool(series)
        H.wait_for(points, 30, interval=0.3, what="interface points in influxd")
        cols = got["s"][0]["columns"]
        for f in ("bridge", "vm", "host_to_vm_packets", "vm_to_host_bytes", "mtu"):
            assert f in cols, cols
        row = dict(zip(cols, got["s"][0]["values"][0]))
        assert row["bridge"] == "service"
        for m, fields in (("resource_usage", ("utime", "stime", "maxrss", "nvcsw")),
                          ("kinfo_mem", ("vsize", "rss", "runtime", "uptime"))):
            r = influx_query(pd.ns, port, 'SELECT * FROM "%s" WHERE vm=\'team:web\'' % m)
            [s] = r["results"][0]["series"]
            for f in fields:
                assert f in s["columns"], (m, s["columns"])
    finally:
        p.terminate()
        p.wait(30)
        log.close()


def test_influx_tcp_queue_and_reconnect(petreld_factory, stats_factory, tender,
                                        images):
    """--influx HOST:PORT: line protocol over TCP; while the server is
    away rounds queue up (the oldest dropped beyond --influx-queue), then
    the writer reconnects and delivers."""
    tender.need_scripted()
    pd = petreld_factory()
    port = 8200 + os.getpid() % 500
    sd = stats_factory(pd, extra=["--influx", "127.0.0.1:%d" % port,
                                  "--influx-queue", "5"])
    sd.wait_linked()
    create(pd, images, "web")
    H.wait_for(lambda: "InfluxDB is away" in sd.log_text(), 30,
               what="the queue to fill while nobody listens")
    code = (
        "import socket,sys\n"
        "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "s.bind(('127.0.0.1', %d)); s.listen(1); s.settimeout(90)\n"
        "c, _ = s.accept(); c.settimeout(30); buf = b''\n"
        "while buf.count(b'\\nresource_usage,') < 8:\n"
        "    d = c.recv(65536)\n"
        "    if not d: break\n"
        "    buf += d\n"
        "sys.stdout.write(buf.decode())\n" % port)
    r = subprocess.run(pd.ns.exec_argv(["/usr/bin/python3", "-c", code]),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert any(l.startswith("resource_usage,vm=:web utime=") for l in lines)
    assert any(l.startswith("kinfo_mem,vm=:web vsize=") for l in lines)
    assert any(l.startswith("interface,vm=:web,bridge=service send_queue_length=0i")
               for l in lines)
    H.wait_for(lambda: "InfluxDB reachable again" in sd.log_text(), 20,
               what="the reconnect to be logged")


# ---------------------------------------------------------------------------
# albatross-client's bytes (albatross-wire.md §13, produced by albatross's
# own encoder: albatross-client is not packaged and cannot run here)

STATS_SUBSCRIBE_FOO = bytes.fromhex(
    "301D3013020105040800000000000000000C04666F6F3AA006A104A2020500")
STATS_INITIAL_ROOT = bytes.fromhex(
    "301A3010020105040800000000000000000C013AA006A104A3020500")


def test_albatross_client_stats_subscribe(linked, images):
    """The stats subscribe albatross-client sends (§13) is what `petrel
    stats` sends, and petrel-stats answers it and streams."""
    pd = linked.pd
    r = pd.ok("--socket=-", "stats", "foo:", tmpdir=False)
    assert bytes.fromhex(r.out.strip()) == STATS_SUBSCRIBE_FOO
    pd.ok("add-policy", "foo:", "--unikernels", "1", "--mem", "64", "--cpu", "0",
          "--bridge", "br0")
    create(pd, images, "foo:hello")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    try:
        s.connect(linked.sock)
        s.sendall(struct.pack(">I", len(STATS_SUBSCRIBE_FOO)) + STATS_SUBSCRIBE_FOO)
        n = struct.unpack(">I", H.recv_exact(s, 4))[0]
        reply = H.recv_exact(s, n)
        # header echoed, success [1] string [1] "subscribed"
        assert reply == H.der_seq(H.wire_header("foo:"), H.der_ctx(1, H.der_ctx(
            1, H.der_utf8("subscribed"))))
        n = struct.unpack(">I", H.recv_exact(s, 4))[0]
        data = H.recv_exact(s, n)
        # data [3] stats [1], named ":hello" relative to foo:
        assert H.wire_header(":hello") in data
        assert b"\xa3" in data and b"service" in data
    finally:
        s.close()


def test_stats_initial_vector_to_petreld(petreld_factory, tender, images):
    """albatross-stats's `stats initial` (§13) gets `empty` from petreld,
    then a `stats add` per running unikernel on the same connection
    (before: "unknown command")."""
    tender.need_scripted()
    pd = petreld_factory()
    create(pd, images, "hello")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    try:
        s.connect(pd.sock)
        s.sendall(struct.pack(">I", len(STATS_INITIAL_ROOT)) + STATS_INITIAL_ROOT)
        n = struct.unpack(">I", H.recv_exact(s, 4))[0]
        assert H.recv_exact(s, n) == H.der_seq(H.wire_header(":"),
                                               H.der_ctx(1, H.der_ctx(0, H.der_null())))
        n = struct.unpack(">I", H.recv_exact(s, 4))[0]
        add = H.recv_exact(s, n)
        # sequence = the initial's + 1, the full name, stats add [0]
        assert H.wire_header(":hello", 1) in add
        assert b"\xa0" in add and b"vmmtap" in add and b"service" in add
        # Answered, the link stays; an exit sends the remove.
        body = H.der_seq(H.wire_header(":hello", 1),
                         H.der_ctx(1, H.der_ctx(1, H.der_utf8("added"))))
        s.sendall(struct.pack(">I", len(body)) + body)
        pd.ok("destroy", "hello")
        n = struct.unpack(">I", H.recv_exact(s, 4))[0]
        rm = H.recv_exact(s, n)
        assert rm == H.der_seq(H.wire_header(":hello", 2), H.der_ctx(0, H.der_ctx(
            1, H.der_ctx(1, H.der_null()))))
    finally:
        s.close()


def test_influx_v2_api_with_token(petreld_factory, stats_factory, tender, images,
                                  tmp_path):
    """--influx-url to a 2.x /api/v2/write with --influx-token-file: the
    token goes as `Authorization: Token ...`; a failing server keeps the
    rounds queued until it accepts them."""
    tender.need_scripted()
    pd = petreld_factory()
    port = 8700 + os.getpid() % 500
    token = tmp_path / "token"
    token.write_text("s3cr3t-token\n")
    out = tmp_path / "requests.json"
    code = (
        "import http.server, json, sys\n"
        "seen = []\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_POST(self):\n"
        "        body = self.rfile.read(int(self.headers['Content-Length']))\n"
        "        seen.append({'path': self.path, 'auth': self.headers.get('Authorization'),\n"
        "                     'body': body.decode()})\n"
        "        # The first two fail: the rounds must come again.\n"
        "        self.send_response(503 if len(seen) <= 2 else 204)\n"
        "        self.send_header('Content-Length', '0'); self.end_headers()\n"
        "        if len(seen) >= 4:\n"
        "            open(%r, 'w').write(json.dumps(seen)); sys.exit(0)\n"
        "    def log_message(self, *a): pass\n"
        "http.server.HTTPServer(('127.0.0.1', %d), H).serve_forever()\n"
        % (str(out), port))
    srv = subprocess.Popen(pd.ns.exec_argv(["/usr/bin/python3", "-c", code]),
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        sd = stats_factory(pd, extra=[
            "--influx-url", "http://127.0.0.1:%d/api/v2/write?org=o&bucket=b&precision=ns" % port,
            "--influx-token-file", str(token)])
        sd.wait_linked()
        create(pd, images, "web")
        H.wait_for(lambda: out.exists(), 90, interval=0.2,
                   what="four write requests")
        seen = json.loads(out.read_text())
        for r in seen:
            assert r["path"] == "/api/v2/write?org=o&bucket=b&precision=ns"
            assert r["auth"] == "Token s3cr3t-token"
        # What failed came again, first in the next request.
        first = seen[0]["body"].splitlines()[0]
        assert first in seen[2]["body"].splitlines()
        assert "InfluxDB reachable again" in sd.log_text()
    finally:
        if srv.poll() is None:
            srv.kill()
        srv.wait(10)


# ---------------------------------------------------------------------------
# KVM statistics of a real VM (the stand-in tender has none)

KVM_HOLDER = r"""
import fcntl, os, sys, time
kvm = os.open('/dev/kvm', os.O_RDWR | os.O_CLOEXEC)
vm = fcntl.ioctl(kvm, 0xAE01, 0)         # KVM_CREATE_VM
vcpu = fcntl.ioctl(vm, 0xAE41, 0)        # KVM_CREATE_VCPU 0
if 'own' in sys.argv:
    # What a tender must do for its statistics to be visible: KVM answers
    # KVM_GET_STATS_FD only to the VM's creator.
    vm_stats = fcntl.ioctl(vm, 0xAECE, 0)
    vcpu_stats = fcntl.ioctl(vcpu, 0xAECE, 0)
sys.stdout.write('ready\n'); sys.stdout.flush()
sys.stdin.read()                         # until the test closes stdin
"""


@pytest.mark.parametrize("own", [True, False], ids=["own-stats-fds", "vm-fds-only"])
def test_kvm_statistics_of_a_vm(stats_factory, petreld_factory, tender, tmp_path, own):
    """A process holding a real KVM VM and vCPU, announced by a stand-in
    petreld (this test, on its own vmmd.sock). When it keeps KVM's
    statistics files open, petrel-stats copies them with pidfd_getfd and
    sends the counters as vmm-stats; when it holds only the VM and vCPU,
    KVM refuses KVM_GET_STATS_FD to anyone but their creator, and the list
    is empty: nothing fails."""
    if not os.path.exists("/dev/kvm"):
        pytest.skip("no /dev/kvm on this host")
    tender.need_scripted()
    holder = subprocess.Popen(["/usr/bin/python3", "-c", KVM_HOLDER] +
                              (["own"] if own else []),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    try:
        line = holder.stdout.readline()
        if line != b"ready\n":
            pytest.skip("cannot create a KVM VM here: %s"
                        % holder.stderr.read().decode(errors="replace")[-500:])
        pd = petreld_factory(start=False)  # only its directories are used
        os.makedirs(os.path.join(pd.tmpdir, "util"), exist_ok=True)
        lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lsock.bind(pd.sock)
        lsock.listen(1)
        lsock.settimeout(30)
        # Not in a namespace: the holder runs in the host's.
        sd = StatsDaemon(pd, tmp_path)
        sd.argv = lambda: [need_binary(STATS_BIN), "--tmpdir", pd.tmpdir,
                           "--interval", str(INTERVAL_MS), "-vv"]
        sd.start()
        c, _ = lsock.accept()
        c.settimeout(30)
        n = struct.unpack(">I", H.recv_exact(c, 4))[0]
        assert H.recv_exact(c, n) == STATS_INITIAL_ROOT
        ok = H.der_seq(H.wire_header(":"), H.der_ctx(1, H.der_ctx(0, H.der_null())))
        c.sendall(struct.pack(">I", len(ok)) + ok)
        add = H.der_seq(H.wire_header(":vm", 1), H.der_ctx(0, H.der_ctx(1, H.der_ctx(
            0, H.der_seq(H.der_utf8(""), H.der_int(holder.pid), H.der_seq())))))
        c.sendall(struct.pack(">I", len(add)) + add)
        n = struct.unpack(">I", H.recv_exact(c, 4))[0]
        assert H.recv_exact(c, n) == H.der_seq(H.wire_header(":vm", 1), H.der_ctx(
            1, H.der_ctx(1, H.der_utf8("added"))))
        r = subprocess.run([need_binary(PETREL_BIN), "--tmpdir", pd.tmpdir, "--json",
                            "stats", "vm"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        [rec] = [json.loads(l) for l in r.stdout.splitlines()]
        vmm = rec["vmm"]
        if own:
            # VM-wide and per-vCPU counters (names from the kernel's stats
            # descriptors; a vCPU that never ran has exited 0 times).
            assert "exits" in vmm and "halt_exits" in vmm, vmm
            assert vmm["exits"] == 0
            assert any(k.startswith("remote_tlb_flush") for k in vmm), vmm
        else:
            assert vmm == {}
            H.wait_for(lambda: "KVM answers only the VM's creator" in sd.log_text(),
                       10, what="the refusal to be logged")
        c.close()
        lsock.close()
        assert sd.stop() == 0
        assert sanitizer_report(sd.log_text()) is None
    finally:
        holder.stdin.close()
        holder.wait(10)
