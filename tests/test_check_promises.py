"""Promises: the kinds a target calls defects fail a run; the others are reported only."""

from __future__ import annotations

from journal_builder import JournalBuilder, two_phones

from imload.check import check
from imload.check.verdict import CHECKS
from imload.slo import apply_slos, exit_code


def lossy(promises: list[str] | None) -> JournalBuilder:
    """bob's phone never gets alice's acked c2; c3 reaches him twice (two mids' worth of
    wire: the same mid on two pushes counts as one, so a second *delivery* of c3 via sync
    with another useq is a duplicate). With ``promises`` the target declares them, and
    contiguous numbering; without, it declares nothing."""
    contiguous = {"seq": "contiguous", "useq": "contiguous"}
    j = two_phones(numbering=contiguous if promises is not None else None, promises=promises)
    for i in (1, 2, 3):
        j.send("alice", "phone", f"c{i}", "bob")
        j.ack("alice", f"c{i}", seq=i)
        j.deliver_all("alice", f"c{i}", skip=(("bob", "phone"),) if i == 2 else ())
    j.audit_all()
    return j


def test_nothing_declared_holds_the_backend_to_every_kind() -> None:
    v = apply_slos(check(lossy(None).events), [])
    assert v["promises"] == list(CHECKS)
    assert v["anomalies"]["lost"] == 1 and v["valid"] is False
    assert v["outcome"] == "failed" and exit_code(v) == 1


def test_an_unpromised_kind_is_reported_but_not_gated() -> None:
    v = apply_slos(check(lossy(["duplicated", "phantom", "corrupted"]).events), [])
    assert v["promises"] == ["duplicated", "phantom", "corrupted"]
    assert v["anomalies"]["lost"] == 1 and v["examples"]["lost"]  # still found, with evidence
    assert v["valid"] is True and v["outcome"] == "passed"
    assert {line["figure"] for line in v["slo"] if line["default"]} == {
        "anomalies.duplicated", "anomalies.phantom", "anomalies.corrupted",
        "coverage.duplicated.percent", "coverage.phantom.percent",
        "coverage.corrupted.percent", "coverage.journal.percent"}


def test_a_promised_kind_fails_the_run() -> None:
    v = apply_slos(check(lossy(["lost"]).events), [])
    assert v["valid"] is False and v["outcome"] == "failed"


def test_coverage_of_an_unpromised_check_does_not_make_the_verdict_unknown() -> None:
    j = lossy(["lost"])
    j.add("declare", numbering={"seq": "opaque", "useq": "contiguous"}, promises=["lost"])
    v = apply_slos(check(j.events), [])
    assert v["coverage"]["order"]["unjudged"] > 0  # order cannot be judged on labels...
    assert v["valid"] is False  # ...which is no reason to hide the promised loss
    v = apply_slos(check(lossy(None).events[:0] + _opaque_clean(["lost"]).events), [])
    assert v["valid"] is True and v["outcome"] == "passed" and v["unknown"] == []
    v = apply_slos(check(_opaque_clean(None).events), [])
    assert v["valid"] == "unknown" and v["outcome"] == "unknown"


def _opaque_clean(promises: list[str] | None) -> JournalBuilder:
    j = two_phones(numbering={"seq": "opaque", "useq": "contiguous"}, promises=promises)
    j.message("alice", "phone", "bob", "c1")  # seq 1
    j.audit_all()
    return j


def test_a_bad_promises_declaration_is_set_aside_and_named() -> None:
    j = lossy(None)
    j.add("declare", numbering={"seq": "contiguous"}, promises="duplicated")
    v = check(j.events)
    assert v["valid"] is False  # judged against every kind, as if nothing were declared
    assert any("'promises' is str" in b for b in v["journal"]["bad_events"])


def test_a_name_that_is_no_kind_promises_nothing() -> None:
    v = check(lossy(["duplicated", "slow"]).events)
    assert v["promises"] == ["duplicated"] and v["valid"] is True
