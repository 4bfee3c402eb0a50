"""The device greenlet's one wait: the server's next bytes or the engine's next timer.

Between frames the device greenlet (``gevent_ws.py``) waits for the server's next
bytes, at most until the engine's next timer. At a chat's pace every frame arrives
alone, so this wait happens once per frame received; it is built of the hub's own
parts, never a ``gevent.Timeout`` (a Python object per wait, plus the socket's own
for its read timeout, and an exception thrown into the greenlet when it expires):

- ``wait(watcher, end)``, for a plain socket (``plain_socket``): waits on the
  socket's read watcher and on one libev timer of the device, made anew only when
  the end moves; True when the socket is readable, False when ``end`` (the device's
  clock) came first. The read itself is a non-blocking ``recv`` on the OS socket.
- ``run_blocking(read, end)``, for any other socket (TLS: readable bytes need not
  be a whole record): runs the blocking ``read``; the same timer throws
  ``WaitOver`` into it at ``end``, as a Timeout would. False when it did.
- ``earlier(at)``: another greenlet set a timer due before the wait ends (a send's
  ack timeout): the wait ends at ``at`` instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gevent.socket
from gevent.hub import Waiter, get_hub
from greenlet import getcurrent


class WaitOver(Exception):
    """Thrown into a blocking read when its wait's end came first."""


def plain_socket(sock: Any) -> tuple[Any, Any] | None:
    """(the non-blocking OS socket, its read watcher) under a plain gevent socket; None
    for any other (TLS, a test double): those are read by blocking calls."""
    if type(sock) is gevent.socket.socket:
        return sock._sock, sock._read_event
    return None


class ReadWait:
    __slots__ = ("_clock", "_greenlet", "_timer", "_timer_at", "_waiter", "end")

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._timer: Any = None     # the libev timer, armed for _timer_at
        self._timer_at = 0.0
        self._waiter: Waiter | None = None  # a wait() under way
        self._greenlet: Any = None  # a run_blocking() under way
        self.end = 0.0

    @property
    def waiting(self) -> bool:
        return self._waiter is not None or self._greenlet is not None

    def wait(self, watcher: Any, end: float) -> bool:
        """Until ``watcher`` (a read watcher) fires (True) or ``end`` comes (False)."""
        waiter = Waiter(get_hub())
        self._waiter, self.end = waiter, end
        self._arm(end)
        watcher.start(waiter.switch, True)
        try:
            return bool(waiter.get())
        finally:
            watcher.stop()
            self._waiter = None

    def run_blocking(self, read: Callable[[], Any], end: float) -> bool:
        """``read()``, interrupted at ``end`` (then False)."""
        self._greenlet, self.end = getcurrent(), end
        self._arm(end)
        try:
            read()
            return True
        except WaitOver:
            return False
        finally:
            self._greenlet = None

    def earlier(self, at: float) -> None:
        """A timer due at ``at`` was set meanwhile: a wait under way ends then at the latest."""
        if at < self.end and self.waiting:
            self.end = at
            self._arm(at)

    def cancel(self) -> None:
        """Disarm the timer (the device stops)."""
        t, self._timer = self._timer, None
        if t is not None:
            t.stop()

    def _arm(self, end: float) -> None:
        t = self._timer
        if t is not None:
            if self._timer_at == end:
                return  # armed for this end already (the usual case: the same next timer)
            t.stop()
        t = get_hub().loop.timer(max(0.0, end - self._clock()))
        t.start(self._ring)
        self._timer, self._timer_at = t, end

    def _ring(self) -> None:
        """Run by the hub at the end: the wait under way (if any) is over."""
        self._timer = None
        w = self._waiter
        if w is not None:
            w.switch(False)
        elif self._greenlet is not None:
            g, self._greenlet = self._greenlet, None
            g.throw(WaitOver)
