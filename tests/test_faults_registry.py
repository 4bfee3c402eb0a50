"""The registry: a step's common keys, then its kind's; a run's questions sent to the kind."""


import pytest
from fault_helpers import Node

from imload.faults.registry import (
    FAULT_KINDS,
    KINDS,
    FaultContext,
    expand_targets,
    missing_means,
    parse_fault,
    start_fault,
    stop_fault,
)


def test_parse_toxic_and_kill() -> None:
    s = parse_fault({"kind": "latency", "target": "n1", "at_s": 2, "for_s": 3, "latency": 100,
                     "stream": "upstream", "toxicity": 0.5})
    assert (s.kind, s.at_s, s.for_s, s.stream, s.toxicity) == ("latency", 2.0, 3.0,
                                                               "upstream", 0.5)
    assert s.detail() == {"latency": 100, "stream": "upstream", "toxicity": 0.5}
    k = parse_fault({"kind": "kill", "target": "n2", "at_s": 0})
    assert k.for_s is None and k.detail() == {}


@pytest.mark.parametrize("step, words", [
    ({"kind": "latency", "target": "n1", "at_s": 1, "latency": -5}, "integer >= 0"),
    ({"kind": "latency", "target": "n1", "at_s": 1, "latency": 5, "toxicity": 2}, "toxicity"),
    ({"kind": "down", "target": "", "at_s": 1}, "target must name a node"),
    ({"kind": "down", "target": "n1", "at_s": True}, "at_s must be a number"),
    ({"kind": "down", "target": "n1"}, r"down: at_s \(seconds after the load starts\) is req"),
    ({"kind": "down", "target": "n1", "at_s": 0, "for_s": -1}, "for_s must be a number >= 0"),
    ({"kind": "meteor", "target": "n1", "at_s": 0}, "kind must be one of bandwidth, down, "),
])
def test_parse_errors(step: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_fault(step)


def test_missing_means_says_what_is_missing() -> None:
    ctx = FaultContext(nodes={"n1": Node("n1")}, toxiproxy=None)
    kill = parse_fault({"kind": "kill", "target": "n1", "at_s": 0})
    lat = parse_fault({"kind": "latency", "target": "n1", "at_s": 0, "latency": 1})
    other = parse_fault({"kind": "down", "target": "n9", "at_s": 0})
    assert "needs 'kill' and 'restart'" in (missing_means(kill, ctx) or "")
    assert "[toxiproxy] api" in (missing_means(lat, ctx) or "")
    assert "not a node of the target" in (missing_means(other, ctx) or "")
    ctx.nodes["n1"] = Node("n1", kill="true", restart="true")
    assert missing_means(kill, ctx) is None


def test_kill_runs_the_target_commands() -> None:
    ran: list[str] = []
    ctx = FaultContext(nodes={"n1": Node("n1", kill="K", restart="R")}, toxiproxy=None,
                       shell=ran.append)
    spec = parse_fault({"kind": "kill", "target": "n1", "at_s": 0})
    start_fault(spec, "f1", ctx)
    stop_fault(spec, "f1", ctx)
    assert ran == ["K", "R"]


def test_expand_targets_asks_each_kind_and_keeps_time_order() -> None:
    steps = [parse_fault({"kind": "rolling_restart", "target": "*", "at_s": 5, "every_s": 8}),
             parse_fault({"kind": "down", "target": "*", "at_s": 10, "for_s": 1}),
             parse_fault({"kind": "latency", "target": "n2", "at_s": 0, "latency": 5})]
    assert [(s.kind, s.target, s.at_s) for s in expand_targets(steps, ["n1", "n2"])] == [
        ("latency", "n2", 0), ("kill", "n1", 5), ("down", "n1", 10), ("down", "n2", 10),
        ("kill", "n2", 13)]


def test_the_kinds_are_the_registrys() -> None:
    assert FAULT_KINDS == set(KINDS)
