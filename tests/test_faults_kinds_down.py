"""Proxy down: what it needs, and (against a real toxiproxy-server and node) the node's
proxy refusing connections until the stop."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest
from fault_helpers import Node

from imload.cluster import LocalCluster
from imload.faults.kinds.base import KINDS, FaultContext
from imload.faults.registry import parse_fault
from imload.faults.toxiproxy import ToxiproxyAPI

DOWN = KINDS["down"]



def test_down_takes_no_keys_and_records_nothing() -> None:
    spec = parse_fault({"kind": "down", "target": "*", "at_s": 30, "for_s": 1})
    assert spec.attributes == {} and spec.detail() == {}
    with pytest.raises(ValueError, match=r"down: unknown key\(s\) stream"):
        parse_fault({"kind": "down", "target": "n1", "at_s": 0, "stream": "both"})


def test_down_needs_toxiproxy_and_the_nodes_proxy() -> None:
    spec = parse_fault({"kind": "down", "target": "n1", "at_s": 0})
    ctx = FaultContext(nodes={}, toxiproxy=None)
    assert "needs [toxiproxy] api" in (DOWN.missing(spec, Node(proxy="n1"), ctx) or "")
    ctx.toxiproxy = ToxiproxyAPI("http://127.0.0.1:9")
    assert "needs the node's 'proxy'" in (DOWN.missing(spec, Node(proxy=None), ctx) or "")
    assert DOWN.missing(spec, Node(proxy="n1"), ctx) is None


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.mark.integration
def test_the_proxy_refuses_connections_until_the_stop(cluster: LocalCluster) -> None:
    ctx = FaultContext(nodes={}, toxiproxy=ToxiproxyAPI(cluster.toxiproxy_api))
    port = urlsplit(cluster.target().node("n1").url).port
    assert port is not None and not refused(port)
    spec = parse_fault({"kind": "down", "target": "n1", "at_s": 0})
    DOWN.start(spec, "f1_down_n1", Node(proxy="n1"), ctx)
    assert refused(port)
    DOWN.stop(spec, "f1_down_n1", Node(proxy="n1"), ctx)
    assert not refused(port)
