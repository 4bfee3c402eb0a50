"""docs/reference.md cannot drift: its generated tables equal what ``imload.docs_tables``
makes now, the scenario-key table names exactly the keys the real parser accepts (asked
through its own "unknown key; known: ..." errors), every key has a meaning, and every
field of a real verdict is in the verdict table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from journal_builder import two_friends

from imload import docs_keys, docs_tables
from imload.check import check
from imload.faults.presets import PRESETS
from imload.faults.registry import FAULT_KINDS, KINDS
from imload.scenario import ScenarioError, parse_scenario
from imload.slo import EXIT_CODES, apply_slos

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "reference.md"
TEXT = REFERENCE.read_text(encoding="utf-8")
RUN_FIELDS = {"scenario", "target", "errors", "fault_lateness_ms"}  # imload run adds these


def test_the_generated_tables_in_reference_md_are_current() -> None:
    fresh = docs_tables.regenerate(TEXT)
    for name in docs_tables.TABLES:
        assert docs_tables.table_in(TEXT, name) == docs_tables.table_in(fresh, name), (
            f"docs/reference.md: table {name} is stale; run python -m imload.docs_tables")
    assert docs_tables.main(["--check"]) == 0


def test_check_finds_a_stale_table_and_a_rewrite_fixes_it(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    doc = tmp_path / "reference.md"
    doc.write_text(TEXT.replace("| `[load] users` | an integer | `100` |",
                                "| `[load] users` | an integer | `99` |"))
    assert docs_tables.main(["--check", "--file", str(doc)]) == 1
    assert "stale tables: scenario-keys" in capsys.readouterr().err
    assert docs_tables.main(["--file", str(doc)]) == 0
    assert doc.read_text() == TEXT
    doc.write_text("# no markers\n")
    assert docs_tables.main(["--check", "--file", str(doc)]) == 2


def test_the_fault_kind_table_in_chaos_md_is_the_registrys(tmp_path: Path) -> None:
    text = docs_tables.CHAOS.read_text(encoding="utf-8")
    table = docs_tables.table_in(text, "fault-kinds")
    assert table == docs_tables.table_in(docs_tables.regenerate(text, docs_tables.KIND_TABLES),
                                         "fault-kinds")
    assert re.findall(r"^\| `(\w+)` \|", table, re.M) == list(KINDS)
    for kind in KINDS.values():
        assert f"| `{kind.name}` | {kind.does} |" in table
    doc = tmp_path / "chaos.md"
    doc.write_text(text.replace(f"| {KINDS['down'].does} |", "| takes a nap |"))
    assert docs_tables.main(["--check", "--file", str(doc)]) == 1
    assert docs_tables.main(["--file", str(doc)]) == 0 and doc.read_text() == text


def _known(data: dict) -> set[str]:
    """The keys the parser lists as known when ``data`` holds an unknown one."""
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(data, Path("s.toml"))
    return set(re.search(r"known: (.*)$", str(caught.value)).group(1).split(", "))  # type: ignore[union-attr]


def _documented() -> dict[str, set[str]]:
    """section ("" for top level, "load", "[chaos]" ...) -> keys in the generated table."""
    out: dict[str, set[str]] = {}
    for row in docs_tables.table_in(TEXT, "scenario-keys").splitlines():
        found = re.match(r"\| `(?:\[\[?([\w.]+)\]\]? )?(\w+)`", row)
        if found and found.group(2) != "key":
            out.setdefault(found.group(1) or "", set()).add(found.group(2))
    return out


def test_the_key_table_names_exactly_the_keys_the_parser_accepts() -> None:
    doc = _documented()
    top = _known({"zzz": 1})
    assert doc[""] == {k for k in top if not _is_table(k)}
    for section in sorted(k for k in top if _is_table(k)):
        assert section in doc, f"[{section}] is not in docs/reference.md"
    for section in ("load", "cluster", "audit", "capacity", "metrics", "nemesis"):
        if section in top:
            assert doc[section] == _known({section: {"zzz": 1}}), section
    assert doc["load.mix"] == _known({"load": {"mix": {"zzz": 1}}})
    assert doc["slo"] == _known({"slo": [{"zzz": 1}]})
    assert doc["profiles"] == _known({"profiles": [{"zzz": 1}]})
    chaos = set().union(*(_known({"chaos": [{"kind": k, "target": "n1", "at_s": 0, "zzz": 1}]})
                          for k in FAULT_KINDS))
    chaos |= _known({"chaos": [{"kind": "preset", "preset": next(iter(PRESETS)),
                                "target": "n1", "zzz": 1}]})
    assert doc["chaos"] == chaos


def _is_table(key: str) -> bool:
    return key not in ("name", "target", "seed")


def test_a_key_without_a_meaning_or_a_meaning_without_a_key_fails(
        monkeypatch: pytest.MonkeyPatch) -> None:
    meanings = dict(docs_keys.MEANINGS)
    del meanings["cluster.nodes"]
    monkeypatch.setattr(docs_keys, "MEANINGS", meanings)
    with pytest.raises(LookupError, match="no meaning for \\['cluster.nodes'\\]"):
        docs_tables.scenario_rows()
    monkeypatch.setattr(docs_keys, "MEANINGS", {**docs_keys.MEANINGS, "cluster.nodes": "x",
                                                "load.renamed": "x"})
    with pytest.raises(LookupError, match="load.renamed"):
        docs_tables.scenario_rows()


def test_the_locust_option_table_names_exactly_the_parsers_options() -> None:
    import argparse

    from imload.users.options import add_options
    parser = argparse.ArgumentParser()
    add_options(parser)
    flags = {f for a in parser._actions for f in a.option_strings if f.startswith("--imload-")}
    rows = docs_tables.table_in(TEXT, "locust-options")
    assert set(re.findall(r"^\| `(--imload-[\w-]+)", rows, re.M)) == flags
    assert "| `--imload-msg-interval S` | `[load] msg_interval_s` | `2` |" in rows


def test_the_exit_code_table_has_every_code() -> None:
    rows = docs_tables.table_in(TEXT, "exit-codes")
    for name, code in EXIT_CODES.items():
        assert f"| {code} | `{name}` |" in rows


def test_every_verdict_field_is_documented_and_no_other() -> None:
    j = two_friends()
    j.send("alice", "phone", "c1", "bob")
    verdict = check(j.events)
    apply_slos(verdict, [])
    assert set(verdict) | RUN_FIELDS == docs_tables.verdict_fields(TEXT)
