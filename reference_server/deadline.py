"""A connection's deadlines: the idle close and the login deadline, both 4004.

One timer per connection that re-arms itself while frames come (cheaper than a timeout
around every recv). When it finds the connection waited ``idle_timeout_s`` for a frame,
or not logged in ``login_timeout_s`` after it opened (unless the ``no-login-deadline``
bug mode), it closes the connection, which ends the read loop's recv.
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, Protocol

from imload.protocol import CLOSE_IDLE

if TYPE_CHECKING:
    from reference_server.config import Config


class Watched(Protocol):
    """The connection a deadline watches (``Session``)."""

    user: str | None

    def close_soon(self, code: int, reason: str) -> None: ...


class Deadline:
    """Start it when the read loop starts; ``busy`` while a frame is handled, ``waiting``
    once it is; ``stop`` at the end."""

    def __init__(self, conn: Watched, config: Config) -> None:
        self._conn = conn
        self._config = config
        self._waiting_since = 0.0  # loop time the read loop began waiting for a frame
        self._opened = 0.0  # loop time the read loop started (the login deadline's start)
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        self._waiting_since = self._opened = loop.time()
        config = self._config
        self._timer = loop.call_at(
            self._opened + min(config.idle_timeout_s, config.login_timeout_s), self._check)

    def busy(self) -> None:
        self._waiting_since = math.inf  # handling: the idle clock stops

    def waiting(self) -> None:
        assert self._loop is not None
        self._waiting_since = self._loop.time()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self) -> None:
        """Close with 4004 when a deadline passed; else re-arm."""
        assert self._loop is not None
        config = self._config
        idle_s, login_s = config.idle_timeout_s, config.login_timeout_s
        now = self._loop.time()
        if self._conn.user is None and not config.bugs.has("no-login-deadline"):
            if self._opened + login_s <= now:
                self._conn.close_soon(CLOSE_IDLE, f"no login within {login_s:g} s")
                return
        due = self._waiting_since + idle_s
        if due <= now:
            self._conn.close_soon(CLOSE_IDLE, f"no frame for {idle_s:g} s")
            return
        if self._conn.user is None:
            due = min(due, self._opened + login_s)
        self._timer = self._loop.call_at(min(due, now + idle_s), self._check)
