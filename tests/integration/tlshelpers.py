"""Certificate chains for the petrel-tls tests (python3-cryptography), the
albatross extension's commands (albatross-wire.md §6.1, §9.2), a TLS client
that runs inside a test's network namespace, and petrel-tls itself.

The profiles follow albatross-client's (§9.7): CA certificates with
basicConstraints CA=TRUE and keyCertSign/cRLSign, leaves with clientAuth.
"""

import ctypes
import datetime
import os
import signal
import socket
import ssl
import subprocess
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import pthelpers as H

ALBATROSS_OID = x509.ObjectIdentifier("1.3.6.1.4.1.49836.42")
NULL = H.der_null()


# -- commands (WireCommand, §6.1) ---------------------------------------------

def cmd_policy_add(policy):
    return H.der_ctx(4, H.der_ctx(1, policy))


def cmd_policy_info():
    return H.der_ctx(4, H.der_ctx(0, NULL))


def cmd_uk_info():
    return H.der_ctx(3, H.der_ctx(19, NULL))


def cmd_uk_destroy():
    return H.der_ctx(3, H.der_ctx(3, NULL))


def cmd_uk_create(config, force=False):
    return H.der_ctx(3, H.der_ctx(21 if force else 20, config))


def cmd_console_subscribe(count=20):
    return H.der_ctx(0, H.der_ctx(2, H.der_ctx(1, H.der_int(count))))


def cmd_console_add(n=1):
    return H.der_ctx(0, H.der_ctx(0, H.der_int(n)))


def cmd_block_add(mb):
    return H.der_ctx(5, H.der_ctx(1, H.der_int(mb)))


def cmd_block_info():
    return H.der_ctx(5, H.der_ctx(0, NULL))


def cmd_block_dump(level=0):
    return H.der_ctx(5, H.der_ctx(6, H.der_int(level)))


def cmd_block_set(compressed=False):
    return H.der_ctx(5, H.der_ctx(7, H.der_bool(compressed)))


def cert_extension(command, version=5):
    """extnValue of the albatross extension: SEQUENCE {version, command}."""
    return H.der_seq(H.der_int(version), command)


# -- certificates ---------------------------------------------------------------

def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class Cert:
    def __init__(self, cert, key, parent):
        self.cert = cert
        self.key = key
        self.parent = parent

    def pem(self):
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self):
        return self.key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())

    def chain(self):
        """This certificate and its issuers up to (not including) the
        root: what a client sends."""
        out, c = [], self
        while c is not None and c.parent is not None:
            out.append(c)
            c = c.parent
        return out


class PKI:
    """A root CA, a server certificate, and whatever the test issues."""

    def __init__(self, directory, root_cn="root"):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.n = 0
        self.root = self.ca(root_cn, None)
        self.server = self._issue("petrel-tls", self.root, ca=False,
                                  eku=ExtendedKeyUsageOID.SERVER_AUTH,
                                  san=True)
        self.ca_file = self.write("ca.pem", self.root.pem())
        self.server_file = self.write("server.pem", self.server.pem())
        self.server_key = self.write("server.key", self.server.key_pem())

    def write(self, name, data):
        p = self.dir / name
        p.write_bytes(data)
        return str(p)

    def _issue(self, cn, parent, ca, ext=None, eku=None, san=False,
               not_before=None, not_after=None, cn_absent=False):
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([] if cn_absent else
                         [x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        issuer_name = parent.cert.subject if parent else name
        signer = parent.key if parent else key
        now = _now()
        b = (x509.CertificateBuilder()
             .subject_name(name).issuer_name(issuer_name)
             .public_key(key.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(not_before or now - datetime.timedelta(minutes=5))
             .not_valid_after(not_after or now + datetime.timedelta(days=1))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None),
                            critical=True))
        if ca:
            b = b.add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=True,
                key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False), critical=True)
        else:
            b = b.add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False,
                key_encipherment=True, data_encipherment=False,
                key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False), critical=True)
        if eku is not None:
            b = b.add_extension(x509.ExtendedKeyUsage([eku]), critical=True)
        if san:
            b = b.add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost")]), critical=False)
        if ext is not None:
            b = b.add_extension(x509.UnrecognizedExtension(ALBATROSS_OID, ext),
                                critical=False)
        cert = b.sign(signer, hashes.SHA256())
        return Cert(cert, key, parent)

    def ca(self, cn, parent, policy=None, command=None, **kw):
        """A CA; with policy (DER Policy) it carries `policy add`."""
        ext = None
        if policy is not None:
            ext = cert_extension(cmd_policy_add(policy))
        elif command is not None:
            ext = cert_extension(command)
        return self._issue(cn, parent, ca=True, ext=ext, **kw)

    def leaf(self, cn, parent, command, raw_ext=None, **kw):
        ext = raw_ext if raw_ext is not None else (
            cert_extension(command) if command is not None else None)
        return self._issue(cn, parent, ca=False, ext=ext,
                           eku=ExtendedKeyUsageOID.CLIENT_AUTH, **kw)

    def client_files(self, leaf, extra=()):
        """(chain file, key file) for ssl's load_cert_chain."""
        self.n += 1
        chain = b"".join(c.pem() for c in leaf.chain()) + \
            b"".join(c.pem() for c in extra)
        return (self.write("client%d.pem" % self.n, chain),
                self.write("client%d.key" % self.n, leaf.key_pem()))

    def crl(self, issuer, revoked=(), signer=None, pem=True):
        """A CRL of `issuer` revoking `revoked`; signer: another key, for
        one that does not verify."""
        now = _now()
        b = (x509.CertificateRevocationListBuilder()
             .issuer_name(issuer.cert.subject)
             .last_update(now - datetime.timedelta(minutes=5))
             .next_update(now + datetime.timedelta(days=1)))
        for c in revoked:
            b = b.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(c.cert.serial_number)
                .revocation_date(now - datetime.timedelta(minutes=1)).build())
        crl = b.sign(signer or issuer.key, hashes.SHA256())
        return crl.public_bytes(serialization.Encoding.PEM if pem
                                else serialization.Encoding.DER)


# -- a client inside a network namespace ------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


def ns_socket(ns_name, family=socket.AF_INET):
    """A TCP socket of the namespace: made by a thread that joins it (the
    socket stays in the namespace it was made in)."""
    box = {}

    def make():
        try:
            fd = os.open("/run/netns/" + ns_name, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns")
            finally:
                os.close(fd)
            box["s"] = socket.socket(family, socket.SOCK_STREAM)
        except BaseException as e:  # handed to the caller
            box["e"] = e
    t = threading.Thread(target=make)
    t.start()
    t.join()
    if "e" in box:
        raise box["e"]
    return box["s"]


def client_context(pki, files=None, tls12=False):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(pki.ca_file)
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    else:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    if files is not None:
        ctx.load_cert_chain(files[0], files[1])
    return ctx


class Client:
    """One TLS connection to petrel-tls."""

    def __init__(self, ns_name, port, ctx, addr="127.0.0.1", timeout=30):
        family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        raw = ns_socket(ns_name, family)
        raw.settimeout(timeout)
        raw.connect((addr, port))
        self.s = ctx.wrap_socket(raw, server_hostname="localhost")

    def send_frame(self, body):
        self.s.sendall(len(body).to_bytes(4, "big") + body)

    def send_end(self):
        self.s.sendall(b"\0\0\0\0")

    def _exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    def frame(self):
        """The next frame body, or None at the end of the connection."""
        p = self._exact(4)
        if p is None:
            return None
        n = int.from_bytes(p, "big", signed=True)
        assert 0 < n < 1 << 27, "frame length %d" % n
        body = self._exact(n)
        assert body is not None, "connection closed inside a frame"
        return body

    def frames(self):
        out = []
        while True:
            f = self.frame()
            if f is None:
                return out
            out.append(f)

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def decode(body):
    """(name, payload tag, payload content bytes) of a Wire."""
    tag, start, end = H.parse_tlv(body)
    assert tag == 0x30
    htag, hstart, hend = H.parse_tlv(body, start)
    assert htag == 0x30
    # version, sequence, name
    _, vs, ve = H.parse_tlv(body, hstart)
    _, ss, se = H.parse_tlv(body, ve)
    ntag, ns_, ne = H.parse_tlv(body, se)
    name = body[ns_:ne].decode()
    seq = int.from_bytes(body[ss:se], "big", signed=True)
    ptag, ps, pe = H.parse_tlv(body, hend)
    return name, seq, ptag, body[ps:pe]


def failure_text(body):
    name, _, ptag, content = decode(body)
    assert ptag == 0xA2, "not a failure: %r" % body
    t, s, e = H.parse_tlv(content)
    return content[s:e].decode()


def success_string(body):
    name, _, ptag, content = decode(body)
    assert ptag == 0xA1, "not a success: %r" % body
    t, s, e = H.parse_tlv(content)
    if t != 0xA1:
        return None
    t2, s2, e2 = H.parse_tlv(content, s)
    return content[s2:e2].decode()


# -- petrel-tls -------------------------------------------------------------------

class TlsDaemon:
    def __init__(self, pd, pki, bin_path, logdir, extra_args=(), port=1025):
        self.pd = pd
        self.pki = pki
        self.bin = bin_path
        self.port = port
        self.crl_dir = os.path.join(pd.base, "crls")
        os.makedirs(self.crl_dir, exist_ok=True)
        self.extra_args = list(extra_args)
        self.logfile = Path(logdir) / ("petrel-tls-%s.log" % os.path.basename(pd.base))
        self.proc = None

    def argv(self, extra=()):
        return self.pd.ns.exec_argv([
            str(self.bin), "--ca", self.pki.ca_file, "--cert",
            self.pki.server_file, "--key", self.pki.server_key,
            "--tmpdir", self.pd.tmpdir, "--dbdir", self.pd.dbdir,
            "--crl-dir", self.crl_dir, "--port", str(self.port),
            "-vv"] + self.extra_args + list(extra))

    def start(self, timeout=20, extra=()):
        with open(self.logfile, "ab") as log:
            self.proc = subprocess.Popen(self.argv(extra), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log)

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("petrel-tls exited with %s:\n%s" % (
                    self.proc.returncode, self.log_text(4000)))
            return "listening on port" in self.log_text()
        H.wait_for(ready, timeout, what="petrel-tls to listen")
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self, tail=None):
        try:
            text = self.logfile.read_text(errors="replace")
        except OSError:
            return ""
        return text[-tail:] if tail else text

    def client(self, leaf=None, extra=(), tls12=False, files=None, **kw):
        if files is None and leaf is not None:
            files = self.pki.client_files(leaf, extra)
        ctx = client_context(self.pki, files, tls12=tls12)
        return Client(self.pd.ns.name, self.port, ctx, **kw)

    def request(self, leaf, extra=(), upload=None):
        """Connects with leaf's chain, sends an upload if given (a list of
        chunks, then the terminator), returns every frame received."""
        c = self.client(leaf, extra)
        try:
            if upload is not None:
                for chunk in upload:
                    c.send_frame(chunk)
                c.send_end()
            return c.frames()
        finally:
            c.close()

    def stop(self, timeout=30):
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError("petrel-tls did not exit on SIGTERM")
