"""The chaos timeline against a real toxiproxy-server and real node kills."""

from __future__ import annotations

import time
from typing import Any

import pytest

from imload.cluster import LocalCluster
from imload.faults.registry import FaultContext, parse_fault
from imload.faults.timeline import Timeline
from imload.faults.toxiproxy import ToxiproxyAPI

pytestmark = pytest.mark.integration


def context(cluster: LocalCluster) -> FaultContext:
    target = cluster.target()
    return FaultContext(nodes={n.name: n for n in target.nodes},
                        toxiproxy=ToxiproxyAPI(target.toxiproxy_api or ""))


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_toxic_starts_stops_and_is_journalled(cluster: LocalCluster) -> None:
    ctx = context(cluster)
    recorded: list[dict[str, Any]] = []
    spec = parse_fault({"kind": "latency", "target": "n1", "at_s": 0.2, "for_s": 0.6,
                        "latency": 100})
    timeline = Timeline([spec], ctx, recorded.append)
    assert ctx.toxiproxy is not None
    timeline.start(time.monotonic())
    wait_for(lambda: ctx.toxiproxy.toxics("n1"))
    assert ctx.toxiproxy.toxics("n1") == ["f1_latency_n1_downstream", "f1_latency_n1_upstream"]
    wait_for(lambda: len(recorded) == 2)
    assert ctx.toxiproxy.toxics("n1") == []
    assert [(e["action"], e["kind"], e["target"]) for e in recorded] == [
        ("start", "latency", "n1"), ("stop", "latency", "n1")]
    assert recorded[0]["detail"]["latency"] == 100
    assert len(timeline.lateness_s) == 2 and timeline.errors == []
    timeline.heal()


def test_heal_stops_open_faults_and_restarts_killed_nodes(cluster: LocalCluster) -> None:
    ctx = context(cluster)
    recorded: list[dict[str, Any]] = []
    specs = [parse_fault({"kind": "down", "target": "n1", "at_s": 0}),
             parse_fault({"kind": "kill", "target": "n2", "at_s": 0})]
    timeline = Timeline(specs, ctx, recorded.append)
    timeline.start(time.monotonic())
    wait_for(lambda: len(timeline.active) == 2, timeout=30)
    # `kill -s KILL` returns once the signal is sent; the process dies a moment later
    wait_for(lambda: not cluster.status()["n2"]["alive"], timeout=10)
    timeline.heal()
    timeline.heal()  # idempotent
    assert timeline.active == []
    assert cluster.status()["n2"]["alive"]
    assert [e["action"] for e in recorded] == ["start", "start", "stop", "stop"]
    assert timeline.errors == []


def test_a_failing_fault_is_an_error_not_a_crash(cluster: LocalCluster) -> None:
    ctx = context(cluster)
    ctx.nodes = {"n1": type("N", (), {"name": "n1", "proxy": "no-such-proxy", "kill": None,
                                      "restart": None})()}
    spec = parse_fault({"kind": "latency", "target": "n1", "at_s": 0, "latency": 5})
    timeline = Timeline([spec], ctx, lambda e: None)
    timeline.start(time.monotonic())
    wait_for(lambda: timeline.errors)
    timeline.heal()
    assert "to no-such-proxy" in timeline.errors[0] and "proxy not found" in timeline.errors[0]


def test_a_fault_is_stamped_before_it_is_applied(cluster: LocalCluster) -> None:
    """Its window holds the whole effect: a kill command that takes 0.3 s (as an ``ssh``
    does) is journalled at the moment it began, not when it returned."""
    from dataclasses import replace

    n1 = cluster.target().nodes[0]
    slow = replace(n1, kill="sleep 0.3", restart="true")
    ctx = FaultContext(nodes={slow.name: slow}, toxiproxy=None)
    seen: list[tuple[float, dict[str, Any]]] = []
    spec = parse_fault({"kind": "kill", "target": slow.name, "at_s": 0.1, "for_s": 0.1})
    timeline = Timeline([spec], ctx, lambda e: seen.append((time.monotonic(), e)))
    timeline.start(time.monotonic())
    wait_for(lambda: len(seen) == 2)
    timeline.heal()
    (journalled, start), (_, stop) = seen
    assert start["action"] == "start" and stop["action"] == "stop"
    assert journalled - start["at"] >= 0.29  # stamped when the kill began
    assert stop["at"] - start["at"] >= 0.29  # the whole kill lies inside the window
    assert timeline.errors == []
