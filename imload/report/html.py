"""report.html: one self-contained page per run (inline CSS and SVG; no script, no network).

``write_html_report(path, verdict, series)`` writes it, and ``series.csv`` (the
per-second series, ``series_csv``) beside it; ``render_html`` returns the text.

The first screen (``html_first``; what a 1366 x 768 laptop shows without
scrolling) answers "did it hold, what broke, when": the header (PASSED / FAILED /
UNKNOWN / ERROR, scenario, target, why), for an UNKNOWN outcome the callout of
what could not be judged, the faults, the anomalies found with their definition
and first example, run errors, and the push latency and acked-but-unseen charts.
Below: key figures, SLOs (the scenario's and one line for every implicit
``<kind> = 0``: ``imload.slo.slo_table``), every anomaly's evidence, what could not
be judged (when the outcome is not UNKNOWN), coverage, throughput and connected
devices over time, latency percentiles, counts, faults, and, when given through
``extra``, capacity steps and avalanche reconnect curves; errors and journal notes
last. Every piece of text from the verdict is escaped.
"""

from __future__ import annotations

import json
import os
from html import escape
from pathlib import Path
from typing import Any

from imload.journal.timeline import describe as describe_timeline
from imload.report.charts import TimeAxis, connected_chart, throughput_chart
from imload.report.coverage import (
    WORDS,
    accepted_note,
    coverage_html,
    coverage_lines,
    outcome_of,
    percent_text,
    short_summary,
    unknown_html,
)
from imload.report.html_css import CSS
from imload.report.html_drills import avalanche_html, capacity_html
from imload.report.html_first import first_screen_html
from imload.report.html_kit import esc, ms, num, pct, pill, secs, section, table
from imload.report.series_csv import SERIES_CSV, write_series_csv
from imload.report.timeseries import Series
from imload.slo import implicit_coverage, is_coverage_figure, is_implicit_anomaly, slo_table

CASES_SHOWN, EVENTS_SHOWN = 5, 12
LATENCY_COLUMNS = (("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p999", "p99.9"),
                   ("max", "max"))


def write_html_report(path: str | os.PathLike[str], verdict: dict[str, Any],
                      series: Series | None, run_dir: str | os.PathLike[str] | None = None,
                      extra: dict[str, Any] | None = None) -> Path:
    """Write the report of one run to ``path`` (UTF-8, through a rename) and, when a
    ``series`` is given, ``series.csv`` beside it; return the report's path.

    ``extra`` may hold ``capacity`` (a list of steps ``{users, msgs_per_s,
    passed, broke}``) and ``avalanche`` (``{policy: [(t_s, fraction back), ...]}``);
    other keys are shown as JSON at the end.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    csv_name = None
    if series is not None:  # every command that writes the report writes the CSV too
        csv_name = write_series_csv(target.with_name(SERIES_CSV), series).name
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(render_html(verdict, series, run_dir, extra, csv_name), encoding="utf-8")
    os.replace(tmp, target)
    return target


def render_html(verdict: dict[str, Any], series: Series | None,
                run_dir: str | os.PathLike[str] | None = None,
                extra: dict[str, Any] | None = None, csv_name: str | None = None) -> str:
    """The page; ``csv_name``: the series' CSV file beside it, named in the notes."""
    extra = dict(extra or {})
    unknown = unknown_html(verdict)  # first when it is the verdict; else below the plots
    first = outcome_of(verdict) == "unknown"
    sections = [unknown if first else "", first_screen_html(verdict, series),
                _cards(verdict), _slo(verdict), _anomalies(verdict),
                "" if first else unknown, coverage_html(verdict), _charts(verdict, series),
                _latency(verdict), _counts(verdict), _faults(verdict),
                capacity_html(extra.pop("capacity", None)),
                avalanche_html(extra.pop("avalanche", None)), _other(extra),
                _notes(verdict, run_dir, csv_name)]
    body = "\n".join(s for s in sections if s)
    title = f"imload {WORDS[outcome_of(verdict)]}: {verdict.get('scenario') or 'run'}"
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>\n"
            f"{_header(verdict, run_dir, sections)}\n<main>\n{body}\n"
            "<footer>imload report: self-contained, opens offline</footer>\n"
            "</main></body></html>\n")


def _failing(verdict: dict[str, Any]) -> list[str]:
    """The header's reasons: anomalies, missed SLOs, what could not be judged, errors."""
    why = [f"{k}: {n}" for k, n in (verdict.get("anomalies") or {}).items() if n]
    why += [f"SLO {s.get('name')}" for s in verdict.get("slo") or []  # an implicit <kind> = 0
            if not s.get("passed") and not is_coverage_figure(s.get("figure"))  # is said
            and not is_implicit_anomaly(s)]  # by its kind above
    unjudged = short_summary(verdict)
    if unjudged:
        why.append(f"not judged: {unjudged}")
    if verdict.get("errors"):
        n = len(verdict["errors"])
        why.append(f"{n} run error{'s' if n != 1 else ''}")
    accepted = accepted_note(verdict)
    if accepted and not why:
        why.append(accepted)
    return why


def _valid(value: Any) -> Any:
    return str(value).lower() if isinstance(value, bool) else value


HEADER_CLASS = {"passed": "pass", "failed": "fail", "error": "fail", "unknown": "unknown"}
NAV = (("unknown", "not judged"), ("summary", "summary"), ("plots", "when"),
       ("slo", "SLOs"), ("anomalies", "evidence"),
       ("coverage", "coverage"), ("charts", "over time"), ("latency", "latency"),
       ("counts", "counts"), ("faults", "faults"), ("capacity", "capacity"),
       ("avalanche", "avalanche"), ("notes", "notes"))


def _header(verdict: dict[str, Any], run_dir: Any, sections: list[str]) -> str:
    state = outcome_of(verdict)
    names = [("scenario", verdict.get("scenario")), ("target", verdict.get("target")),
             ("valid", _valid(verdict.get("valid")))]
    meta = " · ".join(f"{k} <b>{esc(v)}</b>" for k, v in names if v is not None)
    why = "".join(f"<span>{esc(w)}</span>" for w in _failing(verdict))
    links = [(ident, label) for ident, label in NAV
             if any(f'<section id="{ident}"' in s for s in sections)]
    nav = "".join(f'<a href="#{i}">{escape(label)}</a>' for i, label in links)
    if run_dir is not None:
        meta += f"{' · ' if meta else ''}run folder <code>{esc(run_dir)}</code>"
    return (f'<header class="{HEADER_CLASS[state]}"><div class="inner">'
            f'<span class="badge">{WORDS[state]}</span>'
            f"<h1>imload report: {esc(verdict.get('scenario') or 'run')}</h1>"
            f"<p>{meta}</p>"
            f'{f"<p class=why>{why}</p>" if why else ""}<nav>{nav}</nav></div></header>')


def _coverage_card(verdict: dict[str, Any]) -> tuple[str, str, str]:
    """The least-covered check (its percent), or "all" when every check judged everything."""
    lines = coverage_lines(verdict)
    if lines is None:
        return "coverage", "not recorded", ""
    due = [line for line in lines if line.due and line.applicable]
    if not due:
        return "coverage", "–", ""
    least = min(due, key=lambda line: line.percent if line.percent is not None else 100.0)
    if not least.short:
        return "coverage: every check", "100 %", ""
    return f"coverage: least ({least.kind})", percent_text(least), \
        "warn" if least.accepted else "unknown"


def _cards(verdict: dict[str, Any]) -> str:
    counts = verdict.get("counts") or {}
    anomalies = verdict.get("anomalies") or {}
    latency = verdict.get("latency_ms") or {}
    load = (verdict.get("phases") or {}).get("load") or {}
    span = None
    if isinstance(load.get("end_s"), int | float) and isinstance(load.get("start_s"),
                                                                  int | float):
        span = load["end_s"] - load["start_s"]
    label, value, state = _coverage_card(verdict)
    cards = [("logical sends", num(counts.get("attempted")), ""),
             ("acked", num(counts.get("acked")), ""),
             ("delivered / expected", f"{num(counts.get('delivered'))} / "
              f"{num(counts.get('expected_deliveries'))}", ""),
             ("anomalies", num(sum(anomalies.values())), "bad" if sum(anomalies.values())
              else ""),
             (label, esc(value), state),
             ("ack p99 (ms)", ms((latency.get("ack") or {}).get("p99")), ""),
             ("e2e p99 (ms)", ms((latency.get("e2e") or {}).get("p99")), ""),
             ("push p99 (ms)", ms((latency.get("push") or {}).get("p99")), ""),
             ("faults", num(len(verdict.get("faults") or [])), ""),
             ("load phase", secs(span), "")]
    return '<div class="cards">' + "".join(
        f'<div class="card{" " + cls if cls else ""}"><div class="v">{v}</div>'
        f'<div class="k">{escape(k)}</div></div>' for k, v, cls in cards) + "</div>"


def _slo(verdict: dict[str, Any]) -> str:
    """The scenario's SLOs and one line for every implicit ``<kind> = 0`` (``slo_table``);
    the implicit coverage SLOs in a sentence (the coverage section has them one by one)."""
    lines = verdict.get("slo") or []
    rows = slo_table(lines)
    if not rows:
        return ""
    cells = [(esc(s.get("name")), esc(s.get("limit")), esc(s.get("value")),
              pill(bool(s.get("passed")), "held", "MISSED",
                   "warn" if is_coverage_figure(s.get("figure")) else "bad"),
              esc(s.get("note") or "")) for s in rows]
    inner = table([("SLO", False), ("limit", True), ("value", True), ("", False),
                   ("", False)], cells)
    held, missed = implicit_coverage(lines)
    if held or missed:
        state = (f'<span class="pill warn">missed</span> for {esc(", ".join(missed))}'
                 if missed else f"held by all {held}")
        inner += (f'<p class="note" style="margin:8px 0 0">Implicit too: each check\'s '
                  f'coverage = 100 %: {state} (see <a href="#coverage">coverage</a>).</p>')
    return section("slo", "SLOs", inner)


def _case_html(case: Any) -> str:
    if not isinstance(case, dict):
        return f'<div class="case"><pre>{esc(json.dumps(case, default=str))}</pre></div>'
    events = list(case.get("events") or [])
    lines = "\n".join(json.dumps(e, default=str, ensure_ascii=False)
                      for e in events[:EVENTS_SHOWN])
    more = f"\n… {len(events) - EVENTS_SHOWN} more events" if len(events) > EVENTS_SHOWN else ""
    pre = f"<pre>{escape(lines + more)}</pre>" if lines else ""
    return f'<div class="case"><div>{esc(case.get("explain", ""))}</div>{pre}</div>'


def _anomalies(verdict: dict[str, Any]) -> str:
    anomalies = verdict.get("anomalies") or {}
    if not anomalies:
        return ""
    examples = verdict.get("examples") or {}
    rows = []
    for kind, count in anomalies.items():
        if not count:
            continue
        cases = list(examples.get(kind) or [])
        evidence = ""
        if cases:
            first = cases[0].get("explain", "") if isinstance(cases[0], dict) else ""
            shown = min(len(cases), CASES_SHOWN)
            evidence = (f"<details><summary>{esc(first)} <span class=note>(evidence: {shown} "
                        f"of {num(count)} cases)</span></summary>"
                        + "".join(_case_html(c) for c in cases[:CASES_SHOWN]) + "</details>")
        rows.append((f'<span class="bad">{esc(kind)}</span>',
                     f'<span class="bad">{num(count)}</span>', evidence))
    clean = [k for k, n in anomalies.items() if not n]
    inner = table([("kind", False), ("count", True), ("evidence", False)], rows) if rows \
        else '<p class="ok">No anomaly: every check found nothing.</p>'
    if clean:
        inner += ('<p style="margin:12px 0 0"><span class="note">found none of: </span>'
                  + "".join(f'<span class="chip">{esc(k)}</span>' for k in clean) + "</p>")
    return section("anomalies", "Anomalies", inner,
                    "What the checker proved from the journal alone; open a row for the "
                    "events that show it." if rows else "")


def _figure(title: str, caption: str, svg: str) -> str:
    return (f'<figure><figcaption><h3>{escape(title)}</h3><p class="note">{escape(caption)}'
            f"</p></figcaption>{svg}</figure>")


def _charts(verdict: dict[str, Any], series: Series | None) -> str:
    """Throughput and connected devices (the first screen has push latency and unseen)."""
    if series is None or not series.seconds:
        return ""
    axis = TimeAxis(series, verdict.get("faults") or [], verdict.get("phases") or {})
    figs = [throughput_chart(axis), connected_chart(axis)]
    return section("charts", "Over time", "\n".join(_figure(*f) for f in figs),
                    "Seconds since the load started; shaded: fault windows; dashed verticals: "
                    "phase boundaries.")


def _latency(verdict: dict[str, Any]) -> str:
    latency = verdict.get("latency_ms") or {}
    if not latency:
        return ""
    rows = [(esc(name), *(ms(f.get(k)) for k, _ in LATENCY_COLUMNS), num(f.get("count", 0)))
            for name, f in latency.items() if isinstance(f, dict)]
    head = [("of", False), *((label, True) for _, label in LATENCY_COLUMNS), ("samples", True)]
    return section("latency", "Latency (ms)", table(head, rows))


def _counts(verdict: dict[str, Any]) -> str:
    counts = verdict.get("counts") or {}
    fractions = verdict.get("fractions") or {}
    rows = [(esc(k.replace("_", " ")), num(v), pct(fractions.get(k)) if k in fractions
             else "") for k, v in counts.items()]
    half = (len(rows) + 1) // 2
    head = [("count", False), ("value", True), ("fraction", True)]
    inner = (f'<div class="two">{table(head, rows[:half])}{table(head, rows[half:])}'
             "</div>")
    cost = [(esc(k.replace("_", " ")), num(v)) for k, v in (verdict.get("cost") or {}).items()]
    if cost:
        half, head = (len(cost) + 1) // 2, [("cost", False), ("value", True)]
        inner += (f'<h3>Cost</h3><div class="two">{table(head, cost[:half])}'
                  f"{table(head, cost[half:])}</div>")
    reasons = {k: v for k, v in (verdict.get("info_reasons") or {}).items() if v}
    if reasons:
        inner += "<h3>Why sends and ops failed or became unknown</h3>" + table(
            [("outcome", False), ("reason", False), ("count", True)],
            [(esc(kind), esc(r), num(n)) for kind, per in reasons.items()
             for r, n in per.items()])
    return section("counts", "Counts", inner) if counts or cost else ""


def _faults(verdict: dict[str, Any]) -> str:
    faults = verdict.get("faults") or []
    if not faults:
        return section("faults", "Faults", '<p class="note">none injected</p>')
    rows = []
    for f in faults:
        start, until = f.get("at_s"), f.get("until_s")
        span = until - start if isinstance(start, int | float) and isinstance(
            until, int | float) else None
        detail = json.dumps(f.get("detail") or {}, default=str, ensure_ascii=False)
        rows.append((esc(f.get("kind")), esc(f.get("target")), secs(start),
                     secs(until) if until is not None else "still on", secs(span),
                     f"<code>{escape(detail)}</code>"))
    return section("faults", "Faults", table(
        [("kind", False), ("target", False), ("start", True), ("stop", True),
         ("lasted", True), ("settings", False)], rows))


def _other(extra: dict[str, Any]) -> str:
    if not extra:
        return ""
    parts = [f"<details><summary>{esc(k)}</summary><pre>"
             f"{escape(json.dumps(v, indent=2, default=str, ensure_ascii=False))}</pre></details>"
             for k, v in extra.items()]
    return section("more", "More", "".join(parts))


def _notes(verdict: dict[str, Any], run_dir: Any, csv_name: str | None = None) -> str:
    journal = verdict.get("journal") or {}
    bad = list(journal.get("bad_lines") or []) + list(journal.get("bad_events") or [])
    errors = list(verdict.get("errors") or [])
    items = [f"journal: {num(journal.get('events'))} events"
             + (f', <span class="bad">{len(bad)} unreadable</span>' if bad else "")]
    clocks = describe_timeline(journal.get("timeline"))
    if clocks is not None:
        items.append(esc(clocks[0]) if clocks[1] else f'<span class="bad">{esc(clocks[0])}</span>')
    lateness = verdict.get("fault_lateness_ms")
    if isinstance(lateness, dict) and lateness.get("count"):
        items.append(f"faults started or stopped at most {ms(lateness.get('max'))} ms late")
    if run_dir is not None:
        items.append(f"run folder: <code>{esc(run_dir)}</code>")
    if csv_name:
        items.append(f"the per-second series as CSV, one row per second: <code>{esc(csv_name)}"
                     "</code> beside this page")
    inner = '<ul class="plain">' + "".join(f"<li>{i}</li>" for i in items) + "</ul>"
    if errors:
        inner += "<h3 class=bad>Errors</h3><ul class=plain>" + "".join(
            f'<li class="bad">{esc(e)}</li>' for e in errors) + "</ul>"
    if bad:
        inner += "<h3>Unreadable journal lines</h3><pre>" + escape("\n".join(
            str(b) for b in bad[:50])) + "</pre>"
    return section("notes", "Errors and notes" if errors else "Notes", inner)
