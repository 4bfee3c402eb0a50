"""Which checker judges a journal (imload/checkdb/choose.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from imload.checkdb import choose


def test_auto_takes_the_engine_from_a_size_on(tmp_path: Path, monkeypatch) -> None:
    small = tmp_path / "a.arrows.zst"
    small.write_bytes(b"x" * 100)
    lines = tmp_path / "run.jsonl"
    lines.write_bytes(b"x" * 1000)
    assert choose.pick([small, lines]) == "reference"
    monkeypatch.setattr(choose, "DUCKDB_FROM_BYTES", 100)
    assert choose.pick([small, lines]) == "duckdb"
    assert choose.pick([lines]) == "reference"  # JSON lines alone: not columnar bytes


def test_an_explicit_choice_wins_and_a_bad_one_is_named(tmp_path: Path) -> None:
    assert choose.pick([], "duckdb") == "duckdb"
    assert choose.pick([], "reference") == "reference"
    with pytest.raises(ValueError, match="unknown checker 'fast'"):
        choose.pick([], "fast")


def test_judge_gives_the_same_verdict_by_either_checker(tmp_path: Path) -> None:
    import sys

    from imload.journal.columnar import ColumnarJournalWriter
    from imload.report.verdict_json import dumps_verdict

    sys.path.insert(0, str(Path(__file__).parent))
    from journal_builder import two_friends

    j = two_friends()
    j.message("alice", "phone", "bob", "c1")
    j.audit_all()
    with ColumnarJournalWriter(tmp_path, "locust-x-1") as w:
        for e in j.events:
            w.write(e)
    by_reference = choose.judge([tmp_path], "reference")
    by_engine = choose.judge([tmp_path], "duckdb", "256MB")
    assert by_reference.note is None
    assert by_engine.note == "judged by the duckdb checker"
    assert dumps_verdict(by_engine.verdict) == dumps_verdict(by_reference.verdict)
    assert by_engine.series.as_dict() == by_reference.series.as_dict()
    assert sum(by_engine.series.delivered) == 3
