"""Fixtures for the petreld integration tests.

Every test that uses `petreld` gets its own network namespace (with bridges
br0 and br1), its own run and db directories, and a petreld started inside
that namespace with the tender (the stand-in, or real Solo5 tenders when
SOLO5_HVT / SOLO5_SPT name them) in its db dir. The test drives it through
the real client. At teardown petreld gets SIGTERM and the fixture checks
that it left nothing behind: no tender process, no tap, no FIFO or image
file.

Nothing here is autouse: test modules of other helpers that need no root
share this directory.

Binaries come from PETREL_BUILD_DIR (set by meson to the build root that
runs the suite; /work/main/build-test otherwise).
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

import pthelpers as H

SRC_DIR = Path(__file__).resolve().parents[2]
BUILD_DIR = Path(os.environ.get("PETREL_BUILD_DIR") or SRC_DIR / "build-test")
MKIMAGE = SRC_DIR / "tests" / "tools" / "mkimage.py"
PYTHON = "/usr/bin/python3"

PETRELD_BIN = BUILD_DIR / "src" / "petreld" / "petreld"
PETREL_BIN = BUILD_DIR / "src" / "client" / "petrel"
STANDIN_DIR = BUILD_DIR / "tests" / "tender"

# A PATH without any solo5 tender on it, so that the tender petreld uses is
# the one in its db dir (or none, for the missing-tender tests).
CLEAN_PATH = "/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin"

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:", "SUMMARY: UndefinedBehaviorSanitizer")


def need_root():
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces, taps)")
    if shutil.which("ip") is None:
        pytest.skip("needs iproute2 (`ip`) for the test scaffolding")


def need_binary(path):
    if not Path(path).exists():
        pytest.fail("%s is not built (PETREL_BUILD_DIR=%s)" % (path, BUILD_DIR))
    return str(path)


def sanitizer_report(text):
    for m in SANITIZER_MARKS:
        if m in text:
            return m
    return None


# ---------------------------------------------------------------------------
# Logs of every petreld of a failed test go into its report.

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for pd in getattr(item, "_petrelds", []):
            rep.sections.append(("petreld log (%s)" % pd.base, pd.log_text(tail=20000)))
        for cd in getattr(item, "_consoles", []):
            rep.sections.append(("petrel-console log (%s)" % cd.tmpdir,
                                 cd.log_text(tail=20000)))


# ---------------------------------------------------------------------------
# The network namespace


class NetNS:
    def __init__(self, name):
        self.name = name

    def ip(self, *args, check=True):
        return H.ip("-n", self.name, *args, check=check)

    def add_bridge(self, name):
        self.ip("link", "add", name, "type", "bridge")
        self.ip("link", "set", name, "up")

    def del_link(self, name):
        self.ip("link", "del", name)

    def taps(self):
        return H.taps(self.name)

    def link(self, name):
        return H.link(self.name, name)

    def pids(self):
        r = H.ip("netns", "pids", self.name, check=False)
        return [int(p) for p in r.stdout.split()]

    def exec_argv(self, argv):
        return ["ip", "netns", "exec", self.name] + list(argv)


@pytest.fixture
def netns():
    need_root()
    ns = NetNS("pt-" + uuid.uuid4().hex[:10])
    H.ip("netns", "add", ns.name)
    try:
        ns.ip("link", "set", "lo", "up")
        ns.add_bridge("br0")
        ns.add_bridge("br1")
        yield ns
    finally:
        # Whatever a failed test left running in the namespace was started
        # by this test (petreld, its tenders): end it by pid.
        leftover = ns.pids()
        for pid in leftover:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            H.wait_for(lambda: not any(H.pid_alive(p) for p in leftover), 10,
                       what="processes of namespace %s to die" % ns.name)
        finally:
            H.ip("netns", "del", ns.name, check=False)


# ---------------------------------------------------------------------------
# Tenders: the stand-in always; real Solo5 tenders when the environment
# names them.


class Tender:
    def __init__(self, kind, hvt, spt):
        self.kind = kind
        self.paths = {"hvt": hvt, "spt": spt}

    @property
    def scripted(self):
        """The stand-in runs whatever the unikernel arguments say; a real
        tender runs the image itself."""
        return self.kind == "standin"

    def need_scripted(self):
        if not self.scripted:
            pytest.skip("needs the stand-in tender's scripted unikernel "
                        "(the test images are not runnable by real Solo5)")

    def need(self, target):
        if not self.paths.get(target):
            pytest.skip("no %s tender" % target)


@pytest.fixture(params=["standin", "real"])
def tender(request):
    if request.param == "standin":
        return Tender("standin",
                      need_binary(STANDIN_DIR / "solo5-hvt"),
                      need_binary(STANDIN_DIR / "solo5-spt"))
    hvt = os.environ.get("SOLO5_HVT")
    spt = os.environ.get("SOLO5_SPT")
    if not hvt and not spt:
        pytest.skip("SOLO5_HVT / SOLO5_SPT do not name real tenders")
    return Tender("real", hvt, spt)


# ---------------------------------------------------------------------------
# Test images (real ELF files with Solo5 notes, made by tests/tools/mkimage.py)


class Images:
    def __init__(self, directory):
        self.dir = Path(directory)
        self.cache = {}

    def path(self, target="hvt", nets=(), blocks=(), abi=None, flags=()):
        """Path of an image; built once per session for each variant."""
        key = (target, tuple(nets), tuple(blocks), abi, tuple(flags))
        if key not in self.cache:
            out = self.dir / ("img%d.%s" % (len(self.cache), target))
            cmd = [PYTHON, str(MKIMAGE), str(out), "--target", target]
            if abi is not None:
                cmd += ["--abi", str(abi)]
            for n in nets:
                cmd += ["--net", n]
            for b in blocks:
                cmd += ["--block", b]
            cmd += list(flags)
            if not MKIMAGE.exists():
                pytest.fail("%s is missing" % MKIMAGE)
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            if r.returncode != 0:
                pytest.fail("mkimage failed: %s\n%s" % (" ".join(cmd), r.stderr))
            self.cache[key] = str(out)
        return self.cache[key]

    def data(self, *args, **kw):
        return Path(self.path(*args, **kw)).read_bytes()

    def write(self, name, data):
        """Writes arbitrary image bytes (patched, garbage) to a file."""
        p = self.dir / name
        p.write_bytes(data)
        return str(p)


@pytest.fixture(scope="session")
def images(tmp_path_factory):
    return Images(tmp_path_factory.mktemp("images"))


# ---------------------------------------------------------------------------
# The client's answer


class Result:
    def __init__(self, argv, rc, out, err):
        self.argv, self.rc, self.out, self.err = argv, rc, out, err
        self._json = None

    @property
    def json(self):
        if self._json is None:
            import json
            try:
                self._json = json.loads(self.out)
            except ValueError as e:
                raise AssertionError("petrel %s: stdout is not JSON (%s): %r"
                                     % (" ".join(self.argv), e, self.out))
        return self._json

    def __iter__(self):
        """rc, out, err = pd.petrel(...)"""
        return iter((self.rc, self.out, self.err))

    def __repr__(self):
        return "petrel %s -> rc %d\nstdout: %s\nstderr: %s" % (
            " ".join(self.argv), self.rc, self.out.strip(), self.err.strip())


# ---------------------------------------------------------------------------
# petreld


class Petreld:
    def __init__(self, ns, tender, logdir, grace_ms=500, backoff_ms=100,
                 extra_args=(), tmpdir_size_kb=None, path_prepend=()):
        self.ns = ns
        self.tender = tender
        self.grace_ms = grace_ms
        self.backoff_ms = backoff_ms
        self.extra_args = list(extra_args)
        self.path_prepend = list(path_prepend)
        # Short paths: a unix socket path has at most 107 bytes.
        self.base = tempfile.mkdtemp(prefix="pt", dir="/tmp")
        self.tmpdir = os.path.join(self.base, "run")
        self.dbdir = os.path.join(self.base, "db")
        self.sock = os.path.join(self.tmpdir, "util", "vmmd.sock")
        # The event log (--logdir): private, never the host's /var/log.
        self.evlogdir = os.path.join(self.base, "log")
        self.logdir = Path(logdir)
        self.logfile = self.logdir / ("petreld-%s.log" % os.path.basename(self.base))
        self.proc = None
        self.starts = 0
        self.mounted = False
        os.makedirs(self.dbdir)
        if tmpdir_size_kb is not None:
            os.makedirs(self.tmpdir)
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dk,mode=0755" % tmpdir_size_kb,
                            "pt-tmpfs", self.tmpdir], check=True, timeout=30)
            self.mounted = True
        for target, path in tender.paths.items():
            if path:
                os.symlink(os.path.abspath(path), self.tender_link(target))

    def tender_link(self, target):
        return os.path.join(self.dbdir, "solo5-" + target)

    # -- process ---------------------------------------------------------

    def argv(self):
        return self.ns.exec_argv([
            need_binary(PETRELD_BIN), "--tmpdir", self.tmpdir, "--dbdir", self.dbdir,
            "--logdir", self.evlogdir,
            "--grace-ms", str(self.grace_ms),
            "--restart-backoff-ms", str(self.backoff_ms), "-v"] + self.extra_args)

    def env(self):
        env = dict(os.environ)
        env["PATH"] = ":".join(self.path_prepend + [CLEAN_PATH])
        return env

    def spawn(self, argv=None, env=None, **popen):
        """Starts a petreld without waiting for it (for tests of refusals)."""
        log = open(self.logfile, "ab")
        log.write(("\n=== start %d: %s\n" % (self.starts, " ".join(argv or self.argv()))).encode())
        log.flush()
        try:
            return subprocess.Popen(argv or self.argv(), stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=log, env=env or self.env(),
                                    **popen)
        finally:
            log.close()

    def start(self, timeout=20, **popen):
        assert self.proc is None or self.proc.poll() is not None, "petreld already runs"
        self.starts += 1
        self.proc = self.spawn(**popen)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=20):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("petreld exited with %s while starting:\n%s"
                                     % (self.proc.returncode, self.log_text(tail=4000)))
            # A connect succeeds as soon as the socket is bound, before
            # petreld has read its state; an answered request comes after.
            return can_connect(self.sock) and self.petrel("policy").rc == 0
        H.wait_for(ready, timeout, what="petreld to answer on %s" % self.sock)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Signals petreld and waits for it; returns its exit status."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError("petreld did not exit within %ss of signal %d"
                                 % (timeout, sig))

    def log_text(self, tail=None):
        try:
            text = self.logfile.read_text(errors="replace")
        except OSError:
            return ""
        return text[-tail:] if tail else text

    # -- the client ------------------------------------------------------

    def petrel(self, *args, json=False, cwd=None, timeout=60, tmpdir=True):
        argv = [need_binary(PETREL_BIN)]
        if tmpdir:
            argv += ["--tmpdir", self.tmpdir]
        if json:
            argv.append("--json")
        argv += [str(a) for a in args]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                           cwd=cwd or self.base, stdin=subprocess.DEVNULL)
        res = Result(argv[1:], r.returncode, r.stdout, r.stderr)
        mark = sanitizer_report(r.stderr)
        assert mark is None, "the client reported %s:\n%r" % (mark, res)
        return res

    def ok(self, *args, **kw):
        """Runs the client and requires success; returns the Result."""
        r = self.petrel(*args, **kw)
        assert r.rc == 0, r
        return r

    def fails(self, *args, rc=1, **kw):
        """Runs the client and requires the daemon's failure (exit 1)."""
        r = self.petrel(*args, **kw)
        assert r.rc == rc, r
        return r

    def jok(self, *args):
        r = self.ok(*args, json=True)
        assert r.json["result"] == "success", r
        return r.json

    def jfail(self, *args):
        r = self.fails(*args, json=True)
        assert r.json["result"] == "failure", r
        assert r.json.get("message"), r
        return r.json

    def info(self, name=None):
        args = ["info"] + ([name] if name is not None else [])
        j = self.jok(*args)
        assert j["kind"] == "unikernel-info", j
        return {u["name"]: u for u in j["unikernels"]}

    def policies(self, path=None):
        args = ["policy"] + ([path] if path is not None else [])
        j = self.jok(*args)
        assert j["kind"] == "policies", j
        return {p["name"]: p for p in j["policies"]}

    def policies_stable(self):
        """All policies, without the root's block budget (the free disk
        space, which moves with whatever else writes to the disk)."""
        pols = self.policies()
        if ":" in pols:
            pols[":"].pop("block", None)
        return pols

    # -- what runs on the host -------------------------------------------

    def image_path(self, name):
        """A.1: <tmpdir>/<name text>.img."""
        return os.path.join(self.tmpdir, name + ".img")

    def fifo_path(self, name):
        """A.1: <tmpdir>/fifo/<name text>."""
        return os.path.join(self.tmpdir, "fifo", name)

    def tenders(self):
        return H.tender_processes(self.tmpdir)

    def tender_of(self, name):
        """(pid, argv) of the tender running `name` (a child of petreld),
        or None."""
        img = self.image_path(name)
        parent = self.pid if self.alive() else None
        found = [(p, a) for p, a in H.tender_processes(self.tmpdir, parent).items()
                 if img in a]
        assert len(found) <= 1, "several tenders for %s: %s" % (name, found)
        return found[0] if found else None

    def wait_tender(self, name, timeout=10, other_than=None):
        """Waits until a tender runs `name` (a new one if other_than is a
        pid) and returns (pid, argv)."""
        def running():
            t = self.tender_of(name)
            if t and t[0] != other_than and H.pid_alive(t[0]):
                return t
            return None
        return H.wait_for(running, timeout, what="a tender running %s" % name)

    def wait_no_tender(self, name, timeout=10):
        H.wait_for(lambda: self.tender_of(name) is None, timeout,
                   what="the tender of %s to be gone" % name)

    def zombies(self):
        return H.zombie_children(self.pid) if self.alive() else []

    def snapshot(self):
        state = os.path.join(self.dbdir, "state")
        try:
            state_bytes = Path(state).read_bytes()
        except OSError:
            state_bytes = None
        return {
            "taps": set(self.ns.taps()),
            "tenders": set(self.tenders()),
            "tmpdir files": H.files_under(self.tmpdir, skip=("util",)),
            "dbdir files": {f for f in H.files_under(self.dbdir)
                            if not os.path.basename(f).startswith("state")},
            "state": state_bytes,
        }

    def assert_unchanged(self, before, what="the failed command"):
        """After a failure: nothing was left behind (or taken away), and
        petreld still answers."""
        assert self.alive(), "petreld died after %s:\n%s" % (what, self.log_text(4000))
        after = self.snapshot()
        problems = []
        for k in before:
            if before[k] != after[k]:
                if isinstance(before[k], set):
                    problems.append("%s: added %s, removed %s" % (
                        k, sorted(map(str, after[k] - before[k])),
                        sorted(map(str, before[k] - after[k]))))
                else:
                    problems.append("%s changed" % k)
        z = self.zombies()
        if z:
            problems.append("unreaped children %s" % z)
        assert not problems, "%s left the host changed: %s" % (what, "; ".join(problems))
        self.petrel("info", json=True)

    def final_check(self):
        """Teardown: SIGTERM, then nothing may remain."""
        problems = []
        if self.alive():
            try:
                rc = self.stop(signal.SIGTERM)
            except AssertionError as e:
                problems.append(str(e))
                rc = None
            if rc not in (0, None):
                problems.append("petreld exited with %s on SIGTERM" % rc)
        left = self.tenders()
        if left:
            problems.append("tender processes left: %s" % left)
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        t = self.ns.taps()
        if t:
            problems.append("taps left: %s" % t)
        imgs = [f for f in H.files_under(self.tmpdir, skip=("util",)) if f.endswith(".img")]
        if imgs:
            problems.append("image files left in the tmpdir: %s" % imgs)
        fifos = H.fifos_under(self.tmpdir)
        if fifos:
            problems.append("FIFOs left in the tmpdir: %s" % fifos)
        mark = sanitizer_report(self.log_text())
        if mark:
            problems.append("petreld's log has a sanitizer report (%s)" % mark)
        return problems

    def cleanup(self):
        if self.mounted:
            subprocess.run(["umount", "-l", self.tmpdir], timeout=30)
            self.mounted = False
        shutil.rmtree(self.base, ignore_errors=True)


def can_connect(path):
    if not os.path.exists(path):
        return False
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        s.settimeout(2)
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


@pytest.fixture
def petreld_factory(request, netns, tender, tmp_path):
    """start(**options) -> a running Petreld (options: grace_ms, backoff_ms,
    extra_args, tmpdir_size_kb, path_prepend, start=False to only prepare
    it)."""
    made = []
    request.node._petrelds = made

    def start(start=True, **kw):
        pd = Petreld(netns, tender, tmp_path, **kw)
        made.append(pd)
        if start:
            pd.start()
        return pd

    yield start
    problems = []
    for pd in made:
        problems += pd.final_check()
    for pd in made:
        pd.cleanup()
    if problems:
        pytest.fail("petreld left a mess at teardown:\n  " + "\n  ".join(problems))


@pytest.fixture
def petreld(petreld_factory):
    return petreld_factory()


# ---------------------------------------------------------------------------
# petrel-console next to a petreld (the same --tmpdir)

CONSOLE_BIN = BUILD_DIR / "src" / "console" / "petrel-console"


class ConsoleDaemon:
    def __init__(self, pd, logdir, ring_lines=None, max_subs=None,
                 run_as=None):
        self.pd = pd
        # (user, group): run unprivileged, through util-linux's setpriv.
        self.run_as = run_as
        self.tmpdir = pd.tmpdir
        # Its own socket; util/console.sock is petreld's symlink to it.
        self.sock = os.path.join(self.tmpdir, "console", "console.sock")
        self.logfile = Path(logdir) / ("petrel-console-%s.log"
                                       % os.path.basename(pd.base))
        self.opts = []
        if ring_lines is not None:
            self.opts += ["--ring-lines", str(ring_lines)]
        if max_subs is not None:
            self.opts += ["--max-subscribers", str(max_subs)]
        self.proc = None
        self.starts = 0

    def argv(self):
        prefix = []
        if self.run_as is not None:
            user, group = self.run_as
            prefix = ["setpriv", "--reuid", user, "--regid", group,
                      "--clear-groups", "--"]
        return prefix + [need_binary(CONSOLE_BIN), "--tmpdir", self.tmpdir,
                         "-vv"] + self.opts

    def start(self, timeout=20):
        assert not self.alive(), "petrel-console already runs"
        self.starts += 1
        with open(self.logfile, "ab") as log:
            log.write(("\n=== start %d: %s\n" % (self.starts, " ".join(self.argv()))).encode())
            log.flush()
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log)

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("petrel-console exited with %s while starting:\n%s"
                                     % (self.proc.returncode, self.log_text(tail=4000)))
            return can_connect(self.sock)
        H.wait_for(ready, timeout, what="petrel-console's socket %s" % self.sock)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError("petrel-console did not exit within %ss of signal %d"
                                 % (timeout, sig))

    def log_text(self, tail=None):
        try:
            text = self.logfile.read_text(errors="replace")
        except OSError:
            return ""
        return text[-tail:] if tail else text

    def final_check(self):
        """Teardown: SIGTERM; a clean exit that removes its socket."""
        problems = []
        if self.alive():
            try:
                rc = self.stop(signal.SIGTERM)
            except AssertionError as e:
                problems.append(str(e))
                rc = None
            if rc not in (0, None):
                problems.append("petrel-console exited with %s on SIGTERM" % rc)
            elif os.path.exists(self.sock):
                problems.append("petrel-console left its socket %s" % self.sock)
        mark = sanitizer_report(self.log_text())
        if mark:
            problems.append("petrel-console's log has a sanitizer report (%s)" % mark)
        return problems


@pytest.fixture
def console_factory(request, petreld_factory, tmp_path):
    """start(pd, **options) -> a running ConsoleDaemon in pd's tmpdir
    (options: ring_lines, max_subs, start=False to only prepare it). Torn
    down before the petrelds."""
    made = []
    request.node._consoles = made

    def start(pd, start=True, **kw):
        cd = ConsoleDaemon(pd, tmp_path, **kw)
        made.append(cd)
        if start:
            cd.start()
        return cd

    yield start
    problems = []
    for cd in made:
        problems += cd.final_check()
    if problems:
        pytest.fail("petrel-console left a mess at teardown:\n  " + "\n  ".join(problems))


@pytest.fixture
def petrel_console(petreld_factory, console_factory):
    """petrel-console first, then a petreld with the same tmpdir (as a
    system would start them); returns the ConsoleDaemon, its .pd the
    petreld."""
    pd = petreld_factory(start=False)
    cd = console_factory(pd)
    pd.start()
    return cd
