"""Reconnect delays: the policies of AWS's "Exponential Backoff and Jitter".

A ``Backoff`` is an immutable policy, shareable by every device. The engine
keeps the per-device state (how many failures in a row, the previous delay)
and asks ``delay(n, prev, rng)`` for the wait before the next attempt, with
``n`` the number of failed attempts since the last success (0 for the first
retry after losing a working connection). Randomness comes from the caller's
``random.Random`` so a seeded run replays the same delays.

| policy | delay |
| --- | --- |
| ``none`` | 0 |
| ``fixed`` | base |
| ``exponential`` | min(cap, base * 2^n) (no jitter: the study's clear loser) |
| ``full_jitter`` | uniform(0, min(cap, base * 2^n)) (the default) |
| ``equal_jitter`` | t/2 + uniform(0, t/2), t = min(cap, base * 2^n) |
| ``decorrelated`` | min(cap, uniform(base, 3 * prev)), prev = base at first |

A server's ``Retry-After`` is a floor: ``with_floor(delay, retry_after_ms)``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

POLICIES = ("none", "fixed", "exponential", "full_jitter", "equal_jitter", "decorrelated")
_MAX_SHIFT = 60  # 2**60 * any sane base is far above any cap


@dataclass(frozen=True, slots=True)
class Backoff:
    policy: str = "full_jitter"
    base_s: float = 0.2
    cap_s: float = 5.0

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"unknown backoff policy {self.policy!r}; "
                             f"choose one of {', '.join(POLICIES)}")
        if self.base_s < 0 or self.cap_s < 0:
            raise ValueError(f"backoff base_s and cap_s must be >= 0, got "
                             f"{self.base_s} and {self.cap_s}")

    def ceiling(self, n: int) -> float:
        """min(cap, base * 2^n): the exponential envelope of attempt ``n``."""
        return min(self.cap_s, self.base_s * 2.0 ** min(max(n, 0), _MAX_SHIFT))

    def delay(self, n: int, prev: float | None, rng: random.Random) -> float:
        """Seconds to wait before attempt ``n + 1`` (``prev``: the last delay, or None)."""
        p = self.policy
        if p == "none":
            return 0.0
        if p == "fixed":
            return min(self.base_s, self.cap_s)
        if p == "exponential":
            return self.ceiling(n)
        if p == "full_jitter":
            return rng.uniform(0.0, self.ceiling(n))
        if p == "equal_jitter":
            t = self.ceiling(n)
            return t / 2 + rng.uniform(0.0, t / 2)
        # decorrelated
        last = self.base_s if prev is None else max(prev, self.base_s)
        return min(self.cap_s, rng.uniform(self.base_s, 3.0 * last))


def with_floor(delay_s: float, retry_after_ms: int | float | None) -> float:
    """``delay_s`` raised to the server's Retry-After, when it gave one."""
    if retry_after_ms is None or retry_after_ms <= 0:
        return delay_s
    return max(delay_s, retry_after_ms / 1000.0)
