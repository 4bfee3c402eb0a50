"""Running figures of a run from its journal as it grows (pure, fed event by event).

What the live panel shows: devices connected, messages acked per second and
the ack p99 over the last ``window_s`` seconds, sends still waiting for their
ack, and a streaming pre-check of the anomalies that can be seen before the
audit (a (conv, seq) that names two mids, a cmid stored under two mids). It
never replaces the checker: lost messages can only be judged after the audit.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * len(ordered))) - 1))]


@dataclass
class LiveStats:
    window_s: float = 10.0
    connected: set[tuple[str, str]] = field(default_factory=set)
    first_attempt: dict[tuple[str, str], float] = field(default_factory=dict)
    acks: deque[tuple[float, float]] = field(default_factory=deque)  # (at, latency ms)
    mid_of_seq: dict[tuple[str, int], str] = field(default_factory=dict)
    mid_of_cmid: dict[tuple[str, str], str] = field(default_factory=dict)
    anomalies: dict[str, int] = field(default_factory=lambda: {"order": 0, "duplicated": 0})
    acked: int = 0
    now: float = 0.0

    def feed(self, ev: dict[str, Any]) -> None:
        kind = ev["ev"]
        self.now = max(self.now, ev.get("at", 0.0))
        if kind == "connected":
            self.connected.add((ev["user"], ev["device"]))
        elif kind == "disconnected":
            self.connected.discard((ev["user"], ev["device"]))
        elif kind == "send":
            self.first_attempt.setdefault((ev["user"], ev["cmid"]), ev["at"])
        elif kind == "send_ok":
            key = (ev["user"], ev["cmid"])
            start = self.first_attempt.pop(key, None)
            self.acked += 1
            if start is not None:
                self.acks.append((ev["at"], (ev["at"] - start) * 1000))
            self._mids(ev.get("conv"), ev.get("seq"), key, ev.get("mid"))
        elif kind in ("send_fail", "send_info"):
            self.first_attempt.pop((ev["user"], ev["cmid"]), None)
        elif kind == "deliver":
            self._mids(ev.get("conv"), ev.get("seq"), (ev.get("from"), ev.get("cmid")),
                       ev.get("mid"))

    def _mids(self, conv: Any, seq: Any, key: tuple[Any, Any], mid: Any) -> None:
        if mid is None:
            return
        if conv is not None and seq is not None:
            seen = self.mid_of_seq.setdefault((conv, seq), mid)
            if seen != mid:
                self.anomalies["order"] += 1
        if key[1] is not None:
            seen = self.mid_of_cmid.setdefault(key, mid)
            if seen != mid:
                self.anomalies["duplicated"] += 1

    def snapshot(self) -> dict[str, Any]:
        while self.acks and self.acks[0][0] < self.now - self.window_s:
            self.acks.popleft()
        latencies = [lat for _, lat in self.acks]
        return {"connected": len(self.connected), "acked": self.acked,
                "msgs_per_s": round(len(latencies) / self.window_s, 1),
                "ack_p99_ms": percentile(latencies, 0.99), "pending": len(self.first_attempt),
                "anomalies": dict(self.anomalies)}
