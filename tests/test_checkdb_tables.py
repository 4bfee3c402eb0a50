"""The reference walk's index as tables (imload/checkdb/tables.py) and the devices kept in
Python (imload/checkdb/index.py), on a hand-made journal."""

from __future__ import annotations

import sys
from pathlib import Path

from imload.checkdb.db import connect
from imload.checkdb.index import build_index
from imload.checkdb.load import load_events
from imload.checkdb.tables import build_tables

sys.path.insert(0, str(Path(__file__).parent))
from journal_builder import two_friends  # noqa: E402


def tables():
    j = two_friends()
    j.message("alice", "phone", "bob", "c1")  # ok
    j.send("bob", "phone", "c2", "alice")
    j.send("bob", "phone", "c2", "alice", attempt=2)
    j.ack("bob", "c2")  # ok after a retry
    j.deliver_all("bob", "c2")
    j.deliver("alice", "phone", "bob", "c2", via="sync")  # a repeat: not held twice
    j.send("alice", "laptop", "c3", "bob")
    j.fail("alice", "c3")  # refused
    j.send("alice", "phone", "c4", "bob")
    j.info("alice", "c4")  # indeterminate
    j.send("bob", "phone", "c5", "alice")  # no outcome at all
    j.deliver("bob", "tablet", "alice", "x9", mid="ph1", seq=77)  # a phantom, a new device
    j.audit("alice", "phone", "start")
    j.audit("alice", "phone", "done")
    con = connect(memory_limit="256MB", threads=1, on_disk=False)
    load_events(con, j.events)
    build_tables(con)
    return con


def test_records_have_the_walks_outcomes_and_order() -> None:
    con = tables()
    rows = con.execute("SELECT un.name, cn.name, attempts, outcome FROM rec "
                       "JOIN dict_user un ON un.id = u JOIN dict_cmid cn ON cn.id = cmid "
                       "ORDER BY u_i, r_i").fetchall()
    assert rows == [("alice", "c1", 1, "ok"), ("alice", "c3", 1, "fail"),
                    ("alice", "c4", 1, "info"), ("alice", "x9", 0, "pending"),
                    ("bob", "c2", 2, "ok"), ("bob", "c5", 1, "pending")]


def test_held_keeps_each_devices_first_copy_once() -> None:
    con = tables()
    assert con.execute("SELECT count(*) FROM deliver").fetchone()[0] == 8
    assert con.execute("SELECT count(*) FROM held").fetchone()[0] == 7
    first = con.execute(  # the name columns hold ids (dict_<family> names them)
        "SELECT h_i FROM held WHERE u = (SELECT id FROM dict_user WHERE name = 'alice') "
        "AND d = (SELECT id FROM dict_device WHERE name = 'phone') AND mid = (SELECT a_mid "
        "FROM acked WHERE cmid = (SELECT id FROM dict_cmid WHERE name = 'c2'))").fetchone()[0]
    later = con.execute("SELECT i FROM deliver WHERE via = "  # (via: coded too)
                        "(SELECT id FROM dict_via WHERE name = 'sync')").fetchone()[0]
    assert first < later


def test_acked_sends_know_their_copies_and_devices() -> None:
    con = tables()
    rows = con.execute("SELECT cn.name, wanted, copies, last_session FROM acked "
                       "JOIN dict_cmid cn ON cn.id = cmid ORDER BY a_i").fetchall()
    # bob's tablet (it only ever got the phantom) is one of his devices: owed both
    assert rows == [("c1", 4, 3, 1), ("c2", 4, 3, 1)]


def test_devices_in_the_walks_order_with_their_audits() -> None:
    ix = build_index(tables())
    assert list(ix.devices) == ["alice", "bob"]
    assert list(ix.devices["bob"]) == ["phone", "tablet"]  # the tablet: filed by a copy
    phone, tablet = ix.devices["alice"]["phone"], ix.devices["bob"]["tablet"]
    assert phone.audit_done and phone.audit is not None and phone.audit_start is not None
    assert not ix.devices["alice"]["laptop"].audit_done
    assert tablet.declared == tablet.l_i  # declared by its copy: nothing else names it
    assert ix.rel(ix.t0 + 1.23456) == 1.235
