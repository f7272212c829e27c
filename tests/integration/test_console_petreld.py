"""petreld and petrel-console together (issue 5): petreld tells the
console daemon about each unikernel before it execs the tender, the
stand-in tender prints through the console FIFO, and the real client
reads it back with `petrel console`.

Covers history by count and by time, live follow, waiting-for-VM, a
console across restarts of its unikernel, a restart of petrel-console
while unikernels run (petreld reconnects and re-adds them), ring eviction
with n from the path's policy, and petreld without petrel-console.

The stand-in's hvt tender writes "solo5-hvt: Exiting on signal 15" to its
console when petreld destroys it: a line printed on demand, used below to
see whether a console is attached at a given moment.
"""

import json
import os
import select
import signal
import subprocess
import time

import pytest

import pthelpers as H
from conftest import PETREL_BIN, need_binary, sanitizer_report

EXIT_LINE = "solo5-hvt: Exiting on signal 15"


class Follower:
    """`petrel --json console NAME ARGS` in the background; its first
    object is the subscribe reply, then one per line."""

    def __init__(self, pd, name, *args):
        self.name = name
        self.proc = subprocess.Popen(
            [need_binary(PETREL_BIN), "--tmpdir", pd.tmpdir, "--json",
             "console", name, *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        self.buf = b""
        self.status = None
        self.lines = []       # {"time", "line"} objects in order

    def _next(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    raise AssertionError(
                        "petrel console %s ended (rc %s): %s" % (
                            self.name, self.proc.wait(10),
                            self.proc.stderr.read().decode(errors="replace")))
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def reply(self, timeout=10):
        """The subscribe reply's message ("subscribed", "waiting for VM")."""
        if self.status is None:
            obj = self._next(timeout)
            assert obj is not None, "no subscribe reply from petrel console"
            assert obj.get("result") == "success", obj
            self.status = obj["message"]
        return self.status

    def wait(self, cond, timeout=15, what="lines"):
        """Reads lines until cond(texts) holds; returns the texts."""
        self.reply(timeout)
        deadline = time.monotonic() + timeout
        while not cond(self.texts()):
            left = deadline - time.monotonic()
            obj = self._next(max(left, 0)) if left > 0 else None
            if obj is None:
                raise AssertionError("petrel console %s: timed out waiting "
                                     "for %s; have %s" % (self.name, what,
                                                          self.texts()))
            assert set(obj) == {"time", "line"}, obj
            self.lines.append(obj)
        return self.texts()

    def wait_line(self, text, timeout=15):
        return self.wait(lambda t: text in t, timeout, what=repr(text))

    def texts(self):
        return [o["line"] for o in self.lines]

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        err = self.proc.stderr.read().decode(errors="replace")
        self.proc.stdout.close()
        self.proc.stderr.close()
        mark = sanitizer_report(err)
        assert mark is None, "petrel console %s: %s\n%s" % (self.name, mark, err)


class Followers:
    """Closes every follower a test made."""

    def __init__(self):
        self.made = []

    def __call__(self, pd, name, *args):
        f = Follower(pd, name, *args)
        self.made.append(f)
        return f


@pytest.fixture
def follow():
    fs = Followers()
    yield fs
    for f in fs.made:
        f.close()


def ms(t):
    import calendar
    base, _, frac = t.rstrip("Z").partition(".")
    secs = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
    return secs * 1000 + (int(frac.ljust(3, "0")) if frac else 0)


def rfc3339(t_ms):
    s = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t_ms // 1000))
    return s + (".%03dZ" % (t_ms % 1000))


def inactive(pd, path):
    j = pd.jok("inactive-consoles", path)
    assert j["kind"] == "consoles", j
    return sorted(j["consoles"])


def wait_added(pd, name, follow, timeout=15):
    """Until petrel-console knows `name` (petreld added it): a subscriber
    hears "subscribed" instead of "waiting for VM". Short-lived probes."""
    def known():
        f = follow(pd, name, "--count", "1")
        try:
            return f.reply() == "subscribed"
        finally:
            f.close()
            follow.made.remove(f)
    H.wait_for(known, timeout, interval=0.1,
               what="petrel-console to know %s" % name)


def talk(images):
    return images.path("hvt")


# ---------------------------------------------------------------------------
# reading


def test_stdout_and_stderr_reach_the_console(petrel_console, images, tender,
                                             follow):
    """The tender's stdout (the guest console) and stderr (its own
    diagnostics) both go through the FIFO to petrel-console (solo5.md §7)."""
    tender.need_scripted()
    pd = petrel_console.pd
    pd.ok("create", "talk", talk(images), "--arg", "print:hello-console",
          "--arg", "stderr:hello-stderr", "--arg", "run")
    f = follow(pd, "talk", "--count", "1024")
    f.wait_line("hello-stderr")
    assert "hello-console" in f.texts()
    # The unikernel keeps running after its console was read.
    assert pd.tender_of(":talk") is not None


def test_unprivileged_petrel_console(petreld_factory, console_factory,
                                     images, tender, follow):
    """petrel-console as nobody:nogroup next to petreld --console-group
    nogroup: it creates its socket and reads the consoles all the same,
    and it really runs without privileges."""
    tender.need_scripted()
    pd = petreld_factory(start=False,
                         extra_args=["--console-group", "nogroup"])
    os.chmod(pd.base, 0o711)  # the test's private dir must be traversable
    pd.start()
    cd = console_factory(pd, run_as=("nobody", "nogroup"))
    uid = H.proc_status(cd.proc.pid)["Uid"].split()[0]
    assert uid == "65534", "petrel-console runs as uid %s" % uid
    pd.ok("create", "talk", talk(images), "--arg", "print:hello-nobody",
          "--arg", "run")
    f = follow(pd, "talk", "--count", "1024")
    f.wait_line("hello-nobody")
    pd.ok("destroy", "talk")


def test_history_by_count(petrel_console, images, tender, follow):
    tender.need_scripted()
    pd = petrel_console.pd
    pd.ok("create", "talk", talk(images), "--arg", "lines:30", "--arg", "run")
    # All 30 lines are in the ring once a subscriber saw the last one.
    everything = follow(pd, "talk", "--count", "1024").wait_line("line 30")
    assert everything[0].startswith("            |"), everything
    assert "Solo5: name talk" in everything
    assert everything[-30:] == ["line %d" % i for i in range(1, 31)]
    f = follow(pd, "talk", "--count", "5")
    assert f.reply() == "subscribed"
    assert f.wait(lambda t: len(t) >= 5) == ["line %d" % i for i in range(26, 31)]
    f = follow(pd, "talk", "--count", "1")
    assert f.wait(lambda t: len(t) >= 1) == ["line 30"]
    # Text mode: "TIME LINE" on stdout, the status on stderr.
    p = subprocess.Popen([need_binary(PETREL_BIN), "--tmpdir", pd.tmpdir,
                          "console", "talk", "--count", "2"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out = b""
        deadline = time.monotonic() + 10
        while out.count(b"\n") < 2 and time.monotonic() < deadline:
            r, _, _ = select.select([p.stdout], [], [], 0.5)
            if r:
                out += os.read(p.stdout.fileno(), 4096)
    finally:
        p.send_signal(signal.SIGINT)
        p.wait(10)
        err = p.stderr.read()
        p.stdout.close()
        p.stderr.close()
    lines = out.decode().splitlines()
    assert [l.split(" ", 1)[1] for l in lines] == ["line 29", "line 30"], out
    assert lines[0].endswith("line 29") and lines[0][:4].isdigit()
    assert err == b":talk: subscribed\n", err
    pd.ok("destroy", "talk")


def test_history_by_time(petrel_console, images, tender, follow):
    tender.need_scripted()
    pd = petrel_console.pd
    pd.ok("create", "talk", talk(images), "--arg", "print:old",
          "--arg", "sleep:300", "--arg", "print:new", "--arg", "run")
    f = follow(pd, "talk", "--count", "1024")
    f.wait_line("new")
    t_old = ms(f.lines[f.texts().index("old")]["time"])
    t_new = ms(f.lines[f.texts().index("new")]["time"])
    # All the --since checks below need is that "new" was read later
    # than "old" (the 300 ms sleep makes that certain, under any load).
    assert t_new > t_old, (t_old, t_new)
    g = follow(pd, "talk", "--since", rfc3339(t_old + 1))
    assert g.reply() == "subscribed"
    assert g.wait(lambda t: len(t) >= 1) == ["new"]
    # At or after: "old" and whatever was read with it (the banner comes
    # in the same read, so it may carry the same time).
    want = [o["line"] for o in f.lines if ms(o["time"]) >= t_old]
    assert want[-2:] == ["old", "new"]
    h = follow(pd, "talk", "--since", rfc3339(t_old))
    assert h.wait(lambda t: len(t) >= len(want)) == want
    # Nothing else came: a destroy adds the exit line, the next one.
    pd.ok("destroy", "talk")
    assert g.wait_line(EXIT_LINE) == ["new", EXIT_LINE]


def test_live_follow(petrel_console, images, tender, follow):
    tender.need_scripted()
    pd = petrel_console.pd
    pd.ok("create", "talk", talk(images), "--arg", "print:early",
          "--arg", "sleep:3000", "--arg", "print:late", "--arg", "run")
    f = follow(pd, "talk", "--count", "1024")
    assert f.reply() == "subscribed"
    subscribed = int(time.time() * 1000)
    f.wait_line("early")
    f.wait_line("late", timeout=20)
    late = f.lines[f.texts().index("late")]
    # Printed (and so stamped) after the subscription stood: it came live,
    # not with the history. Fails only if subscribing took 3 s.
    assert ms(late["time"]) > subscribed, "subscribed too late to test"
    pd.ok("destroy", "talk")
    assert f.wait_line(EXIT_LINE)[-1] == EXIT_LINE


def test_waiting_for_vm(petrel_console, images, tender, follow):
    tender.need_scripted()
    pd = petrel_console.pd
    f = follow(pd, "team:late", "--count", "5")
    assert f.reply() == "waiting for VM"
    pd.ok("create", "team:late", talk(images), "--arg", "print:hello",
          "--arg", "run")
    lines = f.wait_line("hello")
    assert "Solo5: name late" in lines
    assert lines[-1] == "hello"
    pd.ok("destroy", "team:late")


def test_console_across_restarts_of_its_unikernel(petrel_console, images,
                                                   tender, follow):
    tender.need_scripted()
    pd = petrel_console.pd
    pd.ok("create", "flaky", talk(images), "--restart-on-fail",
          "--arg", "print:hello", "--arg", "exit:3")
    exit_line = "Solo5: solo5_exit(3) called"
    f = follow(pd, "flaky", "--count", "1024")
    f.wait(lambda t: t.count(exit_line) >= 3, timeout=20,
           what="three runs")
    # One ring for all runs: a new subscriber gets every run's lines.
    g = follow(pd, "flaky", "--count", "1024")
    lines = g.wait(lambda t: t.count(exit_line) >= 3, timeout=20)
    assert lines.count("hello") >= 3
    assert lines.count("Solo5: name flaky") == lines.count(exit_line) or \
        lines.count("Solo5: name flaky") == lines.count(exit_line) + 1
    times = [ms(o["time"]) for o in g.lines]
    assert times == sorted(times)
    pd.ok("destroy", "flaky")
    # After the destroy the ring is inactive but kept.
    H.wait_for(lambda: inactive(pd, ":") == [":flaky"], 10,
               what="the console of :flaky to be inactive")


def test_restart_via_client_keeps_the_ring(petrel_console, images, tender,
                                           follow):
    tender.need_scripted()
    pd = petrel_console.pd
    pd.ok("create", "web", talk(images), "--arg", "print:hello", "--arg", "run")
    f = follow(pd, "web", "--count", "1024")
    f.wait_line("hello")
    pid, _ = pd.wait_tender(":web")
    pd.ok("restart", "web")
    pd.wait_tender(":web", other_than=pid)
    lines = f.wait(lambda t: t.count("hello") == 2, what="the second run")
    assert EXIT_LINE in lines[lines.index("hello"):]
    pd.ok("destroy", "web")


# ---------------------------------------------------------------------------
# petrel-console restarts, or is not there at all


def test_restart_of_petrel_console(petrel_console, images, tender, follow):
    tender.need_scripted()
    cd = petrel_console
    pd = cd.pd
    pd.ok("create", "a:one", talk(images), "--arg", "print:before", "--arg", "run")
    pd.ok("create", "a:two", talk(images), "--arg", "print:two", "--arg", "run")
    f = follow(pd, "a:one", "--count", "1024")
    f.wait_line("before")
    assert cd.stop() == 0
    # The stream of a subscriber ends with the daemon.
    # (an error for the client: lines may have been lost)
    assert f.proc.wait(10) == 3
    # While petrel-console is away petreld carries on: a third unikernel
    # starts; petreld reads (and drops) its console meanwhile, so that it
    # never blocks on a full FIFO.
    pd.ok("create", "a:three", talk(images), "--arg", "print:while-away",
          "--arg", "run")
    pd.wait_tender("a:three")
    assert pd.info("a:")  # petreld answers
    cd.start()
    # petreld reconnects and adds all three again.
    for n in ("a:one", "a:two", "a:three"):
        wait_added(pd, n, follow)
    # Lines printed after the restart arrive (here: the exit line of a
    # destroy); what was printed while nobody kept consoles is gone.
    g = follow(pd, "a:one", "--count", "1024")
    assert g.reply() == "subscribed"
    h = follow(pd, "a:three", "--count", "1024")
    assert h.reply() == "subscribed"
    pd.ok("destroy", "a:one")
    assert g.wait_line(EXIT_LINE)[-1] == EXIT_LINE
    assert "before" not in g.texts()   # the old ring died with the daemon
    pd.ok("destroy", "a:three")
    assert h.wait_line(EXIT_LINE)[-1] == EXIT_LINE
    assert "while-away" not in h.texts()
    pd.ok("destroy", "a:two")


def test_chatty_unikernel_never_blocks_without_petrel_console(
        petreld_factory, images, tender):
    """No console daemon: petreld reads the FIFO itself, so a unikernel
    printing far more than a pipe holds (64 KiB) runs to its end."""
    tender.need_scripted()
    pd = petreld_factory()
    pd.ok("create", "chatty", talk(images), "--arg", "lines:100000",
          "--arg", "exit:0")
    H.wait_for(lambda: set(pd.info()) == set(), 60,
               what=":chatty to print 100000 lines and exit")


def test_petreld_without_petrel_console(petreld_factory, console_factory,
                                        images, tender, follow):
    tender.need_scripted()
    pd = petreld_factory()
    pd.ok("create", "talk", talk(images), "--arg", "print:hello", "--arg", "run")
    pid, _ = pd.wait_tender(":talk")
    assert set(pd.info()) == {":talk"}
    r = pd.petrel("console", "talk", "--count", "1", timeout=30)
    assert r.rc == 3 and "console.sock" in r.err, r
    # A restart and a second unikernel work all the same.
    pd.ok("restart", "talk")
    pd.wait_tender(":talk", other_than=pid)
    pd.ok("create", "other", talk(images), "--arg", "exit:0")
    H.wait_for(lambda: set(pd.info()) == {":talk"}, 10,
               what=":other to exit")
    # A console daemon that comes later gets the running unikernel.
    cd = console_factory(pd)
    wait_added(pd, ":talk", follow)
    f = follow(pd, "talk", "--count", "1024")
    pd.ok("destroy", "talk")
    assert f.wait_line(EXIT_LINE)[-1] == EXIT_LINE
    assert cd.alive()


# ---------------------------------------------------------------------------
# ring eviction: at most n+1 rings per path, n from the path's policy


def test_ring_eviction_follows_the_policy(petrel_console, images, tender):
    tender.need_scripted()
    pd = petrel_console.pd
    pd.ok("add-policy", "p:", "--unikernels", "1", "--mem", "64", "--cpu", "0")
    img = talk(images)

    def run_once(name):
        pd.ok("create", name, img, "--arg", "print:" + name.replace(":", "-"),
              "--arg", "exit:0")
        H.wait_for(lambda: pd.info(name) == {}, 10, what="%s to exit" % name)
        H.wait_for(lambda: ":" + name.split(":")[1] in inactive(pd, "p:"), 10,
                   what="the console of %s to be inactive" % name)
    run_once("p:one")
    run_once("p:two")
    assert inactive(pd, "p:") == [":one", ":two"]     # n + 1 = 2 rings
    run_once("p:three")
    # The oldest inactive ring went; other paths are not touched.
    assert inactive(pd, "p:") == [":three", ":two"]
    pd.ok("create", "q:one", img, "--arg", "exit:0")
    H.wait_for(lambda: "q:one" in inactive(pd, ":"), 10,
               what="the console of q:one")
    assert inactive(pd, ":") == ["p:three", "p:two", "q:one"]
    # A larger policy keeps more.
    pd.ok("replace-policy", "p:", "--unikernels", "2", "--mem", "64",
          "--cpu", "0")
    run_once("p:four")
    assert inactive(pd, "p:") == [":four", ":three", ":two"]
