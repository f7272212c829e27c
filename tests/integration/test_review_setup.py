"""Issue 9, items 1, 8 and 10: who may reach what in petreld's directories,
one petreld per db dir and per run dir, and taps that belong to exactly
one daemon (docs/permissions.md).

The console user is nobody:nogroup (petreld --console-group nogroup), the
operators' group `users`; the unprivileged side runs through util-linux's
setpriv, so no account is created on the host."""

import json
import os
import signal
import socket
import stat
import subprocess

import pytest

import pthelpers as H
from conftest import PETREL_BIN, PYTHON, need_binary
from test_console_petreld import follow  # noqa: F401 (a fixture)

CONSOLE_USER = ("nobody", "nogroup")
OPERATOR_GROUP = "users"


def as_user(user, group, argv, timeout=60):
    """Runs argv as user:group with no supplementary groups."""
    return subprocess.run(["setpriv", "--reuid", user, "--regid", group,
                           "--clear-groups", "--"] + list(argv),
                          capture_output=True, text=True, timeout=timeout,
                          cwd="/", stdin=subprocess.DEVNULL)


# What a compromised petrel-console would try; each line prints whether the
# kernel let it through.
ATTACKS = r"""
import errno, json, os, socket, sys
tmp = sys.argv[1]
util = os.path.join(tmp, "util")
fifo = os.path.join(tmp, "fifo")
out = {}
def attempt(what, f):
    try:
        f()
        out[what] = "allowed"
    except OSError as e:
        out[what] = errno.errorcode.get(e.errno, str(e.errno))
def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(os.path.join(util, "vmmd.sock"))
    finally:
        s.close()
attempt("connect to vmmd.sock", connect)
attempt("rename vmmd.sock", lambda: os.rename(os.path.join(util, "vmmd.sock"),
                                              os.path.join(util, "moved")))
attempt("create in util", lambda: os.close(os.open(os.path.join(util, "x"),
                                                   os.O_CREAT | os.O_WRONLY, 0o600)))
attempt("socket in util", lambda: socket.socket(socket.AF_UNIX).bind(
    os.path.join(util, "fake.sock")))
attempt("replace util/console.sock", lambda: os.rename(
    os.path.join(util, "vmmd.sock"), os.path.join(util, "console.sock")))
attempt("remove util/console.sock", lambda: os.unlink(
    os.path.join(util, "console.sock")))
attempt("create in fifo", lambda: os.mkfifo(os.path.join(fifo, "fake")))
attempt("create in the run dir", lambda: os.mkdir(os.path.join(tmp, "evil")))
for name in os.listdir(fifo):
    p = os.path.join(fifo, name)
    attempt("write FIFO " + name, lambda: os.close(os.open(p, os.O_WRONLY | os.O_NONBLOCK)))
    attempt("rename FIFO " + name, lambda: os.rename(p, p + ".x"))
print(json.dumps(out))
"""


def attacks_as(user, group, tmpdir):
    r = as_user(user, group, [PYTHON, "-c", ATTACKS, tmpdir])
    assert r.returncode == 0, r
    return json.loads(r.stdout)


def wait_exit(p, pd, timeout=60):
    """The exit status of a petreld that must refuse to start; one that
    runs on is stopped (SIGTERM: it takes its tenders with it)."""
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGTERM)
        p.wait(60)
        raise AssertionError("the second petreld did not refuse:\n%s"
                             % pd.log_text(4000))


def not_denied(results):
    """The attempts the kernel did not refuse for want of permission."""
    return {k: v for k, v in results.items() if v not in ("EACCES", "EPERM")}


def shared_petreld(factory, extra=()):
    pd = factory(start=False,
                 extra_args=["--console-group", CONSOLE_USER[1]] + list(extra))
    os.chmod(pd.base, 0o711)  # the test's private dir must be traversable
    pd.start()
    return pd


# ---------------------------------------------------------------------------
# Item 1: the console group


def test_console_user_reaches_nothing_of_petreld(petreld_factory, images,
                                                 tender):
    tender.need_scripted()
    pd = shared_petreld(petreld_factory)
    pd.ok("create", "talk", images.path("hvt"), "--arg", "run")
    pd.wait_tender(":talk")
    assert os.path.exists(pd.fifo_path(":talk"))
    got = attacks_as(*CONSOLE_USER, pd.tmpdir)
    assert not not_denied(got), got
    assert "write FIFO :talk" in got, got
    util = os.stat(os.path.join(pd.tmpdir, "util"))
    assert (util.st_uid, util.st_gid) == (0, 0)
    assert stat.S_IMODE(util.st_mode) == 0o755
    sock = os.stat(pd.sock)
    assert (sock.st_uid, sock.st_gid, stat.S_IMODE(sock.st_mode)) == (0, 0, 0o600)
    # petreld still answers, and nothing was moved.
    assert ":talk" in pd.info()
    assert sorted(os.listdir(os.path.join(pd.tmpdir, "util"))) == [
        "console.sock", "vmmd.sock"]
    pd.ok("destroy", "talk")


def test_unprivileged_console_serves_through_util_link(
        petreld_factory, console_factory, images, tender, follow):
    """petrel-console as the console user keeps its socket in console/;
    the albatross path util/console.sock is petreld's symlink to it, and
    the client (through that path) reads the console."""
    tender.need_scripted()
    pd = shared_petreld(petreld_factory)
    cd = console_factory(pd, run_as=CONSOLE_USER)
    link = os.path.join(pd.tmpdir, "util", "console.sock")
    st = os.lstat(link)
    assert stat.S_ISLNK(st.st_mode) and st.st_uid == 0, st
    assert os.readlink(link) == "../console/console.sock"
    assert os.path.samefile(link, cd.sock)
    sock = os.stat(cd.sock)
    assert sock.st_uid == 65534, sock
    pd.ok("create", "talk", images.path("hvt"), "--arg", "print:hello-link",
          "--arg", "run")
    f = follow(pd, "talk", "--count", "1024")
    f.wait_line("hello-link")
    # The console user can replace its own socket, nothing of petreld's.
    got = attacks_as(*CONSOLE_USER, pd.tmpdir)
    assert not not_denied(got), got
    pd.ok("destroy", "talk")


def test_operator_group_reaches_vmmd_sock(petreld_factory):
    pd = shared_petreld(petreld_factory, extra=["--group", OPERATOR_GROUP])
    sock = os.stat(pd.sock)
    assert stat.S_IMODE(sock.st_mode) == 0o660, oct(sock.st_mode)
    assert sock.st_gid == 100 and sock.st_uid == 0, sock
    client = [need_binary(PETREL_BIN), "--tmpdir", pd.tmpdir, "policy"]
    r = as_user("nobody", OPERATOR_GROUP, client)
    assert r.returncode == 0, r
    # The console group is not the operators' group.
    r = as_user(*CONSOLE_USER, client)
    assert r.returncode != 0 and "ermission denied" in r.stderr, r


def test_start_repairs_a_group_writable_util(petreld_factory):
    """Earlier petrels made util/ setgid and group-writable for the
    console group: a start takes it back and removes what others put in
    it (here a socket posing as vmmd.sock and a file)."""
    pd = petreld_factory(start=False,
                         extra_args=["--console-group", CONSOLE_USER[1]])
    util = os.path.join(pd.tmpdir, "util")
    os.makedirs(util)
    os.chmod(pd.tmpdir, 0o755)
    os.chown(util, 0, 65534)
    os.chmod(util, 0o2775)
    fake = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        fake.bind(pd.sock)
        fake.listen(1)
        os.chown(pd.sock, 65534, 65534)
        planted = os.path.join(util, "planted")
        open(planted, "w").close()
        os.chown(planted, 65534, 65534)
        # The impostor answers until petreld has taken its place.
        pd.starts += 1
        pd.proc = pd.spawn()
        H.wait_for(lambda: "petreld ready" in pd.log_text() or
                   pd.proc.poll() is not None, 30, what="petreld to start")
    finally:
        fake.close()
    pd.wait_ready()
    st = os.stat(util)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0, 0o755)
    assert sorted(os.listdir(util)) == ["console.sock", "vmmd.sock"]
    assert os.stat(pd.sock).st_uid == 0
    assert "removed %s/planted" % util in pd.log_text()


def test_world_writable_run_dir_refused(petreld_factory):
    pd = petreld_factory(start=False)
    os.makedirs(pd.tmpdir)
    os.chmod(pd.tmpdir, 0o1777)
    assert wait_exit(pd.spawn(), pd) != 0
    assert "is writable by its group or others" in pd.log_text(), pd.log_text(4000)


# ---------------------------------------------------------------------------
# Item 8: one petreld per db dir (and per run dir)


def test_second_petreld_on_the_same_dbdir_refused(petreld_factory, images,
                                                  tender):
    tender.need_scripted()
    first = petreld_factory()
    first.ok("create", "web", images.path("hvt", nets=["service"]),
             "--net", "service:br0", "--arg", "run")
    pid, _ = first.wait_tender(":web")
    taps = first.ns.taps()
    state = open(os.path.join(first.dbdir, "state"), "rb").read()
    second = petreld_factory(start=False)
    argv = second.argv()
    argv[argv.index("--dbdir") + 1] = first.dbdir
    p = second.spawn(argv=argv)
    rc = wait_exit(p, second)
    assert rc != 0
    log = second.log_text()
    assert "%s is in use by petreld pid %d" % (first.dbdir, first.pid) in log, log
    # The first one's unikernel is untouched: one tender, the same taps and
    # state, nothing run from the second's tmpdir.
    assert H.pid_alive(pid)
    assert list(H.tender_processes(first.tmpdir)) == [pid]
    assert H.tender_processes(second.tmpdir) == {}
    assert first.ns.taps() == taps
    assert open(os.path.join(first.dbdir, "state"), "rb").read() == state
    assert ":web" in first.info()


def test_second_petreld_on_the_same_tmpdir_refused(petreld_factory, images,
                                                   tender):
    tender.need_scripted()
    first = petreld_factory()
    first.ok("create", "web", images.path("hvt"), "--arg", "run")
    pid, _ = first.wait_tender(":web")
    second = petreld_factory(start=False)
    argv = second.argv()
    argv[argv.index("--tmpdir") + 1] = first.tmpdir
    rc = wait_exit(second.spawn(argv=argv), second)
    assert rc != 0
    log = second.log_text()
    assert "%s is in use by petreld pid %d" % (first.tmpdir, first.pid) in log, log
    assert list(H.tender_processes(first.tmpdir)) == [pid]
    assert os.path.exists(first.sock) and ":web" in first.info()


def test_lock_is_released_at_exit(petreld_factory):
    """The lock goes with the process, however it ends: a start after a
    SIGKILL is not refused."""
    pd = petreld_factory()
    pd.stop(signal.SIGKILL)
    pd.start()
    with open(os.path.join(pd.dbdir, "petreld.lock")) as f:
        assert f.read().strip() == str(pd.pid)


# ---------------------------------------------------------------------------
# Item 10: the taps' alias


def relative_petreld(factory):
    """A petreld started in its base dir with --tmpdir run."""
    pd = factory(start=False)
    argv = pd.argv()
    argv[argv.index("--tmpdir") + 1] = "run"
    pd.argv = lambda: list(argv)
    pd.start(cwd=pd.base)
    return pd


def test_same_relative_tmpdir_from_two_cwds(petreld_factory, images, tender):
    tender.need_scripted()
    img = images.path("hvt", nets=["service"])
    first = relative_petreld(petreld_factory)
    first.ok("create", "web", img, "--net", "service:br0", "--arg", "run")
    pid, _ = first.wait_tender(":web")
    taps = first.ns.taps()
    assert len(taps) == 1
    second = relative_petreld(petreld_factory)
    second.ok("create", "web", img, "--net", "service:br0", "--arg", "run")
    second.wait_tender(":web")
    # The first one's tap survived the second's start-up clean-up.
    assert set(taps) < set(first.ns.taps())
    assert H.pid_alive(pid) and first.tender_of(":web")[0] == pid
    alias = first.ns.link(taps[0]).get("ifalias", "")
    assert alias.startswith("petrel:%s db:" % os.path.realpath(first.tmpdir)), alias
    # Each one takes its own taps when it stops (the teardown checks the
    # namespace as a whole, after each petreld).
    assert second.stop() == 0
    assert first.ns.taps() == taps


def test_crash_leftover_taps_removed_with_relative_tmpdir(petreld_factory,
                                                          images, tender):
    """The clean-up still finds the taps of this very daemon after a
    crash, whatever the cwd of the next start."""
    tender.need_scripted()
    pd = relative_petreld(petreld_factory)
    pd.ok("create", "web", images.path("hvt", nets=["service"]),
          "--net", "service:br0", "--arg", "run")
    pid, _ = pd.wait_tender(":web")
    tap = pd.ns.taps()[0]
    pd.stop(signal.SIGKILL)
    H.wait_for(lambda: not H.pid_alive(pid), 10, what="the tender to die")
    del pd.argv  # the absolute --tmpdir, from another cwd
    pd.start(cwd="/")
    # Restarted from the state on a fresh tap; the orphan is gone.
    new_pid, _ = pd.wait_tender(":web")
    assert new_pid != pid
    assert "removed 1 taps left by an earlier petreld" in pd.log_text()
    assert len(pd.ns.taps()) == 1, (tap, pd.ns.taps())

