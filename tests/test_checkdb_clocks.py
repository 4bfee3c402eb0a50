"""The DuckDB checker puts several processes' clocks on the master's, as the reference reader
does (imload/checkdb/clocks.py): journal files of two hosts ten hours apart."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from imload.check import check
from imload.checkdb.verdict import duckdb_check
from imload.journal.columnar import ColumnarJournalWriter
from imload.journal.reader import read_files
from imload.journal.writer import JournalWriter
from imload.report.verdict_json import dumps_verdict

sys.path.insert(0, str(Path(__file__).parent))
from journal_builder import JournalBuilder, two_friends  # noqa: E402

HOURS = 36000.0  # the worker's monotonic clock is ten hours ahead of the master's
WRITERS = {"columnar": ColumnarJournalWriter, "jsonl": JournalWriter}


def clock(at: float, source: str, host: str, **more: Any) -> dict[str, Any]:
    return {"ev": "clock", "at": at, "source": source, "wall": 5000.0, "host": host, **more}


def offset(at: float, source: str, offset_s: float) -> dict[str, Any]:
    return {"ev": "clock_offset", "at": at, "source": source, "offset_s": offset_s,
            "rtt_s": 0.002}


def chat() -> JournalBuilder:
    j = two_friends()
    for n in range(6):
        j.message("alice", "phone", "bob", f"a{n}")
        j.message("bob", "phone", "alice", f"b{n}")
    j.reconnect("bob", "phone")
    j.message("alice", "laptop", "bob", "a9")
    j.audit_all()
    return j


def write(folder: Path, form: str, files: dict[str, list[dict[str, Any]]]) -> list[Path]:
    for name, events in files.items():
        with WRITERS[form](folder / form, name) as w:
            for e in events:
                w.write(e)
    return sorted((folder / form).iterdir())


def two_hosts(events: list[dict[str, Any]], shift: float) -> dict[str, list[dict[str, Any]]]:
    """bob's events on a worker whose clock reads ``shift`` s more; the rest on the master
    (which measured the worker's offset)."""
    start = events[0]["at"]
    master = [clock(start - 1, "m-1", "m", role="master"), offset(start - 0.5, "w-1", shift)]
    worker = [clock(start - 1 + shift, "w-1", "w")]
    for e in events:
        if e.get("user") == "bob":
            worker.append({**e, "at": e["at"] + shift})
        else:
            master.append(e)
    return {"locust-m-1": master, "locust-w-1": worker}


def reference(files: list[Path]) -> dict[str, Any]:
    journal = read_files(files)
    return check(journal.events, bad_lines=journal.bad_lines, **journal.check_options())


@pytest.mark.parametrize("form", sorted(WRITERS))
def test_two_hosts_hours_apart_are_judged_on_the_masters_clock(tmp_path: Path,
                                                              form: str) -> None:
    files = write(tmp_path, form, two_hosts(chat().events, HOURS + 0.25))
    got, info = duckdb_check(files)
    assert info.checker == "duckdb", info.reason
    want = reference(files)
    assert dumps_verdict(got) == dumps_verdict(want)
    timeline = got["journal"]["timeline"]
    assert timeline["method"] == "measured" and timeline["bound_s"] == 0.001
    assert timeline["aligned"][0]["events"] == 1 + sum(
        1 for e in chat().events if e.get("user") == "bob")
    assert got["valid"] is True and got["latency_ms"]["e2e"]["max"] < 1000  # not ten hours


def test_without_the_shift_the_same_files_judge_otherwise(tmp_path: Path) -> None:
    """What the shift changes: the worker's copies ten hours after their sends."""
    hosts = two_hosts(chat().events, HOURS + 0.25)
    unshifted = sorted((e for events in hosts.values() for e in events),
                       key=lambda e: e["at"])
    raw, _ = duckdb_check(events=unshifted)
    got, _ = duckdb_check(write(tmp_path, "columnar", hosts))
    assert raw["latency_ms"]["e2e"]["max"] > 1_000_000 > got["latency_ms"]["e2e"]["max"]
    assert "timeline" not in raw["journal"]


@pytest.mark.parametrize("form", sorted(WRITERS))
def test_rows_follow_the_latest_clock_row_of_their_file(tmp_path: Path, form: str) -> None:
    """A worker file whose first rows come before its clock row, and which names a second
    source half-way (a process restarted into the same file), each measured apart."""
    events = chat().events
    start = events[0]["at"]
    master = [clock(start - 1, "m-1", "m", role="master"), offset(start - 0.9, "w-1", 10.0),
              offset(start - 0.8, "w-2", 20.0)]
    bob = [e for e in events if e.get("user") == "bob"]
    half = len(bob) // 2
    worker = [{**e, "at": e["at"] + 10.0} for e in bob[:2]]
    worker.append(clock(bob[2]["at"] + 10.0, "w-1", "w"))
    worker += [{**e, "at": e["at"] + 10.0} for e in bob[2:half]]
    worker.append(clock(bob[half]["at"] + 20.0, "w-2", "w"))
    worker += [{**e, "at": e["at"] + 20.0} for e in bob[half:]]
    master += [e for e in events if e.get("user") != "bob"]
    files = write(tmp_path, form, {"locust-m-1": master, "locust-w-1": worker})
    got, info = duckdb_check(files)
    assert info.checker == "duckdb", info.reason
    assert dumps_verdict(got) == dumps_verdict(reference(files))
    assert [a["source"] for a in got["journal"]["timeline"]["aligned"]] == ["w-1", "w-2"]
    assert got["valid"] is True


def test_one_clock_adds_no_timeline(tmp_path: Path) -> None:
    events = [clock(99.0, "m-1", "m", role="master"), *chat().events]
    got, info = duckdb_check(write(tmp_path, "columnar", {"locust-m-1": events}))
    assert info.checker == "duckdb" and "timeline" not in got["journal"]
    assert dumps_verdict(got) == dumps_verdict(check(events))
