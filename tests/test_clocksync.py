"""The master's clock offset estimates (imload/users/clocksync.py) over a fake runner."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest

from imload.journal import event_problem
from imload.users import clocksync
from imload.users.clocksync import MSG_PING, MSG_PONG, ClockSync, clock_event, source_id


class FakeRunner:
    def __init__(self, *nodes: str) -> None:
        self.clients = SimpleNamespace(all=[SimpleNamespace(id=n, state="ready") for n in nodes])
        self.sent: list[tuple[str, dict[str, Any], str | None]] = []

    def send_message(self, msg_type: str, data: Any = None, client_id: str | None = None) -> None:
        self.sent.append((msg_type, data, client_id))


class Journal:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.opened = 0

    def __call__(self) -> Journal:
        self.opened += 1
        return self

    def write(self, ev: dict[str, Any]) -> None:
        self.events.append(ev)


def pong(sync: ClockSync, node: str, ping: dict[str, Any], tw: float, source: str) -> None:
    msg = SimpleNamespace(node_id=node, data={**ping, "tw": tw, "source": source})
    sync.on_pong(environment=None, msg=msg)


def test_the_anchor_names_the_process_and_reads_both_clocks() -> None:
    before = time.monotonic(), time.time()
    e = clock_event()
    assert event_problem(e) is None and e["ev"] == "clock"
    assert e["source"] == source_id() and source_id().endswith(f"-{__import__('os').getpid()}")
    assert before[0] <= e["at"] <= time.monotonic() and before[1] <= e["wall"] <= time.time()
    assert "role" not in e  # not a master


def test_a_round_journals_its_least_rtt_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    runner, journal = FakeRunner("w1", "w2"), Journal()
    sync = ClockSync(runner, journal, burst=3, pings=2, spacing_s=0)
    sync.ping_round({"w1": 3, "w2": 2})
    assert journal.opened == 1  # the master's anchor is written before the first ping
    pings = [(data, node) for kind, data, node in runner.sent if kind == MSG_PING]
    assert [node for _, node in pings] == ["w1", "w2", "w1", "w2", "w1"]
    # replies as if the worker's clock were 1000 s ahead, with ever shorter round trips
    clock = iter([0.030, 0.010, 0.002, 0.020, 0.004])
    real = time.monotonic

    for data, node in pings:
        rtt = next(clock)
        monkeypatch.setattr(time, "monotonic", lambda d=data, r=rtt: d["t0"] + r)
        pong(sync, node, data, data["t0"] + rtt / 2 + 1000.0, f"src-{node}")
        monkeypatch.setattr(time, "monotonic", real)
    # w2's round is whole after its second reply (rtts 10 and 20 ms), w1's after its third
    assert [e["source"] for e in journal.events] == ["src-w2", "src-w1"]
    assert [e["rtt_s"] for e in journal.events] == pytest.approx([0.010, 0.002])
    for e in journal.events:
        assert event_problem(e) is None and e["ev"] == "clock_offset"
        assert e["offset_s"] == pytest.approx(1000.0)
    assert not sync.rounds and sync.estimates == 2


def test_a_round_short_of_replies_is_journaled_when_it_times_out() -> None:
    runner, journal = FakeRunner("w1"), Journal()
    sync = ClockSync(runner, journal, burst=3, pings=3, spacing_s=0)
    sync.ping_round({"w1": 3})
    first = runner.sent[0][1]
    pong(sync, "w1", first, first["t0"], "src")
    assert not journal.events  # two replies missing: wait
    sync.emit(older_than_s=3600)
    assert not journal.events
    sync.emit()
    assert [e["source"] for e in journal.events] == ["src"]
    pong(sync, "w1", runner.sent[1][1], 0.0, "src")  # late: ignored
    assert len(journal.events) == 1
    sync.ping_round({"w1": 1})  # a round with no reply at all journals nothing
    sync.stop()
    assert len(journal.events) == 1 and sync.stopped


def test_a_malformed_reply_is_ignored() -> None:
    runner, journal = FakeRunner("w1"), Journal()
    sync = ClockSync(runner, journal, spacing_s=0)
    sync.ping_round({"w1": 1})
    sync.on_pong(environment=None, msg=SimpleNamespace(node_id="w1", data={"round": 1}))
    sync.emit()
    assert not journal.events


def test_a_worker_answers_a_ping_with_its_clock() -> None:
    runner = FakeRunner()
    env = SimpleNamespace(runner=runner)
    before = time.monotonic()
    clocksync._on_ping(env, SimpleNamespace(data={"round": 4, "t0": 1.5}))
    ((kind, data, _),) = runner.sent
    assert kind == MSG_PONG and data["round"] == 4 and data["t0"] == 1.5
    assert data["source"] == source_id() and before <= data["tw"] <= time.monotonic()
