"""The time rule: group members placed by the load host's clock when seqs are opaque labels.

Most journals here relabel every seq so that the labels run against time
(``labelled``): a checker that still sorted ops and messages by seq would judge
them the other way round, so each test fails if the seq rule is taken."""

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from journal_builder import JournalBuilder

from imload.check import check
from imload.check.delivery import lost_cases, partial_cases
from imload.check.history import build_history
from imload.check.membership_time import UserOps, time_members
from imload.check.oplog import OpRecord
from imload.check.recipients import expected_devices, expected_users

OPAQUE = {"seq": "opaque", "useq": "contiguous"}
DEVICES = (("alice", "phone"), ("alice", "laptop"), ("bob", "phone"), ("carol", "phone"))
CAROL, BOB = (("carol", "phone"),), (("bob", "phone"),)


def room(opaque: bool = True, members: tuple[str, ...] = ("bob",)) -> JournalBuilder:
    """alice (phone, laptop), bob and carol (phone); alice creates g:room with ``members``."""
    j = JournalBuilder()
    if opaque:
        j.add("declare", numbering=OPAQUE)
    j.phase("load", "start")
    for user, device in DEVICES:
        j.device(user, device)
    j.group_op("alice", "phone", "o1", "group_create", "g:room", members=members)
    return j


def labelled(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The journal with every seq a label counting down: later messages get smaller ones."""
    return [{**e, "seq": 1_000_000 - e["seq"]} if "seq" in e else e for e in events]


def lost(events: list[dict[str, Any]]) -> tuple[int, list[str], dict[str, Any]]:
    """(lost count, its explanations, its coverage) from the verdict."""
    v = check(events)
    return (v["anomalies"]["lost"], [c["explain"] for c in v["examples"]["lost"]],
            v["coverage"]["lost"])


def test_a_member_added_before_the_send_who_never_got_it_is_lost() -> None:
    j = room()
    j.group_op("bob", "phone", "o2", "group_add", "g:room", who="carol")  # op_ok, then:
    j.group_message("alice", "phone", "g:room", "c1", skip=CAROL)
    j.audit_all()
    n, explained, cov = lost(labelled(j.events))
    assert n == 1 and "carol/phone" in explained[0] and "1 of 4" in explained[0]
    assert cov["unjudged"] == 0
    j.deliver("carol", "phone", "alice", "c1", via="sync", phase="audit")  # it got there
    assert lost(labelled(j.events))[0] == 0


def test_a_send_during_the_adds_window_is_owed_to_nobody_changing_and_judged() -> None:
    j = overlapping_add(opaque=True)
    n, _, cov = lost(j.events)
    assert n == 0 and (cov["due"], cov["unjudged"], cov["reasons"]) == (1, 0, [])
    h = build_history(j.events)
    assert expected_users("g:room", 3, h, span=(j.t, j.t)) == ("alice", "bob", "carol")
    assert expected_users("g:room", 3, h, span=span_of(j, "c1")) == ("alice", "bob")


def test_with_contiguous_seqs_the_same_journal_is_judged_by_seq() -> None:
    """v1: carol's add event (seq 2) precedes c1 (seq 3), so she is owed it."""
    n, explained, cov = lost(overlapping_add(opaque=False).events)
    assert n == 1 and "carol/phone" in explained[0] and cov["unjudged"] == 0


def test_a_message_sent_before_the_add_is_not_owed_to_the_new_member() -> None:
    j = room()
    j.group_message("alice", "phone", "g:room", "c1")  # alice and bob
    j.group_op("bob", "phone", "o2", "group_add", "g:room", who="carol")
    j.group_message("alice", "phone", "g:room", "c2")  # alice, bob and carol
    j.audit_all()
    n, _, cov = lost(labelled(j.events))
    assert n == 0 and (cov["due"], cov["unjudged"]) == (2, 0)
    v = check(labelled(j.events))
    assert v["coverage"]["gap"]["unjudged"] == 0 and v["anomalies"]["gap"] == 0  # useq only


def test_a_removed_user_is_not_owed_what_followed_the_removal() -> None:
    j = room(members=("bob", "carol"))
    j.group_op("alice", "laptop", "o2", "group_remove", "g:room", who="bob")
    j.group_message("carol", "phone", "g:room", "c1")  # reaches alice and carol only
    j.audit_all()
    n, _, cov = lost(labelled(j.events))
    assert n == 0 and cov["unjudged"] == 0
    assert set(expected_devices("g:room", 0, build_history(labelled(j.events)),
                                span=span_of(j, "c1")) or ()) == {
        ("alice", "phone"), ("alice", "laptop"), ("carol", "phone")}


def test_a_message_acked_before_the_removal_began_is_owed_to_the_removed_user() -> None:
    j = room(members=("bob", "carol"))
    j.group_message("carol", "phone", "g:room", "c1", skip=BOB)
    j.group_op("alice", "laptop", "o2", "group_remove", "g:room", who="bob")
    j.audit_all()
    n, explained, cov = lost(labelled(j.events))
    assert n == 1 and "bob/phone" in explained[0] and cov["unjudged"] == 0


def test_a_group_no_client_created_is_not_judged_with_its_reason() -> None:
    j = room()
    j.groups["g:old"] = {"alice", "bob"}
    j.group_op("bob", "phone", "o9", "group_add", "g:old", who="carol")  # but no create
    j.group_message("alice", "phone", "g:old", "c1")
    j.audit_all()
    v = check(labelled(j.events))
    cov = v["coverage"]["lost"]
    assert (cov["due"], cov["unjudged"]) == (1, 1)
    assert cov["reasons"][0]["reason"] == "members unknown"
    assert "no client's group_create" in cov["reasons"][0]["example"]


def test_a_message_sent_before_the_creation_is_not_judged() -> None:
    j = JournalBuilder()
    j.add("declare", numbering=OPAQUE)
    for user, device in DEVICES:
        j.device(user, device)
    j.send("alice", "phone", "c1", conv="g:room")
    j.ack("alice", "c1")
    j.group_op("alice", "phone", "o1", "group_create", "g:room", members=("bob",))
    cases = lost_cases(build_history(j.events))
    assert cases.count == 0 and cases.unjudged == 1
    assert "before the group's creation" in cases.reasons["members unknown"][1]


def test_an_indeterminate_send_after_the_add_is_partial_without_the_new_member() -> None:
    j = room()
    j.group_op("bob", "phone", "o2", "group_add", "g:room", who="carol")
    j.send("alice", "phone", "c1", conv="g:room")
    j.info("alice", "c1")
    j.deliver_all("alice", "c1", skip=CAROL)  # stored after all: every member was owed it
    j.audit_all()
    cases = partial_cases(build_history(labelled(j.events)))
    assert cases.count == 1 and cases.unjudged == 0
    assert "carol/phone" in cases.examples[0]["explain"]


def test_an_indeterminate_send_whose_first_copy_lands_in_the_adds_window_is_not_partial(
        ) -> None:
    j = room()
    j.op("bob", "phone", "o2", "group_add", {"conv": "g:room", "user": "carol"})
    j.send("alice", "phone", "c1", conv="g:room")
    j.info("alice", "c1")
    j.deliver_all("alice", "c1")  # before the add was answered: carol may or may not
    j.group_op("bob", "phone", "o2", "group_add", "g:room", who="carol", invoke=False)
    j.audit_all()
    cases = partial_cases(build_history(labelled(j.events)))
    assert (cases.count, cases.due, cases.unjudged) == (0, 1, 0)


def test_an_event_message_is_placed_by_its_earliest_copy() -> None:
    j = room()
    j.op("bob", "phone", "o2", "group_add", {"conv": "g:room", "user": "carol"})
    j.group_op("bob", "phone", "o2", "group_add", "g:room", who="carol", invoke=False)
    h = build_history(j.events)
    seq = next(e["seq"] for e in j.events if e.get("cmid") == "op:o2")
    # its copies arrived before the op_ok: carol's membership was changing then
    assert expected_users("g:room", seq, h, is_event=True) == ("alice", "bob")


def test_ops_that_may_have_applied_last_must_all_agree() -> None:
    def ops(*windows: tuple[float, float, bool]) -> UserOps:
        return UserOps.of([(end, start, joins, OpRecord("u", "o")) for start, end, joins in
                           windows])

    assert ops((1, 2, True)).owed(3, 4)
    assert not ops((1, 2, True)).owed(2, 4)  # answered as the send began: overlapping
    assert not ops((1, 2, True), (3, 4, False)).owed(5, 6)
    assert ops((1, 2, False), (3, 4, True)).owed(5, 6)
    assert not ops((1, 10, True), (2, 3, False)).owed(11, 12)  # either order: uncertain
    assert ops((1, 3, True), (5, 6, False)).owed(4, 4.5)
    assert not ops((1, 3, True), (5, 6, False)).owed(4, 7)  # the remove overlaps the send
    assert [j for j, _ in ops((1, 10, True), (2, 3, False)).last()] == [False, True]


def test_the_final_groups_must_hold_the_effect_of_the_last_op_by_time() -> None:
    j = room()
    j.group_op("bob", "phone", "o2", "group_add", "g:room", who="carol")
    j.audit_all()
    for user, device in DEVICES:
        j.state(user, device, groups=() if user == "carol" else ("g:room",))
    v = check(labelled(j.events))
    assert v["anomalies"]["op"] == 1
    assert "carol's groups lack g:room" in v["examples"]["op"][0]["explain"]
    assert "o2" in v["examples"]["op"][0]["explain"]
    fine = room()
    fine.group_op("bob", "phone", "o2", "group_add", "g:room", who="carol")
    fine.audit_all()
    for user, device in DEVICES:
        fine.state(user, device)
    assert check(labelled(fine.events))["anomalies"]["op"] == 0


def test_the_order_of_a_sessions_group_ops_is_counted_not_judged() -> None:
    j = room()
    j.group_op("alice", "phone", "o2", "group_add", "g:room", who="carol")
    j.audit_all()
    for user, device in DEVICES:
        j.state(user, device)
    cov = check(labelled(j.events))["coverage"]["op"]
    assert cov["due"] == 2 and cov["unjudged"] == 2  # o1 and o2: one session of alice/phone
    assert cov["reasons"][0]["reason"] == "seq declared opaque"
    cov = check(j.events[1:])["coverage"]["op"]  # without the declare: seqs compared
    assert cov["unjudged"] == 0


def test_groups_are_placed_once_per_history() -> None:
    h = build_history(overlapping_add(opaque=True).events)
    assert time_members("g:room", h) is time_members("g:room", h)
    assert time_members("g:room", h).unknown is None


def overlapping_add(opaque: bool) -> JournalBuilder:
    """bob adds carol; before the add is answered, c1 is sent and acked (carol misses it)."""
    j = room(opaque=opaque)
    j.op("bob", "phone", "o2", "group_add", {"conv": "g:room", "user": "carol"})
    ok = j.group_op("bob", "phone", "o2", "group_add", "g:room", who="carol", invoke=False)
    j.group_message("alice", "phone", "g:room", "c1", skip=CAROL)
    ok["at"] = j.at()  # answered only after c1 was acked
    j.audit_all()
    return j


def span_of(j: JournalBuilder, cmid: str) -> tuple[float, float]:
    """The first send attempt's and the ack's at of ``cmid``."""
    sent = next(e["at"] for e in j.events if e["ev"] == "send" and e["cmid"] == cmid)
    acked = next(e["at"] for e in j.events if e["ev"] == "send_ok" and e["cmid"] == cmid)
    return sent, acked


@settings(max_examples=300)
@given(st.lists(st.tuples(st.integers(0, 12), st.integers(0, 6), st.booleans(),
                          st.booleans()), max_size=6),
       st.integers(0, 24), st.integers(0, 6))
def test_the_windows_say_what_owed_says(ops: list[tuple[int, int, bool, bool]], s: int,
                                        length: int) -> None:
    """``UserOps.windows`` (the DuckDB checker's form of the rule) owes a send window
    exactly when ``owed`` does: integer times, so ties and unanswered ops (end +inf) come up."""
    rows = [(math.inf if unanswered else start + took, start, joins, OpRecord("u", f"o{n}"))
            for n, (start, took, joins, unanswered) in enumerate(ops)]
    user = UserOps.of(rows)
    a = s + length
    by_windows = any(lo < s <= hi and a < a_max for lo, hi, a_max in user.windows())
    assert by_windows == user.owed(s, a)
