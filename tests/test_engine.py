"""The device engine against the in-memory peer of ``engine_harness``: messages,
connections, inbox, sync, heartbeats; with hypothesis over random histories.

Ops, reads and groups: ``test_engine_instructions.py``; display policies and
clocks: ``test_engine_display.py``; LBS routing and offline detection:
``test_engine_connection.py``.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from engine_harness import AB, URLS, FakeDriver, World, alice_and_bob, alice_online
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imload.client import (
    Backoff,
    CancelTimer,
    DeviceEngine,
    EngineConfig,
    IllegalTransition,
    MsgEvent,
    MsgState,
    SetTimer,
)
from imload.client.states import next_state

# ---------------------------------------------------------------- examples

def test_login_syncs_from_cursor_follows_more_and_acks() -> None:
    w = World()
    for i in range(250):
        w.server.store("bob", "d0", AB, f"c{i}", f"hi {i}")
    a = w.device("alice")
    w.run()
    assert a.engine.online and a.engine.session == 1
    (conn,) = a.evs("connected")
    assert conn["session"] == 1 and conn["inbox_seq"] == 250 and conn["acked"] == 0
    syncs = a.frames("sync")
    assert [s["after"] for s in syncs] == [0, 200]
    assert len(a.evs("deliver", via="sync")) == 250
    assert [f["upto"] for f in a.frames("ack")] == [200, 250]
    assert w.server.cursors[("alice", "d0")] == 250
    assert a.engine.held_upto == 250 == a.engine.inbox_seq
    assert [m["seq"] for m in a.engine.messages(AB)] == list(range(1, 251))
    assert [m.name for m in a.metrics] == ["login", "sync"]


def test_fresh_engine_trusts_the_server_cursor() -> None:
    w = World()
    for i in range(5):
        w.server.store("bob", "d0", AB, f"c{i}", "x")
    w.server.cursors[("alice", "d0")] = 3
    a = w.device("alice")
    w.run()
    assert a.frames("sync")[0]["after"] == 3
    assert [e["useq"] for e in a.evs("deliver")] == [4, 5]
    assert a.engine.held_upto == 5


def test_send_is_acked_and_pushed_to_the_peer() -> None:
    w, a, b = alice_and_bob()
    cmid = a.send(AB, "hello bob")
    w.run()
    (s,) = a.evs("send")
    assert s["cmid"] == cmid and s["attempt"] == 1 and s["session"] == 1
    (ok,) = a.evs("send_ok")
    assert ok["cmid"] == cmid and ok["seq"] == 1 and ok["dup"] is False
    assert a.engine.send_state(cmid) is MsgState.ACKED and a.engine.pending_sends == 0
    (d,) = b.evs("deliver")
    assert d["via"] == "push" and d["cmid"] == cmid and d["digest"] == s["digest"]
    assert d["from"] == "alice" and d["phase"] == "load"
    assert b.engine.messages(AB)[0]["body"] == "hello bob"
    assert a.evs("deliver", cmid=cmid)  # the sender's inbox gets it too
    assert [m.name for m in a.metrics if m.error is None].count("send-ack") == 1


def test_sends_are_pipelined() -> None:
    w, a = alice_online()
    cmids = [a.send(AB, f"m{i}") for i in range(5)]
    assert len(a.frames("send")) == 5  # all on the wire before any ack
    w.run()
    assert [e["cmid"] for e in a.evs("send_ok")] == cmids
    assert [e["seq"] for e in a.evs("send_ok")] == [1, 2, 3, 4, 5]


def test_ack_timeout_resends_same_cmid_on_same_connection() -> None:
    w, a = alice_online()
    w.server.swallow_sends = 1
    cmid = a.send(AB)
    w.run(9.9)
    assert len(a.evs("send")) == 1
    w.run(0.2)
    attempts = a.evs("send", cmid=cmid)
    assert [e["attempt"] for e in attempts] == [1, 2]
    assert {e["session"] for e in attempts} == {1}
    assert a.evs("send_ok", cmid=cmid)


def test_lost_ack_resend_is_acked_as_dup() -> None:
    w, a = alice_online()
    w.server.store_no_ack = 1
    cmid = a.send(AB)
    w.run(11)
    (ok,) = a.evs("send_ok", cmid=cmid)
    assert ok["dup"] is True and len(w.server.convs[AB]) == 1


def test_in_flight_sends_resent_after_reconnect_same_cmid_next_attempt() -> None:
    w, a = alice_online()
    w.server.swallow_sends = 2
    c1, c2 = a.send(AB, "one"), a.send(AB, "two")
    w.run(0.5)
    w.server.kill()
    w.run(0.01)
    assert not a.engine.online and a.engine.pending_sends == 2
    (disc,) = a.evs("disconnected")
    assert disc["session"] == 1
    w.run(10)
    assert a.engine.session == 2
    resent = [e for e in a.evs("send") if e["session"] == 2]
    assert [(e["cmid"], e["attempt"]) for e in resent] == [(c1, 2), (c2, 2)]
    # resent only after the catch-up sync of the new session
    i_sync = max(i for i, f in enumerate(a.sent) if f["t"] == "sync")
    i_send = [i for i, f in enumerate(a.sent) if f["t"] == "send" and f["cmid"] == c1][1]
    assert i_sync < i_send
    assert [e["cmid"] for e in a.evs("send_ok")] == [c1, c2]


def test_kill_moves_to_next_url() -> None:
    w, a = alice_online()
    first = a.engine.url
    assert first is not None
    w.server.down.add(first)
    w.server.kill(first)
    w.run(10)
    assert a.engine.online and a.engine.url != first
    assert a.evs("connected")[-1]["node"] != first


def test_budget_exhausted_records_send_info() -> None:
    w, a = alice_online()
    w.server.swallow_sends = 100
    cmid = a.send(AB)
    w.run(60)
    assert [e["attempt"] for e in a.evs("send", cmid=cmid)] == [1, 2, 3, 4, 5]
    (info,) = a.evs("send_info", cmid=cmid)
    assert "5 attempts" in info["reason"]
    assert not a.evs("send_fail") and a.engine.send_state(cmid) is MsgState.UNKNOWN
    assert a.metrics[-1].name == "send-ack" and a.metrics[-1].error


def test_give_up_after_s_while_offline_after_an_attempt() -> None:
    w, a = alice_online()
    w.server.swallow_sends = 1
    cmid = a.send(AB)
    w.run(1)
    w.server.down.update(URLS)
    w.server.kill()
    w.run(200)
    (info,) = a.evs("send_info", cmid=cmid)
    assert "180" in info["reason"]
    assert info["at"] == pytest.approx(181.0, abs=0.1)


def test_never_sent_records_send_fail() -> None:
    w = World()
    w.server.down.update(URLS)
    a = w.device("alice")
    cmid = a.send(AB)
    w.run(179)
    assert a.engine.pending_sends == 1
    w.run(2)
    (fail,) = a.evs("send_fail", cmid=cmid)
    assert fail["reason"] == "never sent: offline for 180 s"
    assert not a.evs("send") and not a.evs("send_info")
    assert a.engine.send_state(cmid) is MsgState.FAILED
    assert len(a.evs("connect_failed")) > 10


def test_gap_push_triggers_sync_from_held_upto() -> None:
    w, a, b = alice_and_bob()
    b.send(AB, "one")
    w.run()
    assert a.engine.held_upto == 1
    w.server.drop_pushes = True
    b.send(AB, "two")
    w.run()
    w.server.drop_pushes = False
    syncs_before = len(a.frames("sync"))
    b.send(AB, "three")
    w.run()
    new_syncs = a.frames("sync")[syncs_before:]
    assert [s["after"] for s in new_syncs] == [1]
    assert [(e["useq"], e["via"]) for e in a.evs("deliver")] == [
        (1, "push"), (3, "push"), (2, "sync"), (3, "sync")]
    assert a.engine.held_upto == 3
    assert [m["body"] for m in a.engine.messages(AB)] == ["one", "two", "three"]
    assert w.server.cursors[("alice", "d0")] == 3


def test_duplicate_delivery_recorded_but_displayed_once() -> None:
    w, a, b = alice_and_bob()
    w.server.dup_pushes = True
    b.send(AB, "twice")
    w.run()
    assert len(a.evs("deliver")) == 2
    assert len(a.engine.messages(AB)) == 1 and a.engine.held_upto == 1
    assert a.engine.inbox.duplicates == 1


def test_pushes_are_acked_at_most_once_per_ack_delay() -> None:
    """A burst after a quiet spell: one ack at once (no wake-up of its own); pushes within
    ``ack_delay_s`` of that ack: one more ack when the interval ends."""
    w, a, b = alice_and_bob()
    w.run(1.0)  # quiet: the login's own ack, if any, long past
    acks_before = len(a.frames("ack"))
    for i in range(5):
        b.send(AB, f"m{i}")
    w.run(0.1)
    assert [f["upto"] for f in a.frames("ack")[acks_before:]] == [5]
    for i in range(5, 8):
        b.send(AB, f"m{i}")
    w.run(0.05)
    assert len(a.frames("ack")) == acks_before + 1  # within 0.2 s of the last: waits
    w.run(0.5)
    assert [f["upto"] for f in a.frames("ack")[acks_before:]] == [5, 8]


def test_503_retry_after_is_honoured() -> None:
    w = World(backoff=Backoff("full_jitter", 0.2, 5.0))
    first_url = URLS[random.Random("1/alice/d0").randrange(2)]
    w.server.busy = {u: 3000 for u in URLS}
    a = w.device("alice")
    w.run(0.01)
    (cf,) = a.evs("connect_failed")
    assert cf["retry_after_ms"] == 3000 and a.evs("connect")[0]["url"] == first_url
    w.run(2.9)
    assert len(a.evs("connect")) == 1
    w.server.busy = {}
    w.run(0.2)
    connects = a.evs("connect")
    assert len(connects) == 2 and connects[1]["at"] >= cf["at"] + 3.0
    assert connects[1]["url"] != first_url and connects[1]["attempt"] == 2
    assert a.engine.online


def test_stop_settles_every_pending_send() -> None:
    w, a = alice_online()
    w.server.swallow_sends = 1
    on_wire = a.send(AB, "on the wire")
    w.run(0.1)
    w.server.down.update(URLS)
    w.server.kill()
    w.run(0.01)
    never = a.send(AB, "never sent")  # offline: waits
    w.run(0.5)
    a.stop()
    (info,) = a.evs("send_info")
    (fail,) = a.evs("send_fail")
    assert info["cmid"] == on_wire and info["reason"] == "stopped in flight"
    assert fail["cmid"] == never
    assert a.engine.pending_sends == 0 and not a.engine.timers
    a.send(AB, "after stop")
    assert a.evs("send_fail")[-1]["reason"] == "device stopped"


def test_stop_online_acks_closes_and_records_disconnect() -> None:
    w, a, b = alice_and_bob()
    b.send(AB, "x")
    w.run(0.01)
    a.stop()
    assert a.frames("ack")[-1]["upto"] == 1 and a.closes == ["stop"]
    assert a.evs("disconnected")[-1]["reason"] == "stop"


def test_send_errors() -> None:
    w, a = alice_online()
    w.server.send_errors = [("forbidden", None)]
    refused = a.send(AB)
    w.run()
    assert a.evs("send_fail", cmid=refused)[0]["reason"].startswith("forbidden")
    w.server.send_errors = [("rate_limited", 2000)]
    limited = a.send(AB)
    w.run(1.9)
    assert len(a.evs("send", cmid=limited)) == 1
    w.run(0.2)
    assert len(a.evs("send", cmid=limited)) == 2 and a.evs("send_ok", cmid=limited)
    w.server.send_errors = [("internal", None), ("internal", None)]
    retried = a.send(AB)
    w.run(2)
    assert [e["attempt"] for e in a.evs("send", cmid=retried)] == [1, 2, 3]
    assert a.evs("send_ok", cmid=retried)


def test_missing_pongs_declare_the_connection_dead() -> None:
    w, a = alice_online()
    w.server.mute_pongs = True
    w.run(29)
    assert a.engine.session == 1 and len(a.frames("ping")) == 2
    w.run(1.01)
    assert a.closes and "pong" in a.closes[0]
    assert "pong" in a.evs("disconnected")[0]["reason"]
    w.server.mute_pongs = False
    w.run(5)
    assert a.engine.online and a.engine.session == 2


def test_login_timeout_counts_as_failed_attempt() -> None:
    w = World()
    a = w.device("alice", start=False)
    real_receive = w.server.receive
    w.server.receive = lambda c, f: None  # type: ignore[method-assign]
    a.start()
    w.run(10.5)
    (cf,) = a.evs("connect_failed")
    assert "login_ok" in cf["reason"] and a.closes
    w.server.receive = real_receive  # type: ignore[method-assign]
    w.run(15)  # the attempt under way also times out; the next one logs in
    assert a.engine.online and len(a.evs("connect_failed")) == 2


def test_clock_offset_from_pongs_and_local_skew() -> None:
    w = World(config=EngineConfig(skew_ms=-30 * 60_000, wall_offset=1_700_000_000.0))
    w.server.clock_offset_ms = 1_700_000_000_000 + 5_000
    a = w.device("alice")
    w.run(25)
    assert a.engine.clock_offset_ms == pytest.approx(5_000 + 30 * 60_000, abs=5)
    assert a.frames("send") == []
    a.send(AB)
    assert a.evs("send")[0]["ts"] == a.engine.local_ms(w.net.now)


def test_second_login_of_same_device_replaces_and_reconnects() -> None:
    w, a = alice_online()
    a2 = w.device("alice")  # same device elsewhere: the server closes a's socket (4001)
    w.run(0.01)
    assert "4001" in a.evs("disconnected")[0]["reason"]
    assert a2.engine.online


def test_illegal_transition_names_state_and_event() -> None:
    with pytest.raises(IllegalTransition, match="'ack' is illegal in state 'new'"):
        next_state("c1", MsgState.NEW, MsgEvent.ACK)
    with pytest.raises(IllegalTransition, match="final state"):
        next_state("c1", MsgState.ACKED, MsgEvent.TRANSMIT)


def test_stale_inputs_are_ignored() -> None:
    w = World()
    a = w.device("alice", start=False)
    e = a.engine
    e.frame_received({"t": "msg"}, 0.0)
    e.transport_open(0.0)
    e.transport_closed(0.0, "x")
    e.timer_fired("ping", 0.0)
    assert e.actions() == [] and e.ignored == 4


def test_malformed_frames_are_counted_not_fatal() -> None:
    w, a = alice_online()
    e = a.engine
    for f in ({"t": "msg", "useq": "x"}, {"t": "sync_batch", "msgs": 3},
              {"t": "send_ack"}, {"t": "error"}, {"t": 7}, {}):
        e.frame_received(f, w.net.now)
    a.pump()
    assert e.bad_frames == 2 and e.online


def test_first_url_drawn_by_rng_and_rotates_on_failure() -> None:
    urls = [f"ws://n{i}/ws" for i in range(4)]
    starts = set()
    for seed in range(20):
        w = World(seed=seed, urls=urls)
        w.server.down.update(urls)
        a = w.device("alice")
        w.run(3)
        got = [e["url"] for e in a.evs("connect")][:4]
        i = urls.index(got[0])
        assert got == [urls[(i + k) % 4] for k in range(len(got))]
        starts.add(got[0])
    assert len(starts) > 1


def test_cmids_unique_across_engines_of_the_same_device() -> None:
    w = World()
    a1 = w.device("alice", start=False)
    eng2 = DeviceEngine("alice", "d0", "alice/d0", URLS, rng=random.Random(99))
    assert a1.send(AB) != eng2.send_message(AB, "x", 0.0)


# ------------------------------------------------------------- properties

SEND = st.tuples(st.just("send"), st.sampled_from(["alice", "bob"]))
OP = st.tuples(st.just("op"), st.tuples(
    st.sampled_from(["alice", "bob"]),
    st.sampled_from([("contact_add", {"user": "carol"}), ("contact_remove", {"user": "carol"}),
                     ("pin", {"conv": AB, "pinned": True}),
                     ("pin", {"conv": AB, "pinned": False})])))
OPS = st.one_of(
    SEND, SEND, SEND, SEND, OP, OP,
    st.tuples(st.just("read"), st.sampled_from(["alice", "bob"])),
    st.tuples(st.just("wait"), st.floats(0.0, 30.0)),
    st.tuples(st.just("wait"), st.floats(0.0, 120.0)),
    st.tuples(st.just("kill"), st.sampled_from(URLS)),
    st.tuples(st.just("down"), st.sampled_from(URLS)),
    st.tuples(st.just("up"), st.sampled_from(URLS)),
    st.tuples(st.just("busy"), st.sampled_from(URLS)),
    st.tuples(st.just("net"), st.tuples(st.sampled_from(["alice", "bob"]), st.booleans())),
    st.tuples(st.just("swallow"), st.integers(1, 8)),
    st.tuples(st.just("swallow_requests"), st.integers(1, 4)),
    st.tuples(st.just("no_ack"), st.integers(1, 3)),
    st.tuples(st.just("error"), st.sampled_from(["internal", "rate_limited", "forbidden",
                                                 "bad_frame", "overloaded", "weird"])),
    st.tuples(st.just("request_error"), st.sampled_from(["internal", "rate_limited",
                                                         "forbidden"])),
    st.tuples(st.just("toggle"), st.sampled_from(["drop_pushes", "dup_pushes",
                                                  "mute_pongs"])),
)
OUTCOMES = {"send_ok": MsgState.ACKED, "send_fail": MsgState.FAILED,
            "send_info": MsgState.UNKNOWN}


def _outcomes(d: FakeDriver, kinds: tuple[str, ...] = ("send_ok", "send_fail", "send_info"),
              key: str = "cmid") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for e in d.records:
        if e["ev"] in kinds:
            out.setdefault(e[key], []).append(e["ev"])
    return out


def _op_outcomes(d: FakeDriver) -> dict[str, list[str]]:
    return _outcomes(d, ("op_ok", "op_fail", "op_info"), "opid")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(OPS, min_size=15, max_size=60), seed=st.integers(0, 2**16),
       policy=st.sampled_from(["full_jitter", "decorrelated", "exponential", "fixed",
                               "equal_jitter", "none"]),
       lbs=st.booleans())
def test_random_histories_keep_the_invariants(ops: list[tuple[str, Any]], seed: int,
                                              policy: str, lbs: bool) -> None:
    """Every send and op ends in exactly one outcome (or is still under way), the server
    applies each op once and in the order one device made them, markers and cursors
    only grow, and after a heal everything settles and every device holds its inbox."""
    w = World(seed=seed, backoff=Backoff(policy, 0.2, 5.0), lbs=lbs)
    if lbs:
        w.server.lbs = list(reversed(URLS))
    devs = {"alice": w.device("alice"), "bob": w.device("bob")}
    cmids: dict[str, list[str]] = {"alice": [], "bob": []}
    opids: dict[str, list[str]] = {"alice": [], "bob": []}
    held = {u: 0 for u in devs}
    marks = {u: 0 for u in devs}
    srv = w.server

    def check() -> None:
        for u, d in devs.items():
            e = d.engine
            assert e.held_upto >= held[u]
            held[u] = e.held_upto
            assert e.marks.get(AB, 0) >= marks[u]
            marks[u] = e.marks.get(AB, 0)
            outcomes = _outcomes(d)
            assert all(len(v) == 1 for v in outcomes.values()), outcomes
            for c in cmids[u]:
                state = e.send_state(c)
                if c in outcomes:
                    assert state is OUTCOMES[outcomes[c][0]]
                else:
                    assert state in (MsgState.NEW, MsgState.SENDING, MsgState.WAITING)
            op_out = _op_outcomes(d)
            assert all(len(v) == 1 for v in op_out.values()), op_out
            assert set(op_out) <= set(opids[u])
            for o in opids[u]:
                assert (o in op_out) == (o in e.op_outcomes)
            # the server applied each op once, in the order this device made them
            mine = [op for (user, _, op) in srv.applied if user == u]
            assert len(mine) == len(set(mine))
            assert mine == sorted(mine, key=opids[u].index)

    for op, arg in ops:
        if op == "send":
            cmids[arg].append(devs[arg].send(AB, "x" * 3))
        elif op == "op":
            user, (kind, args) = arg
            opids[user].append(devs[user].op(kind, **args))
        elif op == "read":
            devs[arg].read(AB)
        elif op == "net":
            devs[arg[0]].network(arg[1])
        elif op == "wait":
            w.run(arg)
        elif op == "kill":
            srv.kill(arg)
        elif op == "down":
            srv.down.add(arg)
        elif op == "up":
            srv.down.discard(arg)
            srv.busy.pop(arg, None)
        elif op == "busy":
            srv.busy[arg] = 1500
        elif op == "swallow":
            srv.swallow_sends += arg
        elif op == "swallow_requests":
            srv.swallow_requests += arg
        elif op == "no_ack":
            srv.store_no_ack += arg
        elif op == "error":
            srv.send_errors.append((arg, 500))
        elif op == "request_error":
            srv.request_errors.append((arg, 500))
        elif op == "toggle":
            setattr(srv, arg, not getattr(srv, arg))
        w.run(0.01)
        check()

    # heal, force a fresh login (so a catch-up sync) and wait out every budget
    srv.down.clear()
    srv.busy.clear()
    srv.swallow_sends = srv.store_no_ack = srv.swallow_requests = 0
    srv.send_errors.clear()
    srv.request_errors.clear()
    srv.drop_pushes = srv.dup_pushes = srv.mute_pongs = False
    for d in devs.values():
        d.network(True)
    w.run(200)
    srv.kill()
    w.run(30)
    check()
    for u, d in devs.items():
        assert d.engine.online
        assert d.engine.pending_sends == 0 and d.engine.pending_instructions == 0
        assert set(_outcomes(d)) == set(cmids[u])
        assert set(_op_outcomes(d)) == set(opids[u])
        assert d.engine.held_upto == len(srv.inbox.get(u, []))
        sent = {e["cmid"] for e in d.evs("send")}
        for e in d.evs("send_info"):
            assert e["cmid"] in sent  # unknown only if it went on the wire
        for e in d.evs("send_ok"):
            assert (u, e["cmid"]) in srv.stored
        tried = {e["opid"] for e in d.evs("op")}
        for e in d.evs("op_info"):
            assert e["opid"] in tried
        for e in d.evs("op_ok"):
            assert (u, e["opid"]) in srv.opids
        for e in d.evs("op_fail"):
            if e["reason"].startswith("never sent"):
                assert (u, e["opid"]) not in srv.opids
        for e in d.evs("read_ok"):
            assert e["upto"] <= len(srv.convs.get(AB, []))
        # the display has each stored message once, in seq order
        shown = d.engine.messages(AB)
        assert [m["seq"] for m in shown] == list(range(1, len(srv.convs.get(AB, [])) + 1))
        d.stop()
        assert not d.engine.timers
    assert d.fired_twice == []


FRAME = st.fixed_dictionaries(
    {"t": st.sampled_from(["login_ok", "msg", "sync_batch", "send_ack", "pong", "error",
                           "read_sync", "receipt", "op_ok", "read_ok", "reads_ok",
                           "state_ok", "bogus"])},
    optional={"rid": st.integers(-1, 30), "useq": st.integers(-2, 8),
              "seq": st.integers(0, 8), "mid": st.sampled_from(["m1", "m2", "m3"]),
              "conv": st.one_of(st.just(AB), st.just("g:x"), st.integers()),
              "cmid": st.text(max_size=3), "acked": st.integers(0, 9),
              "opid": st.text(max_size=3), "dup": st.booleans(),
              "inbox_seq": st.integers(0, 9), "hb_ms": st.integers(0, 5000),
              "more": st.booleans(), "upto": st.one_of(st.integers(-1, 9), st.text()),
              "code": st.sampled_from(["internal", "forbidden", "rate_limited"]),
              "retry_after_ms": st.integers(-5, 5000), "server_ts": st.integers(0, 10**6),
              "marks": st.one_of(st.dictionaries(st.text(max_size=3), st.integers()),
                                 st.integers()),
              "kind": st.sampled_from(["text", "event"]),
              "body": st.one_of(st.text(max_size=3), st.fixed_dictionaries(
                  {"op": st.sampled_from(["group_create", "group_add", "group_remove"]),
                   "user": st.just("alice"), "members": st.just(["alice"])})),
              "msgs": st.lists(st.fixed_dictionaries(
                  {"mid": st.sampled_from(["m1", "m2"]), "conv": st.just(AB),
                   "seq": st.integers(1, 4), "useq": st.integers(1, 6)}), max_size=4)})
INPUT = st.one_of(
    st.tuples(st.just("frame"), FRAME),
    st.tuples(st.just("open"), st.none()),
    st.tuples(st.just("failed"), st.one_of(st.none(), st.integers(0, 5000))),
    st.tuples(st.just("closed"), st.none()),
    st.tuples(st.just("route"), st.lists(st.sampled_from(URLS), max_size=2)),
    st.tuples(st.just("unrouted"), st.none()),
    st.tuples(st.just("net"), st.booleans()),
    st.tuples(st.just("timer"), st.sampled_from(["reconnect", "login", "ping", "ack", "sync",
                                                 "sends", "route", "instr", "nope"])),
    st.tuples(st.just("send"), st.none()),
    st.tuples(st.just("op"), st.none()),
    st.tuples(st.just("read"), st.integers(0, 5)),
    st.tuples(st.just("state"), st.none()),
    st.tuples(st.just("tick"), st.floats(0, 20)),
)


@settings(max_examples=300, deadline=None)
@given(inputs=st.lists(INPUT, max_size=60), lbs=st.booleans())
def test_arbitrary_inputs_never_raise(inputs: list[tuple[str, Any]], lbs: bool) -> None:
    """Raw inputs in any order (a confused driver, a hostile server): never an exception."""
    eng = DeviceEngine("alice", "d0", "tok", URLS, rng=random.Random(0), lbs=lbs)
    now = 0.0
    armed: dict[str, float] = {}
    held = 0
    eng.start(now)
    inputs = [("tick", 0.0), *inputs]  # drains what start asked for first
    for kind, arg in inputs:
        if kind == "frame":
            eng.frame_received(dict(arg), now)
        elif kind == "open":
            eng.transport_open(now)
        elif kind == "failed":
            eng.transport_failed(now, "refused", arg)
        elif kind == "closed":
            eng.transport_closed(now, "reset")
        elif kind == "route":
            eng.route_received(now, arg)
        elif kind == "unrouted":
            eng.route_failed(now, "refused")
        elif kind == "net":
            eng.network_changed(arg, now)
        elif kind == "timer":
            if arg in armed:
                now = max(now, armed.pop(arg))
            eng.timer_fired(arg, now)
        elif kind == "send":
            eng.send_message(AB, "b", now)
        elif kind == "op":
            eng.do_op("pin", {"conv": AB, "pinned": True}, now)
        elif kind == "read":
            eng.mark_read(AB, now, arg)
        elif kind == "state":
            eng.request_state(now)
        elif kind == "tick":
            now += arg
        for a in eng.actions():
            if isinstance(a, SetTimer):
                armed[a.name] = a.at
            elif isinstance(a, CancelTimer):
                armed.pop(a.name, None)
        assert armed == eng.timers
        assert eng.held_upto >= held
        held = eng.held_upto
    eng.stop(now)
    eng.actions()
    assert eng.pending_sends == 0 and eng.pending_instructions == 0 and eng.timers == {}


def test_request_sync_catches_up_to_the_end() -> None:
    w, a, b = alice_and_bob()
    assert a.engine.caught_up
    w.server.drop_pushes = True
    b.send(AB, "one")
    b.send(AB, "two")
    w.run()
    assert a.engine.held_upto == 0 and a.engine.caught_up  # it cannot know yet
    a.engine.request_sync(w.net.now)
    a.pump()
    assert not a.engine.caught_up
    w.run()
    assert a.engine.held_upto == 2 and a.engine.caught_up
    assert [e["via"] for e in a.evs("deliver")] == ["sync", "sync"]


def test_a_users_other_device_sees_its_sends() -> None:
    w = World()
    phone, laptop, b = w.device("alice", "d0"), w.device("alice", "d1"), w.device("bob")
    w.run()
    cmid = phone.send(AB, "from the phone")
    w.run()
    (d,) = laptop.evs("deliver")
    assert d["cmid"] == cmid and d["from_device"] == "d0" and d["via"] == "push"
    assert [m["cmid"] for m in laptop.engine.messages(AB)] == [cmid]
    assert len(b.evs("deliver")) == 1


def test_is_valid_msg_wants_the_fields_and_their_types() -> None:
    from imload.client.inbox import is_valid_msg

    class D(dict):  # type: ignore[type-arg]
        pass

    good = {"mid": "m1", "conv": "d:a:b", "seq": 1, "useq": 2}
    assert is_valid_msg(good) and is_valid_msg(D(good))
    for field, bad in (("mid", 1), ("conv", None), ("seq", True), ("useq", "2"), ("seq", 1.0)):
        assert not is_valid_msg({**good, field: bad})
        assert not is_valid_msg(D({**good, field: bad}))
    assert not is_valid_msg({k: v for k, v in good.items() if k != "useq"})
    assert not is_valid_msg([good])
