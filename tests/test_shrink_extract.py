"""A run's journal as a trace: first attempts only, names without the run id, late and
away devices as offline spells."""

from __future__ import annotations

from typing import Any

import pytest

from imload.shrink.candidate import Candidate
from imload.shrink.extract import (
    BODY_SIZE,
    ExtractError,
    run_prefix,
    strip_args,
    strip_conv,
    trace_lines,
)

RUN = "r1a2b3c4d5"


def ev(name: str, at: float, user: str = "u0", device: str = "d0", **more: Any) -> dict:
    return {"ev": name, "at": at, "user": RUN + user, "device": device, **more}


def journal() -> list[dict[str, Any]]:
    dm = f"d:{RUN}u0:{RUN}u1"
    return [
        {"ev": "phase", "at": 99.0, "phase": "load", "action": "start"},
        ev("device", 100.0), ev("connected", 100.1),
        ev("device", 100.0, "u1"), ev("connected", 100.05, "u1"),
        ev("device", 101.0, "u1", "d1"), ev("connected", 102.5, "u1", "d1"),
        ev("op", 100.2, kind="group_create", opid="o1", attempt=1,
           args={"conv": f"g:{RUN}g0", "members": [RUN + "u1"]}),
        ev("op", 100.9, kind="group_create", opid="o1", attempt=2,
           args={"conv": f"g:{RUN}g0", "members": [RUN + "u1"]}),
        ev("send", 101.0, cmid="c1", conv=dm, attempt=1),
        ev("send", 104.0, cmid="c1", conv=dm, attempt=2),  # a retry: not a line
        ev("disconnected", 103.0, "u1", reason="network down"),
        ev("disconnected", 103.5, "u0", reason="closed by server 1012"),  # a fault's: not
        ev("connect", 106.0, "u1", url="ws://n1", attempt=1),
        ev("read", 106.5, "u1", conv=dm, upto=1),
    ]


def test_a_journal_becomes_the_trace_a_replay_plays() -> None:
    lines = trace_lines(reversed(journal()))  # any order: sorted by time
    assert lines == [
        {"t": 0.0, "user": "u1", "device": "d1", "action": "offline"},
        {"t": 0.2, "user": "u0", "device": "d0", "action": "op", "kind": "group_create",
         "args": {"conv": "g:g0", "members": ["u1"]}},
        {"t": 1.0, "user": "u0", "device": "d0", "action": "send", "conv": "d:u0:u1",
         "size": BODY_SIZE},
        {"t": 2.5, "user": "u1", "device": "d1", "action": "online"},
        {"t": 3.0, "user": "u1", "device": "d0", "action": "offline"},
        {"t": 6.0, "user": "u1", "device": "d0", "action": "online"},
        {"t": 6.5, "user": "u1", "device": "d0", "action": "read", "conv": "d:u0:u1"},
    ]
    assert Candidate(tuple(lines)).counts() == {"devices": 3, "messages": 1, "ops": 1,
                                                "reads": 1, "faults": 0}


def test_the_run_id_is_the_users_common_hex_prefix() -> None:
    assert run_prefix([RUN + "u0", RUN + "u12"]) == RUN
    assert run_prefix([RUN + "u7"]) == RUN
    # a name that starts with hex digits keeps at least one of them
    assert run_prefix(["r1fab", "r1fab"]) == "r1fa"
    assert run_prefix(["alice", "bob"]) == ""
    assert run_prefix([]) == ""
    assert strip_conv(RUN, f"g:{RUN}g3") == "g:g3"
    assert strip_conv(RUN, "x:odd") == "x:odd"
    assert strip_args(RUN, {"user": RUN + "u4", "pinned": True}) == {"user": "u4",
                                                                      "pinned": True}


@pytest.mark.parametrize(("events", "why"), [
    ([], "no devices"),
    ([ev("device", 1.0), ev("connected", 1.1)], "no sends"),
])
def test_a_journal_without_load_is_a_clear_error(events: list[dict], why: str) -> None:
    with pytest.raises(ExtractError, match=why):
        trace_lines(events)
