"""The gevent driver against a real local cluster (redis-server, Toxiproxy, 2 reference nodes).

The process is not monkey-patched: the driver uses gevent's own sockets, so
these tests run it as they are, with greenlets for the devices.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gevent
import pytest
from adapter_helpers import RefusingAdapter
from conftest import agree, own_node

from imload.adapters import DeviceIdentity
from imload.client import Backoff, DeviceEngine, EngineConfig, Metric, MsgState
from imload.cluster import LocalCluster
from imload.drivers import (
    GeventDevice,
    RouteError,
    fetch_route,
    measure_wall_offset,
    retry_after_ms,
)
from imload.journal import JournalWriter, read_journal
from imload.protocol import direct_conv, mint_token

pytestmark = pytest.mark.integration


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[JournalWriter]:
    with JournalWriter(tmp_path / "journal", "driver-test") as j:
        yield j


def make_device(cluster: LocalCluster, journal: JournalWriter, user: str, urls: list[str],
                seed: int = 0, **config: Any) -> GeventDevice:
    engine = DeviceEngine(user, "d0", mint_token(cluster.secret, user, "d0"), urls,
                          rng=random.Random(seed),
                          backoff=Backoff("full_jitter", 0.1, 1.0),
                          config=EngineConfig(wall_offset=measure_wall_offset(), **config))
    metrics: list[Metric] = []
    records: list[dict[str, Any]] = []
    dev = GeventDevice(engine, journal, on_record=records.append, on_metric=metrics.append)
    dev.metrics = metrics  # type: ignore[attr-defined]
    dev.records = records  # type: ignore[attr-defined]
    return dev


def ensure_up(cluster: LocalCluster, node: str) -> None:
    """Leave the session's shared cluster whole for the next test."""
    if not cluster.status()[node]["alive"]:
        cluster.restart_node(node)


def start_both(a: GeventDevice, b: GeventDevice) -> None:
    """Start both devices; both are online within 10 s."""
    a.start()
    b.start()
    assert a.wait_until(lambda: a.online and b.online, 10)


def evs(dev: GeventDevice, kind: str, **match: Any) -> list[dict[str, Any]]:
    return [e for e in dev.records  # type: ignore[attr-defined]
            if e["ev"] == kind and all(e.get(k) == v for k, v in match.items())]


def test_two_devices_on_different_nodes_exchange_messages(cluster: LocalCluster,
                                                          journal: JournalWriter) -> None:
    alice, bob = f"a{uuid.uuid4().hex[:8]}", f"b{uuid.uuid4().hex[:8]}"
    conv = direct_conv(alice, bob)
    a = make_device(cluster, journal, alice, [cluster.node_url("n1")])
    b = make_device(cluster, journal, bob, [cluster.node_url("n2")])
    try:
        start_both(a, b)
        sent_a = [a.send_message(conv, f"from alice {i}") for i in range(5)]
        sent_b = [b.send_message(conv, f"from bob {i}") for i in range(5)]
        assert a.wait_until(lambda: len(a.engine.messages(conv)) == 10
                            and len(b.engine.messages(conv)) == 10, 10)
        for dev, cmids in ((a, sent_a), (b, sent_b)):
            assert all(dev.engine.send_state(c) is MsgState.ACKED for c in cmids)
        # one order for both devices, seqs 1..10
        order_a = [(m["seq"], m["mid"]) for m in a.engine.messages(conv)]
        assert order_a == [(m["seq"], m["mid"]) for m in b.engine.messages(conv)]
        assert [s for s, _ in order_a] == list(range(1, 11))
        assert {e["node"] for e in evs(a, "connected")} == {"n1"}
        assert {e["node"] for e in evs(b, "connected")} == {"n2"}
        assert evs(b, "deliver", via="push", **{"from": alice})
        names = [m.name for m in a.metrics if m.error is None]  # type: ignore[attr-defined]
        assert names.count("send-ack") == 5 and "login" in names and "sync" in names
        assert a.wait_until(lambda: a.engine.clock_offset_ms is not None, 1) or True
    finally:
        a.stop(drain_s=2)
        b.stop(drain_s=2)
    assert not a.errors and not b.errors
    journal.flush()
    kinds = {e["ev"] for e in read_journal(journal.path.parent).events}
    assert {"device", "connect", "connected", "send", "send_ok", "deliver",
            "disconnected"} <= kinds


def test_node_killed_device_moves_and_unacked_sends_get_acked(cluster: LocalCluster,
                                                              journal: JournalWriter) -> None:
    alice, bob = f"a{uuid.uuid4().hex[:8]}", f"b{uuid.uuid4().hex[:8]}"
    conv = direct_conv(alice, bob)
    urls = [cluster.node_url("n1"), cluster.node_url("n2")]
    # seed chosen so that alice starts on n1: the node we kill
    seed = next(s for s in range(100) if random.Random(s).randrange(2) == 0)
    a = make_device(cluster, journal, alice, urls, seed=seed, hb_ms=1000, ack_timeout_s=30)
    b = make_device(cluster, journal, bob, [cluster.node_url("n2")])
    try:
        start_both(a, b)
        assert evs(a, "connected")[0]["node"] == "n1"
        cluster.kill_node("n1")
        # the engine finds out (close, reset or missing pongs); sends made meanwhile wait
        cmids = [a.send_message(conv, f"during the outage {i}") for i in range(3)]
        assert a.wait_until(lambda: a.engine.session >= 2 and a.engine.pending_sends == 0, 20)
        assert evs(a, "connected")[-1]["node"] == "n2"
        assert evs(a, "disconnected", session=1)
        for c in cmids:
            assert a.engine.send_state(c) is MsgState.ACKED
            assert len(evs(a, "send_ok", cmid=c)) == 1
            attempts = evs(a, "send", cmid=c)
            assert {e["cmid"] for e in attempts} == {c}
            assert [e["attempt"] for e in attempts] == list(range(1, len(attempts) + 1))
        # every message reached bob, once in his display
        assert b.wait_until(lambda: len(b.engine.messages(conv)) == 3, 10)
        cluster.restart_node("n1")
        after = a.send_message(conv, "after the restart")
        assert a.wait_until(lambda: a.engine.send_state(after) is MsgState.ACKED, 10)
    finally:
        a.stop(drain_s=2)
        b.stop(drain_s=2)
        ensure_up(cluster, "n1")
    assert not a.errors


def test_resend_after_kill_keeps_cmid_and_counts_attempts(cluster: LocalCluster,
                                                          journal: JournalWriter) -> None:
    """A send on the wire when its node dies is resent after the next login_ok: same cmid,
    attempt + 1, and the server stores it once."""
    alice, bob = f"a{uuid.uuid4().hex[:8]}", f"b{uuid.uuid4().hex[:8]}"
    conv = direct_conv(alice, bob)
    urls = [cluster.node_url("n1"), cluster.node_url("n2")]
    seed = next(s for s in range(100) if random.Random(s).randrange(2) == 0)
    a = make_device(cluster, journal, alice, urls, seed=seed, hb_ms=1000)
    b = make_device(cluster, journal, bob, [cluster.node_url("n2")])
    try:
        start_both(a, b)
        cluster.kill_node("n1")
        gevent.sleep(0)  # the kill has happened; the device does not know yet
        cmid = a.send_message(conv, "sent into a dead node")
        assert a.wait_until(lambda: a.engine.send_state(cmid) is MsgState.ACKED, 20)
        attempts = evs(a, "send", cmid=cmid)
        ok = evs(a, "send_ok", cmid=cmid)
        assert len(ok) == 1 and ok[0]["session"] >= 2
        if len(attempts) > 1:
            assert attempts[0]["session"] == 1 and attempts[-1]["session"] == ok[0]["session"]
            assert [e["attempt"] for e in attempts] == list(range(1, len(attempts) + 1))
        assert b.wait_until(lambda: len(b.engine.messages(conv)) == 1, 10)
        gevent.sleep(0.3)
        assert len([e for e in evs(b, "deliver") if e["cmid"] == cmid]) >= 1
        assert len(b.engine.messages(conv)) == 1
    finally:
        a.stop(drain_s=2)
        b.stop(drain_s=2)
        ensure_up(cluster, "n1")


def test_refused_connections_rotate_urls_then_connect(cluster: LocalCluster,
                                                      journal: JournalWriter) -> None:
    dead = "ws://127.0.0.1:9/ws"  # discard port: nothing listens
    user = f"c{uuid.uuid4().hex[:8]}"
    seed = next(s for s in range(100) if random.Random(s).randrange(2) == 0)
    d = make_device(cluster, journal, user, [dead, cluster.node_url("n2")], seed=seed)
    try:
        d.start()
        assert d.wait_until(lambda: d.online, 10)
        (failed,) = evs(d, "connect_failed")
        assert failed["retry_after_ms"] is None
        assert [e["url"] for e in evs(d, "connect")] == [dead, cluster.node_url("n2")]
    finally:
        d.stop(drain_s=0)
    assert evs(d, "disconnected")[-1]["reason"] == "stop"


def test_stop_settles_pending_sends_when_offline(cluster: LocalCluster,
                                                 journal: JournalWriter) -> None:
    user = f"s{uuid.uuid4().hex[:8]}"
    d = make_device(cluster, journal, user, ["ws://127.0.0.1:9/ws"])
    d.start()
    cmid = d.send_message(direct_conv(user, "zz"), "nobody will carry this")
    t0 = d.clock()
    d.stop(drain_s=0.3)
    assert d.clock() - t0 < 3
    (fail,) = evs(d, "send_fail", cmid=cmid)
    assert fail["reason"] == "stopped before it was sent"
    assert d._greenlet is not None and d._greenlet.dead


def test_retry_after_header_parsing() -> None:
    assert retry_after_ms({"Retry-After": "2"}) == 2000
    assert retry_after_ms({"retry-after": "0.5"}) == 500
    assert retry_after_ms({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) is None
    assert retry_after_ms(None) is None


@pytest.fixture
def one_slot_node(cluster: LocalCluster, tmp_path: Path) -> Iterator[str]:
    """An extra reference node on the cluster's store that holds a single connection."""
    with own_node(cluster, tmp_path, "--max-conns", "1") as node:
        yield f"ws://127.0.0.1:{node.port}/ws"


def test_http_503_retry_after_is_honoured(cluster: LocalCluster, journal: JournalWriter,
                                          one_slot_node: str) -> None:
    first = make_device(cluster, journal, f"f{uuid.uuid4().hex[:8]}", [one_slot_node])
    second = make_device(cluster, journal, f"s{uuid.uuid4().hex[:8]}", [one_slot_node])
    try:
        first.start()
        assert first.wait_until(lambda: first.online, 10)
        second.start()
        assert second.wait_until(lambda: bool(evs(second, "connect_failed")), 10)
        failed = evs(second, "connect_failed")[0]
        assert failed["reason"] == "HTTP 503" and failed["retry_after_ms"] is not None
        first.stop(drain_s=0)
        assert second.wait_until(lambda: second.online, 30)
        connects = evs(second, "connect")
        assert connects[1]["at"] >= failed["at"] + failed["retry_after_ms"] / 1000 - 0.01
    finally:
        first.stop(drain_s=0)
        second.stop(drain_s=0)


# ------------------------------------------------------- LBS, network, ops, reads

def make_lbs_device(cluster: LocalCluster, journal: JournalWriter, user: str,
                    device: str = "d0", urls: list[str] | None = None,
                    **config: Any) -> GeventDevice:
    engine = DeviceEngine(user, device, mint_token(cluster.secret, user, device),
                          urls or [cluster.node_url("n1")], rng=random.Random(3),
                          backoff=Backoff("full_jitter", 0.1, 1.0),
                          config=EngineConfig(wall_offset=measure_wall_offset(), **config),
                          lbs=True)
    records: list[dict[str, Any]] = []
    dev = GeventDevice(engine, journal, on_record=records.append, lbs=cluster.lbs_url)
    dev.records = records  # type: ignore[attr-defined]
    return dev


def test_fetch_route_from_the_clusters_lbs(cluster: LocalCluster) -> None:
    got: list[list[str]] = []
    g = gevent.spawn(lambda: got.append(fetch_route(cluster.lbs_url, "someone", "d0")))
    g.join(10)
    (urls,) = got
    assert sorted(urls) == sorted(cluster.node_url(n) for n in ("n1", "n2"))
    with pytest.raises(RouteError, match="HTTP 400"):
        gevent.spawn(fetch_route, cluster.lbs_url, "bad name!", "d0").get(timeout=10)
    with pytest.raises(RouteError, match="ConnectionRefused"):
        gevent.spawn(fetch_route, "http://127.0.0.1:9", "u", "d0").get(timeout=10)


def test_device_routes_through_the_lbs_and_falls_back_when_it_is_gone(
        cluster: LocalCluster, journal: JournalWriter) -> None:
    user = f"l{uuid.uuid4().hex[:8]}"
    d = make_lbs_device(cluster, journal, user)
    try:
        d.start()
        assert d.wait_until(lambda: d.online, 10)
        (c,) = evs(d, "connect")
        assert c["route"] == "lbs"
        assert c["url"] in {cluster.node_url("n1"), cluster.node_url("n2")}
    finally:
        d.stop(drain_s=0)
    gone = make_lbs_device(cluster, journal, user, device="d1")
    gone.lbs = "http://127.0.0.1:9"
    try:
        gone.start()
        assert gone.wait_until(lambda: gone.online, 10)
        assert evs(gone, "connect")[0]["route"] == "static"
    finally:
        gone.stop(drain_s=0)


def test_queued_ops_and_reads_go_out_after_the_network_returns(
        cluster: LocalCluster, journal: JournalWriter) -> None:
    alice, bob = f"a{uuid.uuid4().hex[:8]}", f"b{uuid.uuid4().hex[:8]}"
    group = f"g:t{uuid.uuid4().hex[:8]}"
    agree(cluster, alice, bob)
    a = make_device(cluster, journal, alice, [cluster.node_url("n1")])
    b = make_device(cluster, journal, bob, [cluster.node_url("n2")])
    try:
        start_both(a, b)
        a.do_op("group_create", {"conv": group, "members": [bob]})
        assert b.wait_until(lambda: b.engine.in_group(group) is True, 10)
        b.send_message(group, "hello group")
        assert a.wait_until(lambda: a.engine.inbox.display.top.get(group) == 2, 10)
        a.set_network(False)
        assert not a.online
        opids = [a.do_op("pin", {"conv": group, "pinned": True}),
                 a.do_op("contact_add", {"user": bob})]
        assert a.mark_read(group) == 2
        gevent.sleep(0.3)
        assert len(evs(a, "op")) == 1  # only the group_create, from before
        a.set_network(True)
        assert a.wait_until(lambda: a.engine.idle and a.online, 10)
        ops = [e for e in evs(a, "op") if e["opid"] in opids]
        assert [e["opid"] for e in ops] == opids and all(e["queued"] for e in ops)
        assert all(evs(a, "op_ok", opid=o) for o in opids)
        assert evs(a, "read_ok", conv=group)[0]["upto"] == 2
        assert b.wait_until(lambda: bool(evs(b, "receipt")), 5)
        assert a.request_state()
        assert a.wait_until(lambda: bool(evs(a, "state")), 5)
        st = evs(a, "state")[-1]
        assert group in st["pinned"] and bob in st["contacts"] and group in st["groups"]
        assert evs(a, "marks")
    finally:
        a.stop(drain_s=1)
        b.stop(drain_s=1)
    assert not a.errors and not b.errors


class _NoOpsAdapter(RefusingAdapter):
    """Protocol v1 without ops: an ``op`` intent is answered by the adapter itself."""

    refuses = ("op",)
    message = "no ops in this protocol"


def test_an_adapters_own_events_reach_the_engine(cluster: LocalCluster,
                                                 journal: JournalWriter) -> None:
    alice, bob = f"a{uuid.uuid4().hex[:8]}", f"b{uuid.uuid4().hex[:8]}"
    engine = DeviceEngine(alice, "d0", mint_token(cluster.secret, alice, "d0"),
                          [cluster.node_url("n1")], rng=random.Random(0),
                          config=EngineConfig(wall_offset=measure_wall_offset()))
    records: list[dict[str, Any]] = []
    adapter = _NoOpsAdapter(DeviceIdentity(alice, "d0", engine.token))
    a = GeventDevice(engine, journal, on_record=records.append, adapter=adapter)
    try:
        a.start()
        assert a.wait_until(lambda: a.online, 10)
        opid = a.do_op("contact_add", {"user": bob})
        cmid = a.send_message(direct_conv(alice, bob), "still here")
        assert a.wait_until(lambda: a.engine.idle, 10)
        fails = [e for e in records if e["ev"] == "op_fail"]
        assert [(e["opid"], e["reason"]) for e in fails] == [
            (opid, "unsupported: no ops in this protocol")]
        assert a.engine.send_state(cmid) is MsgState.ACKED and a.online
    finally:
        a.stop(drain_s=1)
    assert not a.errors


def test_a_device_whose_inbox_holds_200_messages_of_60kb_catches_up(
        cluster: LocalCluster, journal: JournalWriter) -> None:
    """12 MB waiting: the node answers its syncs in batches bounded in bytes (docs/protocol.md)
    and the engine syncs again while ``more`` says so, until it holds every message."""
    alice, bob = f"a{uuid.uuid4().hex[:8]}", f"b{uuid.uuid4().hex[:8]}"
    conv = direct_conv(alice, bob)
    a = make_device(cluster, journal, alice, [cluster.node_url("n1")])
    b = make_device(cluster, journal, bob, [cluster.node_url("n2")])
    body = "y" * 60_000
    try:
        a.start()
        assert a.wait_until(lambda: a.online, 10)
        cmids = [a.send_message(conv, f"{i:03d}{body}") for i in range(200)]
        assert a.wait_until(lambda: all(a.engine.send_state(c) is MsgState.ACKED
                                        for c in cmids), 60)
        asked: list[int] = []  # the sync requests bob's engine makes
        start_sync = b.engine._start_sync

        def counted(*args: Any, **kw: Any) -> None:
            asked.append(1)
            start_sync(*args, **kw)

        b.engine._start_sync = counted  # type: ignore[method-assign]
        b.start()
        assert b.wait_until(lambda: len(b.engine.messages(conv)) == 200, 60)
        assert len(asked) >= 200 // 8  # about 8 entries of 60 KB per 512 KiB batch
        assert [m["body"][:3] for m in b.engine.messages(conv)] == \
            [f"{i:03d}" for i in range(200)]
        assert len(evs(b, "deliver", via="sync")) == 200  # none pushed: bob was away
        syncs = [m for m in b.metrics if m.name == "sync"]  # type: ignore[attr-defined]
        assert syncs and all(m.error is None for m in syncs)  # one catch-up, many batches
    finally:
        a.stop(drain_s=2)
        b.stop(drain_s=2)
    assert not a.errors and not b.errors
