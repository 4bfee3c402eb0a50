"""The report's series from the DuckDB checker (imload/checkdb/series.py) equal the reference's
``build_series`` on the same journal."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from imload.checkdb import series
from imload.checkdb.verdict import duckdb_check
from imload.report.timeseries import build_series

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))
from journal_builder import two_friends  # noqa: E402

from benchmarks.bench_checker import synth_journal  # noqa: E402
from benchmarks.synth_chat import chat_events  # noqa: E402


def both(events: list[dict]) -> tuple[dict, dict, str]:
    verdict, info = duckdb_check(events=events, series=True, threads=1,
                                 memory_limit="256MB")
    assert info.series is not None
    expected = build_series(sorted(events, key=lambda e: e["at"]), verdict)
    return info.series.as_dict(), expected.as_dict(), info.checker


def chat() -> list[dict]:
    j = two_friends()
    for n in range(30):
        j.t += 0.37
        j.message("alice" if n % 3 else "bob", "phone", "bob" if n % 3 else "alice", f"c{n}")
    j.audit_all()
    return j.events


def test_a_synthetic_run_gives_the_same_series() -> None:
    events = synth_journal(3000, 200)
    got, expected, checker = both(events)
    assert checker == "duckdb"
    assert sum(expected["delivered"]) > 3000 and any(expected["e2e_p99"])
    assert got == expected


def test_the_chat_mix_with_groups_reads_and_ops_gives_the_same_series() -> None:
    events = sorted(chat_events(1500, 150), key=lambda e: e["at"])
    got, expected, checker = both(events)
    assert checker == "duckdb"
    assert any(e["ev"] == "read_sync" for e in events) and any(expected["e2e_p50"])
    assert got == expected


def test_a_chat_with_faults_reconnects_and_retries_gives_the_same_series() -> None:
    events = chat()
    at = events[len(events) // 2]["at"]
    events += [
        {"ev": "fault", "at": at, "fault": "f1", "kind": "kill", "target": "n1",
         "action": "start", "detail": {}},
        {"ev": "disconnected", "at": at + 0.1, "user": "bob", "device": "phone", "session": 1,
         "reason": "closed"},
        {"ev": "connected", "at": at + 2.5, "user": "bob", "device": "phone", "session": 2,
         "node": "n1", "inbox_seq": 0, "acked": 0},
        {"ev": "fault", "at": at + 3.0, "fault": "f1", "kind": "kill", "target": "n1",
         "action": "stop", "detail": {}},
        {"ev": "send", "at": at + 0.05, "user": "alice", "device": "phone", "session": 1,
         "cmid": "lost-1", "conv": "d:alice:bob", "digest": "x", "attempt": 1, "ts": None},
        {"ev": "send_info", "at": at + 0.2, "user": "alice", "device": "phone", "session": 1,
         "cmid": "lost-1", "conv": "d:alice:bob", "reason": "timeout"},
    ]
    got, expected, checker = both(events)
    assert checker == "duckdb"
    assert min(expected["connected_low"]) < max(expected["connected"])
    assert got == expected


@pytest.mark.parametrize("late", [0.0, 0.4, 7.9])
def test_percentiles_pick_the_reference_rank(late: float) -> None:
    """A second with one slow ack among many fast ones: p99 is its nearest-rank sample."""
    events = chat()
    sends = [e for e in events if e["ev"] == "send_ok"]
    sends[-1]["at"] += late
    got, expected, checker = both(events)
    assert checker == "duckdb"
    assert got["ack_p99"] == expected["ack_p99"] and got["ack_p50"] == expected["ack_p50"]
    assert got == expected


def test_an_empty_journal_has_no_series() -> None:
    got, expected, _ = both([])
    assert got == expected and got["seconds"] == 0


def test_seconds_are_listed_a_few_at_a_time_and_give_the_same_series(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With room for 3 samples at a time, a chat's seconds are sorted in many queries (a
    second of more than 3 in a query of its own): the series is the same."""
    monkeypatch.setattr(series, "SAMPLES_AT_ONCE", 3)
    asked: list[tuple[int, int]] = []
    spans = series._spans

    def listed(counts: list[tuple[int, int]]) -> list[tuple[int, int]]:
        asked.extend(found := spans(counts))
        return found

    monkeypatch.setattr(series, "_spans", listed)
    got, expected, checker = both(chat())
    assert checker == "duckdb" and len(asked) > 8 and any(expected["e2e_p99"])
    assert got == expected


def test_spans_hold_at_most_their_share_but_a_second_too_big_alone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(series, "SAMPLES_AT_ONCE", 50)
    counts = [(0, 20), (1, 25), (2, 10), (4, 70), (5, 5), (9, 45)]
    assert series._spans(counts) == [(0, 1), (2, 2), (4, 4), (5, 9)]
    assert series._spans([]) == []
