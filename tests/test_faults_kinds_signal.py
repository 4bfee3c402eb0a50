"""Signals: kill and pause run the target file's commands at the start and at the stop;
what they need from it; and (against a real node) a pause that stops the process until
the resume."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fault_helpers import Node

from imload.cluster import LocalCluster
from imload.faults.kinds.base import KINDS, FaultContext, FaultError, FaultSpec
from imload.faults.registry import parse_fault, run_shell


def spec(kind: str, target: str = "n1") -> FaultSpec:
    return parse_fault({"kind": kind, "target": target, "at_s": 0})


def test_the_docs_line_names_the_commands_missing_asks_for() -> None:
    assert KINDS["kill"].needs == "node `kill`, `restart`"
    assert KINDS["pause"].needs == "node `pause`, `resume`"


@pytest.mark.parametrize("kind, first, second", [("kill", "kill", "restart"),
                                                 ("pause", "pause", "resume")])
def test_each_signal_runs_its_two_commands(kind: str, first: str, second: str) -> None:
    ran: list[str] = []
    node = Node(**{first: "A", second: "B"})
    ctx = FaultContext(nodes={"n1": node}, toxiproxy=None, shell=ran.append)
    s = spec(kind)
    assert KINDS[kind].missing(s, node, ctx) is None
    KINDS[kind].start(s, "f1", node, ctx)
    KINDS[kind].stop(s, "f1", node, ctx)
    assert ran == ["A", "B"]


def test_a_signal_without_its_commands_says_which_and_does_not_run() -> None:
    ctx = FaultContext(nodes={}, toxiproxy=None, shell=lambda c: pytest.fail(c))
    s = spec("kill", "store")
    node = Node(name="store", kill="K")
    assert KINDS["kill"].missing(s, node, ctx) == (
        "kill on store needs 'kill' and 'restart' commands in the target file")
    with pytest.raises(FaultError, match="needs 'kill' and 'restart'"):
        KINDS["kill"].stop(s, "f1", node, ctx)
    assert spec("kill").detail() == {}


def test_a_failing_command_is_a_fault_error() -> None:
    with pytest.raises(FaultError, match=r"command failed \(exit 3\): echo no >&2; exit 3: no"):
        run_shell("echo no >&2; exit 3")


def state(pid: int) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("State:"):
            return line.split()[1]
    return "?"


def wait_for_state(pid: int, want: set[str], timeout_s: float = 10.0) -> str:
    deadline = time.monotonic() + timeout_s
    while (now := state(pid)) not in want and time.monotonic() < deadline:
        time.sleep(0.02)
    return now


@pytest.mark.integration
def test_pause_stops_the_node_until_the_resume(cluster: LocalCluster) -> None:
    node = cluster.target().node("n1")
    ctx = FaultContext(nodes={"n1": node}, toxiproxy=None)
    pid = cluster.status()["n1"]["pid"]
    s = spec("pause")
    KINDS["pause"].start(s, "f1_pause_n1", node, ctx)
    assert wait_for_state(pid, {"T"}) == "T"
    KINDS["pause"].stop(s, "f1_pause_n1", node, ctx)
    assert wait_for_state(pid, {"S", "R"}) in {"S", "R"}
