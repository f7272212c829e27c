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
     " started a:web pid=1234 taps=tap0,tap1 blocks=a:disk digest="
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
     " refused a:web unikernel create: policy: too many"),
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
    assert (rc, out, err) == (0, "", "")
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
    assert "\\x1b[2J\\x07bad\\nline\\u009b" in out
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
