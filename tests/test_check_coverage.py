"""Coverage: each check's due / judged / reasons, and the sentences that make a verdict unknown."""

from imload.check.cases import Cases
from imload.check.coverage import coverage_entry, journal_entry, sentence, unknown_sentences


def test_a_fully_judged_check_is_100_percent_and_says_nothing() -> None:
    c = Cases("lost", unit="acked messages")
    c.owe(5)
    entry = coverage_entry(c)
    assert entry == {"unit": "acked messages", "due": 5, "judged": 5, "unjudged": 0,
                     "percent": 100.0, "reasons": []}
    assert unknown_sentences({"lost": entry}) == []


def test_reasons_are_counted_with_their_first_example_biggest_first() -> None:
    c = Cases("lost", unit="acked messages")
    c.owe(2316)
    c.skip("device never audited", "u1/d0 has no finished audit", 16)
    c.skip("members unknown", "g:a: no client's group_create", 2000)
    c.skip("members unknown", "g:b: not kept", 300)
    entry = coverage_entry(c)
    assert (entry["judged"], entry["unjudged"], entry["percent"]) == (0, 2316, 0.0)
    assert entry["reasons"] == [
        {"reason": "members unknown", "count": 2300, "example": "g:a: no client's group_create"},
        {"reason": "device never audited", "count": 16,
         "example": "u1/d0 has no finished audit"}]
    assert sentence("lost", entry) == (
        "lost: could not check 2,316 of 2,316 acked messages: members unknown (2,300); "
        "device never audited (16); e.g. g:a: no client's group_create")


def test_unjudged_never_exceeds_due() -> None:
    c = Cases("gap", unit="devices")
    c.owe(1)
    c.skip("device never audited", "x", 3)
    assert coverage_entry(c)["unjudged"] == 1 and coverage_entry(c)["judged"] == 0


def test_a_check_that_does_not_apply_is_never_short() -> None:
    c = Cases("gap", unit="devices")
    c.owe(4)
    c.skip("device never audited", "x")
    c.not_applicable("seqs declared increasing")
    entry = coverage_entry(c)
    assert entry["applicable"] is False and entry["note"] == "seqs declared increasing"
    assert entry["percent"] is None and entry["unjudged"] == 0
    assert unknown_sentences({"gap": entry}) == []


def test_the_journal_line_counts_torn_lines_and_events_set_aside() -> None:
    entry = journal_entry(98, ["a.jsonl:3: not JSON"], ["event #4 ('send' at 1.0): lacks 'cmid'"],
                          1)
    assert (entry["due"], entry["judged"], entry["unjudged"]) == (100, 98, 2)
    assert [r["reason"] for r in entry["reasons"]] == ["malformed event", "unreadable line"]
    assert journal_entry(10, [], [], 0)["unjudged"] == 0
