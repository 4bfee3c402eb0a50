"""One timeline across machines (imload/journal/timeline.py): hand-made journal files."""

from __future__ import annotations

from typing import Any

import pytest

from imload.check import check
from imload.journal import event_problem
from imload.journal.timeline import align, describe

HOURS = 36000.0  # the worker's monotonic clock is 10 hours ahead of the master's


def clock(at: float, source: str, wall: float, host: str = "h", **more: Any) -> dict[str, Any]:
    return {"ev": "clock", "at": at, "source": source, "wall": wall, "host": host, **more}


def offset(at: float, source: str, offset_s: float, rtt_s: float) -> dict[str, Any]:
    return {"ev": "clock_offset", "at": at, "source": source, "offset_s": offset_s,
            "rtt_s": rtt_s}


def phase(at: float, action: str) -> dict[str, Any]:
    return {"ev": "phase", "at": at, "phase": "load", "action": action}


def master(*estimates: dict[str, Any], host: str = "m") -> list[dict[str, Any]]:
    return [clock(100.0, "m-1", 5000.0, host=host, role="master"), *estimates]


def test_the_events_are_well_formed() -> None:
    assert event_problem(clock(1.0, "h-1", 2.0, role="master")) is None
    assert event_problem(offset(1.0, "h-2", 3.5, 0.001)) is None
    assert event_problem({"ev": "clock", "at": 1.0, "source": "h-1", "host": "h"}) is not None


def test_two_sources_hours_apart_are_put_on_the_masters_clock() -> None:
    run = [phase(99.0, "start"), phase(130.0, "end")]  # no clock event: the master's clock
    ref = master(offset(101.0, "w-7", HOURS + 0.25, 0.002))
    worker = [clock(HOURS + 100.5, "w-7", 5000.5, host="w"),
              {"ev": "device", "at": HOURS + 100.6, "user": "u", "device": "d"}]
    summary = align([run, ref, worker])
    assert summary["method"] == "measured" and summary["reference"] == "m-1"
    assert summary["sources"] == 2 and summary["bound_s"] == 0.001
    (w,) = summary["aligned"]
    assert w["source"] == "w-7" and w["host"] == "w" and w["offset_s"] == HOURS + 0.25
    assert w["events"] == 2 and w["estimates"] == 1
    assert worker[1]["at"] == pytest.approx(100.35)  # 100.6 on the worker is 100.35 here
    assert [e["at"] for e in run] == [99.0, 130.0]  # the reference is not moved
    assert [e["at"] for e in ref] == [100.0, 101.0]
    assert describe(summary) == ("clocks: 2 put on the master's, within ±1 ms (measured)",
                                 True)


def test_the_estimate_of_least_rtt_is_used_the_first_on_a_tie() -> None:
    ref = master(offset(101.0, "w-1", 50.0, 0.040), offset(106.0, "w-1", 50.3, 0.004),
                 offset(111.0, "w-1", 50.1, 0.010), offset(116.0, "w-1", 50.2, 0.004))
    worker = [clock(150.0, "w-1", 5000.0, host="w"),
              {"ev": "device", "at": 160.0, "user": "u", "device": "d"}]
    summary = align([ref, worker])
    (w,) = summary["aligned"]
    assert w["offset_s"] == 50.3 and w["rtt_s"] == 0.004 and w["bound_s"] == 0.002
    assert w["estimates"] == 4 and w["spread_s"] == pytest.approx(0.3)
    assert worker[1]["at"] == pytest.approx(109.7)


def test_without_an_estimate_the_wall_clocks_relate_the_anchors() -> None:
    # the worker's anchor: monotonic 36_100 at wall 5_000.5; the master's: 100 at 5_000.0
    # -> the worker's clock reads 36_000 - 0.5 s more than the master's at one instant
    ref = master()
    worker = [clock(HOURS + 100.0, "w-2", 5000.5, host="w"),
              {"ev": "device", "at": HOURS + 101.0, "user": "u", "device": "d"}]
    summary = align([ref, worker])
    assert summary["method"] == "wall" and summary["bound_s"] is None
    (w,) = summary["aligned"]
    assert w["method"] == "wall" and w["offset_s"] == HOURS - 0.5 and w["bound_s"] is None
    assert worker[1]["at"] == pytest.approx(101.5)
    text, sound = describe(summary) or ("", True)
    assert "wall clocks" in text and "bound unknown" in text and not sound


def test_a_measured_source_and_a_wall_one_make_the_run_wall() -> None:
    ref = master(offset(101.0, "w-1", 10.0, 0.002))
    a = [clock(111.0, "w-1", 5001.0, host="a"), {"ev": "x", "at": 112.0}]
    b = [clock(20.0, "w-2", 5001.0, host="b"), {"ev": "x", "at": 21.0}]
    summary = align([ref, a, b])
    assert summary["method"] == "wall" and summary["bound_s"] is None
    assert {w["source"]: w["method"] for w in summary["aligned"]} == {"w-1": "measured",
                                                                       "w-2": "wall"}
    assert a[1]["at"] == pytest.approx(102.0) and b[1]["at"] == pytest.approx(102.0)


def test_one_source_is_left_as_it_is() -> None:
    run = [phase(99.0, "start")]
    local = [clock(100.0, "h-1", 5000.0), {"ev": "device", "at": 101.0, "user": "u",
                                          "device": "d"}]
    summary = align([run, local])
    assert summary == {"sources": 1, "reference": None, "method": "single", "bound_s": 0.0,
                       "aligned": []}
    assert [e["at"] for e in run + local] == [99.0, 100.0, 101.0]
    assert describe(summary) is None
    # a journal from before clock anchors: nothing to say either
    old = [{"ev": "device", "at": 3.0, "user": "u", "device": "d"}]
    assert align([old])["method"] == "single" and old[0]["at"] == 3.0


def test_a_file_without_a_clock_event_is_on_the_reference() -> None:
    run = [phase(99.0, "start"), {"ev": "fault", "at": 103.0}]
    shape = [{"ev": "phase", "at": 104.0, "phase": "step:1:10", "action": "start"}]
    ref = master(offset(101.0, "w-1", -7200.0, 0.001))
    worker = [clock(-7100.0, "w-1", 5000.0, host="w"), {"ev": "x", "at": -7090.0}]
    summary = align([run, shape, ref, worker])
    assert [e["at"] for e in run + shape] == [99.0, 103.0, 104.0]
    assert worker[1]["at"] == pytest.approx(110.0)
    assert summary["sources"] == 2 and summary["method"] == "measured"


def test_a_worker_on_the_masters_clock_is_not_moved() -> None:
    """On one machine (``--processes``) the estimate is within its bound of zero: 0."""
    ref = master(offset(101.0, "m-2", 0.00004, 0.0003), host="same")
    worker = [clock(100.5, "m-2", 5000.5, host="same"), {"ev": "x", "at": 100.6}]
    summary = align([ref, worker])
    (w,) = summary["aligned"]
    assert w["offset_s"] == 0.0 and w["method"] == "measured" and w["bound_s"] == 0.00015
    assert worker[1]["at"] == 100.6
    # on another host the same estimate is applied
    worker = [clock(100.5, "m-2", 5000.5, host="other"), {"ev": "x", "at": 100.6}]
    align([master(offset(101.0, "m-2", 0.00004, 0.0003), host="same"), worker])
    assert worker[1]["at"] == pytest.approx(100.6 - 0.00004)


def test_sources_that_nothing_relates_are_left_and_said_so() -> None:
    a = [clock(100.0, "a-1", 5000.0, host="a"), {"ev": "x", "at": 101.0}]
    b = [clock(9.0, "b-1", 5000.0, host="b"), {"ev": "x", "at": 10.0}]
    summary = align([a, b])
    assert summary["method"] == "none" and summary["bound_s"] is None
    assert summary["reference"] is None and summary["sources"] == 2
    assert [e["at"] for e in a + b] == [100.0, 101.0, 9.0, 10.0]
    text, sound = describe(summary) or ("", True)
    assert "NOT" in text and not sound


def test_events_follow_the_latest_clock_event_of_their_file() -> None:
    ref = master(offset(101.0, "w-1", 10.0, 0.002), offset(102.0, "w-2", 20.0, 0.002))
    mixed = [{"ev": "x", "at": 111.0},  # before the first anchor: the file's first source
             clock(111.5, "w-1", 5000.0, host="w"), {"ev": "x", "at": 112.0},
             clock(121.0, "w-2", 5000.0, host="w"), {"ev": "x", "at": 122.0}]
    align([ref, mixed])
    assert [e["at"] for e in mixed] == pytest.approx([101.0, 101.5, 102.0, 101.0, 102.0])


def test_malformed_clock_events_are_ignored() -> None:
    ref = master(offset(101.0, "w-1", "ten", 0.001),  # type: ignore[arg-type]
                 offset(102.0, "w-1", 10.0, -1.0), {"ev": "clock_offset", "at": 103.0})
    worker = [clock(110.0, "w-1", 5000.0, host="w"), {"ev": "x", "at": 111.0}]
    summary = align([ref, worker])
    assert summary["aligned"][0]["method"] == "wall"  # no usable estimate


def test_aligned_events_give_the_checker_sane_latencies() -> None:
    """Alice sends on the master's host, bob (a worker 10 h ahead) receives 50 ms later."""
    def dev(ev: str, at: float, user: str, **more: Any) -> dict[str, Any]:
        return {"ev": ev, "at": at, "user": user, "device": "d0", **more}

    msg = {"conv": "d:alice:bob", "cmid": "c1", "digest": None}
    alice = [clock(100.0, "a-1", 5000.0, host="m"),
             dev("device", 100.0, "alice"), dev("connected", 100.1, "alice", session=1,
                                                   node="n1", inbox_seq=0, acked=0),
             dev("send", 101.0, "alice", session=1, attempt=1, ts=None, seen_seq=0, **msg),
             dev("send_ok", 101.01, "alice", session=1, mid="m1", seq=1, dup=False,
                 cmid="c1", conv="d:alice:bob"),
             offset(101.5, "b-1", HOURS, 0.001)]
    bob = [clock(HOURS + 100.0, "b-1", 5000.0, host="w"),
           dev("device", HOURS + 100.0, "bob"),
           dev("connected", HOURS + 100.1, "bob", session=1, node="n1", inbox_seq=0, acked=0),
           dev("deliver", HOURS + 101.05, "bob", session=1, mid="m1", seq=1, useq=1,
               **{"from": "alice"}, from_device="d0", via="push", phase="load", **msg)]
    raw = check(sorted(alice + bob, key=lambda e: e["at"]))
    assert raw["latency_ms"]["e2e"]["max"] > 3_000_000  # ten hours (clamped to one)
    summary = align([alice, bob])
    verdict = check(sorted(alice + bob, key=lambda e: e["at"]), timeline=summary)
    assert verdict["latency_ms"]["e2e"]["max"] == pytest.approx(50.0, abs=1.0)
    assert verdict["journal"]["timeline"] == summary
    assert "timeline" not in raw["journal"]
