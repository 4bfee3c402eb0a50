"""Read markers judged by queries (imload/checkdb/reads.py): the pairing of answers with
requests, the markers' expansion and the pushes give the reference's verdict."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from differential import judged_alike  # noqa: E402
from journal_builder import JournalBuilder, two_friends  # noqa: E402

CONV = "d:alice:bob"


def chat() -> JournalBuilder:
    j = two_friends()
    for n in range(3):
        j.message("alice", "phone", "bob", f"c{n}")
    return j


def test_an_answer_goes_to_the_oldest_pending_read() -> None:
    """A read that got no answer stays pending: the next answer is its (the reference's
    queue), so the request is judged from the first read's time, before the push."""
    j = chat()
    j.add("read", user="bob", device="phone", session=1, conv=CONV, upto=1)  # no answer
    j.add("read_sync", user="bob", device="phone", session=1, conv=CONV, upto=3,
          from_device="tablet")
    j.add("read", user="bob", device="phone", session=1, conv=CONV, upto=2)
    j.add("read_ok", user="bob", device="phone", session=1, conv=CONV, upto=2)
    j.audit_all()
    assert judged_alike(j.events)["anomalies"]["read_sync"] == 0


def test_a_marker_lower_than_one_received_before_is_found() -> None:
    j = chat()
    j.read("bob", "phone", CONV, 3, stored=3)
    j.read("bob", "phone", CONV, 3, stored=1)  # the server went down
    j.read_sync("alice", "laptop", CONV, 2, "phone")
    j.read_sync("alice", "laptop", CONV, 1, "phone")  # pushed down on one connection
    j.audit_all()
    j.marks_of("bob", "phone", {})  # the audit's markers lack the conversation: 0
    v = judged_alike(j.events)
    assert v["anomalies"]["read_sync"] == 3
    assert v["counts"]["reads"] == v["counts"]["reads_ok"] == 2


def test_a_read_of_a_message_not_held_yet_is_found() -> None:
    j = two_friends()
    j.send("alice", "phone", "c1", "bob")
    j.ack("alice", "c1")
    j.read("bob", "phone", CONV, 1)  # before the copy came
    j.deliver_all("alice", "c1")
    j.read("bob", "phone", CONV, 5)  # a seq no one saw
    j.audit_all()
    assert judged_alike(j.events)["anomalies"]["read_sync"] == 2


def test_markers_of_a_conversation_no_other_event_names_are_judged() -> None:
    """The audit's markers may name a conversation nothing else names (no id of its own in
    the dictionaries): it gets one past them, and a marker going down there is found."""
    j = chat()
    j.marks_of("bob", "phone", {"d:bob:zed": 5})
    j.reconnect("bob", "phone")
    j.marks_of("bob", "phone", {"d:bob:zed": 2})
    j.audit_all()
    v = judged_alike(j.events)
    assert v["anomalies"]["read_sync"] == 1
    assert "d:bob:zed" in str(v["examples"]["read_sync"])
