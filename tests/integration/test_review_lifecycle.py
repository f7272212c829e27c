"""Issue 9, items 2, 7 and 11: nothing is lost to a failed force-create or
restart, a unikernel waiting for its restart keeps its block devices and
its share of the policies, and restart of a unikernel that does not run
answers like destroy (albatross-wire.md §8.2, as albatross does)."""

import json
import os
from pathlib import Path

import pthelpers as H

ONE_SHOT_TENDER = """#!/bin/sh
# Answers --version like a tender, then removes itself: the exec that
# follows (after the old unikernel was stopped) fails, and so does every
# later start until the tender is back.
if [ "$1" = "--version" ]; then
    echo "solo5-hvt tender, version v0-one-shot" >&2
    echo "ABI version 2" >&2
    rm -f "$0"
    exit 0
fi
exec %s "$@"
"""

# Long enough that a unikernel waiting for its restart is still waiting
# when the test looks at it, however loaded the machine.
LONG_BACKOFF_MS = 60000


def stored_image(pd, name):
    return Path(pd.dbdir) / "images" / (name + ".img")


def one_shot_hvt(pd, tender):
    link = pd.tender_link("hvt")
    os.unlink(link)
    Path(link).write_text(ONE_SHOT_TENDER % tender.paths["hvt"])
    os.chmod(link, 0o755)
    return link


def restore_hvt(pd, tender):
    link = pd.tender_link("hvt")
    if os.path.lexists(link):
        os.unlink(link)
    os.symlink(os.path.abspath(tender.paths["hvt"]), link)


def events(pd, name, kind):
    r = pd.petrel("--json", "log", name)
    assert r.rc == 0, r
    return [e for e in map(json.loads, r.out.splitlines()) if e["event"] == kind]


def wait_waiting(pd, name, count=1):
    """petreld scheduled (at least `count`) restarts of `name`."""
    return H.wait_for(lambda: len(events(pd, name, "restart-scheduled")) >= count,
                      20, what="a scheduled restart of %s" % name)


def wait_exited(pd, name, pid):
    H.wait_for(lambda: H.pid_reaped(pid) and pd.tender_of(name) is None, 10,
               what="%s (pid %d) to exit and be reaped" % (name, pid))


def assert_kept_reply(j):
    msg = j["message"]
    assert "failed too" in msg, j
    assert "kept" in msg and "tried again" in msg, \
        "the reply does not say the previous unikernel is kept: %r" % msg


# ---------------------------------------------------------------------------
# Item 2: a failed force-create or restart keeps the previous unikernel


def test_failed_force_create_keeps_the_old_unikernel(petreld_factory, images,
                                                     tender):
    """The new unikernel cannot start after the old one was stopped (its
    tender vanishes), and the old one cannot start again either (its
    bridge was deleted): the old one is kept, in the state with its image,
    and starts once its bridge is back, across a restart of petreld."""
    tender.need_scripted()
    tender.need("spt")
    pd = petreld_factory(backoff_ms=200)
    old_img = images.path("spt", nets=["service"])
    pd.ok("create", "web", old_img, "--net", "service:br1", "--arg", "run",
          "--arg", "old")
    old, old_argv = pd.wait_tender(":web")
    stored = stored_image(pd, ":web")
    assert stored.read_bytes() == Path(old_img).read_bytes()
    link = one_shot_hvt(pd, tender)
    pd.ns.del_link("br1")
    j = pd.jfail("create", "-f", "web", images.path("hvt", nets=["service"]),
                 "--net", "service:br0", "--arg", "run", "--arg", "new")
    assert not os.path.exists(link), "the checks did not run the tender's --version"
    assert_kept_reply(j)
    assert "br1" in j["message"], j
    assert not H.pid_alive(old), "the old unikernel was never stopped"
    # Kept: its image, and petreld tries it again (and again).
    assert stored.read_bytes() == Path(old_img).read_bytes()
    wait_waiting(pd, ":web", 2)
    assert pd.tender_of(":web") is None
    # In the state: a restarted petreld knows it, and starts it once its
    # bridge is back.
    assert pd.stop() == 0
    pd.start()
    n = len(events(pd, ":web", "restart-scheduled"))
    wait_waiting(pd, ":web", n + 1)
    assert stored.read_bytes() == Path(old_img).read_bytes()
    pd.ns.add_bridge("br1")
    pid, argv = pd.wait_tender(":web", timeout=30)
    assert argv == old_argv
    u = pd.info("web")[":web"]
    assert u["arguments"] == ["run", "old"]
    assert pd.ns.link("vmmtap0")["master"] == "br1"


def test_failed_restart_keeps_the_unikernel(petreld_factory, images, tender):
    """restart: the tender passes the check, then vanishes, so neither the
    new run nor the old one can start: the unikernel is kept and starts
    once its tender is back, without a restart of petreld and with one."""
    tender.need_scripted()
    pd = petreld_factory(backoff_ms=200)
    img = images.path("hvt", nets=["service"])
    pd.ok("create", "web", img, "--net", "service:br0", "--arg", "run")
    old, old_argv = pd.wait_tender(":web")
    stored = stored_image(pd, ":web")
    link = one_shot_hvt(pd, tender)
    j = pd.jfail("restart", "web")
    assert not os.path.exists(link), "the checks did not run the tender's --version"
    assert_kept_reply(j)
    assert not H.pid_alive(old)
    assert stored.read_bytes() == Path(img).read_bytes()
    wait_waiting(pd, ":web", 2)
    # Back by its own retry, once the tender is back.
    restore_hvt(pd, tender)
    pid, argv = pd.wait_tender(":web", timeout=30)
    assert argv == old_argv
    assert pd.info("web")[":web"]["arguments"] == ["run"]
    # Again, with a restart of petreld while it waits.
    one_shot_hvt(pd, tender)
    assert_kept_reply(pd.jfail("restart", "web"))
    assert pd.stop() == 0
    pd.start()
    n = len(events(pd, ":web", "restart-scheduled"))
    wait_waiting(pd, ":web", n + 1)
    restore_hvt(pd, tender)
    pid2, argv2 = pd.wait_tender(":web", timeout=30)
    assert argv2 == old_argv
    assert stored.read_bytes() == Path(img).read_bytes()


# ---------------------------------------------------------------------------
# Item 7: a unikernel waiting for its restart keeps its claim


def test_waiting_unikernel_keeps_its_block_device(petreld_factory, images,
                                                  tender, tmp_path):
    tender.need_scripted()
    pd = petreld_factory(backoff_ms=LONG_BACKOFF_MS)
    pd.ok("create-block", "disk", "1")
    pd.ok("create", "db", images.path("hvt", blocks=["storage"]),
          "--block", "storage:disk", "--restart-on-fail",
          "--arg", "sleep:300", "--arg", "exit:3")
    pid, _ = pd.wait_tender(":db")
    wait_exited(pd, ":db", pid)
    wait_waiting(pd, ":db")
    block = Path(pd.dbdir) / "block" / ":disk"
    assert block.exists()
    for cmd, what in ((["destroy-block", "disk"], "remove block"),
                      (["set-block", "disk", __file__], "set block"),
                      (["dump-block", "disk", tmp_path / "out"], "dump block")):
        msg = pd.jfail(*cmd)["message"]
        assert msg.startswith(what + ": is in use"), msg
        assert ":db" in msg and "restart" in msg, \
            "the refusal does not name the waiting unikernel: %r" % msg
    assert block.exists()
    assert pd.jok("block", "disk")["block_devices"][0]["active"] is True
    # Another unikernel cannot take it either.
    j = pd.jfail("create", "thief", images.path("hvt", blocks=["storage"]),
                 "--block", "storage:disk", "--arg", "run")
    assert "block device :disk is in use" in j["message"], j
    # Once the waiting unikernel is destroyed the device is free.
    assert pd.jok("destroy", "db")["message"] == "destroyed: removed from restarting"
    pd.ok("destroy-block", "disk")
    assert not block.exists()


def test_waiting_unikernel_keeps_its_policy_share(petreld_factory, images,
                                                  tender):
    tender.need_scripted()
    pd = petreld_factory(backoff_ms=LONG_BACKOFF_MS)
    pd.ok("add-policy", "team:", "--unikernels", "1", "--mem", "64",
          "--cpu", "0", "--bridge", "br0")
    img = images.path("hvt")
    pd.ok("create", "team:a", img, "--mem", "64", "--restart-on-fail",
          "--arg", "sleep:300", "--arg", "exit:3")
    pid, _ = pd.wait_tender("team:a")
    wait_exited(pd, "team:a", pid)
    wait_waiting(pd, "team:a")
    j = pd.jfail("create", "team:b", img, "--mem", "1", "--arg", "run")
    assert "policy team: allows 1 unikernels, 1 in use" in j["message"], j
    # A policy that would leave it out is refused too.
    j = pd.jfail("add-policy", "team:", "--unikernels", "1", "--mem", "32",
                 "--cpu", "0", "--bridge", "br0")
    assert "64" in j["message"], j
    # Its own share is its own: a force-create in its place fits.
    pd.ok("create", "-f", "team:a", img, "--mem", "64", "--arg", "run")
    pd.wait_tender("team:a")
    pd.ok("destroy", "team:a")
    pd.ok("create", "team:b", img, "--mem", "64", "--arg", "run")


def test_retry_is_not_refused_by_its_own_claim(petreld_factory, images,
                                               tender):
    """A unikernel that uses all of its policy restarts again and again:
    the share it holds while waiting does not stand in its own way."""
    tender.need_scripted()
    pd = petreld_factory(backoff_ms=100)
    pd.ok("create-block", "team:disk", "1")
    pd.ok("add-policy", "team:", "--unikernels", "1", "--mem", "64",
          "--cpu", "0", "--bridge", "br0", "--block", "10")
    pd.ok("create", "team:loop", images.path("hvt", blocks=["storage"]),
          "--mem", "64", "--block", "storage:disk", "--restart-on-fail",
          "--arg", "sleep:100", "--arg", "exit:3")
    H.wait_for(lambda: len(events(pd, "team:loop", "started")) >= 3, 30,
               what="three starts of team:loop")
    assert events(pd, "team:loop", "refused") == []
    pd.ok("destroy", "team:loop")
    pd.ok("destroy-block", "team:disk")


# ---------------------------------------------------------------------------
# Item 11: restart of a unikernel that does not run answers like destroy


def test_restart_of_unknown_name(petreld):
    pd = petreld
    assert pd.jfail("restart", "nobody")["message"] == "destroy: not found"


def test_restart_of_waiting_unikernel_removes_it(petreld_factory, images,
                                                 tender):
    tender.need_scripted()
    pd = petreld_factory(backoff_ms=LONG_BACKOFF_MS)
    pd.ok("create", "loop", images.path("hvt"), "--restart-on-fail",
          "--arg", "sleep:300", "--arg", "exit:3")
    pid, _ = pd.wait_tender(":loop")
    wait_exited(pd, ":loop", pid)
    wait_waiting(pd, ":loop")
    j = pd.jok("restart", "loop")
    assert j["message"] == "destroyed: removed from restarting", j
    assert pd.tender_of(":loop") is None
    assert not stored_image(pd, ":loop").exists()
    assert pd.jfail("destroy", "loop")["message"] == "destroy: not found"
    # Gone from the state as well.
    assert pd.stop() == 0
    pd.start()
    assert pd.jfail("destroy", "loop")["message"] == "destroy: not found"
