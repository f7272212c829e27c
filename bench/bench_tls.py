#!/usr/bin/python3
"""petrel-tls benchmark (issue 11): prints figures, never fails on timing.

 a. handshakes per second: sequential connections, each a full TLS 1.3
    handshake with a client chain (leaf under a sub-CA with a policy),
    a `policy info` forwarded to petreld and its reply;
 b. a remote create of a 64 MB image streamed after the command (§9.6):
    throughput from the connection to the reply (goal >= 100 MB/s on
    loopback), and the peak RSS growth of petrel-tls and petreld during it
    (goal < 16 MB each; peaks reset through /proc/PID/clear_refs first).

In a sanitizer build run it with ASAN_OPTIONS=quarantine_size_mb=1 (as
`meson test --benchmark` does), or ASan's quarantine of freed memory
counts as RSS; the throughput of such a build is not the one to quote.

petreld runs in a private directory with the stand-in tender; the image
has no network devices, so no bridge or namespace is needed. Everything
started is stopped and the directory removed on the way out.

usage: bench_tls.py PETRELD PETREL_TLS TENDER MKIMAGE [HANDSHAKES] [MB]
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import pthelpers as H  # noqa: E402
import tlshelpers as T  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def status_kb(pid, field):
    for line in open("/proc/%d/status" % pid):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def reset_peak(pid):
    with open("/proc/%d/clear_refs" % pid, "w") as f:
        f.write("5")


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise SystemExit("bench_tls: timed out waiting for " + what)


def connect(port, pki, leaf):
    ctx = T.client_context(pki, pki.client_files(leaf))
    raw = socket.create_connection(("127.0.0.1", port), timeout=120)
    c = T.Client.__new__(T.Client)
    c.s = ctx.wrap_socket(raw, server_hostname="localhost")
    return c


def main(argv):
    if len(argv) < 5:
        print(__doc__)
        return 2
    petreld, tls_bin, tender, mkimage = argv[1:5]
    handshakes = int(argv[5]) if len(argv) > 5 else 200
    mb = int(argv[6]) if len(argv) > 6 else 64
    base = tempfile.mkdtemp(prefix="ptb", dir="/tmp")
    procs = []
    try:
        tmpdir, dbdir = os.path.join(base, "run"), os.path.join(base, "db")
        os.makedirs(dbdir)
        os.symlink(os.path.abspath(tender), os.path.join(dbdir, "solo5-hvt"))
        log = open(os.path.join(base, "log.txt"), "ab")
        pd = subprocess.Popen([petreld, "--tmpdir", tmpdir, "--dbdir", dbdir,
                               "--logdir", os.path.join(base, "log"),
                               "--no-console"],
                              stdout=log, stderr=log)
        procs.append(pd)
        sock = os.path.join(tmpdir, "util", "vmmd.sock")
        wait_for(lambda: os.path.exists(sock), 30, "petreld")
        pki = T.PKI(os.path.join(base, "pki"))
        port = free_port()
        td = subprocess.Popen([tls_bin, "--ca", pki.ca_file, "--cert",
                               pki.server_file, "--key", pki.server_key,
                               "--tmpdir", tmpdir, "--dbdir", dbdir,
                               "--listen", "127.0.0.1", "--port", str(port)],
                              stdout=log, stderr=log)
        procs.append(td)

        def listening():
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                return True
            except OSError:
                return False
        wait_for(listening, 30, "petrel-tls")
        team = pki.ca("team", pki.root, policy=H.policy_der(
            4, 4096, [0], []))

        leaf = pki.leaf("web", team, T.cmd_policy_info())
        files = pki.client_files(leaf)
        ctx = T.client_context(pki, files)
        t0 = time.monotonic()
        for _ in range(handshakes):
            raw = socket.create_connection(("127.0.0.1", port), timeout=60)
            s = ctx.wrap_socket(raw, server_hostname="localhost")
            c = T.Client.__new__(T.Client)
            c.s = s
            frames = c.frames()
            c.close()
            assert len(frames) == 1
        dt = time.monotonic() - t0
        print("handshakes (with a policy info each): %d in %.2f s: %.0f/s"
              % (handshakes, dt, handshakes / dt))

        out = os.path.join(base, "img.hvt")
        subprocess.run([sys.executable, mkimage, out, "--target", "hvt"],
                       check=True)
        image = open(out, "rb").read()
        image += b"\0" * ((mb << 20) - len(image))
        cfg = H.uk_config_v5(b"", memory=32, cpuids=(0,), args=["run"])
        leaf = pki.leaf("big", team, T.cmd_uk_create(cfg))
        rss0 = {p.pid: status_kb(p.pid, "VmRSS") for p in (td, pd)}
        for p in (td, pd):
            reset_peak(p.pid)
        t0 = time.monotonic()
        c = connect(port, pki, leaf)
        step = 256 * 1024
        for i in range(0, len(image), step):
            c.send_frame(image[i:i + step])
        c.send_end()
        t_sent = time.monotonic() - t0
        frames = c.frames()
        dt = time.monotonic() - t0
        c.close()
        ok = len(frames) == 1 and T.success_string(frames[0]) == \
            "created unikernel"
        print("remote create of %d MB: %.2f s: %.0f MB/s (goal >= 100)%s"
              % (mb, dt, mb / dt, "" if ok else " -- FAILED: %r" % frames))
        print("  of which sending: %.2f s, then petreld's checks and start: "
              "%.2f s" % (t_sent, dt - t_sent))
        for name, p in (("petrel-tls", td), ("petreld", pd)):
            grow = status_kb(p.pid, "VmHWM") - rss0[p.pid]
            print("  peak RSS growth of %s: %.1f MB (goal < 16)"
                  % (name, grow / 1024))
        return 0
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
