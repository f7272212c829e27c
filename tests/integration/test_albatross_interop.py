"""The real albatross-client against petreld and petrel-console.

albatross users keep their client: every local subcommand of
albatross-client that petreld serves is run here against a real petreld
(private directory, network namespace, stand-in or real tender) and its
exit status and output are checked, with petrel's own client reading the
result back.

albatross is not in Debian: ../shared/refkit builds it outside the repo.
With real tenders (SOLO5_HVT/SOLO5_SPT), SOLO5_TESTS names Solo5's built
tests/ directory, whose test_net the lifecycle test runs.
The tests find albatross-client through ALBATROSS_BIN (the directory holding
albatross-client) or ALBATROSS_CLIENT (the executable) and are skipped,
saying so, where neither is set, as in CI.
"""

import os
import subprocess

import pytest

import pthelpers as H
from test_stats import stats_factory  # noqa: F401 (a fixture)


def albatross_client():
    path = os.environ.get("ALBATROSS_CLIENT")
    if not path and os.environ.get("ALBATROSS_BIN"):
        path = os.path.join(os.environ["ALBATROSS_BIN"], "albatross-client")
    if not path:
        pytest.skip("ALBATROSS_BIN / ALBATROSS_CLIENT do not name the real "
                    "albatross-client (../shared/refkit builds it)")
    if not os.access(path, os.X_OK):
        pytest.fail("%s is not an executable albatross-client" % path)
    return path


class Albatross:
    """albatross-client with --tmpdir pointing at petreld's run dir: it
    finds util/vmmd.sock and util/console.sock there, as it finds
    albatrossd's."""

    def __init__(self, pd):
        self.pd = pd
        self.bin = albatross_client()

    def run(self, *args, timeout=60):
        argv = [self.bin, *map(str, args), "--tmpdir", self.pd.tmpdir]
        p = subprocess.run(argv, capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout + p.stderr

    def ok(self, *args, **kw):
        rc, out = self.run(*args, **kw)
        assert rc == 0, "albatross-client %s: rc %d\n%s" % (
            " ".join(map(str, args)), rc, out)
        return out

    def fails(self, *args, **kw):
        rc, out = self.run(*args, **kw)
        assert rc != 0, "albatross-client %s succeeded:\n%s" % (
            " ".join(map(str, args)), out)
        return out


def real_test_net(tender):
    """Solo5's own test_net for a real tender: SOLO5_TESTS names Solo5's
    built tests/ directory (../shared/refkit: $REF/solo5/tests)."""
    tests = os.environ.get("SOLO5_TESTS")
    if not tests:
        pytest.skip("SOLO5_TESTS names no directory of Solo5 test unikernels")
    target = "hvt" if tender.paths.get("hvt") and os.path.exists("/dev/kvm") \
        else "spt"
    tender.need(target)
    image = os.path.join(tests, "test_net", "test_net." + target)
    if not os.path.exists(image):
        pytest.skip("%s is missing" % image)
    return image


@pytest.fixture
def alba(petreld):
    return Albatross(petreld)


def test_policies(alba, petreld):
    pd = petreld
    pd.ns.add_bridge("br-alba")
    alba.ok("add-policy", "team", "3", "--mem", "256", "--cpu", "0",
            "--bridge", "br-alba", "--size", "64")
    pols = pd.policies()
    assert "team:" in pols, pols
    p = pols["team:"]
    assert p["unikernels"] == 3 and p["memory"] == 256, p
    out = alba.ok("policy", "--path", "team")
    assert "team" in out and "256" in out, out
    # A policy larger than its parent is refused by petreld; the real
    # client reports the failure.
    alba.ok("add-policy", "team:sub", "1", "--mem", "128", "--cpu", "0")
    out = alba.fails("add-policy", "team:big", "1", "--mem", "4096",
                     "--cpu", "0")
    assert "team:big:" not in pd.policies()
    alba.ok("remove-policy", "--path", "team:sub")
    assert "team:sub:" not in pd.policies()


def test_unikernel_lifecycle(alba, petreld, images, tender):
    pd = petreld
    pd.ns.add_bridge("br-alba")
    if tender.scripted:
        image = images.path("hvt", nets=["service"])
        extra = ["--arg", "run"]
        net = "service:br-alba"
    else:
        image = real_test_net(tender)
        # Solo5's tests take no arguments: not even albatross's --name.
        extra = ["--no-add-name"]
        net = "service0:br-alba"   # the name in test_net's manifest
    alba.ok("create", "web", image, "--mem", "32", "--net", net,
            *extra)
    pd.wait_tender(":web")
    out = alba.ok("info", "--name", "web")
    assert "web" in out, out
    info = list(pd.info(":web").values())
    assert len(info) == 1 and info[0]["memory"] == 32, info
    # force-create replaces it; a plain create of a running name fails.
    alba.fails("create", "web", image, "--mem", "32",
               "--net", net, *extra)
    old = pd.tender_of(":web")[0]
    alba.ok("create", "--force", "web", image, "--mem", "48",
            "--net", net, *extra)
    pd.wait_tender(":web", other_than=old)
    assert list(pd.info(":web").values())[0]["memory"] == 48
    alba.ok("restart", "web")
    alba.ok("destroy", "web")
    pd.wait_no_tender(":web")
    assert pd.info() == {}
    alba.fails("destroy", "web")
    assert not pd.ns.taps(), "a tap is left: %s" % pd.ns.taps()


def test_block_devices(alba, petreld, tmp_path):
    pd = petreld
    data = tmp_path / "data"
    data.write_bytes(os.urandom(1 << 20) * 2)
    alba.ok("create-block", "disk", "4", "--data", data)
    out = alba.ok("block", "--name", "disk")
    assert "disk" in out, out
    back = tmp_path / "back"
    alba.ok("dump-block", "disk", "--compression-level", "0")
    # dump-block writes <name>.img (or similar) in the current directory:
    # read it back with petrel's own client instead, which compares.
    r = pd.ok("dump-block", "disk", str(back))
    got = back.read_bytes()
    assert got[:len(data.read_bytes())] == data.read_bytes()
    assert len(got) == 4 << 20
    alba.ok("set-block", "disk", data)
    alba.ok("destroy-block", "disk")
    assert "disk" not in pd.ok("block").out


def test_console(alba, petreld_factory, console_factory, images, tender):
    tender.need_scripted()
    pd = petreld_factory()
    console_factory(pd)
    al = Albatross(pd)
    pd.ok("create", "talk", images.path("hvt"), "--arg",
          "print:hello-albatross", "--arg", "run")
    pd.wait_tender(":talk")

    def seen():
        p = subprocess.Popen([al.bin, "console", "talk", "--count", "100",
                              "--tmpdir", pd.tmpdir],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, text=True)
        try:
            out, _ = p.communicate(timeout=3)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
        return "hello-albatross" in out and out
    H.wait_for(seen, 15, what="albatross-client console to show the line")
    pd.ok("destroy", "talk")


def test_stats(alba, petreld, stats_factory, images, tender):
    """albatross-client stats against petrel-stats: the §8.3 subscription
    of the real client, answered with petrel-stats's records."""
    tender.need_scripted()
    pd = petreld
    sd = stats_factory(pd)
    sd.wait_linked()
    pd.ok("create", "web", images.path("hvt", nets=["service"]), "--net",
          "service:br0", "--arg", "echo")
    pd.wait_tender(":web")

    def seen():
        p = subprocess.Popen([alba.bin, "stats", "--name", "web",
                              "--tmpdir", pd.tmpdir],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, text=True)
        try:
            out, _ = p.communicate(timeout=3)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
        # albatross-client prints the rusage and the interfaces (by the
        # manifest's network name) of each record it receives.
        return "utime" in out and "bridge service" in out and out
    out = H.wait_for(seen, 20, what="albatross-client stats to print a record")
    assert "success: subscribed" in out, out
    pd.ok("destroy", "web")
