from pathlib import Path

import pytest

from imload.journal import JournalError, JournalWriter, body_digest, event, read_journal


def test_event_checks_its_fields() -> None:
    assert event("device", 1.0, user="u", device="d") == {"ev": "device", "at": 1.0,
                                                          "user": "u", "device": "d"}
    with pytest.raises(ValueError, match="lacks device"):
        event("device", 1.0, user="u")
    with pytest.raises(ValueError, match="unknown journal event"):
        event("nope", 1.0)


def test_digest_is_stable_and_short() -> None:
    assert body_digest("hello") == body_digest("hello") != body_digest("hellp")
    assert len(body_digest("x")) == 16


def test_files_merge_by_time_and_torn_lines_are_named(tmp_path: Path) -> None:
    with JournalWriter(tmp_path, "a") as w:
        w.write(event("device", 3.0, user="u", device="d1"))
        w.write(event("device", 1.0, user="u", device="d0"))
    with JournalWriter(tmp_path, "b") as w:
        w.write(event("device", 2.0, user="v", device="d0"))
    with open(tmp_path / "b.jsonl", "ab") as f:
        f.write(b'{"ev": "device", "at": 4.0, "us')  # a write torn by a kill
        f.write(b'\n[1, 2]\n')
    j = read_journal(tmp_path)
    assert [e["at"] for e in j.events] == [1.0, 2.0, 3.0]
    assert len(j.bad_lines) == 2 and j.bad_lines[0].startswith("b.jsonl:2")


def test_missing_folder_or_files(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="no journal folder"):
        read_journal(tmp_path / "nope")
    with pytest.raises(JournalError, match="no journal files"):
        read_journal(tmp_path)
