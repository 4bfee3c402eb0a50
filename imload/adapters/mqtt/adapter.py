"""``MqttAdapter``: the engine's intents as MQTT packets, the broker's packets as engine
events, over a TCP byte stream (``transport = "tcp"``, the node url ``tcp://host:port``,
or ``tls://host:port`` for TLS from the first byte).
The mapping and the options: the package docstring (``imload/adapters/mqtt/__init__.py``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Any, ClassVar

from imload.adapters.base import ProtocolViolation, label_of
from imload.adapters.mqtt import codec
from imload.adapters.mqtt.core import REFUSED, Pending
from imload.adapters.mqtt.dynsec import CONTROL, RESPONSE, create_client, refusal
from imload.adapters.mqtt.groups import Groups
from imload.adapters.mqtt.packets import ConnAck, Disconnect, PingResp, PubAck, Publish, SubAck
from imload.adapters.mqtt.topics import chat_entry, chat_payload, marker_of, marker_payload


class MqttAdapter(Groups):
    """One device's MQTT client, without I/O (see the module docstring)."""

    name = "mqtt"
    transport: ClassVar[str] = "tcp"
    contacts: ClassVar[bool] = False  # no contact ops: a group is a topic

    @classmethod
    def credential(cls, secret: str, user: str, device: str) -> str:
        """The password of ``user``: HMAC-SHA256 of the user under the target's secret."""
        mac = hmac.new(secret.encode(), f"imload-mqtt:{user}".encode(), hashlib.sha256)
        return mac.hexdigest()[:32]

    @classmethod
    def promises(cls, options: dict[str, Any]) -> list[str] | None:
        """QoS 1 with a persistent session: a PUBLISH the broker acknowledged reaches every
        subscribed session, also one away at the time (MQTT 4.3.2, 4.4): no loss, nothing
        made up or altered. Duplicates are part of QoS 1 (never promised); order is per
        publisher and topic (not judged: seqs are labels). QoS 0: nothing but integrity."""
        if options.get("qos", 1) == 0:
            return ["phantom", "corrupted", "undecryptable"]
        return ["lost", "partial", "phantom", "aborted", "corrupted", "undecryptable"]

    # ------------------------------------------------------------ intents
    def encode(self, frame: dict[str, Any], now: float) -> Sequence[bytes]:
        t = frame.get("t")
        rid = frame.get("rid")
        if t == "login":
            return self._login(rid)
        if t == "ack":
            return ()
        if self.phase != "ready":
            if rid is not None:
                self._error(rid, "internal", f"not logged in (phase {self.phase})")
            return ()
        if t == "send":
            return self._send(frame)
        if t == "ping":
            self.pings.append(("pong", (rid, frame.get("ts"))))
            return (codec.PINGREQ,)
        if t == "sync":
            after = frame.get("after")
            if isinstance(after, int) and not isinstance(after, bool) and after > self.useq:
                self.useq = after  # a fresh adapter for a device that held useqs up to it
            self.pings.append(("sync", rid))  # answered at its PINGRESP: a barrier
            return (codec.PINGREQ,)
        if t == "read":
            return self._read(rid, frame.get("conv"))
        if t == "reads":
            pid = self._next_pid()
            self.pings.append(("reads", rid))
            return (codec.build_subscribe(pid, [(self.topics.marks_filter, 1)],
                                          level=self.level), codec.PINGREQ)
        if t == "op":
            return self._op(frame)
        self._error(rid, "unsupported", f"{t!r} has no MQTT mapping (the stored state is "
                    "not mapped)")
        return ()

    def _login(self, rid: Any) -> Sequence[bytes]:
        if self.phase != "idle":
            self._error(rid, "bad_frame", f"a second login (phase {self.phase})")
            return ()
        self.login_rid = rid
        if self.make_account:
            self.phase = "registering"
            return (codec.build_connect(f"imload-reg.{self.client_id}", level=self.level,
                                        keepalive=self.keepalive, clean=True,
                                        username=self.admin[0], password=self.admin[1]),)
        self.phase = "connecting"
        return (codec.build_connect(
            self.client_id, level=self.level, keepalive=self.keepalive, clean=False,
            username=self.user, password=self.identity.token,
            session_expiry=self.expiry if self.level == 5 else None),)

    def _send(self, frame: dict[str, Any]) -> Sequence[bytes]:
        rid, cmid, conv, body = (frame.get(k) for k in ("rid", "cmid", "conv", "body"))
        if not (isinstance(cmid, str) and isinstance(conv, str) and isinstance(body, str)):
            self._error(rid, "bad_frame", "send needs string cmid, conv, body")
            return ()
        if conv.startswith("g:"):
            return self._send_group(rid, cmid, conv, body)
        parts = conv.split(":")
        if len(parts) != 3 or parts[0] != "d" or self.user not in (parts[1], parts[2]):
            self._error(rid, "forbidden", f"{self.user} is not in {conv}")
            return ()
        peer = parts[2] if parts[1] == self.user else parts[1]
        payload = chat_payload(cmid, self.user, self.device, conv, body)
        return self._publish_message(rid, cmid, conv, payload,
                                     (self.topics.inbox_of(peer), self.topics.inbox))

    def _read(self, rid: Any, conv: Any) -> Sequence[bytes]:
        if not isinstance(conv, str) or not conv.startswith(("d:", "g:")):
            self._error(rid, "bad_frame", f"read of {conv!r}: not a conversation")
            return ()
        mid = self.newest.get(conv)
        if mid is None:
            self._error(rid, "unsupported", f"nothing from the peer in {conv} held yet")
            return ()
        upto = label_of(mid)
        self.read_marks[conv] = upto
        topic, payload = self.topics.marks + conv, marker_payload(mid, self.device)
        if self.qos == 0:
            self._event({"t": "read_ok", "rid": rid, "conv": conv, "upto": upto})
            return (codec.build_publish(topic, payload, level=self.level, retain=True),)
        return (self._publish_1(Pending("read", rid, conv, upto=upto), topic, payload, True),)

    # ------------------------------------------------------------ the broker
    def decode(self, payload: bytes, now: float) -> Sequence[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for packet in self.reader.feed(payload):
            out.extend(self._on_packet(packet))
        return out

    def _on_packet(self, p: Any) -> list[dict[str, Any]]:
        if isinstance(p, Publish):
            return self._on_publish(p)
        if isinstance(p, PubAck):
            return self._on_puback(p)
        if isinstance(p, PingResp):
            return self._on_pingresp()
        if isinstance(p, ConnAck):
            return self._on_connack(p)
        if isinstance(p, SubAck):
            return self._on_suback(p)
        if isinstance(p, Disconnect):
            raise ProtocolViolation(f"the broker disconnected the client (reason 0x{p.code:02x})",
                                    fatal=True)
        return []  # UNSUBACK: nothing unsubscribes

    def _on_connack(self, p: ConnAck) -> list[dict[str, Any]]:
        if self.phase not in ("registering", "connecting"):
            raise ProtocolViolation(f"CONNACK while {self.phase}", fatal=True)
        if p.code != 0:
            why = REFUSED.get(p.code, f"refused (code 0x{p.code:02x})")
            registering, self.phase = self.phase == "registering", "done"
            if p.code in REFUSED and self.register and not registering:
                self.make_account = True  # the next connection makes it, as the admin
                return [{"t": "error", "rid": self.login_rid, "code": "internal",
                         "msg": f"CONNACK for {self.user}: {why}: making the account"}]
            who = "the admin" if registering else self.user
            return [{"t": "error", "rid": self.login_rid, "code": "unauthenticated",
                     "msg": f"CONNACK for {who}: {why}"}]
        if self.phase == "registering":
            pid = self._next_pid()
            self.waits[pid] = ("register", None)
            self._write(codec.build_subscribe(pid, [(RESPONSE, 1)], level=self.level))
            return []
        if p.session_present:  # the broker kept the session: subscriptions, queue, ids
            for pid, pending in sorted(self.pending.items()):
                self._write(self._dup(pending.packets[pid]))
            return self._ready()
        for pending in {id(x): x for x in self.pending.values()}.values():
            for pid in pending.packets:  # a new session knows none of them: the engine
                self.pending.pop(pid, None)  # resends what it still needs
        pid = self._next_pid()
        self.waits[pid] = ("login", None)
        self.phase = "subscribing"
        self._write(codec.build_subscribe(pid, self.subscriptions(), level=self.level))
        return []

    @staticmethod
    def _dup(packet: bytes) -> bytes:
        return bytes((packet[0] | 0x08,)) + packet[1:]

    def _ready(self) -> list[dict[str, Any]]:
        self.phase = "ready"
        return [{"t": "login_ok", "rid": self.login_rid, "user": self.user,
                 "device": self.device, "node": None, "server_ts": None,
                 "hb_ms": self.keepalive * 500, "inbox_seq": self.useq, "acked": self.useq}]

    def _on_suback(self, p: SubAck) -> list[dict[str, Any]]:
        what, _rid = self.waits.pop(p.packet_id, ("", None))
        refused = [c for c in p.codes if c >= 0x80]
        if what == "register":
            if refused:
                raise ProtocolViolation("the broker refused the admin's subscription to "
                                        f"{RESPONSE} (0x{refused[0]:02x})", fatal=True)
            pid = self._next_pid()
            self.waits[pid] = ("create", None)
            self._write(codec.build_publish(CONTROL, create_client(self.user, self.identity.token),
                                            level=self.level, qos=1, packet_id=pid))
            return []
        if what == "login":
            if refused:
                self.phase = "done"
                return [{"t": "error", "rid": self.login_rid, "code": "forbidden",
                         "msg": f"the broker refused the subscriptions (0x{refused[0]:02x})"}]
            return self._ready() + self._joined(sorted(self.groups))
        if what == "group":
            if refused:  # the device is not in the group after all
                self.groups.discard(_rid)
                return []
            return self._joined([_rid])
        return []  # the markers' subscription of a reads: answered at its PINGRESP

    def _on_puback(self, p: PubAck) -> list[dict[str, Any]]:
        if self.waits.pop(p.packet_id, None) is not None:
            return []  # the createClient command: its answer comes on RESPONSE
        pending = self.pending.pop(p.packet_id, None)
        if pending is None:
            return []  # a late PUBACK of a session settled
        pending.packets.pop(p.packet_id, None)
        if p.code >= 0x80:
            for pid in pending.packets:
                self.pending.pop(pid, None)
            pending.packets.clear()
            return [{"t": "error", "rid": pending.rid, "code": "forbidden",
                     "msg": f"the broker refused the PUBLISH (0x{p.code:02x})"}]
        if pending.packets:
            return []
        if pending.kind == "read":
            return [{"t": "read_ok", "rid": pending.rid, "conv": pending.conv,
                     "upto": pending.upto}]
        if pending.kind == "op":
            return [{"t": "op_ok", "rid": pending.rid, "opid": pending.cmid, "dup": False}]
        return [self.send_ack(pending.rid, pending.cmid, pending.conv)]

    def _on_pingresp(self) -> list[dict[str, Any]]:
        if not self.pings:
            return []
        what, data = self.pings.pop(0)
        if what == "reads":
            return [{"t": "reads_ok", "rid": data, "marks": dict(self.read_marks)}]
        if what == "sync":  # what the broker wrote before it (the queue) has arrived
            return [{"t": "sync_batch", "rid": data, "msgs": [], "upto": self.useq,
                     "more": False}]
        return [{"t": "pong", "rid": data[0], "ts": data[1], "server_ts": None}]

    def _on_publish(self, p: Publish) -> list[dict[str, Any]]:
        if p.qos == 1 and p.packet_id is not None:
            self._write(codec.build_puback(p.packet_id, level=self.level))
        if p.topic == self.topics.inbox or p.topic.startswith(self.topics.groups):
            entry = chat_entry(p.payload)
            if entry["conv"][:2] == "g:" and p.topic == self.topics.inbox:
                self._membership(entry)  # a change told to this user: (un)subscribe
            if entry["from"] != self.user and entry["kind"] == "text":
                self.newest[entry["conv"]] = entry["mid"]
            self.useq += 1
            entry["useq"] = self.useq
            return [{"t": "msg", **entry}]
        if p.topic.startswith(self.topics.marks):
            return self._on_marker(p)
        if p.topic == RESPONSE and self.phase == "registering":
            return self._on_registered(p.payload)
        return []

    def _on_marker(self, p: Publish) -> list[dict[str, Any]]:
        conv = p.topic[len(self.topics.marks):]
        found = marker_of(p.payload)
        if found is None:
            return []
        mid, device = found
        upto = label_of(mid)
        self.read_marks[conv] = upto
        if p.retain or device == self.device:
            return []  # a stored marker (a subscription's), or this device's own
        return [{"t": "read_sync", "conv": conv, "upto": upto, "device": device}]

    def _on_registered(self, payload: bytes) -> list[dict[str, Any]]:
        error = refusal(payload)
        if error is not None:
            self.phase = "done"
            return [{"t": "error", "rid": self.login_rid, "code": "unauthenticated",
                     "msg": f"createClient {self.user}: {error}"}]
        self.make_account = False
        self.phase = "done"
        self._write(codec.build_disconnect(level=self.level))
        return [{"t": "error", "rid": self.login_rid, "code": "internal",
                 "msg": f"account {self.user} made; logging in again"}]
