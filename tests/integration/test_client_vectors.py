"""The petrel client on its own, without petreld.

1. `--socket=-` prints the request it would send: compared byte for byte
   with the golden vectors of albatross-wire.md §13.
2. A fake daemon (a Python Unix-socket server in this file) answers with
   canned §13 frames, so that the client's text and JSON output, its exit
   codes and its streams (block set/dump, get, restart with new arguments)
   are checked against docs/cli.md without a real daemon.

Self-contained: needs no root and no fixture from conftest.py. The binary
comes from PETREL_BUILD_DIR (default /work/main/build-test).
"""

import hashlib
import json
import os
import pty
import select
import socket
import struct
import subprocess
import threading
import zlib
from pathlib import Path

import pytest

BUILD_DIR = Path(os.environ.get("PETREL_BUILD_DIR") or "/work/main/build-test")
PETREL = BUILD_DIR / "src" / "client" / "petrel"


def petrel_bin():
    if not PETREL.exists():
        pytest.fail("%s is not built (PETREL_BUILD_DIR=%s)" % (PETREL, BUILD_DIR))
    return str(PETREL)


def run(*args, cwd=None, timeout=30, stdin=subprocess.DEVNULL):
    p = subprocess.run([petrel_bin(), *map(str, args)], capture_output=True,
                       cwd=cwd, timeout=timeout, stdin=stdin)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def unhex(s):
    return bytes.fromhex("".join(s.split()))


# ---------------------------------------------------------------------------
# A minimal DER writer, enough to build replies and expected requests.

def tlv(tag, body):
    n = len(body)
    if n < 0x80:
        length = bytes([n])
    else:
        b = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(b)]) + b
    return bytes([tag]) + length + body


def seq(*parts):
    return tlv(0x30, b"".join(parts))


def setof(*parts):
    return tlv(0x31, b"".join(sorted(parts)))


def ctx(n, body):
    """[n] EXPLICIT, constructed."""
    return tlv(0xA0 | n, body)


def integer(v):
    n = max(1, (v.bit_length() + 8) // 8)
    return tlv(0x02, v.to_bytes(n, "big", signed=True))


def utf8(s):
    return tlv(0x0C, s.encode())


def octets(b):
    return tlv(0x04, b)


def boolean(v):
    return tlv(0x01, b"\xff" if v else b"\x00")


NULL = b"\x05\x00"


def header(name, sequence=0):
    return seq(integer(5), octets(sequence.to_bytes(8, "big")), utf8(name))


def wire(name, payload, sequence=0):
    return seq(header(name, sequence), payload)


def success(name, body, sequence=0):
    return wire(name, ctx(1, body), sequence)


def failure(name, msg):
    return wire(name, ctx(2, utf8(msg)))


def string_reply(name, msg):
    return success(name, ctx(1, utf8(msg)))


def frame(body):
    return struct.pack(">i", len(body)) + body


# ---------------------------------------------------------------------------
# §13 vectors

V13_5 = """30 3B 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 04 66 6F 6F 3A
A0 24 A4 22 A1 20 30 1E 30 06 02 01 00 02 01 01 02 01 02 02 02 02 00 02 02 04
00 30 09 0C 07 73 65 72 76 69 63 65"""

V13_6 = """30 1F 30 15 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 06 3A 68 65 6C 6C
6F A0 06 A3 04 A3 02 05 00"""

V13_7B = """30 30 30 15 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 06 3A 68 65 6C 6C
6F A1 17 A1 15 0C 13 64 65 73 74 72 6F 79 65 64 20 75 6E 69 6B 65 72 6E 65 6C"""

V13_7D = """30 40 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 04 66 6F 6F 3A
A1 29 A2 27 30 25 30 23 0C 01 3A
30 1E 30 06 02 01 00 02 01 01 02 01 02 02 02 02 00 02 02 04 00 30 09 0C 07 73
65 72 76 69 63 65"""

V13_7E = """30 2A 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 04 66 6F 6F 3A
A1 13 A4 11 30 0F 30 0D 0C 05 3A 64 69 73 6B 02 01 64 01 01 00"""

V13_7F = """30 24 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 04 66 6F 6F 3A
A1 0D AC 0B 30 09 0C 02 3A 61 0C 03 62 3A 63"""

V13_8 = """30 2D 30 15 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 06 3A 68 65 6C 6C
6F A2 14 0C 12 64 65 73 74 72 6F 79 3A 20 6E 6F 74 20 66 6F 75 6E 64"""

V13_10 = """30 5F 30 15 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 06 3A 68 65 6C 6C
6F A0 46 A3 44 B4 42 30 40 A0 02 05 00 01 01 00 04 03 41 42 43 01 01 FF A0 02
05 00 31 03 02 01 00 02 01 20 A1 0D 31 0B 30 09 0C 07 73 65 72 76 69 63 65 A2
0F 30 0D 0C 02 2D 6C 0C 07 2A 3A 64 65 62 75 67 A3 03 02 01 01"""

# 13.11 with sequence 0 (the client always uses 0) instead of 3.
V13_11_SEQ0 = """30 81 94 30 14 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 05 61 3A 77 65
62 A0 7C A3 7A B5 78 30 76 A0 02 05 00 01 01 00 04 00 02 01 0A 01 01 00 A1 08
31 06 02 01 00 02 01 02 31 06 02 01 00 02 01 01 02 02 01 00 A0 20 31 1E 30 06
0C 04 64 61 74 61 30 14 0C 07 73 74 6F 72 61 67 65 0C 05 64 69 73 6B 31 02 02
10 00 A1 28 31 26 30 0C 0C 0A 6D 61 6E 61 67 65 6D 65 6E 74 30 16 0C 07 73 65
72 76 69 63 65 0C 03 62 72 30 04 06 00 80 41 AA BB CC A3 03 02 01 01"""

V13_12 = """30 35 30 15 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 06 3A 68 65 6C 6C
6F A0 1C A3 1A AE 18 A3 16 30 14 A1 02 31 00 01 01 FF 31 03 02 01 00 02 01 40
A3 03 02 01 01"""

V13_13 = """30 81 B6 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 04 66 6F 6F 3A
A1 81 9E AD 81 9B 30 81 98 30 81 95 0C 06 3A 68 65 6C 6C 6F 30 81 8A
A0 02 05 00 A0 02 05 00 31 03 02 01 00 02 01 20 04 20""" + " AA" * 32 + """
A0 1A 31 18 30 16 0C 07 73 74 6F 72 61 67 65 0C 04 64 69 73 6B 02 02 02 00 02
01 64 A1 1A 31 18 30 16 0C 07 73 65 72 76 69 63 65 0C 03 62 72 30 04 06 00 80
41 01 02 03 A2 06 30 04 0C 02 2D 6C A3 11 18 0F 32 30 32 34 30 31 30 32 30 33
30 34 30 35 5A A4 03 02 01 01"""

# The UnikernelInfo of 13.13, built with the DER writer above, so that it
# can be put into replies with other headers.
INFO_13_13 = seq(
    ctx(0, NULL), ctx(0, NULL), setof(integer(0)), integer(32),
    octets(b"\xaa" * 32),
    ctx(0, setof(seq(utf8("storage"), utf8("disk"), integer(512),
                     integer(100)))),
    ctx(1, setof(seq(utf8("service"), utf8("br0"),
                     octets(bytes.fromhex("008041010203"))))),
    ctx(2, seq(utf8("-l"))),
    ctx(3, tlv(0x18, b"20240102030405Z")),
    ctx(4, integer(1)))


def info_reply(reqname, entries):
    """success unikernel-info [13] with (name, info) entries."""
    return success(reqname, ctx(13, seq(*[seq(utf8(n), i) for n, i in entries])))


def test_der_writer_reproduces_13_13():
    # The helpers are only trusted because they rebuild a spec vector.
    assert info_reply("foo:", [(":hello", INFO_13_13)]) == unhex(V13_13)
    assert string_reply(":hello", "destroyed unikernel") == unhex(V13_7B)
    assert failure(":hello", "destroy: not found") == unhex(V13_8)


# ---------------------------------------------------------------------------
# 1. --socket=-: the encoded request, byte for byte


def dry(*args, cwd=None):
    rc, out, err = run("--socket=-", *args, cwd=cwd)
    assert rc == 0, (args, out, err)
    assert err == ""
    lines = out.splitlines()
    return [bytes.fromhex(l) for l in lines]


def test_destroy_13_6():
    assert dry("destroy", "hello") == [unhex(V13_6)]
    # The global option may follow the command, and ':hello' is the same.
    rc, out, _ = run("destroy", ":hello", "--socket", "-")
    assert rc == 0 and bytes.fromhex(out.strip()) == unhex(V13_6)


def test_add_policy_13_5():
    assert dry("add-policy", "foo:", "--unikernels", "2", "--cpu", "0",
               "--cpu", "1", "--mem", "512", "--block", "1024",
               "--bridge", "service") == [unhex(V13_5)]
    # Order and duplicates do not matter: the sets are normalised.
    assert dry("add-policy", "foo", "--cpu", "1", "--bridge", "service",
               "--cpu", "0", "--cpu", "1", "--unikernels", "2", "--mem",
               "512", "--block", "1024", "--bridge", "service") == [unhex(V13_5)]


def test_create_13_10(tmp_path):
    img = tmp_path / "hello.img"
    img.write_bytes(b"ABC")
    assert dry("create", "hello", img, "--arg", "-l", "--arg", "*:debug",
               "--net", "service") == [unhex(V13_10)]


def test_force_create_13_11(tmp_path):
    img = tmp_path / "empty.img"
    img.write_bytes(b"")
    got = dry("create", "a:web", img, "-f", "--startup", "10",
              "--no-add-name", "--exit-code", "2", "--exit-code", "0",
              "--cpu", "1", "--cpu", "0", "--mem", "256",
              "--block", "storage:disk1@4096", "--block", "data",
              "--net", "service:br0@00:80:41:AA:BB:CC", "--net", "management")
    assert got == [unhex(V13_11_SEQ0)]


def test_create_compressed(tmp_path):
    img = tmp_path / "big.img"
    data = os.urandom(1000) + b"\x00" * 100000
    img.write_bytes(data)
    (body,) = dry("create", "x", img, "--compress")
    # compressed TRUE, and the image inflates back to the file.
    assert b"\x01\x01\xff\x04" in body
    start = body.index(b"\x01\x01\xff\x04") + 4
    n = body[start]
    assert n & 0x80
    k = n & 0x7F
    length = int.from_bytes(body[start + 1:start + 1 + k], "big")
    blob = body[start + 1 + k:start + 1 + k + length]
    assert zlib.decompress(blob) == data


VECTORS_13_9 = [
    (("info", "foo:"), """30 1D 30 13 02 01 05 04 08 00 00 00 00 00 00 00 00
      0C 04 66 6F 6F 3A A0 06 A3 04 B3 02 05 00"""),
    (("get", "hello", "--compress"), """30 20 30 15 02 01 05 04 08 00 00 00 00
      00 00 00 00 0C 06 3A 68 65 6C 6C 6F A0 07 A3 05 AB 03 02 01 09"""),
    (("restart", "hello"), """30 21 30 15 02 01 05 04 08 00 00 00 00 00 00 00
      00 0C 06 3A 68 65 6C 6C 6F A0 08 A3 06 AE 04 A0 02 05 00"""),
    (("policy",), """30 1A 30 10 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 01
      3A A0 06 A4 04 A0 02 05 00"""),
    (("remove-policy", "foo:"), """30 1D 30 13 02 01 05 04 08 00 00 00 00 00
      00 00 00 0C 04 66 6F 6F 3A A0 06 A4 04 A2 02 05 00"""),
    (("create-block", "foo:disk", "100"), """30 22 30 17 02 01 05 04 08 00 00
      00 00 00 00 00 00 0C 08 66 6F 6F 3A 64 69 73 6B A0 07 A5 05 A1 03 02 01
      64"""),
    (("dump-block", "foo:disk"), """30 22 30 17 02 01 05 04 08 00 00 00 00 00
      00 00 00 0C 08 66 6F 6F 3A 64 69 73 6B A0 07 A5 05 A6 03 02 01 00"""),
    (("block",), """30 1A 30 10 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 01
      3A A0 06 A5 04 A0 02 05 00"""),
    (("inactive-consoles", "foo:"), """30 1D 30 13 02 01 05 04 08 00 00 00 00
      00 00 00 00 0C 04 66 6F 6F 3A A0 06 A0 04 A3 02 05 00"""),
    (("console", "a:b", "--since", "2024-01-02T03:04:05Z"), """30 2D 30 12 02
      01 05 04 08 00 00 00 00 00 00 00 00 0C 03 61 3A 62 A0 17 A0 15 A2 13 A0
      11 18 0F 32 30 32 34 30 31 30 32 30 33 30 34 30 35 5A"""),
    # 13.1 and 13.2: albatross-client's own test vectors.
    (("console", "foo"), """30 20 30 13 02 01 05 04 08 00 00 00 00 00 00 00
      00 0C 04 3A 66 6F 6F A0 09 A0 07 A2 05 A1 03 02 01 14"""),
    (("console", "foo.bar"), """30 24 30 17 02 01 05 04 08 00 00 00 00 00 00
      00 00 0C 08 3A 66 6F 6F 2E 62 61 72 A0 09 A0 07 A2 05 A1 03 02 01 14"""),
]


@pytest.mark.parametrize("args,want", VECTORS_13_9,
                         ids=[" ".join(a) for a, _ in VECTORS_13_9])
def test_13_9_commands(args, want):
    assert dry(*args) == [unhex(want)]


def test_set_block_13_9(tmp_path):
    data = tmp_path / "d"
    data.write_bytes(b"\xde\xad\xbe\xef")
    want = unhex("""30 22 30 17 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 08 66
      6F 6F 3A 64 69 73 6B A0 07 A5 05 A7 03 01 01 00""")
    assert dry("set-block", "foo:disk", data) == [want]
    # create-block --data: block add, then block set: one line each.
    add = unhex(VECTORS_13_9[5][1])
    assert dry("create-block", "foo:disk", "100", "--data", data) == [add, want]


def test_usage_errors(tmp_path):
    img = tmp_path / "i"
    img.write_bytes(b"x")
    for args in (["destroy", "a::b"], ["destroy"], ["destroy", "a", "b"],
                 ["frob"], ["create", "x", tmp_path / "missing"],
                 ["create", "a:", img], ["create", "x", img, "--mem", "0"],
                 ["create", "x", img, "--net", "a:b:c"],
                 ["create", "x", img, "--net", "br0", "--net", "br0"],
                 ["create", "x", img, "--block", "s@1000"],
                 ["create", "x", img, "--exit-code", "256"],
                 ["create", "x", img, "--bogus"],
                 ["restart", "x", "--arg", "a"],
                 ["add-policy", "a:", "--mem", "64", "--cpu", "0"],
                 ["add-policy", "a:", "--unikernels", "1", "--mem", "8",
                  "--cpu", "0"],
                 ["console", "a:"], ["console", "x", "--count", "0"],
                 ["console", "x", "--count", "2", "--since",
                  "2024-01-02T03:04:05Z"],
                 ["console", "x", "--since", "yesterday"],
                 ["create-block", "d", "0"], ["create-block", "d", "x"],
                 ["create-block", "d", "1", "--data", tmp_path / "missing"],
                 ["set-block", "d", tmp_path / "missing"]):
        rc, out, err = run("--socket=-", *args)
        assert rc == 2, (args, out, err)
        assert out == ""
        assert err.startswith("petrel: "), err
    # Data that cannot fit the device is refused before anything is sent.
    big = tmp_path / "big"
    big.write_bytes(b"\x00" * (1024 * 1024 + 1))
    rc, out, err = run("--socket=-", "create-block", "d", "1", "--data", big)
    assert rc == 2 and out == "" and "exceeds" in err


def test_help_lists_every_command():
    rc, out, err = run("--help")
    assert rc == 0 and err == ""
    for cmd in ("create", "destroy", "restart", "info", "get", "policy",
                "add-policy", "replace-policy", "remove-policy",
                "create-block", "destroy-block", "block", "set-block",
                "dump-block", "console", "inactive-consoles"):
        assert "\n  %s " % cmd in out, cmd
        rc, sub, _ = run(cmd, "--help")
        assert rc == 0 and sub.startswith("usage: petrel %s" % cmd), sub
    rc, _, err = run()
    assert rc == 2 and "usage:" in err


# ---------------------------------------------------------------------------
# 2. A fake daemon


def read_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def read_frame(conn):
    """A frame body; b"" for the end marker; None at EOF."""
    prefix = read_exact(conn, 4)
    if prefix is None:
        return None
    (n,) = struct.unpack(">i", prefix)
    if n <= 0:
        return b""
    return read_exact(conn, n)


class FakeDaemon:
    """Serves one scripted handler per connection, in order, and records
    what the client sent. A handler gets the connection and returns
    nothing; the connection is closed after it."""

    def __init__(self, path, handlers):
        self.path = str(path)
        self.handlers = list(handlers)
        self.requests = []
        self.errors = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(4)
        self.sock.settimeout(20)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        for h in self.handlers:
            try:
                conn, _ = self.sock.accept()
            except OSError as e:
                self.errors.append("accept: %s" % e)
                return
            conn.settimeout(20)
            try:
                h(self, conn)
            except Exception as e:  # reported by check()
                self.errors.append(repr(e))
            finally:
                conn.close()

    def request(self, conn):
        body = read_frame(conn)
        self.requests.append(body)
        return body

    def check(self):
        self.thread.join(timeout=20)
        assert not self.thread.is_alive(), "the client did not connect"
        self.sock.close()
        assert self.errors == []


def answer(*frames):
    """A handler: read the request, send the frames."""
    def h(d, conn):
        d.request(conn)
        for f in frames:
            conn.sendall(frame(f))
    return h


def serve(tmp_path, *handlers):
    return FakeDaemon(tmp_path / "d.sock", handlers)


def call(d, *args, json_mode=False, cwd=None):
    argv = ["--socket", d.path] + (["--json"] if json_mode else []) + list(args)
    return run(*argv, cwd=cwd)


def test_failure_reply_13_8(tmp_path):
    d = serve(tmp_path, answer(unhex(V13_8)), answer(unhex(V13_8)))
    rc, out, err = call(d, "destroy", "hello")
    assert (rc, out, err) == (1, "", "petrel: :hello: destroy: not found\n")
    rc, out, err = call(d, "destroy", "hello", json_mode=True)
    assert rc == 1
    assert json.loads(out) == {"result": "failure",
                               "message": "destroy: not found"}
    d.check()
    assert d.requests == [unhex(V13_6)] * 2


def test_string_reply_13_7b(tmp_path):
    d = serve(tmp_path, answer(unhex(V13_7B)), answer(unhex(V13_7B)))
    assert call(d, "destroy", "hello") == (0, "destroyed unikernel\n", "")
    rc, out, _ = call(d, "destroy", "hello", json_mode=True)
    assert rc == 0
    assert json.loads(out) == {"result": "success", "kind": "string",
                               "message": "destroyed unikernel"}
    d.check()


INFO_JSON = {
    "name": ":hello", "typ": "solo5", "memory": 32, "cpuids": [0], "cpus": 1,
    "digest": "aa" * 32, "started": "2024-01-02T03:04:05Z",
    "fail_behaviour": {"restart": False},
    "blocks": [{"unikernel_device": "storage", "host_device": "disk",
                "sector_size": 512, "block_size": 100}],
    "bridges": [{"unikernel_device": "service", "host_device": "br0",
                 "mac": "00:80:41:01:02:03"}],
    "arguments": ["-l"],
}


def test_info_reply_13_13(tmp_path):
    d = serve(tmp_path, answer(unhex(V13_13)), answer(unhex(V13_13)))
    rc, out, err = call(d, "info", "foo:")
    assert rc == 0 and err == ""
    lines = out.splitlines()
    for want in ("name: :hello", "typ: solo5", "memory: 32", "cpuids: 0",
                 "cpus: 1", "digest: " + "aa" * 32,
                 "started: 2024-01-02T03:04:05Z", "fail_behaviour: quit",
                 "block: storage -> disk (sector size 512, 100 MB)",
                 "net: service -> br0 (mac 00:80:41:01:02:03)",
                 "arguments: -l"):
        assert want in lines, (want, out)
    assert not any(l.startswith("startup") for l in lines)
    rc, out, _ = call(d, "info", "foo:", json_mode=True)
    assert rc == 0
    assert json.loads(out) == {"result": "success", "kind": "unikernel-info",
                               "unikernels": [INFO_JSON]}
    d.check()


def test_info_several_and_restart_policy(tmp_path):
    restart_any = seq(ctx(0, NULL), integer(10), ctx(1, setof()),
                      setof(integer(0), integer(1)), integer(64),
                      octets(b"\x01" * 32), ctx(3, tlv(0x18, b"20240102030405.250Z")),
                      ctx(4, integer(2)))
    restart_some = seq(ctx(0, NULL), ctx(1, setof(integer(3), integer(2))),
                       setof(integer(0)), integer(32), octets(b"\x02" * 32),
                       ctx(2, seq()), ctx(4, integer(1)))
    reply = info_reply(":", [(":a", restart_any), ("b:c", restart_some)])
    d = serve(tmp_path, answer(reply), answer(reply))
    rc, out, _ = call(d, "info")
    assert rc == 0
    blocks = out.split("\n\n")
    assert len(blocks) == 2, out
    assert "startup: 10\n" in blocks[0]
    assert "fail_behaviour: restart (on any exit code)" in blocks[0]
    assert "started: 2024-01-02T03:04:05.250Z" in blocks[0]
    assert "fail_behaviour: restart on exit codes 2, 3" in blocks[1]
    assert "arguments:\n" in blocks[1]
    rc, out, _ = call(d, "info", json_mode=True)
    u = json.loads(out)["unikernels"]
    assert u[0]["startup"] == 10 and u[0]["cpuids"] == [0, 1]
    assert u[0]["cpus"] == 2
    assert u[0]["fail_behaviour"] == {"restart": True, "exit_codes": []}
    assert u[1]["fail_behaviour"] == {"restart": True, "exit_codes": [2, 3]}
    assert "startup" not in u[1]
    assert u[1]["arguments"] == [] and u[1]["blocks"] == []
    d.check()
    # `info` without a name asks about the root path ':'.
    assert d.requests[0] == wire(":", ctx(0, ctx(3, tlv(0xB3, NULL))))


def test_policies_reply_13_7d(tmp_path):
    d = serve(tmp_path, answer(unhex(V13_7D)), answer(unhex(V13_7D)))
    rc, out, _ = call(d, "policy", "foo:")
    assert rc == 0
    assert out == ("name: :\nunikernels: 2\nmemory: 512\nblock: 1024\n"
                   "cpuids: 0, 1\nbridges: service\n")
    rc, out, _ = call(d, "policy", "foo:", json_mode=True)
    assert json.loads(out) == {
        "result": "success", "kind": "policies",
        "policies": [{"name": ":", "unikernels": 2, "memory": 512,
                      "block": 1024, "cpuids": [0, 1],
                      "bridges": ["service"]}]}
    d.check()


def test_block_devices_reply_13_7e(tmp_path):
    d = serve(tmp_path, answer(unhex(V13_7E)), answer(unhex(V13_7E)))
    rc, out, _ = call(d, "block", "foo:")
    assert (rc, out) == (0, "name: :disk\nsize: 100\nactive: false\n")
    rc, out, _ = call(d, "block", "foo:", json_mode=True)
    assert json.loads(out) == {
        "result": "success", "kind": "block-devices",
        "block_devices": [{"name": ":disk", "size": 100, "active": False}]}
    d.check()


def test_consoles_reply_13_7f(tmp_path):
    d = serve(tmp_path, answer(unhex(V13_7F)), answer(unhex(V13_7F)))
    assert call(d, "inactive-consoles", "foo:") == (0, ":a\nb:c\n", "")
    rc, out, _ = call(d, "inactive-consoles", "foo:", json_mode=True)
    assert json.loads(out) == {"result": "success", "kind": "consoles",
                               "consoles": [":a", "b:c"]}
    d.check()


def test_empty_reply(tmp_path):
    empty = success(":", ctx(0, NULL))
    d = serve(tmp_path, answer(empty), answer(empty))
    assert call(d, "policy") == (0, "", "")
    rc, out, _ = call(d, "policy", json_mode=True)
    assert json.loads(out) == {"result": "success", "kind": "empty"}
    d.check()


def test_control_characters_are_escaped(tmp_path):
    evil = "\x1b[2J\x07bad\nline\u009b"
    d = serve(tmp_path, answer(failure(":hello", evil)),
              answer(string_reply(":hello", evil)),
              answer(failure(":hello", evil)))
    rc, out, err = call(d, "destroy", "hello")
    assert rc == 1
    assert err == "petrel: :hello: \\x1b[2J\\x07bad\\nline\\u009b\n"
    rc, out, err = call(d, "destroy", "hello")
    assert rc == 0 and out == "\\x1b[2J\\x07bad\\nline\\u009b\n"
    rc, out, err = call(d, "destroy", "hello", json_mode=True)
    assert rc == 1 and json.loads(out)["message"] == evil
    assert "\x1b" not in out and "\x07" not in out
    d.check()


def close_at_once(d, conn):
    d.request(conn)


def test_communication_errors(tmp_path):
    wrong_seq = wire(":hello", ctx(1, ctx(1, utf8("x"))), sequence=7)
    truncated = frame(unhex(V13_7B))[:-5]

    def send_truncated(d, conn):
        d.request(conn)
        conn.sendall(truncated)

    def send_garbage(d, conn):
        d.request(conn)
        conn.sendall(frame(b"\x30\x03\x02\x01\x05"))

    def send_command(d, conn):
        body = d.request(conn)
        conn.sendall(frame(body))

    d = serve(tmp_path, close_at_once, answer(wrong_seq), send_truncated,
              send_garbage, send_command)
    for _ in range(5):
        rc, out, err = call(d, "destroy", "hello")
        assert rc == 3 and out == "", err
        assert err.startswith("petrel: "), err
    d.check()
    rc, _, err = run("--socket", tmp_path / "nothing.sock", "info")
    assert rc == 3 and "cannot connect" in err
    rc, _, err = run("--tmpdir", tmp_path / "nodir", "info")
    assert rc == 3 and str(tmp_path / "nodir" / "util" / "vmmd.sock") in err


def test_verbose_prints_request_and_reply(tmp_path):
    d = serve(tmp_path, answer(unhex(V13_7B)))
    rc, out, err = call(d, "-v", "destroy", "hello")
    assert rc == 0 and out == "destroyed unikernel\n"
    lines = err.splitlines()
    assert len(lines) == 2 and "destroy" in lines[0], err
    d.check()


# ---- get ----


def image_reply(name, compressed, data):
    return success(name, ctx(6, seq(boolean(compressed), octets(data))))


def test_get_writes_the_image(tmp_path):
    # 13.9: success unikernel-image (compressed FALSE, "ELF") for :hello.
    v = unhex("""30 25 30 15 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 06 3A 68
      65 6C 6C 6F A1 0C A6 0A 30 08 01 01 00 04 03 45 4C 46""")
    assert image_reply(":hello", False, b"ELF") == v
    data = os.urandom(5000) * 20
    d = serve(tmp_path, answer(v),
              answer(image_reply(":hello", True, zlib.compress(data, 9))),
              answer(image_reply("a:web", False, b"web")),
              answer(failure(":hello", "get: no unikernel found")),
              answer(image_reply(":hello", True, b"not zlib")))
    rc, out, err = call(d, "get", "hello", tmp_path / "out.img")
    assert rc == 0, err
    assert (tmp_path / "out.img").read_bytes() == b"ELF"
    assert out == "wrote the image to %s\n" % (tmp_path / "out.img")
    rc, out, err = call(d, "get", "hello", tmp_path / "big.img", "--compress",
                        json_mode=True)
    assert rc == 0, err
    assert (tmp_path / "big.img").read_bytes() == data
    j = json.loads(out)
    assert (j["result"], j["kind"], j["size"]) == ("success", "unikernel-image",
                                                   len(data))
    # Default file: NAME.img in the current directory, ':' -> '_'.
    rc, _, err = call(d, "get", "a:web", cwd=tmp_path)
    assert rc == 0, err
    assert (tmp_path / "a_web.img").read_bytes() == b"web"
    # A failure or a corrupt image leaves no file behind.
    before = sorted(os.listdir(tmp_path))
    rc, _, err = call(d, "get", "hello", tmp_path / "x.img")
    assert rc == 1 and "get: no unikernel found" in err
    rc, _, err = call(d, "get", "hello", tmp_path / "y.img")
    assert rc == 3, err
    assert sorted(os.listdir(tmp_path)) == before
    d.check()
    assert d.requests[1].endswith(b"\xab\x03\x02\x01\x09")
    assert d.requests[0].endswith(b"\xab\x03\x02\x01\x00")


# ---- restart --replace-arguments ----


def test_restart_replacing_arguments(tmp_path):
    info = info_reply(":hello", [(":hello", INFO_13_13)])
    d = serve(tmp_path, answer(info), answer(string_reply(":hello",
                                                          "created unikernel")))
    rc, out, err = call(d, "restart", "hello", "--replace-arguments",
                        "--arg", "-l", "--arg", "x y")
    assert (rc, out) == (0, "created unikernel\n"), err
    d.check()
    assert d.requests[0] == unhex("""30 1F 30 15 02 01 05 04 08 00 00 00 00
      00 00 00 00 0C 06 3A 68 65 6C 6C 6F A0 06 A3 04 B3 02 05 00""")
    # RestartArguments [3]: everything as reported, the new argv; sector
    # size 512 is the default and stays implicit; the MAC is not the
    # derived one for :hello, so it is kept.
    mac_default = hashlib.md5(b"service:hello").digest()[:3]
    assert mac_default != b"\x01\x02\x03"
    args = seq(ctx(0, NULL), boolean(True), setof(integer(0)), integer(32),
               ctx(0, setof(seq(utf8("storage"), utf8("disk")))),
               ctx(1, setof(seq(utf8("service"), utf8("br0"),
                                octets(bytes.fromhex("008041010203"))))),
               ctx(2, seq(utf8("-l"), utf8("x y"))),
               ctx(3, integer(1)))
    want = wire(":hello", ctx(0, ctx(3, ctx(14, ctx(3, args)))))
    assert d.requests[1] == want


def test_restart_replacing_arguments_13_12(tmp_path):
    # 13.12's configuration, reported by info; no arguments given.
    info = seq(ctx(0, NULL), ctx(1, setof()), setof(integer(0)), integer(64),
               octets(b"\x00" * 32), ctx(3, tlv(0x18, b"20240102030405Z")),
               ctx(4, integer(1)))
    d = serve(tmp_path, answer(info_reply(":hello", [(":hello", info)])),
              answer(string_reply(":hello", "created unikernel")),
              answer(info_reply(":hello", [])))
    rc, _, err = call(d, "restart", "hello", "--replace-arguments")
    assert rc == 0, err
    rc, out, err = call(d, "restart", "hello", "--replace-arguments",
                        json_mode=True)
    assert rc == 1 and json.loads(out)["result"] == "failure"
    d.check()
    assert d.requests[1] == unhex(V13_12)
    assert len(d.requests) == 3


# ---- replace-policy ----


def test_replace_policy_needs_an_existing_policy(tmp_path):
    none = success("foo:", ctx(2, seq()))
    d = serve(tmp_path, answer(unhex(V13_7D)),
              answer(string_reply("foo:", "added policy")), answer(none))
    flags = ["--unikernels", "2", "--cpu", "0", "--cpu", "1", "--mem", "512",
             "--block", "1024", "--bridge", "service"]
    rc, out, err = call(d, "replace-policy", "foo:", *flags)
    assert (rc, out) == (0, "added policy\n"), err
    rc, out, err = call(d, "replace-policy", "foo:", *flags)
    assert rc == 1 and "foo:" in err
    d.check()
    assert d.requests[1] == unhex(V13_5)
    assert len(d.requests) == 3


# ---- block set: the upload stream (§8.4) ----


def upload_handler(reply):
    def h(d, conn):
        d.request(conn)
        chunks = []
        while True:
            body = read_frame(conn)
            assert body is not None, "stream closed before the terminator"
            if body == b"":
                break
            chunks.append(body)
        d.requests.append(chunks)
        conn.sendall(frame(reply))
    return h


def test_set_block_streams_chunks(tmp_path):
    data = os.urandom(10000)
    f = tmp_path / "data"
    f.write_bytes(data)
    ok = string_reply("foo:disk", "set block device")
    d = serve(tmp_path, upload_handler(ok), upload_handler(ok))
    assert call(d, "set-block", "foo:disk", f) == (0, "set block device\n", "")
    rc, out, _ = call(d, "set-block", "foo:disk", f, "--compress",
                      json_mode=True)
    assert rc == 0 and json.loads(out)["message"] == "set block device"
    d.check()
    cmd, chunks, cmd_z, chunks_z = d.requests
    assert cmd.endswith(b"\xa7\x03\x01\x01\x00")
    assert cmd_z.endswith(b"\xa7\x03\x01\x01\xff")
    assert all(0 < len(c) <= 4096 for c in chunks + chunks_z)
    assert b"".join(chunks) == data
    assert zlib.decompress(b"".join(chunks_z)) == data


def test_create_block_with_data(tmp_path):
    data = b"\xde\xad\xbe\xef"
    f = tmp_path / "data"
    f.write_bytes(data)
    d = serve(tmp_path, answer(string_reply("foo:disk", "added block device")),
              upload_handler(string_reply("foo:disk", "set block device")),
              answer(string_reply("foo:disk", "added block device")),
              upload_handler(string_reply("foo:disk", "set block device")))
    rc, out, err = call(d, "create-block", "foo:disk", "100", "--data", f)
    assert (rc, out) == (0, "added block device\nset block device\n"), err
    rc, out, err = call(d, "create-block", "foo:disk", "100", "--data", f,
                        json_mode=True)
    assert rc == 0 and json.loads(out)["message"] == "set block device"
    d.check()
    add, set_cmd, chunks = d.requests[:3]
    assert add == unhex(VECTORS_13_9[5][1])
    assert set_cmd.endswith(b"\xa7\x03\x01\x01\x00")
    assert chunks == [data]


def test_set_block_refused_at_once(tmp_path):
    # The daemon refuses before reading any data and closes: the client
    # reports the daemon's reason, not a broken pipe.
    f = tmp_path / "big"
    f.write_bytes(b"\x00" * (32 * 1024 * 1024))

    def refuse(d, conn):
        d.request(conn)
        conn.sendall(frame(failure("foo:disk", "set block: is in use")))
        conn.shutdown(socket.SHUT_RDWR)

    d = serve(tmp_path, refuse)
    rc, out, err = call(d, "set-block", "foo:disk", f)
    assert rc == 1, err
    assert err == "petrel: foo:disk: set block: is in use\n"
    d.check()


def test_set_block_progress_on_a_terminal(tmp_path):
    f = tmp_path / "big"
    f.write_bytes(os.urandom(1024) * (12 * 1024))
    d = serve(tmp_path, upload_handler(string_reply("foo:disk", "set block device")))
    master, slave = pty.openpty()
    p = subprocess.Popen([petrel_bin(), "--socket", d.path, "set-block",
                          "foo:disk", str(f)], stdout=subprocess.PIPE,
                         stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    seen = b""
    while True:
        r, _, _ = select.select([master], [], [], 20)
        assert r, "no progress output"
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the client closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert p.wait(timeout=20) == 0
    assert p.stdout.read() == b"set block device\n"
    p.stdout.close()
    d.check()
    assert b"foo:disk: 12 of 12 MiB (100%)" in seen, seen


# ---- block dump: the download stream (§8.5) ----


def dump_frames(name, compressed, chunks, tail=()):
    out = [success(name, ctx(10, boolean(compressed)))]
    out += [wire(name, ctx(3, ctx(4, ctx(0, octets(c)))))
            for c in chunks]
    out.append(wire(name, ctx(3, ctx(4, ctx(1, NULL)))))
    return out + list(tail)


def test_dump_frames_match_13_14c():
    v = dump_frames("foo:disk", True, [b"\x00\x01"])
    assert v == [unhex("""30 20 30 17 02 01 05 04 08 00 00 00 00 00 00 00 00 0C
      08 66 6F 6F 3A 64 69 73 6B A1 05 AA 03 01 01 FF"""), unhex("""30 23 30 17
      02 01 05 04 08 00 00 00 00 00 00 00 00 0C 08 66 6F 6F 3A 64 69 73 6B A3
      08 A4 06 A0 04 04 02 00 01"""), unhex("""30 21 30 17 02 01 05 04 08 00
      00 00 00 00 00 00 00 0C 08 66 6F 6F 3A 64 69 73 6B A3 06 A4 04 A1 02 05
      00""")]


def test_dump_block_writes_the_stream(tmp_path):
    data = os.urandom(3000) * 7
    parts = [data[i:i + 4096] for i in range(0, len(data), 4096)]
    z = zlib.compress(data)
    zparts = [z[i:i + 1000] for i in range(0, len(z), 1000)]
    d = serve(tmp_path,
              answer(*dump_frames("foo:disk", False, parts)),
              answer(*dump_frames("foo:disk", True, zparts)),
              answer(*dump_frames("foo:disk", False, [b""])),
              answer(*dump_frames("foo:disk", False, parts[:1],
                                  [failure("foo:disk", "dump block: read error")])),
              answer(*dump_frames("foo:disk", False, parts)[:-1]),
              answer(failure("foo:disk", "dump block: is in use")),
              answer(*dump_frames("foo:disk", True, [b"garbage"])))
    rc, out, err = call(d, "dump-block", "foo:disk", tmp_path / "a")
    assert rc == 0, err
    assert (tmp_path / "a").read_bytes() == data
    assert out == "wrote the block device to %s\n" % (tmp_path / "a")
    rc, out, err = call(d, "dump-block", "foo:disk", "--compress", json_mode=True,
                        cwd=tmp_path)
    assert rc == 0, err
    assert (tmp_path / "foo_disk.img").read_bytes() == data
    j = json.loads(out)
    assert (j["kind"], j["size"], j["file"]) == ("block-device-image",
                                                 len(data), "foo_disk.img")
    rc, _, err = call(d, "dump-block", "foo:disk", tmp_path / "empty")
    assert rc == 0, err
    assert (tmp_path / "empty").read_bytes() == b""
    before = sorted(os.listdir(tmp_path))
    # A failure after the end, a stream cut before the end, a refusal and
    # a corrupt zlib stream: no file, the right exit code.
    for want_rc, msg in ((1, "dump block: read error"),
                         (3, "before the end"),
                         (1, "dump block: is in use"),
                         (3, "zlib")):
        rc, _, err = call(d, "dump-block", "foo:disk", tmp_path / "bad")
        assert rc == want_rc and msg in err, (want_rc, msg, err)
    assert sorted(os.listdir(tmp_path)) == before
    d.check()
    assert d.requests[1].endswith(b"\xa6\x03\x02\x01\x09")


# ---- console ----


def console_line(name, stamp, text):
    return wire(name, ctx(3, ctx(3, seq(tlv(0x18, stamp), utf8(text)))))


def test_console_follows_lines(tmp_path):
    # 13.14a: console line "hi" for foo:hello.
    v = unhex("""30 35 30 18 02 01 05 04 08 00 00 00 00 00 00 00 00 0C 09 66 6F
      6F 3A 68 65 6C 6C 6F A3 19 A3 17 30 15 18 0F 32 30 32 34 30 31 30 32 30
      33 30 34 30 35 5A 0C 02 68 69""")
    assert console_line("foo:hello", b"20240102030405Z", "hi") == v
    frames = [string_reply("foo:hello", "subscribed"), v,
              console_line("foo:hello", b"20240102030405.250Z", "a\x1bb")]
    d = serve(tmp_path, answer(*frames), answer(*frames),
              answer(failure("foo:", "path used instead of name")))
    # The fake daemon then closes the stream: an error for `console`,
    # which only the user ends (lines may have been lost).
    rc, out, err = call(d, "console", "foo:hello", "--count", "2")
    assert rc == 3, err
    assert out == ("2024-01-02T03:04:05Z hi\n"
                   "2024-01-02T03:04:05.250Z a\\x1bb\n")
    assert err == ("foo:hello: subscribed\n"
                   "petrel: foo:hello: the daemon ended the console stream\n")
    rc, out, err = call(d, "console", "foo:hello", json_mode=True)
    assert rc == 3, err
    objs = [json.loads(l) for l in out.splitlines()]
    assert objs == [{"result": "success", "kind": "string",
                     "message": "subscribed"},
                    {"time": "2024-01-02T03:04:05Z", "line": "hi"},
                    {"time": "2024-01-02T03:04:05.250Z", "line": "a\x1bb"}]
    rc, out, err = call(d, "console", "foo:x")
    assert rc == 1 and "path used instead of name" in err
    d.check()
    assert d.requests[0].endswith(b"\xa1\x03\x02\x01\x02")
    assert d.requests[1].endswith(b"\xa1\x03\x02\x01\x14")
