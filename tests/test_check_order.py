"""order: a (conv, seq) with two mids, a mid with two seqs; backwards: pushes going down."""

from journal_builder import JournalBuilder, only_case, two_friends

from imload.check.history import build_history
from imload.check.order import backwards_cases, order_cases


def test_a_clean_exchange_is_in_order() -> None:
    j = two_friends()
    for i in range(5):
        j.message("alice", "phone", "bob", f"c{i}")
    assert order_cases(build_history(j.events)).count == 0


def test_one_seq_with_two_mids_counts_once_however_many_devices_saw_it() -> None:
    j = two_friends()
    j.message("alice", "phone", "bob", "c1")  # m1, seq 1
    j.send("bob", "phone", "c2", "alice")
    j.ack("bob", "c2", mid="m2", seq=1)  # the sequencer handed out seq 1 twice
    j.deliver_all("bob", "c2")
    case = only_case(order_cases(build_history(j.events)))
    assert "seq 1 of d:alice:bob" in case["explain"]
    assert [(e["ev"], e["mid"], e["seq"]) for e in case["events"]] == [
        ("send_ok", "m1", 1), ("send_ok", "m2", 1)]


def test_one_mid_under_two_seqs() -> None:
    j = two_friends()
    j.message("alice", "phone", "bob", "c1", skip=(("bob", "phone"),))
    j.deliver("bob", "phone", "alice", "c1", seq=4)  # m1 again, elsewhere
    case = only_case(order_cases(build_history(j.events)))
    assert "mid m1" in case["explain"] and "seq 4" in case["explain"]
    assert [(e["ev"], e["mid"], e["seq"]) for e in case["events"]] == [
        ("send_ok", "m1", 1), ("deliver", "m1", 4)]


def three_acked() -> JournalBuilder:
    """``two_friends``, and alice's phone sends bob c1, c2, c3 (seqs 1, 2, 3), each acked,
    none delivered yet."""
    j = two_friends()
    for cmid in ("c1", "c2", "c3"):
        j.send("alice", "phone", cmid, "bob")
        j.ack("alice", cmid)
    return j


def test_pushes_going_backwards_in_one_session() -> None:
    j = three_acked()
    j.deliver("bob", "phone", "alice", "c1")
    j.deliver("bob", "phone", "alice", "c3")
    j.deliver("bob", "phone", "alice", "c2")  # seq 2 after seq 3 on one connection
    h = build_history(j.events)
    assert order_cases(h).count == 0  # one order still: only the display went back
    case = only_case(backwards_cases(h))
    assert "bob/phone" in case["explain"] and "backwards" in case["explain"]
    assert [(e["mid"], e["seq"]) for e in case["events"]] == [("m3", 3), ("m2", 2)]


def test_sync_and_a_new_session_may_bring_older_seqs() -> None:
    j = three_acked()
    j.deliver("bob", "phone", "alice", "c3")
    j.deliver("bob", "phone", "alice", "c1", via="sync")  # a gap sync
    j.reconnect("bob", "phone")
    j.deliver("bob", "phone", "alice", "c2")  # a push in the next session
    assert backwards_cases(build_history(j.events)).count == 0


def test_one_mid_naming_two_messages() -> None:
    j = two_friends()
    j.message("alice", "phone", "bob", "c1")  # m1, seq 1
    j.send("bob", "phone", "c1", "alice")  # the same cmid string, another sender
    j.ack("bob", "c1", mid="m1", seq=1)  # stored over alice's message
    j.deliver_all("bob", "c1")
    case = only_case(order_cases(build_history(j.events)))
    assert "names two messages" in case["explain"]
    assert "alice's c1" in case["explain"] and "bob's c1" in case["explain"]
    assert [(e["ev"], e["user"]) for e in case["events"]] == [
        ("send_ok", "alice"), ("send_ok", "bob")]
