"""petreld as a daemon: its socket (stale socket, a second instance,
systemd socket activation), SIGTERM and restart bringing the unikernels
back in startup order, its state file, and reading albatross state files
(albatross-wire.md §10)."""

import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest

import pthelpers as H
from conftest import PETREL_BIN


def run_image(images, nets=("service",)):
    return images.path("hvt", nets=list(nets))


def assert_host_clean(pd):
    assert pd.tenders() == {}, pd.tenders()
    assert pd.ns.taps() == []
    assert H.fifos_under(pd.tmpdir) == []
    assert [f for f in H.files_under(pd.tmpdir) if f.endswith(".img")] == []


# ---------------------------------------------------------------------------
# SIGTERM and restart


def test_sigterm_and_restart_bring_unikernels_back(petreld, images, tender):
    tender.need_scripted()
    pd = petreld
    img = run_image(images)
    # Created in the order a, b, c: taps vmmtap0, 1, 2.
    pd.ok("create", "a", img, "--net", "service:br0", "--startup", "90",
          "--arg", "run", "--arg", "A")
    pd.ok("create", "team:b", img, "--net", "service:br0", "--restart-on-fail",
          "--arg", "run", "--arg", "B")
    pd.ok("create", "c", img, "--net", "service:br1", "--startup", "10",
          "--mem", "40", "--cpu", "1", "--arg", "run", "--arg", "C")
    pd.ok("add-policy", "team:", "--unikernels", "2", "--mem", "64", "--cpu", "0",
          "--bridge", "br0")
    info_before = pd.info()
    pols_before = pd.policies()
    assert set(info_before) == {":a", "team:b", ":c"}

    assert pd.stop(signal.SIGTERM) == 0
    assert_host_clean(pd)
    state = Path(pd.dbdir, "state").read_bytes()

    pd.start()
    tenders = {n: pd.wait_tender(n) for n in (":a", "team:b", ":c")}
    # §10: a copy of the state as it was at start. (Checked once the
    # unikernels run: the socket answers before the state is read.)
    assert Path(pd.dbdir, "state.started").read_bytes() == state
    # Startup order: c (10), b (absent = 50), a (90); each takes the lowest
    # free tap, so the tap numbers show the order.
    tap = {n: next(x for x in argv if x.startswith("--net:")).split("=")[1]
           for n, (pid, argv) in tenders.items()}
    assert tap == {":c": "vmmtap0", "team:b": "vmmtap1", ":a": "vmmtap2"}
    assert tenders[":a"][1][-2:] == ["run", "A"]
    assert H.proc_status(tenders[":c"][0])["Cpus_allowed_list"] == "1"
    assert pd.ns.link(tap[":c"])["master"] == "br1"

    info_after = pd.info()
    for u in list(info_before.values()) + list(info_after.values()):
        u.pop("started")
    assert info_after == info_before
    pols_after = pd.policies()
    # The root policy's block budget is the free disk space: it moves.
    for p in (pols_before, pols_after):
        p[":"].pop("block")
    assert pols_after == pols_before


def test_state_survives_and_has_a_backup(petreld, images, tender):
    tender.need_scripted()
    pd = petreld
    pd.ok("create", "a", run_image(images, nets=()), "--arg", "run")
    state = Path(pd.dbdir, "state")
    assert state.exists(), os.listdir(pd.dbdir)
    first = state.read_bytes()
    pd.ok("add-policy", "team:", "--unikernels", "1", "--mem", "64", "--cpu", "0")
    assert state.read_bytes() != first
    assert Path(pd.dbdir, "state.bak").read_bytes() == first
    # The image is stored in the db dir, not only in the state.
    img = Path(run_image(images, nets=())).read_bytes()
    stored = [f for f in H.files_under(pd.dbdir)
              if Path(pd.dbdir, f).is_file() and Path(pd.dbdir, f).read_bytes() == img]
    assert stored, "no image file in the db dir: %s" % H.files_under(pd.dbdir)
    # No temporary files remain.
    assert not [f for f in os.listdir(pd.dbdir) if "tmp" in f.lower()]


def test_destroyed_unikernel_does_not_come_back(petreld, images, tender):
    tender.need_scripted()
    pd = petreld
    pd.ok("create", "a", run_image(images, nets=()), "--arg", "run")
    pd.ok("create", "b", run_image(images, nets=()), "--arg", "run")
    pd.ok("destroy", "a")
    pd.stop()
    pd.start()
    pd.wait_tender(":b")
    assert set(pd.info()) == {":b"}


def test_exited_unikernel_does_not_come_back(petreld, images, tender):
    tender.need_scripted()
    pd = petreld
    pd.ok("create", "gone", run_image(images, nets=()), "--arg", "sleep:100",
          "--arg", "exit:0")
    H.wait_for(lambda: pd.tender_of(":gone") is None and not pd.zombies(), 10)
    H.wait_for(lambda: pd.info() == {}, 10, what="info to forget the exited unikernel")
    pd.ok("create", "stay", run_image(images, nets=()), "--arg", "run")
    pd.stop()
    pd.start()
    pd.wait_tender(":stay")
    assert set(pd.info()) == {":stay"}


def test_unikernel_that_cannot_start_after_restart(petreld, images, tender):
    """A bridge that vanished while petreld was down: the unikernel that
    needs it cannot come back; the others do, and petreld runs."""
    tender.need_scripted()
    pd = petreld
    pd.ok("create", "a", run_image(images), "--net", "service:br0", "--arg", "run")
    pd.ok("create", "b", run_image(images), "--net", "service:br1", "--arg", "run")
    pd.stop()
    pd.ns.del_link("br1")
    pd.start()
    pd.wait_tender(":a")
    assert pd.tender_of(":b") is None
    assert pd.ns.taps() == ["vmmtap0"]


# ---------------------------------------------------------------------------
# the socket


def test_refuses_to_start_when_a_live_petreld_answers(petreld):
    pd = petreld
    second = pd.spawn()
    try:
        rc = second.wait(20)
    except subprocess.TimeoutExpired:
        second.kill()
        second.wait(10)
        raise AssertionError("a second petreld on the same socket kept running")
    assert rc != 0
    assert pd.alive()
    pd.ok("policy")


def test_removes_a_stale_socket(petreld):
    pd = petreld
    # SIGKILL: no cleanup, the socket file stays behind.
    pd.stop(signal.SIGKILL)
    assert os.path.exists(pd.sock)
    pd.start()
    pd.ok("policy")


def test_socket_activation(petreld_factory, netns):
    pd = petreld_factory(start=False)
    os.makedirs(os.path.dirname(pd.sock))
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(pd.sock)
    ls.listen(16)
    fd = ls.fileno()
    # Give the socket to petreld as fd 3 (SD_LISTEN_FDS_START); `ip netns
    # exec` execs petreld in place, so bash's $$ is petreld's pid.
    script = ('exec 3<&%d %d<&-; export LISTEN_PID=$$ LISTEN_FDS=1; exec "$@"'
              % (fd, fd))
    argv = ["bash", "-c", script, "bash"] + pd.argv()
    pd.starts += 1
    pd.proc = pd.spawn(argv=argv, pass_fds=(fd,))
    ls.close()
    pd.wait_ready()
    pd.ok("policy")
    # It serves the inherited socket: the socket file is the one we bound.
    assert os.path.exists(pd.sock)


# ---------------------------------------------------------------------------
# albatross state files


def albatross_image(images, nets):
    return Path(images.path("hvt", nets=nets)).read_bytes()


def start_with_state(petreld_factory, der):
    pd = petreld_factory(start=False)
    Path(pd.dbdir, "state").write_bytes(der)
    pd.start()
    return pd


def test_reads_albatross_state_v5(petreld_factory, images, tender):
    """State choice [6] as albatross writes it (vector §13.15, with a real
    test image, runnable arguments and bridges of this host)."""
    tender.need_scripted()
    img = albatross_image(images, ["service"])
    pol = H.policy_der(2, 512, [0, 1], ["br0"], block=1024)
    cfg = H.uk_config_v5(img, memory=32, cpuids=(0,),
                         nets=[H.net_spec("service", "br0")],
                         args=["run", "*:debug"])
    der = H.state_v5([("foo:hello", cfg)], [(":", pol), ("foo:", pol)])
    pd = start_with_state(petreld_factory, der)
    pid, argv = pd.wait_tender("foo:hello")
    assert argv[1:] == ["--mem=32", "--net:service=vmmtap0",
                        "--net-mac:service=" + H.default_mac("service", "foo:hello"),
                        "--", pd.image_path("foo:hello"), "--name=hello",
                        "run", "*:debug"]
    pols = pd.policies()
    assert pols["foo:"] == {"name": "foo:", "unikernels": 2, "memory": 512,
                            "block": 1024, "cpuids": [0, 1], "bridges": ["br0"]}
    u = pd.info("foo:hello")["foo:hello"]
    assert u["arguments"] == ["run", "*:debug"]


def test_reads_albatross_state_v5_compressed_image(petreld_factory, images, tender):
    tender.need_scripted()
    import zlib
    img = albatross_image(images, [])
    cfg = H.uk_config_v5(zlib.compress(img), compressed=True, args=["run"],
                         startup=5, fail=H.fail_restart([3]))
    pd = start_with_state(petreld_factory, H.state_v5([(":packed", cfg)], []))
    pd.wait_tender(":packed")
    assert Path(pd.image_path(":packed")).read_bytes() == img
    u = pd.info("packed")[":packed"]
    assert u["startup"] == 5
    assert u["fail_behaviour"] == {"restart": True, "exit_codes": [3]}


def test_reads_albatross_state_v3(petreld_factory, images, tender):
    """State choice [3] (vector §13.4 adapted: a real image, a bridge and a
    CPU of this host)."""
    tender.need_scripted()
    img = albatross_image(images, ["service"])
    cfg = H.uk_config_v3(img, memory=10, cpuid=1,
                         nets=[H.net_spec("service", "br0", "00:de:ad:be:ef:00")],
                         args=["run"])
    pd = start_with_state(petreld_factory, H.state_v3([("bar:hello", cfg)]))
    pid, argv = pd.wait_tender("bar:hello")
    # v3 configurations get add-name TRUE (§6.4).
    assert argv[1:] == ["--mem=10", "--net:service=vmmtap0",
                        "--net-mac:service=00:de:ad:be:ef:00", "--",
                        pd.image_path("bar:hello"), "--name=hello", "run"]
    assert H.proc_status(pid)["Cpus_allowed_list"] == "1"
    assert pd.ns.link("vmmtap0")["master"] == "br0"
    u = pd.info("bar:")[":hello"]
    assert u["cpuids"] == [1]
    assert u["memory"] == 10


def test_albatross_state_survives_petreld_restart(petreld_factory, images, tender):
    """After reading an albatross state, petreld's own state keeps the
    unikernels."""
    tender.need_scripted()
    img = albatross_image(images, [])
    cfg = H.uk_config_v3(img, args=["run"])
    pd = start_with_state(petreld_factory, H.state_v3([("old", cfg)]))
    pd.wait_tender(":old")
    pd.stop()
    pd.start()
    pd.wait_tender(":old")


@pytest.mark.parametrize("der", [
    b"",
    b"\x30\x00",
    bytes.fromhex("A7 02 05 00"),
    bytes.fromhex("A6 06 30 04 30 00 30 00") + b"\x00",
], ids=["empty-file", "not-a-state", "choice-7", "trailing-bytes"])
def test_bad_state_file_is_a_clear_error(petreld_factory, der):
    """A state file petreld cannot read: it must not silently start empty
    and then overwrite it; either it refuses to start (naming the file) or
    it keeps the file."""
    pd = petreld_factory(start=False)
    state = Path(pd.dbdir, "state")
    state.write_bytes(der)
    p = pd.spawn()
    pd.proc = p

    def decided():
        # Exited, or answers a real request (a bare connect is not
        # enough: the socket may be bound before the state is read).
        if p.poll() is not None:
            return "exited"
        if pd.petrel("policy").rc == 0:
            return "started"
        return None
    started = H.wait_for(decided, 20, interval=0.05,
                         what="petreld to start or refuse") == "started"
    if started:
        pd.ok("add-policy", "team:", "--unikernels", "1", "--mem", "64", "--cpu", "0")
        kept = [f for f in os.listdir(pd.dbdir) if f.startswith("state")]
        assert any(Path(pd.dbdir, f).read_bytes() == der for f in kept), \
            "the unreadable state file was overwritten without a copy: %s" % kept
    else:
        assert p.returncode not in (0, None)
        assert "state" in pd.log_text()


def test_empty_albatross_state(petreld_factory):
    pd = start_with_state(petreld_factory, bytes.fromhex("A6 06 30 04 30 00 30 00"))
    assert pd.info() == {}
    assert ":" in pd.policies()


# ---------------------------------------------------------------------------
# hostile or idle connections do not take the daemon down or block it


def connect(pd):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(pd.sock)
    return s


def closed_by_peer(s):
    """True once petreld closed the connection (EOF or reset)."""
    s.settimeout(0.2)
    try:
        return s.recv(4096) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


@pytest.mark.parametrize("payload", [
    b"\x00\x00\x00\x05hello",                     # not DER
    b"\x00\x00\x00\x02\x30\x00",                  # DER, not a wire
    b"\xff\xff\xff\xfe",                          # negative length
    bytes.fromhex("00000022") + bytes.fromhex(    # §13.1, version 4
        "3020301302010404080000000000000000000c043a666f6fa009a007a205a103020114"),
], ids=["not-der", "empty-seq", "negative-length", "version-4"])
def test_garbage_is_dropped(petreld, payload):
    pd = petreld
    s = connect(pd)
    s.sendall(payload)
    got = bytearray()

    def closed():
        s.settimeout(0.2)
        try:
            data = s.recv(4096)
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        got.extend(data)
        return data == b""
    H.wait_for(closed, 10, what="petreld to close")
    s.close()
    # §8.1: an undecodable frame is not answered.
    assert bytes(got) == b"", "petreld answered garbage with %r" % bytes(got)
    assert pd.alive()
    pd.ok("policy")


def test_huge_length_prefix(petreld):
    """A 2 GiB frame announced: beyond petreld's frame limit, so it drops
    the connection at once instead of waiting for (or reserving) 2 GiB,
    and keeps serving others."""
    pd = petreld
    s = connect(pd)
    s.sendall(b"\x7f\xff\xff\xff" + b"\x30" * 1024)
    pd.ok("policy")
    assert H.wait_for(lambda: closed_by_peer(s), 10,
                      what="petreld to drop the oversized frame")
    s.close()
    assert pd.alive()
    pd.ok("policy")


def test_idle_connections_do_not_block_others(petreld):
    pd = petreld
    idle = [connect(pd) for _ in range(8)]
    half = connect(pd)
    half.sendall(b"\x00\x00\x01\x00\x30\x82")  # a frame cut short
    r = pd.petrel("policy", timeout=20)
    assert r.rc == 0, r
    for s in idle + [half]:
        s.close()
    pd.ok("policy")


def test_many_clients_at_once(petreld, images, tender):
    tender.need_scripted()
    pd = petreld
    pd.ok("create", "a", images.path("hvt"), "--arg", "run")
    procs = [subprocess.Popen([str(PETREL_BIN), "--tmpdir", pd.tmpdir, "--json", "info"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(20)]
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        assert '":a"' in out


def read_frame(s, timeout=10):
    s.settimeout(timeout)
    buf = b""
    while len(buf) < 4:
        chunk = s.recv(4 - len(buf))
        assert chunk, "connection closed before a reply"
        buf += chunk
    n = int.from_bytes(buf, "big", signed=True)
    assert 0 < n < 1 << 20, n
    body = b""
    while len(body) < n:
        chunk = s.recv(n - len(body))
        assert chunk, "connection closed mid-reply"
        body += chunk
    return body


def test_wrong_service_command_is_unknown(petreld):
    """§8.1: vmmd answers a console command with Failure "unknown command",
    echoing the request's header (sequence and name) unchanged."""
    pd = petreld
    header = H.der_seq(H.der_int(5), H.der_octets(bytes.fromhex("0000000000000007")),
                       H.der_utf8(":foo"))
    subscribe = H.der_ctx(0, H.der_ctx(0, H.der_ctx(2, H.der_ctx(1, H.der_int(20)))))
    req = H.der_seq(header, subscribe)
    s = connect(pd)
    s.sendall(len(req).to_bytes(4, "big") + req)
    reply = read_frame(s)
    s.close()
    assert reply == H.der_seq(header, H.der_ctx(2, H.der_utf8("unknown command"))), reply.hex()


def test_unikernel_waits_for_a_missing_bridge(petreld, images, tender):
    """A unikernel whose bridge is missing when petreld starts is kept, in
    the state file too, and starts once the bridge is there (a host whose
    bridges come up after petreld loses nothing)."""
    tender.need_scripted()
    pd = petreld
    pd.ok("create", "web", images.path("hvt", nets=["service"]),
          "--net", "service:br1", "--arg", "run")
    pd.wait_tender(":web")
    assert pd.stop(signal.SIGTERM) == 0
    pd.ns.del_link("br1")
    pd.start()
    H.wait_for(lambda: "could not start" in pd.log_text(), 20,
               what="petreld to report that :web cannot start")
    assert pd.tender_of(":web") is None
    # Still in the state: another restart of petreld would not lose it.
    assert b":web" in Path(pd.dbdir, "state").read_bytes()
    pd.ns.add_bridge("br1")
    pid, _ = pd.wait_tender(":web")
    assert pd.ns.link("vmmtap0")["master"] == "br1"
    pd.ok("destroy", "web")


def test_crash_leaves_no_tender_and_no_tap(petreld, images, tender):
    """petreld killed outright: its tenders die with it (no second copy
    next to the one the restart starts, both writing the same devices),
    and the restart removes the taps they left."""
    tender.need_scripted()
    pd = petreld
    pd.ok("create", "web", images.path("hvt", nets=["service"]),
          "--net", "service:br0", "--arg", "run")
    pid, _ = pd.wait_tender(":web")
    assert pd.ns.taps() == ["vmmtap0"]
    assert pd.stop(signal.SIGKILL) == -signal.SIGKILL
    H.wait_for(lambda: not H.pid_alive(pid), 10,
               what="the tender to die with petreld")
    # A persistent tap outlives its process: still there, orphaned.
    assert pd.ns.taps() == ["vmmtap0"]
    pd.start()
    new, argv = pd.wait_tender(":web")
    assert new != pid
    assert "--net:service=vmmtap0" in argv
    assert pd.ns.taps() == ["vmmtap0"]
    assert "removed 1 taps left by an earlier petreld" in pd.log_text()
    pd.ok("destroy", "web")
