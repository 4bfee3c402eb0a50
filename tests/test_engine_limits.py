"""The device engine against a peer over its request limits (engine_harness's ``limited``):
every request type a node may refuse with ``rate_limited`` (docs/protocol.md, "Limits") is
asked again after ``retry_after_ms``, and a refusal never costs the connection."""

from __future__ import annotations

from engine_harness import AB, World, alice_online

LIMIT_S = 0.5  # the harness's retry_after_ms


def online_world(*refused: str, n: int = 1) -> tuple[World, object]:
    w, a = alice_online()
    assert a.engine.online and a.engine.caught_up
    w.server.limited = {t: n for t in refused}
    return w, a


def test_a_refused_sync_is_asked_again_after_retry_after() -> None:
    w = World()
    w.server.limited = {"sync": 2}
    a = w.device("alice")
    w.run(0.1)
    assert len(a.frames("sync")) == 1 and not a.engine.caught_up
    w.run(LIMIT_S)
    assert len(a.frames("sync")) == 2
    w.run(LIMIT_S)
    assert len(a.frames("sync")) == 3 and a.engine.caught_up
    assert a.engine.session == 1 and not a.closes


def test_refused_pings_are_asked_again_and_keep_the_connection() -> None:
    w, a = online_world("ping", n=5)
    w.run(9.05)  # the first heartbeat, 10 s after the login
    assert len(a.frames("ping")) == 1
    w.run(5 * LIMIT_S)  # refused five times, each asked again when told
    assert len(a.frames("ping")) == 6
    w.run(25)  # the sixth was answered: heartbeats every hb again
    assert len(a.frames("ping")) == 8
    assert a.engine.session == 1 and not a.closes and not a.evs("disconnected")


def test_a_refused_ack_is_sent_again_after_retry_after() -> None:
    w, a = online_world("ack")
    b = w.device("bob")
    w.run()
    b.send(AB)
    w.run(0.3)  # the push arrives, the ack timer sends its ack, which is refused
    assert [f["upto"] for f in a.frames("ack")] == [1]
    assert w.server.cursors.get(("alice", "d0"), 0) == 0
    w.run(LIMIT_S)
    assert [f["upto"] for f in a.frames("ack")] == [1, 1]
    assert w.server.cursors[("alice", "d0")] == 1 and not a.closes


def test_a_refused_send_is_sent_again_with_its_cmid() -> None:
    w, a = online_world("send")
    cmid = a.send(AB)
    w.run(0.1)
    assert len(a.evs("send", cmid=cmid)) == 1 and not a.evs("send_ok", cmid=cmid)
    w.run(LIMIT_S)
    assert [e["attempt"] for e in a.evs("send", cmid=cmid)] == [1, 2]
    assert a.evs("send_ok", cmid=cmid)


def test_a_refused_op_is_sent_again_with_its_opid() -> None:
    w, a = online_world("op")
    opid = a.op("contact_add", user="bob")
    w.run(0.1)
    assert not a.evs("op_ok", opid=opid)
    w.run(LIMIT_S)
    assert [f["opid"] for f in a.frames("op")] == [opid, opid]
    assert a.evs("op_ok", opid=opid) and w.server.sets[("alice", "contacts")] == {"bob"}


def test_a_refused_read_is_sent_again() -> None:
    w, a = online_world("read")
    b = w.device("bob")
    w.run()
    b.send(AB)
    w.run()
    a.read(AB)
    w.run(0.1)
    assert not a.evs("read_ok")
    w.run(LIMIT_S)
    assert len(a.frames("read")) == 2 and a.evs("read_ok")[0]["upto"] == 1


def test_a_refused_reads_request_is_asked_again() -> None:
    w = World()
    w.server.limited = {"reads": 1}
    a = w.device("alice")
    w.run(0.1)
    assert len(a.frames("reads")) == 1 and not a.evs("marks")
    w.run(LIMIT_S)
    assert len(a.frames("reads")) == 2 and len(a.evs("marks")) == 1


def test_a_refused_state_request_is_asked_again() -> None:
    w, a = online_world("state")
    assert a.engine.request_state(w.net.now)
    a.pump()
    w.run(0.1)
    assert a.engine.awaiting_state and not a.evs("state")
    w.run(LIMIT_S)
    assert len(a.frames("state")) == 2 and len(a.evs("state")) == 1
    assert not a.engine.awaiting_state


def test_a_refused_query_is_not_asked_again_after_the_connection_is_lost() -> None:
    w, a = online_world("state")
    a.engine.request_state(w.net.now)
    a.pump()
    w.run(0.1)
    w.server.kill()
    w.run(0.01)
    assert "state" not in a.engine.timers and not a.engine.awaiting_state


def test_a_refused_login_waits_retry_after_before_the_next_attempt() -> None:
    w = World()
    w.server.limited = {"login": 1}
    w.server.limit_ms = 3000  # an address over its failed-login limit: 4029
    a = w.device("alice")
    w.run(0.1)
    failed = a.evs("connect_failed")
    assert failed and failed[0]["retry_after_ms"] == 3000
    assert "rate_limited" in failed[0]["reason"] and failed[0]["retry_in_s"] >= 3
    w.run(2.8)
    assert len(a.frames("login")) == 1
    w.run(1)
    assert len(a.frames("login")) == 2 and a.engine.online
