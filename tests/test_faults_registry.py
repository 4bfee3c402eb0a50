from dataclasses import dataclass

import pytest

from imload.faults.registry import (
    FaultContext,
    missing_means,
    parse_fault,
    start_fault,
    stop_fault,
    toxic_names,
)


@dataclass
class Node:
    name: str
    proxy: str | None = None
    kill: str | None = None
    restart: str | None = None


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


def test_toxic_names_per_stream() -> None:
    spec = parse_fault({"kind": "timeout", "target": "n1", "at_s": 0})
    assert toxic_names(spec, "f1") == [("f1_downstream", "downstream"), ("f1_upstream", "upstream")]


def test_rolling_restart_kills_each_node_in_turn() -> None:
    from imload.faults.registry import expand_targets
    spec = parse_fault({"kind": "rolling_restart", "target": "*", "at_s": 10, "every_s": 8,
                        "for_s": 3})
    kills = expand_targets([spec], ["n1", "n2", "n3"])
    assert [(k.kind, k.target, k.at_s, k.for_s) for k in kills] == [
        ("kill", "n1", 10, 3), ("kill", "n2", 18, 3), ("kill", "n3", 26, 3)]
    assert {k.preset for k in kills} == {"rolling_restart"}
    with pytest.raises(ValueError, match="shorter than every_s"):
        parse_fault({"kind": "rolling_restart", "target": "*", "at_s": 0, "every_s": 3,
                     "for_s": 3})
