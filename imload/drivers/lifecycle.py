"""A device's connection from its route to its loss, for ``GeventDevice`` (``gevent_ws.py``).

The device greenlet asks the LBS when the engine says ``FetchRoute`` (``_route``,
see ``lbs_http.py``) and dials when it says ``Connect`` (``_connect``): a WebSocket
(``wsopen.open_websocket``) or, for an adapter whose ``transport`` is ``"tcp"``, a
byte stream (``tcpconn.open_tcp``). The engine hears ``route_received`` /
``route_failed``, then ``transport_open`` or ``transport_failed`` (with the
Retry-After of an HTTP refusal). A connection that comes up after the device was
stopped, or after the engine gave up on it, is shut at once.

Over TCP the adapter may ask for STARTTLS (``_start_tls``): what is written goes
first, then the socket is upgraded in place and the adapter told.

A connection ends one of three ways: the engine closes it (``Close``:
``_drop_socket`` writes what is pending, then a close frame), the server closes it
(``_answer_close`` answers its close frame), or it is lost (``_lost``: a failed
read or write, a bad frame). Each way the connection's ``FrameWriter`` is
discarded with what it still holds, the adapter forgets the connection's state,
and, unless the engine closed it itself, the engine hears ``transport_closed``
with the reason.
"""

from __future__ import annotations

import gevent
import gevent.lock
import websocket

from imload.client import Conn
from imload.drivers.glue import EngineGlue
from imload.drivers.lbs_http import RouteError, fetch_route
from imload.drivers.tcpconn import open_tcp
from imload.drivers.writer import FrameWriter
from imload.drivers.wsopen import close_detail, describe, open_websocket, retry_after_ms


class ConnectionLifecycle(EngineGlue):
    """Route, dial, STARTTLS, close and loss of the device's one connection."""

    ca: str | None
    lbs: str | None
    connect_timeout_s: float
    io_timeout_s: float
    _ws: websocket.WebSocket | None
    _write_lock: gevent.lock.Semaphore
    _stopping: bool

    def _route(self) -> None:
        e = self.engine
        try:
            if self.lbs is None:
                raise RouteError("the target has no lbs")
            urls = fetch_route(self.lbs, e.user, e.device, ca=self.ca,
                               timeout=self.connect_timeout_s)
        except RouteError as err:
            why = f"lbs: {err}"
            self._feed(lambda now: e.route_failed(now, why))
            return
        self._feed(lambda now: e.route_received(now, urls))

    def _connect(self, url: str) -> None:
        why: str | None = None
        ra: int | None = None
        try:
            ws = self._open(url)
        except websocket.WebSocketBadStatusException as e:
            why, ra = f"HTTP {e.status_code}", retry_after_ms(e.resp_headers)
        except Exception as e:
            why = describe(e)
        if why is not None:
            self._feed(lambda now: self.engine.transport_failed(now, why, ra))
            return
        with self._lock:
            if self._stopping or self.engine.state is not Conn.CONNECTING:
                ws.shutdown()  # stopped (or gave up) while we were connecting
                return
            self._ws = ws
            self._writer = FrameWriter(
                ws.sock.wrapped, self._write_lock,
                lambda e: self._lost(ws, f"write failed: {describe(e)}"))
            self.adapter.opened(self.clock())
            if self.adapter.has_output:
                self._write_output()
            self._feed(self.engine.transport_open)

    def _open(self, url: str) -> websocket.WebSocket:
        if self.adapter.transport == "tcp":
            return open_tcp(url, connect_timeout_s=self.connect_timeout_s,  # type: ignore
                            io_timeout_s=self.io_timeout_s, ca=self.ca)
        return open_websocket(url, self._write_lock, ca=self.ca,
                              subprotocols=self.adapter.subprotocols,
                              connect_timeout_s=self.connect_timeout_s,
                              io_timeout_s=self.io_timeout_s)

    def _start_tls(self) -> None:
        """STARTTLS: what is written goes first, then the socket is upgraded in place and
        the adapter told (its new stream header follows)."""
        ws, w = self._ws, self._writer
        if ws is None or w is None or not hasattr(ws, "start_tls"):
            return
        try:
            w.flush()
            ws.start_tls(self.ca, self.io_timeout_s)
        except Exception as e:
            self._lost(ws, f"STARTTLS failed: {describe(e)}")
            return
        self._writer = FrameWriter(ws.sock.wrapped, self._write_lock,
                                   lambda e: self._lost(ws, f"write failed: {describe(e)}"))
        self.adapter.tls_started()
        if self.adapter.has_output:
            self._write_output()

    def _forget_writer(self) -> None:
        w, self._writer = self._writer, None
        if w is not None:
            w.discard()  # the connection is gone: so is what waited to be written
            self.adapter.closed()  # and the adapter's state of that connection

    def _drop_socket(self, reason: str = "") -> None:
        ws, self._ws = self._ws, None
        if ws is None:
            return
        with gevent.Timeout(1.0, False):
            try:
                if self._writer is not None:
                    self._writer.flush()  # what the engine wrote before it closed goes first
                text = reason.encode()[:120].decode("utf-8", "ignore")  # a close reason: <=123 B
                ws.send_close(websocket.STATUS_NORMAL, text.encode())
            except Exception:  # noqa: S110 - closing a socket that may be dead already
                pass
        self._forget_writer()  # also when the flush timed out
        ws.shutdown()

    def _answer_close(self, ws: websocket.WebSocket, data: bytes) -> None:
        """The server sent a close frame (``data``: its payload); the caller holds the
        engine lock."""
        with gevent.Timeout(1.0, False):
            try:
                if self._writer is not None:
                    self._writer.flush()
                ws.send_close()  # answer the close, as websocket-client would
            except Exception:  # noqa: S110 - the peer may be gone already
                pass
        self._lost(ws, "closed by server" + close_detail(data))

    def _lost(self, ws: websocket.WebSocket, reason: str) -> None:
        with self._lock:
            if ws is not self._ws:
                return  # the engine closed it already
            self._ws = None
            self._forget_writer()
            ws.shutdown()
            self._feed(lambda now: self.engine.transport_closed(now, reason))
