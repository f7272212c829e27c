"""scripts/demo.sh, the one-command demo of the README: it succeeds, shows
each step, and leaves no namespace, tap, process or directory behind."""

import glob
import os
import subprocess
import time

from conftest import BUILD_DIR, SRC_DIR, need_root
import pthelpers as H

DEMO = SRC_DIR / "scripts" / "demo.sh"


def demo_netns():
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    return sorted(l.split()[0] for l in r.stdout.splitlines()
                  if l.startswith("petrel-demo-"))


def demo_processes():
    found = []
    for pid in H.all_pids():
        try:
            cmd = open("/proc/%d/cmdline" % pid, "rb").read()
        except OSError:
            continue
        if b"/tmp/petrel-demo." in cmd:
            found.append((pid, cmd.replace(b"\0", b" ").decode(errors="replace")))
    return found


def test_demo_runs_and_leaves_nothing_behind():
    need_root()
    before = (demo_netns(), set(glob.glob("/tmp/petrel-demo.*")))
    env = dict(os.environ, PETREL_BUILD_DIR=str(BUILD_DIR))
    for k in ("SOLO5_HVT", "SOLO5_SPT", "PETREL_DEMO_IMAGE"):
        env.pop(k, None)
    t0 = time.monotonic()
    r = subprocess.run(["bash", str(DEMO)], capture_output=True, text=True,
                       timeout=300, env=env, stdin=subprocess.DEVNULL)
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    out = r.stdout
    for step in ("stand-in tender", "added policy", "created unikernel",
                 "net: service -> br0", "hello from the demo",
                 "echoed back", "destroyed unikernel", "destroyed demo:hello",
                 "nothing left behind"):
        assert step in out, "%r not in the demo's output:\n%s" % (step, out)
    assert "\033[" not in out, "colours when stdout is not a terminal"
    assert demo_netns() == before[0]
    assert set(glob.glob("/tmp/petrel-demo.*")) == before[1]
    assert demo_processes() == []
    # "It takes seconds": generous for an ASan build on a loaded machine.
    assert took < 120, took
