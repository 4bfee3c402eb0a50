"""Write a connection's frames in one system call per turn of the event loop, not one each.

A send to a socket on this host costs a system call plus the kernel's work for
the receiving side, far more than framing the bytes in Python. ``FrameWriter``
takes the frames a connection is asked to write (``write``) and puts all that
came in during one turn of the gevent loop (a burst of sends from the Locust
task, the acks of a batch of pushes) on the wire together, in the order they
were written, when the greenlet that wrote them yields.

The hub runs the flush: on a plain socket it tries one non-blocking ``send``
of everything pending (the usual case: the kernel takes it all). Whatever is
left (a full send buffer, a TLS socket, the write lock held by a write of
websocket-client's own) is written by a greenlet with ``sendall``, under the
connection's write lock, so the order is kept and the socket's timeout bounds
the wait. ``flush()`` writes what is pending at once (before a close frame).

A write that fails marks the writer failed (later frames are dropped, as on a
dead connection) and reports the error once, through ``on_error``, from a
fresh greenlet (the hub may not block).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gevent
import gevent.socket


class FrameWriter:
    __slots__ = ("_lock", "_on_error", "_parts", "_raw", "_scheduled", "_sock", "failed")

    def __init__(self, sock: Any, lock: Any, on_error: Callable[[BaseException], None]) -> None:
        self._sock = sock
        # the non-blocking OS socket under a plain gevent socket (not TLS: it would skip it)
        self._raw = sock._sock if type(sock) is gevent.socket.socket else None
        self._lock = lock
        self._on_error = on_error
        self._parts: list[bytes] = []
        self._scheduled = False
        self.failed = False

    @property
    def pending(self) -> int:
        """Bytes written and not yet on the wire."""
        return sum(len(p) for p in self._parts)

    def write(self, data: bytes) -> None:
        """Queue ``data``; it goes on the wire when the current greenlet yields."""
        if self.failed:
            return
        self._parts.append(data)
        if not self._scheduled:
            self._scheduled = True
            gevent.get_hub().loop.run_callback(self._flush_soon)

    def discard(self) -> None:
        """The connection is gone: drop what is pending and every later write."""
        self.failed = True
        self._parts = []

    def flush(self) -> None:
        """Write everything pending now (blocks this greenlet until it is written)."""
        with self._lock:
            while self._parts and not self.failed:
                parts, self._parts = self._parts, []
                try:
                    self._sock.sendall(parts[0] if len(parts) == 1 else b"".join(parts))
                except Exception as e:
                    self._fail(e)

    def _flush_soon(self) -> None:
        """Run by the hub: one non-blocking send, the rest (if any) by a greenlet."""
        self._scheduled = False
        if not self._parts or self.failed:
            return
        raw = self._raw
        if raw is not None and self._lock.acquire(blocking=False):
            try:
                parts, self._parts = self._parts, []
                data = parts[0] if len(parts) == 1 else b"".join(parts)
                try:
                    sent = raw.send(data)
                except BlockingIOError:
                    sent = 0
                except Exception as e:
                    self._fail(e)
                    return
                if sent < len(data):
                    self._parts.insert(0, data[sent:])
            finally:
                self._lock.release()
            if not self._parts:
                return
        gevent.spawn(self.flush)

    def _fail(self, e: BaseException) -> None:
        self.discard()
        gevent.spawn(self._on_error, e)
