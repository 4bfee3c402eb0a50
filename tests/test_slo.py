from __future__ import annotations

from typing import Any

import pytest
from coverage_journals import fully_judged, group_older_than_the_run

from imload.check import check
from imload.slo import (
    EXIT_CODES,
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_PASSED,
    EXIT_UNKNOWN,
    IMPLICIT_ANOMALIES,
    Slo,
    apply_slos,
    evaluate,
    exit_code,
    implicit_coverage,
    outcome,
    parse_slos,
    slo_table,
    worst_exit,
)


def verdict(lost: int = 0, p99: float | None = 120.0) -> dict:
    return {"passed": lost == 0, "counts": {"attempted": 100, "attempts": 112, "failed": 1,
                                            "info": 2},
            "anomalies": {"lost": lost, "duplicated": 0},
            "latency_ms": {"ack": {"p99": p99, "count": 5 if p99 else 0}}}


def test_scenario_slos_and_default_anomaly_slos() -> None:
    slos = parse_slos([{"figure": "latency_ms.ack.p99", "max": 100},
                       {"figure": "ratios.retry", "max": 1.2, "name": "few retries"}])
    lines = evaluate(verdict(), slos)
    assert [(x["name"], x["value"], x["passed"]) for x in lines] == [
        ("latency_ms.ack.p99 <= 100", 120.0, False), ("few retries", 1.12, True),
        ("lost = 0", 0, True), ("duplicated = 0", 0, True)]


def test_apply_fails_the_verdict_on_a_missed_slo_or_an_anomaly() -> None:
    v = apply_slos(verdict(), parse_slos([{"figure": "latency_ms.ack.p99", "max": 500}]))
    assert v["passed"] is True and all(x["passed"] for x in v["slo"])
    v = apply_slos(verdict(lost=2), [])
    assert v["passed"] is False and v["outcome"] == "failed" and v["slo"][0] == {
        "name": "lost = 0", "figure": "anomalies.lost", "limit": 0.0, "op": "max", "value": 2,
        "default": True, "passed": False}


def test_a_scenario_may_loosen_an_anomaly_and_set_minimums() -> None:
    lines = evaluate(verdict(lost=2), [Slo("anomalies.lost", max=5), Slo("counts.attempted",
                                                                          min=150)])
    assert [x["passed"] for x in lines] == [True, False, True]


def test_missing_figures_fail_and_unsampled_ones_pass() -> None:
    lines = evaluate(verdict(p99=None), [Slo("latency_ms.ack.p99", max=1),
                                         Slo("latency_ms.akc.p99", max=1)])
    assert (lines[0]["passed"], lines[0]["note"]) == (True, "no samples")
    assert (lines[1]["passed"], lines[1]["note"]) == (False, "the verdict has no such figure")


@pytest.mark.parametrize("raw, words", [
    ({"slo": 1}, "list of tables"),
    ([{"figure": "a..b", "max": 1}], "dotted path"),
    ([{"figure": "a", "max": 1, "min": 0}], "exactly one of max or min"),
    ([{"figure": "a"}], "exactly one of max or min"),
    ([{"figure": "a", "max": "1"}], "max must be a number"),
    ([{"figure": "a", "max": 1, "limit": 3}], "unknown key"),
])
def test_bad_slos(raw: object, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_slos(raw)


# ---- coverage: a verdict never passes what it did not check ---------------------------

def entry(due: int, judged: int, unit: str = "acked messages", reason: str = "members unknown",
          **extra: Any) -> dict[str, Any]:
    unjudged = due - judged
    return {"unit": unit, "due": due, "judged": judged, "unjudged": unjudged,
            "percent": round(100 * judged / due, 2) if due else None,
            "reasons": [{"reason": reason, "count": unjudged, "example": "g:ab12: no create"}]
            if unjudged else [], **extra}


def covered(lost: int = 0, lost_judged: int = 40, gap_judged: int = 10,
            acked: int = 40, valid: Any = None) -> dict[str, Any]:
    """A verdict of the checker's shape: two checks and the journal line."""
    coverage = {"lost": entry(40, lost_judged), "gap": entry(10, gap_judged, "devices",
                                                              "device never audited"),
                "journal": entry(300, 300, "journal lines")}
    short = lost_judged < 40 or gap_judged < 10
    if valid is None:
        valid = False if lost else "unknown" if short or not acked else True
    return {"valid": valid, "passed": valid is True,
            "counts": {"attempted": acked, "acked": acked, "delivered": 2 * acked},
            "anomalies": {"lost": lost, "gap": 0}, "coverage": coverage,
            "unknown": [], "latency_ms": {"ack": {"p99": 12.0}}}


def test_each_coverage_line_gets_a_default_slo_of_100_percent() -> None:
    lines = evaluate(covered(), [])
    by_name = {x["name"]: x for x in lines}
    assert list(by_name) == ["lost = 0", "gap = 0", "lost coverage = 100 %",
                             "gap coverage = 100 %", "journal coverage = 100 %"]
    assert by_name["gap coverage = 100 %"] == {
        "name": "gap coverage = 100 %", "figure": "coverage.gap.percent", "limit": 100.0,
        "op": "min", "default": True, "value": 100.0, "passed": True}


@pytest.mark.parametrize("case, want, code", [
    ("an anomaly", "failed", EXIT_FAILED),
    ("an anomaly and short coverage", "failed", EXIT_FAILED),
    ("a missed latency SLO and short coverage", "failed", EXIT_FAILED),
    ("short coverage", "unknown", EXIT_UNKNOWN),
    ("short coverage an SLO accepts", "passed", EXIT_PASSED),
    ("short coverage under the SLO's own floor", "unknown", EXIT_UNKNOWN),
    ("nothing checked", "unknown", EXIT_UNKNOWN),
    ("run errors", "error", EXIT_ERROR),
    ("everything judged", "passed", EXIT_PASSED),
])
def test_outcome_and_exit_code_of_each_rule(case: str, want: str, code: int) -> None:
    slos: list[Slo] = []
    v = covered()
    if case == "an anomaly":
        v = covered(lost=2)
    elif case == "an anomaly and short coverage":
        v = covered(lost=2, gap_judged=5)
    elif case == "a missed latency SLO and short coverage":
        v, slos = covered(gap_judged=5), [Slo("latency_ms.ack.p99", max=10)]
    elif case == "short coverage":
        v = covered(lost_judged=0)
    elif case == "short coverage an SLO accepts":
        v, slos = covered(gap_judged=9), [Slo("coverage.gap.percent", min=90)]
    elif case == "short coverage under the SLO's own floor":
        v, slos = covered(gap_judged=8), [Slo("coverage.gap.percent", min=90)]
    elif case == "nothing checked":
        v = covered(acked=0)
        v["coverage"] = {k: entry(0, 0) for k in v["coverage"]}
    elif case == "run errors":
        v = covered(lost=1)
        v["errors"] = ["audit: u1/d0 did not sync"]
    apply_slos(v, slos)
    assert (v["outcome"], exit_code(v), v["passed"]) == (want, code, want == "passed")


def test_an_slo_accepting_less_coverage_replaces_the_default_and_valid_stays_unknown() -> None:
    v = apply_slos(covered(gap_judged=9), [Slo("coverage.gap.percent", min=90, name="gap 90")])
    names = [x["name"] for x in v["slo"]]
    assert "gap 90" in names and "gap coverage = 100 %" not in names
    assert "lost coverage = 100 %" in names  # the other checks keep theirs
    assert v["valid"] == "unknown" and v["outcome"] == "passed" and v["passed"] is True
    # any figure of that line counts as the scenario's own (a cap on what is unjudged)
    v = apply_slos(covered(gap_judged=9), [Slo("coverage.gap.unjudged", max=1)])
    assert v["outcome"] == "passed" and "gap coverage = 100 %" not in \
        [x["name"] for x in v["slo"]]


def test_nothing_to_judge_passes_and_says_so() -> None:
    v = covered()
    v["coverage"]["gap"] = entry(0, 0, "devices")
    v["coverage"]["order"] = {**entry(0, 0, "conversations"), "applicable": False,
                              "note": "seqs declared increasing"}
    v["anomalies"]["order"] = 0
    lines = {x["name"]: x for x in apply_slos(v, [])["slo"]}
    assert (lines["gap coverage = 100 %"]["passed"], lines["gap coverage = 100 %"]["note"]) \
        == (True, "nothing to judge")
    assert lines["order coverage = 100 %"]["note"] == "not applicable: seqs declared increasing"
    assert v["outcome"] == "passed"


def test_a_check_the_verdict_no_longer_judges_gets_no_coverage_slo() -> None:
    # capacity steps drop whole-run kinds from the anomalies: their coverage is not theirs
    v = covered(gap_judged=0)
    del v["anomalies"]["gap"]
    apply_slos(v, [])
    assert "gap coverage = 100 %" not in [x["name"] for x in v["slo"]]
    assert "journal coverage = 100 %" in [x["name"] for x in v["slo"]]  # not a check kind
    assert v["outcome"] == "passed"


def test_an_older_verdict_without_coverage_gets_no_coverage_slos() -> None:
    v = covered()
    del v["coverage"], v["unknown"]
    assert [x["name"] for x in apply_slos(v, [])["slo"]] == ["lost = 0", "gap = 0"]
    assert v["outcome"] == "passed"
    old_unknown = {"valid": "unknown", "passed": False, "counts": {"acked": 0},
                   "anomalies": {"lost": 0}}
    assert apply_slos(old_unknown, [])["outcome"] == "unknown"
    # a coverage figure named on such a verdict is a figure it does not have: missed
    v = apply_slos(covered() | {"coverage": None}, [Slo("coverage.gap.percent", min=90)])
    assert v["slo"][0]["note"] == "the verdict has no such figure"
    assert v["outcome"] == "unknown"  # a coverage SLO missed: not judged, not failed


def test_exit_codes_are_distinct_and_combine_worst_first() -> None:
    assert EXIT_CODES == {"passed": 0, "failed": 1, "error": 2, "unknown": 3}
    assert worst_exit([]) == EXIT_PASSED
    assert worst_exit([EXIT_PASSED, EXIT_UNKNOWN]) == EXIT_UNKNOWN
    assert worst_exit([EXIT_UNKNOWN, EXIT_FAILED, EXIT_PASSED]) == EXIT_FAILED
    assert worst_exit([EXIT_FAILED, EXIT_ERROR, EXIT_UNKNOWN]) == EXIT_ERROR
    # a verdict never gated is judged by the same rule (no coverage SLO lines: anomalies)
    assert exit_code({"anomalies": {"lost": 1}}) == EXIT_FAILED
    assert outcome({"valid": "unknown", "counts": {"acked": 0, "delivered": 0}}) == "unknown"


def test_the_checkers_verdict_of_a_group_with_unknown_members_is_unknown() -> None:
    # A group older than the run: no client created it, so its members are unknown and
    # its messages cannot be judged lost or not (imload/check/coverage.py).
    j = group_older_than_the_run()
    v = apply_slos(check(j.events), [])
    assert v["valid"] == "unknown" and not any(v["anomalies"].values())
    assert v["coverage"]["lost"]["unjudged"] == 3
    assert apply_slos(check(fully_judged().events), [])["outcome"] == "passed"
    assert v["outcome"] == "unknown" and exit_code(v) == EXIT_UNKNOWN
    missed = [x["name"] for x in v["slo"] if not x["passed"]]
    assert "lost coverage = 100 %" in missed
    assert apply_slos(v, [Slo("coverage.lost.percent", min=20),
                          Slo("coverage.gap.percent", min=0)])["outcome"] == "passed"


# ---- what the reports' SLO tables show ------------------------------------------------

def test_the_slo_table_is_the_scenarios_slos_and_one_line_for_every_anomaly() -> None:
    v = covered()
    v["anomalies"].update(duplicated=0, order=0)
    apply_slos(v, [Slo("latency_ms.ack.p99", max=100, name="ack p99")])
    assert len(v["slo"]) == 1 + 4 + 3  # verdict.json keeps every line: presentation only
    rows = slo_table(v["slo"])
    assert [r["name"] for r in rows] == ["ack p99", IMPLICIT_ANOMALIES]
    assert rows[1] == {"name": "every anomaly = 0", "figure": "anomalies.*", "limit": 0,
                       "op": "max", "value": 0, "passed": True, "default": True, "broken": {},
                       "kinds": 4, "note": "each of 4 kinds is 0"}
    assert implicit_coverage(v["slo"]) == (3, [])


def test_the_implicit_line_fails_naming_each_anomaly_kind_that_broke_it() -> None:
    v = covered(lost=3, gap_judged=5)
    v["anomalies"].update(order=2, duplicated=0)
    apply_slos(v, [])
    (row,) = slo_table(v["slo"])
    assert (row["passed"], row["value"], row["broken"]) == (False, 5, {"lost": 3, "order": 2})
    assert row["note"] == "broken by lost (3), order (2)"
    assert implicit_coverage(v["slo"]) == (2, ["gap"])  # lost and journal held


def test_an_anomaly_the_scenario_names_is_its_own_row_not_part_of_the_implicit_line() -> None:
    v = covered(lost=3)
    apply_slos(v, [Slo("anomalies.lost", max=5, name="a few lost")])
    rows = slo_table(v["slo"])
    assert [(r["name"], r["passed"]) for r in rows] == [("a few lost", True),
                                                        (IMPLICIT_ANOMALIES, True)]
    assert rows[1]["kinds"] == 1  # gap only
    # every kind named: no implicit line; no SLO at all: an empty table
    v = apply_slos(covered(), [Slo("anomalies.lost", max=0), Slo("anomalies.gap", max=0)])
    assert [r["name"] for r in slo_table(v["slo"])] == ["anomalies.lost <= 0",
                                                         "anomalies.gap <= 0"]
    assert slo_table([]) == [] and implicit_coverage([]) == (0, [])
