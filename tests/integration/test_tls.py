"""petrel-tls, the remote endpoint (albatross-wire.md §9, docs/tls.md):
petreld (and petrel-console) in a private directory and network namespace,
petrel-tls in front of them, Python's ssl module as the client sending
certificate chains made by tlshelpers.PKI.

The delegation tests check that a refused chain leaves petreld's state as
it was (policies, unikernels, files)."""

import datetime
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import zlib

import pytest

import pthelpers as H
import tlshelpers as T
from conftest import BUILD_DIR, need_binary, sanitizer_report

TLS_BIN = BUILD_DIR / "src" / "tls" / "petrel-tls"

# A policy with room for everything below (cpus 0,1; bridge br0).
def pol(uks=4, mem=1024, cpus=(0, 1), bridges=("br0",), block=None):
    return H.policy_der(uks, mem, cpus, bridges, block=block)


@pytest.fixture
def tls_factory(request, petreld_factory, tmp_path):
    made = []

    def start(pd=None, start=True, extra_args=(), **kw):
        if pd is None:
            pd = petreld_factory()
        pki = T.PKI(tmp_path / ("pki%d" % len(made)))
        td = T.TlsDaemon(pd, pki, need_binary(TLS_BIN), tmp_path,
                         extra_args=extra_args, **kw)
        made.append(td)
        if start:
            td.start()
        return td

    yield start
    problems = []
    for td in made:
        if td.alive():
            rc = td.stop()
            if rc != 0:
                problems.append("petrel-tls exited with %s on SIGTERM" % rc)
        mark = sanitizer_report(td.log_text())
        if mark:
            problems.append("petrel-tls's log has a sanitizer report (%s):\n%s"
                            % (mark, td.log_text(6000)))
    if problems:
        pytest.fail("\n".join(problems))


@pytest.fixture
def tls(tls_factory):
    return tls_factory()


def running_config(image, **kw):
    """A configuration whose stand-in tender keeps running."""
    kw.setdefault("nets", [H.net_spec("service", "br0")])
    return H.uk_config_v5(image, memory=32, cpuids=(0,),
                          args=["run"], **kw)


def only_frame(frames):
    assert len(frames) == 1, frames
    return frames[0]


def events(pd, *kinds):
    """The events petreld holds (petrel log --json), of the given kinds."""
    r = pd.ok("log", ":", json=True)
    evs = [json.loads(line) for line in r.out.splitlines() if line.strip()]
    return [e for e in evs if not kinds or e.get("event") in kinds]


def wait_event(pd, kind, pred=lambda e: True, timeout=10):
    found = []

    def seen():
        found[:] = [e for e in events(pd, kind) if pred(e)]
        return bool(found)
    H.wait_for(seen, timeout, what="a %s event" % kind)
    return found


def state_of(pd):
    return pd.snapshot(), pd.policies_stable(), sorted(pd.info())


def assert_same_state(pd, before, what):
    snap, pols, uks = before
    pd.assert_unchanged(snap, what)
    assert pd.policies_stable() == pols, what
    assert sorted(pd.info()) == uks, what


def refused(td, leaf, want, extra=(), upload=None):
    """The request gets exactly one failure reply containing `want`."""
    body = only_frame(td.request(leaf, extra, upload=upload))
    text = T.failure_text(body)
    assert want in text, text
    return text


# ---- the basics -----------------------------------------------------------------

def test_policy_info_through_tls(tls):
    leaf = tls.pki.leaf(".", tls.pki.root, T.cmd_policy_info())
    body = only_frame(tls.request(leaf))
    name, seq, ptag, _ = T.decode(body)
    assert (name, seq, ptag) == (":", 0, 0xA1), body


def test_sub_ca_policy_is_installed_and_create_runs(tls, images):
    pd = tls.pd
    team = tls.pki.ca("team", tls.pki.root, policy=pol())
    image = images.data("hvt", nets=["service"])
    cfg = running_config(image)
    leaf = tls.pki.leaf("web", team, T.cmd_uk_create(cfg))
    body = only_frame(tls.request(leaf))
    assert T.success_string(body) == "created unikernel", T.decode(body)
    assert T.decode(body)[0] == "team:web"
    assert "team:" in pd.policies()
    assert "team:web" in pd.info()
    # destroy through TLS too
    leaf = tls.pki.leaf("web", team, T.cmd_uk_destroy())
    body = only_frame(tls.request(leaf))
    assert T.success_string(body) == "destroyed unikernel"
    assert "team:web" not in pd.info()


# ---- delegation must not leak ---------------------------------------------

def test_sub_ca_larger_than_its_parent(tls):
    pd, pki = tls.pd, tls.pki
    before = state_of(pd)
    team = pki.ca("team", pki.root, policy=pol(uks=2))
    alice = pki.ca("alice", team, policy=pol(uks=3))
    leaf = pki.leaf("web", alice, T.cmd_uk_info())
    text = refused(tls, leaf, "policy of team:alice: exceeds the policy of "
                   "team:: allows 3 unikernels, more than 2")
    assert_same_state(pd, before, "an oversized delegation")
    wait_event(pd, "refused", lambda e: "exceeds" in e.get("reason", ""))
    assert "team:" not in pd.policies()
    assert text


def test_tenant_stays_within_its_path(tls, images):
    pd, pki = tls.pd, tls.pki
    img = images.path("hvt", nets=["service"])
    pd.ok("create", ":other", img, "--mem", "32", "--net", "service:br0",
          "--arg", "run")
    team = pki.ca("team", pki.root, policy=pol())
    pd.ok("policy")  # team's policy goes in with the first request below
    body = only_frame(tls.request(pki.leaf("other", team, T.cmd_uk_destroy())))
    assert T.decode(body)[0] == "team:other"
    assert "not found" in T.failure_text(body)
    # a CN that tries to leave the path is not a label
    before = state_of(pd)
    for cn in ("x:other", ":other", "../other"):
        refused(tls, pki.leaf(cn, team, T.cmd_uk_destroy()), "invalid label")
    assert_same_state(pd, before, "a CN with a colon")
    assert ":other" in pd.info()
    pd.ok("destroy", ":other")


def test_chain_of_ten(tls):
    pd, pki = tls.pd, tls.pki
    before = state_of(pd)
    parent = pki.root
    for i in range(9):
        parent = pki.ca("ca%d" % i, parent)
    leaf = pki.leaf("web", parent, T.cmd_uk_info())
    assert len(leaf.chain()) == 10
    refused(tls, leaf, "certificate chain too long")
    assert_same_state(pd, before, "a chain of 10")
    # nine are fine
    leaf9 = pki.leaf("web", parent.parent, T.cmd_uk_info())
    assert T.decode(only_frame(tls.request(leaf9)))[2] == 0xA1


@pytest.mark.parametrize("where", ["leaf", "intermediate"])
@pytest.mark.parametrize("when", ["expired", "not yet valid"])
def test_validity_anywhere_in_the_chain(tls, where, when):
    pd, pki = tls.pd, tls.pki
    now = datetime.datetime.utcnow()
    if when == "expired":
        kw = {"not_before": now - datetime.timedelta(days=2),
              "not_after": now - datetime.timedelta(days=1)}
        want = "certificate has expired"
    else:
        kw = {"not_before": now + datetime.timedelta(days=1),
              "not_after": now + datetime.timedelta(days=2)}
        want = "certificate is not yet valid"
    before = state_of(pd)
    team = pki.ca("team", pki.root, policy=pol(),
                  **(kw if where == "intermediate" else {}))
    leaf = pki.leaf("web", team, T.cmd_uk_info(),
                    **(kw if where == "leaf" else {}))
    text = refused(tls, leaf, want)
    assert ("CN=web" if where == "leaf" else "CN=team") in text, text
    assert_same_state(pd, before, "an invalid certificate")


@pytest.mark.parametrize("which", ["leaf", "intermediate"])
def test_revoked(tls, which):
    pd, pki = tls.pd, tls.pki
    team = pki.ca("team", pki.root, policy=pol())
    leaf = pki.leaf("web", team, T.cmd_uk_info())
    if which == "leaf":
        crl = pki.crl(team, [leaf])
    else:
        crl = pki.crl(pki.root, [team])
    with open(os.path.join(tls.crl_dir, "a.crl"), "wb") as f:
        f.write(crl)
    before = state_of(pd)
    refused(tls, leaf, "revoked: CN=%s" % ("web" if which == "leaf" else "team"))
    assert_same_state(pd, before, "a revoked certificate")


@pytest.mark.parametrize("cmd,want", [
    (T.cmd_policy_add(pol()), "unexpected command"),
    (T.cmd_console_add(1), "unexpected command"),
])
def test_leaf_commands_reserved_for_cas_and_daemons(tls, cmd, want):
    pd, pki = tls.pd, tls.pki
    before = state_of(pd)
    team = pki.ca("team", pki.root, policy=pol())
    refused(tls, pki.leaf("web", team, cmd), want)
    assert_same_state(pd, before, "a leaf with a CA's command")


def test_intermediate_with_another_command(tls):
    pd, pki = tls.pd, tls.pki
    before = state_of(pd)
    team = pki.ca("team", pki.root, command=T.cmd_uk_destroy())
    refused(tls, pki.leaf("web", team, T.cmd_uk_info()), "unexpected wire")
    assert_same_state(pd, before, "a CA with a unikernel command")


def test_foreign_ca(tls, tmp_path):
    pd = tls.pd
    other = T.PKI(tmp_path / "foreign", root_cn="root")
    team = other.ca("team", other.root, policy=pol())
    leaf = other.leaf("web", team, T.cmd_uk_info())
    before = state_of(pd)
    files = other.client_files(leaf)
    c = tls.client(files=files)
    try:
        text = T.failure_text(only_frame(c.frames()))
    finally:
        c.close()
    assert "certificate verify failed" in text, text
    assert_same_state(pd, before, "a foreign chain")


def test_no_client_certificate(tls):
    pd = tls.pd
    before = state_of(pd)
    t0 = time.monotonic()
    with pytest.raises((ssl.SSLError, ConnectionError)):
        c = tls.client(files=None)
        try:
            assert c.frames() == []
            raise ConnectionError("closed without a reply")
        finally:
            c.close()
    assert time.monotonic() - t0 < 10, "a refusal must not hang"
    assert_same_state(pd, before, "no client certificate")


def test_tls12_client(tls):
    pd, pki = tls.pd, tls.pki
    before = state_of(pd)
    leaf = pki.leaf("web", pki.root, T.cmd_uk_info())
    with pytest.raises(ssl.SSLError):
        tls.client(leaf, tls12=True)
    assert_same_state(pd, before, "a TLS 1.2 client")
    wait_event(pd, "refused", lambda e: e.get("command") == "tls")
