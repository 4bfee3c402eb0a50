"""The netem kind (imload/faults/kinds/netem.py): its keys, its rules, what it refuses.

Pure: the network is a plain record of what the kind reads (netem, nft, the emulator,
ports, host) and collects the faults it is given; tests/test_faults_netns.py makes the
real one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from imload.faults.kinds.base import FaultContext, FaultError, FaultSpec
from imload.faults.kinds.netem import Netem, shape_of
from imload.faults.netns import NetError
from imload.faults.packet_rules import LinkFault, Shape
from imload.faults.registry import KINDS, parse_fault


@dataclass
class Links:
    netem: bool = False
    nft: bool = True
    emulator: str | None = "iptables on PATH"  # what the userspace emulator lacks
    host_ip: str = "198.18.0.1"
    ports: dict[str, int] = field(default_factory=lambda: {"n1": 7201, "n1.slow": 7301})
    faults: dict[str, LinkFault] = field(default_factory=dict)
    broken: bool = False

    def add(self, fault: LinkFault) -> None:
        if self.broken:
            raise NetError("nft -f - failed (exit 1): Error: Could not process rule")
        self.faults[fault.fault_id] = fault

    def remove(self, fault_id: str) -> None:
        self.faults.pop(fault_id, None)


@dataclass
class Node:
    name: str = "n1"
    proxy: str | None = "n1"
    kill: str | None = None
    restart: str | None = None
    pause: str | None = None
    resume: str | None = None


def spec(**keys: Any) -> FaultSpec:
    return parse_fault({"kind": "netem", "target": "n1", "at_s": 1, **keys})


def ctx(links: Links | None) -> FaultContext:
    return FaultContext(nodes={"n1": Node()}, toxiproxy=None, network=links)  # type: ignore[arg-type]


def test_registered_with_its_keys() -> None:
    assert isinstance(KINDS["netem"], Netem)
    s = spec(loss=10, loss_burst=3, stream="upstream", rate=64)
    assert s.stream == "upstream"
    assert shape_of(s) == Shape(loss=10, loss_burst=3, rate=64)
    assert s.detail() == {"loss": 10.0, "loss_burst": 3.0, "rate": 64, "stream": "upstream"}


@pytest.mark.parametrize(("keys", "says"), [
    ({}, "give at least one of loss"),
    ({"loss": 0}, "give at least one of loss"),
    ({"loss": 120}, "loss must be a number from 0 to 100"),
    ({"jitter": 5}, "jitter needs delay"),
    ({"delay": 5, "distribution": "pareto"}, "distribution needs jitter"),
    ({"reorder": 5}, "reorder needs delay"),
    ({"loss_burst": 3}, "loss_burst needs loss"),
    ({"loss": 60, "loss_burst": 1}, "make loss_burst at least 1.50"),
    ({"delay": 5, "jitter": 1, "distribution": "gauss"}, "distribution must be one of"),
    ({"loss": 5, "stream": "sideways"}, "stream must be one of"),
    ({"loss": 5, "toxicity": 0.5}, "unknown key"),
    ({"rate": 0}, "rate must be an integer >= 1"),
])
def test_bad_keys_are_named(keys: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        spec(**keys)


def test_missing_without_a_local_network() -> None:
    why = Netem().missing(spec(loss=10), Node(), ctx(None))
    assert why is not None and 'needs target = "local"' in why


def test_missing_names_the_kernel_feature_for_netem_only_keys() -> None:
    s = spec(loss=10, delay=100, jitter=10, duplicate=1)
    why = Netem().missing(s, Node(), ctx(Links(netem=False)))
    assert why == ("netem on n1: delay, jitter, duplicate need the kernel's netem qdisc "
                   "(sch_netem, CONFIG_NET_SCH_NETEM), which this kernel does not have, "
                   "or imload's userspace emulator, which needs iptables on PATH; "
                   "loss, loss_burst and rate work without them")
    assert Netem().missing(s, Node(), ctx(Links(netem=True))) is None
    assert Netem().missing(s, Node(), ctx(Links(netem=False, emulator=None))) is None


def test_missing_loss_without_nft_nor_netem() -> None:
    why = Netem().missing(spec(loss=10), Node(), ctx(Links(nft=False)))
    assert why is not None and "CONFIG_NFT_NUMGEN" in why
    assert Netem().missing(spec(rate=64), Node(), ctx(Links(nft=False))) is None


def test_missing_port() -> None:
    why = Netem().missing(parse_fault({"kind": "netem", "target": "n9", "at_s": 0,
                                       "loss": 1}), Node(), ctx(Links()))
    assert why == "netem on n9: no port of its proxy is known"


def test_start_and_stop_put_the_fault_on_the_link() -> None:
    links = Links()
    s = parse_fault({"kind": "netem", "target": "n1.slow", "at_s": 0, "loss": 10,
                     "stream": "downstream"})
    Netem().start(s, "f1_netem_n1.slow", Node(), ctx(links))
    assert links.faults == {"f1_netem_n1.slow": LinkFault(
        "f1_netem_n1.slow", "198.18.0.1", 7301, "downstream", Shape(loss=10))}
    Netem().stop(s, "f1_netem_n1.slow", Node(), ctx(links))
    assert links.faults == {}


def test_start_errors_are_fault_errors() -> None:
    with pytest.raises(FaultError, match="Could not process rule"):
        Netem().start(spec(loss=10), "f1", Node(), ctx(Links(broken=True)))
    with pytest.raises(FaultError, match="CONFIG_NET_SCH_NETEM"):
        Netem().start(spec(delay=10), "f1", Node(), ctx(Links()))
