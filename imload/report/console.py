"""The verdict as rich tables on a console: banner, counts, anomalies, coverage, what could
not be judged, evidence, latency, cost, faults, SLOs, and where to look (the run's
report.html, verdict.json and series.csv).

The SLO table has the scenario's SLOs and one line for every implicit ``<kind> = 0``
(``imload.slo.slo_table``: "every anomaly = 0", naming the kinds that broke it); the
implicit coverage SLOs are one sentence under it.

The banner is the outcome (``imload.slo.outcome``): PASSED, FAILED, UNKNOWN (not
everything could be judged: exit code 3) or ERROR. The coverage table has one line
per check (judged of due, percent, why not); every sentence of ``verdict["unknown"]``
is printed below it, as loud as an anomaly.

The anomalies table shows each kind's count and its first case's sentence; below it,
for every kind that fired, the first ``CASES_SHOWN`` cases with their events, one
line each (verdict.json keeps every case up to the checker's cap).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from imload.journal.timeline import describe as describe_timeline
from imload.report.coverage import (
    NOT_RECORDED,
    WORDS,
    accepted_note,
    coverage_lines,
    outcome_of,
    percent_text,
    reason_texts,
    short_summary,
    told_lines,
)
from imload.report.series_csv import SERIES_CSV
from imload.slo import (
    implicit_coverage,
    is_coverage_figure,
    is_implicit_anomaly,
    promised_kinds,
    slo_table,
)

COUNT_LABELS = (
    ("attempted", "logical sends"), ("attempts", "wire attempts"), ("acked", "acked"),
    ("failed", "failed"), ("info", "indeterminate"), ("recovered", "recovered"),
    ("delivered", "delivered"), ("expected_deliveries", "expected deliveries"),
    ("wire_duplicates", "wire duplicates"), ("ops", "ops"), ("ops_ok", "ops acked"),
    ("ops_info", "ops indeterminate"), ("reads_ok", "reads acked"),
)
CASES_SHOWN = 3
EVENT_FIELDS = ("user", "device", "session", "cmid", "opid", "conv", "mid", "seq", "useq",
                "from", "via", "phase", "upto", "attempt", "dup", "reason", "action",
                "inbox_seq")
LATENCY_COLUMNS = (("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p999", "p99.9"),
                   ("max", "max"))
BAD_LINES_SHOWN = 5


def render_verdict(verdict: dict[str, Any], console: Console, run_dir: str | None = None) -> None:
    """Print ``verdict`` on ``console``; plain text (no colour codes) when it is not a terminal."""
    console.print(verdict_renderable(verdict, run_dir), crop=False)  # paths stay whole


def verdict_renderable(verdict: dict[str, Any], run_dir: str | None = None) -> RenderableType:
    parts: list[RenderableType] = [_banner(verdict), _counts(verdict.get("counts", {})),
                                   _anomalies(verdict), _coverage(verdict)]
    unknown = _unknown(verdict)
    if unknown is not None:
        parts.append(unknown)
    evidence = _evidence(verdict)
    if evidence is not None:
        parts.append(evidence)
    latency = verdict.get("latency_ms") or {}
    if latency:
        parts.append(_latency(latency))
    cost = _cost(verdict)
    if cost is not None:
        parts.append(cost)
    parts.append(_faults(verdict.get("faults") or []))
    if verdict.get("slo"):
        parts.append(_slo(verdict["slo"]))
    parts.extend(_notes(verdict, run_dir))
    return Group(*parts)


BANNER_STYLES = {"passed": "bold white on green", "failed": "bold white on red",
                 "error": "bold white on red", "unknown": "bold black on yellow"}


def _banner(verdict: dict[str, Any]) -> Text:
    state = outcome_of(verdict)
    text = Text(f" {WORDS[state]} ", style=BANNER_STYLES[state])
    promised = set(promised_kinds(verdict))
    found = [k for k, n in (verdict.get("anomalies") or {}).items() if n]
    failing = [k for k in found if k in promised]
    findings = [k for k in found if k not in promised]
    missed = [s.get("name", "?") for s in verdict.get("slo") or []  # the kind says an implicit
              if not s.get("passed") and not is_coverage_figure(s.get("figure"))  # one
              and not is_implicit_anomaly(s)]
    why = [f"{k}" for k in failing] + [f"slo {m}" for m in missed]
    if why:
        text.append("  " + ", ".join(why), style="red")
    if findings:
        text.append("  found, not promised: " + ", ".join(findings), style="yellow")
    unjudged = short_summary(verdict)
    if unjudged:
        text.append(f"  not everything could be judged: {unjudged}", style="bold yellow")
    elif state == "passed" and accepted_note(verdict):
        text.append(f"  {accepted_note(verdict)}", style="yellow")
    if verdict.get("errors"):
        text.append(f"  {len(verdict['errors'])} run error(s)", style="red")
    return text


def _counts(counts: dict[str, Any]) -> Table:
    table = Table(title="counts", box=box.SIMPLE, show_header=False, title_justify="left")
    for _ in range(2):
        table.add_column(justify="left")
        table.add_column(justify="right")
    cells = [(label, str(counts[key])) for key, label in COUNT_LABELS if key in counts]
    for i in range(0, len(cells), 2):
        row = [*cells[i], *(cells[i + 1] if i + 1 < len(cells) else ("", ""))]
        table.add_row(*row)
    return table


def _anomalies(verdict: dict[str, Any]) -> Table:
    table = Table(title="anomalies", box=box.SIMPLE_HEAD, title_justify="left", expand=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("count", justify="right", no_wrap=True)
    table.add_column("first example", ratio=1, overflow="fold")
    examples = verdict.get("examples") or {}
    promised = set(promised_kinds(verdict))
    for kind, count in (verdict.get("anomalies") or {}).items():
        style = ("red" if kind in promised else "yellow") if count else \
            "green" if kind in promised else "dim"
        first = (examples.get(kind) or [{}])[0].get("explain", "")
        label = kind if kind in promised else f"{kind} (not promised)"
        table.add_row(Text(label, style=style), Text(str(count), style=style), first)
    return table


def _coverage(verdict: dict[str, Any]) -> RenderableType:
    """One line per check: how much of what it had to judge it judged, and why not."""
    lines = coverage_lines(verdict)
    if lines is None:
        return Text(NOT_RECORDED, style="yellow")
    table = Table(title="coverage", box=box.SIMPLE_HEAD, title_justify="left", expand=True)
    table.add_column("check", no_wrap=True)
    table.add_column("%", justify="right", no_wrap=True)
    table.add_column("judged", justify="right", no_wrap=True)
    table.add_column("of", ratio=1, overflow="fold")
    table.add_column("not judged because", ratio=2, overflow="fold")
    for line in lines:
        style = "bold yellow" if line.missed else "yellow" if line.accepted else \
            "dim" if not line.due or not line.promised else "green"
        # the examples are in the sentences below the table
        why = "; ".join(reason_texts(line, examples=False)) \
            if line.short or not line.applicable else ""
        if line.accepted:
            why = f"accepted by SLO: {why}"
        elif not line.promised and why:
            why = f"not promised by the target: {why}"
        judged = f"{line.judged:,} / {line.due:,}" if line.due else "–"
        table.add_row(Text(line.kind, style=style), Text(percent_text(line), style=style),
                      judged, line.unit, why)
    return table


def _unknown(verdict: dict[str, Any]) -> RenderableType | None:
    """Each sentence of ``verdict["unknown"]``: why the verdict is (or would be) unknown."""
    told = told_lines(verdict)
    if not told:
        return None
    out = Text()
    for s, line in told:
        accepted = line is not None and line.accepted
        out.append("accepted: " if accepted else "UNKNOWN: ",
                   style="yellow" if accepted else "bold yellow")
        out.append(s + "\n")
        for more in reason_texts(line)[1:] if line is not None else []:
            out.append(f"    {more}\n", style="dim")  # the sentence has the first example
    out.rstrip()
    return out


def _event_line(e: dict[str, Any]) -> str:
    shown = " ".join(f"{k}={e[k]}" for k in EVENT_FIELDS if k in e and e[k] is not None)
    return f"{e.get('ev', '?')} @{e.get('at', '?')} {shown}"


def _evidence(verdict: dict[str, Any]) -> RenderableType | None:
    """The first cases of each kind that fired, with their events."""
    examples = verdict.get("examples") or {}
    lines = Text()
    for kind, count in (verdict.get("anomalies") or {}).items():
        if not count:
            continue
        for i, case in enumerate((examples.get(kind) or [])[:CASES_SHOWN], 1):
            lines.append(f"{kind} #{i}: ", style="bold red")
            lines.append(str(case.get("explain", "")) + "\n")
            for e in case.get("events") or []:
                lines.append(f"    {_event_line(e)}\n", style="dim")
        more = count - min(count, CASES_SHOWN)
        if more:
            lines.append(f"{kind}: {more} more case(s) in verdict.json\n", style="dim")
    if not lines:
        return None
    lines.rstrip()
    return Group(Text("evidence", style="italic"), lines)


def _cost(verdict: dict[str, Any]) -> Text | None:
    """Fan-out cost, retries, why operations became indeterminate, the worst unseen count."""
    cost = verdict.get("cost") or {}
    parts = []
    if cost.get("frames_per_message") is not None:
        parts.append(f"frames per message {cost['frames_per_message']}")
    if cost.get("retry_ratio") is not None:
        parts.append(f"attempts per send {cost['retry_ratio']}")
    unseen = (verdict.get("over_time") or {}).get("unseen") or []
    if unseen:
        peak = max(unseen, key=lambda p: p.get("unseen", 0))
        parts.append(f"most acked-but-unseen {peak.get('unseen')} at {peak.get('t_s')}s")
    reasons = (verdict.get("info_reasons") or {}).get("send") or {}
    if reasons:
        parts.append("indeterminate because: " + ", ".join(f"{k} {v}"
                                                          for k, v in reasons.items()))
    return Text("; ".join(parts)) if parts else None


def _ms(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _latency(latency: dict[str, Any]) -> Table:
    table = Table(title="latency (ms)", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("of", no_wrap=True)
    for _, label in LATENCY_COLUMNS:
        table.add_column(label, justify="right")
    table.add_column("count", justify="right")
    for name, figures in latency.items():
        table.add_row(name, *(_ms(figures.get(key)) for key, _ in LATENCY_COLUMNS),
                      str(figures.get("count", 0)))
    return table


def _window(fault: dict[str, Any]) -> str:
    start, until = fault.get("at_s"), fault.get("until_s")
    left = "?" if start is None else f"{start:.1f}s"
    right = "still on" if until is None else f"{until:.1f}s"
    return f"{left} → {right}"


def _faults(faults: list[dict[str, Any]]) -> RenderableType:
    if not faults:
        return Text("faults: none injected", style="dim")
    table = Table(title="faults", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("kind", no_wrap=True)
    table.add_column("target", overflow="fold")
    table.add_column("window", no_wrap=True)
    for f in faults:
        table.add_row(str(f.get("kind")), str(f.get("target")), _window(f))
    return table


def _slo(slos: list[dict[str, Any]]) -> RenderableType:
    """The scenario's SLOs and one line for every implicit ``<kind> = 0`` (``slo_table``);
    the implicit coverage SLOs in one sentence (the coverage table has them by check)."""
    table = Table(title="SLOs", box=box.SIMPLE_HEAD, title_justify="left")
    for name in ("name", "limit", "value", "passed"):
        table.add_column(name)
    table.add_column("", overflow="fold")
    for s in slo_table(slos):
        ok = bool(s.get("passed"))
        table.add_row(str(s.get("name")), str(s.get("limit")), str(s.get("value")),
                      Text("yes" if ok else "NO", style="green" if ok else "red"),
                      str(s.get("note") or ""))
    held, missed = implicit_coverage(slos)
    if not held and not missed:
        return table
    note = Text("implicit too: each check's coverage = 100 %: ", style="dim")
    note.append(f"missed for {', '.join(missed)}" if missed else f"held by all {held}",
                style="yellow" if missed else "dim")
    return Group(table, note) if table.row_count else note


def _notes(verdict: dict[str, Any], run_dir: str | None) -> list[RenderableType]:
    notes: list[RenderableType] = []
    journal = verdict.get("journal") or {}
    bad = list(journal.get("bad_lines") or []) + list(journal.get("bad_events") or [])
    line = Text(f"journal: {journal.get('events', '?')} events")
    if bad:
        line.append(f", {len(bad)} unreadable", style="yellow")
    notes.append(line)
    clocks = describe_timeline(journal.get("timeline"))
    if clocks is not None:
        notes.append(Text(clocks[0], style=None if clocks[1] else "yellow"))
    for b in bad[:BAD_LINES_SHOWN]:
        notes.append(Text(f"  {b}", style="yellow"))
    for err in (verdict.get("errors") or [])[:BAD_LINES_SHOWN]:
        notes.append(Text(f"error: {err}", style="red"))
    if run_dir is not None:  # paths are never broken across lines (copy, paste, grep)
        notes.append(_path_line(f"run folder: {run_dir}"))
        report = Path(run_dir) / "report.html"
        if report.is_file():  # where to look next
            notes.append(_path_line(f"report: {report} (open it in a browser)"))
            notes.append(_path_line(f"the verdict as JSON: {Path(run_dir) / 'verdict.json'}"))
        csv = Path(run_dir) / SERIES_CSV
        if csv.is_file():
            notes.append(_path_line(f"the per-second series as CSV: {csv}"))
    return notes


def _path_line(text: str) -> Text:
    """A line that names a path: never wrapped nor cropped, whatever the console's width."""
    return Text(text, no_wrap=True, overflow="ignore")
