"""The engine's plumbing: the action queue, the timers it believes are set, rids.

``EngineCore`` is the base of ``DeviceEngine`` (``engine.py``), which adds the
connection, inbox and heartbeat, and of ``Sender`` (``sending.py``), the
outgoing messages. Nothing here decides anything.
"""

from __future__ import annotations

import random
from enum import Enum
from typing import TYPE_CHECKING, Any

import orjson

from imload.client.actions import (
    Action,
    CancelTimer,
    Metric,
    Record,
    SendFrame,
    SetTimer,
)
from imload.client.backoff import Backoff
from imload.client.clock import OffsetEstimator, local_ms
from imload.client.config import EngineConfig
from imload.journal import body_digest, event

if TYPE_CHECKING:
    from imload.client.e2e import Sealer


class Conn(Enum):
    IDLE = "idle"              # not started
    ROUTING = "routing"        # FetchRoute issued, waiting for route_received / _failed
    CONNECTING = "connecting"  # Connect issued, waiting for transport_open / _failed
    LOGGING_IN = "logging_in"  # socket open, login sent
    ONLINE = "online"          # login_ok received
    BACKOFF = "backoff"        # waiting for the reconnect timer
    OFFLINE = "offline"        # the device's network is down (``network_changed``)
    STOPPED = "stopped"


# the states the hot paths test, as plain names (an Enum member lookup is slow on 3.11)
ONLINE, LOGGING_IN, STOPPED = Conn.ONLINE, Conn.LOGGING_IN, Conn.STOPPED

# timer names
T_RECONNECT, T_LOGIN, T_PING, T_ACK, T_SYNC, T_SENDS, T_ROUTE, T_INSTR = (
    "reconnect", "login", "ping", "ack", "sync", "sends", "route", "instr")
T_READS, T_STATE = "reads", "state"  # a refused ``reads`` or ``state`` asked again


def as_int(v: object, default: int = 0) -> int:
    """``v`` if it is a JSON integer (not a bool), else ``default``."""
    return v if isinstance(v, int) and not isinstance(v, bool) else default


def digest_of(body: object) -> str:
    """The journal digest of a msg body: text as is, an event body as sorted JSON."""
    if isinstance(body, str):
        return body_digest(body)
    if body is None:
        return body_digest("")
    return body_digest(orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode())


class EngineCore:
    check_events = False  # True: check every journal event against the schema (tests do)
    sealer: Sealer | None = None  # e2e on: seals bodies sent, opens bodies received (e2e.py)

    def __init__(self, user: str, device: str, *, rng: random.Random,
                 backoff: Backoff | None, config: EngineConfig | None) -> None:
        self.user, self.device = user, device
        self.backoff = backoff or Backoff()
        self.config = config or EngineConfig()
        self.phase = "load"              # written into deliver events; the audit sets "audit"
        self.skew_ms = self.config.skew_ms
        self.session = 0                 # logins so far; the current session's number
        self.ignored = 0                 # stale inputs (see the engine's docstring)
        self.bad_frames = 0              # malformed server frames, skipped
        self.offsets = OffsetEstimator()
        self._rng = rng
        self._conn = Conn.IDLE
        self._unanswered_requests = 0    # requests timed out since the last frame received
        self._synced = False             # the catch-up sync of this session is done
        self._sync_rid: int | None = None
        self._actions: list[Action] = []
        self._timers: dict[str, float] = {}
        self._rid = 0

    def actions(self) -> list[Action]:
        """Drain the actions queued since the last call, in order."""
        out, self._actions = self._actions, []
        return out

    @property
    def timers(self) -> dict[str, float]:
        """The timers the engine believes are set (a copy)."""
        return dict(self._timers)

    def local_ms(self, now: float) -> int:
        """The device's (possibly skewed) local clock, epoch ms."""
        return local_ms(now, self.config.wall_offset, self.skew_ms)

    def stamp_ms(self, now: float) -> int:
        """The ``ts`` a send carries: the local clock, corrected by the estimated offset
        when ``config.correct_clock`` is on and a pong has been seen."""
        ts = self.local_ms(now)
        offset = self.offsets.offset_ms
        if self.config.correct_clock and offset is not None:
            ts += round(offset)
        return ts

    def _unanswered_request(self, now: float, n: int = 1) -> None:
        """``n`` requests timed out; that many in a row with no frame from the server
        meanwhile and the connection is declared dead (offline detection b)."""
        if self._conn is not Conn.ONLINE or n <= 0:
            return
        self._unanswered_requests += n
        limit = self.config.max_request_failures
        if self._unanswered_requests >= limit:
            self._declare_dead(now, f"{self._unanswered_requests} requests in a row got no "
                                    "answer")

    def _declare_dead(self, now: float, reason: str) -> None:
        raise NotImplementedError  # the connection's owner (connection.py) decides

    def _rec(self, ev: str, now: float, **fields: Any) -> None:
        self._record({"ev": ev, "at": now, "user": self.user, "device": self.device, **fields})

    def _record(self, e: dict[str, Any]) -> None:
        """``_rec`` for the hot paths: ``e`` is the whole event, built by the caller
        (``ev``, ``at``, ``user``, ``device``, then the fields, as ``_rec`` orders them)."""
        if __debug__ and self.check_events:
            event(**e)  # the schema's check
        self._actions.append(Record(e))

    def _send(self, frame: dict[str, Any]) -> None:
        self._actions.append(SendFrame(frame))

    def _next_rid(self) -> int:
        self._rid += 1
        return self._rid

    def _set_timer(self, name: str, at: float) -> None:
        self._timers[name] = at
        self._actions.append(SetTimer(name, at))

    def _cancel(self, name: str) -> None:
        if self._timers.pop(name, None) is not None:
            self._actions.append(CancelTimer(name))

    def _metric(self, name: str, seconds: float, error: str | None = None) -> None:
        self._actions.append(Metric(name, max(seconds, 0.0) * 1000.0, error))

    def _can_send(self) -> bool:
        """Online and caught up: new and waiting messages may go on the wire."""
        return self._conn is ONLINE and self._synced
