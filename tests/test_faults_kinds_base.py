"""What every fault kind is made of: options that name the wrong key, the registry that
refuses a second kind of one name or a kind without its doc lines, the common parse."""

from __future__ import annotations

import pkgutil
from typing import Any

import pytest
from fault_helpers import Node

from imload.faults import kinds
from imload.faults.kinds.base import (
    KINDS,
    NUMBER,
    STRING,
    FaultContext,
    FaultError,
    FaultKind,
    FaultSpec,
    NodeMeans,
    Option,
    proxy_of,
    register,
)


class Probe(FaultKind):
    """A kind for these tests only (never registered)."""

    name = "probe"
    does = "nothing"
    needs = "nothing"
    options = (Option("size", "bytes", required=True), Option("share", "0 to 1", type=NUMBER,
                                                              maximum=1, default=0.5),
               Option("side", "left or right", type=STRING, choices=("left", "right"),
                      default="left", spec_field="stream"))

    def missing(self, spec: FaultSpec, node: NodeMeans, ctx: FaultContext) -> str | None:
        return None

    def start(self, spec: FaultSpec, fault_id: str, node: NodeMeans, ctx: FaultContext) -> None:
        pass

    def stop(self, spec: FaultSpec, fault_id: str, node: NodeMeans, ctx: FaultContext) -> None:
        pass


SPEC = FaultSpec(kind="probe", target="n1", at_s=1.0)


@pytest.mark.parametrize("option, value, words", [
    (Option("n", ""), -1, "probe: n must be an integer >= 0, got -1"),
    (Option("n", ""), 1.5, "probe: n must be an integer >= 0, got 1.5"),
    (Option("n", ""), True, "probe: n must be an integer >= 0, got True"),
    (Option("n", "", minimum=1), 0, "probe: n must be an integer >= 1, got 0"),
    (Option("x", "", type=NUMBER), "1", "probe: x must be a number >= 0, got '1'"),
    (Option("x", "", type=NUMBER, maximum=1), 1.5, "probe: x must be a number from 0 to 1"),
    (Option("s", "", type=STRING, choices=("a", "b")), "c", "probe: s must be one of a, b"),
])
def test_an_option_names_the_kind_and_the_key(option: Option, value: Any, words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        option.read("probe", {option.key: value})


def test_an_option_reads_its_value_its_default_or_nothing() -> None:
    assert Option("n", "").read("probe", {"n": 3}) == 3
    assert Option("n", "").read("probe", {}) is None
    assert Option("n", "", default=10).read("probe", {}) == 10
    assert Option("x", "", type=NUMBER).read("probe", {"x": 2}) == 2.0


def test_parse_takes_the_kinds_keys_into_attributes_and_spec_fields() -> None:
    spec = Probe().parse({"kind": "probe", "target": "n1", "at_s": 1, "size": 4,
                          "side": "right"}, SPEC)
    assert spec.attributes == {"size": 4, "share": 0.5} and spec.stream == "right"
    assert spec.at_s == 1.0 and spec.target == "n1"


def test_parse_refuses_unknown_and_missing_keys() -> None:
    with pytest.raises(ValueError, match=r"probe: unknown key\(s\) colour; known: at_s, for_s, "
                                         "kind, share, side, size, target"):
        Probe().parse({"size": 1, "colour": "red"}, SPEC)
    with pytest.raises(ValueError, match="probe: missing size"):
        Probe().parse({}, SPEC)


def test_the_default_expand_makes_one_fault_per_node_for_a_star() -> None:
    star = FaultSpec(kind="probe", target="*", at_s=0)
    assert [s.target for s in Probe().expand(star, ["n1", "n2"])] == ["n1", "n2"]
    assert Probe().expand(SPEC, ["n1", "n2"]) == [SPEC]


def test_register_refuses_a_second_kind_of_one_name_and_a_kind_without_doc_lines() -> None:
    before = dict(KINDS)

    class Latency(Probe):
        name = "latency"
    with pytest.raises(ValueError, match="'latency' is registered twice: Latency and Latency"):
        register(Latency)

    class Undocumented(Probe):
        name = "undocumented"
        does = ""
    with pytest.raises(ValueError, match="Undocumented has no does"):
        register(Undocumented)

    class Random(Probe):
        name = "random"
        nemesis = {"share": 1}
    with pytest.raises(ValueError, match=r"'random': nemesis must give every required key "
                                         r"\(size\) and no other than its attributes"):
        register(Random)
    Random.nemesis = {"size": 1, "colour": 2}
    with pytest.raises(ValueError, match="no other than its attributes"):
        register(Random)
    assert KINDS == before


def test_every_module_of_the_package_registers_its_kinds() -> None:
    modules = {m.name for m in pkgutil.iter_modules(kinds.__path__)} - {"base"}
    assert {type(k).__module__.rsplit(".", 1)[1] for k in KINDS.values()} == modules
    assert all(k.name == name for name, k in KINDS.items())


def test_detail_is_the_kinds() -> None:
    kill = FaultSpec(kind="kill", target="n1", at_s=0, preset="nemesis")
    assert kill.detail() == {"preset": "nemesis"}


def test_proxy_of_refuses_a_target_without_the_means() -> None:
    ctx = FaultContext(nodes={"n1": Node()}, toxiproxy=None)
    spec = FaultSpec(kind="down", target="n1", at_s=0)
    with pytest.raises(FaultError, match=r"down on n1 needs \[toxiproxy\] api"):
        proxy_of(spec, Node(), ctx)
