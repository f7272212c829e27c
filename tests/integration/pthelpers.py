"""Helpers for the petreld integration tests that need no fixture: a tiny
DER encoder for albatross state files, image patching, waiting on a
condition, and looking at processes, taps and files on the host.

Kept apart from conftest.py so that test modules can import them by name.
"""

import hashlib
import json
import os
import stat
import subprocess
import time

# ---------------------------------------------------------------------------
# Waiting: poll a condition until a deadline. Never a fixed sleep.


def wait_for(cond, timeout=10.0, interval=0.02, what=None):
    """Calls cond() until it returns something truthy; returns that value.
    Raises AssertionError naming `what` when the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s"
                                 % (timeout, what or getattr(cond, "__name__", "condition")))
        time.sleep(interval)


# ---------------------------------------------------------------------------
# DER (albatross-wire.md §3), just enough to write state files.


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def tlv(tag, content):
    return bytes([tag]) + der_len(len(content)) + content


def der_int(v):
    n = 1
    while True:
        try:
            return tlv(0x02, v.to_bytes(n, "big", signed=True))
        except OverflowError:
            n += 1


def der_bool(v):
    return tlv(0x01, b"\xff" if v else b"\x00")


def der_null():
    return b"\x05\x00"


def der_octets(b):
    return tlv(0x04, bytes(b))


def der_utf8(s):
    return tlv(0x0C, s.encode())


def der_seq(*items):
    return tlv(0x30, b"".join(items))


def der_set(*items):
    # DER SET OF: sorted by complete encoding (§3.1).
    return tlv(0x31, b"".join(sorted(items)))


def der_ctx(n, inner):
    """Explicit context tag [n] (constructed)."""
    return tlv(0xA0 | n, inner)


def mac_bytes(text):
    return bytes(int(x, 16) for x in text.split(":"))


def net_spec(name, bridge=None, mac=None):
    items = [der_utf8(name)]
    if bridge is not None:
        items.append(der_utf8(bridge))
    if mac is not None:
        items.append(der_octets(mac_bytes(mac)))
    return der_seq(*items)


def fail_quit():
    return der_ctx(0, der_null())


def fail_restart(codes=()):
    return der_ctx(1, der_set(*[der_int(c) for c in codes]))


def uk_config_v5(image, memory=32, cpuids=(0,), nets=(), args=None,
                 compressed=False, startup=None, add_name=True,
                 fail=None):
    """UnikernelConfig (§6.3), with the emission rules of albatross."""
    items = [der_ctx(0, der_null()), der_bool(compressed), der_octets(image)]
    if startup is not None:
        items.append(der_int(startup))
    items.append(der_bool(add_name))
    items.append(fail if fail is not None else fail_quit())
    items.append(der_set(*[der_int(c) for c in cpuids]))
    items.append(der_int(memory))
    if nets:
        items.append(der_ctx(1, der_set(*nets)))
    if args is not None:
        items.append(der_ctx(2, der_seq(*[der_utf8(a) for a in args])))
    items.append(der_ctx(3, der_int(1)))
    return der_seq(*items)


def uk_config_v3(image, memory=10, cpuid=0, nets=(), args=None,
                 compressed=False, fail=None):
    """UnikernelConfigV3 (§6.4), as in the 13.4 vector."""
    items = [der_ctx(0, der_null()), der_bool(compressed), der_octets(image),
             fail if fail is not None else fail_quit(),
             der_int(cpuid), der_int(memory)]
    if nets:
        items.append(der_ctx(1, der_set(*nets)))
    if args is not None:
        items.append(der_ctx(2, der_seq(*[der_utf8(a) for a in args])))
    return der_seq(*items)


def policy_der(unikernels, memory, cpuids, bridges, block=None):
    items = [der_seq(*[der_int(c) for c in sorted(cpuids)]),
             der_int(unikernels), der_int(memory)]
    if block is not None:
        items.append(der_int(block))
    items.append(der_seq(*[der_utf8(b) for b in sorted(bridges)]))
    return der_seq(*items)


def trie(entries):
    return der_seq(*[der_seq(der_utf8(name), value) for name, value in entries])


def state_v5(unikernels, policies):
    """State choice [6]: unikernels and policies tries."""
    return der_ctx(6, der_seq(trie(unikernels), trie(policies)))


def state_v3(unikernels):
    """State choice [3]: a unikernel trie of V3 configurations."""
    return der_ctx(3, trie(unikernels))


# ---------------------------------------------------------------------------
# Images


ABI_NOTE_HEADER = bytes.fromhex("06000000 10000000 41424931 536f6c6f35000000")


def patch_abi_target(image, target):
    """Rewrites the abi_target of the ABI1 note (solo5.md §4.1)."""
    i = image.find(ABI_NOTE_HEADER)
    assert i >= 0, "no ABI1 note in the test image"
    j = i + len(ABI_NOTE_HEADER)
    return image[:j] + target.to_bytes(4, "little") + image[j + 4:]


def default_mac(netname, fullname):
    """albatross-wire.md A.3."""
    h = hashlib.md5((netname + fullname).encode()).digest()
    return "00:80:41:%02x:%02x:%02x" % (h[0], h[1], h[2])


# ---------------------------------------------------------------------------
# Processes


def proc_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            raw = f.read()
    except OSError:
        return None
    if not raw:
        return []
    return [a.decode(errors="replace") for a in raw.rstrip(b"\0").split(b"\0")]


def proc_stat(pid):
    """(state letter, ppid) from /proc/PID/stat, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rfind(")") + 2:].split()
    return rest[0], int(rest[1])


def proc_status(pid):
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k] = v.strip()
    except OSError:
        return None
    return out


def all_pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def tender_processes(tmpdir, parent=None):
    """pid -> argv of every live process whose argv carries an image of
    this tmpdir (`<tmpdir>/<name>.img`); only children of `parent` if
    given. Zombies have no argv: see zombie_children."""
    prefix = tmpdir.rstrip("/") + "/"
    found = {}
    ppids = {}
    for pid in all_pids():
        argv = proc_cmdline(pid)
        if not argv:
            continue
        if any(a.startswith(prefix) and a.endswith(".img") for a in argv[1:]):
            st = proc_stat(pid)
            if st is None or st[0] in "ZX":
                continue  # gone meanwhile
            found[pid] = argv
            ppids[pid] = st[1]
    # A process forked by a tender is not a tender: LeakSanitizer's tracer
    # (ASan builds) briefly shows up with its parent's argv at exit.
    for pid in list(found):
        if ppids[pid] in found or (parent is not None and ppids[pid] != parent):
            del found[pid]
    return found


def zombie_children(ppid):
    out = []
    for pid in all_pids():
        st = proc_stat(pid)
        if st and st[1] == ppid and st[0] == "Z":
            out.append(pid)
    return out


def pid_reaped(pid):
    """Gone entirely: exited and reaped by its parent."""
    return not os.path.exists("/proc/%d" % pid)


def pid_alive(pid):
    st = proc_stat(pid)
    return st is not None and st[0] != "Z"


# ---------------------------------------------------------------------------
# Network namespace scaffolding (tests may use `ip`; petrel never does)


def ip(*args, check=True):
    r = subprocess.run(["ip"] + list(args), capture_output=True, text=True,
                       timeout=30)
    if check and r.returncode != 0:
        raise RuntimeError("ip %s: %s" % (" ".join(args), r.stderr.strip()))
    return r


def links(ns, *filt):
    r = ip("-n", ns, "-j", "-d", "link", "show", *filt)
    return json.loads(r.stdout or "[]")


def taps(ns):
    """Names of all tun/tap interfaces in the namespace."""
    return sorted(l["ifname"] for l in links(ns, "type", "tun"))


def link(ns, name):
    for l in links(ns):
        if l["ifname"] == name:
            return l
    return None


# ---------------------------------------------------------------------------
# Files


def files_under(root, skip=()):
    """Relative paths of every non-directory under root (symlinks not
    followed), minus those under the `skip` relative directories."""
    out = set()
    if not os.path.isdir(root):
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        if rel != "." and any(rel == s or rel.startswith(s + "/") for s in skip):
            dirnames[:] = []
            continue
        for fn in filenames:
            out.add(os.path.normpath(os.path.join(rel, fn)))
    return out


def fifos_under(root):
    out = []
    for dirpath, _, filenames in os.walk(root):
        for fn in filenames:
            p = os.path.join(dirpath, fn)
            try:
                if stat.S_ISFIFO(os.lstat(p).st_mode):
                    out.append(p)
            except OSError:
                pass
    return out


def read_fifo_until(path, needle, timeout=10.0):
    """Opens a FIFO for reading without blocking and reads until `needle`
    (bytes) appeared; returns everything read."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    buf = bytearray()
    try:
        def got():
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                chunk = b""
            buf.extend(chunk)
            return needle in buf
        wait_for(got, timeout, what="%r on the console FIFO %s" % (needle, path))
    finally:
        os.close(fd)
    return bytes(buf)


# ---------------------------------------------------------------------------
# Talking AV5 directly (for requests the client cannot make)


def wire_header(name, sequence=0):
    return der_seq(der_int(5), der_octets(sequence.to_bytes(8, "big")),
                   der_utf8(name))


def create_command(config, force=False):
    """payload [0] command / [3] unikernel / [20] create or [21] force."""
    return der_ctx(0, der_ctx(3, der_ctx(21 if force else 20, config)))


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise AssertionError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def wire_request(sock_path, body, timeout=60):
    """Sends one frame and returns the body of the reply frame."""
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(sock_path)
        s.sendall(len(body).to_bytes(4, "big") + body)
        n = int.from_bytes(recv_exact(s, 4), "big", signed=True)
        assert 0 < n < 1 << 24, "reply length %d" % n
        return recv_exact(s, n)
    finally:
        s.close()


def failure_reply(header, message):
    return der_seq(header, der_ctx(2, der_utf8(message)))


def parse_tlv(b, off=0):
    """(tag, start of content, end of content) of the DER TLV at off."""
    tag, first = b[off], b[off + 1]
    off += 2
    if first < 0x80:
        n = first
    else:
        k = first & 0x7F
        n = int.from_bytes(b[off:off + k], "big")
        off += k
    return tag, off, off + n


def reply_is_failure(reply, header):
    """The reply is one Wire that echoes the header and carries payload [2]
    (a failure)."""
    tag, start, end = parse_tlv(reply)
    if tag != 0x30 or end != len(reply) or not reply[start:].startswith(header):
        return False
    ptag, _, pend = parse_tlv(reply, start + len(header))
    return ptag == 0xA2 and pend == end
