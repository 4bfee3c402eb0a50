"""Connection life: LBS routing with fallback, backoff recorded in the journal, and the
seed's three (plus one) ways of finding out the device is offline."""

from __future__ import annotations

from engine_harness import AB, URLS, World, alice_online

from imload.client import Backoff, Conn, EngineConfig, FetchRoute


def test_lbs_route_is_asked_first_and_its_order_dialled() -> None:
    w = World(lbs=True)
    w.server.lbs = [URLS[1], URLS[0]]
    a = w.device("alice", start=False)
    a.engine.start(0.0)
    acts = a.engine.actions()
    assert FetchRoute("alice", "d0") in acts and a.engine.state is Conn.ROUTING
    w2 = World(lbs=True)
    w2.server.lbs = [URLS[1], URLS[0]]
    b = w2.device("alice")
    w2.run()
    (c,) = b.evs("connect")
    assert c["url"] == URLS[1] and c["route"] == "lbs"
    assert b.evs("connected")[0]["route"] == "lbs" and w2.server.routes == 1


def test_next_node_of_the_route_on_failure_then_route_again() -> None:
    w = World(lbs=True, backoff=Backoff("fixed", 0.5, 0.5))
    w.server.lbs = list(URLS)
    w.server.down.update(URLS)
    a = w.device("alice")
    w.run(1.2)
    assert [e["url"] for e in a.evs("connect")] == [URLS[0], URLS[1], URLS[0]]
    assert w.server.routes == 2  # asked again once both nodes of its answer failed
    w.server.down.clear()
    w.run(1)
    assert a.engine.online


def test_lost_connection_asks_the_lbs_again() -> None:
    w = World(lbs=True)
    w.server.lbs = [URLS[0]]
    a = w.device("alice")
    w.run()
    w.server.lbs = [URLS[1]]
    w.server.kill()
    w.run(6)
    assert a.engine.online and a.engine.url == URLS[1] and w.server.routes == 2


def test_lbs_down_falls_back_to_the_static_nodes() -> None:
    w = World(lbs=True)
    w.server.lbs = None
    a = w.device("alice")
    w.run()
    assert a.engine.online
    assert a.evs("connect")[0]["route"] == "static"


def test_lbs_without_nodes_is_a_failed_attempt_with_backoff() -> None:
    w = World(lbs=True, backoff=Backoff("fixed", 2.0, 2.0))
    w.server.lbs = []
    a = w.device("alice")
    w.run(1)
    (cf,) = a.evs("connect_failed")
    assert "no node" in cf["reason"] and cf["retry_in_s"] == 2.0
    w.server.lbs = [URLS[0]]
    w.run(2)
    assert a.engine.online


def test_backoff_policy_and_delay_are_journaled() -> None:
    w = World(backoff=Backoff("exponential", 0.1, 10.0))
    w.server.down.update(URLS)
    a = w.device("alice")
    w.run(3.5)
    fails = a.evs("connect_failed")
    assert [f["retry_in_s"] for f in fails[:4]] == [0.1, 0.2, 0.4, 0.8]
    assert {f["backoff"] for f in fails} == {"exponential"}
    connects = a.evs("connect")
    for f, nxt in zip(fails, connects[1:], strict=False):
        assert nxt["at"] >= f["at"] + f["retry_in_s"] - 1e-9
    w.server.down.clear()
    w.run(5)
    w.server.kill()
    w.run(0.01)
    disc = a.evs("disconnected")[-1]
    assert disc["backoff"] == "exponential" and disc["retry_in_s"] == 0.1  # n reset by login


def test_requests_in_a_row_without_answer_declare_the_connection_dead() -> None:
    w, a = alice_online(config=EngineConfig(ack_timeout_s=2, max_request_failures=3))
    w.server.swallow_sends = 3
    w.server.mute_pongs = True
    for i in range(3):
        a.send(AB, f"m{i}")
    w.run(2.1)
    assert "3 requests in a row" in a.evs("disconnected")[0]["reason"]
    w.server.mute_pongs = False
    w.run(5)
    assert a.engine.online and len(a.evs("send_ok")) == 3


def test_an_answer_in_between_resets_the_count() -> None:
    w, a = alice_online(config=EngineConfig(ack_timeout_s=2, max_request_failures=2))
    w.server.swallow_sends = 1
    a.send(AB, "lost once")
    w.run(1)
    a.send(AB, "answered")
    w.run(1.5)  # the first timed out once, the second was answered: still connected
    assert a.engine.session == 1 and not a.evs("disconnected")


def test_network_down_stops_attempts_and_up_dials_at_once() -> None:
    w, a = alice_online(backoff=Backoff("fixed", 30.0, 30.0))
    a.network(False)
    assert a.engine.state is Conn.OFFLINE and not a.engine.network_up
    cmid = a.send(AB, "typed in the tunnel")
    w.run(60)
    assert len(a.evs("connect")) == 1 and a.engine.pending_sends == 1
    a.network(True)
    w.run(0.1)
    assert a.engine.online and a.evs("send_ok", cmid=cmid)
    assert a.evs("connect")[-1]["attempt"] == 1


def test_network_down_while_connecting_or_in_backoff() -> None:
    w = World()
    w.server.down.update(URLS)
    a = w.device("alice")
    w.run(0.0005)
    assert a.engine.state is Conn.CONNECTING
    a.network(False)
    assert a.evs("connect_failed")[-1]["reason"] == "network down"
    w.run(1)
    assert a.engine.state is Conn.OFFLINE and not a.engine.timers
    w.server.down.clear()
    a.network(True)
    w.run(0.1)
    assert a.engine.online
