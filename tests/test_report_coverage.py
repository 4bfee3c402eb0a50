"""Coverage in the reports (imload/report/coverage.py): the lines, the outcome word, the
UNKNOWN sentences, and the HTML coverage section and callout."""

from __future__ import annotations

from typing import Any

from coverage_journals import fully_judged, group_older_than_the_run
from journal_builder import two_friends

from imload.check import check
from imload.report.coverage import (
    NOT_RECORDED,
    NOTHING_CHECKED,
    accepted_note,
    coverage_html,
    coverage_lines,
    judged_text,
    outcome_of,
    percent_text,
    reason_texts,
    run_wide_sentences,
    short_summary,
    unknown_html,
    unknown_sentences,
)
from imload.slo import Slo, apply_slos

HOSTILE = '<script>alert("x")</script>'


def unknown_verdict() -> dict[str, Any]:
    return apply_slos(check(group_older_than_the_run().events), [])


def test_lines_follow_the_verdict_and_its_slos() -> None:
    v = unknown_verdict()
    lines = coverage_lines(v)
    assert lines is not None
    assert [line.kind for line in lines] == list(v["coverage"])
    lost = next(line for line in lines if line.kind == "lost")
    assert (lost.due, lost.judged, lost.short, lost.missed, lost.accepted) == (4, 1, True, True,
                                                                                False)
    assert lost.sentence == next(s for s in v["unknown"] if s.startswith("lost: "))
    assert [s["name"] for s in lost.slos] == ["lost coverage = 100 %"]
    assert (percent_text(lost), judged_text(lost)) == ("25 %", "1 / 4 acked messages")
    assert reason_texts(lost)[0].startswith("members unknown (3): e.g. g:old: ")
    complete = next(line for line in lines if line.kind == "duplicated")
    assert not complete.short and not complete.missed
    nothing = next(line for line in lines if line.kind == "partial")
    assert (percent_text(nothing), judged_text(nothing)) == (
        "–", "nothing to judge (indeterminate sends that were stored)")


def test_the_outcome_word_and_the_why() -> None:
    v = unknown_verdict()
    assert outcome_of(v) == "unknown"
    assert short_summary(v).startswith("lost 25 % (1 / 4 acked messages), gap ")
    accepted = apply_slos(check(group_older_than_the_run().events),
                          [Slo("coverage.lost.percent", min=20, name="lost 20 %"),
                           Slo("coverage.gap.percent", min=0)])
    assert outcome_of(accepted) == "passed" and short_summary(accepted) == ""
    assert short_summary(accepted, accepted=True).startswith("lost 25 %")
    assert accepted_note(accepted).startswith(
        "valid is unknown: the scenario's SLOs accept lost coverage 25 % (lost 20 %)")
    clean = apply_slos(check(fully_judged().events), [])
    assert outcome_of(clean) == "passed" and unknown_sentences(clean) == []
    assert accepted_note(clean) == "" and short_summary(clean) == ""


def test_nothing_checked_is_a_run_wide_sentence() -> None:
    j = two_friends()  # logged in, then nothing sent
    j.audit_all()
    v = apply_slos(check(j.events), [])
    assert v["counts"]["acked"] == 0 and outcome_of(v) == "unknown"
    assert run_wide_sentences(v) == [NOTHING_CHECKED]
    assert NOTHING_CHECKED in short_summary(v)


def test_verdicts_that_were_never_gated_or_are_older() -> None:
    # never through apply_slos: a short line is missed, the outcome never passed
    ungated = check(group_older_than_the_run().events)
    assert outcome_of(ungated) == "unknown"
    assert all(line.missed for line in coverage_lines(ungated) or [] if line.short)
    # an older verdict: no coverage, no sentences; unknown meant nothing was acked
    old = {"valid": "unknown", "passed": False, "anomalies": {"lost": 0}}
    assert coverage_lines(old) is None and outcome_of(old) == "unknown"
    assert unknown_sentences(old) == [NOTHING_CHECKED]
    assert outcome_of({"valid": True, "passed": True}) == "passed"
    assert outcome_of({"valid": False, "passed": False, "anomalies": {"lost": 2}}) == "failed"
    assert outcome_of({"passed": False, "errors": ["audit: x"]}) == "error"
    assert NOT_RECORDED in coverage_html(old)
    # a sentence the checker did not write is made from the entry
    entry = {"unit": "devices", "due": 4, "judged": 3, "unjudged": 1, "percent": 75.0,
             "reasons": [{"reason": "device never audited", "count": 1, "example": "u/d"}]}
    lines = coverage_lines({"coverage": {"gap": entry}, "anomalies": {"gap": 0}})
    assert lines is not None and lines[0].sentence == \
        "gap: could not check 1 of 4 devices: device never audited (1); e.g. u/d"


def test_html_section_and_callout_escape_and_mark_short_lines() -> None:
    v = unknown_verdict()
    v["coverage"]["lost"]["reasons"][0]["example"] = HOSTILE
    v["unknown"][0] = "lost: could not check 3 of 4 acked messages: " + HOSTILE
    section = coverage_html(v)
    assert '<section id="coverage"' in section and "<script" not in section
    assert "&lt;script&gt;" in section
    assert section.count('class="short"') == 2  # lost and gap
    assert "25 % UNKNOWN" in section and "1 / 4" not in section  # numbers in their own cells
    callout = unknown_html(v)
    assert '<section id="unknown" class="unknown">' in callout
    assert "UNKNOWN: not everything could be judged" in callout
    assert "<script" not in callout and "(exit code 3)" in callout
    assert unknown_html(apply_slos(check(fully_judged().events), [])) == ""


def test_html_of_accepted_coverage() -> None:
    v = apply_slos(check(group_older_than_the_run().events),
                   [Slo("coverage.lost.percent", min=20), Slo("coverage.gap.percent", min=0)])
    assert 'class="accepted"' in coverage_html(v) and "25 % accepted" in coverage_html(v)
    callout = unknown_html(v)
    assert "Accepted: not everything could be judged" in callout
    assert "valid is unknown: the scenario" in callout
