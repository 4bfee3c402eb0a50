"""``imload probe TARGET``: run the security and abuse checks against a target; write
``probe.json`` and ``junit.xml`` into ``--out``, print a table; exit 0 when every check
passed, 1 when one failed, 3 when none failed but some could not be tried, 2 when the probe
could not run at all (a bad target file, a protocol it does not speak).
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from websockets.exceptions import InvalidHandshake, WebSocketException

from imload.cluster.target import TargetError, load_target
from imload.console import make_console
from imload.probe.base import FAIL, NA, PASS, Check, Finding, Probe, ProbeError
from imload.probe.catalogue import CATALOGUE
from imload.slo import EXIT_ERROR, EXIT_FAILED, EXIT_PASSED, EXIT_UNKNOWN

STYLE = {PASS: "green", FAIL: "bold red", NA: "yellow"}


def run_checks(probe: Probe, checks: Sequence[Check] = CATALOGUE,
               progress: Any = None) -> list[dict[str, Any]]:
    """Each check's result: ``{check, status, evidence, vulnerable, seconds}``. A check that
    cannot finish (the target misbehaved in a way it did not foresee) is ``n/a`` with why."""
    results = []
    for check in checks:
        started = time.monotonic()
        try:
            found = check.run(probe)
        except ProbeError as e:
            found = Finding(NA, str(e))
        except (OSError, TimeoutError, WebSocketException, InvalidHandshake, ValueError,
                KeyError, TypeError) as e:
            found = Finding(NA, f"the check could not finish: {type(e).__name__}: {e}")
        results.append({"check": check.name, "status": found.status,
                        "evidence": found.evidence, "vulnerable": check.vulnerable,
                        "seconds": round(time.monotonic() - started, 3)})
        if progress is not None:
            progress(results[-1])
    return results


def exit_code(results: Sequence[dict[str, Any]]) -> int:
    statuses = {r["status"] for r in results}
    if FAIL in statuses:
        return EXIT_FAILED
    return EXIT_UNKNOWN if NA in statuses else EXIT_PASSED


def junit(results: Sequence[dict[str, Any]], target: str) -> ET.ElementTree:
    suite = ET.Element("testsuite", name=f"imload.probe.{target}", tests=str(len(results)),
                       failures=str(sum(r["status"] == FAIL for r in results)),
                       skipped=str(sum(r["status"] == NA for r in results)))
    for r in results:
        case = ET.SubElement(suite, "testcase", classname="imload.probe", name=r["check"],
                             time=str(r["seconds"]))
        if r["status"] == FAIL:
            ET.SubElement(case, "failure", message=r["vulnerable"]).text = r["evidence"]
        elif r["status"] == NA:
            ET.SubElement(case, "skipped", message=r["evidence"])
    return ET.ElementTree(suite)


def table(results: Sequence[dict[str, Any]]) -> Table:
    t = Table(box=box.SIMPLE_HEAD, title="imload probe", title_justify="left")
    t.add_column("check")
    t.add_column("result")
    t.add_column("evidence", overflow="fold")
    for r in results:
        t.add_row(r["check"], f"[{STYLE[r['status']]}]{r['status']}[/]",
                  escape(r["evidence"][:200]))
    return t


def main_probe(target_file: str, out: Path, console: Console, node: str | None = None,
               slow_s: float = 15.0) -> int:
    err = make_console(stderr=True)
    try:
        target = load_target(target_file)
    except TargetError as e:
        err.print(f"[red]imload probe: {escape(str(e))}[/]", highlight=False)
        return EXIT_ERROR
    if target.protocol != "v1":
        err.print(f"[red]imload probe: {target.name} speaks {target.protocol}; the probe "
                  "speaks protocol v1 only so far[/]", highlight=False)
        return EXIT_ERROR
    try:
        spec = target.node(node) if node else target.nodes[0]
    except KeyError as e:
        err.print(f"[red]imload probe: {escape(str(e.args[0]))}[/]", highlight=False)
        return EXIT_ERROR
    # the node itself, not the fault proxy in front of it (a local cluster's Toxiproxy is
    # the harness's: its buffers would hide what the node queues for a slow reader)
    url = str(spec.extra.get("direct_url") or spec.url)
    probe = Probe(url, target.secret, str(target.ca) if target.ca else None, slow_s)
    with err.status(f"probing {spec.name} ({url})") as status:
        results = run_checks(probe, progress=lambda r: status.update(
            f"probing {spec.name}: {r['check']} {r['status']}"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "probe.json").write_bytes(orjson.dumps(
        {"target": target.name, "node": spec.name, "url": url, "results": results},
        option=orjson.OPT_INDENT_2))
    junit(results, target.name).write(out / "junit.xml", encoding="utf-8",
                                      xml_declaration=True)
    console.print(table(results))
    counts = {s: sum(r["status"] == s for r in results) for s in (PASS, FAIL, NA)}
    console.print(f"{counts[PASS]} passed, {counts[FAIL]} failed, {counts[NA]} not tried; "
                  f"{out / 'probe.json'}")
    return exit_code(results)
