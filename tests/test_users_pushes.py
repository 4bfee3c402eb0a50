"""Pushes reported to Locust with their real age (imload/users/pushes.py), pure: a real
``DeviceEngine`` (no socket) and hand-made journal events, as ``IMUser._on_record`` gets
them; ``fire`` records what would reach Locust's ``events.request``."""

from __future__ import annotations

import random

import pytest

from imload.client import DeviceEngine, EngineConfig
from imload.users.pushes import (
    SLACK_MS,
    PushAges,
    PushBatch,
    age_ms,
    engine_age_ms,
    push_name,
)

WALL = 1_700_000_000.0  # time.time() - time.monotonic() of the fake load host
AT = 100.0  # the journal's ``at`` (monotonic) of each push
TRUE_MS = round((AT + WALL) * 1000)  # the load host's wall clock at AT, epoch ms


def engine(skew_ms: int = 0) -> DeviceEngine:
    return DeviceEngine("alice", "d0", "token", ["ws://127.0.0.1:1/ws"], rng=random.Random(1),
                        config=EngineConfig(wall_offset=WALL, skew_ms=skew_ms))


class Fired:
    """What Locust would have got: (name, response_time) per request event."""

    def __init__(self) -> None:
        self.events: list[tuple[str, float]] = []

    def __call__(self, name: str, ms: float) -> None:
        self.events.append((name, ms))


def read_sync(server_ts: object = None) -> dict[str, object]:
    ev: dict[str, object] = {"ev": "read_sync", "at": AT, "user": "alice", "device": "d0",
                             "session": 1, "conv": "d:alice:bob", "upto": 3,
                             "from_device": "d1"}
    if server_ts is not None:
        ev["server_ts"] = server_ts
    return ev


def receipt(server_ts: object = None) -> dict[str, object]:
    ev: dict[str, object] = {"ev": "receipt", "at": AT, "user": "alice", "device": "d0",
                             "session": 1, "conv": "d:alice:bob", "reader": "bob", "upto": 3}
    if server_ts is not None:
        ev["server_ts"] = server_ts
    return ev


def deliver(via: str, server_ts: int | None) -> dict[str, object]:
    return {"ev": "deliver", "at": AT, "user": "alice", "device": "d0", "session": 1,
            "mid": "m1", "conv": "d:alice:bob", "seq": 1, "useq": 1, "from": "bob",
            "from_device": "d0", "cmid": "c1", "digest": None, "via": via, "phase": "load",
            "server_ts": server_ts}


def test_age_is_arrival_plus_offset_minus_the_servers_stamp() -> None:
    assert age_ms(10_000, 0.0, 9_958) == 42.0
    assert age_ms(10_000, 250.0, 10_100) == 150.0  # the server's clock is 250 ms ahead
    assert age_ms(10_000, 0.0, 10_000 + int(SLACK_MS)) == 0.0  # the estimate's own error: 0
    assert age_ms(10_000, 0.0, 10_000 + int(SLACK_MS) + 1) is None  # the clocks disagree
    for stamp in (None, "9958", 9958.0, True):
        assert age_ms(10_000, 0.0, stamp) is None, stamp


def test_only_pushes_have_a_name() -> None:
    assert push_name(deliver("push", 1)) == "msg"
    assert push_name(deliver("sync", 1)) is None
    assert push_name(read_sync()) == "read_sync" and push_name(receipt()) == "receipt"
    assert push_name({"ev": "read_ok", "at": AT}) is None


def test_read_sync_and_receipt_report_their_real_age_not_zero() -> None:
    ages, fire = PushAges(), Fired()
    e = engine()
    assert ages.report(read_sync(TRUE_MS - 42), e, fire) == 42.0
    assert ages.report(receipt(TRUE_MS - 7), e, fire) == 7.0
    assert ages.report(deliver("push", TRUE_MS - 3), e, fire) == 3.0
    assert fire.events == [("read_sync", 42.0), ("receipt", 7.0), ("msg", 3.0)]
    assert ages.report(deliver("sync", TRUE_MS - 3), e, fire) is None  # not a push
    assert len(fire.events) == 3 and not ages.unknown
    assert ages.reported == {"read_sync": 1, "receipt": 1, "msg": 1}


def test_the_pong_estimated_offset_corrects_the_devices_clock() -> None:
    e = engine(skew_ms=-1_800_000)  # this device's clock is 30 minutes late
    local = e.local_ms(AT)
    e.offsets.add(local - 10, local + 10, TRUE_MS + 500)  # a pong: the server is 500 ms ahead
    assert e.clock_offset_ms == pytest.approx(1_800_500)
    fire = Fired()
    assert PushAges().report(receipt(TRUE_MS + 500 - 25), e, fire) == pytest.approx(25.0)
    assert fire.events == [("receipt", pytest.approx(25.0))]


def test_before_the_first_pong_the_load_hosts_clock_stands_in() -> None:
    e = engine(skew_ms=-1_800_000)
    assert e.clock_offset_ms is None
    assert engine_age_ms(e, read_sync(TRUE_MS - 12)) == 12.0  # the skew undone, not 0


def test_a_push_of_unknown_age_fires_nothing_and_is_counted() -> None:
    ages, fire = PushAges(), Fired()
    e = engine()
    for ev in (read_sync(), receipt(), deliver("push", None),
               read_sync(TRUE_MS + 60_000)):  # stamped a minute in the future: no age
        assert ages.report(ev, e, fire) is None
    assert fire.events == []  # never a 0 ms request event for them
    assert ages.unknown == {"read_sync": 2, "receipt": 1, "msg": 1}
    assert ages.unknown_summary() == "msg 1, read_sync 2, receipt 1"
    ages.report(receipt(TRUE_MS - 9), e, fire)
    assert fire.events == [("receipt", 9.0)] and all(ms != 0 for _, ms in fire.events)


def test_a_batch_holds_one_second_and_hands_it_on_when_the_next_begins() -> None:
    b = PushBatch()
    assert b.take() is None and b.add("msg", 1.0, 1000.2) is None
    assert b.add("receipt", 2.0, 1000.7) is None and b.add("msg", 3.0, 1000.9) is None
    assert b.pending == 3
    assert b.add("msg", 4.0, 1001.0) == (1000.9, {"msg": [1.0, 3.0], "receipt": [2.0]})
    assert b.pending == 1 and b.take() == (1001.0, {"msg": [4.0]}) and b.take() is None
