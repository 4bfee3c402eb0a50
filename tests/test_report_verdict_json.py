"""verdict.json: written indented and atomically, read back unchanged."""

from pathlib import Path

import pytest
from journal_builder import two_friends

from imload.check import check
from imload.report.verdict_json import read_verdict, write_verdict


def test_round_trip(tmp_path: Path) -> None:
    j = two_friends()
    j.message("alice", "phone", "bob", "c1", skip=(("bob", "phone"),))
    verdict = check(j.events)
    path = write_verdict(tmp_path / "out" / "verdict.json", verdict)
    assert read_verdict(path) == verdict
    text = path.read_text()
    assert text.startswith("{\n  ") and text.endswith("}\n")
    assert [p.name for p in path.parent.iterdir()] == ["verdict.json"]  # no temp file left


def test_a_non_object_is_refused(tmp_path: Path) -> None:
    (tmp_path / "v.json").write_text("[1]")
    with pytest.raises(ValueError, match="JSON object"):
        read_verdict(tmp_path / "v.json")
