"""The engine's connection life: route, dial, log in, lose it, back off, dial again.

Attempts: ``_connect`` asks the LBS first when the router says so (``FetchRoute``,
state ROUTING), then dials (``Connect``, state CONNECTING); ``transport_open``
sends ``login``; ``login_ok`` (engine.py) makes the device ONLINE. A failed
attempt (``transport_failed``, a close before ``login_ok``, no ``login_ok`` in
time) or a lost connection (``transport_closed``, missed pongs, requests in a
row without an answer) schedules the next attempt after a ``Backoff`` delay, a
server's Retry-After being its floor, on the next url (``routing.py``). The
``connect_failed`` and ``disconnected`` events carry the policy (``backoff``)
and the delay chosen (``retry_in_s``), so a journal shows how devices came back.

``network_changed(False)`` is the device's own network going away (airplane
mode, a tunnel; the seed's offline detection c): the connection is closed, no
attempt is made until ``network_changed(True)``, which dials at once. Messages,
ops and reads made meanwhile wait (``sending.py``, ``instructions.py``).
"""

from __future__ import annotations

from imload.client.actions import Close, Connect, FetchRoute
from imload.client.backoff import with_floor
from imload.client.core import T_LOGIN, T_RECONNECT, T_ROUTE, Conn
from imload.client.instructions import Instructions
from imload.client.routing import Router
from imload.client.states import MsgEvent, MsgState


class Connection(Instructions):
    router: Router
    url: str | None

    def _init_connection(self) -> None:
        self.url = None                  # the url of the current or last attempt
        self._attempt = 0                # connect attempts since the last login_ok
        self._fails = 0                  # failed attempts since then (backoff's n)
        self._prev_delay: float | None = None
        self._connect_at = 0.0
        self._login_rid: int | None = None
        self._login_error: str | None = None
        self._login_retry_ms: int | None = None  # a refused login's retry_after_ms

    @property
    def network_up(self) -> bool:
        return self._conn is not Conn.OFFLINE

    def start(self, now: float) -> None:
        """Begin: record the device and make the first connection attempt."""
        if self._conn is not Conn.IDLE:
            self.ignored += 1
            return
        self._rec("device", now, **({"e2e": True} if self.sealer is not None else {}))
        self._connect(now)

    def _connect(self, now: float) -> None:
        self._connect_at = now
        self._login_error = None
        self._login_retry_ms = None
        if self.router.needs_route:
            self._conn = Conn.ROUTING
            self._actions.append(FetchRoute(self.user, self.device))
            self._set_timer(T_ROUTE, now + self.config.login_timeout_s)
            return
        self._dial(now)

    def _dial(self, now: float) -> None:
        self._attempt += 1
        self.url = self.router.next_url()
        self._conn = Conn.CONNECTING
        self._rec("connect", now, url=self.url, attempt=self._attempt, route=self.router.source)
        self._actions.append(Connect(self.url))

    def route_received(self, now: float, urls: list[str]) -> None:
        """The LBS answered: the urls of the nodes to try, in its order."""
        if self._conn is not Conn.ROUTING:
            self.ignored += 1
            return
        self._cancel(T_ROUTE)
        good = [u for u in urls if isinstance(u, str) and u]
        if not good:
            self._attempt += 1
            self._attempt_failed(now, "lbs: no node below its limit", None)
            return
        self.router.routed(good)
        self._dial(now)

    def route_failed(self, now: float, reason: str) -> None:
        """The LBS could not be asked: dial the static node list instead."""
        if self._conn is not Conn.ROUTING:
            self.ignored += 1
            return
        self._cancel(T_ROUTE)
        self.router.unrouted()
        self._dial(now)

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
            self._attempt_failed(now, f"closed before login_ok: {why}{reason}",
                                 self._login_retry_ms)
        else:
            self.ignored += 1

    def network_changed(self, up: bool, now: float) -> None:
        """The device's network went down (no connection until it is back) or came back."""
        if up:
            if self._conn is not Conn.OFFLINE:
                self.ignored += 1
                return
            self._fails, self._prev_delay, self._attempt = 0, None, 0
            self._connect(now)
            return
        if self._conn in (Conn.IDLE, Conn.OFFLINE, Conn.STOPPED):
            self.ignored += 1
            return
        reason = "network down"
        if self._conn is Conn.ONLINE:
            self._actions.append(Close(reason))
            self._rec("disconnected", now, session=self.session, reason=reason,
                      clock_offset_ms=self.offsets.offset_ms)
        elif self._conn in (Conn.CONNECTING, Conn.LOGGING_IN):
            self._actions.append(Close(reason))
            self._rec("connect_failed", now, reason=reason, retry_after_ms=None)
        self._cancel(T_RECONNECT)
        self._cancel(T_ROUTE)
        self._lose_connection(now)
        self.router.connection_lost()
        self._conn = Conn.OFFLINE

    def _attempt_failed(self, now: float, reason: str, retry_after_ms: int | None) -> None:
        self._metric("login", now - self._connect_at, reason)
        self.router.attempt_failed()
        delay = self._next_delay(retry_after_ms)
        self._rec("connect_failed", now, reason=reason, retry_after_ms=retry_after_ms,
                  backoff=self.backoff.policy, retry_in_s=round(delay, 4))
        self._lose_connection(now)
        self._wait_to_reconnect(now, delay)

    def _disconnected(self, now: float, reason: str) -> None:
        self.router.connection_lost()
        delay = self._next_delay(None)
        self._rec("disconnected", now, session=self.session, reason=reason,
                  backoff=self.backoff.policy, retry_in_s=round(delay, 4),
                  clock_offset_ms=self.offsets.offset_ms)
        self._lose_connection(now)
        self._wait_to_reconnect(now, delay)

    def _declare_dead(self, now: float, reason: str) -> None:
        """The engine gives up on the connection itself: Close, then as if it closed."""
        self._actions.append(Close(reason))
        if self._conn is Conn.ONLINE:
            self._disconnected(now, reason)
        else:
            self._attempt_failed(now, reason, None)

    def _lose_connection(self, now: float) -> None:
        """Forget everything that belonged to the connection (engine.py adds its part)."""
        self._login_rid = None
        self._unanswered_requests = 0
        self._sync_rid = None
        self._synced = False
        self._send_rids.clear()
        for m in self._out.pending():
            if m.state is MsgState.SENDING:
                self._attempt_lost(m, now, MsgEvent.LOST, None, "connection lost")
        self._rearm_sends(now)
        self._instructions_lost(now)

    def _next_delay(self, retry_after_ms: int | None) -> float:
        delay = with_floor(self.backoff.delay(self._fails, self._prev_delay, self._rng),
                           retry_after_ms)
        self._prev_delay = delay
        self._fails += 1
        return delay

    def _wait_to_reconnect(self, now: float, delay: float) -> None:
        self._conn = Conn.BACKOFF
        self._set_timer(T_RECONNECT, now + delay)

    def stop(self, now: float) -> None:
        """End the device: settle every pending send and op, ack what is held, close."""
        if self._conn is Conn.STOPPED:
            return
        for m in self._out.pending():
            if self._out.move(m, MsgEvent.STOP) is MsgState.UNKNOWN:
                self._rec("send_info", now, cmid=m.cmid, conv=m.conv,
                          reason="stopped in flight")
            else:
                self._rec("send_fail", now, cmid=m.cmid, conv=m.conv,
                          reason="stopped before it was sent")
        self._stop_instructions(now)
        if self._conn is Conn.ONLINE:
            self._send_ack_if_advanced()
            self._rec("disconnected", now, session=self.session, reason="stop",
                      clock_offset_ms=self.offsets.offset_ms)
        if self._conn in (Conn.CONNECTING, Conn.LOGGING_IN, Conn.ONLINE):
            self._actions.append(Close("stop"))
        for name in list(self._timers):
            self._cancel(name)
        self._conn = Conn.STOPPED

    def _send_ack_if_advanced(self) -> None:
        raise NotImplementedError  # engine.py
