"""petreld driven through the real client: every subcommand of issue 3 on
the success path, and what a created unikernel really looks like on the
host (tender argv, CPU pinning, tap, console FIFO, image file)."""

import hashlib
import os
import stat
import subprocess
from pathlib import Path

import pytest

import pthelpers as H


def running_image(images, nets=(), target="hvt", blocks=()):
    return images.path(target, nets=nets, blocks=blocks)


def assert_gone(pd, name, pid):
    """Right after a successful destroy reply: the process and every
    resource of `name` are gone already (the reply comes after that)."""
    assert H.pid_reaped(pid), "tender %d of %s not reaped before the reply" % (pid, name)
    assert pd.tender_of(name) is None, "tender of %s still runs after the reply" % name
    assert pd.zombies() == [], "petreld replied before reaping: %s" % pd.zombies()
    assert not os.path.exists(pd.image_path(name)), "image file left"
    assert not os.path.exists(pd.fifo_path(name)), "FIFO left"


# ---------------------------------------------------------------------------
# create / destroy and what runs


def test_create_runs_tender_with_exact_argv(petreld, images, tender):
    tender.need_scripted()
    pd = petreld
    img = running_image(images, nets=["service"])
    j = pd.jok("create", ":hello", img, "--mem", "64", "--cpu", "1",
               "--net", "service:br0", "--arg", "run", "--arg", "-l")
    assert j == {"result": "success", "kind": "string", "message": "created unikernel"}

    # The reply comes after the spawn: the tender already runs.
    t = pd.tender_of(":hello")
    assert t is not None, "no tender runs after 'created unikernel'"
    pid, argv = t
    mac = H.default_mac("service", ":hello")
    assert os.path.basename(argv[0]).startswith("solo5-hvt"), argv
    assert argv[1:] == ["--mem=64", "--net:service=vmmtap0",
                        "--net-mac:service=" + mac, "--",
                        pd.image_path(":hello"), "--name=hello", "run", "-l"]

    # Pinned with sched_setaffinity before exec.
    assert H.proc_status(pid)["Cpus_allowed_list"] == "1"

    # The tap: a tap device, enslaved to br0, up.
    tap = pd.ns.link("vmmtap0")
    assert tap is not None, pd.ns.taps()
    assert tap["linkinfo"]["info_kind"] == "tun"
    assert tap["linkinfo"]["info_data"]["type"] == "tap"
    assert tap.get("master") == "br0", tap
    assert "UP" in tap["flags"], tap

    # The image as uploaded, and the console FIFO.
    assert Path(pd.image_path(":hello")).read_bytes() == Path(img).read_bytes()
    assert stat.S_ISFIFO(os.stat(pd.fifo_path(":hello")).st_mode)

    j = pd.jok("destroy", "hello")
    assert j["message"] == "destroyed unikernel"
    assert_gone(pd, ":hello", pid)
    assert pd.ns.taps() == []


def test_info_reports_the_configuration(petreld, images, tender):
    tender.need_scripted()
    pd = petreld
    img = running_image(images, nets=["service"])
    pd.ok("create", ":hello", img, "--mem", "48", "--net", "service:br0",
          "--arg", "run", "--arg", "x y")
    info = pd.info("hello")
    assert list(info) == [":hello"]
    u = info[":hello"]
    assert u["typ"] == "solo5"
    assert u["memory"] == 48
    assert u["cpuids"] == [0]
    assert u["cpus"] == 1
    assert u["digest"] == hashlib.sha256(Path(img).read_bytes()).hexdigest()
    assert u["fail_behaviour"] == {"restart": False}
    assert "startup" not in u
    assert u["bridges"] == [{"unikernel_device": "service", "host_device": "br0",
                             "mac": H.default_mac("service", ":hello")}]
    assert u["arguments"] == ["run", "x y"]
    assert u["started"].endswith("Z")


def test_create_with_explicit_mac_two_nets_and_cpus(petreld, images, tender):
    tender.need_scripted()
    pd = petreld
    img = running_image(images, nets=["service", "mgmt"])
    pd.ok("create", "team:web", img, "--cpu", "0", "--cpu", "1",
          "--net", "service:br0@02:00:00:00:00:01", "--net", "mgmt:br1",
          "--arg", "run")
    pid, argv = pd.tender_of("team:web")
    args = argv[1:]
    # §9 order: --mem, all --net, all --net-mac, then -- image.
    assert args[0] == "--mem=32"
    nets = args[1:3]
    macs = args[3:5]
    assert all(a.startswith("--net:") for a in nets), args
    assert sorted(macs) == sorted(["--net-mac:service=02:00:00:00:00:01",
                                   "--net-mac:mgmt=" + H.default_mac("mgmt", "team:web")])
    assert args[5:] == ["--", pd.image_path("team:web"), "--name=web", "run"]
    tap_of = dict(a[len("--net:"):].split("=") for a in nets)
    assert sorted(tap_of.values()) == ["vmmtap0", "vmmtap1"]
    assert pd.ns.link(tap_of["service"])["master"] == "br0"
    assert pd.ns.link(tap_of["mgmt"])["master"] == "br1"
    assert H.proc_status(pid)["Cpus_allowed_list"] == "0-1"
    u = pd.info("team:web")["team:web"]
    assert u["cpuids"] == [0, 1]
    macs = {b["unikernel_device"]: b["mac"] for b in u["bridges"]}
    assert macs["service"] == "02:00:00:00:00:01"


def test_create_spt_and_no_add_name(petreld, images, tender):
    tender.need_scripted()
    tender.need("spt")
    pd = petreld
    img = running_image(images, target="spt")
    pd.ok("create", "quiet", img, "--no-add-name", "--arg", "run")
    pid, argv = pd.tender_of(":quiet")
    assert os.path.basename(argv[0]).startswith("solo5-spt"), argv
    assert argv[1:] == ["--mem=32", "--", pd.image_path(":quiet"), "run"]


def test_destroy_of_unikernel_blocked_on_full_console(petreld, images, tender):
    """Nobody reads the FIFO: the tender blocks in write(2). Destroy must
    still end it and free everything."""
    tender.need_scripted()
    pd = petreld
    pd.ok("create", "chatty", running_image(images), "--arg", "lines:1000000",
          "--arg", "run")
    pid, _ = pd.wait_tender(":chatty")
    j = pd.jok("destroy", "chatty")
    assert j["message"] == "destroyed unikernel"
    assert_gone(pd, ":chatty", pid)


def test_create_compressed_image(petreld, images, tender):
    tender.need_scripted()
    pd = petreld
    img = running_image(images)
    pd.ok("create", "packed", img, "--compress", "--arg", "run")
    pd.wait_tender(":packed")
    # The tender gets the inflated image; the digest is of the ELF.
    assert Path(pd.image_path(":packed")).read_bytes() == Path(img).read_bytes()
    u = pd.info("packed")[":packed"]
    assert u["digest"] == hashlib.sha256(Path(img).read_bytes()).hexdigest()


def test_destroy_unknown(petreld):
    j = petreld.jfail("destroy", "nosuch")
    assert j["message"] == "destroy: not found"
    r = petreld.fails("destroy", "nosuch")
    assert "destroy: not found" in r.err


# ---------------------------------------------------------------------------
# get


def test_get_round_trip(petreld, images, tender, tmp_path):
    tender.need_scripted()
    pd = petreld
    img = running_image(images)
    data = Path(img).read_bytes()
    pd.ok("create", "team:web", img, "--arg", "run")
    plain = tmp_path / "plain.img"
    pd.ok("get", "team:web", plain)
    assert plain.read_bytes() == data
    packed = tmp_path / "packed.img"
    pd.ok("get", "team:web", packed, "--compress")
    assert packed.read_bytes() == data
    # Default file name: NAME.img in the current directory, ':' -> '_'.
    pd.ok("get", "team:web", cwd=tmp_path)
    assert (tmp_path / "team_web.img").read_bytes() == data


def test_get_of_compressed_upload(petreld, images, tender, tmp_path):
    tender.need_scripted()
    pd = petreld
    img = running_image(images)
    data = Path(img).read_bytes()
    pd.ok("create", "packed", img, "--compress", "--arg", "run")
    for i, extra in enumerate([[], ["--compress"]]):
        out = tmp_path / ("out%d.img" % i)
        pd.ok("get", "packed", out, *extra)
        assert out.read_bytes() == data


def test_get_unknown(petreld, tmp_path):
    j = petreld.jfail("get", "nosuch", tmp_path / "x.img")
    assert j["message"] == "get: no unikernel found"
    assert not (tmp_path / "x.img").exists()


# ---------------------------------------------------------------------------
# restart


def test_restart_keeps_configuration(petreld, images, tender):
    tender.need_scripted()
    pd = petreld
    img = running_image(images, nets=["service"])
    pd.ok("create", "web", img, "--mem", "40", "--net", "service:br0",
          "--arg", "run", "--arg", "one")
    pid1, argv1 = pd.tender_of(":web")
    before = pd.info("web")[":web"]
    j = pd.jok("restart", "web")
    assert j["message"] == "created unikernel"
    assert not H.pid_alive(pid1), "the old tender still runs after restart"
    pid2, argv2 = pd.tender_of(":web")
    assert pid2 != pid1
    assert argv2 == argv1
    after = pd.info("web")[":web"]
    before.pop("started")
    after.pop("started")
    assert after == before
    assert pd.ns.taps() == ["vmmtap0"]


def test_restart_replacing_arguments(petreld, images, tender):
    tender.need_scripted()
    pd = petreld
    img = running_image(images, nets=["service"])
    pd.ok("create", "web", img, "--mem", "40", "--net", "service:br0",
          "--restart-on-fail", "--arg", "run", "--arg", "one")
    before = pd.info("web")[":web"]
    pid1, _ = pd.tender_of(":web")
    pd.ok("restart", "web", "--replace-arguments", "--arg", "run", "--arg", "two",
          "--arg", "three")
    pid2, argv2 = pd.wait_tender(":web", other_than=pid1)
    assert argv2[-4:] == ["--name=web", "run", "two", "three"]
    after = pd.info("web")[":web"]
    assert after["arguments"] == ["run", "two", "three"]
    for k in ("memory", "cpuids", "bridges", "fail_behaviour", "digest", "typ"):
        assert after[k] == before[k], k
    # Stored: a plain restart keeps the replaced arguments.
    pd.ok("restart", "web")
    _, argv3 = pd.wait_tender(":web", other_than=pid2)
    assert argv3[-3:] == ["run", "two", "three"]


def test_restart_unknown(petreld):
    j = petreld.jfail("restart", "nosuch")
    assert "not found" in j["message"]


# ---------------------------------------------------------------------------
# info: names and paths


def test_info_relative_names(petreld, images, tender):
    tender.need_scripted()
    pd = petreld
    img = running_image(images)
    for name in ("team:a", "team:sub:b", ":c", "other:d"):
        pd.ok("create", name, img, "--arg", "run")
    assert set(pd.info()) == {"team:a", "team:sub:b", ":c", "other:d"}
    assert set(pd.info(":")) == {"team:a", "team:sub:b", ":c", "other:d"}
    assert set(pd.info("team:")) == {":a", "sub:b"}
    assert set(pd.info("team:sub:")) == {":b"}
    # A single name: the full name; upper case is normalised.
    assert set(pd.info("team:a")) == {"team:a"}
    assert set(pd.info("TEAM:A")) == {"team:a"}
    assert set(pd.info("c")) == {":c"}
    # Unknown single name: an empty list, not a failure.
    assert pd.info("team:nosuch") == {}
    assert pd.info("nosuch:") == {}


def test_info_text_output(petreld, images, tender):
    tender.need_scripted()
    pd = petreld
    pd.ok("create", "hello", running_image(images), "--arg", "run")
    r = pd.ok("info", "hello")
    assert ":hello" in r.out
    assert "memory" in r.out


# ---------------------------------------------------------------------------
# policies


def test_root_policy_from_the_host(petreld):
    pols = petreld.policies()
    assert ":" in pols, pols
    root = pols[":"]
    assert root["cpuids"] == sorted(os.sched_getaffinity(0))
    # The namespace has exactly the bridges br0 and br1.
    assert sorted(root["bridges"]) == ["br0", "br1"]
    assert root["memory"] > 0
    assert root["unikernels"] > 1000


def test_policy_add_replace_remove(petreld):
    pd = petreld
    j = pd.jok("add-policy", "team:", "--unikernels", "2", "--mem", "128",
               "--cpu", "0", "--bridge", "br0", "--block", "10")
    assert j["message"] == "added policy"
    j = pd.jok("add-policy", "team:", "--unikernels", "2", "--mem", "128",
               "--cpu", "0", "--bridge", "br0", "--block", "10")
    assert j["message"] == "no modification of policy"
    want = {"name": ":", "unikernels": 2, "memory": 128, "block": 10,
            "cpuids": [0], "bridges": ["br0"]}
    assert pd.policies("team:") == {":": want}
    assert pd.policies()["team:"] == dict(want, name="team:")

    pd.ok("add-policy", "team:sub:", "--unikernels", "1", "--mem", "64",
          "--cpu", "0")
    rel = pd.policies("team:")
    assert set(rel) == {":", "sub:"}
    assert rel["sub:"]["block"] is None
    assert rel["sub:"]["bridges"] == []

    pd.ok("replace-policy", "team:", "--unikernels", "3", "--mem", "256",
          "--cpu", "0", "--bridge", "br0", "--bridge", "br1")
    p = pd.policies("team:")[":"]
    assert (p["unikernels"], p["memory"], p["bridges"]) == (3, 256, ["br0", "br1"])
    assert p["block"] is None

    j = pd.jfail("replace-policy", "nosuch:", "--unikernels", "1", "--mem", "64",
                 "--cpu", "0")
    assert "nosuch:" not in pd.policies()

    j = pd.jok("remove-policy", "team:sub:")
    assert j["message"] == "removed policy"
    assert "team:sub:" not in pd.policies()
    j = pd.jfail("remove-policy", "team:sub:")
    assert j["message"].startswith("unknown policy"), j


def test_policy_limits_creation_under_its_path(petreld, images, tender):
    """The success side of the policy checks: within the policy it works."""
    tender.need_scripted()
    pd = petreld
    pd.ok("add-policy", "team:", "--unikernels", "2", "--mem", "64",
          "--cpu", "1", "--bridge", "br1")
    img = running_image(images, nets=["service"])
    pd.ok("create", "team:a", img, "--mem", "32", "--cpu", "1",
          "--net", "service:br1", "--arg", "run")
    pd.ok("create", "team:b", img, "--mem", "32", "--cpu", "1",
          "--net", "service:br1", "--arg", "run")
    assert set(pd.info("team:")) == {":a", ":b"}


# ---------------------------------------------------------------------------
# the client's plumbing against a live daemon


def test_text_failure_goes_to_stderr(petreld):
    r = petreld.fails("destroy", "nosuch")
    assert r.out == ""
    assert r.err.startswith("petrel: ")


def test_client_cannot_connect(petreld):
    r = petreld.petrel("--socket", os.path.join(petreld.base, "nope.sock"),
                       "info", tmpdir=False)
    assert r.rc == 3, r


def test_socket_option_reaches_the_daemon(petreld):
    r = petreld.petrel("--socket", petreld.sock, "--json", "policy", tmpdir=False)
    assert r.rc == 0, r
    assert r.json["kind"] == "policies"


# ---------------------------------------------------------------------------
# the tap really carries frames between the bridge and the unikernel

ECHO_PROBE = r'''
import socket, sys, time
bridge, payload = sys.argv[1], sys.argv[2].encode()
ETH_P = 0x88B5  # local experimental ethertype
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P))
s.bind((bridge, ETH_P))
s.settimeout(0.1)
frame = b"\xff" * 6 + bytes.fromhex("02aabbccddee") + ETH_P.to_bytes(2, "big") + payload
frame = frame.ljust(60, b"\0")
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    s.send(frame)
    end = time.monotonic() + 0.2
    while time.monotonic() < end:
        try:
            data, addr = s.recvfrom(2048)
        except socket.timeout:
            continue
        # addr[2] is the packet type: 4 = our own outgoing frame.
        if addr[2] != 4 and payload in data:
            print("echoed")
            sys.exit(0)
sys.exit(1)
'''


def test_frames_flow_through_the_tap(petreld, images, tender):
    tender.need_scripted()
    pd = petreld
    pd.ok("create", "mirror", running_image(images, nets=["service"]),
          "--net", "service:br1", "--arg", "echo")
    pd.wait_tender(":mirror")
    r = subprocess.run(pd.ns.exec_argv(["/usr/bin/python3", "-c", ECHO_PROBE,
                                        "br1", "petrel-echo-probe"]),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "echoed" in r.stdout, \
        "no frame came back through br1 and the tap: %s" % r.stderr


# ---------------------------------------------------------------------------
# block devices attached to a unikernel


def test_create_with_block_device(petreld, images, tender):
    tender.need_scripted()
    pd = petreld
    pd.ok("create-block", "team:disk1", "1")
    img = running_image(images, blocks=["storage"])
    pd.ok("create", "team:db", img, "--block", "storage:disk1@4096",
          "--arg", "block-write:storage:8192:hello-block", "--arg", "run")
    pid, argv = pd.wait_tender("team:db")
    dev = os.path.join(pd.dbdir, "block", "team:disk1")
    assert argv[1:] == ["--mem=32", "--block:storage=" + dev,
                        "--block-sector-size:storage=4096", "--",
                        pd.image_path("team:db"), "--name=db",
                        "block-write:storage:8192:hello-block", "run"]

    def written():
        with open(dev, "rb") as f:
            f.seek(8192)
            return f.read(11) == b"hello-block"
    H.wait_for(written, 10, what="the guest's block write in %s" % dev)
    assert os.path.getsize(dev) == 1 << 20

    u = pd.info("team:db")["team:db"]
    assert u["blocks"] == [{"unikernel_device": "storage", "host_device": "disk1",
                            "sector_size": 4096, "block_size": 1}]
    j = pd.jok("block", "team:disk1")
    assert j["block_devices"] == [{"name": "team:disk1", "size": 1, "active": True}]
    # In use: neither removable nor attachable to a second unikernel.
    before = pd.snapshot()
    pd.jfail("destroy-block", "team:disk1")
    pd.jfail("create", "team:db2", img, "--block", "storage:disk1", "--arg", "run")
    pd.assert_unchanged(before, "the refused block operations")

    pd.ok("destroy", "team:db")
    assert pd.jok("block", "team:disk1")["block_devices"][0]["active"] is False
    pd.ok("destroy-block", "team:disk1")
    assert not os.path.exists(dev)


def test_block_device_survives_the_unikernel(petreld, images, tender, tmp_path):
    tender.need_scripted()
    pd = petreld
    pd.ok("create-block", "disk", "1")
    img = running_image(images, blocks=["storage"])
    pd.ok("create", "w", img, "--block", "storage:disk",
          "--arg", "block-write:storage:0:persisted", "--arg", "exit:0")
    H.wait_for(lambda: pd.info("w") == {}, 10, what="the writer to exit")
    out = tmp_path / "disk.img"
    pd.ok("dump-block", "disk", out)
    assert out.read_bytes()[:9] == b"persisted"


def test_get_large_image(petreld, images, tender, tmp_path):
    """A multi-megabyte image (incompressible padding) goes up and comes
    back intact, plain and compressed."""
    tender.need_scripted()
    pd = petreld
    data = Path(running_image(images)).read_bytes() + os.urandom(6 << 20)
    img = images.write("large.img", data)
    pd.ok("create", "large", img, "--compress", "--arg", "run")
    assert Path(pd.image_path(":large")).read_bytes() == data
    out = tmp_path / "large.img"
    j = pd.jok("get", "large", out)
    assert j["kind"] == "unikernel-image" and j["size"] == len(data), j
    assert out.read_bytes() == data
    pd.ok("get", "large", out, "--compress")
    assert out.read_bytes() == data


# ---------------------------------------------------------------------------
# tender lookup order (solo5.md §9 step 3)


@pytest.mark.parametrize("where", ["dbdir-abi", "path-abi", "dbdir", "path"])
def test_tender_lookup_order(petreld_factory, images, tender, tmp_path, where):
    """<dbdir>/solo5-hvt.2, then solo5-hvt.2 on PATH, then <dbdir>/solo5-hvt,
    then solo5-hvt on PATH: the first one present is the one exec'd."""
    tender.need_scripted()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    pd = petreld_factory(start=False, path_prepend=[str(bindir)])
    real = tender.paths["hvt"]
    dbdir_abi = os.path.join(pd.dbdir, "solo5-hvt.2")
    path_abi = str(bindir / "solo5-hvt.2")
    dbdir_plain = pd.tender_link("hvt")
    path_plain = str(bindir / "solo5-hvt")
    order = [dbdir_abi, path_abi, dbdir_plain, path_plain]
    want = order[["dbdir-abi", "path-abi", "dbdir", "path"].index(where)]
    # The expected one and every later one exist; the earlier ones do not.
    for p in order:
        if os.path.lexists(p):
            os.unlink(p)
    for p in order[order.index(want):]:
        os.symlink(real, p)
    pd.start()
    pd.ok("create", "found", images.path("hvt"), "--arg", "run")
    pid, argv = pd.wait_tender(":found")
    assert argv[0] == want, "exec'd %s, expected %s" % (argv[0], want)
