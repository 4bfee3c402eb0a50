"""The device engine: one simulated phone or laptop, as a pure state machine.

Theory of operation
-------------------
The engine does no I/O, reads no clock and draws no random numbers of its own
(it uses the ``random.Random`` it is given). A driver feeds it inputs, each
with ``now`` (seconds on the load host's monotonic clock), and after every
input drains ``actions()`` and carries them out (see ``actions.py`` for the
driver's side of the contract). The same engine runs under the gevent driver,
under the in-memory test pair and under hypothesis.

Connection life: ``start`` → ``Connect(url)`` → ``transport_open`` → the engine
sends ``login`` → ``login_ok`` makes it online (``session`` counts logins from
1) → it syncs from ``held_upto`` following ``more`` → then it (re)sends
the messages that wait, oldest first. A failed attempt (``transport_failed``,
a close before ``login_ok``, no ``login_ok`` in time) or a lost connection
(``transport_closed``, two heartbeats without a pong) schedules the next
attempt after a ``Backoff`` delay (a server's Retry-After is the floor), on the
next url of the list (the first one is drawn with the rng).

Messages: see ``states.py``. Inbox: see ``inbox.py``; a push whose useq leaves
a hole triggers a sync from ``held_upto`` (one sync in flight at a time);
``ack {upto: held_upto}`` follows each sync batch, and pushes are acked in
batches by the ``ack`` timer.

Inputs that mean nothing in the current state (a frame after the engine
closed the connection, a transport event with no attempt under way, a timer
that was cancelled) are stale, not errors: they are counted in ``ignored``.
Malformed server frames are counted in ``bad_frames`` and skipped.
"""

from __future__ import annotations

import random
from typing import Any

from imload.client.actions import Close, Connect
from imload.client.backoff import Backoff, with_floor
from imload.client.clock import OffsetEstimator
from imload.client.config import EngineConfig
from imload.client.core import (
    T_ACK,
    T_LOGIN,
    T_PING,
    T_RECONNECT,
    T_SENDS,
    T_SYNC,
    Conn,
    as_int,
    digest_of,
)
from imload.client.inbox import Inbox, is_valid_msg
from imload.client.sending import Sender
from imload.client.states import MsgEvent, MsgState

_CONNECTION_TIMERS = (T_LOGIN, T_PING, T_ACK, T_SYNC)


class DeviceEngine(Sender):
    """One device of one user. Feed it inputs; drain ``actions()`` after each."""

    def __init__(self, user: str, device: str, token: str, urls: list[str], *,
                 rng: random.Random, backoff: Backoff | None = None,
                 config: EngineConfig | None = None) -> None:
        if not urls:
            raise ValueError("a device needs at least one url to connect to")
        super().__init__(user, device, rng=rng, backoff=backoff, config=config)
        self.token = token
        self.urls = list(urls)
        self.url: str | None = None      # the url of the current or last attempt
        self.inbox = Inbox(self.config.keep_display)
        self.offsets = OffsetEstimator()
        self._url_i = rng.randrange(len(self.urls))
        self._attempt = 0                # connect attempts since the last login_ok
        self._fails = 0                  # failed attempts since then (backoff's n)
        self._prev_delay: float | None = None
        self._connect_at = 0.0
        self._login_rid: int | None = None
        self._login_error: str | None = None
        self._hb_s = self.config.default_hb_ms / 1000
        self._pings: dict[int, int] = {}
        self._unanswered = 0
        self._sync_after = 0
        self._sync_started: float | None = None
        self._resync = False             # a gap appeared while a sync was in flight
        self._acked_sent = 0
        self._init_sends()

    # ------------------------------------------------------------------ state
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

    def messages(self, conv: str) -> list[dict[str, Any]]:
        """``conv`` as the device displays it: each seq once, ascending."""
        return self.inbox.messages(conv)

    # -------------------------------------------------------- connection
    def start(self, now: float) -> None:
        """Begin: record the device and make the first connection attempt."""
        if self._conn is not Conn.IDLE:
            self.ignored += 1
            return
        self._rec("device", now)
        self._connect(now)

    def _connect(self, now: float) -> None:
        self._attempt += 1
        self.url = self.urls[self._url_i % len(self.urls)]
        self._connect_at = now
        self._login_error = None
        self._conn = Conn.CONNECTING
        self._rec("connect", now, url=self.url, attempt=self._attempt)
        self._actions.append(Connect(self.url))

    def transport_open(self, now: float) -> None:
        """The socket is connected (WebSocket handshake done): log in."""
        if self._conn is not Conn.CONNECTING:
            self.ignored += 1
            return
        self._conn = Conn.LOGGING_IN
        self._login_rid = self._next_rid()
        self._send({"t": "login", "rid": self._login_rid, "token": self.token,
                    "ts": self.local_ms(now)})
        self._set_timer(T_LOGIN, now + self.config.login_timeout_s)

    def transport_failed(self, now: float, reason: str, retry_after_ms: int | None = None) -> None:
        """The connection attempt failed (refused, timeout, HTTP 503 with Retry-After)."""
        if self._conn is not Conn.CONNECTING:
            self.ignored += 1
            return
        self._attempt_failed(now, reason, retry_after_ms)

    def transport_closed(self, now: float, reason: str) -> None:
        """The connection ended (closed by the peer, or an I/O error)."""
        if self._conn is Conn.ONLINE:
            self._disconnected(now, reason)
        elif self._conn in (Conn.CONNECTING, Conn.LOGGING_IN):
            why = f"{self._login_error}; " if self._login_error else ""
            self._attempt_failed(now, f"closed before login_ok: {why}{reason}", None)
        else:
            self.ignored += 1

    def _attempt_failed(self, now: float, reason: str, retry_after_ms: int | None) -> None:
        self._rec("connect_failed", now, reason=reason, retry_after_ms=retry_after_ms)
        self._metric("login", now - self._connect_at, reason)
        self._lose_connection(now)
        self._schedule_reconnect(now, retry_after_ms)

    def _disconnected(self, now: float, reason: str) -> None:
        self._rec("disconnected", now, session=self.session, reason=reason)
        self._lose_connection(now)
        self._schedule_reconnect(now, None)

    def _declare_dead(self, now: float, reason: str) -> None:
        """The engine gives up on the connection itself: Close, then as if it closed."""
        self._actions.append(Close(reason))
        if self._conn is Conn.ONLINE:
            self._disconnected(now, reason)
        else:
            self._attempt_failed(now, reason, None)

    def _lose_connection(self, now: float) -> None:
        for name in _CONNECTION_TIMERS:
            self._cancel(name)
        self._login_rid = None
        self._pings.clear()
        self._unanswered = 0
        self._sync_rid = None
        self._sync_started = None
        self._synced = False
        self._resync = False
        self._send_rids.clear()
        for m in self._out.pending():
            if m.state is MsgState.SENDING:
                self._attempt_lost(m, now, MsgEvent.LOST, None, "connection lost")
        self._rearm_sends(now)

    def _schedule_reconnect(self, now: float, retry_after_ms: int | None) -> None:
        self._url_i += 1
        delay = with_floor(self.backoff.delay(self._fails, self._prev_delay, self._rng),
                           retry_after_ms)
        self._prev_delay = delay
        self._fails += 1
        self._conn = Conn.BACKOFF
        self._set_timer(T_RECONNECT, now + delay)

    def stop(self, now: float) -> None:
        """End the device: settle every pending send, ack what is held, close."""
        if self._conn is Conn.STOPPED:
            return
        for m in self._out.pending():
            if self._out.move(m, MsgEvent.STOP) is MsgState.UNKNOWN:
                self._rec("send_info", now, cmid=m.cmid, conv=m.conv,
                          reason="stopped in flight")
            else:
                self._rec("send_fail", now, cmid=m.cmid, conv=m.conv,
                          reason="stopped before it was sent")
        if self._conn is Conn.ONLINE:
            self._send_ack_if_advanced()
            self._rec("disconnected", now, session=self.session, reason="stop")
        if self._conn in (Conn.CONNECTING, Conn.LOGGING_IN, Conn.ONLINE):
            self._actions.append(Close("stop"))
        for name in list(self._timers):
            self._cancel(name)
        self._conn = Conn.STOPPED

    def request_sync(self, now: float) -> None:
        """Sync from ``held_upto`` to the end of the inbox now (e.g. the audit's last look).

        Online with no sync in flight: a sync starts (following ``more``); otherwise
        nothing, since the sync under way, or the next login's, does the same.
        """
        if self._conn is Conn.ONLINE and self._sync_rid is None:
            self._start_sync(now)
        else:
            self.ignored += 1

    # ------------------------------------------------------------ timers
    def timer_fired(self, name: str, now: float) -> None:
        """A timer the engine set is due (the driver fires each setting once)."""
        if self._timers.pop(name, None) is None:
            self.ignored += 1
            return
        if name == T_SENDS:
            self._on_sends_timer(now)
        elif name == T_RECONNECT:
            if self._conn is Conn.BACKOFF:
                self._connect(now)
        elif name == T_LOGIN:
            if self._conn is Conn.LOGGING_IN:
                self._declare_dead(now, f"no login_ok within {self.config.login_timeout_s:g} s")
        elif name == T_PING:
            self._on_ping_timer(now)
        elif name == T_ACK:
            self._send_ack_if_advanced()
        elif name == T_SYNC:
            if self._conn is Conn.ONLINE and self._sync_rid is not None:
                self._start_sync(now)  # the reply never came (or was an error): ask again

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
        if self._conn not in (Conn.LOGGING_IN, Conn.ONLINE):
            self.ignored += 1
            return
        if not isinstance(frame, dict):
            self.bad_frames += 1
            return
        t = frame.get("t")
        if self._conn is Conn.LOGGING_IN:
            if t == "login_ok" and frame.get("rid") == self._login_rid:
                self._on_login_ok(frame, now)
            elif t == "error":
                self._login_error = f"{frame.get('code')}: {frame.get('msg')}"
            else:
                self.ignored += 1
            return
        handler = _HANDLERS.get(t) if isinstance(t, str) else None
        if handler is None:
            self.ignored += 1  # read_sync, receipt, ... and anything newer than v1
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
                  inbox_seq=inbox_seq, acked=acked, url=self.url)
        self._metric("login", now - self._connect_at)
        self.inbox.trust_cursor(acked)
        self.inbox.see_inbox_seq(inbox_seq)
        self._acked_sent = acked
        hb_ms = self.config.hb_ms or as_int(f.get("hb_ms")) or self.config.default_hb_ms
        self._hb_s = hb_ms / 1000
        self._set_timer(T_PING, now + self._hb_s)
        self._start_sync(now)

    def _on_msg(self, f: dict[str, Any], now: float) -> None:
        if not self._deliver(f, now, "push"):
            return
        if self.inbox.has_gap():
            if self._sync_rid is None:
                self._start_sync(now)
            else:
                self._resync = True
        if self.inbox.held_upto > self._acked_sent and T_ACK not in self._timers:
            self._set_timer(T_ACK, now + self.config.ack_delay_s)

    def _deliver(self, m: object, now: float, via: str) -> int:
        """Record one received msg and hold it; its useq, or 0 if malformed."""
        if not is_valid_msg(m):
            self.bad_frames += 1
            return 0
        assert isinstance(m, dict)
        self._rec("deliver", now, session=self.session, mid=m["mid"], conv=m["conv"],
                  seq=m["seq"], useq=m["useq"], cmid=m.get("cmid"),
                  from_device=m.get("from_device"), digest=digest_of(m.get("body")),
                  via=via, phase=self.phase, kind=m.get("kind", "text"),
                  **{"from": m.get("from")})
        self.inbox.add(m)
        return int(m["useq"])

    def _start_sync(self, now: float, after: int | None = None) -> None:
        self._sync_rid = self._next_rid()
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
            self._start_sync(now, after)
            return
        self._sync_rid = None
        self._cancel(T_SYNC)
        if self._sync_started is not None:
            self._metric("sync", now - self._sync_started)
        self._sync_started = None
        if not self._synced:
            self._synced = True
            self._flush_sends(now)
        if self._resync and self.inbox.has_gap():
            self._start_sync(now)
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


_HANDLERS = {
    "msg": DeviceEngine._on_msg,
    "sync_batch": DeviceEngine._on_sync_batch,
    "send_ack": DeviceEngine._on_send_ack,
    "pong": DeviceEngine._on_pong,
    "error": DeviceEngine._on_error,
}
