"""The audit against a real cluster: every device syncs from what it holds to the end."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from adapter_helpers import RefusingAdapter
from conftest import Connect, agree, unique
from mqtt_helpers import MqttClient, dynsec

from imload.adapters import PROTOCOLS
from imload.adapters.mqtt.adapter import MqttAdapter
from imload.adapters.mqtt.topics import chat_payload
from imload.audit import devices_to_audit, run_audit
from imload.cluster import LocalCluster
from imload.cluster.backends import MosquittoCluster
from imload.cluster.backends.mosquitto_config import ADMIN_USER
from imload.journal import event
from imload.protocol import direct_conv

pytestmark = pytest.mark.integration


def test_devices_to_audit_takes_the_contiguous_prefix() -> None:
    evs = [event("device", 0, user="a", device="d0"), event("device", 0, user="b", device="d0")]
    for useq in (1, 2, 4):
        evs.append({"ev": "deliver", "at": 1, "user": "a", "device": "d0", "useq": useq})
    assert devices_to_audit(evs) == {("a", "d0"): 2, ("b", "d0"): 0}


def test_audit_delivers_what_a_device_missed(cluster: LocalCluster, open_client: Connect) -> None:
    a, b = unique("a"), unique("b")
    sender = open_client(a, "d0")
    conv = direct_conv(a, b)
    for i in range(3):
        assert sender.request("send", cmid=f"c{i}", conv=conv, body=f"hi {i}")["t"] == "send_ack"
    # b's device held useq 1 already; the audit must bring 2 and 3, and a's device all three
    journal = [event("device", 0, user=a, device="d0"), event("device", 0, user=b, device="d0"),
               {"ev": "deliver", "at": 0, "user": b, "device": "d0", "useq": 1}]
    recorded: list[dict[str, Any]] = []
    result = run_audit(devices_to_audit(journal), [cluster.node_url("n2")], cluster.secret,
                       recorded.append, timeout_s=20)
    assert result.failed == [] and result.synced == 2
    got = {(e["user"], e["useq"]) for e in recorded if e["ev"] == "deliver"}
    assert got == {(a, 1), (a, 2), (a, 3), (b, 2), (b, 3)}
    assert all(e["phase"] == "audit" and e["via"] == "sync" for e in recorded
               if e["ev"] == "deliver")
    assert [e["action"] for e in recorded if e["ev"] == "audit"].count("done") == 2


def test_audit_of_an_unreachable_node_fails_within_its_bound() -> None:
    journal = [event("device", 0, user="x", device="d0")]
    started = time.monotonic()
    result = run_audit(devices_to_audit(journal), ["ws://127.0.0.1:9/ws"], "s" * 32, lambda e: None,
                       timeout_s=1.5)
    assert result.synced == 0 and result.failed[0].startswith("x/d0: ws://127.0.0.1:9/ws")
    assert time.monotonic() - started < 15


def test_audit_records_the_final_marks_and_state(cluster: LocalCluster,
                                                 open_client: Connect) -> None:
    a, b = unique("a"), unique("b")
    conv = direct_conv(a, b)
    sender = open_client(a, "d0")
    assert sender.request("send", cmid="c1", conv=conv, body="hi")["t"] == "send_ack"
    assert sender.request("read", conv=conv, upto=1)["t"] == "read_ok"
    op = sender.request("op", opid="o1", kind="contact_add", args={"user": b})
    assert op["t"] == "op_ok"
    journal = [event("device", 0, user=a, device="d0"), event("device", 0, user=a, device="d1")]
    recorded: list[dict[str, Any]] = []
    result = run_audit(devices_to_audit(journal), [cluster.node_url("n1")], cluster.secret,
                       recorded.append, timeout_s=20)
    assert result.failed == [] and result.synced == 2
    marks = [e for e in recorded if e["ev"] == "marks"]
    states = [e for e in recorded if e["ev"] == "state"]
    assert sorted(e["device"] for e in marks) == ["d0", "d1"]
    assert all(e["marks"] == {conv: 1} and e["phase"] == "audit" and e["session"] == 0
               for e in marks)
    assert all(e["contacts"] == [b] and e["pinned"] == [] and e["phase"] == "audit"
               for e in states) and len(states) == 2
    # recorded before the device's audit is done: the checks read them as the final word
    order = [e["ev"] for e in recorded if e["device"] == "d0"]
    assert order.index("marks") < order.index("state") < len(order) - 1
    assert order[-1] == "audit"


def test_audit_records_group_events_with_their_kind(cluster: LocalCluster,
                                                    open_client: Connect) -> None:
    a, b = unique("a"), unique("b")
    group = f"g:{unique('t')}"
    agree(cluster, a, b)
    c = open_client(a, "d0")
    ok = c.request("op", opid="g1", kind="group_create", args={"conv": group, "members": [b]})
    assert ok["t"] == "op_ok", ok
    recorded: list[dict[str, Any]] = []
    run_audit(devices_to_audit([event("device", 0, user=b, device="d0")]), [cluster.node_url("n1")],
              cluster.secret, recorded.append, timeout_s=20)
    got = [e for e in recorded if e["ev"] == "deliver"]
    assert len(got) == 1 and got[0]["kind"] == "event" and got[0]["cmid"] == "op:g1"
    assert got[0]["event"]["op"] == "group_create" and sorted(got[0]["event"]["members"]) == \
        sorted([a, b])


def test_an_older_server_without_reads_and_state_still_audits(tmp_path: object) -> None:
    """A server that answers unknown_type to reads and state: nothing recorded for them."""
    import asyncio
    import threading

    import orjson
    from websockets.asyncio.server import serve

    async def handler(ws: Any) -> None:
        async for raw in ws:
            f = orjson.loads(raw)
            t, rid = f.get("t"), f.get("rid")
            if t == "login":
                reply = {"t": "login_ok", "rid": rid, "user": "x", "device": "d0",
                         "node": "old", "server_ts": 0, "hb_ms": 10000, "inbox_seq": 1,
                         "acked": 0}
            elif t == "sync":
                reply = {"t": "sync_batch", "rid": rid, "upto": 1, "more": False, "msgs": [
                    {"mid": "m1", "conv": "d:x:y", "seq": 1, "from": "y", "from_device": "d0",
                     "cmid": "c1", "body": "hi", "ts": 0, "server_ts": 0, "useq": 1}]}
            elif t == "ack":
                continue
            else:
                reply = {"t": "error", "rid": rid, "code": "unknown_type", "msg": t}
            await ws.send(orjson.dumps(reply).decode())

    ready = threading.Event()
    stop: list[Any] = []

    def serve_forever() -> None:
        async def main() -> None:
            async with serve(handler, "127.0.0.1", 0) as server:
                stop.append((asyncio.get_running_loop(), asyncio.Event()))
                port = next(iter(server.sockets)).getsockname()[1]
                stop.append(port)
                ready.set()
                await stop[0][1].wait()
        asyncio.run(main())

    thread = threading.Thread(target=serve_forever, daemon=True)
    thread.start()
    assert ready.wait(5)
    try:
        recorded: list[dict[str, Any]] = []
        result = run_audit(devices_to_audit([event("device", 0, user="x", device="d0")]),
                           [f"ws://127.0.0.1:{stop[1]}/ws"], "s" * 32, recorded.append,
                           timeout_s=10)
        assert result.failed == [] and result.synced == 1
        assert [e["ev"] for e in recorded] == ["audit", "deliver", "audit"]
        assert "kind" not in recorded[1]  # an old server's entry has no kind: none recorded
    finally:
        loop, done = stop[0]
        loop.call_soon_threadsafe(done.set)
        thread.join(5)


class NoStateAdapter(RefusingAdapter):
    """Protocol v1 without ``reads`` and ``state``: the adapter refuses them itself."""

    name = "v1-nostate"
    refuses = ("reads", "state")


def test_audit_speaks_through_the_targets_adapter(cluster: LocalCluster, open_client: Connect,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PROTOCOLS, "v1-nostate", "test_audit:NoStateAdapter")
    a, b = unique("a"), unique("b")
    sender = open_client(a, "d0")
    assert sender.request("send", cmid="c1", conv=direct_conv(a, b), body="hi")["t"] == "send_ack"
    recorded: list[dict[str, Any]] = []
    result = run_audit(devices_to_audit([event("device", 0, user=b, device="d0")]),
                       [cluster.node_url("n1")], cluster.secret, recorded.append, timeout_s=20,
                       protocol="v1-nostate")
    assert result.failed == [] and result.synced == 1 and result.messages == 1
    kinds = [e["ev"] for e in recorded]
    assert kinds == ["audit", "deliver", "audit"]  # no marks, no state: skipped, not failed


def test_audit_records_the_queue_a_kept_mqtt_session_gets(tmp_path: Path,
                                                          mosquitto_installed: None) -> None:
    """MQTT keeps no history: what was published to a device while it was away arrives as
    pushes when its session resumes. The audit records them, and syncs again until a round
    brings none, so a queue longer than the broker's in-flight window (20) drains too."""
    cluster = MosquittoCluster(tmp_path)
    cluster.start()
    try:
        target = cluster.target()
        options, url = target.extra["mqtt"], target.nodes[0].url
        host, port = cluster.host, int(url.rsplit(":", 1)[1])
        made = dynsec(host, port, ADMIN_USER, cluster.admin_password, [
            {"command": "createClient", "username": u,
             "password": MqttAdapter.credential(cluster.secret, u, "d0")} for u in ("a", "b")])
        assert made == [{"command": "createClient"}] * 2
        held = {("a", "d0"): 0}

        def audit(recorded: list[dict[str, Any]]) -> Any:
            return run_audit(held, [url], cluster.secret, recorded.append, timeout_s=30,
                             protocol="mqtt", options=options)

        first: list[dict[str, Any]] = []  # a's device makes its session, subscribes, leaves
        assert audit(first).synced == 1 and not [e for e in first if e["ev"] == "deliver"]
        sender = MqttClient(host, port)
        assert sender.connect("b.d0", "b", MqttAdapter.credential(cluster.secret, "b", "d0")) == 0
        conv = direct_conv("a", "b")
        for i in range(60):
            payload = chat_payload(f"c{i}", "b", "d0", conv, f"m{i}")
            assert sender.publish(f"{options['topic_prefix']}/u/a", payload) == 0
        sender.disconnect()
        recorded: list[dict[str, Any]] = []
        result = audit(recorded)
        got = [e for e in recorded if e["ev"] == "deliver"]
        assert result.failed == [] and result.messages == 60
        assert sorted(e["cmid"] for e in got) == sorted(f"c{i}" for i in range(60))
        assert all(e["via"] == "push" and e["phase"] == "audit" for e in got)
    finally:
        cluster.stop()
