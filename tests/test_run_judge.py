"""``imload run``'s last step without a cluster: ``judge`` gates a recorded journal and
writes verdict.json, junit.xml and report.html; its outcome is the exit code."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import orjson
from coverage_journals import ACCEPT_LESS, fully_judged, group_older_than_the_run

from imload.journal import JournalWriter
from imload.run import judge
from imload.scenario import Scenario, load_scenario
from imload.slo import EXIT_ERROR, EXIT_PASSED, EXIT_UNKNOWN, exit_code

SCENARIO = """
name = "judged"
{slo}
"""


def folder(tmp: Path, events: list[dict], slo: str = "") -> tuple[Path, Scenario]:
    out = tmp / "run"
    with JournalWriter(out / "journal", "locust-test") as w:
        for e in events:
            w.write(e)
    (tmp / "drill.toml").write_text(SCENARIO.format(slo=slo))
    return out, load_scenario(tmp / "drill.toml")


def test_a_run_that_could_not_be_judged_exits_3_and_every_report_says_so(tmp_path: Path) -> None:
    out, scenario = folder(tmp_path, group_older_than_the_run().events)
    verdict = judge(out, scenario, {"scenario": "judged", "errors": []})
    assert exit_code(verdict) == EXIT_UNKNOWN
    on_disk = orjson.loads((out / "verdict.json").read_bytes())
    assert on_disk["outcome"] == "unknown" and on_disk["passed"] is False
    junit = {f"{c.get('classname')}.{c.get('name')}": c
             for c in ET.parse(out / "junit.xml").getroot().iter("testcase")}
    failure = junit["coverage.lost"].find("failure")
    assert failure is not None and failure.get("message", "").startswith(
        "lost: could not check 3 of 4 acked messages")
    assert '<span class="badge">UNKNOWN</span>' in (out / "report.html").read_text()
    rows = (out / "series.csv").read_text().splitlines()  # beside the report, one per second
    assert rows[0].startswith("t_s,") and len(rows) > 1
    assert [int(r.split(",")[0]) for r in rows[1:]] == list(range(len(rows) - 1))


def test_an_slo_that_accepts_less_coverage_exits_0(tmp_path: Path) -> None:
    out, scenario = folder(tmp_path, group_older_than_the_run().events, ACCEPT_LESS)
    verdict = judge(out, scenario, {"errors": []})
    assert verdict["valid"] == "unknown" and exit_code(verdict) == EXIT_PASSED


def test_run_errors_make_the_outcome_error(tmp_path: Path) -> None:
    out, scenario = folder(tmp_path, fully_judged().events)
    verdict = judge(out, scenario, {"errors": []})
    assert exit_code(verdict) == EXIT_PASSED
    verdict = judge(out, scenario, {"errors": ["audit: bob/phone timed out"]})
    assert verdict["outcome"] == "error" and exit_code(verdict) == EXIT_ERROR
    assert verdict["passed"] is False
