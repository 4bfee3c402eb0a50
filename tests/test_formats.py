"""Picking a journal writer by name (imload/journal/formats.py)."""

from pathlib import Path

import pytest

from imload.journal import JournalWriter
from imload.journal.columnar import ColumnarJournalWriter
from imload.journal.formats import DEFAULT_FORMAT, SUFFIXES, WRITERS, open_writer
from imload.journal.reader import read_file

EVENTS = [{"ev": "device", "at": 1.5, "user": "u", "device": "d"},
          {"ev": "phase", "at": 2.0, "phase": "load", "action": "start"}]


def test_the_default_is_columnar_and_every_writer_has_a_suffix() -> None:
    assert DEFAULT_FORMAT == "columnar"
    assert list(WRITERS) == ["columnar", "jsonl"]
    assert set(SUFFIXES) == set(WRITERS)
    assert SUFFIXES == {"columnar": ".arrows.zst", "jsonl": ".jsonl"}


@pytest.mark.parametrize(("form", "kind"), [("columnar", ColumnarJournalWriter),
                                             ("jsonl", JournalWriter)])
def test_open_writer_by_name(tmp_path: Path, form: str, kind: type) -> None:
    with open_writer(tmp_path / "j", "locust-h-1", form) as w:
        assert type(w) is kind
        assert w.path == tmp_path / "j" / f"locust-h-1{SUFFIXES[form]}"
        for e in EVENTS:
            w.write(e)
        assert w.count == 2
    bad: list[str] = []
    assert read_file(w.path, bad) == EVENTS and bad == []


def test_open_writer_without_a_name_writes_the_default(tmp_path: Path) -> None:
    with open_writer(tmp_path, "x") as w:
        w.write(EVENTS[0])
    assert w.path.name == "x.arrows.zst" and type(w) is ColumnarJournalWriter


def test_an_unknown_format_names_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as caught:
        open_writer(tmp_path, "x", "parquet")
    assert str(caught.value) == "unknown journal format 'parquet': one of columnar, jsonl"
    assert list(tmp_path.iterdir()) == []  # nothing was created
