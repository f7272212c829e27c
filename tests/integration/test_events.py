"""The event log (docs/eventlog.md) through the real client, `petrel log`.

1. The client against a fake petreld (no root): every event kind in text
   and JSON (docs/cli.md), control characters escaped, the request bytes,
   failures and broken streams.
2. A real petreld (fixtures of conftest.py): an event for each lifecycle
   step, refused commands with their reason, filtering by name and path,
   --since, --follow with several subscribers, history across a restart
   of petreld (the events file), and the rotation of that file.
"""

import hashlib
import json
import os
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest

import pthelpers as H
from conftest import PETREL_BIN, need_binary, sanitizer_report
from test_client_vectors import (NULL, boolean, ctx, failure, integer,
                                 octets, seq, serve, string_reply, tlv, unhex,
                                 utf8, wire, answer, call)

# ---------------------------------------------------------------------------
# 1. The client against a fake petreld

T = b"20240102030405Z"
T_HEX = "18 0F 32 30 32 34 30 31 30 32 30 33 30 34 30 35 5A"


def entry(event, stamp=T):
    """LogEntry ::= SEQUENCE { GeneralizedTime, LogEvent }"""
    return seq(tlv(0x18, stamp), event)


def log_data(reqname, event, stamp=T):
    """Wire payload data [3], Data log [2]."""
    return wire(reqname, ctx(3, ctx(2, entry(event, stamp))))


def texts(*ss):
    return seq(*[utf8(s) for s in ss])


DIGEST = bytes(range(32))
DIGEST_HEX = DIGEST.hex()
POLICY = seq(seq(integer(0), integer(1)), integer(2), integer(64),
             integer(100), texts("br0", "br1"))
POLICY_JSON = {"unikernels": 2, "memory": 64, "block": 100,
               "cpuids": [0, 1], "bridges": ["br0", "br1"]}
POLICY_NOBLOCK = seq(seq(integer(0)), integer(1), integer(32), texts())

# (event DER, the JSON object the client prints for it, a piece of its
# text line)
EVENTS = [
    (ctx(0, NULL), {"event": "startup", "name": ":"}, " startup :"),
    (ctx(1, seq(utf8("a:alice"), octets(bytes([192, 0, 2, 1])),
                integer(4433))),
     {"event": "login", "name": "a:alice", "address": "192.0.2.1",
      "port": 4433}, " login a:alice port=4433"),
    (ctx(2, seq(utf8("a:alice"), octets(bytes.fromhex(
        "20010db8000000000000000000000001")), integer(1))),
     {"event": "logout", "name": "a:alice", "address": "2001:db8:0:0:0:0:0:1",
      "port": 1}, " logout a:alice"),
    (ctx(3, seq(utf8("a:web"), integer(1234), texts("tap0", "tap1"),
                texts("a:disk"), octets(DIGEST))),
     {"event": "started", "name": "a:web", "pid": 1234,
      "taps": ["tap0", "tap1"], "blocks": ["a:disk"], "digest": DIGEST_HEX},
     " started a:web pid=1234 taps=[\"tap0\",\"tap1\"] blocks=[\"a:disk\"] digest="
     + DIGEST_HEX),
    (ctx(4, seq(utf8("a:web"), integer(1234), ctx(0, integer(3)))),
     {"event": "exited", "name": "a:web", "pid": 1234, "exit": {"code": 3}},
     " exited a:web pid=1234 exit=3"),
    (ctx(4, seq(utf8("a:web"), integer(1234), ctx(1, integer(15)))),
     {"event": "exited", "name": "a:web", "pid": 1234,
      "exit": {"signal": 15}}, " exited a:web pid=1234 signal=15"),
    (ctx(4, seq(utf8("a:web"), integer(1234), ctx(2, integer(19)))),
     {"event": "exited", "name": "a:web", "pid": 1234, "exit": {"stop": 19}},
     " exited a:web pid=1234 stop=19"),
    (ctx(5, NULL), {"event": "hup", "name": ":"}, " hup :"),
    (ctx(6, seq(utf8("a:web"), octets(DIGEST))),
     {"event": "created", "name": "a:web", "digest": DIGEST_HEX},
     " created a:web digest=" + DIGEST_HEX),
    (ctx(7, seq(utf8("a:web"), octets(DIGEST[:4]))),
     {"event": "force-created", "name": "a:web", "digest": DIGEST_HEX[:8]},
     " force-created a:web digest=" + DIGEST_HEX[:8]),
    (ctx(8, seq(utf8("a:web"), integer(1600))),
     {"event": "restart-scheduled", "name": "a:web", "delay_ms": 1600},
     " restart-scheduled a:web in 1600 ms"),
    (ctx(9, utf8("a:web")), {"event": "restarted", "name": "a:web"},
     " restarted a:web"),
    (ctx(10, utf8("a:web")), {"event": "destroyed", "name": "a:web"},
     " destroyed a:web"),
    (ctx(11, seq(utf8("a:"), POLICY)),
     {"event": "policy-added", "name": "a:", "policy": POLICY_JSON},
     " policy-added a: unikernels=2 memory=64MB block=100MB"),
    (ctx(12, seq(utf8("a:"), POLICY_NOBLOCK)),
     {"event": "policy-replaced", "name": "a:",
      "policy": {"unikernels": 1, "memory": 32, "block": None,
                 "cpuids": [0], "bridges": []}},
     " policy-replaced a: unikernels=1 memory=32MB block=none"),
    (ctx(13, utf8("a:")), {"event": "policy-removed", "name": "a:"},
     " policy-removed a:"),
    (ctx(14, seq(utf8("a:disk"), integer(10))),
     {"event": "block-created", "name": "a:disk", "size_mb": 10},
     " block-created a:disk size=10 MB"),
    (ctx(15, utf8("a:disk")), {"event": "block-set", "name": "a:disk"},
     " block-set a:disk"),
    (ctx(16, utf8("a:disk")), {"event": "block-removed", "name": "a:disk"},
     " block-removed a:disk"),
    (ctx(17, seq(utf8("a:web"), utf8("unikernel create"),
                 utf8("policy: too many"))),
     {"event": "refused", "name": "a:web", "command": "unikernel create",
      "reason": "policy: too many"},
     " refused a:web \"unikernel create\" \"policy: too many\""),
]


def test_client_prints_every_event_kind(tmp_path):
    frames = [string_reply(":", "subscribed")]
    frames += [log_data(":", ev) for ev, _, _ in EVENTS]
    d = serve(tmp_path, answer(*frames), answer(*frames))
    rc, out, err = call(d, "log")
    assert rc == 0 and err == "", err
    lines = out.splitlines()
    assert len(lines) == len(EVENTS), out
    for line, (_, _, piece) in zip(lines, EVENTS):
        assert line.startswith("2024-01-02T03:04:05Z "), line
        assert piece in line, (piece, line)
    rc, out, err = call(d, "log", json_mode=True)
    assert rc == 0 and err == "", err
    objs = [json.loads(l) for l in out.splitlines()]
    want = [dict({"time": "2024-01-02T03:04:05Z"}, **j) for _, j, _ in EVENTS]
    assert objs == want
    # Key order as documented: time, event, name first.
    for l in out.splitlines():
        assert l.startswith('{"time": '), l
        assert list(json.loads(l))[:3] == ["time", "event", "name"]
    d.check()
    # `log` alone: the root, no since, no follow (the vector of
    # docs/eventlog.md inside command [2]).
    assert d.requests[0] == wire(":", ctx(0, unhex("A2 07 A0 05 30 03 01 01 00")))


def test_client_request_with_since_and_follow(tmp_path):
    d = serve(tmp_path, answer(string_reply("a:", "subscribed")))
    rc, out, err = call(d, "log", "a:", "--since", "2024-01-02T04:04:05+01:00",
                        "--follow")
    # The fake daemon closes the stream: with --follow that is an error,
    # events may have been lost.
    assert (rc, out) == (3, ""), (rc, out, err)
    assert "the daemon ended the event stream" in err
    d.check()
    want = unhex("A0 16 30 14" + T_HEX + "01 01 FF")
    assert d.requests[0] == wire("a:", ctx(0, ctx(2, want)))
    # --socket=- prints the same request; -f is --follow.
    rc, out, err = call_dry("log", "a:", "-f", "--since",
                            "2024-01-02T03:04:05Z")
    assert rc == 0 and bytes.fromhex(out.strip()) == d.requests[0], (out, err)
    # A name is a name, a path a path.
    rc, out, _ = call_dry("log", "web")
    assert bytes.fromhex(out.strip()) == wire(":web", ctx(
        0, unhex("A2 07 A0 05 30 03 01 01 00")))


def call_dry(*args):
    p = subprocess.run([need_binary(PETREL_BIN), "--socket=-", *args],
                       capture_output=True, timeout=30)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def test_client_usage_errors():
    for args in (["log", "--since", "yesterday"], ["log", "a:", "b:"],
                 ["log", "a::b"], ["log", "--count", "3"]):
        rc, out, err = call_dry(*args)
        assert rc == 2 and out == "" and err.startswith("petrel: "), (args, err)


def test_client_escapes_hostile_text(tmp_path):
    evil = "\x1b[2J\x07bad\nline\u009b"
    ev = ctx(17, seq(utf8("a:web"), utf8("uni\x1bkernel"), utf8(evil)))
    st = ctx(3, seq(utf8("a:web"), integer(1), texts("t\x1bp"), texts(),
                    octets(b"")))
    frames = [string_reply(":", "subscribed"), log_data(":", ev),
              log_data(":", st)]
    d = serve(tmp_path, answer(*frames), answer(*frames))
    rc, out, err = call(d, "log")
    assert rc == 0, err
    assert "\x1b" not in out and "\x07" not in out and "\u009b" not in out
    assert out.count("\n") == 2, out
    assert '"\\x1b[2J\\x07bad\\nline\\u{009B}"' in out
    rc, out, err = call(d, "log", json_mode=True)
    assert rc == 0, err
    objs = [json.loads(l) for l in out.splitlines()]
    assert objs[0]["reason"] == evil and objs[0]["command"] == "uni\x1bkernel"
    assert objs[1]["taps"] == ["t\x1bp"] and objs[1]["digest"] == ""
    assert "\x1b" not in out
    d.check()


def test_client_stream_errors(tmp_path):
    good = log_data(":", ctx(10, utf8("a:web")))
    console = wire(":", ctx(3, ctx(3, seq(tlv(0x18, T), utf8("hi")))))
    bad_event = wire(":", ctx(3, ctx(2, entry(ctx(10, integer(1))))))
    d = serve(tmp_path,
              answer(failure(":", "log: not allowed")),
              answer(failure(":", "log: not allowed")),
              answer(string_reply(":", "subscribed"), good, console),
              answer(string_reply(":", "subscribed"), good, bad_event),
              answer(string_reply(":", "subscribed"), good,
                     failure(":", "log: overrun")),
              answer())
    rc, out, err = call(d, "log")
    assert (rc, out) == (1, "") and "log: not allowed" in err
    rc, out, err = call(d, "log", json_mode=True)
    assert rc == 1
    assert json.loads(out) == {"result": "failure",
                               "message": "log: not allowed"}
    # What came before a broken message was printed.
    for want_rc in (3, 3, 1):
        rc, out, err = call(d, "log")
        assert rc == want_rc and out.endswith(" destroyed a:web\n"), (rc, out, err)
        assert err.startswith("petrel: "), err
    rc, out, err = call(d, "log")
    assert rc == 3 and "without a reply" in err
    d.check()


# ---------------------------------------------------------------------------
# 2. A real petreld


def events(pd, *args):
    """`petrel --json log ARGS`: the history petreld holds, as objects.
    Without --follow the client ends when petreld closes the stream."""
    r = pd.petrel("log", *args, json=True, timeout=30)
    assert r.rc == 0, r
    return [json.loads(l) for l in r.out.splitlines()]


def of(evs, name):
    return [e for e in evs if e["name"] == name]


def kinds(evs, name=None):
    return [e["event"] for e in evs if name is None or e["name"] == name]


def wait_events(pd, cond, *args, timeout=15, what="events"):
    """Polls `petrel log ARGS` until cond(events) holds; returns them."""
    seen = []

    def check():
        seen[:] = events(pd, *args)
        return seen if cond(seen) else None
    try:
        return H.wait_for(check, timeout, interval=0.1, what=what)
    except AssertionError as e:
        raise AssertionError("%s; the log has:\n  %s" % (
            e, "\n  ".join(json.dumps(x) for x in seen)))


def ms(t):
    """RFC 3339 UTC from the client ("...05Z" or "...05.250Z") -> ms."""
    import calendar
    base, _, frac = t.rstrip("Z").partition(".")
    secs = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
    return secs * 1000 + (int(frac.ljust(3, "0")) if frac else 0)


def rfc3339(t_ms):
    s = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t_ms // 1000))
    return s + (".%03dZ" % (t_ms % 1000))


def now_ms():
    return int(time.time() * 1000)


def create_config_digest(pd, *create_args):
    """SHA-256 of the DER UnikernelConfig that `petrel create ARGS` sends
    (taken from the request the client prints with --socket=-), with its
    image left empty: the configuration's digest; the image has its own
    in `started`."""
    r = pd.petrel("--socket=-", *create_args, tmpdir=False)
    assert r.rc == 0, r
    body = bytes.fromhex(r.out.strip())
    _, s, _ = H.parse_tlv(body)             # Wire SEQUENCE
    _, _, off = H.parse_tlv(body, s)        # its header
    for want in (0xA0, 0xA3):               # command [0], unikernel [3]
        tag, off, _ = H.parse_tlv(body, off)
        assert tag == want, hex(tag)
    tag, s, e = H.parse_tlv(body, off)      # create [20] / force [21]
    assert tag in (0xB4, 0xB5), hex(tag)
    tag, off, end = H.parse_tlv(body, s)    # UnikernelConfig SEQUENCE
    assert tag == 0x30
    items = []
    while off < end:
        tag, cs, ce = H.parse_tlv(body, off)
        items.append(body[off:ce])
        off = ce
    assert items[2][0] == 0x04, "the image is the third field"
    items[2] = H.der_octets(b"")
    return hashlib.sha256(H.der_seq(*items)).hexdigest()


def tap_of(argv, netname):
    for a in argv:
        if a.startswith("--net:%s=" % netname):
            return a.split("=", 1)[1]
    raise AssertionError("no --net:%s in %s" % (netname, argv))


def image_digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_create_start_destroy(petreld, images, tender):
    tender.need_scripted()
    pd = petreld
    img = images.path("hvt", nets=["service"])
    args = ["create", "web", img, "--net", "service:br0", "--arg", "run"]
    t0 = now_ms()
    pd.ok(*args)
    pid, argv = pd.wait_tender(":web")
    evs = wait_events(pd, lambda e: "started" in kinds(e), "web")
    assert kinds(evs) == ["created", "started"], evs
    created, started = evs
    assert created == {"time": created["time"], "event": "created",
                       "name": ":web",
                       "digest": create_config_digest(pd, *args)}
    assert started == {"time": started["time"], "event": "started",
                       "name": ":web", "pid": pid,
                       "taps": [tap_of(argv, "service")], "blocks": [],
                       "digest": image_digest(img)}
    assert started["digest"] == pd.info("web")[":web"]["digest"]
    pd.ok("destroy", "web")
    t1 = now_ms()
    evs = wait_events(pd, lambda e: {"exited", "destroyed"} <= set(kinds(e)),
                      "web")
    # The tender's end, then the unikernel's.
    assert kinds(evs) == ["created", "started", "exited", "destroyed"], evs
    exited = evs[2]
    # The stand-in hvt tender exits 1 on SIGTERM, as Solo5's does.
    assert exited["pid"] == pid and exited["exit"] == {"code": 1}, exited
    times = [ms(e["time"]) for e in evs]
    assert times == sorted(times), evs
    assert t0 - 1000 <= times[0] and times[-1] <= t1 + 1000, (t0, t1, evs)


def test_spt_killed_by_sigterm(petreld, images, tender):
    """spt has no signal handler: the tender dies of the signal."""
    tender.need_scripted()
    pd = petreld
    pd.ok("create", "quiet", images.path("spt"), "--arg", "run")
    pid, _ = pd.wait_tender(":quiet")
    pd.ok("destroy", "quiet")
    evs = wait_events(pd, lambda e: "exited" in kinds(e), "quiet")
    exited = [e for e in evs if e["event"] == "exited"]
    assert exited == [{"time": exited[0]["time"], "event": "exited",
                       "name": ":quiet", "pid": pid, "exit": {"signal": 15}}]


def test_killed_by_signal(petreld, images, tender):
    tender.need_scripted()
    pd = petreld
    pd.ok("create", "victim", images.path("hvt"), "--arg", "run")
    pid, _ = pd.wait_tender(":victim")
    os.kill(pid, signal.SIGKILL)
    evs = wait_events(pd, lambda e: "exited" in kinds(e), "victim")
    assert kinds(evs) == ["created", "started", "exited"], evs
    assert evs[2]["pid"] == pid and evs[2]["exit"] == {"signal": 9}
    # Without restart-on-fail nothing more happens: destroying it is
    # refused, and that refusal is an event too.
    r = pd.jfail("destroy", "victim")
    evs = wait_events(pd, lambda e: "refused" in kinds(e), "victim")
    assert kinds(evs) == ["created", "started", "exited", "refused"], evs


def test_exit_code_and_restart(petreld_factory, images, tender):
    tender.need_scripted()
    pd = petreld_factory(backoff_ms=100)
    pd.ok("create", "flaky", images.path("hvt"), "--restart-on-fail",
          "--arg", "sleep:100", "--arg", "exit:3")

    def two_restarts(e):
        return kinds(e).count("restarted") >= 2 and kinds(e).count("started") >= 3
    evs = wait_events(pd, two_restarts, "flaky", timeout=20)
    k = kinds(evs)
    assert k[:4] == ["created", "started", "exited", "restart-scheduled"], evs
    # Then the restart itself and the new tender, each incarnation
    # announced by `started` with its own pid.
    assert k[4:9] == ["restarted", "started", "exited",
                      "restart-scheduled", "restarted"], evs
    starts = [e for e in evs if e["event"] == "started"]
    exits = [e for e in evs if e["event"] == "exited"]
    assert len({e["pid"] for e in starts}) == len(starts)
    for st, ex in zip(starts, exits):
        assert ex["pid"] == st["pid"] and ex["exit"] == {"code": 3}, (st, ex)
    delays = [e["delay_ms"] for e in evs if e["event"] == "restart-scheduled"]
    assert delays[0] == 100, delays
    assert delays[1] > delays[0], "the backoff does not grow: %s" % delays
    pd.ok("destroy", "flaky")
    wait_events(pd, lambda e: "destroyed" in kinds(e), "flaky")


def test_force_create(petreld, images, tender):
    tender.need_scripted()
    pd = petreld
    img = images.path("hvt")
    pd.ok("create", "web", img, "--arg", "run")
    old, _ = pd.wait_tender(":web")
    args = ["create", "-f", "web", img, "--arg", "print:v2", "--arg", "run"]
    pd.ok(*args)
    new, _ = pd.wait_tender(":web", other_than=old)
    evs = wait_events(pd, lambda e: kinds(e).count("started") == 2, "web")
    k = kinds(evs)
    assert k[:2] == ["created", "started"] and "force-created" in k, evs
    assert "created" not in k[2:], evs
    fc = evs[k.index("force-created")]
    assert fc["digest"] == create_config_digest(pd, *args)
    assert fc["digest"] != evs[0]["digest"]
    exited = [e for e in evs if e["event"] == "exited"]
    assert [e["pid"] for e in exited] == [old], evs
    assert evs[-1]["event"] == "started" and evs[-1]["pid"] == new, evs
    pd.ok("destroy", "web")


def test_policy_events(petreld):
    pd = petreld
    pd.ok("add-policy", "team:", "--unikernels", "2", "--mem", "128",
          "--cpu", "0", "--bridge", "br0", "--block", "10")
    pd.ok("replace-policy", "team:", "--unikernels", "3", "--mem", "256",
          "--cpu", "0", "--bridge", "br0", "--bridge", "br1")
    replaced = dict(pd.policies("team:")[":"])
    pd.ok("remove-policy", "team:")
    evs = events(pd, "team:")
    assert kinds(evs) == ["policy-added", "policy-replaced",
                          "policy-removed"], evs
    assert all(e["name"] == "team:" for e in evs), evs
    assert evs[0]["policy"] == {"unikernels": 2, "memory": 128, "block": 10,
                                "cpuids": [0], "bridges": ["br0"]}
    del replaced["name"]
    assert evs[1]["policy"] == replaced == {
        "unikernels": 3, "memory": 256, "block": None, "cpuids": [0],
        "bridges": ["br0", "br1"]}


def test_block_events(petreld, tmp_path):
    pd = petreld
    data = tmp_path / "data"
    data.write_bytes(b"hello" * 1000)
    pd.ok("create-block", "team:disk", "1", "--data", data)
    pd.ok("set-block", "team:disk", data)
    pd.ok("create-block", "team:empty", "2")
    pd.ok("destroy-block", "team:disk")
    evs = events(pd, "team:")
    assert [(e["event"], e["name"]) for e in evs] == [
        ("block-created", "team:disk"), ("block-set", "team:disk"),
        ("block-set", "team:disk"), ("block-created", "team:empty"),
        ("block-removed", "team:disk")], evs
    assert evs[0]["size_mb"] == 1 and evs[3]["size_mb"] == 2


def test_refused_commands(petreld, images, tender):
    pd = petreld
    img = images.path("hvt")
    pd.ok("add-policy", "team:", "--unikernels", "1", "--mem", "64",
          "--cpu", "0")
    cases = [
        (("destroy", "team:nothing"), "team:nothing", "unikernel destroy"),
        (("restart", "team:nothing"), "team:nothing", "unikernel restart"),
        (("create", "team:big", img, "--mem", "128", "--arg", "run"),
         "team:big", "unikernel create"),
        (("create", "team:big", img, "--cpu", "1", "--arg", "run"),
         "team:big", "unikernel create"),
        (("add-policy", "team:sub:", "--unikernels", "5", "--mem", "64",
          "--cpu", "0"), "team:sub:", "policy add"),
        (("remove-policy", "nosuch:"), "nosuch:", "policy remove"),
        (("destroy-block", "team:nodisk"), "team:nodisk", "block remove"),
        (("create-block", "team:huge", "100000000"), "team:huge",
         "block add"),
    ]
    want = []
    for args, name, command in cases:
        j = pd.jfail(*args)
        want.append({"event": "refused", "name": name, "command": command,
                     "reason": j["message"]})
    evs = [e for e in events(pd) if e["event"] == "refused"]
    for e in evs:
        del e["time"]
    assert evs == want



def visible(who, name):
    """Who sees an event about `name` (docs/eventlog.md): a subscriber for
    a path everything at or below it; for a name that name and the names
    under it read as a path (a:x sees a:x:z, not a:xy); startup and hup
    (subject ":") only the root. Paths are compared as paths: a:x: does
    not see the unikernel a:x, which is the label x of the path a: and
    belongs to a: (issue 9, item 12)."""
    if who == ":":
        return True
    if name == ":":
        return False
    if who.endswith(":"):
        return name.startswith(who)
    return name == who or name.startswith(who + ":")


def test_filtering_by_name_and_path(petreld, images, tender):
    tender.need_scripted()
    pd = petreld
    img = images.path("hvt")
    for n in ("a:x", "a:xy", "a:x:z", "a:sub:z", "b:y", "ax"):
        pd.ok("create", n, img, "--arg", "exit:0")
    pd.jfail("destroy", "a:nothing")
    pd.jfail("destroy", "b:nothing")
    everything = wait_events(
        pd, lambda e: kinds(e).count("exited") == 6, timeout=20,
        what="the six unikernels to exit")
    subjects = {e["name"] for e in everything}
    assert subjects == {":", "a:x", "a:xy", "a:x:z", "a:sub:z", "b:y", ":ax",
                        "a:nothing", "b:nothing"}, subjects
    assert kinds(everything)[0] == "startup"
    for who in ("a:", "a:x", "a:x:", "a:sub:", "b:", "b:y", "ax", "a:sub:z",
                "c:"):
        got = events(pd, who)
        full = who if ":" in who else ":" + who
        want = [e for e in everything if visible(full, e["name"])]
        assert got == want, "log %s:\n%s" % (who, "\n".join(map(str, got)))
    # Spot checks of the rule itself.
    assert {e["name"] for e in events(pd, "a:")} == {
        "a:x", "a:xy", "a:x:z", "a:sub:z", "a:nothing"}
    assert {e["name"] for e in events(pd, "a:x")} == {"a:x", "a:x:z"}
    assert {e["name"] for e in events(pd, "a:x:")} == {"a:x:z"}
    assert "startup" not in kinds(events(pd, "a:"))


def test_since(petreld, images, tender):
    tender.need_scripted()
    pd = petreld
    img = images.path("hvt")
    pd.ok("create", "one", img, "--arg", "exit:0")
    first = wait_events(pd, lambda e: "exited" in kinds(e, ":one"))
    # Let the clock pass the last event, so that the next ones are later.
    last = ms(first[-1]["time"])
    H.wait_for(lambda: now_ms() > last + 2, 5, what="the clock to move")
    pd.ok("create", "two", img, "--arg", "exit:0")
    everything = wait_events(pd, lambda e: "exited" in kinds(e, ":two"))
    t = ms(of(everything, ":two")[0]["time"])
    assert t > last
    # At or after the time: the event at exactly `since` is included.
    got = events(pd, "--since", rfc3339(t))
    assert got == [e for e in everything if ms(e["time"]) >= t]
    assert kinds(got, ":one") == [] and kinds(got, ":two")[0] == "created"
    got = events(pd, "--since", rfc3339(t + 1))
    assert got == [e for e in everything if ms(e["time"]) > t]
    assert "created" not in kinds(got, ":two")
    # With a name, and with an offset instead of Z.
    local = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t // 1000 + 3600))
    got = events(pd, "two", "--since", local + ".%03d+01:00" % (t % 1000))
    assert got == of([e for e in everything if ms(e["time"]) >= t], ":two")
    # The far future and the far past.
    assert events(pd, "--since", "9999-12-31T23:59:59Z") == []
    assert events(pd, "--since", "1970-01-01T00:00:00Z") == everything
    # A bad time never reaches petreld.
    r = pd.petrel("log", "--since", "soon")
    assert r.rc == 2 and "invalid time" in r.err, r


class LogFollower:
    """`petrel -v --json log WHO --follow` in the background. -v prints the
    replies on stderr, so the subscribe reply shows when the subscription
    stands."""

    def __init__(self, pd, who, *args):
        self.who = who
        self.proc = subprocess.Popen(
            [need_binary(PETREL_BIN), "--tmpdir", pd.tmpdir, "-v", "--json",
             "log", who, "--follow", *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        self.out = b""
        self.err = b""
        self.events = []

    def _pump(self, timeout):
        fds = [f for f in (self.proc.stdout, self.proc.stderr) if not f.closed]
        r, _, _ = select.select(fds, [], [], timeout)
        for f in r:
            chunk = os.read(f.fileno(), 65536)
            if f is self.proc.stdout:
                self.out += chunk
            else:
                self.err += chunk
            if not chunk and self.proc.poll() is not None:
                raise AssertionError("petrel log %s ended: rc %s, stderr %r"
                                     % (self.who, self.proc.returncode, self.err))
        while b"\n" in self.out:
            line, self.out = self.out.split(b"\n", 1)
            self.events.append(json.loads(line))

    def wait(self, cond, timeout=15, what=None):
        deadline = time.monotonic() + timeout
        while not cond(self):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("petrel log %s: timed out waiting for %s; "
                                     "got %s, stderr %r" % (
                                         self.who, what, self.events, self.err))
            self._pump(min(left, 0.5))

    def subscribed(self):
        self.wait(lambda f: b"subscribed" in f.err, what="the subscribe reply")

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        err = self.err + self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        mark = sanitizer_report(err.decode(errors="replace"))
        assert mark is None, "petrel log %s: %s\n%s" % (self.who, mark, err)


def test_follow_several_subscribers(petreld, images, tender):
    tender.need_scripted()
    pd = petreld
    img = images.path("hvt")
    who = [":", "a:", "a:x", "b:", "c:"]
    followers = [LogFollower(pd, w) for w in who]
    try:
        for f in followers:
            f.subscribed()
        # Every step is seen live. The a:x marker at the end comes after
        # every b: event, so that anything of b: wrongly streamed to an
        # a: subscriber shows up before the marker.
        pd.ok("create", "a:x", img, "--arg", "run")
        pd.ok("create", "b:y", img, "--arg", "run")
        pd.ok("destroy", "a:x")
        pd.ok("destroy", "b:y")
        pd.jfail("destroy", "a:x")
        everything = wait_events(
            pd, lambda e: kinds(e, "a:x").count("refused") == 1 and
            kinds(e, "b:y").count("exited") == 1)
        for f in followers:
            want = [e for e in everything if visible(f.who, e["name"])]
            f.wait(lambda f: len(f.events) >= len(want), what="%d events" % len(want))
            assert f.events == want, f.who
        assert [f.events for f in followers[-1:]] == [[]]
        # Still following: one more event reaches those who see it.
        pd.ok("create", "a:x", img, "--arg", "run")
        for f in followers[:3]:
            f.wait(lambda f: kinds(f.events, "a:x").count("started") == 2,
                   what="the new a:x")
        for f in followers:
            assert f.proc.poll() is None, f.who
        pd.ok("destroy", "a:x")
    finally:
        for f in followers:
            f.close()


def test_without_follow_the_stream_ends(petreld):
    """The history only: the client exits when petreld closes, even while
    events keep coming (the refusals below)."""
    pd = petreld
    for _ in range(3):
        pd.jfail("destroy", "nothing")
        evs = events(pd)
        assert kinds(evs)[0] == "startup"
    assert kinds(evs).count("refused") == 3


def test_history_survives_a_restart_of_petreld(petreld, images, tender):
    tender.need_scripted()
    pd = petreld
    pd.ok("create", "web", images.path("hvt"), "--arg", "exit:0")
    pd.ok("add-policy", "team:", "--unikernels", "1", "--mem", "64",
          "--cpu", "0")
    pd.jfail("destroy", "team:nothing")
    before = wait_events(pd, lambda e: "exited" in kinds(e, ":web"))
    assert pd.stop() == 0
    pd.start()
    after = events(pd)
    assert after[:len(before)] == before
    assert kinds(after[len(before):]) == ["startup"], after
    assert kinds(after).count("startup") == 2
    # And the subscriber's filter works on the reloaded history.
    assert events(pd, "team:") == [e for e in before
                                   if visible("team:", e["name"])]
    assert kinds(events(pd, "team:")) == ["policy-added", "refused"]


def read_events_file(path):
    """The frames of an events file: 4-byte big-endian length, LogEntry.
    Returns (event tag number, subject name) per frame, checking that the
    file is a sequence of whole frames."""
    data = Path(path).read_bytes()
    out = []
    off = 0
    while off < len(data):
        assert off + 4 <= len(data), "%s: cut length at %d" % (path, off)
        n = int.from_bytes(data[off:off + 4], "big")
        body = data[off + 4:off + 4 + n]
        assert len(body) == n, "%s: cut frame at %d" % (path, off)
        tag, s, e = H.parse_tlv(body)
        assert tag == 0x30 and e == n, "%s: not a LogEntry at %d" % (path, off)
        _, _, after_time = H.parse_tlv(body, s)
        ev_tag, es, ee = H.parse_tlv(body, after_time)
        assert ev_tag & 0xE0 == 0xA0, hex(ev_tag)
        inner, is_, ie = H.parse_tlv(body, es)
        if inner == 0x30:               # SEQUENCE { name, ... }
            _, ns, ne = H.parse_tlv(body, is_)
            name = body[ns:ne].decode()
        elif inner == 0x0C:             # a bare Name
            name = body[is_:ie].decode()
        else:                           # NULL: startup, hup
            name = ":"
        out.append((ev_tag & 0x1F, name))
        off += 4 + n
    return out


def test_events_file_rotation(petreld_factory):
    cap = 4 * 1024      # --events-max-kb 4, the smallest allowed
    pd = petreld_factory(extra_args=["--events-max-kb", "4"])
    files = [os.path.join(pd.evlogdir, f) for f in
             ("events", "events.1", "events.2", "events.3")]
    names = []
    # Refusals with long names (~200 bytes an event): enough for more
    # than three rotations.
    while not os.path.exists(files[2]) or len(names) < 80:
        name = "team:n%03d%s" % (len(names), "x" * 56)
        names.append(name)
        pd.jfail("destroy", name)
        assert len(names) < 1000, "no rotation after %d events" % len(names)
    history = events(pd)
    assert [e["name"] for e in history if e["event"] == "refused"] == names
    assert not os.path.exists(files[3]), "more rotated files than kept"
    stored = []
    for f in reversed(files[:3]):
        size = os.path.getsize(f)
        # A file is rotated once it reaches the cap: at most one event
        # above it.
        assert size <= cap + 512, (f, size)
        stored += read_events_file(f)
    # The files hold the newest events, oldest first, none twice.
    refused = [n for tag, n in stored if tag == 17]
    assert refused == names[-len(refused):], refused
    assert len(refused) >= 2 * cap // 512
    # After a restart of petreld the history is what the files held.
    assert pd.stop() == 0
    pd.start()
    after = events(pd)
    assert [(e["event"], e["name"]) for e in after[:-1]] == \
        [({17: "refused", 0: "startup"}[tag], n) for tag, n in stored]
    assert after[-1]["event"] == "startup"
    assert after[:-1] == history[-(len(after) - 1):]


def test_unikernels_started_again_after_a_restart_of_petreld(petreld, images,
                                                            tender):
    """petreld ends its tenders when it stops and starts them again from
    its state: both ends show in the log, around the second startup."""
    tender.need_scripted()
    pd = petreld
    pd.ok("create", "web", images.path("hvt"), "--arg", "run")
    old, _ = pd.wait_tender(":web")
    assert pd.stop() == 0
    pd.start()
    new, _ = pd.wait_tender(":web")
    evs = wait_events(pd, lambda e: kinds(e, ":web").count("started") == 2)
    assert [(e["event"], e["name"]) for e in evs] == [
        ("startup", ":"), ("created", ":web"), ("started", ":web"),
        ("exited", ":web"), ("startup", ":"), ("started", ":web")], evs
    assert evs[2]["pid"] == evs[3]["pid"] == old
    assert evs[5]["pid"] == new != old
    assert evs[5]["digest"] == evs[2]["digest"]
