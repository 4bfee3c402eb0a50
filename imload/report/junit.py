"""``junit.xml``: the verdict as JUnit XML, the format CI systems read.

One test suite per run; one test case per anomaly kind (class ``anomalies``),
per coverage line (class ``coverage``: each check, and the journal), per SLO the
scenario wrote (class ``slo``) and per run error (class ``run``, as ``error``
elements). The implicit SLOs (``<kind> = 0``, ``<kind> coverage = 100 %``) get no
case of their own: the anomaly and coverage cases are they, one per kind, with the
evidence and the figure, so CI keeps a history per kind and a broken promise
fails once, not twice. A
failing case's message carries the count and its first evidence; a coverage
case's ``system-out`` its figure (``2,316 / 2,316 acked messages judged: 100 %``),
and the suite's properties every figure (``coverage.lost.percent``) and the
outcome. A verdict that was nothing to go on (nothing acked or delivered) fails
``run.valid``.
"""

from __future__ import annotations

import os
import socket
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from imload.report.coverage import (
    NOT_RECORDED,
    WORDS,
    CoverageLine,
    coverage_lines,
    judged_text,
    outcome_of,
    percent_text,
    reason_texts,
    run_wide_sentences,
)


def _case(suite: ET.Element, classname: str, name: str) -> ET.Element:
    return ET.SubElement(suite, "testcase", classname=classname, name=name, time="0")


def _evidence(verdict: dict[str, Any], kind: str) -> str:
    cases = verdict.get("examples", {}).get(kind) or []
    if not cases:
        return ""
    first = cases[0]
    lines = [first.get("explain", "")]
    lines += [" ".join(f"{k}={v}" for k, v in ev.items()) for ev in first.get("events", [])]
    return "\n".join(lines)


def _properties(suite: ET.Element, verdict: dict[str, Any],
                lines: list[CoverageLine] | None) -> None:
    """The outcome and every coverage figure, where CI systems keep a suite's metadata."""
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="imload.outcome", value=WORDS[outcome_of(verdict)])
    for line in lines or []:
        value = "" if line.percent is None else f"{line.percent:g}"
        ET.SubElement(props, "property", name=f"coverage.{line.kind}.percent", value=value)
        ET.SubElement(props, "property", name=f"coverage.{line.kind}.judged",
                      value=f"{line.judged}/{line.due}")
    if lines is None:
        ET.SubElement(props, "property", name="coverage", value=NOT_RECORDED)


def _coverage_case(case: ET.Element, line: CoverageLine) -> str:
    """A check's coverage as a test case: its figure in system-out; a ``failure`` when what
    it could not judge makes the verdict unknown, ``skipped`` when it does not apply.

    A failure rather than an error: an ``error`` means the test itself crashed, and CI
    systems (GitHub annotations through action-junit-report, GitLab, Jenkins) show a
    failure's message as the summary line of a red test, which is what a reader must see:
    the sentence saying what was not judged and why. ``type="unknown"`` tells it from an
    anomaly's failure; the exit code (3) tells CI the same.
    """
    figure = f"{judged_text(line)} judged: {percent_text(line)}"
    if line.accepted:
        figure += " (accepted by " + ", ".join(str(s.get("name")) for s in line.slos) + ")"
    ET.SubElement(case, "system-out").text = figure
    if not line.applicable:
        ET.SubElement(case, "skipped", message=f"not applicable: {line.note}")
        return "skipped"
    if not line.missed:
        return "passed"
    failure = ET.SubElement(case, "failure", type="unknown", message=line.sentence[:1000])
    failure.text = "\n".join([line.sentence, *reason_texts(line)])
    return "failure"


def junit_tree(verdict: dict[str, Any], suite_name: str,
               duration_s: float | None = None) -> ET.ElementTree:
    suites = ET.Element("testsuites", name="imload")
    suite = ET.SubElement(suites, "testsuite", name=suite_name,
                          timestamp=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                          hostname=socket.gethostname())
    lines = coverage_lines(verdict)
    _properties(suite, verdict, lines)  # first, as the Ant schema has it
    failures = errors = tests = skipped = 0
    for kind, count in verdict.get("anomalies", {}).items():
        tests += 1
        case = _case(suite, "anomalies", kind)
        if count:
            failures += 1
            failure = ET.SubElement(case, "failure", type=kind,
                                    message=f"{count} {kind}: "
                                    + (_evidence(verdict, kind).split("\n")[0] or "see verdict"))
            failure.text = _evidence(verdict, kind)
    for cov in lines or []:
        tests += 1
        state = _coverage_case(_case(suite, "coverage", cov.kind), cov)
        failures += state == "failure"
        skipped += state == "skipped"
    if lines is None:
        tests += 1
        skipped += 1
        ET.SubElement(_case(suite, "coverage", "recorded"), "skipped", message=NOT_RECORDED)
    for line in verdict.get("slo", []):
        if line.get("default"):  # an implicit SLO: its anomaly or coverage case says it
            continue
        tests += 1
        case = _case(suite, "slo", line["name"])
        if not line["passed"]:
            failures += 1
            shown = "none" if line.get("value") is None else f"{line['value']:g}"
            limit = f"{'<=' if line.get('op') == 'max' else '>='} {line.get('limit')}"
            note = f" ({line['note']})" if line.get("note") else ""
            ET.SubElement(case, "failure", type="slo",
                          message=f"{line['figure']} = {shown}, wanted {limit}{note}")
    for i, err in enumerate(verdict.get("errors", []), 1):
        tests += 1
        errors += 1
        case = _case(suite, "run", f"error {i}")
        ET.SubElement(case, "error", type="run", message=str(err)[:500]).text = str(err)
    for i, sentence in enumerate(run_wide_sentences(verdict)):
        tests += 1
        failures += 1
        case = _case(suite, "run", "valid" if i == 0 else f"valid {i + 1}")
        ET.SubElement(case, "failure", type="unknown", message=sentence)
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(skipped))
    if duration_s is not None:
        suite.set("time", f"{duration_s:.3f}")
    suites.set("tests", str(tests))
    suites.set("failures", str(failures))
    suites.set("errors", str(errors))
    ET.indent(suites)
    return ET.ElementTree(suites)


def write_junit(path: str | os.PathLike[str], verdict: dict[str, Any], suite_name: str,
                duration_s: float | None = None) -> None:
    """Write ``junit.xml`` atomically."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp")
    junit_tree(verdict, suite_name, duration_s).write(tmp, encoding="utf-8",
                                                      xml_declaration=True)
    os.replace(tmp, p)
