"""duplicated, phantom, corrupted, undecryptable and aborted: each made to fire on purpose."""

from journal_builder import JournalBuilder, only_case, two_friends

from imload.check.history import build_history
from imload.check.integrity import (
    aborted_cases,
    corrupted_cases,
    duplicated_cases,
    phantom_cases,
    undecryptable_cases,
)


def test_a_clean_exchange_has_none() -> None:
    j = two_friends()
    j.message("alice", "phone", "bob", "c1")
    j.deliver("bob", "phone", "alice", "c1", via="sync")  # a wire duplicate, not an anomaly
    h = build_history(j.events)
    for check in (duplicated_cases, phantom_cases, corrupted_cases, aborted_cases):
        assert check(h).count == 0, check.__name__


def test_duplicated_when_a_retry_is_acked_under_a_new_mid() -> None:
    j = two_friends()
    j.send("alice", "phone", "c1", "bob")
    j.ack("alice", "c1")  # m1
    j.send("alice", "phone", "c1", "bob", attempt=2)
    j.ack("alice", "c1", mid="m9", seq=2)  # server dedup failed
    case = only_case(duplicated_cases(build_history(j.events)))
    assert "c1" in case["explain"] and "m1" in case["explain"] and "m9" in case["explain"]
    assert "after 2 attempts" in case["explain"]
    assert [(e["ev"], e.get("mid"), e.get("attempt")) for e in case["events"]] == [
        ("send", None, 1), ("send", None, 2), ("send_ok", "m1", None), ("send_ok", "m9", None)]


def test_duplicated_seen_only_in_deliveries_counts_once_per_message() -> None:
    j = two_friends()
    j.message("alice", "phone", "bob", "c1")
    for device in ("phone", "laptop"):
        j.deliver("alice", device, "alice", "c1", mid="m7", seq=5)
    j.deliver("bob", "phone", "alice", "c1", mid="m7", seq=5)
    case = only_case(duplicated_cases(build_history(j.events)))
    assert {e.get("mid") for e in case["events"]} == {None, "m1", "m7"}


def test_phantom_names_the_delivery_no_client_sent() -> None:
    j = two_friends()
    j.message("alice", "phone", "bob", "c1")
    for user, device in (("bob", "phone"), ("alice", "laptop")):
        j.deliver(user, device, "alice", "ghost", mid="m66", seq=2, from_device="phone",
                  conv="d:alice:bob")
    case = only_case(phantom_cases(build_history(j.events)))
    assert "ghost" in case["explain"] and "m66" in case["explain"]
    assert [(e["user"], e["device"], e["cmid"]) for e in case["events"]] == [
        ("bob", "phone", "ghost"), ("alice", "laptop", "ghost")]


def test_corrupted_names_the_device_and_both_digests() -> None:
    j = two_friends()
    j.message("alice", "phone", "bob", "c1")
    j.send("alice", "phone", "c2", "bob", body="hello")
    j.ack("alice", "c2")
    j.deliver("alice", "phone", "alice", "c2")
    j.deliver("alice", "laptop", "alice", "c2")
    bad = j.deliver("bob", "phone", "alice", "c2", digest="0000000000000000")
    case = only_case(corrupted_cases(build_history(j.events)))
    assert "bob/phone" in case["explain"] and "0000000000000000" in case["explain"]
    assert [e["ev"] for e in case["events"]] == ["send", "deliver"]
    assert case["events"][1]["at"] == bad["at"] and case["events"][0]["cmid"] == "c2"


def test_corruption_is_caught_when_the_copy_is_journaled_before_the_send() -> None:
    j = two_friends()
    j.deliver("bob", "phone", "alice", "c1", mid="m1", seq=1, digest="ffff", at=200.0,
              from_device="phone")
    j.send("alice", "phone", "c1", "bob", at=200.5)  # another host's clock ran behind
    j.ack("alice", "c1", mid="m1", seq=1)
    h = build_history(j.events)
    assert corrupted_cases(h).count == 1
    assert phantom_cases(h).count == 0


def test_aborted_when_a_refused_send_is_delivered() -> None:
    j = two_friends()
    j.send("alice", "phone", "c1", "bob")
    j.fail("alice", "c1", reason="forbidden")
    j.deliver("bob", "phone", "alice", "c1")
    j.send("alice", "phone", "c2", "bob")
    j.fail("alice", "c2")  # refused and never delivered: fine
    case = only_case(aborted_cases(build_history(j.events)))
    assert "c1" in case["explain"] and "forbidden" in case["explain"]
    assert [e["ev"] for e in case["events"]] == ["send", "send_fail", "deliver"]
    assert case["events"][2]["mid"] == "m1"


def test_a_membership_event_of_an_op_nobody_invoked_is_a_phantom() -> None:
    j = two_friends()
    j.group_op("alice", "phone", "g1", "group_create", "g:team", members=("bob",))
    h = build_history(j.events)
    assert phantom_cases(h).count == 0 and duplicated_cases(h).count == 0
    j.deliver("bob", "phone", "mallory", "op:x9", mid="m40", seq=2, conv="g:team",
              kind="event", event={"op": "group_add", "user": "mallory", "by": "mallory"})
    case = only_case(phantom_cases(build_history(j.events)))
    assert "as mallory's op:x9, an op no simulated client ever invoked" in case["explain"]


def sealed_friends() -> JournalBuilder:
    """``two_friends`` whose devices say they encrypt end to end (``device.e2e``)."""
    j = two_friends()
    for e in j.events:
        if e["ev"] == "device":
            e["e2e"] = True
    return j


def test_undecryptable_applies_only_when_a_device_encrypts() -> None:
    j = two_friends()
    j.message("alice", "phone", "bob", "c1")
    cases = undecryptable_cases(build_history(j.events))
    assert cases.count == 0 and not cases.applicable and "e2e off" in cases.note
    j = sealed_friends()
    j.message("alice", "phone", "bob", "c1")
    cases = undecryptable_cases(build_history(j.events))
    assert cases.count == 0 and cases.applicable and cases.due == 3


def test_undecryptable_is_its_own_kind_not_corrupted() -> None:
    j = sealed_friends()
    j.message("alice", "phone", "bob", "c1", skip=(("bob", "phone"),))
    bad = j.deliver("bob", "phone", "alice", "c1", undecryptable=True)
    bad["digest"] = None
    h = build_history(j.events)
    assert corrupted_cases(h).count == 0
    cases = undecryptable_cases(h)
    assert cases.count == 1
    case = cases.examples[0]
    assert "bob/phone could not authenticate alice's message c1" in case["explain"]
    assert "as alice/phone sealed it" in case["explain"]
    assert [e["ev"] for e in case["events"]] == ["send", "deliver"]
    assert case["events"][1]["undecryptable"] is True


def test_an_undecryptable_copy_before_its_send_is_not_corrupted_either() -> None:
    j = sealed_friends()
    j.deliver("bob", "phone", "alice", "c1", mid="m1", seq=1, at=200.0, from_device="phone",
              undecryptable=True)["digest"] = None
    j.send("alice", "phone", "c1", "bob", at=200.5)  # another host's clock ran behind
    j.ack("alice", "c1", mid="m1", seq=1)
    h = build_history(j.events)
    assert corrupted_cases(h).count == 0
    cases = undecryptable_cases(h)
    assert cases.count == 1 and "no send of it journaled before" in cases.examples[0]["explain"]
