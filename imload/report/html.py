"""report.html: one self-contained page per run (inline CSS and SVG; no script, no network).

``write_html_report(path, verdict, series)`` writes it; ``render_html`` returns
the text. Sections, in order: the header (PASSED / FAILED, scenario, target,
why it failed), key figures, SLOs, anomalies with their evidence, charts over
time (throughput, latency, connected devices, unseen) with the fault windows
shaded, latency percentiles, counts, faults, and, when given through
``extra``, capacity steps and avalanche reconnect curves; errors and journal
notes last. Every piece of text from the verdict is escaped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from html import escape
from pathlib import Path
from typing import Any

from imload.report.svg import (
    capacity_chart,
    knee_index,
    reconnect_chart,
    reconnect_curves,
    time_charts,
)
from imload.report.timeseries import Series

CASES_SHOWN, EVENTS_SHOWN = 5, 12
LATENCY_COLUMNS = (("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p999", "p99.9"),
                   ("max", "max"))

CSS = """
:root{--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--ink:#1f2328;--dim:#59636e;--line:#d1d9e0;
--bg:#f6f8fa;--card:#fff}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.5 -apple-system,"Segoe UI",
"Noto Sans","Liberation Sans","DejaVu Sans",Helvetica,Arial,sans-serif}
main{max-width:1180px;margin:0 auto;padding:0 24px 48px}
header{padding:28px 24px 20px;color:#fff}
header.pass{background:linear-gradient(135deg,#116329,#1a7f37)}
header.fail{background:linear-gradient(135deg,#a40e26,#cf222e)}
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
    sections = [_slo(verdict), _anomalies(verdict), _charts(verdict, series),
                _latency(verdict), _counts(verdict), _faults(verdict),
                _capacity(extra.pop("capacity", None)),
                _avalanche(extra.pop("avalanche", None)), _other(extra),
                _notes(verdict, run_dir)]
    body = "\n".join(s for s in sections if s)
    title = f"imload {'PASSED' if verdict.get('passed') else 'FAILED'}: " \
            f"{verdict.get('scenario') or 'run'}"
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>\n"
            f"{_header(verdict, run_dir, sections)}\n<main>\n{_cards(verdict)}\n{body}\n"
            "<footer>imload report: self-contained, opens offline</footer>\n"
            "</main></body></html>\n")


def _e(value: Any) -> str:
    return escape(str(value))


def _ms(value: Any) -> str:
    if not isinstance(value, int | float):
        return "–"
    return f"{value:.2f}" if value < 10 else f"{value:,.1f}"


def _num(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _e("–" if value is None else value)
    return f"{value:,}" if isinstance(value, int) else f"{value:,.4g}"


def _pct(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "–"
    return f"{value * 100:.3g} %"


def _secs(value: Any) -> str:
    return f"{value:.1f} s" if isinstance(value, int | float) else "–"


def _section(ident: str, title: str, inner: str, note: str = "") -> str:
    note_html = f'<p class="note">{note}</p>' if note else ""
    return f'<section id="{ident}"><h2>{escape(title)}</h2>{note_html}\n{inner}\n</section>'


def _table(head: Iterable[tuple[str, bool]], rows: Iterable[Iterable[str]]) -> str:
    """Cells are HTML already; ``head`` is (label, numeric)."""
    heads = list(head)
    ths = "".join(f'<th class="n">{escape(h)}</th>' if n else f"<th>{escape(h)}</th>"
                  for h, n in heads)
    trs = []
    for row in rows:
        tds = "".join(f'<td class="n">{c}</td>' if n else f"<td>{c}</td>"
                      for c, (_, n) in zip(row, heads, strict=False))
        trs.append(f"<tr>{tds}</tr>")
    return f"<table><thead><tr>{ths}</tr></thead><tbody>{''.join(trs)}</tbody></table>"


def _pill(ok: bool, yes: str = "passed", no: str = "FAILED") -> str:
    return f'<span class="pill ok">{yes}</span>' if ok else f'<span class="pill bad">{no}</span>'


def _failing(verdict: dict[str, Any]) -> list[str]:
    why = [f"{k}: {n}" for k, n in (verdict.get("anomalies") or {}).items() if n]
    why += [f"SLO {s.get('name')}" for s in verdict.get("slo") or [] if not s.get("passed")]
    if verdict.get("valid") == "unknown":
        why.append("verdict unknown: nothing was acked or delivered")
    if verdict.get("errors"):
        n = len(verdict["errors"])
        why.append(f"{n} run error{'s' if n != 1 else ''}")
    return why


def _valid(value: Any) -> Any:
    return str(value).lower() if isinstance(value, bool) else value


def _header(verdict: dict[str, Any], run_dir: Any, sections: list[str]) -> str:
    passed = bool(verdict.get("passed"))
    names = [("scenario", verdict.get("scenario")), ("target", verdict.get("target")),
             ("valid", _valid(verdict.get("valid")))]
    meta = " · ".join(f"{k} <b>{_e(v)}</b>" for k, v in names if v is not None)
    why = "".join(f"<span>{_e(w)}</span>" for w in _failing(verdict))
    links = [(ident, label) for ident, label in (
        ("slo", "SLOs"), ("anomalies", "anomalies"), ("charts", "over time"),
        ("latency", "latency"), ("counts", "counts"), ("faults", "faults"),
        ("capacity", "capacity"), ("avalanche", "avalanche"), ("notes", "notes"))
        if any(f'<section id="{ident}"' in s for s in sections)]
    nav = "".join(f'<a href="#{i}">{escape(label)}</a>' for i, label in links)
    where = f"<p>run folder <code>{_e(run_dir)}</code></p>" if run_dir is not None else ""
    return (f'<header class="{"pass" if passed else "fail"}"><div class="inner">'
            f'<span class="badge">{"PASSED" if passed else "FAILED"}</span>'
            f"<h1>imload report: {_e(verdict.get('scenario') or 'run')}</h1>"
            f"<p>{meta}</p>{where}"
            f'{f"<p class=why>{why}</p>" if why else ""}<nav>{nav}</nav></div></header>')


def _cards(verdict: dict[str, Any]) -> str:
    counts = verdict.get("counts") or {}
    anomalies = verdict.get("anomalies") or {}
    latency = verdict.get("latency_ms") or {}
    load = (verdict.get("phases") or {}).get("load") or {}
    span = None
    if isinstance(load.get("end_s"), int | float) and isinstance(load.get("start_s"),
                                                                  int | float):
        span = load["end_s"] - load["start_s"]
    cards = [("logical sends", _num(counts.get("attempted")), False),
             ("acked", _num(counts.get("acked")), False),
             ("delivered / expected", f"{_num(counts.get('delivered'))} / "
              f"{_num(counts.get('expected_deliveries'))}", False),
             ("anomalies", _num(sum(anomalies.values())), bool(sum(anomalies.values()))),
             ("ack p99 (ms)", _ms((latency.get("ack") or {}).get("p99")), False),
             ("e2e p99 (ms)", _ms((latency.get("e2e") or {}).get("p99")), False),
             ("faults", _num(len(verdict.get("faults") or [])), False),
             ("load phase", _secs(span), False)]
    return '<div class="cards">' + "".join(
        f'<div class="card{" bad" if bad else ""}"><div class="v">{v}</div>'
        f'<div class="k">{escape(k)}</div></div>' for k, v, bad in cards) + "</div>"


def _slo(verdict: dict[str, Any]) -> str:
    slos = verdict.get("slo") or []
    if not slos:
        return ""
    rows = [(_e(s.get("name")), _e(s.get("limit")), _e(s.get("value")),
             _pill(bool(s.get("passed")), "held", "MISSED")) for s in slos]
    return _section("slo", "SLOs", _table([("SLO", False), ("limit", True), ("value", True),
                                           ("", False)], rows))


def _case_html(case: Any) -> str:
    if not isinstance(case, dict):
        return f'<div class="case"><pre>{_e(json.dumps(case, default=str))}</pre></div>'
    events = list(case.get("events") or [])
    lines = "\n".join(json.dumps(e, default=str, ensure_ascii=False)
                      for e in events[:EVENTS_SHOWN])
    more = f"\n… {len(events) - EVENTS_SHOWN} more events" if len(events) > EVENTS_SHOWN else ""
    pre = f"<pre>{escape(lines + more)}</pre>" if lines else ""
    return f'<div class="case"><div>{_e(case.get("explain", ""))}</div>{pre}</div>'


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
            evidence = (f"<details><summary>{_e(first)} <span class=note>(evidence: {shown} "
                        f"of {_num(count)} cases)</span></summary>"
                        + "".join(_case_html(c) for c in cases[:CASES_SHOWN]) + "</details>")
        rows.append((f'<span class="bad">{_e(kind)}</span>',
                     f'<span class="bad">{_num(count)}</span>', evidence))
    clean = [k for k, n in anomalies.items() if not n]
    inner = _table([("kind", False), ("count", True), ("evidence", False)], rows) if rows \
        else '<p class="ok">No anomaly: every check found nothing.</p>'
    if clean:
        inner += ('<p style="margin:12px 0 0"><span class="note">found none of: </span>'
                  + "".join(f'<span class="chip">{_e(k)}</span>' for k in clean) + "</p>")
    return _section("anomalies", "Anomalies", inner,
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
    return _section("charts", "Over time", "\n".join(_figure(*f) for f in figs),
                    "Seconds since the load started; shaded: fault windows; dashed verticals: "
                    "phase boundaries.")


def _latency(verdict: dict[str, Any]) -> str:
    latency = verdict.get("latency_ms") or {}
    if not latency:
        return ""
    rows = [(_e(name), *(_ms(f.get(k)) for k, _ in LATENCY_COLUMNS), _num(f.get("count", 0)))
            for name, f in latency.items() if isinstance(f, dict)]
    head = [("of", False), *((label, True) for _, label in LATENCY_COLUMNS), ("samples", True)]
    return _section("latency", "Latency (ms)", _table(head, rows))


def _counts(verdict: dict[str, Any]) -> str:
    counts = verdict.get("counts") or {}
    fractions = verdict.get("fractions") or {}
    rows = [(_e(k.replace("_", " ")), _num(v), _pct(fractions.get(k)) if k in fractions
             else "") for k, v in counts.items()]
    half = (len(rows) + 1) // 2
    head = [("count", False), ("value", True), ("fraction", True)]
    inner = (f'<div class="two">{_table(head, rows[:half])}{_table(head, rows[half:])}'
             "</div>")
    cost = [(_e(k.replace("_", " ")), _num(v)) for k, v in (verdict.get("cost") or {}).items()]
    if cost:
        half, head = (len(cost) + 1) // 2, [("cost", False), ("value", True)]
        inner += (f'<h3>Cost</h3><div class="two">{_table(head, cost[:half])}'
                  f"{_table(head, cost[half:])}</div>")
    reasons = {k: v for k, v in (verdict.get("info_reasons") or {}).items() if v}
    if reasons:
        inner += "<h3>Why sends and ops failed or became unknown</h3>" + _table(
            [("outcome", False), ("reason", False), ("count", True)],
            [(_e(kind), _e(r), _num(n)) for kind, per in reasons.items()
             for r, n in per.items()])
    return _section("counts", "Counts", inner) if counts or cost else ""


def _faults(verdict: dict[str, Any]) -> str:
    faults = verdict.get("faults") or []
    if not faults:
        return _section("faults", "Faults", '<p class="note">none injected</p>')
    rows = []
    for f in faults:
        start, until = f.get("at_s"), f.get("until_s")
        span = until - start if isinstance(start, int | float) and isinstance(
            until, int | float) else None
        detail = json.dumps(f.get("detail") or {}, default=str, ensure_ascii=False)
        rows.append((_e(f.get("kind")), _e(f.get("target")), _secs(start),
                     _secs(until) if until is not None else "still on", _secs(span),
                     f"<code>{escape(detail)}</code>"))
    return _section("faults", "Faults", _table(
        [("kind", False), ("target", False), ("start", True), ("stop", True),
         ("lasted", True), ("settings", False)], rows))


def _capacity(steps: Any) -> str:
    if not steps:
        return ""
    knee = knee_index(steps)
    rows = [(_num(s.get("users")), _num(s.get("msgs_per_s")),
             _pill(bool(s.get("passed")), "held", "broke"),
             _e(s.get("broke") or "") + (" <b>← knee</b>" if i == knee else ""))
            for i, s in enumerate(steps)]
    note = ("The knee is the last step that held before the first one that broke."
            if knee is not None else "The first step already broke: no knee found.")
    return _section("capacity", "Capacity steps", capacity_chart(steps, knee) + _table(
        [("users", True), ("msgs / s", True), ("", False), ("what broke", False)], rows), note)


def _first_at(curve: list[tuple[float, float]], fraction: float) -> str:
    return next((_secs(t) for t, f in curve if f >= fraction - 1e-9), "never")


def _avalanche(curves: Any) -> str:
    if not curves:
        return ""
    named = reconnect_curves(curves)
    rows = [(_e(name), _first_at(c, 0.5), _first_at(c, 0.99), _first_at(c, 1.0))
            for name, c in named.items()]
    return _section("avalanche", "Avalanche: reconnect curves", reconnect_chart(named) + _table(
        [("backoff policy", False), ("50 % back", True), ("99 % back", True),
         ("all back", True)], rows), "Per backoff policy, the fraction of the devices a "
        "node kill threw off that were connected again.")


def _other(extra: dict[str, Any]) -> str:
    if not extra:
        return ""
    parts = [f"<details><summary>{_e(k)}</summary><pre>"
             f"{escape(json.dumps(v, indent=2, default=str, ensure_ascii=False))}</pre></details>"
             for k, v in extra.items()]
    return _section("more", "More", "".join(parts))


def _notes(verdict: dict[str, Any], run_dir: Any) -> str:
    journal = verdict.get("journal") or {}
    bad = list(journal.get("bad_lines") or []) + list(journal.get("bad_events") or [])
    errors = list(verdict.get("errors") or [])
    items = [f"journal: {_num(journal.get('events'))} events"
             + (f', <span class="bad">{len(bad)} unreadable</span>' if bad else "")]
    lateness = verdict.get("fault_lateness_ms")
    if isinstance(lateness, dict) and lateness.get("count"):
        items.append(f"faults started or stopped at most {_ms(lateness.get('max'))} ms late")
    if run_dir is not None:
        items.append(f"run folder: <code>{_e(run_dir)}</code>")
    inner = '<ul class="plain">' + "".join(f"<li>{i}</li>" for i in items) + "</ul>"
    if errors:
        inner += "<h3 class=bad>Errors</h3><ul class=plain>" + "".join(
            f'<li class="bad">{_e(e)}</li>' for e in errors) + "</ul>"
    if bad:
        inner += "<h3>Unreadable journal lines</h3><pre>" + escape("\n".join(
            str(b) for b in bad[:50])) + "</pre>"
    return _section("notes", "Errors and notes" if errors else "Notes", inner)
