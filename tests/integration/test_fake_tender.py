"""The stand-in Solo5 tender (tests/tender/solo5-fake.c) and mkimage.py,
driven directly: petrel's integration tests rely on the stand-in behaving
like solo5-hvt / solo5-spt (solo5.md §5-§8, §10), so that is checked here.

Self-contained: fixtures live in this file. Binaries come from
PETREL_BUILD_DIR (default /work/main/build-test). Tap tests run in a
network namespace made for the test (`ip netns add`), and need root.
"""

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("PETREL_BUILD_DIR") or "/work/main/build-test")
sys.path.insert(0, str(SRC / "tests" / "tools"))
import mkimage  # noqa: E402

O_CLOEXEC = 0o2000000


def tender(target):
    path = BUILD / "tests" / "tender" / ("solo5-" + target)
    if not path.exists():
        pytest.fail("%s is not built (PETREL_BUILD_DIR=%s)" % (path, BUILD))
    return str(path)


def run(argv, timeout=20, env=None, **kw):
    e = dict(os.environ)
    e.pop("PETREL_FAKE_ABI", None)
    e.pop("PETREL_FAKE_REJECT_NAME", None)
    e.update(env or {})
    return subprocess.run(argv, capture_output=True, text=True,
                          timeout=timeout, env=e, **kw)


@pytest.fixture
def img(tmp_path):
    """img(name, **make_image kwargs) -> path of a fresh image."""
    def make(name="uk.img", **kw):
        p = tmp_path / name
        p.write_bytes(mkimage.make_image(**kw))
        return str(p)
    return make


@pytest.fixture
def disk(tmp_path):
    def make(size, name="disk"):
        p = tmp_path / name
        with open(p, "wb") as f:
            f.truncate(size)
        return str(p)
    return make


class Running:
    """A tender running in the background, its stdout read line by line
    with a deadline (never a fixed sleep)."""

    def __init__(self, argv, env=None):
        e = dict(os.environ)
        e.update(env or {})
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=e)
        self.out = b""

    def wait_for_output(self, needle, timeout=10):
        deadline = time.monotonic() + timeout
        needle = needle.encode()
        while needle not in self.out:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %r in output %r" % (needle, self.out))
            r, _, _ = select.select([self.p.stdout], [], [], left)
            if r:
                chunk = os.read(self.p.stdout.fileno(), 4096)
                if not chunk:
                    raise AssertionError("tender exited (%s) before %r: %r %r"
                                         % (self.p.wait(), needle, self.out,
                                            self.p.stderr.read()))
                self.out += chunk

    def finish(self, timeout=10):
        out, err = self.p.communicate(timeout=timeout)
        self.out += out
        return self.p.returncode, self.out.decode(), err.decode()

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.communicate(timeout=10)


@pytest.fixture
def running():
    procs = []

    def start(argv, env=None):
        r = Running(argv, env)
        procs.append(r)
        return r
    yield start
    for r in procs:
        r.kill()


# ---------------------------------------------------------------------------
# mkimage.py itself

def test_mkimage_layout(tmp_path):
    out = tmp_path / "x.img"
    subprocess.run([sys.executable, str(SRC / "tests/tools/mkimage.py"),
                    str(out), "--target", "spt", "--abi", "3", "--net", "a",
                    "--block", "b"], check=True)
    data = out.read_bytes()
    assert data == mkimage.make_image(target="spt", abi=3, nets=["a"],
                                      blocks=["b"])
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1
    # the ABI note of solo5.md §4.1, for spt ABI 3
    abi = bytes.fromhex("06000000 10000000 41424931 536f6c6f35000000"
                        "02000000 03000000 00000000 00000000")
    assert abi in data
    assert b"/nonexistent/solo5/\0" in data
    assert b".note.solo5.manifest\0" in data


def test_mkimage_manifest_matches_spec():
    """solo5.md §4.5: the manifest note of service + storage."""
    note = mkimage.manifest_note([("service", mkimage.MFT_NET_BASIC),
                                  ("storage", mkimage.MFT_BLOCK_BASIC)])
    assert len(note) == 344
    assert note[:32] == bytes.fromhex(
        "06000000 44010000 4d465431 536f6c6f 35000000 00000000"
        "01000000 03000000")
    assert note[0x64:0x68] == bytes.fromhex("00000040")
    assert note[0x88:0x90] == b"service\0"
    assert note[0xCC] == 2
    assert note[0xF0:0xF8] == b"storage\0"
    assert note[0x134] == 1


# ---------------------------------------------------------------------------
# first pass: --version, --help, KERNEL

@pytest.mark.parametrize("target", ["hvt", "spt"])
def test_version(target):
    r = run([tender(target), "--version"])
    assert r.returncode == 0
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert lines[0] == "solo5-%s tender, version v0.12.1-petrel-fake" % target
    assert "ABI version 2" in lines
    r = run([tender(target), "--version"], env={"PETREL_FAKE_ABI": "7"})
    assert "ABI version 7" in r.stderr.splitlines()


def test_version_ends_first_pass(img):
    # --version wins even with a KERNEL after it, --help too
    r = run([tender("hvt"), "--mem=bogus", "--version", img()])
    assert r.returncode == 0 and "ABI version 2" in r.stderr
    r = run([tender("hvt"), "--help", img()])
    assert r.returncode == 1


@pytest.mark.parametrize("target", ["hvt", "spt"])
def test_help(target):
    r = run([tender(target), "--help"])
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.startswith("usage: solo5-%s [ CORE OPTIONS ]" % target)
    assert "KERNEL is the filename of the unikernel to run." in r.stderr


def test_missing_kernel():
    for argv in ([], ["--mem=64"], ["--"]):
        r = run([tender("hvt")] + argv)
        assert r.returncode == 1
        assert "solo5-hvt: Missing KERNEL operand" in r.stderr
        assert "usage: solo5-hvt" in r.stderr


def test_kernel_after_double_dash(img, tmp_path):
    # "--" makes the next argument KERNEL even if it starts with '-'
    k = tmp_path / "-uk.img"
    k.write_bytes(mkimage.make_image())
    r = run([tender("hvt"), "--", str(k)], cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------------------
# the image

def test_image_checks(img, tmp_path):
    hvt = tender("hvt")
    r = run([hvt, str(tmp_path / "missing.img")])
    assert r.returncode == 1 and "Could not open" in r.stderr
    r = run([hvt, img(target="spt")])
    assert r.returncode == 1
    assert "Executable is not for the solo5-hvt target" in r.stderr
    r = run([tender("spt"), img(target="hvt")])
    assert r.returncode == 1
    assert "Executable is not for the solo5-spt target" in r.stderr
    r = run([hvt, img(abi=1)])
    assert r.returncode == 1
    assert "Executable requests unsupported ABI version 1" in r.stderr
    r = run([hvt, img(abi=3)], env={"PETREL_FAKE_ABI": "3"})
    assert r.returncode == 0, r.stderr
    r = run([hvt, img(with_abi=False)])
    assert r.returncode == 1 and "No Solo5 ABI information found" in r.stderr
    r = run([hvt, img(with_manifest=False)])
    assert r.returncode == 1 and "No Solo5 manifest found" in r.stderr
    r = run([hvt, img(corrupt_manifest=True)])
    assert r.returncode == 1 and "Solo5 manifest is invalid" in r.stderr
    notelf = tmp_path / "notelf"
    notelf.write_bytes(b"#!/bin/sh\necho hi\n" * 10)
    r = run([hvt, str(notelf)])
    assert r.returncode == 1
    assert "Invalid or unsupported executable" in r.stderr
    assert r.stdout == ""


# ---------------------------------------------------------------------------
# second pass: options

def test_options(img):
    hvt, k = tender("hvt"), img()
    for bad in ("--mem=abc", "--mem=0", "--mem=", "--mem=-4"):
        r = run([hvt, bad, k])
        assert r.returncode == 1, bad
        assert "Malformed argument to --mem" in r.stderr
    r = run([hvt, "--mem=64MB", k])     # %zd: trailing text ignored
    assert r.returncode == 0, r.stderr
    assert "Memory map: 64 MB" in r.stdout
    r = run([hvt, "--bogus", k])
    assert r.returncode == 1
    assert "Invalid option: `--bogus'" in r.stderr
    assert "usage: solo5-hvt" in r.stderr
    # -x is an option, not KERNEL
    r = run([hvt, "-x", k])
    assert r.returncode == 1 and "Invalid option: `-x'" in r.stderr
    # options after KERNEL belong to the guest
    r = run([hvt, k, "--bogus=1"])
    assert r.returncode == 64
    assert "cmdline=\"--bogus=1\"" in r.stdout
    # --x-exec-heap exists for spt only
    r = run([tender("spt"), "--x-exec-heap", img(target="spt")])
    assert r.returncode == 0, r.stderr
    r = run([hvt, "--x-exec-heap", k])
    assert r.returncode == 1


def test_hvt_memory(img):
    k = img()
    r = run([tender("hvt"), "--mem=5", k])
    assert r.returncode == 0
    assert "adjusting memory to 4194304 bytes" in r.stderr
    r = run([tender("hvt"), "--mem=4098", k])
    assert r.returncode == 1
    r = run([tender("hvt"), "--mem=2", k])
    assert r.returncode == 255
    assert "Solo5: ABORT" in r.stdout and "Not enough memory" in r.stdout
    r = run([tender("spt"), "--mem=2", img(target="spt")])
    assert r.returncode == 0


def test_manifest_devices(img, disk):
    hvt = tender("hvt")
    k = img(nets=["service"], blocks=["storage"])
    d = disk(1 << 20)
    # nothing attached
    r = run([hvt, k])
    assert r.returncode == 1
    assert ("Device 'service' of type NET_BASIC declared but not attached."
            in r.stderr)
    assert ("Device 'storage' of type BLOCK_BASIC declared but not attached."
            in r.stderr)
    assert "All declared devices must be attached." in r.stderr
    # a device the manifest does not declare, or declares with another type
    r = run([hvt, "--block:other=" + d, k])
    assert r.returncode == 1
    assert "Resource not declared in manifest: 'other'" in r.stderr
    assert "Invalid option: `--block:other=" in r.stderr
    r = run([hvt, "--block:service=" + d, k])
    assert r.returncode == 1
    assert "Resource not declared in manifest: 'service'" in r.stderr
    r = run([hvt, "--net-mac:storage=00:80:41:00:00:01", k])
    assert "Resource not declared in manifest: 'storage'" in r.stderr
    # names are [A-Za-z0-9]: anything else is no device option at all
    r = run([hvt, "--block:sto-rage=" + d, k])
    assert r.returncode == 1 and "Invalid option" in r.stderr
    r = run([hvt, "--net-mac:service=00:80:41:00:01", k])
    assert r.returncode == 1 and "Malformed mac address" in r.stderr
    for bad in ("1000", "256", "65536", "abc"):
        r = run([hvt, "--block-sector-size:storage=" + bad, k])
        assert r.returncode == 1, bad
        assert "Block size must be a multiple of 2" in r.stderr


def test_block_device(img, disk, tmp_path):
    hvt = tender("hvt")
    k = img(blocks=["storage"])
    d = disk(1 << 20)
    r = run([hvt, "--block:storage=" + d, k,
             "block-write:storage:4096:hello%20block",
             "block-read:storage:4096:11", "block-read:storage:0:4"])
    assert r.returncode == 0, r.stderr
    assert "block-write storage 4096 11" in r.stdout
    assert "block-read storage 4096: hello block" in r.stdout
    assert "block-read storage 0: ...." in r.stdout
    with open(d, "rb") as f:
        f.seek(4096)
        assert f.read(11) == b"hello block"
    # beyond the device: the guest sees an error
    r = run([hvt, "--block:storage=" + d, k,
             "block-read:storage:%d:1" % (1 << 20)])
    assert r.returncode == 2
    # the tender's checks on the backing file (§6.2)
    r = run([hvt, "--block:storage=" + str(tmp_path / "nope"), k])
    assert r.returncode == 1
    assert "Could not open block device: %s" % (tmp_path / "nope") in r.stderr
    r = run([hvt, "--block:storage=" + disk(1000, "odd"), k])
    assert r.returncode == 1
    assert "Backing storage size must be block aligned (512 bytes)" in r.stderr
    r = run([hvt, "--block:storage=" + disk(0, "empty"), k])
    assert r.returncode == 1
    assert "Backing storage must be at least 1 block (512 bytes)" in r.stderr
    small = disk(3 * 512, "small")
    r = run([hvt, "--block-sector-size:storage=4096",
             "--block:storage=" + small, k])
    assert r.returncode == 1
    assert "at least 1 block (4096 bytes)" in r.stderr
    r = run([hvt, "--block:storage=" + small, k])
    assert r.returncode == 0
    if os.geteuid() != 0:
        ro = disk(512, "ro")
        os.chmod(ro, 0o444)
        r = run([hvt, "--block:storage=" + ro, k])
        assert r.returncode == 1 and "Permission denied" in r.stderr


# ---------------------------------------------------------------------------
# the guest side

def test_guest_commands(img):
    hvt, k = tender("hvt"), img()
    r = run([hvt, "--mem=64", "--", k, "print:hello", "lines:3",
             "stderr:oops", "exit:7"])
    assert r.returncode == 7
    lines = r.stdout.splitlines()
    assert "Solo5: Bindings version v0.12.1-petrel-fake" in lines
    assert ('Solo5: solo5_app_main() called with cmdline="print:hello '
            'lines:3 stderr:oops exit:7"' in lines)
    i = lines.index("hello")
    assert lines[i:i + 5] == ["hello", "line 1", "line 2", "line 3",
                              "Solo5: solo5_exit(7) called"]
    assert "oops" in r.stderr.splitlines()
    r = run([hvt, k, "exit:300"])
    assert r.returncode == 300 & 0xff
    r = run([hvt, k])
    assert r.returncode == 0
    assert r.stdout.splitlines()[-1] == "Solo5: solo5_exit(0) called"
    r = run([hvt, k, "abort"])
    assert r.returncode == 255
    assert "Solo5: ABORT: " in r.stdout
    r = run([hvt, k, "frobnicate"])
    assert r.returncode == 64
    # arguments are joined with spaces: the guest sees two words
    r = run([hvt, k, "print:two words"])
    assert r.returncode == 64
    assert "unknown argument 'words'" in r.stdout


def test_guest_name(img):
    hvt, k = tender("hvt"), img()
    r = run([hvt, k, "--name=hello", "print:x"])
    assert r.returncode == 0
    assert "Solo5: name hello" in r.stdout.splitlines()
    r = run([hvt, k, "--name=hello", "reject-name"])
    assert r.returncode == 64
    assert "Solo5: name" not in r.stdout
    r = run([hvt, k, "--name=hello"], env={"PETREL_FAKE_REJECT_NAME": "1"})
    assert r.returncode == 64
    # without an injected --name, reject-name is harmless
    r = run([hvt, k, "reject-name"], env={"PETREL_FAKE_REJECT_NAME": "1"})
    assert r.returncode == 0
    # only a leading --name= is the injected one
    r = run([hvt, k, "print:x", "--name=hello"])
    assert r.returncode == 64


def test_cmdline_limit(img):
    hvt, k = tender("hvt"), img()
    ok = "print:" + "x" * (8191 - len("print:"))
    r = run([hvt, k, ok])
    assert r.returncode == 0, r.stderr
    r = run([hvt, k, ok + "x"])
    assert r.returncode == 1
    assert "Guest command line too long" in r.stderr
    # two arguments and their joining space: 7 + 1 + 8183 = 8191 fits
    r = run([hvt, k, "print:a", "x" * 8183])
    assert r.returncode == 64 and "unknown argument 'xxx" in r.stdout
    r = run([hvt, k, "print:a", "x" * 8184])
    assert r.returncode == 1 and "Guest command line too long" in r.stderr


def test_sigterm_hvt(img, running):
    t = running([tender("hvt"), img(), "print:up", "run"])
    t.wait_for_output("up\n")
    t.p.send_signal(signal.SIGTERM)
    rc, out, err = t.finish()
    assert rc == 1
    assert "solo5-hvt: Exiting on signal 15" in err
    t = running([tender("hvt"), img("b.img"), "print:up", "run"])
    t.wait_for_output("up\n")
    t.p.send_signal(signal.SIGINT)
    rc, out, err = t.finish()
    assert rc == 1 and "Exiting on signal 2" in err


def test_sigterm_spt(img, running):
    t = running([tender("spt"), img(target="spt"), "print:up", "run"])
    t.wait_for_output("up\n")
    t.p.send_signal(signal.SIGTERM)
    rc, out, err = t.finish()
    assert rc == -signal.SIGTERM
    assert "Exiting" not in err


def test_sleep_then_exit(img):
    r = run([tender("hvt"), img(), "sleep:20", "print:after"])
    assert r.returncode == 0 and "after" in r.stdout


def open_fds(pid):
    """fd -> (target, flags) of a running process."""
    fds = {}
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                flags = int([ln for ln in f if ln.startswith("flags:")][0]
                            .split()[1], 8)
        except FileNotFoundError:
            continue
        fds[int(fd)] = (target, flags)
    return fds


def test_fds_cloexec(img, disk, running):
    d = disk(1 << 20)
    t = running([tender("hvt"), "--block:storage=" + d,
                 img(blocks=["storage"]), "print:up", "run"])
    t.wait_for_output("up\n")
    fds = open_fds(t.p.pid)
    extra = {fd: v for fd, v in fds.items() if fd > 2}
    # the block device, nothing else (the image was closed after loading)
    assert [v[0] for v in extra.values()] == [d], fds
    for fd, (target, flags) in extra.items():
        assert flags & O_CLOEXEC, (fd, target)


# ---------------------------------------------------------------------------
# taps, in a network namespace of our own

def ip(*args, check=True):
    return subprocess.run(["ip"] + list(args), capture_output=True,
                          text=True, check=check, timeout=20)


@pytest.fixture
def netns():
    if os.geteuid() != 0:
        pytest.skip("tap tests need root")
    if shutil.which("ip") is None or not os.path.exists("/dev/net/tun"):
        pytest.skip("tap tests need iproute2 and /dev/net/tun")
    name = "petrel-fake-" + uuid.uuid4().hex[:8]
    ip("netns", "add", name)
    try:
        yield name
    finally:
        ip("netns", "del", name, check=False)


def in_ns(ns, argv):
    return ["ip", "netns", "exec", ns] + argv


def make_tap(ns, name, up=True):
    ip("-n", ns, "tuntap", "add", "dev", name, "mode", "tap")
    if up:
        ip("-n", ns, "link", "set", "dev", name, "up")


def tap_stats(ns, name):
    out = ip("-j", "-s", "-n", ns, "link", "show", "dev", name).stdout
    s = json.loads(out)[0]["stats64"]
    return s["rx"]["packets"], s["tx"]["packets"]


@pytest.mark.parametrize("target", ["hvt", "spt"])
def test_tap_attach(netns, img, target):
    make_tap(netns, "tap0")
    make_tap(netns, "tapdown", up=False)
    k = img(target=target, nets=["service"])
    fake = tender(target)
    r = run(in_ns(netns, [fake, "--net:service=tap0",
                          "--net-mac:service=00:80:41:01:02:03", k,
                          "print:attached"]))
    assert r.returncode == 0, r.stderr
    assert "attached" in r.stdout.splitlines()
    r = run(in_ns(netns, [fake, "--net:service=nosuchtap", k]))
    assert r.returncode == 1
    assert ("Could not attach interface: nosuchtap: No such file or "
            "directory") in r.stderr
    assert "usage: solo5-" in r.stderr
    r = run(in_ns(netns, [fake, "--net:service=tapdown", k]))
    assert r.returncode == 1
    assert "Could not attach interface: tapdown: Network is down" in r.stderr
    # the broken @FD form of v0.12.1 (solo5.md §10)
    r = run(in_ns(netns, [fake, "--net:service=@3", k]))
    assert r.returncode == 1
    assert "Could not attach interface: @3: Success" in r.stderr
    # a name too long for IFNAMSIZ
    r = run(in_ns(netns, [fake, "--net:service=abcdefghijklmnop", k]))
    assert r.returncode == 1 and "Could not attach interface" in r.stderr


def test_tap_busy_then_reusable(netns, img, running):
    make_tap(netns, "tap0")
    k = img(nets=["service"])
    fake = tender("hvt")
    t = running(in_ns(netns, [fake, "--net:service=tap0", k, "print:up",
                              "run"]))
    t.wait_for_output("up\n")
    # `ip netns exec` execs the tender: same pid. One tap fd, CLOEXEC.
    extra = [v for fd, v in open_fds(t.p.pid).items() if fd > 2]
    assert [v[0] for v in extra] == ["/dev/net/tun"], extra
    assert extra[0][1] & O_CLOEXEC
    r = run(in_ns(netns, [fake, "--net:service=tap0", k]))
    assert r.returncode == 1
    assert ("Could not attach interface: tap0: Device or resource busy"
            in r.stderr)
    t.p.send_signal(signal.SIGTERM)
    rc, _, err = t.finish()
    assert rc == 1, err
    # immediately reusable once its tender is gone (solo5.md §10)
    r = run(in_ns(netns, [fake, "--net:service=tap0", k]))
    assert r.returncode == 0, r.stderr


SEND_FRAME = r"""
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
frame = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + b"\x88\xb5" + b"petrel" * 10
for _ in range(int(sys.argv[2])):
    s.send(frame)
"""


def test_tap_echo(netns, img, running):
    make_tap(netns, "tap0")
    ip("-n", netns, "link", "set", "dev", "tap0", "arp", "off",
       "multicast", "off")
    k = img(nets=["service"])
    t = running(in_ns(netns, [tender("hvt"), "--net:service=tap0", k,
                              "echo"]))
    t.wait_for_output("echoing frames")
    rx0, tx0 = tap_stats(netns, "tap0")
    subprocess.run(in_ns(netns, [sys.executable, "-c", SEND_FRAME, "tap0",
                                 "5"]), check=True, timeout=20)
    deadline = time.monotonic() + 10
    while True:
        rx, tx = tap_stats(netns, "tap0")
        # frames the kernel sent into the tap came back out of the guest
        if tx - tx0 >= 5 and rx - rx0 >= 5:
            break
        assert time.monotonic() < deadline, (rx0, tx0, rx, tx)
        time.sleep(0.02)
    t.p.send_signal(signal.SIGTERM)
    rc, _, err = t.finish()
    assert rc == 1 and "Exiting on signal 15" in err
