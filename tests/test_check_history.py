"""The index the checks read: one pass, sends folded by cmid, deliveries per device, faults."""

import pytest
from journal_builder import JournalBuilder, two_friends

from imload.check import check
from imload.check.history import build_history
from imload.check.index import FAIL, INFO, OK, PENDING, History, SendRecord


def record(h: History, user: str, cmid: str) -> SendRecord:
    rec = h.record(user, cmid)
    assert rec is not None, f"no record of {user}'s {cmid}"
    return rec


def test_devices_come_from_device_connected_and_deliver_events() -> None:
    j = two_friends()
    j.send("alice", "phone", "c1", "bob")
    j.ack("alice", "c1")
    j.deliver("carol", "tab", "alice", "c1")  # never declared, yet it received something
    h = build_history(j.events)
    assert {u: sorted(d) for u, d in h.devices.items()} == {
        "alice": ["laptop", "phone"], "bob": ["phone"], "carol": ["tab"]}
    declared = h.devices["alice"]["phone"].declared
    assert declared is not None and declared["ev"] == "device"


def test_retries_fold_into_one_logical_send() -> None:
    j = two_friends()
    first = j.send("alice", "phone", "c1", "bob")
    j.send("alice", "phone", "c1", "bob", attempt=2)
    ok = j.ack("alice", "c1")
    h = build_history(j.events)
    rec = record(h, "alice", "c1")
    assert rec.attempts == 2 and rec.outcome == OK
    assert rec.send_ev is first and rec.ok_ev is ok


def test_outcomes_ok_beats_fail_beats_info() -> None:
    j = two_friends()
    for cmid in ("a", "b", "c", "d"):
        j.send("alice", "phone", cmid, "bob")
    j.info("alice", "a")
    j.fail("alice", "a")
    j.info("alice", "b")
    j.fail("alice", "c")
    j.ack("alice", "c")
    h = build_history(j.events)
    assert [record(h, "alice", c).outcome for c in "abcd"] == [FAIL, INFO, OK, PENDING]


def test_deliveries_per_device_keep_the_first_and_count_repeats() -> None:
    j = two_friends()
    j.message("alice", "phone", "bob", "c1")
    first = j.events[-1]
    again = j.deliver("bob", "phone", "alice", "c1", via="sync")
    h = build_history(j.events)
    log = h.devices["bob"]["phone"]
    assert log.held["m1"] is first and again is not first
    assert h.wire_duplicates == 1


def test_an_unacked_sends_first_copy_is_kept() -> None:
    j = two_friends()
    j.send("alice", "phone", "c1", "bob")
    j.info("alice", "c1")
    j.deliver_all("alice", "c1")
    h = build_history(j.events)
    assert record(h, "alice", "c1").deliv_ev["user"] == "alice"  # the first copy, any device


def test_fault_windows_pair_start_and_stop_relative_to_load_start() -> None:
    j = JournalBuilder(start=50.0)
    j.fault("start", "early", kind="latency", at=55.0, latency_ms=300)
    j.phase("load", "start", at=60.0)
    j.fault("start", "f1", kind="kill", target="n2", at=62.5)
    j.fault("start", "f2", kind="down", target="n1", at=63.0)
    j.fault("stop", "f1", kind="kill", target="n2", at=70.0)
    j.fault("stop", "early", kind="latency", at=71.0)
    j.fault("stop", "orphan", kind="reset_peer", at=72.0)
    j.phase("load", "end", at=80.0)
    h = build_history(j.events)
    assert h.t0 == 60.0
    assert [(w["fault"], w["kind"], w["target"], w["at_s"], w["until_s"]) for w in h.faults] == [
        ("early", "latency", "n1", -5.0, 11.0),
        ("f1", "kill", "n2", 2.5, 10.0),
        ("f2", "down", "n1", 3.0, None),  # never stopped
        ("orphan", "reset_peer", "n1", None, 12.0),  # a stop without its start
    ]
    assert h.faults[0]["detail"] == {"latency_ms": 300}
    assert h.phases == {"load": {"start_s": 0.0, "end_s": 20.0}}


def test_without_a_load_phase_times_count_from_the_first_event() -> None:
    j = JournalBuilder(start=10.0)
    j.device("alice", "phone")
    j.fault("start", "f", at=12.0)
    assert build_history(j.events).faults[0]["at_s"] == 1.99  # the first event was at 10.01


def test_unsorted_events_are_sorted_first() -> None:
    j = two_friends()
    j.message("alice", "phone", "bob", "c1")
    shuffled = list(reversed(j.events))
    h = build_history(shuffled)
    assert record(h, "alice", "c1").outcome == OK
    assert h.wire_duplicates == 0 and not h.seq_clashes and h.events == len(j.events)


def test_a_malformed_event_stops_the_walk_and_check_names_it() -> None:
    j = two_friends()
    j.message("alice", "phone", "bob", "c1")
    j.events.append({"ev": "deliver", "at": 1e9, "user": "bob"})  # no device, no mid
    with pytest.raises(KeyError):  # the walk trusts fields; check() screens (screen.py)
        build_history(j.events)
    bad = check(j.events)["journal"]["bad_events"]
    assert len(bad) == 1 and "'deliver'" in bad[0] and "device" in bad[0]


def test_membership_events_are_filed_apart_from_sends() -> None:
    j = two_friends()
    j.group_op("alice", "phone", "g1", "group_create", "g:team", members=("bob",))
    h = build_history(j.events)
    assert h.record("alice", "op:g1") is None  # not a send
    assert set(h.group_events) == {"g:team"} and list(h.group_events["g:team"]) == [1]
    assert list(h.event_mids[("alice", "op:g1")]) == ["m1"]
    assert len(h.devices["bob"]["phone"].held) == 1  # held like any message


def test_other_kinds_are_kept_in_time_order_and_the_last_attempt_is_known() -> None:
    j = two_friends()
    j.send("alice", "phone", "c1", "bob")
    last = j.send("alice", "phone", "c1", "bob", attempt=2)
    j.read("alice", "phone", "d:alice:bob", 1)
    j.op("alice", "phone", "o1", "contact_add", {"user": "bob"})
    j.reconnect("bob", "phone")
    h = build_history(j.events)
    assert record(h, "alice", "c1").last_ev is last
    assert [e["ev"] for e in h.kind("read")] == ["read"] and len(h.kind("read_ok")) == 1
    assert len(h.kind("op")) == 1 and len(h.kind("disconnected")) == 1
    assert [e["session"] for e in h.kind("connected") if e["user"] == "bob"] == [1, 2]
    assert h.kind("nothing") == []
