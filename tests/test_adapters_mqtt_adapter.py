"""MqttAdapter (imload/adapters/mqtt/adapter.py) against a scripted broker: the packets
it writes are read back with the codec's own reader on the broker's side, the broker's
are written by hand (MQTT 5 unless said)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from imload.adapters import adapter_class, make_adapter
from imload.adapters.base import ProtocolViolation, label_of
from imload.adapters.mqtt import codec
from imload.adapters.mqtt.adapter import MqttAdapter
from imload.adapters.mqtt.dynsec import CONTROL, RESPONSE

OPTS = {"version": 5, "qos": 1, "register": True, "admin_user": "adm",
        "admin_password": "pw", "topic_prefix": "im", "keepalive_s": 30}
CONV = "d:alice:bob"


def connack(present: bool = False, code: int = 0, level: int = 5) -> bytes:
    return bytes((0x20, 3 if level == 5 else 2, int(present), code)) + (
        b"\x00" if level == 5 else b"")


def suback(pid: int, *codes: int) -> bytes:
    body = pid.to_bytes(2, "big") + b"\x00" + bytes(codes)
    return bytes((0x90, len(body))) + body


def puback(pid: int, code: int = 0) -> bytes:
    return codec.build_puback(pid, level=5, code=code)


def publish(topic: str, payload: bytes, pid: int | None = 7, retain: bool = False) -> bytes:
    return codec.build_publish(topic, payload, level=5, qos=1 if pid else 0, packet_id=pid,
                               retain=retain)


def sent(a: MqttAdapter, frames: Any) -> list[Any]:
    """What the adapter wrote (its intents' bytes, then its own output), as packets read
    by a broker-side parser of client packets (type, fields)."""
    data = b"".join(frames) + b"".join(a.output())
    out = []
    while data:
        n, i, mul = 0, 1, 1
        while True:
            n += (data[i] & 0x7F) * mul
            if data[i] < 0x80:
                break
            i, mul = i + 1, mul * 128
        out.append((data[0] >> 4, data[0] & 0x0F, data[i + 1:i + 1 + n]))
        data = data[i + 1 + n:]
    return out


def step(a: MqttAdapter, data: bytes) -> list[dict[str, Any]]:
    return list(a.decode(data, 0.0)) + a.events()


def ready(qos: int = 1, device: str = "phone") -> MqttAdapter:
    a = make_adapter("mqtt", "alice", device, "s3cret", {**OPTS, "qos": qos,
                                                          "register": False})
    assert isinstance(a, MqttAdapter)
    [(kind, _, _)] = sent(a, a.encode({"t": "login", "rid": 1}, 0.0))
    assert kind == 1  # CONNECT
    assert step(a, connack()) == []
    [(kind, _, body)] = sent(a, [])
    assert kind == 8  # SUBSCRIBE: the inbox and the markers
    [ev] = step(a, suback(int.from_bytes(body[:2], "big"), qos, 1))
    assert ev["t"] == "login_ok" and ev["hb_ms"] == 15000
    return a


def test_registered_with_a_password_per_user() -> None:
    assert adapter_class("mqtt") is MqttAdapter and MqttAdapter.transport == "tcp"
    a = make_adapter("mqtt", "alice", "phone", "s", OPTS)
    b = make_adapter("mqtt", "alice", "laptop", "s", OPTS)
    assert a.identity.token == b.identity.token != "s"
    assert MqttAdapter.promises({"qos": 1}) == ["lost", "partial", "phantom", "aborted",
                                                "corrupted", "undecryptable"]
    assert MqttAdapter.promises({"qos": 0}) == ["phantom", "corrupted", "undecryptable"]


def test_a_refused_user_makes_the_account_as_admin_then_logs_in_again() -> None:
    a = make_adapter("mqtt", "alice", "phone", "s", OPTS)
    [(kind, _, body)] = sent(a, a.encode({"t": "login", "rid": 0}, 0.0))
    assert kind == 1 and b"alice.phone" in body  # the user first: the account may exist
    [ev] = step(a, connack(code=0x86))
    assert (ev["code"], ev["rid"]) == ("internal", 0) and "making the account" in ev["msg"]
    a.closed()
    [(kind, _, body)] = sent(a, a.encode({"t": "login", "rid": 1}, 0.0))
    assert kind == 1 and b"adm" in body and b"imload-reg.alice.phone" in body
    step(a, connack())
    [(kind, _, body)] = sent(a, [])
    assert kind == 8 and RESPONSE.encode() in body
    step(a, suback(int.from_bytes(body[:2], "big"), 1))
    [(kind, flags, body)] = sent(a, [])
    assert kind == 3 and flags & 0x06 == 0x02 and CONTROL.encode() in body  # QoS 1
    assert b'"createClient"' in body and a.identity.token.encode() in body
    assert step(a, puback(int.from_bytes(body[len(CONTROL) + 2:len(CONTROL) + 4], "big"))) == []
    answer = b'{"responses":[{"command":"createClient","error":"Client already exists"}]}'
    evs = step(a, publish(RESPONSE, answer))
    assert [(e["t"], e["code"]) for e in evs] == [("error", "internal")]
    assert [k for k, _, _ in sent(a, [])] == [4, 14]  # PUBACK the answer, DISCONNECT
    a.closed()
    [(kind, _, body)] = sent(a, a.encode({"t": "login", "rid": 2}, 0.0))
    assert kind == 1 and b"alice.phone" in body and b"imload-reg" not in body
    assert body[7] & 0x02 == 0  # no clean start: the session outlives the connection


def test_a_refused_admin_or_user_is_unauthenticated() -> None:
    a = make_adapter("mqtt", "alice", "phone", "s", {**OPTS, "register": False})
    a.encode({"t": "login", "rid": 3}, 0.0)
    evs = step(a, connack(code=0x86))
    assert [(e["rid"], e["code"]) for e in evs] == [(3, "unauthenticated")]
    assert "bad user name or password" in evs[0]["msg"]
    b = make_adapter("mqtt", "alice", "phone", "s", OPTS)
    b.encode({"t": "login", "rid": 4}, 0.0)
    step(b, connack(code=0x86))
    b.closed()
    b.encode({"t": "login", "rid": 5}, 0.0)  # as the admin, refused too
    evs = step(b, connack(code=0x87))
    assert [(e["rid"], e["code"]) for e in evs] == [(5, "unauthenticated")]
    assert "the admin" in evs[0]["msg"]


def test_send_publishes_to_both_inboxes_and_acks_after_both_pubacks() -> None:
    a = ready()
    packets = sent(a, a.encode({"t": "send", "rid": 5, "cmid": "c1", "conv": CONV,
                                "body": "hi"}, 0.0))
    topics = [body[2:2 + int.from_bytes(body[:2], "big")] for _, _, body in packets]
    assert topics == [b"im/u/bob", b"im/u/alice"]
    pids = [int.from_bytes(body[2 + len(t):4 + len(t)], "big")
            for t, (_, _, body) in zip(topics, packets, strict=True)]
    assert a.encode({"t": "send", "rid": 6, "cmid": "c1", "conv": CONV, "body": "hi"},
                    0.0) == ()  # still on the wire: the acks answer the new rid
    assert step(a, puback(pids[0])) == []
    [ack] = step(a, puback(pids[1]))
    assert ack == {"t": "send_ack", "rid": 6, "cmid": "c1", "mid": "q:c1", "conv": CONV,
                   "seq": label_of("q:c1"), "server_ts": None, "dup": False}


def test_a_kept_session_gets_the_unacked_publishes_again_flagged_dup() -> None:
    a = ready()
    first = sent(a, a.encode({"t": "send", "rid": 5, "cmid": "c1", "conv": CONV,
                              "body": "hi"}, 0.0))
    a.closed()
    a.encode({"t": "login", "rid": 2}, 0.0)
    [ev] = step(a, connack(present=True))
    assert ev["t"] == "login_ok"
    again = sent(a, [])
    assert [(k, f & 0x08, b) for k, f, b in again] == [(k, 0x08, b) for k, _f, b in first]
    a.closed()  # and a session the broker lost: the engine resends by itself
    a.encode({"t": "login", "rid": 3}, 0.0)
    step(a, connack(present=False))
    assert not a.pending


def test_inbound_messages_are_acked_then_handed_over_and_copies_kept() -> None:
    a = ready()
    payload = orjson.dumps({"cmid": "b1", "from": "bob", "device": "pc", "conv": CONV,
                            "body": "yo"})
    [m] = step(a, publish("im/u/alice", payload, pid=9))
    assert sent(a, [])[0][0] == 4  # PUBACK
    assert m == {"t": "msg", "mid": "q:b1", "conv": CONV, "seq": label_of("q:b1"),
                 "from": "bob", "from_device": "pc", "cmid": "b1", "body": "yo",
                 "server_ts": None, "kind": "text", "useq": 1}
    [again] = step(a, publish("im/u/alice", payload, pid=10))  # QoS 1: at least once
    assert again["mid"] == "q:b1" and again["useq"] == 2
    with pytest.raises(ProtocolViolation, match="not JSON"):
        step(a, publish("im/u/alice", b"{", pid=11))
    assert sent(a, [])[-1][0] == 4  # acked all the same: never redelivered for ever


def test_sync_is_a_barrier_answered_at_its_pingresp() -> None:
    """The queue of a kept session comes as pushes: a sync answers once the broker has
    answered a PINGREQ written after it, so what it wrote before has arrived."""
    a = ready()
    assert a.encode({"t": "sync", "rid": 4, "after": 3, "limit": 50}, 0.0) == (codec.PINGREQ,)
    assert a.events() == []
    payload = orjson.dumps({"cmid": "b1", "from": "bob", "device": "pc", "conv": CONV,
                            "body": "yo"})
    [m] = step(a, publish("im/u/alice", payload, pid=9))
    assert m["useq"] == 4  # numbered on from what the device held
    assert step(a, b"\xd0\x00") == [{"t": "sync_batch", "rid": 4, "msgs": [], "upto": 4,
                                     "more": False}]


def test_qos0_acks_on_write() -> None:
    a = ready(qos=0)
    packets = sent(a, a.encode({"t": "send", "rid": 5, "cmid": "c1", "conv": CONV,
                                "body": "hi"}, 0.0))
    assert [f & 0x06 for _, f, _ in packets] == [0, 0]
    assert a.events()[0]["t"] == "send_ack"


def test_read_markers_are_retained_and_reach_the_other_devices() -> None:
    a = ready()
    step(a, publish("im/u/alice", orjson.dumps({"cmid": "b1", "from": "bob", "device": "pc",
                                                "conv": CONV, "body": "yo"}), pid=9))
    sent(a, [])
    [(kind, flags, body)] = sent(a, a.encode({"t": "read", "rid": 7, "conv": CONV}, 0.0))
    topic = f"im/r/alice/{CONV}".encode()
    assert kind == 3 and flags & 0x01 and body[2:2 + len(topic)] == topic  # retained
    pid = int.from_bytes(body[2 + len(topic):4 + len(topic)], "big")
    up = label_of("q:b1")
    assert step(a, puback(pid)) == [{"t": "read_ok", "rid": 7, "conv": CONV, "upto": up}]
    other = orjson.dumps({"mid": "q:b2", "device": "laptop"})
    assert step(a, publish(f"im/r/alice/{CONV}", other, pid=3)) == [
        {"t": "read_sync", "conv": CONV, "upto": label_of("q:b2"), "device": "laptop"}]
    assert step(a, publish(f"im/r/alice/{CONV}", other, pid=4, retain=True)) == []
    packets = sent(a, a.encode({"t": "reads", "rid": 8}, 0.0))
    assert [k for k, _, _ in packets] == [8, 12, 4, 4]  # SUBSCRIBE, PINGREQ; the PUBACKs
    assert step(a, b"\xd0\x00") == [{"t": "reads_ok", "rid": 8,
                                     "marks": {CONV: label_of("q:b2")}}]


def test_ops_other_than_groups_and_state_are_unsupported_and_pings_pong() -> None:
    a = ready()
    a.encode({"t": "send", "rid": 1, "cmid": "g", "conv": "g:team", "body": "x"}, 0.0)
    a.encode({"t": "op", "rid": 2, "opid": "o", "kind": "pin", "args": {}}, 0.0)
    a.encode({"t": "state", "rid": 3}, 0.0)
    assert [(e["rid"], e["code"]) for e in a.events()] == [(1, "forbidden"),
                                                           (2, "unsupported"),
                                                           (3, "unsupported")]
    assert a.encode({"t": "ping", "rid": 4, "ts": 1.5}, 0.0) == (codec.PINGREQ,)
    assert step(a, b"\xd0\x00") == [{"t": "pong", "rid": 4, "ts": 1.5, "server_ts": None}]


def topic_of(body: bytes) -> str:
    return body[2:2 + int.from_bytes(body[:2], "big")].decode()


def pid_after_topic(body: bytes) -> int:
    n = 2 + int.from_bytes(body[:2], "big")
    return int.from_bytes(body[n:n + 2], "big")


def test_group_create_subscribes_then_tells_the_group_and_every_member() -> None:
    a = ready()
    packets = sent(a, a.encode({"t": "op", "rid": 3, "opid": "o1", "kind": "group_create",
                                "args": {"conv": "g:team", "members": ["bob"]}}, 0.0))
    assert [k for k, _, _ in packets] == [8, 3, 3, 3]  # SUBSCRIBE first, then the news
    sub_pid = int.from_bytes(packets[0][2][:2], "big")
    assert b"im/g/team" in packets[0][2]
    pubs = [b for _, _, b in packets[1:]]
    assert [topic_of(b) for b in pubs] == ["im/g/team", "im/u/alice", "im/u/bob"]
    payload = orjson.loads(pubs[0][len(topic_of(pubs[0])) + 5:])  # topic, id, no properties
    assert payload["cmid"] == "op:o1" and payload["kind"] == "event"
    assert orjson.loads(payload["body"]) == {"op": "group_create", "user": "alice",
                                              "members": ["alice", "bob"]}
    assert step(a, suback(sub_pid, 1)) == [{"t": "joined", "conv": "g:team"}]
    evs: list[dict[str, Any]] = []
    for b in pubs:
        evs += step(a, puback(pid_after_topic(b)))
    assert evs == [{"t": "op_ok", "rid": 3, "opid": "o1", "dup": False}]
    [(kind, _, body)] = sent(a, a.encode({"t": "send", "rid": 4, "cmid": "c1",
                                           "conv": "g:team", "body": "hi"}, 0.0))
    assert kind == 3 and topic_of(body) == "im/g/team"
    assert step(a, puback(pid_after_topic(body))) == [
        {"t": "send_ack", "rid": 4, "cmid": "c1", "mid": "q:c1", "conv": "g:team",
         "seq": label_of("q:c1"), "server_ts": None, "dup": False}]


def test_news_of_being_added_subscribes_and_of_being_removed_unsubscribes() -> None:
    a = ready()
    add = orjson.dumps({"cmid": "op:b1", "from": "bob", "device": "pc", "conv": "g:team",
                        "kind": "event", "body": orjson.dumps(
                            {"op": "group_add", "user": "alice", "by": "bob"}).decode()})
    [m] = step(a, publish("im/u/alice", add, pid=5))
    assert m["kind"] == "event" and m["body"]["op"] == "group_add" and m["conv"] == "g:team"
    puback_, subscribe = sent(a, [])
    assert puback_[0] == 4 and subscribe[0] == 8 and b"im/g/team" in subscribe[2]
    assert step(a, suback(int.from_bytes(subscribe[2][:2], "big"), 1)) == [
        {"t": "joined", "conv": "g:team"}]
    a.closed()  # a session the broker lost: the group is subscribed again with the rest
    a.encode({"t": "login", "rid": 9}, 0.0)
    step(a, connack(present=False))
    [(_, _, body)] = sent(a, [])
    assert b"im/g/team" in body and b"im/u/alice" in body
    evs = step(a, suback(int.from_bytes(body[:2], "big"), 1, 1, 1))
    assert [e["t"] for e in evs] == ["login_ok", "joined"]
    gone = orjson.dumps({"cmid": "op:b2", "from": "bob", "device": "pc", "conv": "g:team",
                         "kind": "event", "body": orjson.dumps(
                             {"op": "group_remove", "user": "alice", "by": "bob"}).decode()})
    step(a, publish("im/u/alice", gone, pid=6))
    assert [k for k, _, _ in sent(a, [])] == [4, 10]  # PUBACK, UNSUBSCRIBE
    a.encode({"t": "send", "rid": 7, "cmid": "c9", "conv": "g:team", "body": "x"}, 0.0)
    assert a.events()[0]["code"] == "forbidden"


def test_mqtt_3_1_1_connects_at_level_4_without_session_expiry() -> None:
    a = make_adapter("mqtt", "alice", "phone", "s", {**OPTS, "version": 4, "register": False})
    [(kind, _, body)] = sent(a, a.encode({"t": "login", "rid": 1}, 0.0))
    assert kind == 1 and body[:7] == b"\x00\x04MQTT\x04" and body[7] & 0x02 == 0
    step(a, connack(level=4))
    [(kind, _, _)] = sent(a, [])
    assert kind == 8


def test_a_server_disconnect_is_fatal() -> None:
    a = ready()
    with pytest.raises(ProtocolViolation) as e:
        step(a, b"\xe0\x02\x8b\x00")  # DISCONNECT, 0x8B server shutting down
    assert e.value.fatal and "0x8b" in str(e.value)
