"""The offline instruction queue (ops and read markers), groups learnt from events,
``reads``/``state`` and the read_sync/receipt pushes, against the in-memory peer."""

from __future__ import annotations

from typing import Any

from engine_harness import AB, URLS, FakeDriver, World, alice_and_bob, alice_online
from hypothesis import given, settings
from hypothesis import strategies as st

from imload.client import EngineConfig

G = "g:team"


def test_op_is_sent_with_its_opid_and_acked() -> None:
    w, a = alice_online()
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
    w, a, b = alice_and_bob()
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
    w, a = alice_online()
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
    w, a = alice_online()
    w.server.swallow_requests = 1
    opid = a.op("contact_add", user="dave")
    w.run(10.5)
    assert [e["attempt"] for e in a.evs("op", opid=opid)] == [1, 2]
    assert a.evs("op_ok", opid=opid) and len(w.server.applied) == 1


def test_forbidden_op_fails_and_the_queue_moves_on() -> None:
    w, a = alice_online()
    bad = a.op("group_add", conv="g:nobody", user="bob")
    good = a.op("contact_add", user="bob")
    w.run()
    (fail,) = a.evs("op_fail", opid=bad)
    assert fail["reason"].startswith("forbidden")
    assert a.evs("op_ok", opid=good)


def test_op_budget_spent_on_the_wire_is_info_never_sent_is_fail() -> None:
    w, a = alice_online(config=EngineConfig(give_up_after_s=30))
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
    w, a = alice_online()
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


def _three_unread_offline(**world: Any) -> tuple[World, FakeDriver]:
    """Alice and bob online, bob sends alice three messages, then alice's network goes
    down: (the world, alice)."""
    w, a, b = alice_and_bob(**world)
    for i in range(3):
        b.send(AB, f"m{i}")
    w.run()
    a.network(False)
    return w, a


def test_reads_of_a_conversation_merge_while_waiting() -> None:
    w, a = _three_unread_offline()
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


# ------------------------------------------------------------------ pipelined (pipeline_ops)
PIPE = EngineConfig(pipeline_ops=True)


def _offline_queue(w: World, a: FakeDriver, n: int) -> list[str]:
    """Take ``a`` off the network, make ``n`` ops (contact_add/remove of carol,
    alternating, so the end state depends on their order), return their opids."""
    a.network(False)
    kinds = ["contact_add", "contact_remove"]
    return [a.op(kinds[i % 2], user="carol") for i in range(n)]


def test_pipelined_flush_puts_every_queued_op_on_the_wire_before_the_first_answer() -> None:
    w, a = alice_online(config=PIPE)
    opids = _offline_queue(w, a, 5)
    a.read(AB, 0)  # nothing to mark: no read
    a.network(True)
    w.run(2)
    evs = [e["ev"] for e in a.records if e["ev"] in ("op", "op_ok")]
    assert evs == ["op"] * 5 + ["op_ok"] * 5  # all five sent before the first answer
    assert [e["opid"] for e in a.evs("op")] == opids
    assert all(e["attempt"] == 1 and e["queued"] and e["session"] == 2 for e in a.evs("op"))
    # one engine input put them on the wire, back to back, after the catch-up sync
    kinds = [f["t"] for f in a.sent[a.sent.index(a.frames("login")[-1]):]]
    assert kinds.index("sync") < kinds.index("op")
    assert [o for (_, _, o) in w.server.applied] == opids  # applied in the order made
    assert w.server.sets[("alice", "contacts")] == {"carol"}  # the fold: add, rm, ..., add
    assert a.engine.pending_instructions == 0
    assert {a.engine.op_outcomes[o] for o in opids} == {"op_ok"}


def test_one_at_a_time_is_still_the_default() -> None:
    w, a = alice_online()
    _offline_queue(w, a, 3)
    a.network(True)
    w.run(2)
    evs = [e["ev"] for e in a.records if e["ev"] in ("op", "op_ok")]
    assert evs == ["op", "op_ok"] * 3


def test_pipelined_ops_and_reads_go_together_and_answers_match_by_opid_and_rid() -> None:
    w, a = _three_unread_offline(config=PIPE)
    first = a.op("pin", conv=AB, pinned=True)
    assert a.read(AB, 2) == 2
    second = a.op("pin", conv=AB, pinned=False)
    a.network(True)
    w.run(2)
    since = a.sent.index(a.frames("login")[-1])
    assert [f["t"] for f in a.sent[since:] if f["t"] in ("op", "read")] == ["op", "read", "op"]
    evs = [e["ev"] for e in a.records if e["ev"] in ("op", "read", "op_ok", "read_ok")]
    assert evs[:3] == ["op", "read", "op"]  # all three on the wire before any answer
    assert a.evs("read_ok")[0]["upto"] == 2 and a.engine.marks[AB] == 2
    assert [o for (_, _, o) in w.server.applied] == [first, second]
    assert w.server.sets[("alice", "pinned")] == set()
    # online, a new op goes at once even while others wait for their answers
    third = a.op("contact_add", user="bob")
    fourth = a.op("contact_add", user="carol")
    assert [f["opid"] for f in a.frames("op")][-2:] == [third, fourth]
    assert not any(e["queued"] for e in a.evs("op") if e["opid"] in (third, fourth))


def test_a_drop_mid_flush_requeues_the_unanswered_in_their_order() -> None:
    w, a = alice_online(config=PIPE)
    opids = _offline_queue(w, a, 6)
    w.server.cut_after_requests = 2  # the first two answered, then the connection resets
    a.network(True)
    w.run(10)
    assert a.engine.online and a.engine.session == 3
    tries = [(e["opid"], e["attempt"], e["session"]) for e in a.evs("op")]
    assert tries == ([(o, 1, 2) for o in opids] + [(o, 2, 3) for o in opids[2:]])
    assert [e["opid"] for e in a.evs("op_ok")] == opids
    assert all(not e["dup"] for e in a.evs("op_ok"))  # the lost four never reached it
    assert [o for (_, _, o) in w.server.applied] == opids
    assert w.server.sets[("alice", "contacts")] == set()


def test_a_retry_that_waits_holds_back_what_is_queued_behind_it() -> None:
    w, a = alice_online(config=PIPE)
    opids = _offline_queue(w, a, 2)
    w.server.request_errors = [("internal", None)]  # the first op: the store failed
    a.network(True)
    w.run(0.1)
    assert [(e["opid"], e["attempt"]) for e in a.evs("op")] == [(opids[0], 1), (opids[1], 1)]
    late = a.op("contact_add", user="dave")  # behind the first op's retry: waits
    assert a.evs("op", opid=late) == []
    w.run(5)
    assert [(e["opid"], e["attempt"]) for e in a.evs("op")] == [
        (opids[0], 1), (opids[1], 1), (opids[0], 2), (late, 1)]
    assert a.evs("op", opid=late)[0]["queued"] is True
    # the retried op landed after the one sent behind it: its place was unknown
    assert [o for (_, _, o) in w.server.applied] == [opids[1], opids[0], late]


def test_a_drop_keeps_the_queue_order_around_a_waiting_retry() -> None:
    w, a = alice_online(config=PIPE)
    opids = _offline_queue(w, a, 2)
    w.server.request_errors = [("internal", None), ("swallow", None)]
    a.network(True)
    w.run(0.1)  # the first waits for its retry, the second for its answer
    behind = a.op("contact_add", user="dave")  # queued behind the waiting retry
    assert a.evs("op", opid=behind) == []
    w.server.kill()
    w.run(10)
    since = [e["opid"] for e in a.evs("op") if e["session"] == 3]
    assert since == [*opids, behind]  # the queue's order, whatever each one's state
    assert [o for (_, _, o) in w.server.applied] == [*opids, behind]


def test_a_pipelined_op_without_an_answer_is_sent_again_on_the_same_connection() -> None:
    w, a = alice_online(config=PIPE)
    w.server.swallow_requests = 1
    first = a.op("contact_add", user="x")
    second = a.op("contact_add", user="y")
    w.run(10.5)
    assert [(e["opid"], e["attempt"], e["session"]) for e in a.evs("op")] == [
        (first, 1, 1), (second, 1, 1), (first, 2, 1)]
    assert {e["opid"] for e in a.evs("op_ok")} == {first, second}
    assert a.engine.session == 1 and len(w.server.applied) == 2


def test_stop_settles_pipelined_ops() -> None:
    w, a = alice_online(config=PIPE)
    w.server.swallow_requests = 2
    flying = [a.op("contact_add", user="x"), a.op("contact_add", user="y")]
    w.run(0.1)
    a.stop()
    assert [a.evs("op_info", opid=o)[0]["reason"] for o in flying] == ["stopped in flight"] * 2
    assert a.engine.pending_instructions == 0


STEP = st.one_of(
    st.tuples(st.just("op"), st.sampled_from([
        ("contact_add", {"user": "carol"}), ("contact_remove", {"user": "carol"}),
        ("pin", {"conv": AB, "pinned": True}), ("pin", {"conv": AB, "pinned": False})])),
    st.tuples(st.just("op"), st.sampled_from([("contact_add", {"user": "dave"})])),
    st.tuples(st.just("read"), st.none()),
    st.tuples(st.just("send"), st.none()),
    st.tuples(st.just("wait"), st.floats(0.0, 15.0)),
    st.tuples(st.just("net"), st.booleans()),
    st.tuples(st.just("kill"), st.none()),
    st.tuples(st.just("cut"), st.integers(0, 4)),
    st.tuples(st.just("swallow"), st.integers(1, 3)),       # a fault: no answer, a retry
    st.tuples(st.just("error"), st.sampled_from(["internal", "forbidden", "swallow"])),
)


@settings(max_examples=400)
@given(steps=st.lists(STEP, min_size=5, max_size=40), faults=st.booleans(),
       seed=st.integers(0, 2**16))
def test_pipelined_histories_keep_the_order_and_settle(steps: list[tuple[str, Any]],
                                                       faults: bool, seed: int) -> None:
    """With pipelining, over drops, resets mid-flush and (when ``faults``) lost answers
    and store errors: every op ends once; first attempts go out in the order made; the
    server applies each op once, in the order made unless an op was sent again after a
    later one went out (then that one's place is unknown); after a heal all settle."""
    w = World(seed=seed, config=PIPE)
    a, b = w.device("alice"), w.device("bob")
    srv = w.server
    made: list[str] = []
    w.run()
    b.send(AB, "hello")
    w.run()
    for step, arg in steps:
        if step == "op":
            made.append(a.op(arg[0], **arg[1]))
        elif step == "read":
            a.read(AB)
        elif step == "send":
            b.send(AB, "x")
        elif step == "wait":
            w.run(arg)
        elif step == "net":
            a.network(arg)
        elif step == "kill":
            srv.kill()
        elif step == "cut":
            srv.cut_after_requests = arg
        elif step == "swallow" and faults:
            srv.swallow_requests += arg
        elif step == "error" and faults:
            srv.request_errors.append((arg, None))
        w.run(0.01)
    srv.swallow_requests = 0
    srv.request_errors.clear()
    srv.cut_after_requests = None
    a.network(True)
    w.run(200)
    srv.kill()
    w.run(30)
    e = a.engine
    assert e.online and e.pending_instructions == 0
    outcomes: dict[str, list[str]] = {}
    for ev in a.records:
        if ev["ev"] in ("op_ok", "op_fail", "op_info"):
            outcomes.setdefault(ev["opid"], []).append(ev["ev"])
    assert sorted(outcomes) == sorted(made) and all(len(v) == 1 for v in outcomes.values())
    firsts = [ev["opid"] for ev in a.evs("op") if ev["attempt"] == 1]
    assert firsts == sorted(firsts, key=made.index)  # a flush keeps the order made
    per_session: dict[int, list[str]] = {}  # each op's first frame on each session
    for ev in a.evs("op"):
        sent = per_session.setdefault(ev["session"], [])
        if ev["opid"] not in sent:
            sent.append(ev["opid"])
    for sent in per_session.values():  # what a drop left unanswered goes again in order
        assert sent == sorted(sent, key=made.index), sent
    applied = [o for (user, _, o) in srv.applied if user == "alice"]
    assert len(applied) == len(set(applied))
    for o in outcomes:
        if outcomes[o] == ["op_ok"]:
            assert o in applied
    sent_at = {}  # opid -> record positions of its attempts
    for i, ev in enumerate(a.records):
        if ev["ev"] == "op":
            sent_at.setdefault(ev["opid"], []).append(i)
    for i, x in enumerate(applied):
        for y in applied[i + 1:]:
            if made.index(y) < made.index(x):  # y made first, applied after x
                assert faults, (y, x)
                assert max(sent_at[y]) > min(sent_at[x]), (y, x)  # y was sent again
    a.stop()
    assert not a.engine.timers and a.fired_twice == []


def test_an_adapters_joined_is_journaled_and_a_bad_one_counted() -> None:
    w, a = alice_online()
    a.deliver(a.conn, {"t": "joined", "conv": "g:team"})
    (j,) = a.evs("joined")
    assert j["conv"] == "g:team" and j["session"] == 1
    bad = a.engine.bad_frames
    a.deliver(a.conn, {"t": "joined", "conv": 7})
    assert a.engine.bad_frames == bad + 1 and len(a.evs("joined")) == 1
