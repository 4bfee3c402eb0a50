"""Carry out what a device's engine asks, for ``GeventDevice`` (``gevent_ws.py``).

``_feed`` gives the engine one input under the engine lock and ``_execute``s the
actions it queued: ``Record`` to the journal and ``on_record``, ``SendFrame``
through the protocol adapter to the connection's ``FrameWriter`` (``writer.py``),
``Metric`` to ``on_metric``, ``SetTimer`` / ``CancelTimer`` to the ``TimerHeap``
(``timers.py``), ``Connect`` and ``FetchRoute`` to the device greenlet, ``Close``
to the connection's teardown (``lifecycle.py``). What the adapter says by itself
follows the actions that led to it: its ``output`` is written (and a STARTTLS it
asks for started), its ``events`` are given to the engine.

These run for every frame sent and received: the frequent actions are told apart
by type first, and a one-to-one codec (v1's) is called directly. A hook that
raises is logged and kept in ``errors``; it does not break the device.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import gevent.event

from imload.adapters import Adapter
from imload.client import (
    Action,
    CancelTimer,
    Close,
    Connect,
    DeviceEngine,
    FetchRoute,
    Metric,
    Record,
    SendFrame,
    SetTimer,
)
from imload.drivers.lock import EngineLock
from imload.drivers.readwait import ReadWait
from imload.drivers.timers import TimerHeap
from imload.drivers.writer import FrameWriter
from imload.drivers.wsopen import describe
from imload.journal import JournalWriter

log = logging.getLogger("imload.drivers")
R = TypeVar("R")


class EngineGlue:
    """The engine's inputs and actions; the state is ``GeventDevice.__init__``'s."""

    engine: DeviceEngine
    adapter: Adapter
    journal: JournalWriter | None
    clock: Callable[[], float]
    on_record: Callable[[dict[str, Any]], None] | None
    on_metric: Callable[[Metric], None] | None
    errors: list[str]
    _framed: Callable[[bytes], bytes]
    _encode_one: Callable[[dict[str, Any]], bytes] | None
    _lock: EngineLock
    _writer: FrameWriter | None
    _connect_url: str | None
    _route_pending: bool
    _read_wait: ReadWait
    _timers: TimerHeap
    _wake: gevent.event.Event

    def _feed(self, fn: Callable[[float], R]) -> R:
        """Give the engine one input (``fn(now)``) and carry out what it asks."""
        with self._lock:
            result = fn(self.clock())
            self._execute(self.engine.actions())
            return result

    def _adapter_events(self) -> None:
        """Give the engine what the adapter made up by itself (e.g. an ``error`` for an
        intent its protocol cannot carry), after the actions that led to it; what it makes
        up meanwhile is given by the nested ``_execute``."""
        engine = self.engine
        for ev in self.adapter.events():
            engine.frame_received(ev, self.clock())
            self._execute(engine.actions())

    def _execute(self, actions: list[Action]) -> None:
        for a in actions:
            kind = type(a)  # the frequent kinds first, by type (actions are final classes)
            if kind is Record:
                ev = a.event  # type: ignore[union-attr]
                if self.journal is not None:
                    self.journal.write(ev)
                if self.on_record is not None:
                    self._callback(self.on_record, ev)
            elif kind is SendFrame:
                self._write(a.frame)  # type: ignore[union-attr]
            elif isinstance(a, Metric):
                if self.on_metric is not None:
                    self._callback(self.on_metric, a)
            elif isinstance(a, SetTimer):
                self._timers.set(a.name, a.at)
                self._wake.set()
                self._read_wait.earlier(a.at)  # a wait under way ends by then
            elif isinstance(a, CancelTimer):
                self._timers.cancel(a.name)
            elif isinstance(a, Connect):
                self._connect_url = a.url
                self._wake.set()
            elif isinstance(a, FetchRoute):
                self._route_pending = True
                self._wake.set()
            elif isinstance(a, Close):
                self._drop_socket(a.reason)
        if self.adapter.has_events:
            self._adapter_events()

    def _callback(self, fn: Callable[[Any], None] | None, arg: Any) -> None:
        if fn is None:
            return
        try:
            fn(arg)
        except Exception as e:  # a broken hook must not break the device
            log.exception("%s: callback %r failed", self._name(), fn)
            self.errors.append(f"callback: {describe(e)}")

    def _write(self, frame: dict[str, Any]) -> None:
        w = self._writer
        if w is None or w.failed:
            return  # no connection: the engine's timers cover the loss
        enc = self._encode_one  # the frame in the wire protocol; a failed write ends it
        if enc is not None:
            w.write(self._framed(enc(frame)))
            return
        ad = self.adapter
        framed = self._framed
        for payload in ad.encode(frame, self.clock()):
            w.write(framed(payload))
        if ad.has_output:
            self._write_output()

    def _write_output(self) -> None:
        """Write what the adapter queued by itself (handshake steps, protocol acks)."""
        w = self._writer
        out = self.adapter.output()
        framed = self._framed
        if w is not None and not w.failed:
            for payload in out:
                w.write(framed(payload))
        if self.adapter.wants_tls:
            self._start_tls()

    def _name(self) -> str:
        return f"{self.engine.user}/{self.engine.device}"

    def _start_tls(self) -> None:
        raise NotImplementedError  # the connection's owner (lifecycle.py)

    def _drop_socket(self, reason: str = "") -> None:
        raise NotImplementedError  # the connection's owner (lifecycle.py)
