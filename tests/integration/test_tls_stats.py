"""`stats subscribe` in a leaf certificate, through petrel-tls to
petrel-stats (issue 12): the subscription is answered, and the records of
every round stream through the endpoint as they stream locally."""

import time

import pytest

import tlshelpers as T
import pthelpers as H
from test_stats import stats_factory  # noqa: F401 (a fixture)
from test_tls import tls_factory, pol  # noqa: F401 (a fixture)


def test_stats_subscribe_through_tls(tls_factory, stats_factory, images,
                                     tender):
    tender.need_scripted()
    td = tls_factory()
    pd, pki = td.pd, td.pki
    sd = stats_factory(pd)
    sd.wait_linked()
    team = pki.ca("team", pki.root, policy=pol())
    pd.ok("add-policy", "team:", "--unikernels", "4", "--mem", "1024",
          "--cpu", "0", "--cpu", "1", "--bridge", "br0")
    pd.ok("create", "team:web", images.path("hvt", nets=["service"]),
          "--mem", "32", "--net", "service:br0", "--arg", "echo")
    pd.wait_tender("team:web")
    # WireCommand [1] stats, [2] subscribe
    leaf = pki.leaf("web", team, H.der_ctx(1, H.der_ctx(2, H.der_null())))
    c = td.client(leaf)
    try:
        first = c.frame()
        assert first is not None, "no reply"
        assert T.success_string(first) == "subscribed", first
        records = 0
        deadline = time.monotonic() + 20
        while records < 2 and time.monotonic() < deadline:
            f = c.frame()
            assert f is not None, "the stream ended"
            if T.decode(f)[2] == 0xA3:   # data: a stats record
                records += 1
        assert records >= 2, "fewer than two rounds came through"
    finally:
        c.close()
    pd.ok("destroy", "team:web")
