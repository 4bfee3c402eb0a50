"""Toxiproxy's toxics: their keys, what the journal records, their names per stream, and
(against a real toxiproxy-server) a toxic added on the chosen streams and removed."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fault_helpers import Node

from imload.cluster import LocalCluster
from imload.faults.kinds.base import KINDS, FaultContext, FaultError
from imload.faults.kinds.toxic import Toxic, toxic_names
from imload.faults.registry import parse_fault
from imload.faults.toxiproxy import ToxiproxyAPI

TOXICS = sorted(name for name, kind in KINDS.items() if isinstance(kind, Toxic))



def step(kind: str, **keys: object) -> dict[str, object]:
    return {"kind": kind, "target": "n1", "at_s": 0, **keys}


def test_the_toxics_are_toxiproxys_types() -> None:
    assert TOXICS == ["bandwidth", "latency", "limit_data", "reset_peer", "slicer",
                      "slow_close", "timeout"]


@pytest.mark.parametrize("kind", TOXICS)
def test_each_toxic_takes_its_attributes_stream_and_toxicity(kind: str) -> None:
    toxic = KINDS[kind]
    keys = {o.key: 7 for o in toxic.options}
    spec = parse_fault(step(kind, stream="upstream", toxicity=0.25, **keys))
    assert spec.attributes == keys and (spec.stream, spec.toxicity) == ("upstream", 0.25)
    assert spec.detail() == {**keys, "stream": "upstream", "toxicity": 0.25}
    required = sorted(o.key for o in toxic.options if o.required)
    if required:
        with pytest.raises(ValueError, match=f"{kind}: missing {', '.join(required)}"):
            parse_fault(step(kind))


@pytest.mark.parametrize("keys, words", [
    ({"latency": -5}, "latency: latency must be an integer >= 0, got -5"),
    ({"latency": 5, "toxicity": 2}, "latency: toxicity must be a number from 0 to 1"),
    ({"latency": 5, "stream": "sideways"}, "stream must be one of downstream, upstream, both"),
    ({"latency": 5, "every_s": 3}, r"unknown key\(s\) every_s"),
])
def test_bad_toxic_keys_are_named(keys: dict[str, object], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_fault(step("latency", **keys))


def test_a_preset_is_recorded_after_the_stream() -> None:
    spec = replace(parse_fault(step("timeout", timeout=0)), preset="elevator")
    assert list(spec.detail()) == ["timeout", "stream", "toxicity", "preset"]


def test_toxic_names_per_stream() -> None:
    both = parse_fault(step("timeout"))
    assert toxic_names(both, "f1") == [("f1_downstream", "downstream"),
                                       ("f1_upstream", "upstream")]
    up = parse_fault(step("timeout", stream="upstream"))
    assert toxic_names(up, "f1") == [("f1_upstream", "upstream")]


def test_a_toxic_needs_toxiproxy_and_the_nodes_proxy() -> None:
    spec = parse_fault(step("latency", latency=1))
    kind = KINDS["latency"]
    ctx = FaultContext(nodes={}, toxiproxy=None)
    assert kind.missing(spec, Node(proxy="n1"), ctx) == (
        "latency on n1 needs [toxiproxy] api in the target file")
    ctx.toxiproxy = ToxiproxyAPI("http://127.0.0.1:9")
    assert kind.missing(spec, Node(proxy=None), ctx) == (
        "latency on n1 needs the node's 'proxy' in the target file")
    assert kind.missing(spec, Node(proxy="n1"), ctx) is None
    with pytest.raises(FaultError, match="needs the node's 'proxy'"):
        kind.start(spec, "f1", Node(proxy=None), ctx)


@pytest.mark.integration
def test_a_toxic_goes_on_its_streams_and_comes_off(cluster: LocalCluster) -> None:
    api = ToxiproxyAPI(cluster.toxiproxy_api)
    ctx = FaultContext(nodes={}, toxiproxy=api)
    spec = parse_fault(step("latency", latency=100, stream="upstream"))
    KINDS["latency"].start(spec, "f1_latency_n1", Node(proxy="n1"), ctx)
    assert api.toxics("n1") == ["f1_latency_n1_upstream"]
    KINDS["latency"].stop(spec, "f1_latency_n1", Node(proxy="n1"), ctx)
    assert api.toxics("n1") == []
