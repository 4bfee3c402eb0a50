"""One way to judge a run: check its journal, apply the SLOs, write what a run folder holds.

``imload run`` (``run.judge``) and ``imload verify`` both come through ``judge``, so a run
folder judged again holds the same files, made the same way, as the run left:

- ``verdict.json`` (``report.verdict_json``), ``junit.xml`` (``report.junit``),
  ``report.html`` and ``series.csv`` beside it (``report.html``);
- the verdict is the checker's (``checkdb.choose.judge``: the DuckDB checker for a big
  journal, else the reference), plus what only the run knows (``RUN_FIELDS``: the
  scenario's and target's names, the run's errors, how late the faults came), with the
  scenario's SLOs applied (``slo.apply_slos``: run errors make the outcome ``error``).

``imload capacity`` judges the whole run this way too (it calls ``run``), then each step,
and writes the report again with its steps (``write_report``); ``imload verify`` of its
folder keeps them (``capacity.json``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from imload.checkdb.choose import Judged
from imload.checkdb.choose import judge as check_journal
from imload.checkdb.db import MEMORY_LIMIT
from imload.report.html import write_html_report
from imload.report.junit import write_junit
from imload.report.verdict_json import write_verdict
from imload.slo import Slo, apply_slos

CAPACITY_FILE = "capacity.json"  # imload capacity's steps and knee, in its run folder
# what a run adds to the checker's verdict, and a later ``imload verify`` keeps
RUN_FIELDS = ("scenario", "target", "errors", "fault_lateness_ms")


def judge(folders: Sequence[Path], slos: Sequence[Slo], *, run: Mapping[str, Any] | None = None,
          checker: str = "auto", memory_limit: str = MEMORY_LIMIT) -> Judged:
    """The verdict of the journal in ``folders`` with ``run``'s fields (``RUN_FIELDS``) and
    the SLOs applied. JournalError when the journal cannot be read."""
    judged = check_journal(folders, checker, memory_limit)
    judged.verdict.update({k: v for k, v in (run or {}).items() if k in RUN_FIELDS})
    apply_slos(judged.verdict, list(slos))
    return judged


def write_outputs(out: Path, judged: Judged, suite: str, duration_s: float | None = None
                  ) -> None:
    """verdict.json, junit.xml, report.html and series.csv of a run folder."""
    write_verdict(out / "verdict.json", judged.verdict)
    write_junit(out / "junit.xml", judged.verdict, suite, duration_s)
    write_report(out, judged.verdict, judged.series)


def write_report(out: Path, verdict: dict[str, Any], series: Any) -> None:
    """report.html (and series.csv) of a run folder, with what else the folder holds: a
    capacity run's steps (``capacity.json``), so a folder judged again keeps them."""
    write_html_report(out / "report.html", verdict, series, run_dir=out,
                      extra=report_extra(out))


def report_extra(out: Path) -> dict[str, Any] | None:
    """The report's extra sections a run folder holds: ``capacity`` from capacity.json."""
    try:
        capacity = orjson.loads((out / CAPACITY_FILE).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    steps = capacity.get("steps") if isinstance(capacity, dict) else None
    if not isinstance(steps, list):
        return None
    return {"capacity": [{**r, "broke": ", ".join(r.get("broke") or [])} for r in steps
                         if isinstance(r, dict)]}


def run_fields(verdict: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a run wrote into its verdict beyond the checker's (to judge its folder again)."""
    return {k: verdict[k] for k in RUN_FIELDS if verdict and k in verdict}


def suite_name(scenario: str | None) -> str:
    """The JUnit suite's name for a scenario."""
    return f"imload.{scenario or 'verify'}"
