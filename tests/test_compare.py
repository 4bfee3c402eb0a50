"""compare: what changed between two verdicts, and when B counts as a regression."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from rich.console import Console

from imload.compare import (
    EXIT_NO_VERDICT,
    EXIT_REGRESSED,
    EXIT_SAME,
    compare_verdicts,
    main_compare,
    regressions,
    render_comparison,
)


def verdict() -> dict[str, Any]:
    return {
        "valid": True, "passed": True, "scenario": "default", "target": "local",
        "counts": {"attempted": 400, "acked": 400, "delivered": 800},
        "anomalies": {"lost": 0, "duplicated": 0, "order": 2},
        "latency_ms": {"ack": {"p50": 3.0, "p90": 40.0, "p99": 400.0, "p999": 480.0,
                               "max": 490.0, "count": 400},
                       "reconnect": {"p50": None, "p90": None, "p99": None, "p999": None,
                                     "max": None, "count": 0}},
        "slo": [{"name": "ack p99 ms", "limit": 500, "value": 400.0, "passed": True}],
    }


def changed(**edits: Any) -> dict[str, Any]:
    v = copy.deepcopy(verdict())
    for path, value in edits.items():
        *parents, leaf = path.split("__")
        node = v
        for p in parents:
            node = node[p]
        node[leaf] = value
    return v


def flagged(a: dict[str, Any], b: dict[str, Any], **kw: Any) -> list[tuple[str, str]]:
    return [(r.section, r.name) for r in regressions(compare_verdicts(a, b, **kw))]


def test_same_verdict_is_no_regression() -> None:
    rows = compare_verdicts(verdict(), verdict())
    assert not regressions(rows) and not any(r.improved for r in rows)
    sections = {r.section for r in rows}
    assert sections == {"verdict", "slo", "anomalies", "latency_ms", "counts"}
    # a latency kind without samples in either run is left out
    assert not any(r.name.startswith("reconnect") for r in rows)


def test_passed_to_failed_is_a_regression() -> None:
    assert ("verdict", "passed") in flagged(verdict(), changed(passed=False))
    assert ("verdict", "valid") in flagged(verdict(), changed(valid=False))


def test_anomaly_from_zero_is_a_regression() -> None:
    assert flagged(verdict(), changed(anomalies__lost=1)) == [("anomalies", "lost")]


def test_anomaly_already_there_that_grows_is_shown_but_not_judged() -> None:
    rows = compare_verdicts(verdict(), changed(anomalies__order=5))
    order = next(r for r in rows if r.name == "order")
    assert order.delta == "+3" and not order.regressed


def test_anomaly_gone_is_an_improvement() -> None:
    rows = compare_verdicts(verdict(), changed(anomalies__order=0))
    assert next(r for r in rows if r.name == "order").improved


def test_new_anomaly_kind_in_b() -> None:
    b = changed()
    b["anomalies"]["gap"] = 2
    assert flagged(verdict(), b) == [("anomalies", "gap")]


def test_latency_up_more_than_ten_percent_is_a_regression() -> None:
    assert flagged(verdict(), changed(latency_ms__ack__p99=441.0)) == [("latency_ms", "ack p99")]
    assert flagged(verdict(), changed(latency_ms__ack__p99=440.0)) == []  # exactly +10 %
    assert flagged(verdict(), changed(latency_ms__ack__p50=3.2)) == []  # +6.7 %
    rows = compare_verdicts(verdict(), changed(latency_ms__ack__p99=500.0))
    p99 = next(r for r in rows if r.name == "ack p99")
    assert p99.delta == "+100 (+25.0 %)"


def test_latency_floor_ignores_tiny_changes() -> None:
    b = changed(latency_ms__ack__p50=4.0)  # +33 % but only 1 ms
    assert flagged(verdict(), b) == [("latency_ms", "ack p50")]
    assert flagged(verdict(), b, latency_floor_ms=2.0) == []


def test_latency_down_is_an_improvement_and_missing_samples_are_not_judged() -> None:
    rows = compare_verdicts(verdict(), changed(latency_ms__ack__p99=200.0))
    assert next(r for r in rows if r.name == "ack p99").improved
    b = changed()
    b["latency_ms"]["ack"]["p99"] = None
    assert flagged(verdict(), b) == []


def test_slo_missed_is_a_regression() -> None:
    b = changed()
    b["slo"] = [{"name": "ack p99 ms", "limit": 500, "value": 520.0, "passed": False}]
    assert ("slo", "ack p99 ms") in flagged(verdict(), b)


def test_counts_are_never_regressions() -> None:
    b = changed(counts__acked=100, counts__delivered=10)
    assert flagged(verdict(), b) == []
    acked = next(r for r in compare_verdicts(verdict(), b) if r.name == "acked")
    assert acked.delta == "-300 (-75.0 %)"


def render(rows: Any) -> str:
    console = Console(width=120, record=True, force_terminal=False)
    render_comparison(rows, console)
    return console.export_text()


def test_render_marks_regressions() -> None:
    text = render(compare_verdicts(verdict(), changed(passed=False, anomalies__lost=4)))
    assert "▲ regression" in text and "B regressed against A in 2 figures" in text
    assert "B is no worse than A" in render(compare_verdicts(verdict(), verdict()))


def write(folder: Path, v: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "verdict.json").write_text(json.dumps(v))
    return folder


def run(a: Path, b: Path) -> tuple[int, str]:
    console = Console(width=120, record=True, force_terminal=False)
    code = main_compare(a, b, console)
    return code, console.export_text()


def test_main_compare_exit_codes(tmp_path: Path) -> None:
    a = write(tmp_path / "a", verdict())
    same = write(tmp_path / "same", verdict())
    worse = write(tmp_path / "worse", changed(latency_ms__ack__p99=900.0))
    code, text = run(a, same)
    assert code == EXIT_SAME and "B is no worse than A" in text
    code, text = run(a, worse)
    assert code == EXIT_REGRESSED and "ack p99" in text
    assert "scenario default" in text
    # the verdict file itself works too
    assert run(a / "verdict.json", same / "verdict.json")[0] == EXIT_SAME


def test_main_compare_without_a_verdict(tmp_path: Path) -> None:
    a = write(tmp_path / "a", verdict())
    code, text = run(a, tmp_path / "missing")
    assert code == EXIT_NO_VERDICT and "no run folder at" in text
    (tmp_path / "empty").mkdir()
    code, text = run(tmp_path / "empty", a)
    assert code == EXIT_NO_VERDICT and "no verdict.json in" in text
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "verdict.json").write_text("{torn")
    code, text = run(a, bad)
    assert code == EXIT_NO_VERDICT and "not a readable verdict" in text
    assert "Traceback" not in text
    (bad / "verdict.json").write_text("[1, 2]")
    assert run(a, bad)[0] == EXIT_NO_VERDICT


# ---- coverage and the outcome ----------------------------------------------------------

def with_coverage(lost: float | None = 100.0, gap: float | None = 100.0,
                  outcome: str = "passed") -> dict[str, Any]:
    v = verdict()

    def line(unit: str, due: int, percent: float | None) -> dict[str, Any]:
        judged = 0 if percent is None else round(due * percent / 100)
        return {"unit": unit, "due": due if percent is not None else 0, "judged": judged,
                "unjudged": (due - judged) if percent is not None else 0, "percent": percent,
                "reasons": []}
    v["coverage"] = {"lost": line("acked messages", 400, lost), "gap": line("devices", 40, gap)}
    v["outcome"] = outcome
    v["valid"] = True if outcome == "passed" and (lost or 100) >= 100 and (gap or 100) >= 100 \
        else "unknown"
    return v


def test_a_coverage_drop_is_a_regression() -> None:
    a, b = with_coverage(), with_coverage(gap=95.0, outcome="unknown")
    assert flagged(a, b) == [("verdict", "valid"), ("verdict", "outcome"), ("coverage", "gap")]
    gap = next(r for r in compare_verdicts(a, b) if r.section == "coverage" and r.name == "gap")
    assert (gap.a, gap.b, gap.delta) == (100.0, 95.0, "-5.00 pts")
    # already short in A and dropping further: still a regression (less was judged)
    assert ("coverage", "lost") in flagged(with_coverage(lost=90.0), with_coverage(lost=80.0))
    # more judged: better
    rows = compare_verdicts(with_coverage(lost=80.0), with_coverage(lost=90.0))
    assert next(r for r in rows if r.name == "lost" and r.section == "coverage").improved
    assert flagged(with_coverage(), with_coverage()) == []


def test_nothing_to_judge_counts_as_full_coverage() -> None:
    a, b = with_coverage(gap=None), with_coverage(gap=50.0, outcome="unknown")
    assert ("coverage", "gap") in flagged(a, b)
    assert ("coverage", "gap") not in flagged(with_coverage(), with_coverage(gap=None))


def test_coverage_not_recorded_is_shown_but_not_judged() -> None:
    rows = compare_verdicts(verdict(), with_coverage(lost=50.0))
    lost = next(r for r in rows if r.section == "coverage" and r.name == "lost")
    assert (lost.a, lost.b, lost.regressed) == ("not recorded", 50.0, False)
    assert not [r for r in compare_verdicts(verdict(), verdict()) if r.section == "coverage"]


def test_outcome_getting_worse_is_a_regression() -> None:
    assert ("verdict", "outcome") in flagged(with_coverage(outcome="unknown"),
                                             with_coverage(outcome="failed"))
    rows = compare_verdicts(with_coverage(outcome="failed"), with_coverage(outcome="unknown"))
    assert next(r for r in rows if r.name == "outcome").improved


def test_main_compare_exits_1_on_a_coverage_drop(tmp_path: Path) -> None:
    a = write(tmp_path / "a", with_coverage())
    b = write(tmp_path / "b", with_coverage(lost=99.5, outcome="unknown"))
    code, text = run(a, b)
    assert code == EXIT_REGRESSED
    assert "coverage (% judged)" in text and "-0.50 pts" in text and "coverage lost" in text
