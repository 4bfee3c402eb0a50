"""fifo (one session's sends sequenced in send order) and causality (after what was seen)."""

from journal_builder import only_case, two_friends

from imload.check.history import build_history
from imload.check.session_order import causality_cases, fifo_cases


def test_sends_of_one_session_in_order_are_fine() -> None:
    j = two_friends()
    for cmid in ("c1", "c2", "c3"):
        j.send("alice", "phone", cmid, "bob")
    for cmid in ("c1", "c2", "c3"):  # acks come back later, in order
        j.ack("alice", cmid)
    h = build_history(j.events)
    assert fifo_cases(h).count == 0 and causality_cases(h).count == 0


def test_a_later_send_sequenced_first_is_fifo() -> None:
    j = two_friends()
    j.send("alice", "phone", "c1", "bob")
    j.send("alice", "phone", "c2", "bob")
    j.ack("alice", "c2")  # seq 1: the server took c2 first
    j.ack("alice", "c1")  # seq 2
    case = only_case(fifo_cases(build_history(j.events)))
    assert "alice/phone sent c1 before c2 on session 1" in case["explain"]
    assert "c1 got seq 2" in case["explain"] and "c2 seq 1" in case["explain"]
    assert [(e["ev"], e["cmid"]) for e in case["events"]] == [
        ("send", "c1"), ("send", "c2"), ("send_ok", "c1"), ("send_ok", "c2")]


def test_retries_and_other_sessions_are_left_out() -> None:
    j = two_friends()
    j.send("alice", "phone", "c1", "bob")
    j.send("alice", "phone", "c2", "bob")
    j.send("alice", "phone", "c1", "bob", attempt=2)  # c1 retried after c2 was sent
    j.ack("alice", "c2")
    j.ack("alice", "c1")
    j.send("alice", "laptop", "c3", "bob")  # another device: no order between them
    j.send("alice", "phone", "c4", "bob")
    j.ack("alice", "c4")
    j.ack("alice", "c3")
    j.send("bob", "phone", "c5", "alice")
    j.reconnect("bob", "phone")
    j.send("bob", "phone", "c5", "alice", attempt=2)  # retried on a new session
    j.send("bob", "phone", "c6", "alice")
    j.ack("bob", "c6")
    j.ack("bob", "c5")
    assert fifo_cases(build_history(j.events)).count == 0


def test_a_message_sequenced_before_one_its_sender_had_seen_is_causality() -> None:
    j = two_friends()
    j.message("alice", "phone", "bob", "c1")  # seq 1
    j.message("alice", "phone", "bob", "c2")  # seq 2
    j.send("bob", "phone", "c3", "alice", seen_seq=2)
    j.ack("bob", "c3", seq=2)  # sequenced at 2 although bob had seen seq 2
    j.send("bob", "phone", "c4", "alice", seen_seq=2)
    j.ack("bob", "c4", seq=3)  # fine
    case = only_case(causality_cases(build_history(j.events)))
    assert "bob/phone had displayed seq 2 of d:alice:bob when it sent c3" in case["explain"]
    assert [(e["ev"], e.get("cmid")) for e in case["events"]] == [
        ("deliver", "c2"), ("send", "c3"), ("send_ok", "c3")]
    assert case["events"][0]["user"] == "bob"  # the copy bob had displayed


def test_sends_without_seen_seq_are_not_judged_for_causality() -> None:
    j = two_friends()
    j.message("alice", "phone", "bob", "c1")
    j.send("bob", "phone", "c2", "alice")
    j.ack("bob", "c2", seq=1)
    assert causality_cases(build_history(j.events)).count == 0
