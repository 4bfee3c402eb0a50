"""``RUN_DIR/shrink/README.md``, the shrink's report: before -> after, the tries, and how to
replay the result (a README, so that the folder says what it holds)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROWS = (("devices", "devices"), ("messages", "messages (sends)"), ("ops", "ops"),
        ("reads", "reads"), ("faults", "faults ([[chaos]] steps)"))
SHOWN_LINES = 40  # the minimal trace is shown in the report up to this many lines


def render_report(run_dir: Path, figures: dict[str, Any], log: list[dict[str, Any]],
                  trace: list[str]) -> str:
    """The report's Markdown."""
    kind, s = figures["kind"], figures["settings"]
    before, after = figures["before"], figures["after"]
    out = [f"# imload shrink: {run_dir}", "",
           f"Kept anomaly kind: `{kind}` (a candidate fails when at least {s.min_fails} of "
           f"{s.tries} replays report it). Budget {s.budget_s:g} s.", "",
           "| | before | after |", "| --- | ---: | ---: |"]
    out += [f"| {label} | {before[key]} | {after[key]} |" for key, label in ROWS]
    out += [f"| load (s) | {figures['duration_before_s']:g} | "
            f"{figures['duration_after_s']:g} |", "",
            f"{figures['tries']} tries in {figures['wall_s']:g} s"
            + (f"; stopped early: {figures['stopped']}." if figures["stopped"] else
               "; the search ran to its end (every pass 1-minimal)."), "",
            "Replay the minimal drill:", "", "```",
            f"imload run {run_dir / 'shrink' / 'minimal.toml'} --out runs/minimal", "```", ""]
    if len(trace) <= SHOWN_LINES:
        out += ["The minimal trace (`minimal-trace.jsonl`):", "", "```", *trace, "```", ""]
    out += ["## Tries", "", f"| try | pass | devices | messages | faults | {kind} | s |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    out += [f"| {t['try']} | {t['step']} | {t['devices']} | {t['messages']} | {t['faults']} "
            f"| {t[kind]} | {t['seconds']:g} |" for t in log]
    return "\n".join(out) + "\n"


def write_report(path: Path, run_dir: Path, figures: dict[str, Any],
                 log: list[dict[str, Any]]) -> None:
    trace_path = path.parent / "minimal-trace.jsonl"
    trace = trace_path.read_text(encoding="utf-8").splitlines() if trace_path.is_file() else []
    path.write_text(render_report(run_dir, figures, log, trace), encoding="utf-8")
