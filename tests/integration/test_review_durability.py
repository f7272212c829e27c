"""Nothing lost to a passing failure, nobody unlimited (issue 9, items 3-5).

- An albatross state whose inline images cannot be stored (a full disk)
  keeps every entry, in `state`, `state.bak` and `state.started`; the
  images are stored once there is room, and the unikernels start.
- A policy that does not fit the host any more is kept unchanged, never
  dropped (its tenant would be unlimited); creates are checked against it
  and the host (docs/policies.md).
- A destroy, an exit, a policy add or remove whose state write fails is
  not acknowledged as done; a restart of petreld shows what the client
  was told; an image goes only once no state on disk names it.

The full disk is a small tmpfs mounted on the db dir by the test, filled
by a file the test removes to make room again. Needs root."""

import os
import signal
import subprocess
from pathlib import Path

import pytest

import pthelpers as H

PAGE = 4096


class SmallDisk:
    """A tmpfs of size_kb on pd.dbdir, made before petreld starts."""

    def __init__(self, pd, size_kb):
        self.pd = pd
        self.dir = pd.dbdir
        self.filler = os.path.join(self.dir, "filler")
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dk,mode=0700" % size_kb,
                        "pt-dbdir", self.dir], check=True, timeout=30)
        self.mounted = True
        # The tmpfs hides what the fixture put in the db dir; the
        # directories petreld makes are made now, while there is room.
        for target, path in pd.tender.paths.items():
            if path:
                os.symlink(os.path.abspath(path), pd.tender_link(target))
        for sub in ("images", "block", "block-staging"):
            os.makedirs(os.path.join(self.dir, sub), mode=0o700, exist_ok=True)

    def free_bytes(self):
        st = os.statvfs(self.dir)
        return st.f_bavail * st.f_frsize

    def fill(self, leave_pages=0):
        """Takes all the space but leave_pages pages."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            chunk = b"\xa5" * (64 * 1024)
            for size in (len(chunk), PAGE, 1):
                try:
                    while True:
                        os.write(fd, chunk[:size])
                except OSError:
                    pass
        finally:
            os.close(fd)
        if leave_pages:
            size = os.path.getsize(self.filler)
            os.truncate(self.filler, max(0, (size // PAGE - leave_pages) * PAGE))
        assert self.free_bytes() <= (leave_pages + 1) * PAGE, self.free_bytes()

    def make_room(self):
        if os.path.exists(self.filler):
            os.unlink(self.filler)

    def cleanup(self):
        self.make_room()
        if self.mounted:
            # Lazily: a petreld still running keeps its files until it
            # exits at the fixture's teardown.
            subprocess.run(["umount", "-l", self.dir], timeout=30)
            self.mounted = False


@pytest.fixture
def small_disk(petreld_factory):
    """make(size_kb) -> (pd, disk): a petreld, not started, whose db dir
    is a small tmpfs."""
    made = []

    def make(size_kb=4096, **kw):
        pd = petreld_factory(start=False, **kw)
        disk = SmallDisk(pd, size_kb)
        made.append(disk)
        return pd, disk

    yield make
    for disk in made:
        disk.cleanup()


def db(pd, name):
    return Path(pd.dbdir, name)


def stored_image(pd, name):
    return db(pd, "images") / (name + ".img")


def restart(pd):
    assert pd.stop(signal.SIGTERM) == 0
    pd.start()


def run_image(images):
    return images.path("hvt")


# ---------------------------------------------------------------------------
# 3. an albatross state whose images do not fit


def test_albatross_migration_on_a_full_disk_loses_nothing(small_disk, images, tender):
    tender.need_scripted()
    pd, disk = small_disk(2048)
    # An image of 256 KiB (the ELF, padded): the state that carries it is
    # a little larger.
    img = Path(run_image(images)).read_bytes()
    img += b"\0" * (256 * 1024 - len(img))
    cfg = H.uk_config_v5(img, args=["run"])
    der = H.state_v5([("bigone", cfg)], [])
    db(pd, "state").write_bytes(der)
    # Room for state.started (a copy of the state), not for the image as
    # well: its store fails, and so does any state that still carries it.
    disk.fill(leave_pages=(len(der) + PAGE - 1) // PAGE + 16)
    pd.start()  # answers once the state is loaded and written back
    assert db(pd, "state").read_bytes() == der
    assert "could not start" in pd.log_text()
    assert pd.tender_of(":bigone") is None
    assert db(pd, "state.started").read_bytes() == der
    # A later change cannot make the loss permanent: its write fails too
    # (item 5), the state on disk is still the whole one.
    j = pd.jfail("add-policy", "team:", "--unikernels", "1", "--mem", "64", "--cpu", "0")
    assert "writing state" in j["message"], j
    assert db(pd, "state").read_bytes() == der
    # Nor a restart on the full disk.
    restart(pd)
    H.wait_for(lambda: pd.log_text().count("could not start") >= 2, 20,
               what="the restarted petreld to keep :bigone waiting")
    assert db(pd, "state").read_bytes() == der
    assert db(pd, "state.started").read_bytes() == der

    # Room again: the retry stores the image and starts the unikernel.
    disk.make_room()
    pd.wait_tender(":bigone", timeout=90)
    assert stored_image(pd, ":bigone").read_bytes() == img

    def written():
        s = db(pd, "state").read_bytes()
        return b"bigone" in s and len(s) < 64 * 1024  # image no longer inline
    H.wait_for(written, 30, what="the state in petrel's form")
    for f in ("state", "state.bak", "state.started"):
        assert b"bigone" in db(pd, f).read_bytes(), f
    restart(pd)
    pd.wait_tender(":bigone")
    pd.ok("destroy", "bigone")


# ---------------------------------------------------------------------------
# 4. a policy larger than the host


def host_cpus():
    return sorted(os.sched_getaffinity(0))


def host_memory_mb():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    raise AssertionError("no MemTotal in /proc/meminfo")


def test_policy_larger_than_the_host_is_kept_not_widened(petreld_factory, images, tender):
    tender.need_scripted()
    cpus = host_cpus()
    missing = max(cpus) + 1
    mem = host_memory_mb()
    # Written when the host had more CPUs and memory, and a bridge that is
    # not up (yet).
    big = H.policy_der(2, mem * 4, cpus + [missing], ["br0", "later0"], block=100)
    pd = petreld_factory(start=False)
    db(pd, "state").write_bytes(H.state_v5([], [("team:", big)]))
    pd.start()
    want = {"name": "team:", "unikernels": 2, "memory": mem * 4, "block": 100,
            "cpuids": cpus + [missing], "bridges": ["br0", "later0"]}
    assert pd.policies()["team:"] == want
    assert "policy team: no longer fits" in pd.log_text()
    img = run_image(images)
    # The host still bounds what it grants beyond the host ...
    j = pd.jfail("create", "team:a", img, "--cpu", str(missing), "--arg", "run")
    assert "CPU %d not allowed by policy :" % missing in j["message"], j
    j = pd.jfail("create", "team:a", img, "--mem", str(mem + 1), "--arg", "run")
    assert "policy : allows memory" in j["message"], j
    # ... and its own limits hold: no tenant without limits.
    pd.ok("create", "team:a", img, "--arg", "run")
    pd.ok("create", "team:b", img, "--arg", "run")
    j = pd.jfail("create", "team:c", img, "--arg", "run")
    assert "policy team: allows 2 unikernels" in j["message"], j
    # Written back unchanged.
    restart(pd)
    assert pd.policies()["team:"] == want
    pd.ok("destroy", "team:a")
    pd.ok("destroy", "team:b")


def test_root_policy_larger_than_the_host_is_kept_and_narrowed(petreld_factory, images,
                                                              tender):
    tender.need_scripted()
    cpus = host_cpus()
    missing = max(cpus) + 1
    mem = host_memory_mb()
    stored = H.policy_der(1, mem * 4, cpus + [missing], ["br0"], block=10)
    pd = petreld_factory(start=False)
    db(pd, "state").write_bytes(H.state_v5([], [(":", stored)]))
    pd.start()
    assert "stored root policy does not fit the host" in pd.log_text()
    root = pd.policies(":")[":"]
    # Checked narrowed to the host; never dropped (the host's own root
    # policy allows any number of unikernels).
    assert root["unikernels"] == 1
    assert root["memory"] == mem
    assert root["cpuids"] == cpus
    img = run_image(images)
    pd.ok("create", "a", img, "--arg", "run")
    j = pd.jfail("create", "b", img, "--arg", "run")
    assert "policy : allows 1 unikernels" in j["message"], j
    pd.ok("destroy", "a")
    # The state keeps the operator's policy as it was set.
    assert stored in db(pd, "state").read_bytes()
    restart(pd)
    assert pd.policies(":")[":"]["unikernels"] == 1
    assert stored in db(pd, "state").read_bytes()


# ---------------------------------------------------------------------------
# 5. state writes that fail are not acknowledged


def test_destroy_whose_state_write_fails(small_disk, images, tender):
    tender.need_scripted()
    pd, disk = small_disk(4096)
    pd.start()
    pd.ok("create", "web", run_image(images), "--arg", "run")
    pid, _ = pd.wait_tender(":web")
    image = stored_image(pd, ":web").read_bytes()
    disk.fill()
    j = pd.jfail("destroy", "web")
    assert "stopped" in j["message"] and "writing state" in j["message"], j
    assert "restart of petreld brings the unikernel back" in j["message"], j
    pd.wait_no_tender(":web")
    # Named by the state on disk: its image stays.
    assert b"web" in db(pd, "state").read_bytes()
    assert stored_image(pd, ":web").read_bytes() == image
    # As the reply said: a restart (the disk still full) brings it back,
    # with its image.
    restart(pd)
    pd.wait_tender(":web")
    assert ":web" in pd.info()

    # Destroyed again, still full; then room: the write is retried, and
    # only then does the image go.
    j = pd.jfail("destroy", "web")
    assert "writing state" in j["message"], j
    assert stored_image(pd, ":web").exists()
    disk.make_room()
    H.wait_for(lambda: b"web" not in db(pd, "state").read_bytes(), 30,
               what="the retried state write")
    H.wait_for(lambda: not stored_image(pd, ":web").exists(), 10,
               what="the image of the destroyed unikernel to go")
    restart(pd)
    assert pd.info() == {}
    # A destroy with room is a plain success.
    pd.ok("create", "web", run_image(images), "--arg", "run")
    pd.ok("destroy", "web")
    assert not stored_image(pd, ":web").exists()


def test_exit_whose_state_write_fails(small_disk, images, tender):
    tender.need_scripted()
    pd, disk = small_disk(4096)
    pd.start()
    pd.ok("create", "brief", run_image(images), "--arg", "run")
    pid, _ = pd.wait_tender(":brief")
    disk.fill()
    os.kill(pid, signal.SIGKILL)  # an exit that ends it (no restart)
    # Gone from memory, with the (failed) state write, in one step.
    H.wait_for(lambda: pd.info() == {}, 10, what="petreld to handle the exit")
    assert "writing state" in pd.log_text()
    # Nothing lost: the state on disk names it, and its image is kept.
    assert b"brief" in db(pd, "state").read_bytes()
    assert stored_image(pd, ":brief").exists()
    disk.make_room()
    H.wait_for(lambda: b"brief" not in db(pd, "state").read_bytes(), 30,
               what="the retried state write")
    H.wait_for(lambda: not stored_image(pd, ":brief").exists(), 10,
               what="the image of the ended unikernel to go")
    restart(pd)
    assert pd.info() == {}


def test_policy_add_and_remove_whose_state_write_fails(small_disk):
    pd, disk = small_disk(4096)
    pd.start()
    pd.ok("add-policy", "team:", "--unikernels", "2", "--mem", "64", "--cpu", "0")
    before = pd.policies_stable()
    disk.fill()
    j = pd.jfail("add-policy", "other:", "--unikernels", "1", "--mem", "32", "--cpu", "0")
    assert "policy other: not added" in j["message"], j
    assert "writing state" in j["message"], j
    j = pd.jfail("add-policy", "team:", "--unikernels", "5", "--mem", "64", "--cpu", "0")
    assert "policy team: not replaced" in j["message"], j
    j = pd.jfail("remove-policy", "team:")
    assert "policy team: not removed" in j["message"], j
    assert "writing state" in j["message"], j
    # Nothing of it happened, in memory either ...
    assert pd.policies_stable() == before
    # ... nor after a restart.
    restart(pd)
    assert pd.policies_stable() == before
    disk.make_room()
    pd.ok("remove-policy", "team:")
    restart(pd)
    assert "team:" not in pd.policies()
