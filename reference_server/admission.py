"""Admission control: what keeps a reconnect storm from sinking a node (the seed's avalanche).

At the handshake (``Admission.check_handshake``, called from the node's
``process_request``): a node over its connection limit, or over its login rate (a token
bucket of ``--login-rate`` per second, ``--login-burst`` deep), answers HTTP 503 with a
``Retry-After`` header in seconds and does not upgrade. The limits of requests per user
and per device, and of failed logins per address, are in the store (limits.py).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` stored; starts full."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def take(self) -> bool:
        """Take one token if there is one."""
        self._refill()
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def wait_s(self) -> float:
        """Seconds until a token will be there (0 when there is one now)."""
        self._refill()
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate


class Admission:
    """The node's connection count and login bucket."""

    def __init__(self, max_conns: int, login_rate: float, login_burst: int) -> None:
        self.max_conns = max_conns
        self.conns = 0  # open WebSocket connections (upgraded)
        self.refused = 0
        self.logins = TokenBucket(login_rate, login_burst)

    @property
    def load(self) -> float:
        """Connections over the limit: 0.0 idle, 1.0 full."""
        return self.conns / self.max_conns

    def check_handshake(self) -> tuple[int, str] | None:
        """None to admit a handshake, else (Retry-After seconds, why) for an HTTP 503."""
        if self.conns >= self.max_conns:
            self.refused += 1
            return 1, f"node full: {self.conns} connections, limit {self.max_conns}"
        if not self.logins.take():
            self.refused += 1
            retry = max(1, math.ceil(self.logins.wait_s()))
            return retry, f"login rate over {self.logins.rate:g}/s"
        return None
