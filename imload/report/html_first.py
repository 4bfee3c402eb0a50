"""The first screen of report.html: what shows without scrolling on a 1366 x 768 laptop
answers "did it hold, what broke, when".

Under the header (the verdict banner), ``first_screen_html`` puts two columns:
``summary_html`` on the left, the faults (kind, target, window), the anomalies
found, each with its one-sentence definition (``definitions``) and its first
example, the evidence the verdict stands on, and the first run error; and
``plots_html`` on the right, the push latency and acked-but-unseen charts one above
the other, so they stay on the first screen however many kinds the left column
lists. A passed run shows the banner, the faults and the charts. The
rest of the page (key figures, SLOs, all the evidence, coverage, the other charts,
tables) is below; the tests in tests/test_report_html_screenshot.py measure the
first screen in a real Chromium.
"""

from __future__ import annotations

from typing import Any

from imload.report.charts import TimeAxis, push_latency_chart, unseen_chart
from imload.report.coverage import outcome_of
from imload.report.definitions import definition
from imload.report.html_kit import esc, num, secs, section
from imload.report.timeseries import Series
from imload.slo import promised_kinds

FIRST_KINDS = 5  # anomaly kinds shown with their example; the rest are named


def _fault_chip(fault: dict[str, Any]) -> str:
    start, until = fault.get("at_s"), fault.get("until_s")
    window = f"{secs(start)} → {secs(until) if until is not None else 'still on'}"
    if isinstance(start, int | float) and isinstance(until, int | float):
        window += f" ({secs(until - start)})"
    return (f'<span class="fault"><b>{esc(fault.get("kind"))}</b> {esc(fault.get("target"))}'
            f" · {window}</span>")


def faults_line(verdict: dict[str, Any]) -> str:
    """Each fault as kind, target and window; "none injected" when there was none."""
    faults = [f for f in verdict.get("faults") or [] if isinstance(f, dict)]
    chips = "".join(_fault_chip(f) for f in faults) or '<span class="note">none injected</span>'
    return f'<p class="faults"><span class="label">faults</span>{chips}</p>'


def _first_explain(verdict: dict[str, Any], kind: str) -> str:
    cases = (verdict.get("examples") or {}).get(kind) or []
    first = cases[0] if cases else None
    return str(first.get("explain") or "") if isinstance(first, dict) else ""


def _found_item(verdict: dict[str, Any], kind: str, count: Any, promised: bool) -> str:
    words = definition(kind)
    said = f'<span class="def">{esc(words)}</span>' if words else ""
    mark = "" if promised else ' <span class="note">(not promised by the target: not gated)'\
        "</span>"
    example = _first_explain(verdict, kind)
    first = (f'<div class="example" title="{esc(example)}"><span class="label">first</span>'
             f"{esc(example)}</div>" if example else "")  # cut at 3 lines: all of it on hover
    return (f'<li><span class="{"bad" if promised else "finding"}">{esc(kind)} {num(count)}'
            f"</span>{mark} {said}{first}</li>")


def found_kinds(verdict: dict[str, Any]) -> list[tuple[str, Any]]:
    """(kind, count) of every kind above 0: promised kinds first, report order within."""
    promised = set(promised_kinds(verdict))
    found = [(k, n) for k, n in (verdict.get("anomalies") or {}).items()
             if isinstance(n, int | float) and not isinstance(n, bool) and n > 0]
    return sorted(found, key=lambda kn: kn[0] not in promised)


def anomalies_found(verdict: dict[str, Any]) -> str:
    """The kinds found, each with its meaning and first example; past ``FIRST_KINDS`` only
    named. A clean line when none was found."""
    anomalies = verdict.get("anomalies") or {}
    promised = set(promised_kinds(verdict))
    found = found_kinds(verdict)
    if not found:
        checked = f"none of its {len(anomalies)} kinds" if anomalies else "none"
        return f'<p class="ok clean">No anomaly: the checker found {checked}.</p>'
    items = [_found_item(verdict, k, n, k in promised) for k, n in found[:FIRST_KINDS]]
    rest = found[FIRST_KINDS:]
    more = ('<li class="note">and ' + ", ".join(f"{esc(k)} {num(n)}" for k, n in rest)
            + "</li>") if rest else ""
    return f'<ul class="found">{"".join(items)}{more}</ul>'


def _errors_line(verdict: dict[str, Any]) -> str:
    errors = [str(e) for e in verdict.get("errors") or []]
    if not errors:
        return ""
    more = f' <span class="note">(+{len(errors) - 1} more: see notes)</span>' \
        if len(errors) > 1 else ""
    return (f'<p class="bad errors"><span class="label">run error</span>{esc(errors[0])}'
            f"{more}</p>")


def summary_html(verdict: dict[str, Any]) -> str:
    """The first section: faults, the anomalies found with their first example, run errors."""
    found = bool(found_kinds(verdict))
    note = ('<a href="#anomalies">every case with its journal events</a> further down'
            if found else "")
    inner = faults_line(verdict) + anomalies_found(verdict) + _errors_line(verdict)
    title = "What broke" if outcome_of(verdict) in ("failed", "error") else "What happened"
    return section("summary", title, inner, note, cls="first")


def _figure(title: str, caption: str, svg: str) -> str:
    return (f'<figure><figcaption><b>{esc(title)}</b> <span class="note">{esc(caption)}'
            f"</span></figcaption>{svg}</figure>")


def plots_html(verdict: dict[str, Any], series: Series | None) -> str:
    """The push latency and acked-but-unseen charts, one above the other, fault windows
    shaded; "" without a series."""
    if series is None or not series.seconds:
        return ""
    axis = TimeAxis(series, verdict.get("faults") or [], verdict.get("phases") or {})
    figures = [_figure(*push_latency_chart(axis)), _figure(*unseen_chart(axis))]
    # no heading: the axes say "seconds since the load started", the legends "fault window"
    return f'<section id="plots" class="first plots">{"".join(figures)}</section>'


def first_screen_html(verdict: dict[str, Any], series: Series | None) -> str:
    """What broke (left) beside when (the two charts, right): the charts stay on the first
    screen however many anomalies the left column lists. One column on a narrow screen."""
    plots = plots_html(verdict, series)
    if not plots:
        return f'<div class="first-screen single">{summary_html(verdict)}</div>'
    return f'<div class="first-screen">{summary_html(verdict)}{plots}</div>'
