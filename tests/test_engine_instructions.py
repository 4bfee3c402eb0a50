"""The offline instruction queue (ops and read markers), groups learnt from events,
``reads``/``state`` and the read_sync/receipt pushes, against the in-memory peer."""

from __future__ import annotations

from engine_harness import AB, URLS, World

from imload.client import EngineConfig

G = "g:team"


def test_op_is_sent_with_its_opid_and_acked() -> None:
    w = World()
    a = w.device("alice")
    w.run()
    opid = a.op("contact_add", user="carol")
    w.run()
    (inv,) = a.evs("op", opid=opid)
    assert inv["kind"] == "contact_add" and inv["args"] == {"user": "carol"}
    assert inv["attempt"] == 1 and inv["session"] == 1 and inv["queued"] is False
    (ok,) = a.evs("op_ok", opid=opid)
    assert ok["dup"] is False and a.engine.op_outcomes[opid] == "op_ok"
    assert w.server.sets[("alice", "contacts")] == {"carol"}
    assert [m.name for m in a.metrics if m.error is None].count("op") == 1


def test_ops_made_offline_are_queued_and_sent_in_order_after_the_catch_up() -> None:
    w = World()
    a, b = w.device("alice"), w.device("bob")
    w.run()
    a.network(False)
    assert a.closes == ["network down"] and not a.engine.online
    assert a.evs("disconnected")[-1]["reason"] == "network down"
    b.send(AB, "while you were away")
    w.run(30)
    assert not a.evs("connect", attempt=2)  # no attempt while the network is down
    opids = [a.op("pin", conv=AB, pinned=True), a.op("contact_add", user="bob"),
             a.op("pin", conv=AB, pinned=False)]
    a.read(AB, 1)
    w.run(5)
    assert not a.frames("op")
    a.network(True)
    w.run(2)
    assert a.engine.online and a.engine.session == 2
    assert [e["opid"] for e in a.evs("op")] == opids
    assert all(e["queued"] for e in a.evs("op")) and all(e["session"] == 2 for e in a.evs("op"))
    assert [u for (u, _, o) in w.server.applied] == ["alice"] * 3
    assert [o for (_, _, o) in w.server.applied] == opids
    assert w.server.sets[("alice", "pinned")] == set()
    # the catch-up sync came first, then the ops one at a time, then the read
    kinds = [f["t"] for f in a.sent[a.sent.index(a.frames("login")[-1]):]]
    assert kinds.index("sync") < kinds.index("op")
    assert [k for k in kinds if k in ("op", "read")] == ["op", "op", "op", "read"]
    (r,) = a.evs("read_ok")
    assert r["upto"] == 1 and a.engine.marks[AB] == 1


def test_one_instruction_at_a_time_so_a_retry_never_overtakes() -> None:
    w = World()
    a = w.device("alice")
    w.run()
    w.server.request_errors = [("internal", None)]
    first = a.op("contact_add", user="carol")
    second = a.op("contact_remove", user="carol")
    assert len(a.frames("op")) == 1  # the second waits for the first's answer
    w.run(5)
    assert [(e["opid"], e["attempt"]) for e in a.evs("op")] == [(first, 1), (first, 2),
                                                                 (second, 1)]
    assert [o for (_, _, o) in w.server.applied] == [first, second]
    assert w.server.sets[("alice", "contacts")] == set()


def test_op_retried_after_timeout_is_applied_once() -> None:
    w = World()
    a = w.device("alice")
    w.run()
    w.server.swallow_requests = 1
    opid = a.op("contact_add", user="dave")
    w.run(10.5)
    assert [e["attempt"] for e in a.evs("op", opid=opid)] == [1, 2]
    assert a.evs("op_ok", opid=opid) and len(w.server.applied) == 1


def test_forbidden_op_fails_and_the_queue_moves_on() -> None:
    w = World()
    a = w.device("alice")
    w.run()
    bad = a.op("group_add", conv="g:nobody", user="bob")
    good = a.op("contact_add", user="bob")
    w.run()
    (fail,) = a.evs("op_fail", opid=bad)
    assert fail["reason"].startswith("forbidden")
    assert a.evs("op_ok", opid=good)


def test_op_budget_spent_on_the_wire_is_info_never_sent_is_fail() -> None:
    w = World(config=EngineConfig(give_up_after_s=30))
    a = w.device("alice")
    w.run()
    w.server.swallow_requests = 100
    lost = a.op("contact_add", user="x")
    w.run(60)
    (info,) = a.evs("op_info", opid=lost)
    assert "attempts" in info["reason"]
    w.server.down.update(URLS)
    w.server.kill()
    w.run(1)
    never = a.op("contact_add", user="y")
    w.run(31)
    (fail,) = a.evs("op_fail", opid=never)
    assert fail["reason"] == "never sent: offline for 30 s"


def test_stop_settles_queued_ops() -> None:
    w = World()
    a = w.device("alice")
    w.run()
    w.server.swallow_requests = 1
    flying = a.op("contact_add", user="x")
    waiting = a.op("contact_add", user="y")
    w.run(0.1)
    a.stop()
    assert a.evs("op_info", opid=flying)[0]["reason"] == "stopped in flight"
    assert a.evs("op_fail", opid=waiting)[0]["reason"] == "stopped before it was sent"
    assert a.engine.pending_instructions == 0
    late = a.op("contact_add", user="z")
    assert a.evs("op_fail", opid=late)[0]["reason"] == "device stopped"


def test_reads_of_a_conversation_merge_while_waiting() -> None:
    w = World()
    a, b = w.device("alice"), w.device("bob")
    w.run()
    for i in range(3):
        b.send(AB, f"m{i}")
    w.run()
    a.network(False)
    assert a.read(AB, 1) == 1 and a.read(AB, 3) == 3 and a.read(AB, 2) == 2
    a.network(True)
    w.run(2)
    assert [e["upto"] for e in a.evs("read")] == [3]
    assert a.read(AB) is None  # nothing new to mark


def test_read_sync_and_receipts_reach_the_other_devices_and_members() -> None:
    w = World()
    phone, laptop, b = w.device("alice", "d0"), w.device("alice", "d1"), w.device("bob")
    w.run()
    b.send(AB, "hi")
    w.run()
    phone.read(AB)
    w.run()
    (rs,) = laptop.evs("read_sync")
    assert rs["conv"] == AB and rs["upto"] == 1 and rs["from_device"] == "d0"
    assert laptop.engine.marks[AB] == 1
    (rc,) = b.evs("receipt")
    assert rc["reader"] == "alice" and rc["upto"] == 1
    assert not phone.evs("read_sync")


def test_marks_fetched_after_each_login_and_state_on_request() -> None:
    w = World()
    w.server.marks[("alice", AB)] = 4
    a = w.device("alice")
    w.run()
    (m,) = a.evs("marks")
    assert m["marks"] == {AB: 4} and m["session"] == 1 and m["phase"] == "load"
    assert a.engine.marks[AB] == 4
    a.op("contact_add", user="bob")
    w.run()
    assert a.engine.request_state(w.net.now)
    a.pump()
    w.run()
    (st,) = a.evs("state")
    assert st["contacts"] == ["bob"] and st["pinned"] == [] and st["groups"] == []
    w.server.kill()
    w.run(5)
    assert len(a.evs("marks")) == 2


def test_group_known_from_its_events_and_sends_to_it() -> None:
    w = World()
    a, b, c = w.device("alice"), w.device("bob"), w.device("carol")
    w.run()
    assert b.engine.in_group(G) is None
    a.op("group_create", conv=G, members=["bob"])
    w.run()
    assert a.engine.in_group(G) and b.engine.in_group(G) and c.engine.in_group(G) is None
    (ev,) = b.evs("deliver", conv=G)
    assert ev["kind"] == "event" and ev["event"]["op"] == "group_create"
    a.op("group_add", conv=G, user="carol")
    w.run()
    assert c.engine.in_group(G)
    cmid = c.send(G, "hello team")
    w.run()
    assert a.evs("deliver", cmid=cmid) and b.evs("deliver", cmid=cmid)
    b.op("group_remove", conv=G, user="bob")  # leaving
    w.run()
    assert b.engine.in_group(G) is False
    refused = b.send(G, "after leaving")
    w.run()
    assert c.engine.send_state(cmid).value == "acked"
    assert b.evs("send_fail", cmid=refused)[0]["reason"].startswith("forbidden")


def test_membership_applied_in_seq_order_whatever_the_delivery_order() -> None:
    w = World()
    a = w.device("alice", start=False)
    inbox = a.engine.inbox
    base = {"conv": G, "kind": "event", "from": "bob"}
    inbox.add({**base, "mid": "m2", "seq": 2, "useq": 2,
               "body": {"op": "group_remove", "user": "alice", "by": "bob"}})
    inbox.add({**base, "mid": "m1", "seq": 1, "useq": 1,
               "body": {"op": "group_create", "user": "bob", "members": ["alice", "bob"]}})
    assert inbox.in_group(G) is False
