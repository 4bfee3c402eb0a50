"""Run a ``DeviceEngine`` under gevent, over websocket-client.

One greenlet per device does all the blocking work: it connects when the
engine asks (``Connect``), reads frames with a receive timeout set to the
time until the next timer (capped at ``poll_s``, so that a timer set from
another greenlet is never later than that), and fires due timers. Other
greenlets (the Locust task) may call ``send_message``; every engine input and
the execution of the actions it queued happen under one gevent lock, so the
engine is only ever entered by one greenlet at a time, and socket writes are
serialised by a second lock that websocket-client also uses for the pongs it
sends by itself.

Sockets are gevent's own (``gevent.socket``), handed to
``websocket.create_connection(socket=...)``, so the driver cooperates with
other greenlets whether or not the process is monkey-patched (Locust patches
it; the tests do not).

No exception kills the device greenlet silently: it is logged, kept in
``errors``, and treated as the loss of the connection.
"""

from __future__ import annotations

import heapq
import logging
import struct
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import gevent
import gevent.event
import gevent.lock
import gevent.socket
import websocket
from gevent import ssl as gssl

from imload.client import (
    Action,
    CancelTimer,
    Close,
    Conn,
    Connect,
    DeviceEngine,
    Metric,
    Record,
    SendFrame,
    SetTimer,
)
from imload.journal import JournalWriter
from imload.protocol import FrameError, decode_frame, encode_frame

log = logging.getLogger("imload.drivers")
R = TypeVar("R")


def measure_wall_offset() -> float:
    """``time.time() - time.monotonic()``: what ``EngineConfig.wall_offset`` wants."""
    return time.time() - time.monotonic()


def retry_after_ms(headers: dict[str, str] | None) -> int | None:
    """The Retry-After of an HTTP answer (seconds) in ms; None if absent or a date."""
    for k, v in (headers or {}).items():
        if k.lower() == "retry-after":
            try:
                return max(0, round(float(v) * 1000))
            except ValueError:
                return None
    return None


def describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class GeventDevice:
    """The I/O around one engine. ``start()``, then ``send_message`` from any greenlet."""

    def __init__(self, engine: DeviceEngine, journal: JournalWriter | None, *,
                 clock: Callable[[], float] = time.monotonic, connect_timeout_s: float = 5.0,
                 on_record: Callable[[dict[str, Any]], None] | None = None,
                 on_metric: Callable[[Metric], None] | None = None,
                 poll_s: float = 1.0, io_timeout_s: float = 10.0,
                 ca: str | None = None) -> None:
        self.engine = engine
        self.journal = journal
        self.clock = clock
        self.connect_timeout_s = connect_timeout_s
        self.on_record = on_record
        self.on_metric = on_metric
        self.poll_s = poll_s
        self.io_timeout_s = io_timeout_s
        self.ca = ca
        self.errors: list[str] = []
        self.bad_frames = 0
        self._lock = gevent.lock.RLock()            # engine inputs + action execution
        self._write_lock = gevent.lock.Semaphore()  # frames written to the socket
        self._ws: websocket.WebSocket | None = None
        self._connect_url: str | None = None
        self._timers: dict[str, tuple[float, int]] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._seq = 0
        self._wake = gevent.event.Event()
        self._greenlet: gevent.Greenlet | None = None
        self._stopping = False
        self._broken: tuple[websocket.WebSocket, str] | None = None

    # ------------------------------------------------------------ public
    @property
    def online(self) -> bool:
        return self.engine.online

    def start(self) -> None:
        """Record the device, begin connecting, and run the device greenlet."""
        if self._greenlet is not None:
            return
        self._feed(self.engine.start)
        self._greenlet = gevent.spawn(self._run)
        self._greenlet.name = f"device-{self.engine.user}-{self.engine.device}"

    def send_message(self, conv: str, body: str) -> str:
        """Send a message (any greenlet); returns its cmid at once, before the ack."""
        return self._feed(lambda now: self.engine.send_message(conv, body, now))

    def request_sync(self) -> None:
        """Ask the engine to sync to the end of the inbox (see ``DeviceEngine.request_sync``)."""
        self._feed(self.engine.request_sync)

    def wait_until(self, predicate: Callable[[], bool], timeout: float,
                   interval: float = 0.02) -> bool:
        """Sleep (cooperatively) until ``predicate()`` is true or ``timeout`` passes."""
        deadline = self.clock() + timeout
        while not predicate():
            if self.clock() >= deadline:
                return False
            gevent.sleep(interval)
        return True

    def stop(self, drain_s: float = 3.0) -> None:
        """Wait up to ``drain_s`` for pending sends to be acked, then stop the engine and close."""
        if self._stopping:
            return
        self.wait_until(lambda: self.engine.pending_sends == 0, drain_s)
        self._feed(self.engine.stop)
        self._stopping = True
        self._wake.set()
        g = self._greenlet
        if g is not None and g is not gevent.getcurrent():
            g.join(timeout=2.0)
            if not g.dead:
                g.kill(block=True, timeout=2.0)
        with self._lock:
            self._drop_socket()

    # ------------------------------------------------------- engine glue
    def _feed(self, fn: Callable[[float], R]) -> R:
        """Give the engine one input (``fn(now)``) and carry out what it asks."""
        with self._lock:
            result = fn(self.clock())
            self._execute(self.engine.actions())
            broken, self._broken = self._broken, None
            if broken is not None:
                self._lost(*broken)
            return result

    def _execute(self, actions: list[Action]) -> None:
        for a in actions:
            if isinstance(a, Record):
                if self.journal is not None:
                    self.journal.write(a.event)
                self._callback(self.on_record, a.event)
            elif isinstance(a, SendFrame):
                self._write(a.frame)
            elif isinstance(a, SetTimer):
                self._seq += 1
                self._timers[a.name] = (a.at, self._seq)
                heapq.heappush(self._heap, (a.at, self._seq, a.name))
                self._wake.set()
            elif isinstance(a, CancelTimer):
                self._timers.pop(a.name, None)
            elif isinstance(a, Metric):
                self._callback(self.on_metric, a)
            elif isinstance(a, Connect):
                self._connect_url = a.url
                self._wake.set()
            elif isinstance(a, Close):
                self._drop_socket(a.reason)

    def _callback(self, fn: Callable[[Any], None] | None, arg: Any) -> None:
        if fn is None:
            return
        try:
            fn(arg)
        except Exception as e:  # a broken hook must not break the device
            log.exception("%s: callback %r failed", self._name(), fn)
            self.errors.append(f"callback: {describe(e)}")

    def _write(self, frame: dict[str, Any]) -> None:
        ws = self._ws
        if ws is None or self._broken is not None:
            return  # no connection: the engine's timers cover the loss
        try:
            ws.send(encode_frame(frame))  # takes ws.lock, which is self._write_lock
        except Exception as e:
            self._broken = (ws, f"write failed: {describe(e)}")  # handled after this batch

    def _drop_socket(self, reason: str = "") -> None:
        ws, self._ws = self._ws, None
        if ws is None:
            return
        with gevent.Timeout(1.0, False):
            try:
                text = reason.encode()[:120].decode("utf-8", "ignore")  # a close reason: <=123 B
                ws.send_close(websocket.STATUS_NORMAL, text.encode())
            except Exception:  # noqa: S110 - closing a socket that may be dead already
                pass
        ws.shutdown()

    def _lost(self, ws: websocket.WebSocket, reason: str) -> None:
        with self._lock:
            if ws is not self._ws:
                return  # the engine closed it already
            self._ws = None
            ws.shutdown()
            self._feed(lambda now: self.engine.transport_closed(now, reason))

    def _name(self) -> str:
        return f"{self.engine.user}/{self.engine.device}"

    # ------------------------------------------------------------- loop
    def _run(self) -> None:
        while not self._stopping:
            try:
                self._step()
            except Exception as e:
                log.exception("%s: device loop error", self._name())
                self.errors.append(describe(e))
                ws = self._ws
                if ws is not None:
                    self._lost(ws, f"driver error: {describe(e)}")
                gevent.sleep(0.05)

    def _step(self) -> None:
        url, self._connect_url = self._connect_url, None
        if url is not None:
            self._connect(url)
            return
        self._wake.clear()  # from here on, a new timer or Connect wakes the wait below
        self._fire_due_timers()
        timeout = self._until_next_timer()
        ws = self._ws
        if ws is None:
            if self._connect_url is None:
                self._wake.wait(timeout)
            return
        got: tuple[int, Any] | None = None
        try:
            # a gevent timeout, not the socket's: writes keep their own (io_timeout_s);
            # it can only strike while waiting, so a frame half read is resumed next time
            with gevent.Timeout(timeout, False):
                got = ws.recv_data_frame(False)
        except Exception as e:
            if not self._stopping:
                self._lost(ws, f"connection lost: {describe(e)}")
            return
        if got is None or ws is not self._ws:
            return  # nothing yet, or closed by the engine while we waited
        opcode, frame = got
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            self._lost(ws, "closed by server" + _close_detail(frame.data))
        elif opcode == websocket.ABNF.OPCODE_TEXT:
            data = frame.data
            try:
                decoded = decode_frame(data.decode() if isinstance(data, bytes) else data)
            except (FrameError, UnicodeDecodeError):
                self.bad_frames += 1
                return
            self._feed(lambda now: self.engine.frame_received(decoded, now))
        else:
            self.bad_frames += 1  # binary frames are not part of protocol v1

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
            self._feed(self.engine.transport_open)

    def _open(self, url: str) -> websocket.WebSocket:
        parts = urlsplit(url)
        secure = parts.scheme == "wss"
        host = parts.hostname or "127.0.0.1"
        port = parts.port or (443 if secure else 80)
        sock = gevent.socket.create_connection((host, port), timeout=self.connect_timeout_s)
        try:
            if secure:
                ctx = gssl.create_default_context(cafile=self.ca)
                sock = ctx.wrap_socket(sock, server_hostname=host)
            ws = websocket.create_connection(url, timeout=self.connect_timeout_s, socket=sock,
                                             enable_multithread=True, suppress_origin=True)
        except BaseException:
            sock.close()
            raise
        ws.settimeout(self.io_timeout_s)  # bounds writes; reads are bounded in _step
        # cooperative locks instead of threading ones (the process may not be patched)
        ws.lock = self._write_lock
        ws.readlock = gevent.lock.Semaphore()
        ws.frame_buffer.lock = gevent.lock.Semaphore()
        return ws

    def _fire_due_timers(self) -> None:
        while self._heap and self._heap[0][0] <= self.clock():
            at, seq, name = heapq.heappop(self._heap)
            if self._timers.get(name) != (at, seq):
                continue  # replaced or cancelled
            del self._timers[name]
            self._fire(name)

    def _fire(self, name: str) -> None:
        self._feed(lambda now: self.engine.timer_fired(name, now))

    def _until_next_timer(self) -> float:
        while self._heap and self._timers.get(self._heap[0][2]) != self._heap[0][:2]:
            heapq.heappop(self._heap)
        if not self._heap:
            return self.poll_s
        return min(self.poll_s, max(0.001, self._heap[0][0] - self.clock()))


def _close_detail(data: bytes) -> str:
    if len(data) >= 2:
        code = struct.unpack("!H", data[:2])[0]
        reason = data[2:].decode("utf-8", "replace")
        return f" {code}" + (f" {reason}" if reason else "")
    return ""


