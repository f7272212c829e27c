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


def test_sub_ca_policy_is_installed_and_create_runs(tls, images, tender):
    tender.need_scripted()  # runs the stand-in's test images
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


def test_tenant_stays_within_its_path(tls, images, tender):
    tender.need_scripted()  # runs the stand-in's test images
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


# ---- revocation -----------------------------------------------------------------

def write_crl(td, name, data):
    """Atomically, as an operator's tool would (temp file, rename)."""
    tmp = os.path.join(td.crl_dir, ".%s.tmp" % name)
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, os.path.join(td.crl_dir, name))


def test_crl_added_and_replaced_while_running(tls):
    pki = tls.pki
    team = pki.ca("team", pki.root, policy=pol())
    web = pki.leaf("web", team, T.cmd_uk_info())
    db = pki.leaf("db", team, T.cmd_uk_info())
    assert T.decode(only_frame(tls.request(web)))[2] == 0xA1
    write_crl(tls, "team.crl", pki.crl(team, [web]))
    refused(tls, web, "revoked: CN=web")
    assert T.decode(only_frame(tls.request(db)))[2] == 0xA1
    # replaced (in place, DER this time): web is back, db is out
    with open(os.path.join(tls.crl_dir, "team.crl"), "wb") as f:
        f.write(pki.crl(team, [db], pem=False))
    H.wait_for(lambda: T.decode(only_frame(tls.request(web)))[2] == 0xA1, 10,
               what="the replaced CRL to take effect")
    refused(tls, db, "revoked: CN=db")
    # a revoked sub-CA refuses everything below it
    alice = pki.ca("alice", team, policy=pol(uks=1))
    deep = pki.leaf("web", alice, T.cmd_uk_info())
    assert T.decode(only_frame(tls.request(deep)))[2] == 0xA1
    write_crl(tls, "root.crl", pki.crl(pki.root, [team]))
    refused(tls, deep, "revoked: CN=team")
    assert tls.alive()


def test_crl_that_does_not_verify_is_ignored(tls):
    pki = tls.pki
    team = pki.ca("team", pki.root, policy=pol())
    web = pki.leaf("web", team, T.cmd_uk_info())
    forger = T.ec.generate_private_key(T.ec.SECP256R1())
    write_crl(tls, "forged.crl", pki.crl(team, [web], signer=forger))
    write_crl(tls, "garbage.crl", b"not a CRL at all\n")
    assert T.decode(only_frame(tls.request(web)))[2] == 0xA1
    H.wait_for(lambda: "does not verify against its key: ignored"
               in tls.log_text(), 10, what="the warning about the forged CRL")
    assert "neither PEM nor DER" in tls.log_text()


# ---- streams, uploads, events ---------------------------------------------------

def test_login_logout_recorded(tls):
    pd, pki = tls.pd, tls.pki
    team = pki.ca("team", pki.root, policy=pol())
    assert T.decode(only_frame(tls.request(
        pki.leaf("web", team, T.cmd_uk_info()))))[2] == 0xA1
    login = wait_event(pd, "login", lambda e: e["name"] == "team:web")
    wait_event(pd, "logout", lambda e: e["name"] == "team:web")
    assert login[0].get("port", 0) > 0, login


def test_console_subscribe_stream(tls_factory, petrel_console, images, tender):
    tender.need_scripted()  # runs the stand-in's test images
    cd = petrel_console
    td = tls_factory(pd=cd.pd)
    pd, pki = td.pd, td.pki
    team = pki.ca("team", pki.root, policy=pol())
    img = images.path("hvt", nets=["service"])
    pd.ok("add-policy", "team:", "--unikernels", "4", "--mem", "1024",
          "--cpu", "0", "--cpu", "1", "--bridge", "br0")
    pd.ok("create", "team:web", img, "--mem", "32", "--net", "service:br0",
          "--arg", "print:hello%20from%20web", "--arg", "run")
    c = td.client(pki.leaf("web", team, T.cmd_console_subscribe(10)))
    try:
        first = c.frame()
        assert T.success_string(first) in ("subscribed", "waiting for VM")
        lines = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            f = c.frame()
            assert f is not None, "stream ended"
            name, _, ptag, content = T.decode(f)
            if ptag == 0xA3 and b"hello from web" in content:
                assert name == "team:web"
                break
        else:
            pytest.fail("no console line came through")
        # the console daemon goes away: the stream ends with a failure
        # under the endpoint's header (§9.5)
        cd.stop()
        while True:
            f = c.frame()
            assert f is not None, "stream ended without a failure"
            if T.decode(f)[2] == 0xA2:
                break
        assert T.failure_text(f) == "exception while reading from fd"
        assert T.decode(f)[:2] == ("team:web", 0)
    finally:
        c.close()
    pd.ok("destroy", "team:web")


def test_block_upload_and_dump(tls):
    pd, pki = tls.pd, tls.pki
    team = pki.ca("team", pki.root, policy=pol(block=64))
    body = only_frame(tls.request(pki.leaf("disk", team, T.cmd_block_add(4))))
    assert T.success_string(body) == "added block device", T.decode(body)
    data = os.urandom(3 << 20)
    chunks = [data[i:i + 65536] for i in range(0, len(data), 65536)]
    body = only_frame(tls.request(pki.leaf("disk", team, T.cmd_block_set()),
                                  upload=chunks))
    assert T.success_string(body) == "set block device", T.decode(body)
    frames = tls.request(pki.leaf("disk", team, T.cmd_block_dump(0)))
    got = b""
    for f in frames[1:-1]:
        name, _, ptag, content = T.decode(f)
        assert ptag == 0xA3, f[:40]
        # data [4] chunk [0] OCTET STRING
        t, s, e = H.parse_tlv(content)
        t2, s2, e2 = H.parse_tlv(content, s)
        t3, s3, e3 = H.parse_tlv(content, s2)
        got += content[s3:e3]
    assert got[:len(data)] == data
    assert len(got) == 4 << 20
    last = T.decode(frames[-1])
    assert last[0] == "team:disk" and last[1] == 0 and last[2] == 0xA3
    # an upload refused at once still gets its reply
    text = refused(tls, pki.leaf("nodisk", team, T.cmd_block_set()),
                   "not found", upload=chunks[:8])
    assert text


def stream_create(td, leaf, data, chunk=256 * 1024):
    chunks = [data[i:i + chunk] for i in range(0, len(data), chunk)]
    return only_frame(td.request(leaf, upload=chunks))


@pytest.mark.parametrize("compressed", [False, True])
def test_streamed_image_create(tls, images, compressed, tender):
    tender.need_scripted()  # runs the stand-in's test images
    pd, pki = tls.pd, tls.pki
    team = pki.ca("team", pki.root, policy=pol())
    image = images.data("hvt", nets=["service"])
    # 8 MB: the ELF padded (the stand-in tender reads the notes only)
    image = image + b"\0" * ((8 << 20) - len(image))
    data = zlib.compress(image, 6) if compressed else image
    cfg = running_config(b"", compressed=compressed)
    body = stream_create(tls, pki.leaf("web", team, T.cmd_uk_create(cfg)),
                         data)
    assert T.success_string(body) == "created unikernel", T.decode(body)
    stored = open(os.path.join(pd.dbdir, "images", "team:web.img"), "rb").read()
    assert stored == data
    info = pd.info()["team:web"]
    import hashlib
    assert info["digest"] == hashlib.sha256(image).hexdigest(), info
    pd.ok("destroy", "team:web")


def test_streamed_image_refusals(tls, images):
    pd, pki = tls.pd, tls.pki
    team = pki.ca("team", pki.root, policy=pol())
    image = images.data("hvt", nets=["service"])
    # team's policy is installed by the first request; then nothing more
    only_frame(tls.request(pki.leaf("web", team, T.cmd_uk_info())))
    before = state_of(pd)
    # not an image
    cfg = running_config(b"")
    text = T.failure_text(stream_create(
        tls, pki.leaf("web", team, T.cmd_uk_create(cfg)), b"\x7fELF" + b"x" * 5000))
    assert "ELF" in text, text
    # a broken zlib stream
    cfg = running_config(b"", compressed=True)
    text = T.failure_text(stream_create(
        tls, pki.leaf("web", team, T.cmd_uk_create(cfg)), b"not zlib" * 100))
    assert "inflate" in text, text
    # truncated zlib stream
    text = T.failure_text(stream_create(
        tls, pki.leaf("web", team, T.cmd_uk_create(cfg)),
        zlib.compress(image)[:-10]))
    assert "truncated" in text or "inflate" in text, text
    # no data at all: the terminator right away
    cfg = running_config(b"")
    text = T.failure_text(only_frame(tls.request(
        pki.leaf("web", team, T.cmd_uk_create(cfg)), upload=[])))
    assert "empty image" in text, text
    assert "team:web" not in pd.info()
    snap, _, uks = before
    pd.assert_unchanged(snap, "refused streamed creates")


def test_streamed_create_on_petreld_socket(petreld, images, tender):
    """The same stream, straight to petreld's Unix socket (§9.6 via
    petrel-tls, but petreld accepts it from anyone allowed there)."""
    tender.need_scripted()  # runs the stand-in's test images
    pd = petreld
    image = images.data("hvt", nets=["service"])
    cfg = running_config(b"")
    body = H.der_seq(H.wire_header(":web"), H.create_command(cfg))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    try:
        s.connect(pd.sock)
        s.sendall(len(body).to_bytes(4, "big") + body)
        for i in range(0, len(image), 1000):
            part = image[i:i + 1000]
            s.sendall(len(part).to_bytes(4, "big") + part)
        s.sendall(b"\0\0\0\0")
        n = int.from_bytes(H.recv_exact(s, 4), "big")
        reply = H.recv_exact(s, n)
    finally:
        s.close()
    assert b"created unikernel" in reply, reply
    assert ":web" in pd.info()
    pd.ok("destroy", ":web")


def test_streamed_create_cut_off_leaves_nothing(tls, images):
    pd, pki = tls.pd, tls.pki
    team = pki.ca("team", pki.root, policy=pol())
    only_frame(tls.request(pki.leaf("web", team, T.cmd_uk_info())))
    before = state_of(pd)
    cfg = running_config(b"")
    c = tls.client(pki.leaf("web", team, T.cmd_uk_create(cfg)))
    for _ in range(16):
        c.send_frame(b"\0" * 65536)
    H.wait_for(lambda: any(".img.new" in f for f in H.files_under(pd.dbdir)),
               10, what="the upload to reach petreld's disk")
    c.close()
    snap = before[0]
    H.wait_for(lambda: pd.snapshot()["dbdir files"] == snap["dbdir files"],
               10, what="the cut upload's files to be removed")
    assert_same_state(pd, before, "a cut-off upload")


# ---- the daemon: sandbox, modes, caps -------------------------------------------

def test_seccomp_kills_on_execve(tls_factory):
    """--test-execve-after-seccomp (tests only, docs/tls.md): execve once
    the filter is in place; the filter must kill the process."""
    td = tls_factory(start=False)
    p = subprocess.run(td.argv(["--test-execve-after-seccomp"]),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == -signal.SIGSYS, (p.returncode, p.stderr)
    assert "test: execve after seccomp" in p.stderr


def test_drops_to_user(tls_factory):
    td = tls_factory(extra_args=["--user", "nobody"])
    status = open("/proc/%d/status" % td.proc.pid).read()
    # the netns exec wrapper execs, so the pid is petrel-tls's own
    uid = [l for l in status.splitlines() if l.startswith("Uid:")][0].split()
    cap = [l for l in status.splitlines() if l.startswith("CapEff:")][0].split()
    seccomp = [l for l in status.splitlines() if l.startswith("Seccomp:")][0].split()
    assert uid[1:] == ["65534"] * 4, status
    assert int(cap[1], 16) == 0, status
    assert seccomp[1] == "2", status
    # nobody may not reach petreld's socket: a clear failure, no crash
    leaf = td.pki.leaf("web", td.pki.root, T.cmd_uk_info())
    assert T.failure_text(only_frame(td.request(leaf))) == "couldn't reach service"
    assert td.alive()


def test_inetd_mode(tls_factory):
    td = tls_factory(start=False)
    pd, pki = td.pd, td.pki
    ours, theirs = socket.socketpair()
    with open(td.logfile, "ab") as log:
        p = subprocess.Popen(td.argv(["--inetd"]), stdin=theirs, stdout=theirs,
                             stderr=log)
    theirs.close()
    try:
        leaf = pki.leaf(".", pki.root, T.cmd_policy_info())
        files = pki.client_files(leaf)
        ctx = T.client_context(pki, files)
        ours.settimeout(30)
        s = ctx.wrap_socket(ours, server_hostname="localhost")
        c = T.Client.__new__(T.Client)
        c.s = s
        body = only_frame(c.frames())
        assert T.decode(body)[2] == 0xA1
        assert p.wait(30) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        ours.close()
    wait_event(pd, "logout", lambda e: e["name"] == ":")


def test_caps_and_timeouts(tls_factory):
    td = tls_factory(extra_args=["--max-per-address", "1",
                                 "--handshake-timeout-ms", "1000",
                                 "--idle-timeout-ms", "1000"])
    pki = td.pki
    raw = T.ns_socket(td.pd.ns.name)
    raw.settimeout(30)
    # accepted first (the accept loop takes connections in order)
    raw.connect(("127.0.0.1", td.port))
    # a second connection from the same address is closed at once
    leaf = pki.leaf("web", pki.root, T.cmd_uk_info())
    H.wait_for(lambda: _refused_at_once(td, leaf), 10,
               what="the per-address cap to close a second connection")
    assert "--max-per-address" in td.log_text()
    # the silent first one is dropped once its handshake times out
    t0 = time.monotonic()
    assert raw.recv(1) == b""
    assert time.monotonic() - t0 < 15
    raw.close()
    H.wait_for(lambda: "handshake timed out" in td.log_text(), 10)
    # an upload that stalls is dropped too
    team = pki.ca("team", pki.root, policy=pol(block=64))
    only_frame(td.request(pki.leaf("disk", team, T.cmd_block_add(1))))
    c = td.client(pki.leaf("disk", team, T.cmd_block_set()))
    try:
        t0 = time.monotonic()
        c.send_frame(b"x" * 100)
        with pytest.raises((ConnectionError, ssl.SSLError, AssertionError,
                            socket.timeout)):
            f = c.frame()
            assert f is not None and T.failure_text(f)
            raise ConnectionError("closed")
        assert time.monotonic() - t0 < 15
    finally:
        c.close()
    H.wait_for(lambda: "idle" in td.log_text(), 10)


def _refused_at_once(td, leaf):
    try:
        c = td.client(leaf)
    except (ssl.SSLError, ConnectionError, OSError):
        return True
    try:
        return c.frames() == []
    except (ssl.SSLError, ConnectionError, OSError):
        return True
    finally:
        c.close()


def test_socket_activation(tls_factory):
    """LISTEN_FDS: the sockets systemd made (here: two, v4 and v6, made
    in the namespace) are used as they are."""
    td = tls_factory(start=False)
    pki = td.pki
    socks = []
    for family, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        s = T.ns_socket(td.pd.ns.name, family)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, 2025))
        s.listen(16)
        socks.append(s)
    fds = [s.fileno() for s in socks]

    def child():
        for i, fd in enumerate(fds):
            os.dup2(fd, 3 + i)
        os.environ["LISTEN_PID"] = str(os.getpid())
        os.environ["LISTEN_FDS"] = str(len(fds))
    # no `ip netns exec`: the sockets already are in the namespace
    argv = td.argv()
    argv = argv[argv.index(str(td.bin)):]
    with open(td.logfile, "ab") as log:
        # 3 and 4 are kept: they are the dup2 targets (close_fds runs
        # after preexec_fn)
        assert min(fds) > 4
        p = subprocess.Popen(argv, stdout=log, stderr=log,
                             pass_fds=fds + [3, 4], preexec_fn=child)
    td.proc = p
    for s in socks:
        s.close()
    H.wait_for(lambda: "listening on port" in td.log_text(), 20,
               what="petrel-tls to start")
    assert "(2 sockets)" in td.log_text()
    td.port = 2025
    leaf = pki.leaf(".", pki.root, T.cmd_policy_info())
    for addr in ("127.0.0.1", "::1"):
        c = td.client(leaf, addr=addr)
        try:
            assert T.decode(only_frame(c.frames()))[2] == 0xA1
        finally:
            c.close()


def test_help_names_every_option():
    out = subprocess.run([need_binary(TLS_BIN), "--help"], capture_output=True,
                         text=True, timeout=30).stdout
    for opt in ("--ca", "--cert", "--key", "--crl-dir", "--dbdir", "--tmpdir",
                "--port", "--listen", "--user", "--inetd", "--max-connections",
                "--max-per-address", "--handshake-timeout-ms",
                "--idle-timeout-ms", "LISTEN_FDS", "seccomp"):
        assert opt in out, opt


def test_stats_without_a_stats_daemon(tls):
    leaf = tls.pki.leaf("web", tls.pki.root,
                        H.der_ctx(1, H.der_ctx(2, H.der_null())))
    assert T.failure_text(only_frame(tls.request(leaf))) == \
        "couldn't reach service"


def _log_record(pd, event):
    """`log record` straight to petreld: WireCommand [2] [1] LogEntry."""
    entry = H.der_seq(H.tlv(0x18, b"20240102030405Z"), event)
    body = H.der_seq(H.wire_header(":"), H.der_ctx(0, H.der_ctx(2, H.der_ctx(1, entry))))
    return H.wire_request(pd.sock, body)


def test_log_record_only_for_endpoint_events(petreld):
    pd = petreld
    login = H.der_ctx(1, H.der_seq(H.der_utf8("team:web"),
                                   H.der_octets(bytes([10, 0, 0, 1])),
                                   H.der_int(4242)))
    assert b"recorded" in _log_record(pd, login)
    ev = wait_event(pd, "login", lambda e: e["name"] == "team:web")
    # petreld's time, not the one sent
    assert not ev[0]["time"].startswith("2024-01-02"), ev
    destroyed = H.der_ctx(10, H.der_utf8(":web"))
    reply = _log_record(pd, destroyed)
    assert b"only login, logout and refused" in reply, reply
    assert not events(pd, "destroyed")
