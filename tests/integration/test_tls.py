"""petrel-tls, the remote endpoint (albatross-wire.md §9, docs/tls.md):
petreld (and petrel-console) in a private directory and network namespace,
petrel-tls in front of them, Python's ssl module as the client sending
certificate chains made by tlshelpers.PKI.

The delegation tests check that a refused chain leaves petreld's state as
it was (policies, unikernels, files)."""

import datetime
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
    """The event log as lines (petrel log --json), only the given kinds."""
    j = pd.jok("log", ":")
    evs = j.get("events", j)
    return [e for e in evs if not kinds or e.get("event") in kinds]


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
