"""TLS endpoints and remote clients, petrel's and albatross's, crossed.

Each test runs once with the real albatross-tls-endpoint and once with
petrel-tls in front of petreld, and drives it with petrel's client in
remote mode and with the real albatross-client, all with certificates
from `petrel ca`; one test uses certificates made by albatross-client
instead. So: albatross's endpoint forwards to petreld as it forwards to
albatrossd (albatross-wire.md §9.4: the chain's policies first, then the
command, on one connection); petrel-tls understands albatross-client; and
the certificates of both CA tools are interchangeable.

Everything runs inside the test's network namespace, on its loopback.
albatross is not in Debian: ../shared/refkit builds it outside the repo;
ALBATROSS_BIN names the directory of its executables. Skipped, saying so,
where it is not set (as in CI).
"""

import os
import subprocess

import pytest

import pthelpers as H
from conftest import BUILD_DIR, PETREL_BIN, need_binary

TLS_BIN = BUILD_DIR / "src" / "tls" / "petrel-tls"

PORT = 11025


def albatross_bin(name):
    d = os.environ.get("ALBATROSS_BIN")
    if not d:
        pytest.skip("ALBATROSS_BIN does not name albatross's executables "
                    "(../shared/refkit builds them)")
    path = os.path.join(d, name)
    if not os.access(path, os.X_OK):
        pytest.fail("%s is not executable" % path)
    return path


class Remote:
    def __init__(self, pd, ca_dir):
        self.pd = pd
        self.dir = ca_dir

    def run(self, argv, timeout=60):
        p = subprocess.run(self.pd.ns.exec_argv(argv), cwd=self.dir,
                           capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout + p.stderr

    def petrel(self, ca, key, *args):
        return self.run([need_binary(PETREL_BIN), "--remote",
                         "127.0.0.1:%d" % PORT, "--ca-cert", ca,
                         "--ca-key", key, "--server-ca", "cacert.pem",
                         *map(str, args)])

    def albatross(self, ca, key, *args):
        return self.run([albatross_bin("albatross-client"), *map(str, args),
                         "--destination", "127.0.0.1:%d" % PORT, "--ca", ca,
                         "--ca-key", key, "--server-ca", "cacert.pem"])


def ca_tool(cwd, *args):
    p = subprocess.run([need_binary(PETREL_BIN), "ca", *map(str, args)],
                       cwd=cwd, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, "petrel ca %s: %s%s" % (" ".join(args), p.stdout,
                                                       p.stderr)
    return p.stdout


def start_endpoint(kind, pd, d):
    """albatross-tls-endpoint or petrel-tls on 127.0.0.1:PORT in the
    test's namespace, in front of pd, with d's cacert.pem and server
    certificate; returns the process."""
    if kind == "albatross":
        argv = [albatross_bin("albatross-tls-endpoint"), "cacert.pem",
                "server.pem", "server.key", "--port", str(PORT),
                "--ip", "127.0.0.1", "--tmpdir", pd.tmpdir, "-v"]
    else:
        albatross_bin("albatross-client")   # skip early where it is absent
        argv = [need_binary(TLS_BIN), "--ca", "cacert.pem", "--cert",
                "server.pem", "--key", "server.key", "--port", str(PORT),
                "--listen", "127.0.0.1", "--tmpdir", pd.tmpdir,
                "--dbdir", pd.dbdir, "--crl-dir", os.path.join(d, "crls"),
                "-v"]
        os.makedirs(os.path.join(d, "crls"), exist_ok=True)
    log = open(os.path.join(d, "endpoint.log"), "wb")
    proc = subprocess.Popen(pd.ns.exec_argv(argv), cwd=d, stdout=log,
                            stderr=log, stdin=subprocess.DEVNULL)
    log.close()

    def listening():
        if proc.poll() is not None:
            raise AssertionError("%s endpoint exited: %s" % (
                kind, open(os.path.join(d, "endpoint.log")).read()))
        p = subprocess.run(pd.ns.exec_argv(
            ["ss", "-Hltn", "sport", "= :%d" % PORT]), capture_output=True,
            text=True)
        return str(PORT) in p.stdout
    try:
        H.wait_for(listening, 20, what="the %s endpoint to listen" % kind)
    except BaseException:
        proc.kill()
        proc.wait(10)
        raise
    return proc


@pytest.fixture(params=["albatross", "petrel"])
def endpoint(request, petreld, tmp_path):
    """petreld plus a TLS endpoint on its run dir, with a CA made by
    `petrel ca generate` and a sub-CA for the tenant alice."""
    albatross_bin("albatross-client")
    d = str(tmp_path)
    ca_tool(d, "generate", "root")
    ca_tool(d, "request", "alice", "add-policy", "alice:", "--unikernels",
            "2", "--mem", "256", "--cpu", "0", "--bridge", "br0")
    ca_tool(d, "sign", "alice.req", "--ca-cert", "cacert.pem", "--ca-key",
            "root.key")
    proc = start_endpoint(request.param, petreld, d)
    try:
        yield Remote(petreld, d)
    finally:
        proc.kill()
        proc.wait(10)


def test_petrel_remote(endpoint, petreld, images,
                                                 tender):
    tender.need_scripted()
    pd = petreld
    img = images.path("hvt", nets=["service"])
    rc, out = endpoint.petrel("alice.pem", "alice.key", "create", "web", img,
                              "--mem", "64", "--net", "service:br0",
                              "--arg", "run")
    assert rc == 0, out
    # The endpoint sent alice's policy (from the chain) before the create.
    pols = pd.policies()
    assert pols["alice:"]["unikernels"] == 2, pols
    pd.wait_tender("alice:web")
    rc, out = endpoint.petrel("alice.pem", "alice.key", "info")
    assert rc == 0 and "web" in out, out
    # alice cannot go past her share: 512 MB is more than her 256.
    rc, out = endpoint.petrel("alice.pem", "alice.key", "create", "big", img,
                              "--mem", "512", "--net", "service:br0",
                              "--arg", "run")
    assert rc != 0, out
    assert "alice:big" not in pd.info()
    rc, out = endpoint.petrel("alice.pem", "alice.key", "destroy", "web")
    assert rc == 0, out
    pd.wait_no_tender("alice:web")


def test_albatross_client(endpoint, petreld,
                                                     images, tender):
    """albatross-client with petrel's certificates, through the endpoint,
    to petreld."""
    tender.need_scripted()
    pd = petreld
    img = images.path("hvt", nets=["service"])
    rc, out = endpoint.albatross("alice.pem", "alice.key", "create", "db",
                                 img, "--mem", "32", "--net", "service:br0",
                                 "--arg", "run")
    assert rc == 0, out
    pd.wait_tender("alice:db")
    rc, out = endpoint.albatross("alice.pem", "alice.key", "info")
    assert rc == 0 and ":db" in out, out
    rc, out = endpoint.albatross("alice.pem", "alice.key", "destroy", "db")
    assert rc == 0, out
    pd.wait_no_tender("alice:db")


def test_albatross_certificates(petreld, tmp_path, images, tender):
    """A CA and a sub-CA made by albatross-client (generate, --csr, sign)
    in front of petrel-tls, used by petrel --remote."""
    tender.need_scripted()
    pd = petreld
    d = str(tmp_path)
    alba = albatross_bin("albatross-client")

    def run(*args):
        p = subprocess.run([alba, *map(str, args)], cwd=d, capture_output=True,
                           text=True, timeout=120)
        assert p.returncode == 0, "albatross-client %s: %s%s" % (
            " ".join(map(str, args)), p.stdout, p.stderr)
    run("generate", "root", "db", "--server", "server")
    run("add-policy", "bob", "2", "--mem", "128", "--cpu", "0", "--bridge",
        "br0", "--csr")
    run("sign", "cacert.pem", "db", "root.key", "bob.req")
    proc = start_endpoint("petrel", pd, d)
    try:
        r = Remote(pd, d)
        img = images.path("hvt", nets=["service"])
        rc, out = r.petrel("bob.pem", "bob.key", "create", "web", img,
                           "--mem", "64", "--net", "service:br0", "--arg",
                           "run")
        assert rc == 0, out
        assert pd.policies()["bob:"]["memory"] == 128
        pd.wait_tender("bob:web")
        rc, out = r.albatross("bob.pem", "bob.key", "destroy", "web")
        assert rc == 0, out
        pd.wait_no_tender("bob:web")
    finally:
        proc.kill()
        proc.wait(10)
