"""A candidate's reductions, its rebasing (lines and faults together) and its scenario."""

from __future__ import annotations

import math
from typing import Any

from imload.shrink.candidate import LEAD_S, TAIL_S, Candidate, scenario_table


def line(t: float, user: str, device: str, action: str, **more: Any) -> dict[str, Any]:
    return {"t": t, "user": user, "device": device, "action": action, **more}


LINES = (
    line(0.0, "u1", "d1", "offline"),
    line(4.0, "u0", "d0", "op", kind="group_create", args={"conv": "g:g0", "members": ["u1"]}),
    line(5.0, "u0", "d0", "send", conv="d:u0:u1", size=32),
    line(6.0, "u1", "d1", "online"),
    line(7.0, "u1", "d0", "send", conv="g:g0", size=32),
    line(12.0, "u1", "d0", "read", conv="d:u0:u1"),
)
FAULTS = ({"kind": "latency", "target": "n1", "at_s": 2, "for_s": 4, "latency": 100},
          {"kind": "kill", "target": "n2", "at_s": 1, "for_s": 1},
          {"kind": "pause", "target": "n1", "at_s": 9})
C = Candidate(LINES, FAULTS)


def test_the_parts_of_each_pass() -> None:
    assert C.people() == ["u1", "u0"]
    assert C.devices() == [("u1", "d1"), ("u0", "d0"), ("u1", "d0")]
    assert C.convs() == ["g:g0", "d:u0:u1"]
    assert C.acts() == [1, 2, 4, 5]
    # windows of as many acts each, from the first act on; the last one open
    assert C.windows(2) == [(4.0, 7.0), (7.0, float("inf"))]
    assert C.windows(8) == [(4.0, 5.0), (5.0, 7.0), (7.0, 12.0), (12.0, float("inf"))]
    assert Candidate((LINES[0],)).windows() == []
    assert C.counts() == {"devices": 3, "messages": 2, "ops": 1, "reads": 1, "faults": 3}


def test_the_reductions_keep_device_state_lines_as_long_as_the_device() -> None:
    assert C.keep_people(["u0"]).lines == LINES[1:3]
    assert C.keep_devices([("u1", "d1")]).lines == (LINES[0], LINES[3])
    assert C.keep_convs(["d:u0:u1"]).lines == (LINES[0], LINES[2], LINES[3], LINES[5])
    # a window keeps the acts in it; offline / online stay
    assert C.keep_windows([(6.5, 8.0)]).lines == (LINES[0], LINES[3], LINES[4])
    assert C.keep_acts([2]).lines == (LINES[0], LINES[2], LINES[3])
    assert C.keep_faults([]).faults == () and C.keep_faults([]).lines == LINES


def test_rebasing_moves_lines_and_faults_together() -> None:
    r = C.keep_acts([2, 4]).rebased()  # first act at 5.0: shift by 4.0
    assert [x["t"] for x in r.lines] == [0.0, LEAD_S, 2.0, 3.0]
    assert r.faults == ({"kind": "latency", "target": "n1", "at_s": 0.0, "for_s": 2.0,
                         "latency": 100},   # 2..6 is now 0..2; the kill (1..2) is over
                        {"kind": "pause", "target": "n1", "at_s": 5.0})
    assert r.duration_s() == 6.0  # the pause at 5 s, plus the tail, whole seconds
    # an away spell over before the first kept act leaves no lines
    late = C.keep_acts([4]).rebased()  # shift by 6.0: u1/d1's spell (0..6) ends at 0
    assert [(x["t"], x["action"]) for x in late.lines] == [(LEAD_S, "send")]
    early = Candidate((line(0.5, "u0", "d0", "send", conv="d:u0:u1"),))
    assert early.rebased() == early  # never later
    # a device state line long after the last act comes LEAD_S after it
    tail = C.keep_acts([1]).rebased()  # the op at 4.0 -> 1.0; u1/d1 back at 6.0 -> 2.0
    assert [(x["t"], x["action"]) for x in tail.lines] == [(0.0, "offline"), (LEAD_S, "op"),
                                                           (2 * LEAD_S, "online")]


def test_the_scenario_replays_the_trace_with_every_device_at_once() -> None:
    raw = {"name": "drill", "target": "local", "seed": 7, "cluster": {"bug": "lose-offline"},
           "load": {"users": 100, "spawn_rate": 3, "duration_s": 60, "population": 50,
                    "msg_interval_s": 1.0, "mix": "churn", "expect_workers": 2},
           "chaos": [dict(f) for f in FAULTS], "metrics": {"prometheus": ":0"},
           "capacity": {"steps": [10]}}
    c = C.keep_faults([FAULTS[0]])
    table = scenario_table(raw, c, "t.jsonl", "drill-try")
    assert table["name"] == "drill-try" and table["cluster"] == {"bug": "lose-offline"}
    assert table["load"] == {"users": 3, "spawn_rate": 3, "duration_s": math.ceil(12 + TAIL_S),
                             "trace": "t.jsonl", "time_scale": 1.0, "mix": "churn"}
    assert table["chaos"] == [FAULTS[0]]
    assert "metrics" not in table and "capacity" not in table
    assert "chaos" not in scenario_table(raw, c.keep_faults([]), "t.jsonl", "x")


def test_the_trace_file_has_a_header_then_lines_by_time() -> None:
    head, *rest = C.trace_lines({"source": "x"})
    assert head == {"trace": "imload", "version": 1, "duration_s": 12.0, "devices": 3,
                    "source": "x"}
    assert [x["t"] for x in rest] == sorted(x["t"] for x in LINES)
