"""One way to judge a run (``imload.judge``): ``imload run`` and ``imload verify`` write the
same files, the same way; a verify of a run folder keeps what only the run knew."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

import orjson
from coverage_journals import fully_judged
from journal_builder import two_friends

from imload.cli import main
from imload.journal import JournalWriter
from imload.judge import (
    CAPACITY_FILE,
    RUN_FIELDS,
    judge,
    report_extra,
    run_fields,
    suite_name,
    write_outputs,
)
from imload.report.verdict_json import read_verdict
from imload.slo import EXIT_ERROR, EXIT_FAILED, EXIT_PASSED, Slo


def clean() -> list[dict]:
    """One message delivered everywhere, every device audited: a run that passes."""
    return fully_judged().events


def journal_folder(folder: Path, events: list[dict]) -> Path:
    with JournalWriter(folder / "journal", "locust-test") as w:
        for e in events:
            w.write(e)
    return folder


def test_judge_keeps_the_run_fields_only_and_applies_the_slos(tmp_path: Path) -> None:
    folder = journal_folder(tmp_path / "run", clean())
    run = {"scenario": "drill", "target": "local", "errors": [], "checker_says": "mine"}
    slo = Slo(figure="latency_ms.ack.p99", max=0.0001, name="impossible ack p99")
    judged = judge([folder / "journal"], [slo], run=run)
    v = judged.verdict
    assert (v["scenario"], v["target"], v["errors"]) == ("drill", "local", [])
    assert "checker_says" not in v  # only RUN_FIELDS come from the run
    assert v["valid"] is True and v["passed"] is False  # the SLO, not an anomaly
    assert "impossible ack p99" in [s["name"] for s in v["slo"] if not s["passed"]]
    assert run_fields({**v, "other": 1}) == {k: v[k] for k in RUN_FIELDS if k in v}
    assert suite_name("drill") == "imload.drill" and suite_name(None) == "imload.verify"


def test_write_outputs_writes_the_four_files_of_a_run_folder(tmp_path: Path) -> None:
    folder = journal_folder(tmp_path / "run", clean())
    judged = judge([folder / "journal"], [], run={"scenario": "drill"})
    write_outputs(folder, judged, suite_name("drill"), duration_s=3.0)
    assert read_verdict(folder / "verdict.json") == orjson.loads(orjson.dumps(judged.verdict))
    suite = ET.parse(folder / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("name") == "imload.drill"
    assert (folder / "report.html").is_file() and (folder / "series.csv").is_file()


def test_verify_of_a_run_folder_rewrites_every_file_and_keeps_the_runs_errors(
        tmp_path: Path) -> None:
    """A run that had an error (a fault that could not be made) exits 2 from ``imload run``;
    judged again by ``imload verify``, its folder says the same, and verdict.json, junit.xml
    and report.html all follow the new verdict (verify used to rewrite report.html only)."""
    folder = journal_folder(tmp_path / "run", clean())
    judged = judge([folder / "journal"], [], run={"scenario": "drill", "target": "local",
                                                   "errors": ["fault f1: no means"]})
    write_outputs(folder, judged, suite_name("drill"))
    assert judged.verdict["outcome"] == "error"
    stale = (folder / "verdict.json").read_bytes()  # made stale, to be replaced
    (folder / "verdict.json").write_bytes(stale.replace(b'"outcome"', b'"stale"', 1))
    (folder / "junit.xml").write_text("<stale/>")
    (folder / "report.html").write_text("stale")
    assert main(["verify", str(folder)]) == EXIT_ERROR
    v = read_verdict(folder / "verdict.json")
    assert v["outcome"] == "error" and v["errors"] == ["fault f1: no means"]
    assert v["scenario"] == "drill" and "stale" not in v
    assert ET.parse(folder / "junit.xml").getroot().find("testsuite").get(  # type: ignore[union-attr]
        "name") == "imload.drill"
    assert (folder / "report.html").read_text().startswith("<!DOCTYPE html>")


def test_verify_of_a_bare_journal_folder_writes_nothing(tmp_path: Path) -> None:
    folder = journal_folder(tmp_path / "shard", clean()) / "journal"
    assert main(["verify", str(folder)]) == EXIT_PASSED
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        p.name for p in folder.iterdir() if p.name.startswith("locust-"))


def test_a_lost_message_fails_verify_and_its_junit_says_so(tmp_path: Path) -> None:
    b = two_friends()
    b.message("alice", "phone", "bob", "c1", skip=(("bob", "phone"),))
    b.audit_all()
    folder = journal_folder(tmp_path / "run", b.events)
    assert main(["verify", str(folder)]) == EXIT_FAILED
    junit = (folder / "junit.xml").read_text()
    assert 'name="lost"' in junit and "<failure" in junit


def test_a_capacity_folder_judged_again_keeps_its_steps_in_the_report(tmp_path: Path) -> None:
    """``imload capacity`` writes capacity.json beside the run; the report of that folder,
    written again (``imload verify``), still shows the steps; a capacity.json that is not
    one is left out, never a crash."""
    folder = journal_folder(tmp_path / "run", clean())
    steps = {"steps": [{"step": 1, "users": 50, "msgs_per_s": 20.0, "passed": True,
                        "broke": [], "ack_p99_ms": 12.0},
                       {"step": 2, "users": 400, "msgs_per_s": 90.0, "passed": False,
                        "broke": ["at most 90 sends per step"], "ack_p99_ms": 900.0}],
             "knee": {"max_users": 50}}
    (folder / CAPACITY_FILE).write_bytes(orjson.dumps(steps))
    assert main(["verify", str(folder)]) == EXIT_PASSED
    html = (folder / "report.html").read_text()
    assert "at most 90 sends per step" in html and "← knee" in html
    assert report_extra(folder) == {"capacity": [{**r, "broke": ", ".join(r["broke"])}
                                                 for r in steps["steps"]]}
    (folder / CAPACITY_FILE).write_text("not json")
    assert report_extra(folder) is None
    assert main(["verify", str(folder)]) == EXIT_PASSED
    assert "at most 90 sends per step" not in (folder / "report.html").read_text()
