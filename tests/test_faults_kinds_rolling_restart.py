"""A rolling restart: its keys and their rule, the kills it plans, what it needs, and that
it is never started as a fault of its own."""

from __future__ import annotations

import pytest

from imload.faults.kinds.base import KINDS, FaultContext, FaultError
from imload.faults.registry import expand_targets, parse_fault

ROLLING = KINDS["rolling_restart"]


def step(**keys: object) -> dict[str, object]:
    return {"kind": "rolling_restart", "target": "*", "at_s": 10, **keys}


def test_every_s_defaults_to_ten_and_must_be_at_least_one() -> None:
    assert parse_fault(step()).attributes == {"every_s": 10}
    with pytest.raises(ValueError, match="rolling_restart: every_s must be an integer >= 1"):
        parse_fault(step(every_s=0))


def test_each_node_must_be_back_before_the_next_goes_down() -> None:
    with pytest.raises(ValueError, match="for_s .* must be shorter than every_s"):
        parse_fault(step(every_s=3, for_s=3))
    assert parse_fault(step(every_s=3, for_s=2.5)).for_s == 2.5


def test_it_plans_one_kill_per_node_in_turn() -> None:
    kills = expand_targets([parse_fault(step(every_s=8, for_s=3))], ["n1", "n2", "n3"])
    assert [(k.kind, k.target, k.at_s, k.for_s) for k in kills] == [
        ("kill", "n1", 10, 3), ("kill", "n2", 18, 3), ("kill", "n3", 26, 3)]
    assert {k.preset for k in kills} == {"rolling_restart"}
    one = ROLLING.expand(parse_fault(step(target="n2")), ["n1", "n2"])
    assert [(k.target, k.at_s, k.for_s) for k in one] == [("n2", 10, 5.0)]  # half of every_s


def test_it_needs_what_a_kill_needs_and_is_never_started_itself() -> None:
    class Node:
        name, proxy, kill, restart, pause, resume = "n1", None, None, None, None, None
    spec = parse_fault(step(target="n1"))
    ctx = FaultContext(nodes={"n1": Node()}, toxiproxy=None)
    assert ROLLING.needs == KINDS["kill"].needs
    assert ROLLING.missing(spec, Node(), ctx) == (
        "rolling_restart on n1 needs 'kill' and 'restart' commands in the target file")
    for make in (ROLLING.start, ROLLING.stop):
        with pytest.raises(FaultError, match="is made of kills: plan it with expand_targets"):
            make(spec, "f1", Node(), ctx)
