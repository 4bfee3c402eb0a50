"""Each reason the DuckDB checker hands a journal to the reference checker fires
(imload/checkdb/scope.py),
and a journal in the class has none."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from imload.checkdb.db import connect
from imload.checkdb.load import load_events
from imload.checkdb.scope import out_of_scope
from imload.checkdb.tables import build_tables

sys.path.insert(0, str(Path(__file__).parent))
from journal_builder import JournalBuilder, two_friends  # noqa: E402


def reason(events: list[dict[str, Any]]) -> str | None:
    con = connect(memory_limit="256MB", threads=1)
    try:
        load_events(con, events)
        found = out_of_scope(con, tables=False)
        if found is None:
            build_tables(con)
            found = out_of_scope(con, tables=True)
        return found
    finally:
        con.close()


def chat() -> JournalBuilder:
    j = two_friends()
    j.message("alice", "phone", "bob", "c1")
    j.message("bob", "phone", "alice", "c2")
    return j


def test_a_clean_chat_is_in_scope() -> None:
    j = chat()
    j.audit_all()
    assert reason(j.events) is None


def test_opaque_seqs_are_in_scope_groups_too() -> None:
    """As XMPP and MQTT targets declare them (the time rule places the group's members)."""
    j = chat()
    j.add("declare", numbering={"seq": "opaque", "useq": "contiguous"})
    j.group_op("alice", "phone", "o1", "group_create", "g:team", members=("bob",))
    j.group_message("bob", "phone", "g:team", "c3")
    j.audit_all()
    assert reason(j.events) is None


def test_groups_as_subscriptions_are_in_scope() -> None:
    """As MQTT targets declare them, with their devices' ``joined`` events."""
    j = chat()
    j.add("declare", numbering={"seq": "opaque", "useq": "contiguous"},
          group_membership="subscription")
    j.group_op("alice", "phone", "o1", "group_create", "g:team", members=("bob",))
    j.add("joined", user="bob", device="phone", session=1, conv="g:team")
    j.group_message("bob", "phone", "g:team", "c3")
    j.audit_all()
    assert reason(j.events) is None


def test_reads_ops_and_groups_are_in_scope() -> None:
    """What the chat mix does besides direct messages: a group created, joined and written
    to, reads with their pushes and markers, a contact op and the audit's state."""
    j = chat()
    j.group_op("alice", "phone", "o1", "group_create", "g:team", members=("bob",))
    j.group_message("bob", "phone", "g:team", "c3")
    j.device("carl", "phone")
    j.group_op("alice", "phone", "o2", "group_add", "g:team", who="carl")
    j.group_message("carl", "phone", "g:team", "c4")
    j.read("bob", "phone", "d:alice:bob", 1)
    j.read_sync("alice", "laptop", "d:alice:bob", 2, "phone")
    j.op("bob", "phone", "o3", "contact_add", {"user": "alice"})
    j.op_ok("bob", "phone", "o3")
    j.audit_all()
    for user, devices in j.devices.items():
        for device in devices:
            j.marks_of(user, device)
            j.state(user, device, contacts=("alice",) if user == "bob" else ())
    assert reason(j.events) is None


def _stray_conv(j: JournalBuilder) -> None:
    j.send("alice", "phone", "c9", conv="x:team")


def _read_ok_first(j: JournalBuilder) -> None:
    j.add("read_ok", user="bob", device="phone", session=1, conv="d:alice:bob", upto=1)
    j.add("read", user="bob", device="phone", session=1, conv="d:alice:bob", upto=1)


def _raw(j: JournalBuilder) -> None:
    j.events.append({"ev": "send", "at": 200.0, "user": "alice", "seq": "seven"})  # kept whole


def _null(j: JournalBuilder) -> None:
    j.events.append({"ev": "device", "at": 200.0, "user": "carl", "device": None})


def _missing(j: JournalBuilder) -> None:
    j.events.append({"ev": "connected", "at": 200.0, "user": "carl", "device": "phone"})


def _ts(j: JournalBuilder) -> None:
    j.send("alice", "phone", "c9", "bob")
    j.ack("alice", "c9")
    j.deliver_all("alice", "c9", ts=5)


def _undecryptable(j: JournalBuilder) -> None:
    j.send("alice", "phone", "c9", "bob")
    j.ack("alice", "c9")
    j.deliver("bob", "phone", "alice", "c9", undecryptable=True)["digest"] = None


def _opaque_useqs(j: JournalBuilder) -> None:
    j.add("declare", numbering={"seq": "contiguous", "useq": "opaque"})


def _clash_seq(j: JournalBuilder) -> None:
    j.send("alice", "phone", "c9", "bob")
    j.ack("alice", "c9", seq=1)  # seq 1 of d:alice:bob named again


def _clash_cmid(j: JournalBuilder) -> None:
    j.send("alice", "phone", "c9", "bob")
    j.ack("alice", "c9")
    j.ack("alice", "c9", mid="m99", seq=99)


def _early(j: JournalBuilder) -> None:
    j.send("alice", "phone", "c9", "bob")
    j.ack("alice", "c9")
    copy = j.deliver("bob", "phone", "alice", "c9")
    copy["at"] = j.events[0]["at"] - 1  # another host's clock: before its send


def _late_ack(j: JournalBuilder) -> None:
    j.msgs.pop(("alice", "c1"))
    j.events.append({"ev": "send_ok", "at": 99.0, "user": "carl", "device": "phone",
                     "session": 1, "cmid": "c77", "conv": "d:bob:carl", "mid": "m77",
                     "seq": 1, "dup": False})


CASES: list[tuple[Callable[[JournalBuilder], None], str]] = [
    (_stray_conv, "groups (e.g."),
    (_read_ok_first, "no read pending"), (_raw, "schema"), (_null, "null"),
    (_missing, "without"),
    (_ts, "copies with ts"), (_opaque_useqs, "useqs declared opaque"),
    (_clash_seq, "seq naming two mids"),
    (_clash_cmid, "two mids"), (_early, "before its send"), (_late_ack, "before its send"),
    (_undecryptable, "failed authentication"),
]


@pytest.mark.parametrize(("spoil", "said"), CASES, ids=[f.__name__ for f, _ in CASES])
def test_each_reason_fires(spoil: Callable[[JournalBuilder], None], said: str) -> None:
    j = chat()
    spoil(j)
    j.audit_all()
    found = reason(j.events)
    assert found is not None and said in found, found
