"""What every layer of the XMPP adapter shares: options, the device's memory, the
connection's phase, and the two queues the driver drains (``output``, ``events``).

The layers, each a class on top of the one before (as the engine's are):

- this module: ``XmppCore``, the state;
- ``handshake.py``: the login, from ``<open/>`` to ``login_ok`` (SASL, in-band
  registration, bind, XEP-0198 enable or resume, carbons, presence);
- ``groups.py``: groups as XEP-0045 rooms (ops, group messages, entering rooms);
- ``archives.py``: the archives (XEP-0313), the user's own and the rooms', by sync;
- ``markers.py``: read markers as XEP-0333 chat markers;
- ``adapter.py``: ``XmppAdapter``, the engine's intents out and the server's
  stanzas in once the session is up.

State that belongs to the device (kept by ``closed()``): the stream-management
state (``sm``: resume id, counters, unacked stanzas), ``inbox`` (useq counter,
delivered mids, MAM cursor) and whether registration was tried. State that belongs
to one connection (forgotten by ``closed()``): the phase, the SASL exchange, the
features the server offered, the iqs and MAM queries waiting for their answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from lxml import etree

from imload.adapters.base import DeviceIdentity, QueuedAdapter
from imload.adapters.xmpp import build
from imload.adapters.xmpp.messages import Deliveries, Marker, label_of
from imload.adapters.xmpp.sasl import SaslClient
from imload.adapters.xmpp.smacks import Sent, StreamManagement


class Phase(Enum):
    """Where one connection is. ``EXPECTED`` says what the server may send in each."""

    IDLE = "idle"                # connected, no login intent yet
    OPENING = "opening"          # <open/> sent: the server's <open/> and <features/>
    AUTHENTICATING = "authenticating"  # <auth/> sent: <challenge/>, <success/>, <failure/>
    REGISTERING = "registering"  # XEP-0077 iq sent on the unauthenticated stream
    REOPENING = "reopening"      # authenticated, <open/> sent again
    RESUMING = "resuming"        # <resume/> sent: <resumed/> or <failed/>
    BINDING = "binding"          # bind iq sent
    ENABLING = "enabling"        # <enable/> sent: <enabled/> or <failed/>
    READY = "ready"              # login_ok given: the session is up
    REFUSED = "refused"          # the login failed: <close/> sent, the server closes


# the nonzas (by local name) the server may send in each phase; stanzas, <r/>, <a/> and
# stream errors are read in any phase, anything else is the server's fault
EXPECTED: dict[Phase, frozenset[str]] = {
    Phase.IDLE: frozenset(),
    Phase.OPENING: frozenset({"open", "features"}),
    Phase.AUTHENTICATING: frozenset({"challenge", "success", "failure"}),
    Phase.REGISTERING: frozenset(),
    Phase.REOPENING: frozenset({"open", "features"}),
    Phase.RESUMING: frozenset({"resumed", "failed"}),
    Phase.BINDING: frozenset(),
    Phase.ENABLING: frozenset({"enabled", "failed"}),
    Phase.READY: frozenset(),
    Phase.REFUSED: frozenset({"challenge", "success", "failure", "open", "features",
                              "resumed", "enabled", "failed"}),
}


@dataclass(slots=True)
class MamQuery:
    """A sync in flight: its engine rid, page size and the results received so far."""

    rid: Any  # None: the adapter's own (a room entered while online): results go as msg
    limit: int
    results: list[tuple[str, etree._Element | None]] = field(default_factory=list)
    room: Any = None  # rooms.Room: that room's archive; None: the user's own


class XmppCore(QueuedAdapter):
    """The state of the XMPP adapter; see the module docstring."""

    name = "xmpp"
    subprotocols = ("xmpp",)  # RFC 7395 section 3.1
    contacts = False  # no contact ops mapped (rosters): rooms take members without them

    def __init__(self, identity: DeviceIdentity) -> None:
        super().__init__(identity)
        opts = identity.options or {}
        domain = opts.get("domain")
        if not isinstance(domain, str) or not domain:
            raise ValueError("the target's [xmpp] table needs a domain (domain = \"...\")")
        self.domain = domain
        self.register = bool(opts.get("register", False))
        self.smacks = bool(opts.get("smacks", True))
        self.user = identity.user
        self.own_bare = f"{identity.user}@{domain}".lower()
        self.jid = f"{identity.user}@{domain}/{identity.device}"  # as bound, once known
        # the device's memory, kept across connections
        self.sm = StreamManagement()
        self.inbox = Deliveries(identity.user)
        self.register_tried = False
        self.mam_unavailable = False     # the server said MAM is not there (type cancel)
        self._n = 0                      # ids of what the adapter writes
        self._reset_connection()

    def _reset_connection(self) -> None:
        self.phase = Phase.IDLE
        self.login_rid: Any = None
        self.sasl: SaslClient | None = None
        self.mechanisms: tuple[str, ...] = ()
        self.can_register = False        # the first features advertised XEP-0077
        self.sm_offered = False          # the features after auth offered XEP-0198
        self.iqs: dict[str, tuple[str, Any]] = {}   # our iq id -> (what, its data)
        self.mam: dict[str, MamQuery] = {}           # queryid -> the sync it answers
        self.sync_open = False  # an engine sync is under way (its next page, or archive)
        self.early_acks: list[Sent] = []  # acked while logging in: told after login_ok

    # ---------------------------------------------------------- driver's side
    def opened(self, now: float) -> None:
        self._reset_connection()

    def closed(self) -> None:
        self.sm.connection_lost()
        self._reset_connection()

    # ---------------------------------------------------------- helpers
    def _stream_open(self) -> bytes:
        """What opens (or, after SASL, restarts) the stream: RFC 7395's ``<open/>``;
        over TCP (``tcp.py``) the ``<stream:stream>`` header, with a new parser."""
        return build.open_stream(self.domain)

    def _stream_close(self) -> bytes:
        return build.close_stream()

    def _stanza(self, payload: bytes, cmid: str | None = None, rid: Any = None,
                conv: str | None = None, upto: int | None = None) -> bytes:
        """A stanza goes out: counted for XEP-0198 while stream management is on."""
        self.sm.track(payload, cmid, rid, conv, upto)
        return payload

    # ---------------------------------------------------------- hooks (markers.py)
    def _marker_seen(self, m: Marker, live: bool) -> list[dict[str, Any]]:
        """A chat marker, live or archived: the engine events it means."""
        return []

    def _archive_read_to_end(self) -> list[dict[str, Any]]:
        """A sync read every archive (the user's own, the rooms') to its end."""
        return []

    def _next_id(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n}"

    def _not_ready(self, frame: dict[str, Any]) -> tuple[bytes, ...]:
        self._event(self._error(frame.get("rid"), "internal",
                                f"not logged in (phase {self.phase.value})"))
        return ()

    def _error(self, rid: Any, code: str, msg: str) -> dict[str, Any]:
        ev: dict[str, Any] = {"t": "error", "code": code, "msg": msg}
        if rid is not None:
            ev["rid"] = rid
        return ev

    def _acked(self, sent: list[Sent]) -> list[dict[str, Any]]:
        """What the server's ack of ``sent`` answers: a ``send_ack`` per chat message, a
        ``read_ok`` per chat marker."""
        return [self._send_ack(s) if s.cmid is not None else
                {"t": "read_ok", "rid": s.rid, "conv": s.conv, "upto": s.upto}
                for s in sent if s.cmid is not None or s.upto is not None]

    def _send_ack(self, s: Sent) -> dict[str, Any]:
        mid = "x:" + (s.cmid or "")
        return {"t": "send_ack", "rid": s.rid, "cmid": s.cmid, "mid": mid, "conv": s.conv,
                "seq": label_of(mid), "server_ts": None, "dup": False}
