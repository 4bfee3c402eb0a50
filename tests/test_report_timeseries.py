"""The per-second series, from hand-made journals with known answers."""

from __future__ import annotations

import json
from typing import Any

from imload.journal import event
from imload.report.timeseries import back_curve, build_series, percentile


def dev(user: str, device: str = "d0") -> dict[str, str]:
    return {"user": user, "device": device}


def send(at: float, user: str, cmid: str, attempt: int = 1) -> dict[str, Any]:
    return event("send", at, **dev(user), session=1, cmid=cmid, conv="c", digest="x",
                 attempt=attempt, ts=0)


def ok(at: float, user: str, cmid: str, mid: str, dup: bool = False) -> dict[str, Any]:
    return event("send_ok", at, **dev(user), session=1, cmid=cmid, conv="c", mid=mid, seq=1,
                 dup=dup)


def deliver(at: float, user: str, mid: str, frm: str, cmid: str) -> dict[str, Any]:
    return event("deliver", at, **dev(user), session=1, mid=mid, conv="c", seq=1, useq=1,
                 **{"from": frm}, from_device="d0", cmid=cmid, digest="x", via="push",
                 phase="load")


def connected(at: float, user: str, node: str = "n1") -> dict[str, Any]:
    return event("connected", at, **dev(user), session=1, node=node, inbox_seq=0, acked=0)


def disconnected(at: float, user: str) -> dict[str, Any]:
    return event("disconnected", at, **dev(user), session=1, reason="error")


def fault(at: float, action: str, fid: str, kind: str = "kill",
          target: str = "n1") -> dict[str, Any]:
    return event("fault", at, action=action, kind=kind, target=target, fault=fid, detail={})


def phase(at: float, name: str, action: str) -> dict[str, Any]:
    return event("phase", at, phase=name, action=action)


def traffic() -> list[dict[str, Any]]:
    return [
        send(99.5, "u1", "c0"),  # before the load started: counted in second 0
        phase(100.0, "load", "start"),
        send(100.2, "u1", "c1"), ok(100.25, "u1", "c1", "m1"),
        deliver(100.3, "u2", "m1", "u1", "c1"), deliver(100.4, "u2", "m1", "u1", "c1"),
        send(100.5, "u1", "c2"), ok(101.1, "u1", "c2", "m2"),
        send(101.2, "u1", "c3"), send(101.4, "u1", "c3", attempt=2),
        ok(101.5, "u1", "c3", "m3"), ok(101.6, "u1", "c3", "m3", dup=True),
        deliver(101.2, "u2", "m2", "u1", "c2"),
        event("send_info", 102.5, **dev("u1"), cmid="c4", conv="c", reason="retries"),
        phase(102.8, "load", "end"),
    ]


def test_counts_per_second_from_the_load_start() -> None:
    s = build_series(sorted(traffic(), key=lambda e: e["at"]))
    assert s.t0 == 100.0 and s.seconds == 3 and s.t == [0, 1, 2]
    assert s.sent == [1, 2, 0]  # c1; c2 and c3 (the dup ack of c3 is not a new send)
    assert s.attempts == [3, 2, 0]  # c0 (before t0), c1, c2; c3 twice
    assert s.delivered == [1, 1, 0]  # the wire duplicate of m1 is not a new copy
    assert s.failed == [0, 0, 1]


def test_ack_and_e2e_latency_per_second() -> None:
    s = build_series(sorted(traffic(), key=lambda e: e["at"]))
    assert s.ack_p50[0] == 50.0 and s.ack_p99[0] == 50.0
    # second 1: c2 took 600 ms, c3 300 ms from its first attempt
    assert s.ack_p50[1] == 300.0 and s.ack_p99[1] == 600.0
    assert s.ack_p50[2] is None and s.ack_p99[2] is None
    assert s.e2e_p50[0] == 100.0  # c1 sent at 100.2, first copy at 100.3
    assert s.e2e_p99[1] == 700.0  # c2 sent at 100.5, delivered at 101.2


def test_unsorted_events_are_ordered_first() -> None:
    events = traffic()
    shuffled = events[::-1]
    assert build_series(shuffled).as_dict() == build_series(
        sorted(events, key=lambda e: e["at"])).as_dict()


def test_first_event_is_t0_without_a_load_phase() -> None:
    s = build_series([send(50.0, "u1", "a"), ok(50.4, "u1", "a", "m"), send(52.1, "u1", "b")])
    assert s.t0 == 50.0 and s.seconds == 3 and s.sent == [1, 0, 0]
    assert s.attempts == [1, 0, 1]


def test_connected_devices_curve() -> None:
    events = [
        phase(100.0, "load", "start"),
        connected(100.1, "a"), connected(100.2, "b"), connected(100.3, "c"),
        connected(100.35, "c"),  # a second login_ok without a disconnect counts once
        disconnected(101.2, "a"), connected(101.7, "a"),  # a dip healed within second 1
        disconnected(102.5, "b"),
        disconnected(102.6, "b"),  # disconnected twice: still one device down
        phase(103.2, "load", "end"),
    ]
    s = build_series(events)
    assert s.devices == 3
    assert s.connected == [3, 3, 2, 2]
    assert s.connected_low == [0, 2, 2, 2]


def test_faults_and_phases_are_the_verdicts_not_the_series() -> None:
    """One place pairs fault events and phases: the checker. A series has none of its own,
    so a report cannot draw windows that disagree with the verdict's table."""
    events = [phase(100.0, "load", "start"), fault(101.0, "start", "f1", "latency", "n2"),
              fault(102.5, "stop", "f1", "latency", "n2")]
    fields = build_series(events).as_dict()
    assert "faults" not in fields and "phases" not in fields


def test_unseen_comes_from_the_verdict() -> None:
    verdict = {"over_time": {"unseen": [{"t_s": 0, "unseen": 0}, {"t_s": 1, "unseen": 4},
                                        {"t_s": 2, "unseen": 1}, {"t_s": 9, "unseen": 7}]}}
    s = build_series(sorted(traffic(), key=lambda e: e["at"]), verdict)
    assert s.unseen == [0, 4, 1]  # samples past the series are dropped
    assert build_series(traffic()).unseen is None
    assert build_series(traffic(), {"over_time": {}}).unseen is None


def test_empty_journal() -> None:
    s = build_series([])
    assert s.seconds == 0 and s.sent == [] and s.connected == []


def test_as_dict_is_json() -> None:
    s = build_series(sorted(traffic(), key=lambda e: e["at"]))
    again = json.loads(json.dumps(s.as_dict()))
    assert again["sent"] == [1, 2, 0] and again["seconds"] == 3


def test_percentile_nearest_rank() -> None:
    values = list(range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile([7.0], 99) == 7.0
    assert percentile([1, 2], 50) == 1


def test_back_curve_after_a_kill() -> None:
    events = [
        connected(5.0, "a", "n1"), connected(5.0, "b", "n1"), connected(5.0, "c", "n2"),
        fault(10.0, "start", "k", "kill", "n1"),
        disconnected(10.1, "a"), disconnected(10.1, "c"), disconnected(10.2, "b"),
        connected(10.3, "c", "n2"),  # on another node: not thrown off by the kill
        connected(10.8, "a", "n2"), connected(12.1, "b", "n2"),
        disconnected(12.5, "a"), connected(12.9, "a", "n2"),  # later churn: counted once
    ]
    assert back_curve(events) == [(0.0, 0.0), (0.5, 0.0), (1.0, 0.5), (1.5, 0.5), (2.0, 0.5),
                                  (2.5, 1.0)]


def test_back_curve_without_a_kill_or_with_nobody_thrown_off() -> None:
    assert back_curve([connected(1.0, "a")]) == []
    assert back_curve([connected(1.0, "a", "n2"), fault(2.0, "start", "k", "kill", "n1"),
                       disconnected(2.1, "a")]) == []


def test_back_curve_stops_at_the_window() -> None:
    events = [connected(0.0, "a", "n1"), fault(1.0, "start", "k", "kill", "n1"),
              disconnected(1.1, "a")]
    curve = back_curve(events, step_s=1.0, window_s=3.0)
    assert curve == [(0.0, 0.0), (1.0, 0.0), (2.0, 0.0), (3.0, 0.0)]
