"""gap: holes in a device's useqs or seqs after the audit (and none before it is judged)."""

from journal_builder import JournalBuilder, two_friends, two_phones
from test_check_recipients import team

from imload.check.gaps import gap_cases, missing_in_spans, missing_numbers
from imload.check.history import build_history


def three_messages() -> JournalBuilder:
    j = two_friends()
    for cmid in ("c1", "c2", "c3"):
        j.message("alice", "phone", "bob", cmid)
    return j


def test_a_complete_audit_has_no_gap() -> None:
    j = three_messages()
    j.audit_all()
    assert gap_cases(build_history(j.events)).count == 0


def test_a_missing_seq_below_a_held_one_is_a_gap_even_if_nobody_saw_it() -> None:
    j = three_messages()
    j.send("alice", "phone", "c5", "bob")
    j.ack("alice", "c5", seq=5)  # seq 4 was handed out to nobody we know
    j.deliver_all("alice", "c5")
    j.audit_all()
    cases = gap_cases(build_history(j.events))
    assert cases.count == 3  # every device of both users holds seq 5 without seq 4
    first = cases.examples[0]["explain"]
    assert "holds seq 5 of d:alice:bob" in first and "misses 1 seq(s)" in first
    assert "4" in first and "never seen by anyone" in first


def test_useq_holes_after_the_audit() -> None:
    j = three_messages()
    # bob's inbox has 3 entries; his phone never got the second one (useq 2)
    j.events = [e for e in j.events if not (e["ev"] == "deliver" and e["user"] == "bob"
                                            and e["useq"] == 2)]
    j.audit_all()
    cases = gap_cases(build_history(j.events))
    kinds = sorted(c["explain"].split(" ")[1] for c in cases.examples)
    assert cases.count == 2 and kinds == ["holds", "misses"]
    useq = next(c for c in cases.examples if "inbox positions" in c["explain"])
    assert "bob/phone misses 1 of inbox positions 1..3" in useq["explain"]
    assert [e["ev"] for e in useq["events"]] == ["audit", "audit", "deliver", "deliver"]


def test_devices_without_a_finished_audit_are_not_judged() -> None:
    j = three_messages()
    j.events = [e for e in j.events if not (e["ev"] == "deliver" and e["seq"] == 2)]
    assert gap_cases(build_history(j.events)).count == 0  # no audit at all
    j.audit("bob", "phone", "start")  # started, never finished
    assert gap_cases(build_history(j.events)).count == 0


def test_group_members_are_not_owed_seqs_from_before_they_joined() -> None:
    j = team()
    j.audit_all()
    assert gap_cases(build_history(j.events)).count == 0
    j2 = team()
    j2.events = [e for e in j2.events if not (e["ev"] == "deliver" and e["user"] == "carol"
                                              and e["seq"] == 4)]
    j2.audit_all()
    cases = gap_cases(build_history(j2.events))
    seq_cases = [c for c in cases.examples if "holds seq" in c["explain"]]
    assert len(seq_cases) == 1 and "carol/phone holds seq 6 of g:team" in seq_cases[0]["explain"]
    assert "misses 1 seq(s) below it: 4 " in seq_cases[0]["explain"]


def test_devices_without_a_finished_audit_count_as_not_judged() -> None:
    j = three_messages()
    j.audit("alice", "phone")
    cases = gap_cases(build_history(j.events))
    assert (cases.due, cases.unjudged) == (3, 2)
    n, example = cases.reasons["device never audited"]
    assert n == 2 and "alice/laptop" in example


def test_missing_numbers_cost_nothing_per_value() -> None:
    assert missing_numbers([], 1, 4) == (3, [1, 2, 3])
    assert missing_numbers([1, 2, 3], 1, 4) == (0, [])
    assert missing_numbers([2, 5], 1, 7) == (4, [1, 3, 4, 6])
    assert missing_numbers([5], 5, 5) == (0, [])
    big = 1_733_000_000_000
    count, first = missing_numbers([big, big + 7], 1, big + 8)
    assert count == big + 7 - 2 and first == list(range(1, 9))
    count, first = missing_numbers([big, big + 3], big, big + 4)
    assert (count, first) == (2, [big + 1, big + 2])


def test_missing_in_spans_counts_only_what_a_member_was_owed() -> None:
    held = [1, 2, 6, 9]
    assert missing_in_spans(held, [(1, None)], 9) == (5, [3, 4, 5, 7, 8])
    # a member from 1 to 4 (removed at 4), back from 8: owed 1-3 and 8-9
    assert missing_in_spans(held, [(1, 4), (8, None)], 9) == (2, [3, 8])
    assert missing_in_spans(held, [(10, None)], 9) == (0, [])


def test_a_timestamp_numbered_server_declared_contiguous_gets_bounded_gap_cases() -> None:
    j = two_friends()
    t = 1_733_000_000_000
    for i in range(3):
        j.send("alice", "phone", f"c{i}", "bob")
        j.ack("alice", f"c{i}", seq=t + 1000 * i)
        j.deliver_all("alice", f"c{i}")
    j.audit_all()
    cases = gap_cases(build_history(j.events))
    assert cases.count == 3 and cases.unjudged == 0
    explain = cases.examples[0]["explain"]
    assert f"misses {t + 2000 - 1 - 2:,}".replace(",", "") in explain  # every number below
    assert "1, 2, 3, 4, 5, 6, 7, 8 and" in explain


def test_declared_increasing_numbering_makes_gaps_not_applicable() -> None:
    j = two_phones(numbering={"seq": "increasing", "useq": "increasing"})
    j.send("alice", "phone", "c1", "bob")
    j.ack("alice", "c1", seq=1_733_000_000_000)
    j.deliver_all("alice", "c1")
    j.audit_all()
    cases = gap_cases(build_history(j.events))
    assert cases.count == 0 and cases.due == 0 and not cases.applicable
    assert "increasing" in cases.note
