import pytest

from imload.slo import Slo, apply_slos, evaluate, parse_slos


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
    assert v["passed"] is False and v["slo"][0] == {
        "name": "lost = 0", "figure": "anomalies.lost", "limit": 0.0, "op": "max", "value": 2,
        "passed": False}


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
