"""What every layer of the MQTT adapter shares: options, the device's memory, the
connection's phase, the QoS 1 intents on the wire, and the two queues the driver
drains (``output``, ``events``).

The layers, each a class on top of the one before (as the XMPP adapter's are):
this module's ``MqttCore``, the state; ``groups.py``, groups as topics; ``adapter.py``,
``MqttAdapter``, the engine's intents out and the broker's packets in.

Kept across connections (the device's): the QoS 1 intents not acknowledged yet
(``pending``: a kept session gets their PUBLISHes again), the useq counter, the newest
message from each peer (what a read marks), the read markers, the groups the device
subscribed to, whether the account must be made first. Per connection: the phase, the
reader, the SUBSCRIBEs and PINGREQs waiting for their answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from imload.adapters.base import DeviceIdentity, ProtocolViolation, QueuedAdapter, label_of
from imload.adapters.mqtt import codec
from imload.adapters.mqtt.topics import Topics

REFUSED = {4: "bad user name or password", 5: "not authorized", 0x86: "bad user name or "
            "password", 0x87: "not authorized"}


@dataclass(slots=True)
class Pending:
    """A QoS 1 intent on the wire: the PUBLISHes not acknowledged yet."""

    kind: str                 # "send", "read" or "op"
    rid: Any
    conv: str
    cmid: str = ""            # a send's; an op's opid
    upto: int = 0
    packets: dict[int, bytes] = field(default_factory=dict)  # packet id -> PUBLISH


class MqttCore(QueuedAdapter):
    """The state of the MQTT adapter; see the module docstring."""

    def __init__(self, identity: DeviceIdentity) -> None:
        super().__init__(identity)
        o = identity.options or {}
        self.level = 4 if o.get("version") in (4, "3.1.1") else 5
        self.qos = 0 if o.get("qos", 1) == 0 else 1
        self.keepalive = int(o.get("keepalive_s", 30))
        self.expiry = int(o.get("session_expiry_s", 86400))
        self.register = bool(o.get("register", False))
        self.admin = (str(o.get("admin_user", "")), str(o.get("admin_password", "")))
        self.user, self.device = identity.user, identity.device
        self.topics = Topics(str(o.get("topic_prefix", "im")), self.user)
        self.client_id = f"{self.user}.{self.device}"
        # the device's memory
        self.make_account = False  # the broker refused the user: make the account first
        self.useq = 0
        self.newest: dict[str, str] = {}      # conv -> mid of the peer's newest message
        self.read_marks: dict[str, int] = {}
        self.pending: dict[int, Pending] = {}  # packet id -> its intent (QoS 1)
        self.groups: set[str] = set()          # group convs this device subscribed to
        self._pid = 0
        self._reset_connection()

    def _reset_connection(self) -> None:
        self.phase = "idle"  # idle, registering, connecting, subscribing, ready, done
        self.reader = codec.Reader(self.level)
        self.login_rid: Any = None
        self.waits: dict[int, tuple[str, Any]] = {}  # SUBSCRIBE pid -> (what, rid)
        self.pings: list[tuple[str, Any]] = []       # ("pong" | "reads" | "sync", rid), in order

    # ------------------------------------------------------------ driver's side
    def opened(self, now: float) -> None:
        self._reset_connection()

    def closed(self) -> None:
        self._reset_connection()

    def _error(self, rid: Any, code: str, msg: str) -> None:
        self._event({"t": "error", "rid": rid, "code": code, "msg": msg})

    def _next_pid(self) -> int:
        for _ in range(0xFFFF):
            self._pid = self._pid % 0xFFFF + 1
            if self._pid not in self.pending and self._pid not in self.waits:
                return self._pid
        raise ProtocolViolation("65535 packets unacknowledged: no packet id left", fatal=True)

    def _publish_message(self, rid: Any, cmid: str, conv: str, payload: bytes,
                         topics: tuple[str, ...]) -> tuple[bytes, ...]:
        """A chat message to ``topics``: QoS 1, ``send_ack`` when every PUBACK is in (an
        attempt of a cmid still on the wire writes nothing: its PUBACKs answer it); QoS 0,
        ``send_ack`` once written."""
        for p in self.pending.values():
            if p.kind == "send" and p.cmid == cmid:
                p.rid = rid
                return ()
        if self.qos == 0:
            self._event(self.send_ack(rid, cmid, conv))
            return tuple(codec.build_publish(t, payload, level=self.level) for t in topics)
        p = Pending("send", rid, conv, cmid=cmid)
        return tuple(self._publish_1(p, t, payload) for t in topics)

    @staticmethod
    def send_ack(rid: Any, cmid: str, conv: str) -> dict[str, Any]:
        mid = "q:" + cmid
        return {"t": "send_ack", "rid": rid, "cmid": cmid, "mid": mid, "conv": conv,
                "seq": label_of(mid), "server_ts": None, "dup": False}

    def _publish_1(self, p: Pending, topic: str, payload: bytes, retain: bool = False) -> bytes:
        pid = self._next_pid()
        packet = codec.build_publish(topic, payload, level=self.level, qos=1, packet_id=pid,
                                     retain=retain)
        p.packets[pid] = packet
        self.pending[pid] = p
        return packet
