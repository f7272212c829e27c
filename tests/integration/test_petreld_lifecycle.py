"""Exit handling: restart on failure (albatross-wire.md A.4) with a capped
exponential backoff, destroy during backoff, the exit-64 retry without
--name, and force-create as one transaction (including its rollback)."""

import json
import os
import signal
import time
from pathlib import Path

import pytest

import pthelpers as H


def watch_starts(pd, name, count, timeout):
    """Collects (first seen time, pid) of successive tenders of `name`
    until `count` distinct ones were seen. Each incarnation must live long
    enough (sleep:MS) to be seen by polling."""
    seen = []

    def enough():
        t = pd.tender_of(name)
        if t and all(t[0] != p for _, p in seen):
            seen.append((time.monotonic(), t[0]))
        return len(seen) >= count
    H.wait_for(enough, timeout, interval=0.005,
               what="%d starts of %s (saw %d)" % (count, name, len(seen)))
    return seen


def wait_exited(pd, name, pid, timeout=10):
    """Waits until the tender `pid` of `name` exited and petreld reaped it
    (its argv alone is not enough: an exiting process has none), and no
    other tender runs `name`."""
    H.wait_for(lambda: H.pid_reaped(pid) and pd.tender_of(name) is None, timeout,
               what="%s (pid %d) to exit and be reaped" % (name, pid))


def assert_not_restarted(pd, name, pid):
    """After the exit of `pid` was handled: petreld holds no restart for
    `name`. A pending restart would make destroy answer "destroyed: removed
    from restarting" (or "destroyed unikernel" if it already happened)."""
    wait_exited(pd, name, pid)
    assert pd.info(name) == {}
    j = pd.jfail("destroy", name)
    assert j["message"] == "destroy: not found", j
    assert pd.tender_of(name) is None
    assert pd.ns.taps() == []
    assert not os.path.exists(pd.image_path(name))
    assert not os.path.exists(pd.fifo_path(name))


# ---------------------------------------------------------------------------
# restart on failure


@pytest.mark.parametrize("code,opts", [
    (3, ["--restart-on-fail"]),
    (0, ["--restart-on-fail"]),
    (255, ["--restart-on-fail"]),
    (3, ["--exit-code", "3"]),
    (7, ["--exit-code", "3", "--exit-code", "7"]),
], ids=["any-3", "any-0", "any-255", "set-3", "set-7"])
def test_restarted_on_failure(petreld, images, tender, code, opts):
    tender.need_scripted()
    pd = petreld
    pd.ok("create", "flaky", images.path("hvt", nets=["service"]),
          "--net", "service:br0", *opts,
          "--arg", "sleep:300", "--arg", "exit:%d" % code)
    starts = watch_starts(pd, ":flaky", 3, 20)
    # Each incarnation runs with the same argv, on a fresh tap.
    _, argv = pd.wait_tender(":flaky")
    assert argv[-3:] == ["--name=flaky", "sleep:300", "exit:%d" % code]
    assert len({p for _, p in starts}) == 3
    u = pd.info("flaky")
    assert set(u) <= {":flaky"}
    j = pd.jok("destroy", "flaky")
    assert j["message"] in ("destroyed unikernel", "destroyed: removed from restarting")
    for _, pid in starts:
        assert H.pid_reaped(pid)
    assert pd.tender_of(":flaky") is None
    assert pd.ns.taps() == []


@pytest.mark.parametrize("code,opts", [
    (1, ["--restart-on-fail"]),
    (60, ["--restart-on-fail"]),
    (63, ["--restart-on-fail"]),
    (64, ["--restart-on-fail", "--no-add-name"]),
    (4, ["--exit-code", "3"]),
    (3, []),
], ids=["code-1", "code-60", "code-63", "code-64", "not-in-set", "quit"])
def test_not_restarted(petreld, images, tender, code, opts):
    tender.need_scripted()
    pd = petreld
    pd.ok("create", "once", images.path("hvt", nets=["service"]),
          "--net", "service:br0", *opts,
          "--arg", "sleep:300", "--arg", "exit:%d" % code)
    pid, _ = pd.wait_tender(":once")
    assert_not_restarted(pd, ":once", pid)


def test_not_restarted_after_signal(petreld, images, tender):
    tender.need_scripted()
    pd = petreld
    pd.ok("create", "victim", images.path("hvt"), "--restart-on-fail",
          "--arg", "run")
    pid, _ = pd.wait_tender(":victim")
    # The tender runs in the test's own namespace, started for this test.
    os.kill(pid, signal.SIGKILL)
    assert_not_restarted(pd, ":victim", pid)


def test_exit_frees_resources(petreld, images, tender):
    tender.need_scripted()
    pd = petreld
    pd.ok("create", "brief", images.path("hvt", nets=["service"]),
          "--net", "service:br0", "--arg", "sleep:300", "--arg", "exit:0")
    pid, _ = pd.wait_tender(":brief")
    wait_exited(pd, ":brief", pid)
    H.wait_for(lambda: pd.ns.taps() == [] and
               not os.path.exists(pd.image_path(":brief")) and
               not os.path.exists(pd.fifo_path(":brief")), 5,
               what="the tap, image and FIFO to be freed")
    assert pd.info() == {}


def test_backoff_grows(petreld_factory, images, tender):
    """A boot-looping unikernel does not spin the host: the delay between
    restarts grows. Measured over a window, with wide margins."""
    tender.need_scripted()
    pd = petreld_factory(backoff_ms=100)
    pd.ok("create", "loop", images.path("hvt"), "--restart-on-fail",
          "--arg", "sleep:50", "--arg", "exit:3")
    # The delays petreld chose, from its event log (not measured from
    # outside: a loaded machine would blur them).

    def delays():
        r = pd.petrel("--json", "log", "loop")
        assert r.rc == 0, r
        d = [json.loads(l)["delay_ms"] for l in r.out.splitlines()
             if json.loads(l)["event"] == "restart-scheduled"]
        return d if len(d) >= 5 else None
    d = H.wait_for(delays, 30, what="five scheduled restarts of :loop")
    assert d[:5] == [100, 200, 400, 800, 1600], "restart delays: %s" % d
    pd.ok("destroy", "loop")


def test_destroy_during_backoff(petreld_factory, images, tender):
    tender.need_scripted()
    backoff = 3000
    pd = petreld_factory(backoff_ms=backoff)
    pd.ok("create", "loop", images.path("hvt", nets=["service"]),
          "--net", "service:br0", "--restart-on-fail",
          "--arg", "sleep:300", "--arg", "exit:3")
    pid, _ = pd.wait_tender(":loop")
    wait_exited(pd, ":loop", pid)
    t0 = time.monotonic()
    j = pd.jok("destroy", "loop")
    assert j["message"] == "destroyed: removed from restarting"
    assert pd.info("loop") == {}
    assert pd.jfail("destroy", "loop")["message"] == "destroy: not found"
    assert pd.ns.taps() == []
    # Negative check over the rest of the backoff window (not a
    # synchronisation): the cancelled restart must never happen.
    window = backoff / 1000 * 1.5 - (time.monotonic() - t0)
    deadline = time.monotonic() + max(window, 0)
    while time.monotonic() < deadline:
        assert pd.tender_of(":loop") is None, "restarted after destroy"
        time.sleep(0.05)


# ---------------------------------------------------------------------------
# exit 64 after an injected --name


def test_exit_64_retries_without_name(petreld, images, tender):
    tender.need_scripted()
    pd = petreld
    pd.ok("create", "picky", images.path("hvt"), "--arg", "reject-name",
          "--arg", "run")

    def runs_without_name():
        t = pd.tender_of(":picky")
        return t if t and not any(a.startswith("--name=") for a in t[1]) else None
    pid, argv = H.wait_for(runs_without_name, 10, what="the retry without --name")
    assert argv[argv.index("--") + 1:] == [pd.image_path(":picky"), "reject-name", "run"]
    # Remembered: a restart does not inject --name again ...
    pd.ok("restart", "picky")
    pid2, argv2 = pd.wait_tender(":picky", other_than=pid)
    assert not any(a.startswith("--name=") for a in argv2), argv2
    # ... and neither does the next start of petreld (it is in the state).
    pd.stop()
    pd.start()
    pid3, argv3 = pd.wait_tender(":picky")
    assert not any(a.startswith("--name=") for a in argv3), argv3


def test_exit_64_retried_only_once(petreld, images, tender):
    """Without --name the unikernel still exits 64: no further retry."""
    tender.need_scripted()
    pd = petreld
    # Each run lives 2 s, long enough to be seen by polling /proc on a
    # loaded machine.
    pd.ok("create", "bad64", images.path("hvt"), "--restart-on-fail",
          "--arg", "sleep:2000", "--arg", "exit:64")
    # First run (with --name) exits 64; the retry without it exits 64 too.
    def retry_seen():
        t = pd.tender_of(":bad64")
        return t if t is not None and "--name=bad64" not in t[1] else None
    pid, _ = H.wait_for(retry_seen, 20, interval=0.02, what="the retry without --name")
    assert_not_restarted(pd, ":bad64", pid)


# ---------------------------------------------------------------------------
# force-create


def test_force_create_replaces(petreld, images, tender):
    tender.need_scripted()
    pd = petreld
    img = images.path("hvt", nets=["service"])
    pd.ok("create", "web", img, "--net", "service:br0", "--arg", "run", "--arg", "old")
    old, _ = pd.tender_of(":web")
    j = pd.jok("create", "-f", "web", img, "--net", "service:br1", "--arg", "run",
               "--arg", "new")
    assert j["message"] == "created unikernel"
    assert not H.pid_alive(old)
    pid, argv = pd.tender_of(":web")
    assert argv[-2:] == ["run", "new"]
    assert pd.ns.taps() == ["vmmtap0"]
    assert pd.ns.link("vmmtap0")["master"] == "br1"
    assert pd.info("web")[":web"]["arguments"] == ["run", "new"]


def test_force_create_without_old_one(petreld, images, tender):
    tender.need_scripted()
    pd = petreld
    pd.ok("create", "--force", "fresh", images.path("hvt"), "--arg", "run")
    assert pd.tender_of(":fresh") is not None


@pytest.mark.parametrize("case", ["not-elf", "manifest", "bridge", "policy",
                                  "tender"])
def test_force_create_failing_checks_leaves_old_untouched(petreld, images,
                                                          tender, case):
    tender.need_scripted()
    pd = petreld
    pd.ok("add-policy", "team:", "--unikernels", "1", "--mem", "64",
          "--cpu", "0", "--bridge", "br0")
    img = images.path("hvt", nets=["service"])
    pd.ok("create", "team:web", img, "--net", "service:br0", "--arg", "run",
          "--arg", "old")
    old, old_argv = pd.tender_of("team:web")
    args = {
        "not-elf": [images.write("junk.img", b"junk" * 64), "--net", "service:br0"],
        "manifest": [img],
        "bridge": [img, "--net", "service:br9"],
        "policy": [img, "--net", "service:br0", "--mem", "65"],
        "tender": [images.path("spt", nets=["service"]), "--net", "service:br0"],
    }[case]
    if case == "tender":
        os.unlink(pd.tender_link("spt"))
    before = pd.snapshot()
    pd.jfail("create", "-f", "team:web", *args, "--arg", "run", "--arg", "new")
    pd.assert_unchanged(before, "the refused force-create")
    assert pd.tender_of("team:web") == (old, old_argv)


def test_force_create_within_policy_counts_old_as_gone(petreld, images, tender):
    """The policy allows one unikernel with 64 MB: replacing it by one of
    64 MB must pass (resources as if the old one were gone)."""
    tender.need_scripted()
    pd = petreld
    pd.ok("add-policy", "team:", "--unikernels", "1", "--mem", "64",
          "--cpu", "0", "--bridge", "br0")
    pd.ok("create", "team:web", images.path("hvt"), "--mem", "64", "--arg", "run")
    old, _ = pd.tender_of("team:web")
    pd.ok("create", "-f", "team:web", images.path("hvt"), "--mem", "64",
          "--arg", "run", "--arg", "new")
    pid, argv = pd.tender_of("team:web")
    assert pid != old and argv[-1] == "new"


ONE_SHOT_TENDER = """#!/bin/sh
# Answers --version like a tender, then removes itself: the exec that
# follows (after the old unikernel was stopped) fails.
if [ "$1" = "--version" ]; then
    echo "solo5-hvt tender, version v0-one-shot" >&2
    echo "ABI version 2" >&2
    rm -f "$0"
    exit 0
fi
exec %s "$@"
"""


def test_force_create_rollback(petreld, images, tender):
    """The new unikernel passes every check but cannot start after the old
    one was stopped (its tender vanishes between the check and the exec):
    the old one runs again, and the failure says so."""
    tender.need_scripted()
    tender.need("spt")
    pd = petreld
    old_img = images.path("spt", nets=["service"])
    pd.ok("create", "web", old_img, "--net", "service:br0", "--arg", "run",
          "--arg", "old")
    old, old_argv = pd.tender_of(":web")
    link = pd.tender_link("hvt")
    os.unlink(link)
    Path(link).write_text(ONE_SHOT_TENDER % tender.paths["hvt"])
    os.chmod(link, 0o755)
    j = pd.jfail("create", "-f", "web", images.path("hvt", nets=["service"]),
                 "--net", "service:br0", "--arg", "run", "--arg", "new")
    assert not os.path.exists(link), "the checks did not run the tender's --version"
    msg = j["message"].lower()
    assert any(w in msg for w in ("restart", "previous", "old", "back")), \
        "the failure does not say the old unikernel was restarted: %r" % j["message"]
    assert not H.pid_alive(old), "the old unikernel was never stopped"
    pid, argv = pd.wait_tender(":web")
    assert argv == old_argv
    u = pd.info("web")[":web"]
    assert u["arguments"] == ["run", "old"]
    assert pd.ns.taps() == ["vmmtap0"]
    assert Path(pd.image_path(":web")).read_bytes() == Path(old_img).read_bytes()


def test_force_create_image_too_big_for_run_dir(petreld_factory, images, tender):
    """The new image does not fit in the run dir (a 1 MiB tmpfs): the
    force-create fails and the old unikernel runs on with its own image
    (untouched, or stopped and restarted as a rollback)."""
    tender.need_scripted()
    pd = petreld_factory(tmpdir_size_kb=1024)
    small = images.path("hvt", nets=["service"])
    pd.ok("create", "web", small, "--net", "service:br0", "--arg", "run",
          "--arg", "old")
    old, old_argv = pd.tender_of(":web")
    before = pd.snapshot()
    # A valid image with 4 MiB of trailing zeroes (sent compressed).
    big = images.write("big.img", Path(small).read_bytes() + bytes(4 << 20))
    pd.jfail("create", "-f", "web", big, "--compress", "--net", "service:br0",
             "--arg", "run", "--arg", "new")
    pid, argv = pd.wait_tender(":web")
    assert argv == old_argv
    if pid == old:
        pd.assert_unchanged(before, "the failed force-create")
    assert pd.info("web")[":web"]["arguments"] == ["run", "old"]
    assert Path(pd.image_path(":web")).read_bytes() == Path(small).read_bytes()
    assert [f for f in os.listdir(pd.tmpdir) if "tmp" in f or f.endswith(".new")] == []


# ---------------------------------------------------------------------------
# destroy: SIGTERM, then SIGKILL after the grace period

DEAF_TENDER = """#!/bin/sh
# spt has no SIGTERM handler: with SIGTERM ignored here, the ignore survives
# the exec and the tender does not react to SIGTERM at all.
trap '' TERM
exec %s "$@"
"""


def test_destroy_kills_after_grace(petreld_factory, images, tender):
    tender.need_scripted()
    tender.need("spt")
    grace_ms = 1500
    pd = petreld_factory(grace_ms=grace_ms)
    link = pd.tender_link("spt")
    os.unlink(link)
    Path(link).write_text(DEAF_TENDER % tender.paths["spt"])
    os.chmod(link, 0o755)
    pd.ok("create", "deaf", images.path("spt", nets=["service"]),
          "--net", "service:br0", "--arg", "run")
    pid, _ = pd.wait_tender(":deaf")
    t0 = time.monotonic()
    j = pd.jok("destroy", "deaf")
    took = time.monotonic() - t0
    assert j["message"] == "destroyed unikernel"
    assert not H.pid_alive(pid), "the reply came before the tender was gone"
    assert took >= grace_ms / 1000 * 0.9, "SIGKILL before the grace period: %.2fs" % took
    assert took < grace_ms / 1000 + 10
    assert pd.ns.taps() == []
    assert not os.path.exists(pd.image_path(":deaf"))


def test_sigterm_of_petreld_kills_deaf_tenders(petreld_factory, images, tender):
    tender.need_scripted()
    tender.need("spt")
    pd = petreld_factory(grace_ms=500)
    link = pd.tender_link("spt")
    os.unlink(link)
    Path(link).write_text(DEAF_TENDER % tender.paths["spt"])
    os.chmod(link, 0o755)
    pd.ok("create", "deaf", images.path("spt"), "--arg", "run")
    pid, _ = pd.wait_tender(":deaf")
    assert pd.stop() == 0
    assert not H.pid_alive(pid)
    assert pd.tenders() == {}


def test_force_create_during_backoff(petreld_factory, images, tender):
    """A force-create of a unikernel waiting for its restart replaces it:
    the pending restart must not fire later (no second tender, no
    replacement of the new one)."""
    tender.need_scripted()
    backoff = 2000
    pd = petreld_factory(backoff_ms=backoff)
    img = images.path("hvt", nets=["service"])
    pd.ok("create", "loop", img, "--net", "service:br0", "--restart-on-fail",
          "--arg", "sleep:300", "--arg", "exit:3")
    pid, _ = pd.wait_tender(":loop")
    wait_exited(pd, ":loop", pid)
    t0 = time.monotonic()
    pd.ok("create", "-f", "loop", img, "--net", "service:br0", "--arg", "run",
          "--arg", "new")
    new, argv = pd.wait_tender(":loop")
    assert argv[-2:] == ["run", "new"]
    # Negative check over the rest of the backoff window.
    deadline = t0 + backoff / 1000 * 1.5
    while time.monotonic() < deadline:
        t = pd.tender_of(":loop")
        assert t is not None and t[0] == new, "the cancelled restart fired: %s" % (t,)
        time.sleep(0.05)
    assert pd.ns.taps() == ["vmmtap0"]
    assert pd.info("loop")[":loop"]["fail_behaviour"] == {"restart": False}


def test_restart_when_bridge_vanished(petreld, images, tender):
    """restart re-checks the bridges: with br1 gone the unikernel cannot
    come back; the failure is reported and nothing is left behind."""
    tender.need_scripted()
    pd = petreld
    pd.ok("create", "web", images.path("hvt", nets=["service"]),
          "--net", "service:br1", "--arg", "run")
    pid, _ = pd.wait_tender(":web")
    pd.ns.del_link("br1")
    r = pd.petrel("restart", "web", json=True)
    if r.rc == 0:
        # Refused before stopping it would also be fine; a success must
        # mean a tender runs on a tap that exists.
        new, _ = pd.wait_tender(":web")
        assert new != pid
    else:
        assert r.json["result"] == "failure", r
        t = pd.tender_of(":web")
        if t is None:
            assert H.pid_reaped(pid)
            assert pd.ns.taps() == []
            assert not os.path.exists(pd.image_path(":web"))
            assert not os.path.exists(pd.fifo_path(":web"))
        else:
            assert t[0] == pid, "restart failed but a new tender runs"
