"""lost and partial: every expected device must end up with every acked message."""

from journal_builder import only_case, two_friends
from test_check_recipients import team

from imload.check.delivery import lost_cases, partial_cases
from imload.check.history import build_history


def test_a_clean_exchange_loses_nothing() -> None:
    j = two_friends()
    j.message("alice", "phone", "bob", "c1")
    j.message("bob", "phone", "alice", "c2")
    assert lost_cases(build_history(j.events)).count == 0


def test_lost_names_the_message_and_the_missing_device() -> None:
    j = two_friends()
    j.message("alice", "phone", "bob", "c1")
    j.message("alice", "phone", "bob", "c2", skip=(("bob", "phone"),))
    j.audit("bob", "phone")
    case = only_case(lost_cases(build_history(j.events)))
    assert "c2" in case["explain"] and "bob/phone" in case["explain"]
    assert "1 of 3" in case["explain"]
    evs = case["events"]
    assert [e["ev"] for e in evs] == ["send", "send_ok", "audit"]
    assert evs[0]["cmid"] == evs[1]["cmid"] == "c2" and evs[1]["mid"] == "m2"
    assert (evs[2]["user"], evs[2]["device"]) == ("bob", "phone")


def test_the_senders_other_device_counts_too() -> None:
    j = two_friends()
    j.message("alice", "phone", "bob", "c1", skip=(("alice", "laptop"),))
    j.audit_all()
    cases = lost_cases(build_history(j.events))
    assert cases.count == 1 and "alice/laptop" in cases.examples[0]["explain"]


def test_a_copy_missing_only_on_a_device_never_audited_is_not_judged() -> None:
    j = two_friends()
    j.message("alice", "phone", "bob", "c1", skip=(("alice", "laptop"),))
    j.audit("alice", "phone")
    j.audit("bob", "phone")
    cases = lost_cases(build_history(j.events))
    assert cases.count == 0 and (cases.due, cases.unjudged) == (1, 1)
    n, example = cases.reasons["device never audited"]
    assert n == 1 and "alice/laptop" in example
    j.audit("alice", "laptop")  # now it is: the same hole is a loss
    cases = lost_cases(build_history(j.events))
    assert cases.count == 1 and cases.unjudged == 0


def test_a_late_audit_delivery_is_not_lost() -> None:
    j = two_friends()
    j.message("alice", "phone", "bob", "c1", skip=(("bob", "phone"),))
    j.phase("audit", "start")
    j.deliver("bob", "phone", "alice", "c1", via="sync", phase="audit")
    assert lost_cases(build_history(j.events)).count == 0


def test_unacked_messages_are_not_lost() -> None:
    j = two_friends()
    j.send("alice", "phone", "c1", "bob")
    j.info("alice", "c1")
    j.send("alice", "phone", "c2", "bob")
    j.fail("alice", "c2")
    assert lost_cases(build_history(j.events)).count == 0


def test_group_messages_are_skipped_for_now() -> None:
    j = two_friends()
    j.send("alice", "phone", "c1", conv="g:team")
    j.ack("alice", "c1")
    assert lost_cases(build_history(j.events)).count == 0


def test_partial_is_an_indeterminate_send_that_reached_some_but_not_all() -> None:
    j = two_friends()
    j.send("alice", "phone", "c1", "bob")
    j.info("alice", "c1", reason="timeout")
    j.deliver("bob", "phone", "alice", "c1")  # stored after all, but only bob got it
    j.send("alice", "phone", "c2", "bob")
    j.info("alice", "c2")
    j.deliver_all("alice", "c2")  # recovered: everyone got it
    j.send("alice", "phone", "c3", "bob")
    j.info("alice", "c3")  # never stored: fine
    case = only_case(partial_cases(build_history(j.events)))
    assert "c1" in case["explain"] and "timeout" in case["explain"]
    assert "alice/phone" in case["explain"] and "alice/laptop" in case["explain"]
    assert [e["ev"] for e in case["events"]][:3] == ["send", "send_info", "deliver"]


def test_groups_expect_the_members_as_of_each_seq() -> None:
    j = team()
    assert lost_cases(build_history(j.events)).count == 0
    # carol joined at seq 3: c1 (seq 2) was never owed to her, c2 (seq 4) is
    j.send("alice", "phone", "c4", conv="g:team")
    j.ack("alice", "c4")
    j.deliver_all("alice", "c4", skip=(("carol", "phone"),))
    j.audit_all()
    case = only_case(lost_cases(build_history(j.events)))
    assert "c4" in case["explain"] and "carol/phone" in case["explain"]
    assert "1 of 3" in case["explain"]  # bob was removed at seq 5: not expected
