"""report.html: one self-contained page per run (inline CSS and SVG; no script, no network).

``write_html_report(path, verdict, series)`` writes it; ``render_html`` returns
the text. Sections, in order: the header (PASSED / FAILED / UNKNOWN / ERROR,
scenario, target, why), key figures, what could not be judged (``coverage``:
the UNKNOWN callout), SLOs, anomalies with their evidence, coverage, charts over
time (throughput, latency, connected devices, unseen) with the fault windows
shaded, latency percentiles, counts, faults, and, when given through
``extra``, capacity steps and avalanche reconnect curves; errors and journal
notes last. Every piece of text from the verdict is escaped.
"""

from __future__ import annotations

import json
import os
from html import escape
from pathlib import Path
from typing import Any

from imload.journal.timeline import describe as describe_timeline
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
from imload.report.html_drills import avalanche_html, capacity_html
from imload.report.html_kit import esc, ms, num, pct, pill, secs, section, table
from imload.report.svg import time_charts
from imload.report.timeseries import Series
from imload.slo import is_coverage_figure

CASES_SHOWN, EVENTS_SHOWN = 5, 12
LATENCY_COLUMNS = (("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p999", "p99.9"),
                   ("max", "max"))

CSS = """
:root{--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--ink:#1f2328;--dim:#59636e;--line:#d1d9e0;
--bg:#f6f8fa;--card:#fff;--unk:#bc4c00}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.5 -apple-system,"Segoe UI",
"Noto Sans","Liberation Sans","DejaVu Sans",Helvetica,Arial,sans-serif}
main{max-width:1180px;margin:0 auto;padding:0 24px 48px}
header{padding:28px 24px 20px;color:#fff}
header.pass{background:linear-gradient(135deg,#116329,#1a7f37)}
header.fail{background:linear-gradient(135deg,#a40e26,#cf222e)}
header.unknown{background:linear-gradient(135deg,#7a4100,#bc4c00)}
header .inner{max-width:1180px;margin:0 auto;padding:0 24px}
.badge{display:inline-block;font-weight:700;letter-spacing:.08em;padding:4px 12px;
border-radius:6px;background:rgba(255,255,255,.2);border:1px solid rgba(255,255,255,.5)}
h1{font-size:28px;margin:10px 0 4px;font-weight:600}
header p{margin:2px 0;opacity:.92}
.why span{display:inline-block;background:rgba(0,0,0,.22);border-radius:12px;padding:1px 10px;
margin:4px 6px 0 0;font-size:13px}
nav{margin:14px 0 0;font-size:13px}
nav a{color:#fff;opacity:.85;margin-right:14px}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;
padding:18px 22px;margin:20px 0}
h2{font-size:19px;margin:0 0 12px;font-weight:600}
h3{font-size:15px;margin:14px 0 2px;font-weight:600}
.note{color:var(--dim);font-size:13px;margin:0 0 6px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:12px;
margin-top:20px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 16px}
.card .v{font-size:24px;font-weight:600;font-variant-numeric:tabular-nums}
.card .k{color:var(--dim);font-size:13px}
.card.bad{border-color:var(--bad)} .card.bad .v{color:var(--bad)}
.card.warn{border-color:var(--warn)} .card.warn .v{color:var(--warn)}
.card.unknown{border:2px solid var(--unk)} .card.unknown .v{color:var(--unk)}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:13px;color:var(--dim);font-weight:600}
td.n,th.n{text-align:right;white-space:nowrap}
tr:nth-child(even) td{background:#fafbfc}
.ok{color:var(--ok);font-weight:600} .bad{color:var(--bad);font-weight:600}
.chip{display:inline-block;border:1px solid #aceebb;background:#dafbe1;color:#116329;
border-radius:12px;padding:0 10px;margin:0 6px 6px 0;font-size:13px}
.two{display:grid;grid-template-columns:1fr 1fr;gap:0 28px;align-items:start}
#anomalies td:first-child{width:150px} #anomalies td:nth-child(2){width:80px}
.pill{display:inline-block;border-radius:10px;padding:0 9px;font-size:12px;font-weight:600}
.pill.ok{background:#dafbe1} .pill.bad{background:#ffebe9}
.pill{white-space:nowrap} .pill.warn{background:#fff1e5;color:var(--unk)}
section.unknown{border:2px solid var(--unk);background:#fff8f2}
section.unknown h2{color:var(--unk)} ul.why-unknown li{margin:6px 0}
tr.short td{background:#fff1e5} tr.accepted td{background:#fffbe6}
details{margin:2px 0} summary{cursor:pointer}
.case{border-left:3px solid var(--bad);padding:4px 10px;margin:8px 0;background:#fff8f7}
pre{font:12px/1.45 ui-monospace,"DejaVu Sans Mono","Liberation Mono",Menlo,monospace;
background:#f6f8fa;border:1px solid var(--line);border-radius:6px;padding:8px 10px;
overflow-x:auto;margin:6px 0;white-space:pre}
figure{margin:8px 0 18px}
svg.chart{width:100%;height:auto;display:block;font:11px "DejaVu Sans","Liberation Sans",
Arial,sans-serif}
svg .plot{fill:#fff;stroke:none} svg .grid{stroke:#eaeef2} svg .axis{stroke:#8c959f}
svg .tick{fill:#59636e} svg .axis-label{fill:#59636e;font-size:12px}
svg .legend{fill:#1f2328;font-size:12px} svg .band-label{font-size:11px;font-weight:600}
svg .mark{font-size:11px} svg .empty{fill:#8c959f;font-size:14px}
ul.plain{margin:4px 0;padding-left:20px}
footer{color:var(--dim);font-size:12px;text-align:center;margin-top:24px}
"""


def write_html_report(path: str | os.PathLike[str], verdict: dict[str, Any],
                      series: Series | None, run_dir: str | os.PathLike[str] | None = None,
                      extra: dict[str, Any] | None = None) -> Path:
    """Write the report of one run to ``path`` (UTF-8, through a rename); return the path.

    ``extra`` may hold ``capacity`` (a list of steps ``{users, msgs_per_s,
    passed, broke}``) and ``avalanche`` (``{policy: [(t_s, fraction back), ...]}``);
    other keys are shown as JSON at the end.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(render_html(verdict, series, run_dir, extra), encoding="utf-8")
    os.replace(tmp, target)
    return target


def render_html(verdict: dict[str, Any], series: Series | None,
                run_dir: str | os.PathLike[str] | None = None,
                extra: dict[str, Any] | None = None) -> str:
    extra = dict(extra or {})
    unknown = unknown_html(verdict)  # first when it is the verdict; else after the anomalies
    first = outcome_of(verdict) == "unknown"
    sections = [unknown if first else "", _slo(verdict), _anomalies(verdict),
                "" if first else unknown, coverage_html(verdict), _charts(verdict, series),
                _latency(verdict), _counts(verdict), _faults(verdict),
                capacity_html(extra.pop("capacity", None)),
                avalanche_html(extra.pop("avalanche", None)), _other(extra),
                _notes(verdict, run_dir)]
    body = "\n".join(s for s in sections if s)
    title = f"imload {WORDS[outcome_of(verdict)]}: {verdict.get('scenario') or 'run'}"
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>\n"
            f"{_header(verdict, run_dir, sections)}\n<main>\n{_cards(verdict)}\n{body}\n"
            "<footer>imload report: self-contained, opens offline</footer>\n"
            "</main></body></html>\n")


def _failing(verdict: dict[str, Any]) -> list[str]:
    """The header's reasons: anomalies, missed SLOs, what could not be judged, errors."""
    why = [f"{k}: {n}" for k, n in (verdict.get("anomalies") or {}).items() if n]
    why += [f"SLO {s.get('name')}" for s in verdict.get("slo") or []
            if not s.get("passed") and not is_coverage_figure(s.get("figure"))]
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
NAV = (("unknown", "not judged"), ("slo", "SLOs"), ("anomalies", "anomalies"),
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
    where = f"<p>run folder <code>{esc(run_dir)}</code></p>" if run_dir is not None else ""
    return (f'<header class="{HEADER_CLASS[state]}"><div class="inner">'
            f'<span class="badge">{WORDS[state]}</span>'
            f"<h1>imload report: {esc(verdict.get('scenario') or 'run')}</h1>"
            f"<p>{meta}</p>{where}"
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
    """The scenario's SLOs and every missed one; the defaults that held folded below."""
    slos = verdict.get("slo") or []
    if not slos:
        return ""
    head = [("SLO", False), ("limit", True), ("value", True), ("", False)]

    def rows(lines: list[dict[str, Any]]) -> list[tuple[str, ...]]:
        return [(esc(s.get("name")), esc(s.get("limit")), esc(s.get("value")),
                 pill(bool(s.get("passed")), "held", "MISSED",
                      "warn" if is_coverage_figure(s.get("figure")) else "bad"))
                for s in lines]
    held = [s for s in slos if s.get("default") and s.get("passed")]
    shown = [s for s in slos if s not in held]
    inner = table(head, rows(shown)) if shown else ""
    if held:
        inner += (f"<details><summary>{len(held)} default SLOs held (each anomaly = 0, each "
                  f"check's coverage = 100 %)</summary>{table(head, rows(held))}</details>")
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
    if series is None or not series.seconds:
        return ""
    figs = time_charts(series, series.faults or verdict.get("faults") or [],
                       series.phases or verdict.get("phases") or {})
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


def _notes(verdict: dict[str, Any], run_dir: Any) -> str:
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
    inner = '<ul class="plain">' + "".join(f"<li>{i}</li>" for i in items) + "</ul>"
    if errors:
        inner += "<h3 class=bad>Errors</h3><ul class=plain>" + "".join(
            f'<li class="bad">{esc(e)}</li>' for e in errors) + "</ul>"
    if bad:
        inner += "<h3>Unreadable journal lines</h3><pre>" + escape("\n".join(
            str(b) for b in bad[:50])) + "</pre>"
    return section("notes", "Errors and notes" if errors else "Notes", inner)
