"""Running figures of a run from its journal as it grows (pure, fed event by event).

What the live panel and the Prometheus exporter (imload/live/prometheus.py, docs/metrics.md)
show: devices connected, first send attempts, acks, pushes, reconnects; messages acked per
second and the ack and push p99 over the last ``window_s`` seconds; cumulative ack and push
latency histograms (fixed buckets, in ms); sends still waiting for their ack; messages acked
that no other device has received yet; the faults started and stopped; and a streaming
pre-check of the anomalies that can be seen before the audit (a (conv, seq) that names two
mids, a cmid stored under two mids). It never replaces the checker: lost messages can only
be judged after the audit.

Every event costs a few dict and set operations. What is kept per message is bounded: a
pending send until its outcome, a send's start and an early delivery for ``horizon_s``
seconds, an acked mid until another device receives it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from dataclasses import dataclass, field
from typing import Any

# Upper bounds (ms) of the latency histograms' buckets; +Inf is implied.
LATENCY_BUCKETS_MS: tuple[float, ...] = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000,
                                         10000, 30000)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * len(ordered))) - 1))]


@dataclass
class Histogram:
    """Latencies (ms) counted per fixed upper bound since the start, as Prometheus keeps a
    histogram: ``counts[i]`` holds the values in (bounds[i-1], bounds[i]], the last one
    those above every bound."""

    bounds: tuple[float, ...] = LATENCY_BUCKETS_MS
    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS_MS) + 1))
    sum_ms: float = 0.0

    def observe(self, ms: float) -> None:
        self.counts[bisect_left(self.bounds, ms)] += 1
        self.sum_ms += ms

    def snapshot(self) -> dict[str, Any]:
        """``buckets``: [upper bound ms, values <= it] per bound (cumulative), ``count``
        (every value: the +Inf bucket) and ``sum_ms``."""
        cumulative, running = [], 0
        for bound, n in zip(self.bounds, self.counts, strict=False):
            running += n
            cumulative.append([bound, running])
        return {"buckets": cumulative, "count": running + self.counts[-1],
                "sum_ms": round(self.sum_ms, 3)}


@dataclass
class LiveStats:
    """``feed(event)`` each journal event as it is read; ``snapshot()`` gives the figures as
    a dict (its keys are what the panel, the exporter and other readers rely on)."""

    window_s: float = 10.0
    horizon_s: float = 60.0  # how long a send's start and an early delivery are kept
    connected: set[tuple[str, str]] = field(default_factory=set)
    first_attempt: dict[tuple[str, str], float] = field(default_factory=dict)
    acks: deque[tuple[float, float]] = field(default_factory=deque)  # (at, latency ms)
    push_lat: deque[tuple[float, float]] = field(default_factory=deque)  # (at, latency ms)
    mid_of_seq: dict[tuple[str, int], str] = field(default_factory=dict)
    mid_of_cmid: dict[tuple[str, str], str] = field(default_factory=dict)
    anomalies: dict[str, int] = field(default_factory=lambda: {"order": 0, "duplicated": 0})
    acked: int = 0
    sends: int = 0
    pushes: int = 0
    reconnects: int = 0
    ack_hist: Histogram = field(default_factory=Histogram)
    push_hist: Histogram = field(default_factory=Histogram)
    ever_connected: set[tuple[str, str]] = field(default_factory=set)
    started: dict[tuple[str, str], float] = field(default_factory=dict)  # (user, cmid) -> at
    unseen: dict[str, float] = field(default_factory=dict)  # acked mid -> ack at
    seen_early: dict[str, float] = field(default_factory=dict)  # mid -> delivered at
    faults: dict[str, dict[str, Any]] = field(default_factory=dict)  # fault id -> labels
    now: float = 0.0
    _expiry: deque[tuple[float, str, Any]] = field(default_factory=deque)

    def feed(self, ev: dict[str, Any]) -> None:
        kind = ev["ev"]
        self.now = max(self.now, ev.get("at", 0.0))
        if kind == "connected":
            self._connected((ev["user"], ev["device"]))
        elif kind == "disconnected":
            self.connected.discard((ev["user"], ev["device"]))
        elif kind == "send":
            self._send(ev)
        elif kind == "send_ok":
            self._send_ok(ev)
        elif kind in ("send_fail", "send_info"):
            self.first_attempt.pop((ev["user"], ev["cmid"]), None)
        elif kind == "deliver":
            self._deliver(ev)
        elif kind == "fault":
            self._fault(ev)

    def _connected(self, device: tuple[str, str]) -> None:
        self.connected.add(device)
        if device in self.ever_connected:
            self.reconnects += 1
        else:
            self.ever_connected.add(device)

    def _send(self, ev: dict[str, Any]) -> None:
        key = (ev["user"], ev["cmid"])
        self.first_attempt.setdefault(key, ev["at"])
        if ev.get("attempt", 1) == 1:
            self.sends += 1
            self.started[key] = ev["at"]
            self._keep(ev["at"], "started", key)

    def _send_ok(self, ev: dict[str, Any]) -> None:
        key = (ev["user"], ev["cmid"])
        start = self.first_attempt.pop(key, None)
        self.acked += 1
        if start is not None:
            latency = (ev["at"] - start) * 1000
            self.acks.append((ev["at"], latency))
            self.ack_hist.observe(latency)
        mid = ev.get("mid")
        if mid is not None and self.seen_early.pop(mid, None) is None:
            self.unseen[mid] = ev["at"]
        self._mids(ev.get("conv"), ev.get("seq"), key, mid)

    def _deliver(self, ev: dict[str, Any]) -> None:
        sender = (ev.get("from"), ev.get("cmid"))
        mid = ev.get("mid")
        if ev.get("via") == "push":
            self.pushes += 1
            start = self.started.get(sender)
            if start is not None:
                latency = (ev["at"] - start) * 1000
                self.push_lat.append((ev["at"], latency))
                self.push_hist.observe(latency)
        other = (ev.get("user"), ev.get("device")) != (ev.get("from"), ev.get("from_device"))
        if mid is not None and other and self.unseen.pop(mid, None) is None:
            # seen before its ack was read (or again): kept a while for an ack still to come
            self.seen_early[mid] = ev["at"]
            self._keep(ev["at"], "seen_early", mid)
        self._mids(ev.get("conv"), ev.get("seq"), sender, mid)

    def _fault(self, ev: dict[str, Any]) -> None:
        fid = ev.get("fault")
        if fid is None:
            return
        self.faults[fid] = {"fault": fid, "kind": ev.get("kind", ""),
                            "target": ev.get("target", ""), "active": ev.get("action") == "start"}

    def _keep(self, at: float, table: str, key: Any) -> None:
        """Forget ``key`` of ``table`` ``horizon_s`` after ``at`` (unless set again since)."""
        self._expiry.append((at, table, key))
        limit = self.now - self.horizon_s
        while self._expiry and self._expiry[0][0] < limit:
            t, name, old = self._expiry.popleft()
            kept: dict[Any, float] = getattr(self, name)
            if kept.get(old) == t:
                del kept[old]

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

    def _window(self, samples: deque[tuple[float, float]]) -> list[float]:
        while samples and samples[0][0] < self.now - self.window_s:
            samples.popleft()
        return [lat for _, lat in samples]

    def snapshot(self) -> dict[str, Any]:
        latencies = self._window(self.acks)
        pushes = self._window(self.push_lat)
        return {"connected": len(self.connected), "acked": self.acked,
                "msgs_per_s": round(len(latencies) / self.window_s, 1),
                "ack_p99_ms": percentile(latencies, 0.99), "pending": len(self.first_attempt),
                "anomalies": dict(self.anomalies),
                "sends": self.sends, "pushes": self.pushes, "acked_unseen": len(self.unseen),
                "push_p99_ms": percentile(pushes, 0.99), "reconnects": self.reconnects,
                "ack_hist_ms": self.ack_hist.snapshot(),
                "push_hist_ms": self.push_hist.snapshot(),
                "faults": [dict(f) for f in self.faults.values()]}
