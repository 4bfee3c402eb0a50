"""``imload avalanche``: the same node-kill drill once per reconnect backoff policy.

The seed's claim to show: without jitter the surviving nodes get a
synchronized spike of reconnects; admission control plus jitter keeps them
up. Each policy's run goes to ``OUT/<policy>``; the comparison table goes to
the console and ``OUT/avalanche.json``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from imload.avalanche.analysis import Storm, analyse_storm
from imload.cluster.target import TargetError, load_target
from imload.console import make_console
from imload.journal import JournalError, read_journal
from imload.report.html import write_html_report
from imload.report.timeseries import back_curve
from imload.report.verdict_json import read_verdict
from imload.run import run_scenario
from imload.scenario import Scenario, ScenarioError

DEFAULT_POLICIES = ("none", "exponential", "full_jitter", "decorrelated")


def _target_file(scenario: Scenario, out: Path, target_file: str | None) -> Path:
    if target_file or scenario.target != "local":
        return Path(target_file or scenario.target)
    return out / "cluster" / "target.toml"


def storm_of(events: list[dict[str, Any]], target_path: Path) -> Storm:
    urls = {n.url: n.name for n in load_target(target_path).nodes}
    return analyse_storm(events, urls)


def comparison_table(rows: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="avalanche: reconnect storm after the kill, per backoff policy")
    for col in ("policy", "verdict", "thrown off", "back 50%", "back 99%", "back 100%",
                "peak attempts/s per node", "503s", "Retry-After kept"):
        table.add_column(col, justify="left" if col == "policy" else "right")
    for policy, row in rows.items():
        storm = row.get("storm") or {}
        nodes = storm.get("nodes", {})
        peak = ", ".join(f"{n}:{v['peak_attempts_per_s']}" for n, v in nodes.items()) or "-"
        refused = sum(v["refused_503"] for v in nodes.values())
        back = storm.get("back_s", {})

        def secs(key: str, back: dict[str, Any] = back) -> str:
            v = back.get(key)
            return "-" if v is None else f"{v:.2f} s"
        kept = storm.get("honoured_retry_after")
        table.add_row(policy, row["verdict"], str(storm.get("thrown_off", "-")), secs("p50"),
                      secs("p99"), secs("p100"), peak, str(refused),
                      "-" if kept is None else ("yes" if kept else "no"))
    return table


def run_avalanche(scenario: Scenario, out: Path, policies: list[str],
                  target_file: str | None = None, console: Console | None = None) -> int:
    """Run the drill once per policy; exit 0 when every run passed, 1 if any failed, 2 error."""
    console = console or make_console(stderr=True)
    if not any(c.kind == "kill" for c in scenario.fault_plan(["*"])):
        raise ScenarioError(f"{scenario.path}: an avalanche drill needs a kill fault in [[chaos]]")
    rows: dict[str, dict[str, Any]] = {}
    curves: dict[str, list[tuple[float, float]]] = {}
    worst = 0
    for policy in policies:
        console.rule(f"avalanche: backoff = {policy}")
        run_dir = (out / policy).resolve()
        code = run_scenario(replace(scenario, load=replace(scenario.load, backoff=policy)),
                            run_dir, target_file=target_file, console=console)
        worst = max(worst, code)
        row: dict[str, Any] = {"verdict": {0: "passed", 1: "FAILED"}.get(code, "error")}
        try:
            events = read_journal(run_dir / "journal").events  # read once for both figures
            row["storm"] = storm_of(events, _target_file(scenario, run_dir, target_file)
                                    ).as_dict()
            curves[policy] = back_curve(events)
        except (TargetError, JournalError) as e:
            row["error"] = str(e)
        rows[policy] = row
    (out / "avalanche.json").write_bytes(orjson.dumps(rows, option=orjson.OPT_INDENT_2))
    if curves:
        first = (out / policies[0]).resolve()
        write_html_report(out / "report.html", read_verdict(first / "verdict.json"), None,
                          run_dir=out, extra={"avalanche": curves, "avalanche_table": rows})
    make_console(width=140).print(comparison_table(rows))
    return worst
