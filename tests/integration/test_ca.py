"""`petrel ca` and remote commands, without petreld.

1. generate / request / sign / revoke write files that the `openssl`
   command line accepts: chains verify, the profiles of albatross-wire.md
   §9.7 are there, the albatross extension (OID 1.3.6.1.4.1.49836.42) is
   non-critical and carries the §13.3 vectors, CRLs list the serials, keys
   are mode 0600; sign refuses a sub-CA policy larger than the signer's.
2. `--remote`: a TLS 1.3 server written here with Python's ssl module
   (its certificate from `petrel ca generate`, client certificates
   required) checks the on-the-fly leaf and answers with frames that the
   client prints.
3. With the real albatross-client ($ALBATROSS_CLIENT or
   $ALBATROSS_BIN/albatross-client): each tool signs the other's files.

Self-contained: needs no root. The binary comes from PETREL_BUILD_DIR.
"""

import os
import re
import shutil
import socket
import ssl
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

BUILD_DIR = Path(os.environ.get("PETREL_BUILD_DIR") or "/work/main/build-test")
PETREL = BUILD_DIR / "src" / "client" / "petrel"

OID_DER = bytes.fromhex("06092B0601040183852C2A")
# §9.2: the whole Extension of a `console subscribe count 20` leaf.
EXT_CONSOLE_20 = bytes.fromhex("301B06092B0601040183852C2A040E"
                               "300C020105A007A205A103020114")
# §13.3 b: sub-CA `arc`, policy add {cpuids [0], unikernels 1, memory 512}.
EXT_ARC = bytes.fromhex("302606092B0601040183852C2A0419"
                        "3017020105A412A110300E30030201000201010202020030 00"
                        .replace(" ", ""))


def petrel_bin():
    if not PETREL.exists():
        pytest.fail("%s is not built (PETREL_BUILD_DIR=%s)" % (PETREL, BUILD_DIR))
    return str(PETREL)


def petrel(*args, cwd, timeout=120):
    p = subprocess.run([petrel_bin(), *map(str, args)], capture_output=True,
                       cwd=cwd, timeout=timeout, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def ok(*args, cwd):
    rc, out, err = petrel(*args, cwd=cwd)
    assert rc == 0, "petrel %s -> %d\n%s%s" % (" ".join(map(str, args)), rc, out, err)
    return out


def openssl(*args, cwd, check=True):
    p = subprocess.run(["openssl", *map(str, args)], capture_output=True,
                       cwd=cwd, timeout=60)
    if check:
        assert p.returncode == 0, "openssl %s: %s" % (" ".join(args), p.stderr.decode())
    return p.returncode, p.stdout.decode() + p.stderr.decode()


def cert_text(path, cwd):
    return openssl("x509", "-in", path, "-noout", "-text", cwd=cwd)[1]


def cert_der(path, cwd):
    p = subprocess.run(["openssl", "x509", "-in", str(path), "-outform", "DER"],
                       capture_output=True, cwd=cwd, timeout=60, check=True)
    return p.stdout


def ext_block(text, name):
    """The lines of one extension in `openssl x509 -text`: its header line
    (with 'critical' or not) and its value."""
    m = re.search(r"^ *(%s:.*)\n *(.*)$" % re.escape(name), text, re.M)
    assert m, "no %s in\n%s" % (name, text)
    return m.group(1), m.group(2)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def ca(tmp_path):
    """A root CA 'root' and server certificate in tmp_path."""
    ok("ca", "generate", "root", "--db", "db", cwd=tmp_path)
    return tmp_path


def sub_ca(d, name, unikernels=1, memory=512, cpus=(0,), signer=("cacert.pem", "root.key"),
           extra=()):
    args = ["ca", "request", name, "add-policy", name + ":", "--unikernels", unikernels,
            "--mem", memory]
    for c in cpus:
        args += ["--cpu", c]
    ok(*args, *extra, cwd=d)
    return petrel("ca", "sign", name + ".req", "--ca-cert", signer[0],
                  "--ca-key", signer[1], cwd=d)


# ---------------------------------------------------------------------------
# 1. the CA tool


def test_generate_root_and_server(ca):
    for f in ("root.key", "server.key"):
        assert mode(ca / f) == 0o600, f
    assert "server.pem: OK" in openssl("verify", "-CAfile", "cacert.pem", "server.pem", cwd=ca)[1]
    root = cert_text("cacert.pem", ca)
    assert "Issuer: CN = root" in root and "Subject: CN = root" in root
    assert ext_block(root, "X509v3 Basic Constraints") == (
        "X509v3 Basic Constraints: critical", "CA:TRUE")
    assert ext_block(root, "X509v3 Key Usage") == (
        "X509v3 Key Usage: critical",
        "Digital Signature, Non Repudiation, Certificate Sign, CRL Sign")
    assert "Subject Key Identifier" not in root  # §9.7: none on the root
    assert "49836" not in root
    srv = cert_text("server.pem", ca)
    assert "Subject: CN = server" in srv
    assert ext_block(srv, "X509v3 Basic Constraints")[0].endswith("critical")
    assert ext_block(srv, "X509v3 Key Usage") == (
        "X509v3 Key Usage: critical", "Digital Signature, Key Encipherment")
    assert ext_block(srv, "X509v3 Extended Key Usage") == (
        "X509v3 Extended Key Usage: critical", "TLS Web Server Authentication")
    assert "X509v3 Subject Key Identifier" in srv and "X509v3 Authority Key Identifier" in srv
    # albatross's database: serial and name
    serial = openssl("x509", "-in", "server.pem", "-noout", "-serial", cwd=ca)[1]
    assert (ca / "db").read_text().split() == [serial.strip().split("=")[1].lower(), "server"]
    # validity: 3650 and 365 days
    assert ok("--help", cwd=ca)  # (the binary answers)
    for f, days in (("cacert.pem", 3650), ("server.pem", 365)):
        rc, _ = openssl("x509", "-in", f, "-noout", "-checkend", str(days * 86400 - 3600),
                        cwd=ca, check=False)
        assert rc == 0, f
        rc, _ = openssl("x509", "-in", f, "-noout", "-checkend", str(days * 86400 + 3600),
                        cwd=ca, check=False)
        assert rc == 1, f


def test_generate_reuses_keys(ca):
    key = (ca / "root.key").read_bytes()
    out = ok("ca", "generate", "root", cwd=ca)
    assert "reused" in out
    assert (ca / "root.key").read_bytes() == key


def test_sub_ca_profile_and_extension_13_3b(ca):
    rc, out, err = sub_ca(ca, "arc")
    assert rc == 0, err
    assert mode(ca / "arc.key") == 0o600
    assert "arc.pem: OK" in openssl("verify", "-CAfile", "cacert.pem", "arc.pem", cwd=ca)[1]
    text = cert_text("arc.pem", ca)
    assert ext_block(text, "X509v3 Basic Constraints") == (
        "X509v3 Basic Constraints: critical", "CA:TRUE")
    assert ext_block(text, "X509v3 Key Usage")[0].endswith("critical")
    assert "Certificate Sign, CRL Sign" in ext_block(text, "X509v3 Key Usage")[1]
    # non-critical: openssl prints "critical" after the name otherwise
    assert ext_block(text, "1.3.6.1.4.1.49836.42")[0] == "1.3.6.1.4.1.49836.42: "
    assert EXT_ARC in cert_der("arc.pem", ca)
    assert "Extended Key Usage" not in text
    # the CSR carries the same extension in its extensionRequest
    req = openssl("req", "-in", "arc.req", "-noout", "-text", "-verify", cwd=ca)[1]
    assert "Requested Extensions" in req and "1.3.6.1.4.1.49836.42" in req
    # a sub-CA's validity: 365 days by default
    assert openssl("x509", "-in", "arc.pem", "-noout", "-checkend", str(364 * 86400),
                   cwd=ca, check=False)[0] == 0


def test_leaf_profile(ca):
    ok("ca", "request", "foo", "console", "foo", "--count", "20", cwd=ca)
    out = ok("ca", "sign", "foo.req", "--ca-cert", "cacert.pem", "--ca-key", "root.key",
             cwd=ca)
    assert "leaf" in out
    text = cert_text("foo.pem", ca)
    assert ext_block(text, "X509v3 Basic Constraints")[0].endswith("critical")
    assert ext_block(text, "X509v3 Extended Key Usage") == (
        "X509v3 Extended Key Usage: critical", "TLS Web Client Authentication")
    assert EXT_CONSOLE_20 in cert_der("foo.pem", ca)
    # 1 day
    assert openssl("x509", "-in", "foo.pem", "-noout", "-checkend", str(2 * 86400),
                   cwd=ca, check=False)[0] == 1


def test_sign_checks_policy_against_the_signer(ca):
    rc, _, err = sub_ca(ca, "alice", unikernels=2, memory=512, cpus=(0, 1))
    assert rc == 0, err
    # more unikernels than alice has
    rc, _, err = sub_ca(ca, "bob", unikernels=5, memory=256, signer=("alice.pem", "alice.key"))
    assert rc == 1
    assert "larger than the signer's own policy" in err and "5 unikernels" in err, err
    assert not (ca / "bob.pem").exists()
    # a CPU alice lacks
    rc, _, err = sub_ca(ca, "bob", unikernels=1, memory=256, cpus=(3,),
                        signer=("alice.pem", "alice.key"))
    assert rc == 1 and "CPU 3" in err, err
    # unusable: memory 16 (petrel's own `ca request` refuses to make it:
    # a CSR made by openssl with the extension as raw DER)
    unusable = "3016020105A411A10F300D30030201000201010201103000"
    openssl("genpkey", "-algorithm", "ed25519", "-out", "carol.key", cwd=ca)
    openssl("req", "-new", "-key", "carol.key", "-subj", "/CN=carol", "-out", "carol.req",
            "-addext", "1.3.6.1.4.1.49836.42=DER:" + unusable, cwd=ca)
    rc, _, err = petrel("ca", "sign", "carol.req", "--ca-cert", "cacert.pem",
                        "--ca-key", "root.key", cwd=ca)
    assert rc == 1 and "not usable" in err and "16" in err, err
    # within: bob gets a chain file [bob, alice] that verifies to the root
    rc, out, err = sub_ca(ca, "bob", unikernels=1, memory=256, signer=("alice.pem", "alice.key"))
    assert rc == 0, err
    assert (ca / "bob.pem").read_text().count("BEGIN CERTIFICATE") == 2
    r, o = openssl("verify", "-CAfile", "cacert.pem", "-untrusted", "alice.pem", "bob.pem",
                   cwd=ca)
    assert "bob.pem: OK" in o


def test_sign_requires_the_matching_key(ca):
    ok("ca", "request", "x", "destroy", "x", cwd=ca)
    rc, _, err = petrel("ca", "sign", "x.req", "--ca-cert", "cacert.pem",
                        "--ca-key", "server.key", cwd=ca)
    assert rc == 1 and "does not match" in err, err
    rc, _, err = petrel("ca", "sign", "x.req", cwd=ca)
    assert rc == 2 and "--ca-cert" in err


@pytest.mark.parametrize("kt,name", [("ed25519", "ED25519"), ("p256", "P-256"),
                                     ("p384", "P-384"), ("rsa2048", "2048 bit"),
                                     ("rsa4096", "4096 bit")])
def test_key_types(tmp_path, kt, name):
    ok("--key-type", kt, "ca", "generate", "k", cwd=tmp_path)
    assert mode(tmp_path / "k.key") == 0o600
    assert "OK" in openssl("verify", "-CAfile", "cacert.pem", "server.pem", cwd=tmp_path)[1]
    text = openssl("pkey", "-in", "k.key", "-noout", "-text", cwd=tmp_path)[1]
    assert name in text or name.replace("-", "") in text, text[:200]


def test_unknown_key_type(tmp_path):
    rc, _, err = petrel("--key-type", "dsa", "ca", "generate", "k", cwd=tmp_path)
    assert rc == 2 and "unknown key type 'dsa'" in err


def serial_of(path, cwd):
    return openssl("x509", "-in", path, "-noout", "-serial", cwd=cwd)[1].strip().split("=")[1]


def test_revoke(ca):
    assert sub_ca(ca, "alice", unikernels=2)[0] == 0
    ok("ca", "request", "web", "destroy", "web", cwd=ca)
    ok("ca", "sign", "web.req", "--ca-cert", "alice.pem", "--ca-key", "alice.key", cwd=ca)
    s = serial_of("web.pem", ca)
    args = ("--ca-cert", "alice.pem", "--ca-key", "alice.key")
    ok("ca", "revoke", "crl.pem", "web.pem", *args, cwd=ca)
    out = ok("ca", "revoke", "crl.pem", "web.pem", *args, cwd=ca)
    assert "already revoked" in out
    text = openssl("crl", "-in", "crl.pem", "-noout", "-text", cwd=ca)[1]
    assert text.count("Serial Number:") == 1 and "Serial Number: " + s in text
    assert "Issuer: CN = alice" in text and "Next Update" in text
    ok("ca", "revoke", "crl.pem", "--serial", "abc123", *args, cwd=ca)
    text = openssl("crl", "-in", "crl.pem", "-noout", "-text", cwd=ca)[1]
    assert text.count("Serial Number:") == 2 and "ABC123" in text
    # signed by alice: openssl checks it with the chain and refuses web
    (ca / "chain.pem").write_bytes((ca / "cacert.pem").read_bytes() +
                                   (ca / "alice.pem").read_bytes())
    rc, o = openssl("verify", "-crl_check", "-CAfile", "chain.pem", "-CRLfile", "crl.pem",
                    "web.pem", cwd=ca, check=False)
    assert rc != 0 and "revoked" in o, o
    # a certificate alice did not sign
    rc, _, err = petrel("ca", "revoke", "crl.pem", "server.pem", *args, cwd=ca)
    assert rc == 2 and "not issued by" in err
    # a CRL of another CA is not updated
    rc, _, err = petrel("ca", "revoke", "crl.pem", "--serial", "01", "--ca-cert",
                        "cacert.pem", "--ca-key", "root.key", cwd=ca)
    assert rc == 1 and "not issued by this CA" in err, err


def test_help(tmp_path):
    out = ok("--help", cwd=tmp_path)
    assert "ca SUBCOMMAND" in out and "--remote" in out and "--server-ca" in out
    out = ok("ca", "--help", cwd=tmp_path)
    for w in ("generate", "request", "sign", "revoke"):
        assert w in out
    assert "usage: petrel ca sign" in ok("ca", "sign", "--help", cwd=tmp_path)
    rc, _, err = petrel("ca", "frobnicate", cwd=tmp_path)
    assert rc == 2 and "unknown subcommand" in err


# ---------------------------------------------------------------------------
# 2. remote commands against a TLS 1.3 server made here


def tlv(tag, body):
    n = len(body)
    if n < 0x80:
        ln = bytes([n])
    else:
        b = n.to_bytes((n.bit_length() + 7) // 8, "big")
        ln = bytes([0x80 | len(b)]) + b
    return bytes([tag]) + ln + body


def header(name):
    return tlv(0x30, tlv(0x02, b"\x05") + tlv(0x04, bytes(8)) + tlv(0x0C, name.encode()))


def string_reply(name, msg):
    return tlv(0x30, header(name) + tlv(0xA1, tlv(0xA1, tlv(0x0C, msg.encode()))))


def failure_reply(name, msg):
    return tlv(0x30, header(name) + tlv(0xA2, tlv(0x0C, msg.encode())))


def frame(body):
    return len(body).to_bytes(4, "big") + body


def recv_exact(c, n):
    b = b""
    while len(b) < n:
        k = c.recv(n - len(b))
        if not k:
            raise AssertionError("closed after %d of %d bytes" % (len(b), n))
        b += k
    return b


def extension_value(der):
    """The albatross extension's value in a certificate's DER: the OCTET
    STRING right after the OID (no `critical` BOOLEAN in between)."""
    i = der.index(OID_DER) + len(OID_DER)
    assert der[i] == 0x04, "critical flag or no OCTET STRING after the OID"
    n = der[i + 1]
    if n < 0x80:
        return der[i + 2:i + 2 + n]
    k = n & 0x7F
    n = int.from_bytes(der[i + 2:i + 2 + k], "big")
    return der[i + 2 + k:i + 2 + k + n]


class TlsServer:
    """Accepts one TLS 1.3 connection, requires a client certificate
    verified against cafile, hands it to handler(conn, leaf_der)."""

    def __init__(self, d, handler, cafile="cacert.pem", cert="server.pem", key="server.key"):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        self.ctx.load_cert_chain(str(d / cert), str(d / key))
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.ctx.load_verify_locations(str(d / cafile))
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(60)
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.error = None
        self.leaf = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            raw, _ = self.sock.accept()
            raw.settimeout(60)
            with self.ctx.wrap_socket(raw, server_side=True) as c:
                self.version = c.version()
                self.leaf = c.getpeercert(binary_form=True)
                self.handler(c, self.leaf)
                c.unwrap()
        except Exception as e:  # reported by check()
            self.error = e
        finally:
            self.sock.close()

    def check(self):
        self.thread.join(60)
        assert not self.thread.is_alive()
        if self.error is not None:
            raise self.error
        assert self.version == "TLSv1.3"


def remote(srv, *args, cwd, ca_cert="cacert.pem", ca_key="root.key"):
    return petrel("--remote", "127.0.0.1:%d" % srv.port, "--ca-cert", ca_cert,
                  "--ca-key", ca_key, "--server-ca", "cacert.pem", *args, cwd=cwd)


def leaf_text(der, cwd):
    p = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-text",
                        "-subject", "-issuer", "-startdate", "-enddate"], input=der,
                       capture_output=True, cwd=cwd, timeout=60, check=True)
    return p.stdout.decode()


def reply_with(*frames_):
    def h(c, leaf):
        for f in frames_:
            c.sendall(frame(f))
    return h


def test_remote_console_leaf_carries_13_3a(ca):
    lines = tlv(0x30, header(":foo") + tlv(0xA3, tlv(0xA3, tlv(0x30, tlv(
        0x18, b"20240102030405Z") + tlv(0x0C, b"hello")))))
    srv = TlsServer(ca, reply_with(string_reply(":foo", "subscribed"), lines))
    rc, out, err = remote(srv, "console", "foo", "--count", "20", cwd=ca)
    srv.check()
    # the whole §9.2 extension, non-critical, in the leaf the server got
    assert EXT_CONSOLE_20 in srv.leaf
    assert extension_value(srv.leaf) == EXT_CONSOLE_20[15:]
    text = leaf_text(srv.leaf, ca)
    assert "subject=CN = foo" in text and "issuer=CN = root" in text
    assert "TLS Web Client Authentication" in text
    # valid from now - 10 s to now + 300 s
    fmt = "%b %d %H:%M:%S %Y GMT"
    start = re.search(r"notBefore=(.*)", text).group(1)
    end = re.search(r"notAfter=(.*)", text).group(1)
    span = time.mktime(time.strptime(end, fmt)) - time.mktime(time.strptime(start, fmt))
    assert span == 310
    # the reply printed as the local client prints it
    assert "2024-01-02T03:04:05Z hello" in out, (out, err)
    assert "subscribed" in err


def test_remote_reply_and_failure(ca):
    srv = TlsServer(ca, reply_with(string_reply(":web", "destroyed unikernel")))
    rc, out, err = remote(srv, "destroy", "web", cwd=ca)
    srv.check()
    assert (rc, out) == (0, "destroyed unikernel\n"), err
    srv = TlsServer(ca, reply_with(failure_reply(":web", "policy: not enough memory")))
    rc, out, err = remote(srv, "--json", "destroy", "web", cwd=ca)
    srv.check()
    assert rc == 1 and '"message": "policy: not enough memory"' in out, (out, err)


def test_remote_sub_ca_sends_its_chain(ca):
    assert sub_ca(ca, "alice", unikernels=2)[0] == 0
    # the server trusts only the root: the handshake needs alice's
    # certificate in the chain the client sends
    srv = TlsServer(ca, reply_with(string_reply("alice:web", "destroyed unikernel")))
    rc, out, err = remote(srv, "destroy", "web", cwd=ca, ca_cert="alice.pem",
                          ca_key="alice.key")
    srv.check()
    assert rc == 0, err
    assert "issuer=CN = alice" in leaf_text(srv.leaf, ca)


def test_remote_streams_a_large_image(ca):
    image = os.urandom(3 * 1024 * 1024 + 17)
    (ca / "big.hvt").write_bytes(image)
    got = {}

    def h(c, leaf):
        data = b""
        while True:
            n = int.from_bytes(recv_exact(c, 4), "big", signed=True)
            if n <= 0:
                break
            data += recv_exact(c, n)
        got["image"] = data
        c.sendall(frame(string_reply(":big", "created unikernel")))

    srv = TlsServer(ca, h)
    rc, out, err = remote(srv, "create", "big", "big.hvt", cwd=ca)
    srv.check()
    assert rc == 0 and out == "created unikernel\n", err
    assert got["image"] == image
    # the certificate stays small: the image was left out of it
    assert len(srv.leaf) < 64 * 1024
    assert bytes.fromhex("0400") in extension_value(srv.leaf)


def test_remote_small_image_is_embedded(ca):
    (ca / "small.hvt").write_bytes(b"\x7fELF" + b"x" * 1000)
    srv = TlsServer(ca, reply_with(string_reply(":small", "created unikernel")))
    rc, out, err = remote(srv, "create", "small", "small.hvt", cwd=ca)
    srv.check()
    assert rc == 0, err
    assert b"\x7fELF" + b"x" * 1000 in extension_value(srv.leaf)


def test_remote_refuses_a_server_of_another_ca(ca, tmp_path_factory):
    other = tmp_path_factory.mktemp("other")
    ok("ca", "generate", "evil", cwd=other)
    srv = TlsServer(ca, reply_with(), cert=str(other / "server.pem"),
                    key=str(other / "server.key"))
    rc, out, err = remote(srv, "destroy", "web", cwd=ca)
    srv.thread.join(60)
    assert rc == 3 and "does not verify against cacert.pem" in err, err


def test_remote_block_upload_is_streamed(ca):
    data = os.urandom(200 * 1024 + 5)
    (ca / "disk.img").write_bytes(data)
    got = {}

    def h(c, leaf):
        # frames until the terminator, as petrel-tls relays them (§9.4)
        buf = b""
        while True:
            n = int.from_bytes(recv_exact(c, 4), "big", signed=True)
            if n <= 0:
                break
            buf += recv_exact(c, n)
        got["data"] = buf
        c.sendall(frame(string_reply(":disk", "set block device")))

    srv = TlsServer(ca, h)
    rc, out, err = remote(srv, "set-block", "disk", "disk.img", cwd=ca)
    srv.check()
    assert rc == 0 and out == "set block device\n", err
    assert got["data"] == data


def test_remote_certificate_refused_by_the_server(ca, tmp_path_factory):
    other = tmp_path_factory.mktemp("other")
    ok("ca", "generate", "evil", cwd=other)
    # the server trusts another CA: it refuses our chain in the handshake
    srv = TlsServer(ca, reply_with(), cafile=str(other / "cacert.pem"))
    rc, out, err = remote(srv, "destroy", "web", cwd=ca)
    srv.thread.join(60)
    assert srv.error is not None
    assert rc == 3 and "TLS" in err and "alert" in err, err


def test_remote_usage_errors(ca):
    rc, _, err = petrel("--remote", "127.0.0.1:1", "--ca-cert", "cacert.pem", "--ca-key",
                        "root.key", "destroy", "a:web", cwd=ca)
    assert rc == 2 and "comes from the certificate chain" in err, err
    rc, _, err = petrel("--remote", "127.0.0.1:1", "--socket", "x", "info", cwd=ca)
    assert rc == 2 and "cannot be combined" in err
    rc, _, err = petrel("--destination", "127.0.0.1:99999", "info", cwd=ca)
    assert rc == 3 and "port out of range" in err, err
    # default --ca-cert ca.pem, named when missing
    rc, _, err = petrel("--remote", "127.0.0.1", "info", cwd=ca)
    assert rc == 3 and "ca.pem" in err, err


# ---------------------------------------------------------------------------
# 3. the real albatross-client


def albatross_client():
    p = os.environ.get("ALBATROSS_CLIENT")
    if not p and os.environ.get("ALBATROSS_BIN"):
        p = os.path.join(os.environ["ALBATROSS_BIN"], "albatross-client")
    if not p or not os.access(p, os.X_OK):
        pytest.skip("albatross-client not available (set ALBATROSS_CLIENT or ALBATROSS_BIN)")
    return p


def alba(*args, cwd):
    p = subprocess.run([albatross_client(), *map(str, args)], capture_output=True,
                       cwd=cwd, timeout=120)
    return p.returncode, p.stdout.decode() + p.stderr.decode()


def test_albatross_csr_signed_by_petrel(ca):
    alba_ok = alba("add-policy", "arc", "1", "--csr", "--mem", "512",
                   "--cpu", "0", cwd=ca)
    assert alba_ok[0] == 0, alba_ok[1]
    out = ok("ca", "sign", "arc.req", "--ca-cert", "cacert.pem", "--ca-key", "root.key",
             cwd=ca)
    assert "sub-CA" in out
    assert EXT_ARC in cert_der("arc.pem", ca)


def test_petrel_files_used_by_albatross(ca):
    albatross_client()
    ok("ca", "request", "arc", "add-policy", "arc:", "--unikernels", "1", "--mem", "512",
       "--cpu", "0", cwd=ca)
    rc, out = alba("sign", "cacert.pem", "db", "root.key", "arc.req", cwd=ca)
    assert rc == 0, out
    assert EXT_ARC in cert_der("arc.pem", ca)
    # and albatross-client signs a leaf with our sub-CA
    ok("ca", "request", "foo", "console", "foo", "--count", "20", cwd=ca)
    rc, out = alba("sign", "arc.pem", "db", "arc.key", "foo.req", cwd=ca)
    assert rc == 0, out
    assert EXT_CONSOLE_20 in cert_der("foo.pem", ca)
