"""``imload capacity``: one run under a step load; each step judged on its own window.

The scenario's ``[capacity]`` table names the steps (users), how long each
holds and how much of its start is ramp. The run is an ordinary ``imload run``
(faults, heal, audit and all) with the ``capacity`` locustfile's step shape.
The load stops after the first step that fails live (``live.py``: ack latency
SLOs, anomalies seen before the audit). Afterwards each step that ran is
checked by the checker and the scenario's SLOs on its window, and the report
names the highest passing step (the knee), its messages per second, and the
limit that broke first.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from imload.capacity.live import StepWatch
from imload.capacity.steps import Step, judge_steps, knee
from imload.console import make_console
from imload.journal import read_journal
from imload.judge import CAPACITY_FILE, write_report
from imload.report.timeseries import build_series
from imload.report.verdict_json import read_verdict
from imload.run import EXIT_ERROR, run_scenario
from imload.scenario import Scenario, ScenarioError


def steps_from_journal(events: list[dict[str, Any]], step_s: float) -> list[Step]:
    """The steps as the shape started them (its ``step:<n>:<users>`` phase events)."""
    starts = []
    load_end = None
    for e in events:
        if e["ev"] != "phase":
            continue
        if str(e.get("phase", "")).startswith("step:") and e.get("action") == "start":
            _, n, users = e["phase"].split(":")
            starts.append((int(n), int(users), e["at"]))
        elif e.get("phase") == "load" and e.get("action") == "end":
            load_end = e["at"]
    steps = []
    for i, (_, users, at) in enumerate(starts):
        end = starts[i + 1][2] if i + 1 < len(starts) else min(at + step_s, load_end or at + step_s)
        steps.append(Step(i, users, at, end))
    return steps


def capacity_table(rows: list[dict[str, Any]], best: dict[str, Any]) -> Table:
    table = Table(title="capacity: each step judged on its own window")
    for col in ("step", "users", "msgs/s", "ack p99 ms", "verdict", "broke"):
        table.add_column(col, justify="left" if col in ("verdict", "broke") else "right")
    for r in rows:
        p99 = r["ack_p99_ms"]
        mark = " ◀ knee" if r["users"] == best["max_users"] else ""
        table.add_row(str(r["step"]), str(r["users"]), f"{r['msgs_per_s']:g}",
                      "-" if p99 is None else f"{p99:.1f}",
                      ("[green]passed[/]" if r["passed"] else "[red]FAILED[/]") + mark,
                      ", ".join(r["broke"]) or "")
    return table


def run_capacity(scenario: Scenario, out: Path, target_file: str | None = None,
                 console: Console | None = None) -> int:
    """0: a knee was found; 1: not even the first step passed; 2: the run could not be made."""
    console = console or make_console(stderr=True)
    cap = scenario.capacity
    if not cap.steps:
        raise ScenarioError(f"{scenario.path}: imload capacity needs [capacity] steps = [...]")
    load = replace(scenario.load, users=max(cap.steps), locustfile="capacity",
                   duration_s=len(cap.steps) * cap.step_s)
    extra = ["--imload-steps", ",".join(map(str, cap.steps)), "--imload-step-s",
             f"{cap.step_s:g}", "--imload-step-rate", f"{cap.spawn_rate:g}"]
    code = run_scenario(replace(scenario, load=load), out, target_file=target_file,
                        console=console, locust_extra=extra,
                        stop_when=StepWatch(scenario.slos, cap.ramp_s))
    if code == EXIT_ERROR:
        return code
    out = out.resolve()
    events = read_journal(out / "journal").events
    steps = steps_from_journal(events, cap.step_s)
    if not steps:
        console.print("[red]imload capacity: the step shape recorded no steps "
                      f"(see {out / 'locust.log'})[/]")
        return EXIT_ERROR
    rows = judge_steps(events, steps, cap.ramp_s, scenario.slos)
    best = knee(rows)
    report = {"steps": rows, "knee": best}
    (out / CAPACITY_FILE).write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    verdict = read_verdict(out / "verdict.json")
    write_report(out, verdict, build_series(events, verdict))
    make_console(width=120).print(capacity_table(rows, best))
    if best["max_users"] is None:
        make_console().print(f"no step passed; the first broke on {best['broke_first']}")
        return 1
    tail = (f"; at {best['first_failing_users']} users it broke on {best['broke_first']}"
            if best["first_failing_users"] else "; every step passed: add bigger steps")
    make_console().print(f"capacity: {best['max_users']} users, {best['max_msgs_per_s']:g} msgs/s "
                    f"within the SLOs{tail}", highlight=False)
    return 0
