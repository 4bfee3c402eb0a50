"""The device's local clock and its estimate of the server's clock.

The engine has no clock of its own: the driver passes ``now``, seconds on the
load host's monotonic clock (``time.monotonic()``, the journal's ``at``).
Protocol times are epoch milliseconds, so the driver measures once
``wall_offset = time.time() - time.monotonic()`` and puts it in
``EngineConfig``. The device's local clock, which may be wrong on purpose, is

    local_ms(now) = round((now + wall_offset) * 1000) + skew_ms

``skew_ms`` lives on the engine so a chaos step can change it mid-run.

``OffsetEstimator`` keeps NTP-style samples from ping/pong: with ``t0`` the
local ts sent in the ping, ``t1`` the local ts when the pong arrived and
``server_ts`` the node's clock, offset = server_ts - (t0 + t1) / 2 and
rtt = t1 - t0. Its estimate is the sample of least rtt among the last few
(NTP's clock filter): a slow round trip says little about the offset.
"""

from __future__ import annotations

from collections import deque


def local_ms(now: float, wall_offset: float, skew_ms: int) -> int:
    """The device's local clock in epoch milliseconds at monotonic ``now``."""
    return round((now + wall_offset) * 1000) + skew_ms


class OffsetEstimator:
    def __init__(self, window: int = 8) -> None:
        self._samples: deque[tuple[float, float]] = deque(maxlen=window)  # (rtt, offset)

    def add(self, t0: int, t1: int, server_ts: int) -> None:
        rtt = t1 - t0
        if rtt < 0:  # the local clock stepped back between ping and pong: useless sample
            return
        self._samples.append((float(rtt), server_ts - (t0 + t1) / 2))

    @property
    def offset_ms(self) -> float | None:
        """Estimated server clock minus local clock, ms; None before the first pong."""
        if not self._samples:
            return None
        return min(self._samples)[1]

    @property
    def rtt_ms(self) -> float | None:
        if not self._samples:
            return None
        return min(self._samples)[0]
