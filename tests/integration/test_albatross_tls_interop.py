"""The real albatross-tls-endpoint in front of petreld.

Two interop checks in one setting: albatross's own TLS endpoint forwards
to petreld exactly as it forwards to albatrossd (albatross-wire.md §9.4:
the chain's policies first, then the command, on one connection), and
petrel's client in remote mode, with certificates from `petrel ca`, is
understood by albatross's endpoint, as albatross-client is.

Everything runs inside the test's network namespace, on its loopback.
albatross is not in Debian: ../shared/refkit builds it outside the repo;
ALBATROSS_BIN names the directory of its executables. Skipped, saying so,
where it is not set (as in CI).
"""

import os
import subprocess

import pytest

import pthelpers as H
from conftest import PETREL_BIN, need_binary

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


@pytest.fixture
def endpoint(petreld, tmp_path):
    """petreld plus albatross-tls-endpoint on its run dir, with a CA made
    by `petrel ca generate` and a sub-CA for the tenant alice."""
    exe = albatross_bin("albatross-tls-endpoint")
    d = str(tmp_path)
    ca_tool(d, "generate", "root")
    ca_tool(d, "request", "alice", "add-policy", "alice:", "--unikernels",
            "2", "--mem", "256", "--cpu", "0", "--bridge", "br0")
    ca_tool(d, "sign", "alice.req", "--ca-cert", "cacert.pem", "--ca-key",
            "root.key")
    log = open(os.path.join(d, "endpoint.log"), "wb")
    proc = subprocess.Popen(petreld.ns.exec_argv([
        exe, "cacert.pem", "server.pem", "server.key", "--port", str(PORT),
        "--ip", "127.0.0.1", "--tmpdir", petreld.tmpdir, "-v"]),
        cwd=d, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    log.close()
    r = Remote(petreld, d)

    def listening():
        if proc.poll() is not None:
            raise AssertionError("albatross-tls-endpoint exited: %s" %
                                 open(os.path.join(d, "endpoint.log")).read())
        p = subprocess.run(petreld.ns.exec_argv(
            ["ss", "-Hltn", "sport", "= :%d" % PORT]), capture_output=True,
            text=True)
        return str(PORT) in p.stdout
    try:
        H.wait_for(listening, 20, what="albatross-tls-endpoint to listen")
        yield r
    finally:
        proc.kill()
        proc.wait(10)


def test_petrel_remote_through_albatross_endpoint(endpoint, petreld, images,
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


def test_albatross_client_through_albatross_endpoint(endpoint, petreld,
                                                     images, tender):
    """albatross-client with petrel's certificates, through albatross's
    endpoint, to petreld."""
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
