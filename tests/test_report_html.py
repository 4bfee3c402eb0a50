"""report.html: its sections, escaping, no network references, well-formed SVG charts."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from imload.journal import event
from imload.report.charts import HALF_HEIGHT, HALF_WIDTH
from imload.report.html import render_html, write_html_report
from imload.report.html_first import FIRST_KINDS
from imload.report.series_csv import series_csv
from imload.report.svg import Band, Line, Mark, line_chart, linear_ticks, nice_step
from imload.report.timeseries import Series, build_series
from imload.slo import Slo, apply_slos

HOSTILE = '<script>alert("x")</script>'


def coverage(short: bool) -> dict[str, Any]:
    """Three checks' coverage lines; ``short``: gap judged 38 of 40 devices, with a hostile
    example."""
    def line(unit: str, due: int, judged: int, reasons: list[dict[str, Any]]) -> dict[str, Any]:
        return {"unit": unit, "due": due, "judged": judged, "unjudged": due - judged,
                "percent": round(100 * judged / due, 2) if due else None, "reasons": reasons}
    return {"lost": line("acked messages", 118, 118, []),
            "duplicated": line("stored messages", 0, 0, []),
            "gap": line("devices", 40, 38 if short else 40,
                        [{"reason": "device never audited", "count": 2,
                          "example": f"u3/d1: no audit done event {HOSTILE}"}] if short else []),
            "journal": line("journal lines", 901, 900 if short else 901,
                            [{"reason": "unreadable line", "count": 1,
                              "example": "locust-1.jsonl:7: not JSON"}] if short else [])}


def unknown_verdict() -> dict[str, Any]:
    """No anomaly, but gap judged 38 of 40 devices: UNKNOWN (exit code 3)."""
    v = sample_verdict(passed=True)
    v.update(valid="unknown", passed=False, outcome="unknown", coverage=coverage(short=True),
             unknown=["gap: could not check 2 of 40 devices: device never audited (2); e.g. "
                      f"u3/d1: no audit done event {HOSTILE}",
                      "journal: could not check 1 of 901 journal lines: unreadable line (1); "
                      "e.g. locust-1.jsonl:7: not JSON"])
    v["slo"] += [{"name": "gap coverage = 100 %", "figure": "coverage.gap.percent",
                  "limit": 100.0, "op": "min", "value": 95.0, "passed": False,
                  "default": True},
                 {"name": "journal coverage = 100 %", "figure": "coverage.journal.percent",
                  "limit": 100.0, "op": "min", "value": 99.89, "passed": False,
                  "default": True}]
    return v


def sample_verdict(passed: bool = False) -> dict[str, Any]:
    """A small failing verdict with a hostile explain, two faults, SLOs and errors."""
    lost_case = {"explain": f"u1's message m7 was acked but u2/d0 never got it {HOSTILE}",
                 "events": [{"ev": "send_ok", "at": 101.5, "user": "u1", "cmid": "c7",
                             "mid": "m7", "note": "</pre><img src=x onerror=alert(1)>"}]}
    return {
        "valid": passed, "passed": passed, "scenario": "drill <b>bold</b>", "target": "local",
        "counts": {"attempted": 120, "attempts": 130, "acked": 118, "failed": 0, "info": 2,
                   "recovered": 1, "delivered": 230, "expected_deliveries": 236,
                   "wire_duplicates": 3},
        "fractions": {"acked": 0.983333, "info": 0.016667},
        "anomalies": {"lost": 0 if passed else 3, "duplicated": 0, "order": 0},
        "coverage": coverage(short=not passed),
        "unknown": [] if passed else [
            "gap: could not check 2 of 40 devices: device never audited (2); e.g. u3/d1: no "
            f"audit done event {HOSTILE}"],
        "examples": {"lost": [] if passed else [lost_case] * 3, "duplicated": [], "order": []},
        "latency_ms": {"ack": {"p50": 3.2, "p90": 40.0, "p99": 480.0, "p999": 490.0,
                               "max": 491.0, "count": 118},
                       "read_sync": {"p50": None, "p90": None, "p99": None, "p999": None,
                                     "max": None, "count": 0}},
        "cost": {"frames": 480, "frames_per_message": 4.0},
        "info_reasons": {"send": {"retries exhausted": 2}, "op": {}},
        "faults": [{"fault": "f1", "kind": "latency", "target": "n1", "at_s": 2.0,
                    "until_s": 5.0, "detail": {"latency": 200}},
                   {"fault": "f2", "kind": "kill", "target": "n2", "at_s": 4.0,
                    "until_s": 6.5, "detail": {}}],
        "phases": {"load": {"start_s": 0.0, "end_s": 9.0}},
        "slo": [{"name": "ack p99 ms", "limit": 500, "value": 480.0, "passed": True},
                {"name": "lost", "limit": 0, "value": 3, "passed": passed}],
        "journal": {"events": 900, "bad_lines": ["locust-1.jsonl:7: not JSON"],
                    "bad_events": []},
        "errors": [] if passed else [f"audit: u9/d0 did not sync {HOSTILE}"],
    }


def sample_events() -> list[dict[str, Any]]:
    """Ten seconds of traffic from four devices, a kill at 4 s that throws two off for 2 s."""
    out = [event("phase", 100.0, phase="load", action="start")]
    for i, user in enumerate(("u1", "u2", "u3", "u4")):
        out.append(event("connected", 100.05 + i * 0.01, user=user, device="d0", session=1,
                         node="n1" if i < 2 else "n2", inbox_seq=0, acked=0))
    for k in range(90):
        at = 100.1 + k * 0.1
        user, cmid = f"u{k % 4 + 1}", f"c{k}"
        slow = 0.4 if 104.0 <= at < 106.5 else 0.004 + (k % 7) * 0.002
        out.append(event("send", at, user=user, device="d0", session=1, cmid=cmid, conv="g",
                         digest="d", attempt=1, ts=0))
        out.append(event("send_ok", at + slow, user=user, device="d0", session=1, cmid=cmid,
                         conv="g", mid=f"m{k}", seq=k, dup=False))
        for other in ("u1", "u2", "u3", "u4"):
            if other != user:
                out.append(event("deliver", at + slow + 0.01, user=other, device="d0",
                                 session=1, mid=f"m{k}", conv="g", seq=k, useq=k,
                                 **{"from": user}, from_device="d0", cmid=cmid, digest="d",
                                 via="push", phase="load"))
    out.append(event("fault", 104.0, action="start", kind="latency", target="n1", fault="f1",
                     detail={}))
    for user in ("u1", "u2"):
        out.append(event("disconnected", 104.0, user=user, device="d0", session=1,
                         reason="closed"))
        out.append(event("connected", 106.0, user=user, device="d0", session=2, node="n2",
                         inbox_seq=0, acked=0))
    out.append(event("fault", 105.0, action="stop", kind="latency", target="n1", fault="f1",
                     detail={}))
    out.append(event("phase", 109.5, phase="load", action="end"))
    return sorted(out, key=lambda e: e["at"])


def sample_series() -> Series:
    verdict = {"over_time": {"unseen": [{"t_s": t, "unseen": 3 if 4 <= t <= 6 else 0}
                                        for t in range(10)]}}
    return build_series(sample_events(), verdict)


SAMPLE_EXTRA = {
    "capacity": [{"users": 50, "msgs_per_s": 40, "passed": True, "broke": None},
                 {"users": 100, "msgs_per_s": 80, "passed": True, "broke": None},
                 {"users": 200, "msgs_per_s": 150, "passed": True, "broke": None},
                 {"users": 400, "msgs_per_s": 190, "passed": False, "broke": "ack p99 > 500"}],
    "avalanche": {"full jitter": [(0, 0.0), (1, 0.4), (2, 0.9), (3, 1.0)],
                  "no jitter": [{"t_s": 0, "back": 0.0}, {"t_s": 2, "back": 0.3},
                                {"t_s": 5, "back": 1.0}]},
}


def svgs(html: str) -> list[str]:
    return re.findall(r"<svg.*?</svg>", html, flags=re.S)


def test_failed_report_has_every_section() -> None:
    html = render_html(sample_verdict(), sample_series(), run_dir="/tmp/run", extra=SAMPLE_EXTRA)
    assert html.startswith("<!DOCTYPE html>")
    # lost 3 and run errors: the run was not made as planned (exit code 2), in red
    assert 'class="fail"' in html and '<span class="badge">ERROR</span>' in html
    for ident in ("unknown", "summary", "plots", "slo", "anomalies", "coverage", "charts",
                  "latency", "counts", "faults", "capacity", "avalanche", "notes"):
        assert f'<section id="{ident}"' in html, ident
        assert f'href="#{ident}"' in html, ident
    for title in ("Push latency", "Acked but unseen"):  # the first screen's
        assert f"<figcaption><b>{title}</b>" in html
    for title in ("Throughput", "Connected devices"):  # over time, further down
        assert f"<h3>{title}</h3>" in html
    assert "<details>" in html and "(evidence: 3 of 3 cases)" in html
    assert "retries exhausted" in html
    assert "MISSED" in html and "held" in html
    assert "/tmp/run" in html
    assert "locust-1.jsonl:7: not JSON" in html


def test_hostile_text_is_escaped() -> None:
    html = render_html(sample_verdict(), sample_series(),
                       extra={"notes": {"say": HOSTILE}, **SAMPLE_EXTRA})
    assert "<script" not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "drill &lt;b&gt;bold&lt;/b&gt;" in html
    assert "<b>bold</b>" not in html


def test_no_network_references() -> None:
    html = render_html(sample_verdict(), sample_series(), extra=SAMPLE_EXTRA)
    assert "http://" not in html and "https://" not in html
    for needle in ("<script", "<link", "<iframe", "<img", "@import", "url("):
        assert needle not in html, needle
    tags = re.findall(r"<[a-zA-Z][^>]*>", html)
    assert not [t for t in tags if re.search(r"\ssrc=", t)]
    links = [m for t in tags for m in re.findall(r'\shref="([^"]*)"', t)]
    assert links and all(link.startswith("#") for link in links)


def test_charts_are_well_formed_svg_with_fault_windows() -> None:
    html = render_html(sample_verdict(), sample_series(), extra=SAMPLE_EXTRA)
    charts = svgs(html)
    assert len(charts) == 6  # push latency, unseen, throughput, connected, capacity, avalanche
    for svg in charts:
        ET.fromstring(svg)  # raises when not well-formed
    assert re.findall(r'<svg [^>]*aria-label="([^"]*)"', html) == [
        "push latency", "unseen", "throughput", "connected devices", "capacity", "avalanche"]
    for chart in charts[:4]:  # every chart over time shades the faults and marks the end
        assert "latency n1" in chart and "kill n2" in chart  # the windows are labelled
        # the verdict's two windows, the ones its fault table lists (the series has none)
        assert chart.count('fill-opacity="0.13"') == 2
        assert "load ends" in chart  # a phase boundary
    # the first screen's are drawn at the size they are shown: their text is not scaled down
    assert f'viewBox="0 0 {HALF_WIDTH} {HALF_HEIGHT}"' in charts[0] and HALF_WIDTH < 600


def test_capacity_knee_and_avalanche_table() -> None:
    html = render_html(sample_verdict(True), sample_series(), extra=SAMPLE_EXTRA)
    assert "knee: 200 users" in html and "← knee" in html
    assert "ack p99 &gt; 500" in html
    assert "50 % back" in html and "full jitter" in html
    # no jitter reaches 100 % at 5 s; full jitter at 3 s
    row = re.search(r"<td>no jitter</td>(.*?)</tr>", html, flags=re.S)
    assert row is not None and "5.0 s" in row.group(1)


def test_capacity_without_a_knee() -> None:
    steps = [{"users": 10, "msgs_per_s": 5, "passed": False, "broke": "lost"}]
    html = render_html(sample_verdict(True), None, extra={"capacity": steps})
    assert "no knee found" in html


def test_passed_report_without_series() -> None:
    verdict = sample_verdict(passed=True)
    html = render_html(verdict, None)
    assert 'class="pass"' in html and "PASSED" in html
    assert '<section id="charts"' not in html
    assert "No anomaly" in html
    assert "valid <b>true</b>" in html


def test_minimal_verdict_renders() -> None:
    html = render_html({"passed": False, "valid": "unknown"}, Series(t0=0.0, seconds=0))
    assert '<span class="badge">UNKNOWN</span>' in html and "none injected" in html
    assert "nothing was acked and nothing delivered" in html
    assert "coverage not recorded" in html  # an older verdict


def test_an_anomaly_without_run_errors_is_failed() -> None:
    v = sample_verdict()
    v["errors"] = []
    html = render_html(v, None)
    assert 'class="fail"' in html and '<span class="badge">FAILED</span>' in html
    assert "<title>imload FAILED: " in html
    assert "<span>lost: 3</span>" in html
    assert "<span>not judged: gap 95 % (38 / 40 devices), journal" in html
    # a broken promise first: what could not be judged comes after the anomalies
    assert html.index('<section id="anomalies"') < html.index('<section id="unknown"') \
        < html.index('<section id="coverage"')
    assert "Besides what failed, imload could not judge these." in html


def test_unknown_is_as_loud_as_an_anomaly() -> None:
    v = unknown_verdict()
    html = render_html(v, sample_series(), run_dir="/tmp/run")
    assert '<header class="unknown">' in html and '<span class="badge">UNKNOWN</span>' in html
    assert "PASSED" not in html and "FAILED" not in html
    assert "<title>imload UNKNOWN: " in html
    # the header says why, the callout comes first in the page, each sentence escaped
    assert "<span>not judged: gap 95 % (38 / 40 devices), journal" in html
    callout = html.index('<section id="unknown" class="unknown">')
    assert callout < html.index('<section id="slo"') < html.index('<section id="coverage"')
    assert "UNKNOWN: not everything could be judged" in html
    assert "gap: could not check 2 of 40 devices: device never audited (2); e.g. u3/d1: " \
        "no audit done event &lt;script&gt;" in html
    assert "<script" not in html
    assert 'href="#unknown"' in html and 'href="#coverage"' in html
    # the key figures show the least-covered check, marked
    assert '<div class="card unknown"><div class="v">95 %</div><div class="k">coverage: least ' \
        "(gap)</div>" in html
    # the implicit coverage SLOs are one sentence under the SLO table, in amber
    slo = html[html.index('<section id="slo"'):html.index('<section id="anomalies"')]
    assert "Implicit too: each check's coverage = 100 %: <span class=\"pill warn\">" \
        "missed</span> for gap, journal" in slo
    assert "gap coverage = 100 %" not in slo  # no row of its own


def test_a_passed_report_shows_full_coverage_and_one_sentence_of_coverage_slos() -> None:
    v = sample_verdict(passed=True)
    v["slo"].append({"name": "lost coverage = 100 %", "figure": "coverage.lost.percent",
                     "limit": 100.0, "op": "min", "value": 100.0, "passed": True,
                     "default": True})
    html = render_html(v, None)
    assert '<section id="unknown"' not in html
    assert '<div class="v">100 %</div><div class="k">coverage: every check</div>' in html
    slo = html[html.index('<section id="slo"'):html.index('<section id="anomalies"')]
    assert "lost coverage = 100 %" not in slo and "coverage = 100 %: held by all 1" in slo
    assert '<span class="pill ok">100 %</span>' in html  # the coverage section has it


def test_write_html_report(tmp_path: Path) -> None:
    path = write_html_report(tmp_path / "out" / "report.html", sample_verdict(),
                             sample_series(), run_dir=tmp_path, extra=SAMPLE_EXTRA)
    assert path == tmp_path / "out" / "report.html"
    text = path.read_text(encoding="utf-8")
    assert "</html>" in text and "ERROR" in text
    assert not list(path.parent.glob(".*.tmp"))
    # the per-second series as CSV beside it, named in the notes
    csv = path.parent / "series.csv"
    assert csv.read_text(encoding="utf-8") == series_csv(sample_series())
    assert "<code>series.csv</code> beside this page" in text
    # no series (the avalanche drill's page): no CSV, and none named
    bare = write_html_report(tmp_path / "bare" / "report.html", sample_verdict(), None)
    assert not (bare.parent / "series.csv").exists()
    assert "series.csv" not in bare.read_text(encoding="utf-8")


def failed_verdict(kinds: dict[str, int] | None = None) -> dict[str, Any]:
    """FAILED (no run errors): the sample's lost 3, or ``kinds``, each with one example."""
    v = sample_verdict()
    v["errors"] = []
    if kinds is not None:
        v["anomalies"] = dict(kinds)
        v["examples"] = {k: [{"explain": f"first {k} case", "events": []}] for k in kinds}
    return v


def between(html: str, start: str, end: str) -> str:
    return html[html.index(start):html.index(end, html.index(start))]


def test_the_first_screen_says_what_broke_and_when_before_everything_else() -> None:
    html = render_html(failed_verdict(), sample_series(), run_dir="/tmp/run")
    assert '<span class="badge">FAILED</span>' in html
    order = ['<header', '<section id="summary"', '<section id="plots"', '<div class="cards">',
             '<section id="slo"', '<section id="anomalies"', '<section id="unknown"',
             '<section id="coverage"', '<section id="charts"', '<section id="faults"']
    at = [html.index(marker) for marker in order]
    assert at == sorted(at), [m for m, _ in sorted(zip(order, at, strict=True),
                                                   key=lambda x: x[1])]
    summary = between(html, '<section id="summary"', "</section>")
    assert "<h2>What broke</h2>" in summary
    # each fault: kind, target, window
    assert "<b>latency</b> n1 · 2.0 s → 5.0 s (3.0 s)" in summary
    assert "<b>kill</b> n2 · 4.0 s → 6.5 s (2.5 s)" in summary
    # the anomaly, its one-sentence meaning and its first example (escaped)
    assert '<span class="bad">lost 3</span>' in summary
    assert "An acked message some expected device never got, not even in the audit." \
        in summary
    assert "u1&#x27;s message m7 was acked but u2/d0 never got it &lt;script&gt;" in summary
    plots = between(html, '<section id="plots"', "</section>")
    assert 'aria-label="push latency"' in plots and 'aria-label="unseen"' in plots


def test_a_passed_run_shows_the_faults_and_the_plots_first() -> None:
    html = render_html(sample_verdict(passed=True), sample_series())
    summary = between(html, '<section id="summary"', "</section>")
    assert "<h2>What happened</h2>" in summary and "<b>kill</b> n2" in summary
    assert "No anomaly: the checker found none of its 3 kinds." in summary
    assert html.index('<section id="summary"') < html.index('<section id="plots"') \
        < html.index('<div class="cards">')
    none = render_html({**sample_verdict(passed=True), "faults": []}, None)
    assert '<span class="label">faults</span><span class="note">none injected</span>' in none
    assert '<section id="plots"' not in none  # no series, no plots


def test_the_first_screen_names_the_kinds_past_the_first_few() -> None:
    assert FIRST_KINDS == 5
    v = failed_verdict({"lost": 1, "duplicated": 2, "order": 0, "gap": 3, "fifo": 4,
                        "backwards": 6, "phantom": 7, "causality": 5})
    # fifo is a finding: not promised, so after the promised kinds
    v["promises"] = ["lost", "duplicated", "order", "gap", "causality", "backwards", "phantom"]
    summary = between(render_html(v, None), '<section id="summary"', "</section>")
    assert summary.count('<div class="example"') == FIRST_KINDS
    for kind, n in (("lost", 1), ("duplicated", 2), ("gap", 3), ("backwards", 6),
                    ("phantom", 7)):  # the first five promised kinds, in report order
        assert f'<span class="bad">{kind} {n}</span>' in summary
        assert f"first {kind} case" in summary
    assert '<li class="note">and causality 5, fifo 4</li>' in summary
    assert "order 0" not in summary
    alone = failed_verdict({"fifo": 4})
    alone["promises"] = ["lost"]
    summary = between(render_html(alone, None), '<section id="summary"', "</section>")
    assert '<span class="finding">fifo 4</span> <span class="note">(not promised' in summary


def test_the_slo_table_has_the_scenarios_slos_and_one_line_for_every_anomaly() -> None:
    v = failed_verdict({"lost": 3, "duplicated": 0, "order": 2, "gap": 0})
    v["slo"] = []
    apply_slos(v, [Slo("latency_ms.ack.p99", max=500, name="ack p99 under 500 ms")])
    assert [s["name"] for s in v["slo"]][:2] == ["ack p99 under 500 ms", "lost = 0"]
    html = render_html(v, None)
    slo = between(html, '<section id="slo"', "</section>")
    names = re.findall(r"<tr><td>([^<]*)</td>", slo)
    # the header names the kinds once, not again as a missed "lost = 0"
    assert "<span>lost: 3</span>" in html and "SLO lost = 0" not in html
    assert names == ["ack p99 under 500 ms", "every anomaly = 0"]
    assert "broken by lost (3), order (2)" in slo and "MISSED" in slo
    v = sample_verdict(passed=True)
    v["slo"] = []
    apply_slos(v, [])
    slo = between(render_html(v, None), '<section id="slo"', "</section>")
    assert re.findall(r"<tr><td>([^<]*)</td>", slo) == ["every anomaly = 0"]
    assert "each of 3 kinds is 0" in slo and '<span class="pill ok">held</span>' in slo


def test_svg_ticks() -> None:
    assert nice_step(10, 5) == 2
    assert nice_step(21, 10, quarters=False) == 5
    assert nice_step(10, 4) == 2.5
    assert linear_ticks(0, 100, 4) == [0, 25, 50, 75, 100]
    assert linear_ticks(0, 0) == [0]


def test_line_chart_gaps_log_scale_and_escaping() -> None:
    svg = line_chart([Line("p<50>", [(0, 1.0), (1, None), (2, 900.0), (3, 1000.0)], "#000")],
                     x_max=4, y_label="ms", log_y=True, y_min=None,
                     bands=[Band(1, None, "kill <n1>")], marks=[Mark(3.9, "audit & done")])
    ET.fromstring(svg)
    assert "(log scale)" in svg
    assert "p&lt;50&gt;" in svg and "kill &lt;n1&gt;" in svg and "audit &amp; done" in svg
    assert svg.count("<polyline") == 1  # the None breaks the line; the lone point is a dot
    assert svg.count("<circle") == 1


def test_line_chart_without_data() -> None:
    svg = line_chart([Line("x", [(0, None)], "#000")], x_max=1)
    assert "no data" in svg
    ET.fromstring(svg)


def test_the_clocks_line_is_in_the_notes() -> None:
    v = sample_verdict(passed=True)
    assert "clocks:" not in render_html(v, None)
    v["journal"]["timeline"] = {"sources": 2, "reference": "m-1", "method": "none",
                                "bound_s": None, "aligned": []}
    html = render_html(v, None)
    assert '<span class="bad">clocks: 2 NOT put on one timeline' in html
    v["journal"]["timeline"].update(method="measured", bound_s=0.0012)
    assert "<li>clocks: 2 put on the master&#x27;s, within ±1.2 ms (measured)</li>" \
        in render_html(v, None)
