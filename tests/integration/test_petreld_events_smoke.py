"""Smoke tests of petreld's side of issue 5, in raw AV5 frames (the client's
`petrel log` and the full suites are tests/integration/test_events.py and
test_console_petreld.py):

- the `log` subscription: history, follow, the end when the client speaks,
  the cap on subscribers;
- the events file read back at start, and a damaged one set aside;
- the `console add` petreld sends, against a stand-in petrel-console: the
  count, the sequence numbers, a reconnect that re-adds the running
  unikernels, a refusal and a petrel-console that never answers.
"""

import os
import socket
import time

import pytest

import pthelpers as H
from pthelpers import (der_bool, der_ctx, der_int, der_seq, der_null,
                       der_utf8, parse_tlv, wait_for, wire_header)

# The event CHOICE tags (docs/eventlog.md).
EV = {0xA0: "startup", 0xA3: "started", 0xA4: "exited", 0xA6: "created",
      0xAA: "destroyed", 0xAB: "policy-added", 0xAC: "policy-replaced",
      0xAD: "policy-removed", 0xB1: "refused"}


def frame(body):
    return len(body).to_bytes(4, "big") + body


def read_frame(sock, timeout=10.0):
    """The next frame's body; None at EOF."""
    sock.settimeout(timeout)
    buf = b""
    while len(buf) < 4:
        chunk = sock.recv(4 - len(buf))
        if not chunk:
            return None
        buf += chunk
    n = int.from_bytes(buf, "big", signed=True)
    assert 0 < n < 1 << 20, n
    return H.recv_exact(sock, n)


def subscribe_body(name, follow, since=None, seq=7):
    fields = []
    if since is not None:
        fields.append(H.tlv(0x18, since.encode()))
    fields.append(der_bool(follow))
    return der_seq(wire_header(name, seq),
                   der_ctx(0, der_ctx(2, der_ctx(0, der_seq(*fields)))))


def split_reply(body):
    """(header bytes, payload tag, payload content)."""
    tag, s, e = parse_tlv(body)
    assert tag == 0x30 and e == len(body)
    _, hs, he = parse_tlv(body, s)
    ptag, ps, pe = parse_tlv(body, he)
    return body[s:he], ptag, body[ps:pe]


def event_of(content):
    """data [3] -> Data [2] LogEntry -> (event name, subject text or '')."""
    tag, s, e = parse_tlv(content)
    assert tag == 0xA2, hex(tag)
    tag, s, e = parse_tlv(content, s)
    assert tag == 0x30
    tag, _, te = parse_tlv(content, s)        # the timestamp
    assert tag == 0x18
    etag, es, ee = parse_tlv(content, te)
    inner, s2, e2 = parse_tlv(content, es)
    if inner == 0x0C:                          # a bare Name
        subject = content[s2:e2].decode()
    elif inner == 0x30:                        # SEQUENCE { name, ... }
        t, ns, ne = parse_tlv(content, s2)
        subject = content[ns:ne].decode()
    else:
        subject = ""
    return EV.get(etag, hex(etag)), subject


class Sub:
    def __init__(self, pd, name=":", follow=False, since=None):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(pd.sock)
        self.header = wire_header(name, 7)
        self.s.sendall(frame(subscribe_body(name, follow, since)))
        hdr, tag, content = split_reply(read_frame(self.s))
        assert hdr == self.header and tag == 0xA1, (hdr, tag)
        assert content == H.tlv(0xA1, der_utf8("subscribed"))[2:] or \
            b"subscribed" in content, content

    def next(self, timeout=10.0):
        body = read_frame(self.s, timeout)
        if body is None:
            return None
        hdr, tag, content = split_reply(body)
        assert hdr == self.header and tag == 0xA3, (hdr.hex(), hex(tag))
        return event_of(content)

    def all(self):
        """Events until petreld closes (without follow)."""
        out = []
        while True:
            ev = self.next()
            if ev is None:
                return out
            out.append(ev)

    def until(self, want, timeout=10.0):
        seen = []
        deadline = time.monotonic() + timeout
        while want not in seen:
            left = deadline - time.monotonic()
            assert left > 0, "no %s in %s" % (want, seen)
            ev = self.next(left)
            assert ev is not None, "closed; saw %s" % seen
            seen.append(ev)
        return seen

    def closed(self, timeout=10.0):
        self.s.settimeout(timeout)
        try:
            while True:
                if not self.s.recv(65536):
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True

    def close(self):
        self.s.close()


def test_history_follow_and_end(petreld):
    pd = petreld
    history = Sub(pd).all()
    assert history[0] == ("startup", ""), history
    follower = Sub(pd, follow=True)
    assert follower.next() == ("startup", "")
    pd.ok("add-policy", "team:", "--unikernels", "2", "--mem", "128",
          "--cpu", "0", "--bridge", "br0")
    assert follower.until(("policy-added", "team:"))[-1] == \
        ("policy-added", "team:")
    # A subscriber for another path sees none of it.
    assert Sub(pd, "other:").all() == []
    assert Sub(pd, "team:").all() == [("policy-added", "team:")]
    # Anything the subscriber sends ends its stream.
    follower.s.sendall(b"\0\0\0\0")
    assert follower.closed()
    follower.close()


def test_refused_and_name_filter(petreld):
    pd = petreld
    pd.fails("destroy", "team:web")
    pd.fails("destroy", "team:db")
    assert Sub(pd, "team:web").all() == [("refused", "team:web")]
    assert Sub(pd, "team:").all() == [("refused", "team:web"),
                                      ("refused", "team:db")]


def test_subscriber_cap_drops_the_oldest(petreld):
    pd = petreld
    subs = [Sub(pd, follow=True) for _ in range(32)]
    extra = Sub(pd, follow=True)
    assert subs[0].closed(), "the oldest subscriber was not dropped"
    pd.ok("add-policy", "x:", "--unikernels", "1", "--mem", "64",
          "--cpu", "0")
    for s in subs[1:] + [extra]:
        assert s.until(("policy-added", "x:"))
    for s in subs + [extra]:
        s.close()


def test_history_survives_restart_and_damage(petreld):
    pd = petreld
    pd.fails("destroy", "before")
    pd.stop()
    events = os.path.join(pd.evlogdir, "events")
    assert os.stat(events).st_mode & 0o777 == 0o600
    assert os.stat(pd.evlogdir).st_mode & 0o777 == 0o700
    # A cut-off frame at the end (a crash mid-write): read up to it, then
    # set aside, so that new events are not written after it.
    with open(events, "ab") as f:
        f.write(b"\x00\x00\x01\x00\x30\x03")
    pd.start()
    got = Sub(pd).all()
    assert got[:3] == [("startup", ""), ("refused", ":before"),
                       ("startup", "")], got
    assert os.path.exists(events + ".1")
    pd.fails("destroy", "after")
    pd.stop()
    pd.start()
    got = Sub(pd).all()
    assert [e for e in got if e[0] == "refused"] == \
        [("refused", ":before"), ("refused", ":after")], got


# ---------------------------------------------------------------------------
# console add, against a stand-in petrel-console


class FakeConsole:
    def __init__(self, pd):
        self.path = os.path.join(pd.tmpdir, "console", "console.sock")
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.listen = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listen.bind(self.path)
        self.listen.listen(4)
        self.conn = None

    def accept(self, timeout=15):
        self.listen.settimeout(timeout)
        self.conn, _ = self.listen.accept()

    def next_add(self, timeout=15):
        """(sequence, name, n) of the next `console add`."""
        body = read_frame(self.conn, timeout)
        assert body is not None, "petreld closed the console connection"
        _, s, _ = parse_tlv(body)
        _, hs, he = parse_tlv(body, s)
        t, vs, ve = parse_tlv(body, hs)           # version
        assert body[vs:ve] == b"\x05"
        t, qs, qe = parse_tlv(body, ve)           # sequence (8 octets)
        seq = int.from_bytes(body[qs:qe], "big")
        t, ns, ne = parse_tlv(body, qe)
        name = body[ns:ne].decode()
        cmd = body[he:]
        t, c0, _ = parse_tlv(cmd)                 # command [0]
        t1, c1, _ = parse_tlv(cmd, c0)            # console [0]
        t2, c2, _ = parse_tlv(cmd, c1)            # add [0]
        assert (t, t1, t2) == (0xA0, 0xA0, 0xA0), cmd.hex()
        t, is_, ie = parse_tlv(cmd, c2)
        return seq, name, int.from_bytes(cmd[is_:ie], "big", signed=True)

    def reply(self, name, seq, payload=None):
        p = payload if payload is not None else der_ctx(1, der_ctx(0, der_null()))
        self.conn.sendall(frame(der_seq(wire_header(name, seq), p)))

    def close(self):
        if self.conn is not None:
            self.conn.close()
        self.listen.close()
        if os.path.exists(self.path):
            os.unlink(self.path)


def empty_success_payload():
    return der_ctx(1, der_ctx(0, der_null()))


def test_console_add_reconnect_and_refusal(petreld_factory, images, tender):
    tender.need_scripted()
    # The fake console answers from a thread: give it all the time a
    # loaded machine may need (the timeout itself is tested below).
    pd = petreld_factory(start=False,
                         extra_args=["--console-timeout-ms", "20000"])
    fake = FakeConsole(pd)
    try:
        pd.start()
        fake.accept()
        pd.ok("add-policy", "team:", "--unikernels", "3", "--mem", "128",
              "--cpu", "0", "--bridge", "br0")

        def create(name, answer):
            import threading
            t = threading.Thread(target=answer)
            t.start()
            try:
                pd.ok("create", name, images.path("hvt"), "--arg", "run")
            finally:
                t.join(20)

        got = []

        def answer_ok():
            seq, name, n = fake.next_add()
            got.append((seq, name, n))
            fake.reply(name, seq)
        create("web", answer_ok)
        create("team:db", answer_ok)
        assert got == [(1, ":web", 2**62 - 1), (2, "team:db", 3)], got
        pd.wait_tender(":web")
        pd.wait_tender("team:db")

        # petrel-console goes away: petreld reconnects and adds every
        # running unikernel again, numbering on.
        fake.conn.close()
        fake.accept()
        readds = []
        for _ in range(2):
            seq, name, n = fake.next_add()
            readds.append((seq, name))
            fake.reply(name, seq)
        assert [x[0] for x in readds] == [3, 4], readds
        assert {x[1] for x in readds} == {":web", "team:db"}, readds

        # A refusal is logged; the unikernel runs regardless.
        def answer_refuse():
            seq, name, n = fake.next_add()
            fake.reply(name, seq, der_ctx(2, der_utf8("cannot open FIFO")))
            fake.conn.close()
        create("team:refused", answer_refuse)
        pd.wait_tender("team:refused")
        wait_for(lambda: "petrel-console refused" in pd.log_text(),
                 what="the refusal in petreld's log")
        # It reconnects and re-adds the others, not the refused one.
        fake.accept()
        names = set()
        for _ in range(2):
            seq, name, n = fake.next_add()
            names.add(name)
            fake.reply(name, seq)
        assert names == {":web", "team:db"}, names
        # (A console that never answers: test_hung_petrel_console_*.)
        for n in ("web", "team:db", "team:refused"):
            pd.ok("destroy", n)
    finally:
        fake.close()


def test_no_console_option(petreld_factory, images, tender):
    tender.need_scripted()
    pd = petreld_factory(start=False, extra_args=["--no-console"])
    fake = FakeConsole(pd)
    try:
        pd.start()
        pd.ok("create", "web", images.path("hvt"), "--arg", "run")
        pd.wait_tender(":web")
        # Enabled, petreld would have connected at start and again at
        # the launch, before the create was answered.
        fake.listen.setblocking(False)
        with pytest.raises(BlockingIOError):
            fake.listen.accept()
        pd.ok("destroy", "web")
    finally:
        fake.close()


def test_fifo_in_the_log_directory_does_not_hang_the_start(petreld):
    """Something planted as events.1 (a FIFO) is refused, not waited on:
    petreld starts and answers."""
    pd = petreld
    pd.stop()
    os.mkfifo(os.path.join(pd.evlogdir, "events.1"))
    pd.start()
    H.wait_for(lambda: pd.petrel("policy").rc == 0, 20,
               what="petreld to answer with a FIFO in its log directory")
    assert "not a regular file" in pd.log_text()


def test_hung_petrel_console_costs_one_wait(petreld_factory, images, tender):
    """A petrel-console that accepts connections and never answers: the
    first launch waits for its answer (bounded), later launches neither
    wait nor reconnect, and their unikernels run (their FIFOs drained)."""
    tender.need_scripted()
    pd = petreld_factory(start=False)
    fake = FakeConsole(pd)  # listens, never accepts or answers
    try:
        pd.start()
        for i in range(4):
            pd.ok("create", "u%d" % i, images.path("hvt"), "--arg", "run")
        for i in range(4):
            pd.wait_tender(":u%d" % i)
        waits = pd.log_text().count("no reply in time")
        assert waits == 1, "%d launches waited for the hung console" % waits
        for i in range(4):
            pd.ok("destroy", "u%d" % i)
    finally:
        fake.listen.close()
