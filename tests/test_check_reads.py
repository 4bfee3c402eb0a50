"""read_sync: markers going down, diverging after the audit, reads of messages never held."""

from journal_builder import JournalBuilder, only_case, two_friends

from imload.check.history import build_history
from imload.check.reads import read_sync_cases

CONV = "d:alice:bob"


def chat() -> JournalBuilder:
    j = two_friends()
    for i in range(1, 6):
        j.message("bob", "phone", "alice", f"c{i}")  # seqs 1..5 on every device
    return j


def test_reads_that_only_grow_and_agree_after_the_audit_are_fine() -> None:
    j = chat()
    j.read("alice", "phone", CONV, 3)
    j.read_sync("alice", "laptop", CONV, 3, "phone")
    j.read("alice", "laptop", CONV, 2)  # lower read: the server keeps 3
    j.read("alice", "laptop", CONV, 5)
    j.read_sync("alice", "phone", CONV, 5, "laptop")
    j.phase("audit", "start")
    for device in ("phone", "laptop"):
        j.audit("alice", device, "start")
        j.marks_of("alice", device)
        j.audit("alice", device, "done")
    assert read_sync_cases(build_history(j.events)).count == 0


def test_a_push_still_in_flight_is_not_a_marker_going_down() -> None:
    j = chat()
    j.read("alice", "phone", CONV, 3)
    j.add("read", user="alice", device="laptop", session=1, conv=CONV, upto=5)
    j.add("read_ok", user="alice", device="laptop", session=1, conv=CONV, upto=5)
    # the phone asked before the laptop's 5 arrived anywhere: 3 then a late push of 3
    j.read_sync("alice", "laptop", CONV, 3, "phone")
    assert read_sync_cases(build_history(j.events)).count == 0


def test_a_read_ok_below_a_value_received_before_the_read_went_down() -> None:
    j = chat()
    top = j.read("alice", "phone", CONV, 4)
    j.read("alice", "laptop", CONV, 2, stored=2)  # last write wins: the marker went down
    case = only_case(read_sync_cases(build_history(j.events)))
    assert "went down for alice" in case["explain"]
    assert "alice/phone had received 4" in case["explain"] and "got read_ok 2" in case["explain"]
    assert case["events"][0]["at"] == top["at"]
    assert [e["ev"] for e in case["events"]] == ["read_ok", "read", "read_ok"]


def test_audit_marks_below_an_acked_read_went_down() -> None:
    j = chat()
    j.read("alice", "phone", CONV, 4)
    j.phase("audit", "start")
    j.audit("alice", "phone", "start")
    j.marks_of("alice", "phone", {CONV: 1})
    j.audit("alice", "phone", "done")
    cases = read_sync_cases(build_history(j.events))
    assert cases.count == 1 and "got marks (reads_ok) 1" in cases.examples[0]["explain"]


def test_read_sync_pushes_going_down_on_one_connection() -> None:
    j = chat()
    j.read_sync("alice", "laptop", CONV, 4, "phone")
    j.read_sync("alice", "laptop", CONV, 2, "phone")
    case = only_case(read_sync_cases(build_history(j.events)))
    assert "alice/laptop's read_sync pushes of d:alice:bob went down" in case["explain"]
    j2 = chat()
    j2.read_sync("alice", "laptop", CONV, 4, "phone")
    j2.reconnect("alice", "laptop")
    j2.read_sync("alice", "laptop", CONV, 2, "phone")  # another connection: not compared
    assert read_sync_cases(build_history(j2.events)).count == 0


def test_devices_disagreeing_after_the_audit() -> None:
    j = chat()
    j.phase("audit", "start")
    j.marks_of("alice", "phone", {CONV: 3})
    j.marks_of("alice", "laptop", {CONV: 5})
    j.marks_of("bob", "phone", {})
    case = only_case(read_sync_cases(build_history(j.events)))
    assert "devices of alice disagree on the read marker of d:alice:bob: alice/laptop 5, " \
           "alice/phone 3" in case["explain"]


def test_a_read_of_a_message_the_device_never_had() -> None:
    j = two_friends()
    j.message("bob", "phone", "alice", "c1")
    j.message("bob", "phone", "alice", "c2", skip=(("alice", "laptop"),))
    j.read("alice", "laptop", CONV, 2)
    j.read("alice", "phone", CONV, 2)  # the phone has it: fine
    j.read("alice", "phone", CONV, 9)  # nobody ever saw seq 9
    cases = read_sync_cases(build_history(j.events))
    assert cases.count == 2
    explains = [c["explain"] for c in cases.examples]
    assert "alice/laptop marked d:alice:bob read up to seq 2" in explains[0]
    assert "without holding that message (mid m2)" in explains[0]
    assert "no one ever saw that seq" in explains[1]


def test_with_opaque_seqs_going_down_is_not_judged_but_divergence_still_is() -> None:
    j = chat()
    j.add("declare", numbering={"seq": "opaque", "useq": "contiguous"})
    j.read("alice", "phone", CONV, 4)
    j.read("alice", "laptop", CONV, 2, stored=2)  # "down" by number: labels have no order
    j.phase("audit", "start")
    j.marks_of("alice", "phone", {CONV: 3})
    j.marks_of("alice", "laptop", {CONV: 5})
    cases = read_sync_cases(build_history(j.events))
    assert cases.count == 1 and "disagree" in cases.examples[0]["explain"]
    assert cases.reasons["seq declared opaque"][0] == 1  # alice: read, but not all judged
    j.events[:] = [e for e in j.events if e["ev"] != "declare"]
    assert read_sync_cases(build_history(j.events)).count == 2  # by number: went down too
