"""Run a ``DeviceEngine`` under gevent, over websocket-client.

One greenlet per device does all the blocking work: it asks the LBS when the
engine asks (``FetchRoute``, see ``lbs_http.py``), connects (``Connect``), waits
for frames at most until the next timer (capped at ``poll_s``), and fires due
timers. The wait is the hub's own read watcher and timer (``readwait.py``: no
``gevent.Timeout`` per wait); a timer set from another greenlet that is due
before the wait ends cuts the wait short. Other greenlets
(the Locust task) may call ``send_message``, ``do_op``, ``mark_read``,
``request_state`` and ``set_network``; every engine input and
the execution of the actions it queued happen under one gevent lock, so the
engine is only ever entered by one greenlet at a time, and socket writes are
serialised by a second lock that websocket-client also uses for the pongs it
sends by itself.

Sockets are gevent's own (``gevent.socket``, see ``wsopen.py``), handed to
``websocket.create_connection(socket=...)`` for the handshake, so the driver
cooperates with other greenlets whether or not the process is monkey-patched
(Locust patches it; the tests do not). After the handshake the driver reads
server frames itself from a read-ahead buffer (``buffered.py``: the only
blocking read is the buffer's ``fill``, so a timeout never loses half a frame)
and frames its writes itself (``wsopen.text_frame``); a ``FrameWriter``
(``writer.py``) puts those of one turn of the event loop on the wire in one
system call.

Frames go through the device's protocol adapter (``imload/adapters``, v1 by
default): ``encode`` for each ``SendFrame``, ``decode`` for each message from the
server, and what the adapter says by itself (``output``, ``events``) right after.

``push_loss`` makes the transport lose that share of ``msg`` pushes (seeded), as a
broken proxy would: the engine finds the hole in the useqs and syncs (a gap sync).

No exception kills the device greenlet silently: it is logged, kept in
``errors``, and treated as the loss of the connection.

``GeventDevice`` is one class in three modules, one concern each: this one has
its state (``__init__``), its API to other greenlets and the device greenlet's
loop (the reads); ``glue.py`` (``EngineGlue``) feeds the engine and carries out
the actions it queues (the writes); ``lifecycle.py`` (``ConnectionLifecycle``)
routes, dials, upgrades (STARTTLS), closes and loses the connection.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event
import gevent.lock
import websocket

from imload.adapters import Adapter, DeviceIdentity, ProtocolViolation
from imload.adapters.v1 import V1Adapter
from imload.client import DeviceEngine, Metric
from imload.drivers.buffered import OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, ReadAhead
from imload.drivers.lifecycle import ConnectionLifecycle
from imload.drivers.lock import EngineLock
from imload.drivers.readwait import ReadWait
from imload.drivers.tcpconn import StreamReader, raw_payload
from imload.drivers.timers import TimerHeap
from imload.drivers.writer import FrameWriter
from imload.drivers.wsopen import binary_frame, describe, text_frame
from imload.journal import JournalWriter

log = logging.getLogger("imload.drivers")


class GeventDevice(ConnectionLifecycle):
    """The I/O around one engine. ``start()``, then ``send_message`` from any greenlet."""

    def __init__(self, engine: DeviceEngine, journal: JournalWriter | None, *,
                 clock: Callable[[], float] = time.monotonic, connect_timeout_s: float = 5.0,
                 on_record: Callable[[dict[str, Any]], None] | None = None,
                 on_metric: Callable[[Metric], None] | None = None,
                 poll_s: float = 30.0, io_timeout_s: float = 10.0,
                 ca: str | None = None, lbs: str | None = None, push_loss: float = 0.0,
                 loss_rng: random.Random | None = None,
                 adapter: Adapter | None = None) -> None:
        self.engine = engine
        # the wire protocol: the engine's frames in and out (imload/adapters); default v1
        self.adapter = adapter or V1Adapter(DeviceIdentity(engine.user, engine.device,
                                                           engine.token))
        # how a payload goes on the wire: a WebSocket frame, or as it is on a byte stream
        self._framed = (raw_payload if self.adapter.transport == "tcp" else
                        binary_frame if self.adapter.binary else text_frame)
        # a one-to-one codec (v1's): called directly on the hot paths
        self._encode_one, self._decode_one = self.adapter.codec or (None, None)
        self._data_op = OP_BINARY if self.adapter.binary else OP_TEXT  # its messages' opcode
        self.journal = journal
        self.clock = clock
        self.connect_timeout_s = connect_timeout_s
        self.on_record = on_record
        self.on_metric = on_metric
        self.poll_s = poll_s
        self.io_timeout_s = io_timeout_s
        self.ca = ca
        self.lbs = lbs
        self.push_loss = push_loss  # share of msg pushes this transport loses (a fault)
        self._loss_rng = loss_rng or random.Random(0)
        self.lost_pushes = 0
        self.errors: list[str] = []
        self.bad_frames = 0
        self._lock = EngineLock()                   # engine inputs + action execution
        self._write_lock = gevent.lock.Semaphore()  # frames written to the socket
        self._ws: websocket.WebSocket | None = None
        self._writer: FrameWriter | None = None  # the frames of _ws, one send per loop turn
        self._connect_url: str | None = None
        self._route_pending = False
        self._read_wait = ReadWait(clock)  # the device greenlet's wait for bytes or a timer
        self._timers = TimerHeap()
        self._wake = gevent.event.Event()
        self._greenlet: gevent.Greenlet | None = None
        self._stopping = False

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
        with self._lock:  # _feed, without a closure per message
            cmid = self.engine.send_message(conv, body, self.clock())
            self._execute(self.engine.actions())
            return cmid

    def in_group(self, conv: str) -> bool | None:
        """Whether the device has seen itself added to group ``conv`` (None: never)."""
        return self.engine.in_group(conv)

    def do_op(self, kind: str, args: dict[str, Any]) -> str:
        """Queue an op (any greenlet); returns its opid at once."""
        return self._feed(lambda now: self.engine.do_op(kind, args, now))

    def op_outcome(self, opid: str) -> str | None:
        """``op_ok``, ``op_fail`` or ``op_info`` once the op ended (None: not yet)."""
        return self.engine.op_outcomes.get(opid)

    def mark_read(self, conv: str, upto: int | None = None) -> int | None:
        """Queue a read marker for ``conv`` (default: the newest seq held)."""
        return self._feed(lambda now: self.engine.mark_read(conv, now, upto))

    def request_state(self) -> bool:
        """Ask for the user's stored state (journal ``state``); False when offline."""
        return self._feed(self.engine.request_state)

    def set_network(self, up: bool) -> None:
        """The device's network goes down (the connection closes, nothing is dialled) or up."""
        self._feed(lambda now: self.engine.network_changed(up, now))

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
        """Wait up to ``drain_s`` for pending sends, ops and reads to be answered, then stop
        the engine and close."""
        if self._stopping:
            return
        self.wait_until(lambda: self.engine.idle, drain_s)
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
        self._read_wait.cancel()

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
        if self._route_pending:
            self._route_pending = False
            self._route()
            return
        url, self._connect_url = self._connect_url, None
        if url is not None:
            self._connect(url)
            return
        self._wake.clear()  # from here on, a new timer or Connect wakes the wait below
        while (due := self._timers.pop_due(self.clock())) is not None:
            self._fire(due)
        timeout = self._timers.until_next(self.clock(), self.poll_s)
        ws = self._ws
        if ws is None:
            if self._connect_url is None:
                self._wake.wait(timeout)
            return
        reader = ws.sock
        assert isinstance(reader, ReadAhead | StreamReader)
        handled = False
        with self._lock:  # every message read already (no waiting), then the timers again
            while True:
                try:
                    got = reader.next_message()
                except Exception as e:
                    self._lost(ws, f"bad frame from the server: {describe(e)}")
                    return
                if got is None:
                    break
                self._handle(ws, *got)
                handled = True
                if ws is not self._ws or self._stopping:
                    return  # closed meanwhile: what the old socket still holds is not read
        if not handled:
            self._await_bytes(ws, reader, timeout)

    def _await_bytes(self, ws: websocket.WebSocket, reader: ReadAhead | StreamReader,
                     timeout: float) -> None:
        """Wait for the server's next bytes, at most ``timeout`` (until the next timer):
        the hub's watcher and timer, not the socket's own (writes keep theirs,
        ``io_timeout_s``); partial frames stay buffered."""
        end = self.clock() + timeout
        try:
            watcher = reader.read_event
            if watcher is None:  # TLS: a blocking read, interrupted at the end
                self._read_wait.run_blocking(reader.fill, end)
            elif not reader.fill_ready() and self._read_wait.wait(watcher, end):
                reader.fill_ready()
        except Exception as e:
            if not self._stopping and ws is self._ws:
                self._lost(ws, f"connection lost: {describe(e)}")

    def _handle(self, ws: websocket.WebSocket, opcode: int, data: bytes) -> None:
        """One message from the server; the caller holds the engine lock."""
        if opcode == self._data_op:
            dec = self._decode_one
            if dec is not None:  # a one-to-one codec: the hot path
                try:
                    frame = dec(data)
                except ProtocolViolation:
                    self.bad_frames += 1
                    return
                if self.push_loss and self._lose_push(frame):
                    return
                self.engine.frame_received(frame, self.clock())  # _feed, with the lock held
                self._execute(self.engine.actions())
                return
            ad, now = self.adapter, self.clock()
            try:
                decoded = ad.decode(data, now)
            except ProtocolViolation as e:
                self.bad_frames += 1
                if e.fatal:
                    self._lost(ws, f"protocol: {e}")
                return
            if ad.has_output or ad.wants_tls:
                self._write_output()
            engine = self.engine
            for frame in decoded:
                if self.push_loss and self._lose_push(frame):
                    continue
                engine.frame_received(frame, now)  # _feed, with the lock held
                self._execute(engine.actions())
            if ad.has_events:
                self._adapter_events()
        elif opcode == OP_CLOSE:
            self._answer_close(ws, data)
        elif opcode == OP_PING:
            try:
                ws.pong(data)
            except Exception as e:
                self._lost(ws, f"write failed: {describe(e)}")
        elif opcode != OP_PONG:
            self.bad_frames += 1  # text for a binary protocol, or binary for a text one

    def _lose_push(self, frame: dict[str, Any]) -> bool:
        """``push_loss``: lose this ``msg`` push, as a broken proxy would (a gap sync
        follows)?"""
        if frame.get("t") == "msg" and self._loss_rng.random() < self.push_loss:
            self.lost_pushes += 1
            return True
        return False

    def _fire(self, name: str) -> None:
        self._feed(lambda now: self.engine.timer_fired(name, now))
