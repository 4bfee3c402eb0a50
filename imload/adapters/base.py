"""The protocol adapter: what stands between the device engine and one wire protocol.

The engine (``imload.client``) speaks one vocabulary of IM semantics: the
*intents* it queues as ``SendFrame`` (``login``, ``send``, ``ack``, ``sync``,
``ping``, ``op``, ``read``, ``reads``, ``state``) and the *events* it takes in
``frame_received`` (``login_ok``, ``send_ack``, ``msg``, ``sync_batch``,
``pong``, ``error``, ``op_ok``, ``read_ok``, ``reads_ok``, ``state_ok``,
``read_sync``, ``receipt``, and ``joined {conv}`` from an adapter whose groups are
subscriptions: ``group_membership``). Their fields are protocol v1's (docs/protocol.md);
for v1 the adapter is a JSON codec, for any other protocol it translates.

An adapter is sans-I/O, like h11: one instance per device, living across the
device's connections; it is given bytes and intents and hands back engine
events and bytes to write; it never reads a clock or a socket. The driver
(``imload.drivers.gevent_ws``) calls, under its engine lock:

- ``opened(now)`` when a connection is up (a WebSocket, or a TCP connection for an
  adapter whose ``transport`` is ``"tcp"``), before the engine hears
  ``transport_open``; ``closed()`` when it is gone (either side closed it);
- ``encode(frame, now)`` for every ``SendFrame``: the WebSocket payloads
  to write now, in order (an empty tuple is fine: the adapter may wait, e.g.
  until its handshake is done);
- ``decode(payload, now)`` for every text message the server sends (binary
  messages, for an adapter whose ``binary`` is set): the engine
  events it means, in order (empty when it means nothing to the engine);
- after each of those calls, ``output()`` when ``has_output`` is true (bytes the
  adapter writes by itself: handshake steps, answers to the server's pings,
  stream-management acks) and ``events()`` when ``has_events`` is true (engine
  events the adapter makes up without a server message, such as an ``error``
  for an intent the protocol cannot express); and, over TCP, when ``wants_tls`` is
  set, it upgrades the connection to TLS (after writing what is queued) and calls
  ``tls_started()`` (STARTTLS).

Contract, per intent: every intent with a ``rid`` gets its reply or an
``error`` with that ``rid`` (``code = "unsupported"`` when the protocol has no
such thing), or nothing at all, in which case the engine's timers treat it as
unanswered. An adapter raises ``ProtocolViolation`` for server bytes it cannot
read; the driver counts it as a bad frame and, when ``fatal`` is set, ends the
connection.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar


def label_of(mid: str) -> int:
    """The seq of a message for a protocol with no server numbering (XMPP, MQTT): 63 bits
    of a hash of its mid, the same on every device, never 0 (which the engine reads as
    "nothing held"). The target then declares ``[numbering] seq = "opaque"``: labels,
    compared for equality only."""
    return (int.from_bytes(hashlib.blake2b(mid.encode(), digest_size=8).digest(), "big")
            >> 1) or 1


class ProtocolViolation(ValueError):
    """The server sent something the adapter cannot read; ``fatal``: end the connection."""

    def __init__(self, message: str, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """Who the adapter speaks for: ``token`` is the credential the target hands out
    (a v1 token, an XMPP password); ``options`` the target's table for the protocol."""

    user: str
    device: str
    token: str
    options: dict[str, Any] = field(default_factory=dict)


class Adapter:
    """Base of the adapters; subclasses override what their protocol needs."""

    name: ClassVar[str] = ""
    subprotocols: ClassVar[tuple[str, ...]] = ()  # WebSocket subprotocols to ask for
    binary: ClassVar[bool] = False  # payloads go in binary WebSocket messages (protobuf...)
    # "websocket": one payload per WebSocket message; "tcp": a plain byte stream (the node
    # url is tcp://host:port), every payload written as is, ``decode`` given the bytes as
    # they arrive, in chunks of any size
    transport: ClassVar[str] = "websocket"
    has_output = False  # output() has bytes waiting
    has_events = False  # events() has engine events waiting
    wants_tls = False   # (tcp) upgrade the connection to TLS now (STARTTLS), then call
    #                     tls_started()
    # The protocol keeps contacts (op contact_add): the traffic model's people then add
    # their contacts and their groups' owners first, the consent a server may ask before
    # it adds a user to a group (imload/traffic/model.py, docs/protocol.md "Groups")
    contacts: ClassVar[bool] = True
    # A protocol whose every intent is one payload and every payload one event, with no
    # state, output or events of its own (v1), may say so: (encode_one, decode_one); the
    # driver then calls those directly, on its hot path. decode_one raises
    # ProtocolViolation as decode does. A subclass that overrides encode or decode must set
    # codec = None again.
    codec: ClassVar[tuple[Callable[[dict[str, Any]], bytes],
                          Callable[[bytes], dict[str, Any]]] | None] = None

    def __init__(self, identity: DeviceIdentity) -> None:
        self.identity = identity

    @classmethod
    def credential(cls, secret: str, user: str, device: str) -> str:
        """What a device of ``user`` logs in with, made from the target's ``secret``:
        protocol v1's signed token unless the protocol says otherwise."""
        from imload.protocol import mint_token

        return mint_token(secret, user, device)

    @classmethod
    def promises(cls, options: dict[str, Any]) -> list[str] | None:
        """The anomaly kinds (imload/check/verdict.py ``CHECKS``) that break a promise of a
        backend speaking this protocol with these options; None: every kind. A target's
        ``[promises] defects`` overrides it (docs/drivers.md, "Promises")."""
        return None

    @classmethod
    def group_membership(cls, options: dict[str, Any]) -> str:
        """Who is owed a group message: "members" (every device of its members: v1, XMPP
        rooms with their archive) or "subscription" (only a member's devices that told the
        engine ``joined {conv}`` before it was sent: MQTT, where a topic keeps no
        history). Declared to the checker (journal ``declare``, ``group_membership``)."""
        return "members"

    def opened(self, now: float) -> None:
        """A connection is up; the engine's ``login`` intent follows."""

    def closed(self) -> None:
        """The connection is gone; what belonged to it alone is forgotten."""

    def tls_started(self) -> None:
        """(tcp) The driver upgraded the connection to TLS, as ``wants_tls`` asked."""

    def encode(self, frame: dict[str, Any], now: float) -> Sequence[bytes]:
        raise NotImplementedError

    def decode(self, payload: bytes, now: float) -> Sequence[dict[str, Any]]:
        raise NotImplementedError

    def output(self) -> list[bytes]:
        """Bytes the adapter wrote by itself since the last call, in order."""
        return []

    def events(self) -> list[dict[str, Any]]:
        """Engine events the adapter made up since the last call, in order."""
        return []


class QueuedAdapter(Adapter):
    """An adapter with a state of its own (XMPP, MQTT): the two queues the driver drains,
    filled by ``_write`` (bytes it writes by itself) and ``_event`` (engine events it
    makes up)."""

    def __init__(self, identity: DeviceIdentity) -> None:
        super().__init__(identity)
        self._out: list[bytes] = []
        self._events: list[dict[str, Any]] = []

    def output(self) -> list[bytes]:
        out, self._out = self._out, []
        self.has_output = False
        return out

    def events(self) -> list[dict[str, Any]]:
        evs, self._events = self._events, []
        self.has_events = False
        return evs

    def _write(self, payload: bytes) -> None:
        """Queue bytes the adapter writes by itself (drained by ``output``)."""
        self._out.append(payload)
        self.has_output = True

    def _event(self, ev: dict[str, Any]) -> None:
        """Queue an engine event the adapter makes up (drained by ``events``)."""
        self._events.append(ev)
        self.has_events = True
