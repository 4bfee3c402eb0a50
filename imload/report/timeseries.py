"""Per-second series of a run, from its journal events (pure: no I/O, no clock).

``build_series(events)`` walks the journal once and buckets it by whole
seconds since ``t0``: the ``phase load start`` event, else the first event
(the verdict's time base, so its fault windows and phases line up). Bucket
``i`` holds what happened in ``[t0 + i, t0 + i + 1)``; events before ``t0``
fall in bucket 0. The walk is linear in the events (plus sorting each
second's latency samples for its percentiles).

- sent: logical sends acked in that second (the first ``send_ok`` of a
  (user, cmid); repeats are not counted again);
- attempts: wire attempts (``send`` events); failed: ``send_fail`` and
  ``send_info`` (gave up, outcome unknown) together;
- delivered: first copies of a message on a device (``deliver`` of a
  (user, device, mid) not seen before), push and sync, load and audit alike;
- ack_p50 / ack_p99 (ms): first attempt to first ``send_ok``, by ack time;
- e2e_p50 / e2e_p99 (ms): first attempt to a device's first copy, by the
  copy's time; None in a second without samples;
- connected: devices connected at the end of the second (``connected`` +1,
  ``disconnected`` -1 per device); connected_low: the fewest at any moment of
  the second, so a dip that heals within a second still shows;
- unseen: acked messages not yet on every expected device, taken from
  ``verdict["over_time"]["unseen"]`` when a verdict is given (the checker
  knows who should get what; the journal walk here does not).

Fault windows and phases are not series: a report takes them from the verdict
(``verdict["faults"]``, ``verdict["phases"]``), which pairs them once.

``back_curve(events)`` is the avalanche figure: after the first node kill,
the fraction of the devices it threw off that were connected again, over
time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

Event = dict[str, Any]


@dataclass
class Series:
    t0: float
    seconds: int
    devices: int = 0  # distinct devices seen in the journal
    sent: list[int] = field(default_factory=list)
    attempts: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    delivered: list[int] = field(default_factory=list)
    ack_p50: list[float | None] = field(default_factory=list)
    ack_p99: list[float | None] = field(default_factory=list)
    e2e_p50: list[float | None] = field(default_factory=list)
    e2e_p99: list[float | None] = field(default_factory=list)
    connected: list[int] = field(default_factory=list)
    connected_low: list[int] = field(default_factory=list)
    unseen: list[int] | None = None

    @property
    def t(self) -> list[int]:
        """The start of each bucket, in seconds since t0."""
        return list(range(self.seconds))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (e.g. to keep beside verdict.json)."""
        return asdict(self)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty sorted sequence."""
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def _time_ordered(events: Sequence[Event]) -> Sequence[Event]:
    for a, b in zip(events, events[1:], strict=False):
        if b["at"] < a["at"]:
            return sorted(events, key=lambda e: e["at"])
    return events


def _t0(events: Sequence[Event]) -> float:
    for e in events:
        if e["ev"] == "phase" and e.get("phase") == "load" and e.get("action") == "start":
            return float(e["at"])
    return float(events[0]["at"])


def _quantiles(buckets: list[list[float]]) -> tuple[list[float | None], list[float | None]]:
    p50: list[float | None] = []
    p99: list[float | None] = []
    for samples in buckets:
        if not samples:
            p50.append(None)
            p99.append(None)
            continue
        samples.sort()
        p50.append(round(percentile(samples, 50) * 1000, 3))
        p99.append(round(percentile(samples, 99) * 1000, 3))
    return p50, p99


def _unseen(verdict: dict[str, Any] | None, n: int) -> list[int] | None:
    rows = ((verdict or {}).get("over_time") or {}).get("unseen")
    if not rows:
        return None
    out = [0] * n
    for row in rows:
        t = row.get("t_s")
        if isinstance(t, int | float) and 0 <= t < n:
            out[int(t)] = int(row.get("unseen") or 0)
    return out


def build_series(events: Sequence[Event], verdict: dict[str, Any] | None = None) -> Series:
    """The per-second series of a run (see the module docstring)."""
    if not events:
        return Series(t0=0.0, seconds=0, unseen=None)
    events = _time_ordered(events)
    t0 = _t0(events)
    n = seconds_of(t0, events[-1]["at"])
    s = Series(t0=t0, seconds=n, sent=[0] * n, attempts=[0] * n, failed=[0] * n,
               delivered=[0] * n)
    ack: list[list[float]] = [[] for _ in range(n)]
    e2e: list[list[float]] = [[] for _ in range(n)]
    first_send: dict[tuple[Any, Any], float] = {}
    acked: set[tuple[Any, Any]] = set()
    copies: set[tuple[Any, Any, Any]] = set()
    for e in events:
        kind, at = e["ev"], e["at"]
        b = min(n - 1, max(0, int(at - t0)))
        if kind == "send":
            s.attempts[b] += 1
            first_send.setdefault((e.get("user"), e.get("cmid")), at)
        elif kind == "send_ok":
            key = (e.get("user"), e.get("cmid"))
            if key not in acked:
                acked.add(key)
                s.sent[b] += 1
                if key in first_send:
                    ack[b].append(max(0.0, at - first_send[key]))
        elif kind in ("send_fail", "send_info"):
            s.failed[b] += 1
        elif kind == "deliver":
            copy = (e.get("user"), e.get("device"), e.get("mid"))
            if copy not in copies:
                copies.add(copy)
                s.delivered[b] += 1
                sent_at = first_send.get((e.get("from"), e.get("cmid")))
                if sent_at is not None:
                    e2e[b].append(max(0.0, at - sent_at))
    s.ack_p50, s.ack_p99 = _quantiles(ack)
    s.e2e_p50, s.e2e_p99 = _quantiles(e2e)
    add_state(s, events, verdict)
    return s


def seconds_of(t0: float, last_at: float) -> int:
    """How many one-second buckets a run from ``t0`` to its last event fills."""
    return max(1, math.floor(last_at - t0) + 1)


STATE_KINDS = ("connected", "disconnected", "device")


def add_state(s: Series, events: Iterable[Event], verdict: dict[str, Any] | None) -> None:
    """The series that are not about messages, from the events in journal order (the
    message kinds among them are skipped): devices, connected and connected_low, and
    unseen from ``verdict``. Faults and phases are the verdict's (``verdict["faults"]``,
    ``["phases"]``), paired once, by the checker."""
    t0, n = s.t0, s.seconds
    end: list[int | None] = [None] * n
    low: list[int | None] = [None] * n
    online: set[tuple[Any, Any]] = set()
    devices: set[tuple[Any, Any]] = set()
    for e in events:
        kind, at = e["ev"], e["at"]
        if kind in ("connected", "disconnected", "device"):
            b = min(n - 1, max(0, int(at - t0)))
            dev = (e.get("user"), e.get("device"))
            devices.add(dev)
            if kind == "connected":
                online.add(dev)
            elif kind == "disconnected":
                online.discard(dev)
            count, lowest = len(online), low[b]
            end[b] = count
            low[b] = count if lowest is None else min(lowest, count)
    s.devices = len(devices)
    running = 0
    for i in range(n):
        start = running
        last, lowest = end[i], low[i]
        running = start if last is None else last
        s.connected.append(running)
        s.connected_low.append(start if lowest is None else min(start, lowest))
    s.unseen = _unseen(verdict, n)


def back_curve(events: Iterable[Event], step_s: float = 0.5,
               window_s: float = 60.0) -> list[tuple[float, float]]:
    """After the first ``kill`` fault: ``[(seconds since the kill, fraction back), ...]``.

    Thrown off: devices connected to the killed node (``connected.node``) that
    disconnect within ``window_s`` of the kill; back: their next ``connected``.
    Sampled every ``step_s`` until all are back or the window ends; [] when
    there was no kill or it threw nobody off.
    """
    node_of: dict[tuple[Any, Any], Any] = {}
    kill: Event | None = None
    thrown: dict[tuple[Any, Any], float] = {}
    back: list[float] = []
    for e in events:
        kind = e["ev"]
        if kill is None:
            if kind == "fault" and e.get("kind") == "kill" and e.get("action") == "start":
                kill = e
            elif kind == "connected":
                node_of[(e.get("user"), e.get("device"))] = e.get("node")
            continue
        since = e["at"] - kill["at"]
        dev = (e.get("user"), e.get("device"))
        if kind == "disconnected" and since < window_s and dev not in thrown \
                and node_of.get(dev) == kill.get("target"):
            thrown[dev] = e["at"]
            node_of[dev] = None
        elif kind == "connected":
            if dev in thrown and node_of.get(dev) is None and since < window_s:
                back.append(since)
            node_of[dev] = e.get("node")
    if kill is None or not thrown:
        return []
    back.sort()
    total, curve, i, t = len(thrown), [], 0, 0.0
    while True:
        while i < len(back) and back[i] <= t:
            i += 1
        curve.append((round(t, 3), round(i / total, 4)))
        if i == total or t >= window_s:
            return curve
        t += step_s
