"""Density limits (issue 16, docs/limits.md): a create that would run
petreld out of descriptors, fill a bridge's ports or pass the pids.max of
petreld's cgroup is refused with a reason, before anything is made; what
runs keeps running, and `info` and `destroy` still work from new
connections.

The bridge test fills br0 with 1,022 taps made with `ip -batch` (about 3 s
here), so the kernel's real limit (1,023 ports) is what is tested; no
test-only option is needed.
"""

import os
import resource
import subprocess

import pytest

import pthelpers as H

# petreld keeps 2 descriptors per unikernel and 64 for itself
# (src/core/capacity.h): 200 allows (200 - 64) / 2 = 68 unikernels.
NOFILE = 200
FITS = (NOFILE - 64) // 2


def nofile_limit():
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def create_until_refused(pd, img, limit, prefix="u", extra=()):
    """Creates prefix0, prefix1, ... until a create fails; returns how many
    succeeded and the failure's JSON."""
    for i in range(limit):
        r = pd.petrel("create", "%s%d" % (prefix, i), img, "--mem", "4",
                      "--arg", "run", *extra, json=True)
        if r.rc != 0:
            return i, r
    raise AssertionError("%d creates and none refused" % limit)


@pytest.mark.parametrize("with_console", [False, True],
                         ids=["petreld-drains", "petrel-console"])
def test_descriptor_limit(petreld_factory, console_factory, images, tender,
                          with_console):
    """Under RLIMIT_NOFILE 200 (soft = hard) petreld runs exactly the 68
    unikernels its budget allows, refuses the 69th naming the limit, and
    still answers `info` and `destroy` on new connections; a destroy makes
    room for the next create. With petrel-console (same limit) too, and
    without it (petreld then reads every console FIFO itself: its worst
    case)."""
    tender.need_scripted()
    pd = petreld_factory(start=False)
    if with_console:
        cd = console_factory(pd, start=False)
        argv = cd.argv
        cd.argv = lambda: ["prlimit", "--nofile=%d:%d" % (NOFILE, NOFILE),
                           "--"] + argv()
        cd.start()
    pd.start(preexec_fn=nofile_limit)
    assert "descriptor limit %d" % NOFILE in pd.log_text()
    img = images.path("hvt")
    made, refused = create_until_refused(pd, img, FITS + 10)
    assert made == FITS, (made, refused)
    msg = refused.json["message"]
    assert ("descriptor limit %d allows at most %d unikernels; %d run"
            % (NOFILE, FITS, FITS)) in msg, msg
    # Nothing was made for the refused one, and petreld holds less than
    # its limit (the reserve is real).
    before = pd.snapshot()
    pd.jfail("create", "extra", img, "--mem", "4", "--arg", "run")
    pd.assert_unchanged(before, "a create beyond the descriptor limit")
    held = fd_count(pd.pid)
    print("petreld holds %d descriptors with %d unikernels" % (held, FITS))
    assert held < NOFILE - 32, held
    # New connections: info sees them all, destroy works, and makes room.
    assert len(pd.info()) == FITS
    pd.ok("destroy", "u0")
    pd.ok("create", "again", img, "--mem", "4", "--arg", "run")
    pd.jfail("create", "extra", img, "--mem", "4", "--arg", "run")
    if with_console:
        assert "descriptor limit %d" % NOFILE in cd.log_text()
    # A force-create replaces one: no new descriptors, so it is allowed.
    pd.ok("create", "--force", "again", img, "--mem", "4", "--arg", "run")
    for name in pd.info():
        pd.ok("destroy", name)


def test_console_descriptor_limit(petreld_factory, console_factory, images,
                                  tender):
    """petrel-console under a lower limit than petreld (70: (70 - 64) / 1 =
    6 consoles) refuses the 7th `console add` naming its limit; petreld
    creates the unikernel all the same and reads its console itself."""
    tender.need_scripted()
    pd = petreld_factory(start=False)
    cd = console_factory(pd, start=False)
    argv = cd.argv
    cd.argv = lambda: ["prlimit", "--nofile=70:70", "--"] + argv()
    cd.start()
    pd.start()
    img = images.path("hvt")
    for i in range(7):
        pd.ok("create", "c%d" % i, img, "--mem", "4", "--arg", "run")
    H.wait_for(lambda: "descriptor limit 70 allows at most 6 consoles; 6 "
               "read" in cd.log_text() + pd.log_text(), 10,
               what="petrel-console's refusal of the 7th console")
    assert len(pd.info()) == 7
    for i in range(7):
        pd.ok("destroy", "c%d" % i)


def fill_bridge(ns, bridge, n):
    """n taps (not petreld's: named pf<N>) enslaved to the bridge."""
    cmds = []
    for i in range(n):
        cmds.append("tuntap add pf%d mode tap" % i)
        cmds.append("link set pf%d master %s" % (i, bridge))
    r = subprocess.run(["ip", "-n", ns.name, "-batch", "-"],
                       input="\n".join(cmds) + "\n", capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def empty_bridge(ns, n):
    cmds = ["link del pf%d" % i for i in range(n)]
    subprocess.run(["ip", "-n", ns.name, "-force", "-batch", "-"],
                   input="\n".join(cmds) + "\n", capture_output=True,
                   text=True, timeout=120)


def test_bridge_ports(petreld, images, tender, netns):
    """br0 with 1,022 ports takes one more tap (the 1,023rd); the next
    create is refused naming the bridge and the kernel's limit, with
    nothing left behind; another bridge still takes unikernels, a
    force-create on the full bridge replaces (its old tap goes), and a
    destroy makes room."""
    tender.need_scripted()
    pd = petreld
    fill = 1022
    fill_bridge(netns, "br0", fill)
    try:
        img = images.path("hvt", nets=["service"])
        pd.ok("create", "last", img, "--net", "service:br0", "--arg", "run")
        before = pd.snapshot()
        j = pd.jfail("create", "over", img, "--net", "service:br0",
                     "--arg", "run")
        assert "bridge br0 has 1023 ports" in j["message"], j
        assert "at most 1023" in j["message"], j
        pd.assert_unchanged(before, "a create on a full bridge")
        pd.ok("create", "elsewhere", img, "--net", "service:br1",
              "--arg", "run")
        pd.ok("create", "--force", "last", img, "--net", "service:br0",
              "--arg", "run")
        pd.ok("destroy", "last")
        pd.wait_no_tender("last")
        pd.ok("create", "over", img, "--net", "service:br0", "--arg", "run")
        for name in ("over", "elsewhere"):
            pd.ok("destroy", name)
            pd.wait_no_tender(name)
    finally:
        empty_bridge(netns, fill)


def pids_cgroup_root():
    """The pids hierarchy: cgroup v2 with the pids controller, or v1."""
    try:
        with open("/sys/fs/cgroup/cgroup.controllers") as f:
            if "pids" in f.read().split():
                return "/sys/fs/cgroup"
    except OSError:
        pass
    if os.path.exists("/sys/fs/cgroup/pids/cgroup.procs"):
        return "/sys/fs/cgroup/pids"
    pytest.skip("no pids controller (cgroup v2 at /sys/fs/cgroup or v1 at "
                "/sys/fs/cgroup/pids)")


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def test_pids_limit(petreld_factory, images, tender, netns):
    """petreld moved into a cgroup whose pids.max leaves room for two spt
    tenders: the third create is refused naming pids.max and the cgroup,
    nothing is left behind, and a destroy makes room."""
    tender.need_scripted()
    root = pids_cgroup_root()
    pd = petreld_factory(start=False)
    # `ip netns exec` mounts a fresh /sys, which hides /sys/fs/cgroup:
    # enter only the network namespace.
    argv = pd.argv
    prefix = netns.exec_argv([])
    pd.argv = lambda: (["nsenter", "--net=/run/netns/" + netns.name] +
                       argv()[len(prefix):])
    pd.start()
    cg = os.path.join(root, "petrel-test-%d" % os.getpid())
    os.mkdir(cg)
    try:
        if root == "/sys/fs/cgroup":
            ctl = open(os.path.join(root, "cgroup.subtree_control")).read()
            if "pids" not in ctl.split():
                pytest.skip("the pids controller is not enabled for "
                            "children of /sys/fs/cgroup")
        write(os.path.join(cg, "cgroup.procs"), str(pd.pid))
        with open(os.path.join(cg, "pids.current")) as f:
            current = int(f.read())
        write(os.path.join(cg, "pids.max"), str(current + 2))
        img = images.path("spt")
        pd.ok("create", "one", img, "--arg", "run")
        pd.ok("create", "two", img, "--arg", "run")
        before = pd.snapshot()
        j = pd.jfail("create", "three", img, "--arg", "run")
        assert "pids.max %d of cgroup %s" % (current + 2, cg) in j["message"], j
        assert "solo5-spt tender needs 1" in j["message"], j
        pd.assert_unchanged(before, "a create beyond pids.max")
        pd.ok("destroy", "one")
        pd.wait_no_tender("one")
        H.wait_for(lambda: int(open(os.path.join(cg, "pids.current")).read())
                   <= current + 1, 10, what="the tender's task to be gone")
        pd.ok("create", "three", img, "--arg", "run")
        for name in ("two", "three"):
            pd.ok("destroy", name)
            pd.wait_no_tender(name)
    finally:
        # Back where it came from, before the fixture stops it (its exit
        # may need tasks of its own: the leak checker's).
        write(os.path.join(cg, "pids.max"), "max")
        with open(os.path.join(cg, "cgroup.procs")) as f:
            pids = f.read().split()
        for pid in pids:
            write(os.path.join(root, "cgroup.procs"), pid)
        os.rmdir(cg)
