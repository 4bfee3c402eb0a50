"""The device engine: one simulated phone or laptop, as a pure state machine.

Theory of operation
-------------------
The engine does no I/O, reads no clock and draws no random numbers of its own
(it uses the ``random.Random`` it is given). A driver feeds it inputs, each
with ``now`` (seconds on the load host's monotonic clock), and after every
input drains ``actions()`` and carries them out (see ``actions.py`` for the
driver's side of the contract). The same engine runs under the gevent driver,
under the in-memory test pair and under hypothesis.

The parts, each a layer of the class:

- ``core.py``: the action queue, timers, rids, the clock (skew, offset estimate).
- ``sending.py``: messages, through the state table of ``states.py``.
- ``instructions.py``: the offline queue of ops and read markers; ``reads``,
  ``state``, ``read_sync`` and ``receipt``.
- ``connection.py``: route (LBS), dial, log in, lose the connection, back off,
  the device's network going down and up.
- this module: frames from the server, the login, the inbox (``inbox.py``,
  ``display.py``), the catch-up and gap syncs, acks and heartbeats.

After ``login_ok`` (``session`` counts logins from 1) the engine asks for the
user's read markers (``reads``) and syncs from ``held_upto`` following
``more``; then it (re)sends the messages that wait, oldest first, then the
instructions, in order (one at a time, or pipelined: ``pipeline_ops``). A push
whose useq leaves a hole triggers a sync from ``held_upto`` (one sync in flight
at a time; deliveries it brings are recorded ``sync = "gap"``, those of the
catch-up ``sync = "login"``); ``ack {upto: held_upto}`` follows each sync batch,
and pushes are acked in batches by the ``ack`` timer.

Offline detection (the seed's 8.4): the socket closing (``transport_closed``);
two heartbeat intervals without a pong; ``max_request_failures`` requests in a
row without an answer; the device's network going down (``network_changed``).
A node over its limits answers ``rate_limited`` with ``retry_after_ms``: the ping,
sync, ack, send or instruction refused goes again then, and the connection stays
(an ``error`` answering a ping shows the node is there); a refused login makes
``retry_after_ms`` the floor of the reconnect's backoff.

Inputs that mean nothing in the current state (a frame after the engine
closed the connection, a transport event with no attempt under way, a timer
that was cancelled) are stale, not errors: they are counted in ``ignored``.
Malformed server frames are counted in ``bad_frames`` and skipped.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import orjson

from imload.client.backoff import Backoff
from imload.client.config import EngineConfig
from imload.client.connection import Connection
from imload.client.core import (
    LOGGING_IN,
    ONLINE,
    T_ACK,
    T_INSTR,
    T_LOGIN,
    T_PING,
    T_READS,
    T_RECONNECT,
    T_ROUTE,
    T_SENDS,
    T_STATE,
    T_SYNC,
    Conn,
    as_int,
    digest_of,
)
from imload.client.display import Display
from imload.client.inbox import Inbox, is_valid_msg
from imload.client.routing import Router

if TYPE_CHECKING:
    from imload.client.e2e import Sealer

_CONNECTION_TIMERS = (T_LOGIN, T_PING, T_ACK, T_SYNC, T_READS, T_STATE)


class DeviceEngine(Connection):
    """One device of one user. Feed it inputs; drain ``actions()`` after each.

    ``urls`` are the target's nodes; with ``lbs=True`` the engine asks the driver to
    consult the target's LBS (``FetchRoute``) and uses ``urls`` when it cannot.
    """

    def __init__(self, user: str, device: str, token: str, urls: list[str], *,
                 rng: random.Random, backoff: Backoff | None = None,
                 config: EngineConfig | None = None, lbs: bool = False,
                 sealer: Sealer | None = None) -> None:
        if not urls:
            raise ValueError("a device needs at least one url to connect to")
        super().__init__(user, device, rng=rng, backoff=backoff, config=config)
        self.sealer = sealer
        self.token = token
        self.router = Router(urls, lbs, rng)
        c = self.config
        self.inbox = Inbox(user, Display(c.display, c.keep_display, c.display_window))
        self._hb_s = c.default_hb_ms / 1000
        self._pings: dict[int, int] = {}
        self._unanswered = 0
        self._sync_after = 0
        self._sync_started: float | None = None
        self._sync_why = "login"
        self._resync = False             # a gap appeared while a sync was in flight
        self._acked_sent = 0
        self._ack_timer_at = float("-inf")  # when the ack timer last fired: one per ack_delay_s
        self._init_sends()
        self._init_instructions()
        self._init_connection()

    # ------------------------------------------------------------------ state
    @property
    def urls(self) -> list[str]:
        return self.router.static

    @property
    def online(self) -> bool:
        return self._conn is Conn.ONLINE

    @property
    def state(self) -> Conn:
        return self._conn

    @property
    def held_upto(self) -> int:
        return self.inbox.held_upto

    @property
    def inbox_seq(self) -> int:
        return self.inbox.inbox_seq

    @property
    def clock_offset_ms(self) -> float | None:
        """Estimated server clock minus this device's local clock (from pongs)."""
        return self.offsets.offset_ms

    @property
    def caught_up(self) -> bool:
        """Online, synced, no sync in flight, and every useq this device knows of is held."""
        return (self._conn is Conn.ONLINE and self._synced and self._sync_rid is None
                and self.inbox.held_upto >= self.inbox.inbox_seq)

    @property
    def idle(self) -> bool:
        """Nothing of the user's waits: no message, op or read pending."""
        return not self._out and not self._instr

    def messages(self, conv: str) -> list[dict[str, Any]]:
        """``conv`` as the device displays it: each message once, in the display order."""
        return self.inbox.messages(conv)

    def in_group(self, conv: str) -> bool | None:
        """True: a member (as the events delivered say); False: left; None: never seen."""
        return self.inbox.in_group(conv)

    def request_sync(self, now: float) -> None:
        """Sync from ``held_upto`` to the end of the inbox now (e.g. the audit's last look).

        Online with no sync in flight: a sync starts (following ``more``); otherwise
        nothing, since the sync under way, or the next login's, does the same.
        """
        if self._conn is Conn.ONLINE and self._sync_rid is None:
            self._start_sync(now, why="request")
        else:
            self.ignored += 1

    def _lose_connection(self, now: float) -> None:
        for name in _CONNECTION_TIMERS:
            self._cancel(name)
        self._pings.clear()
        self._unanswered = 0
        self._sync_started = None
        self._resync = False
        super()._lose_connection(now)

    # ------------------------------------------------------------ timers
    def timer_fired(self, name: str, now: float) -> None:
        """A timer the engine set is due (the driver fires each setting once)."""
        if self._timers.pop(name, None) is None:
            self.ignored += 1
            return
        if name == T_SENDS:
            self._on_sends_timer(now)
        elif name == T_INSTR:
            self._on_instr_timer(now)
        elif name == T_RECONNECT:
            if self._conn is Conn.BACKOFF:
                self._connect(now)
        elif name == T_ROUTE:
            if self._conn is Conn.ROUTING:
                self.route_failed(now, "the LBS did not answer in time")
        elif name == T_LOGIN:
            if self._conn is Conn.LOGGING_IN:
                self._declare_dead(now, f"no login_ok within {self.config.login_timeout_s:g} s")
        elif name == T_PING:
            self._on_ping_timer(now)
        elif name == T_ACK:
            self._ack_timer_at = now
            self._send_ack_if_advanced()
        elif name in (T_READS, T_STATE):
            self._on_query_timer(name, now)
        elif name == T_SYNC:
            if self._conn is Conn.ONLINE and self._sync_rid is not None:
                self._start_sync(now, why=self._sync_why)  # no reply (or an error): again
                self._unanswered_request(now)

    def _on_ping_timer(self, now: float) -> None:
        if self._conn is not Conn.ONLINE:
            return
        if self._unanswered >= 2:
            self._declare_dead(now, "no pong for 2 heartbeat intervals")
            return
        rid, ts = self._next_rid(), self.local_ms(now)
        self._pings[rid] = ts
        self._unanswered += 1
        self._send({"t": "ping", "rid": rid, "ts": ts})
        self._set_timer(T_PING, now + self._hb_s)

    # ------------------------------------------------------------ frames
    def frame_received(self, frame: dict[str, Any], now: float) -> None:
        """A decoded frame from the server."""
        conn = self._conn
        if conn is not ONLINE and conn is not LOGGING_IN:
            self.ignored += 1
            return
        if not isinstance(frame, dict):
            self.bad_frames += 1
            return
        self._unanswered_requests = 0  # the server is there
        t = frame.get("t")
        if conn is LOGGING_IN:
            if t == "login_ok" and frame.get("rid") == self._login_rid:
                self._on_login_ok(frame, now)
            elif t == "error":  # the close follows; rate_limited says when to try again
                self._login_error = f"{frame.get('code')}: {frame.get('msg')}"
                self._login_retry_ms = as_int(frame.get("retry_after_ms")) or None
            else:
                self.ignored += 1
            return
        handler = _HANDLERS.get(t) if isinstance(t, str) else None
        if handler is None:
            self.ignored += 1  # anything newer than protocol v1
            return
        handler(self, frame, now)

    def _on_login_ok(self, f: dict[str, Any], now: float) -> None:
        acked = as_int(f.get("acked"))
        inbox_seq = as_int(f.get("inbox_seq"))
        self._cancel(T_LOGIN)
        self._conn = Conn.ONLINE
        self.session += 1
        self._attempt, self._fails, self._prev_delay = 0, 0, None
        self._rec("connected", now, session=self.session, node=f.get("node"),
                  inbox_seq=inbox_seq, acked=acked, url=self.url, route=self.router.source)
        self._metric("login", now - self._connect_at)
        self.inbox.trust_cursor(acked)
        self.inbox.see_inbox_seq(inbox_seq)
        self._acked_sent = acked
        hb_ms = self.config.hb_ms or as_int(f.get("hb_ms")) or self.config.default_hb_ms
        self._hb_s = hb_ms / 1000
        self._set_timer(T_PING, now + self._hb_s)
        if self.config.fetch_marks:
            self._request_marks()
        self._start_sync(now, why="login")

    def _on_msg(self, f: dict[str, Any], now: float) -> None:
        if not self._deliver(f, now, "push"):
            return
        if self.inbox.has_gap():
            if self._sync_rid is None:
                self._start_sync(now, why="gap")
            else:
                self._resync = True
        if self.inbox.held_upto > self._acked_sent and T_ACK not in self._timers:
            # after a quiet spell at once (due now, the timer fires once the frames already
            # read are handled: a burst gets one ack, in the wake-up that read it, and no
            # wake-up of its own); within ack_delay_s of the last, when that interval ends
            self._set_timer(T_ACK, max(now, self._ack_timer_at + self.config.ack_delay_s))

    def _deliver(self, m: object, now: float, via: str) -> int:
        """Record one received msg and hold it; its useq, or 0 if malformed."""
        if not is_valid_msg(m):
            self.bad_frames += 1
            return 0
        assert isinstance(m, dict)
        get = m.get
        kind = get("kind", "text")
        body = get("body")
        undecryptable = False
        if self.sealer is not None and kind != "event":  # e2e: the digest of the plaintext
            body = self.sealer.open(m["conv"], get("from"), body)
            undecryptable = body is None  # the AEAD refused it (docs/checker.md)
        e = {"ev": "deliver", "at": now, "user": self.user, "device": self.device,
             "session": self.session, "mid": m["mid"], "conv": m["conv"], "seq": m["seq"],
             "useq": m["useq"], "cmid": get("cmid"), "from_device": get("from_device"),
             "digest": None if undecryptable else digest_of(body),
             "via": via, "phase": self.phase, "kind": kind, "from": get("from")}
        if undecryptable:
            e["undecryptable"] = True
        if kind == "event":  # the membership change: an object as documented, else as text
            if isinstance(body, dict):
                e["event"] = body
            elif body is not None:
                e["event_text"] = body if isinstance(body, str) else orjson.dumps(body).decode()
        if via == "sync":
            e["sync"] = self._sync_why
        e["server_ts"] = get("server_ts")
        if self.inbox.display.policy == "hybrid":
            e["ts"] = get("ts")
        self._record(e)
        self.inbox.add(m)
        return int(m["useq"])

    def _start_sync(self, now: float, after: int | None = None, why: str = "login") -> None:
        self._sync_rid = self._next_rid()
        self._sync_why = why
        self._sync_after = self.inbox.held_upto if after is None else after
        if self._sync_started is None:
            self._sync_started = now
        self._send({"t": "sync", "rid": self._sync_rid, "after": self._sync_after,
                    "limit": self.config.sync_limit})
        self._set_timer(T_SYNC, now + self.config.ack_timeout_s)

    def _on_sync_batch(self, f: dict[str, Any], now: float) -> None:
        msgs = f.get("msgs")
        if not isinstance(msgs, list):
            self.bad_frames += 1
            msgs = []
        top = 0
        for m in msgs:  # every entry is a delivery, even from a stale batch
            top = max(top, self._deliver(m, now, "sync"))
        self._send_ack_if_advanced()
        if self._sync_rid is None or f.get("rid") != self._sync_rid:
            self.ignored += 1
            return
        after = max(self.inbox.held_upto, as_int(f.get("upto")), top)
        if f.get("more") is True and after > self._sync_after:
            self._start_sync(now, after, why=self._sync_why)
            return
        self._sync_rid = None
        self._cancel(T_SYNC)
        if self._sync_started is not None:
            self._metric("sync", now - self._sync_started)
        self._sync_started = None
        if not self._synced:
            self._synced = True
            self._flush_sends(now)
            self._pump_instructions(now)
        if self._resync and self.inbox.has_gap():
            self._start_sync(now, why="gap")
        self._resync = False

    def _send_ack_if_advanced(self) -> None:
        if self._conn is Conn.ONLINE and self.inbox.held_upto > self._acked_sent:
            self._acked_sent = self.inbox.held_upto
            self._send({"t": "ack", "upto": self._acked_sent})
        self._cancel(T_ACK)

    def _on_pong(self, f: dict[str, Any], now: float) -> None:
        self._unanswered = 0
        t0 = self._pings.pop(as_int(f.get("rid"), -1), None)
        server_ts = f.get("server_ts")
        if t0 is not None and isinstance(server_ts, int):
            self.offsets.add(t0, self.local_ms(now), server_ts)

    def _on_error(self, f: dict[str, Any], now: float) -> None:
        rid, code = as_int(f.get("rid"), -1), f.get("code")
        why = f"{code}: {f.get('msg')}"
        retry_after = as_int(f.get("retry_after_ms"), 1000) / 1000
        if self._on_send_error(rid, code, why, retry_after, now):
            return
        if self._on_instr_error(rid, code, why, retry_after, now):
            return
        if self._on_query_error(rid, code, retry_after, now):
            return
        if rid == self._sync_rid:
            self._set_timer(T_SYNC, now + retry_after)  # ask again then
        elif rid in self._pings:  # the node is there; a refused ping goes again when told
            del self._pings[rid]
            self._unanswered = 0
            if code == "rate_limited":
                self._set_timer(T_PING, now + retry_after)
        elif code == "rate_limited" and "rid" not in f:
            # an ack refused (the one request without a rid): ack again then
            self._acked_sent = 0
            self._set_timer(T_ACK, now + retry_after)
        else:
            self.ignored += 1


_HANDLERS = {
    "msg": DeviceEngine._on_msg,
    "sync_batch": DeviceEngine._on_sync_batch,
    "send_ack": DeviceEngine._on_send_ack,
    "pong": DeviceEngine._on_pong,
    "error": DeviceEngine._on_error,
    "op_ok": DeviceEngine._on_op_ok,
    "read_ok": DeviceEngine._on_read_ok,
    "reads_ok": DeviceEngine._on_reads_ok,
    "state_ok": DeviceEngine._on_state_ok,
    "read_sync": DeviceEngine._on_read_sync,
    "receipt": DeviceEngine._on_receipt,
    "joined": DeviceEngine._on_joined,
}
