"""What the imload tab of Locust's web UI shows (pure: no Locust, no Flask, no I/O).

``LiveBoard`` is fed journal events (``feed``) into ONE ``LiveStats``, samples its
snapshot every few seconds into a bounded history (``sample``), and answers with:

- ``rows()``: the rows of the tab's table (Locust's ``extended_tables`` /
  ``extended_stats``): the live figures (devices connected, sends, acks, pushes,
  pending, acked-but-unseen, ...), one row per live anomaly kind (its note starts with
  ``ALERT`` when the count is above 0, which the tab's script paints red), the active
  faults and the pushes of unknown age;
- ``data()``: everything as one JSON-ready dict (``/imload/live``), with the
  acked-but-unseen curve drawn as inline SVG (``curve_svg``: a small chart of its own,
  as the Locust layer does not import the report's).

A figure ``LiveStats.snapshot()`` does not have (yet) is shown as ``n/a``; the curve
then says so instead of drawing zeros.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from html import escape
from typing import Any

from imload.live.stats import LiveStats

SAMPLE_EVERY_S = 2.0
HISTORY_LEN = 150  # points of the curve: five minutes at one per 2 s
NA = "n/a"
ALERT = "\u26a0 seen live"  # the note of an anomaly row whose count is above 0
NO_TIMELINE = "no fault timeline in this process"
UNSEEN_KEY = "acked_unseen"

# (snapshot key, label, note): the figures, in the table's order
FIGURES: tuple[tuple[str, str, str], ...] = (
    ("connected", "devices connected", "online now"),
    ("sends", "sends", "messages sent (first attempts)"),
    ("acked", "acks", "sends the server acked"),
    ("msgs_per_s", "acked / s", "over the last window of LiveStats"),
    ("ack_p99_ms", "ack p99 (ms)", "first attempt to ack, over the last window"),
    ("pushes", "pushes", "messages pushed to the devices"),
    ("push_p99_ms", "push p99 (ms)", "push age on arrival"),
    ("pending", "pending", "sends waiting for their ack"),
    (UNSEEN_KEY, "acked but unseen", "acked, not yet on every device owed it (curve below)"),
    ("reconnects", "reconnects", "connections re-established"),
)
ANOMALY_NOTES = {"order": "a (conv, seq) that names two mids",
                 "duplicated": "a cmid stored under two mids"}


def figure(value: Any) -> str:
    """A snapshot value as the table shows it: ``n/a`` for a missing one (or None: no
    sample in the window yet), a float to one decimal (none from 100 on)."""
    if value is None:
        return NA
    if isinstance(value, float):
        return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}"
    return str(value)


def number(value: Any) -> float | None:
    """``value`` as a plot point, None when it is not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def fault_text(faults: Any) -> tuple[str, str]:
    """(value, note) of the faults row from the snapshot's ``faults`` (one entry per fault
    id seen, ``active`` while started and not stopped): ``n/a`` when the snapshot has no
    such figure, ``NO_TIMELINE`` when no fault event ever reached this process."""
    if not isinstance(faults, list):
        return NA, f"LiveStats has no 'faults' figure: {NA}"
    if not faults:
        return NA, NO_TIMELINE
    active = [f for f in faults if isinstance(f, dict) and f.get("active")]
    if not active:
        return "0", "none active"
    return str(len(active)), "; ".join(
        f"{f.get('kind')} on {f.get('target')} ({f.get('fault')})" for f in active)


class LiveBoard:
    """One process-wide ``LiveStats`` and a rolling history of its snapshots."""

    def __init__(self, scope: str, stats: LiveStats | None = None,
                 unknown_ages: Counter[str] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 history_len: int = HISTORY_LEN) -> None:
        self.scope = scope  # whose figures these are (a master: its own process only)
        self.stats = stats if stats is not None else LiveStats()
        self.unknown_ages = unknown_ages  # None: counted elsewhere (a master's workers)
        self.clock = clock
        self.t0 = clock()
        self.history: deque[tuple[float, float | None]] = deque(maxlen=history_len)
        self.fed = 0

    def feed(self, ev: dict[str, Any]) -> None:
        """One journal event (counted once ``LiveStats`` took it)."""
        self.stats.feed(ev)
        self.fed += 1

    def sample(self) -> dict[str, Any]:
        """Take a snapshot now, keep its acked-but-unseen figure in the history."""
        snap = self.stats.snapshot()
        self.history.append((round(self.clock() - self.t0, 1), number(snap.get(UNSEEN_KEY))))
        return snap

    def rows(self, snap: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The table's rows: ``figure``, ``value``, ``note``, ``alert`` (an anomaly seen) and
        ``name`` (Locust's table sorts by it: their order here)."""
        snap = self.stats.snapshot() if snap is None else snap
        rows = [{"figure": label, "value": figure(snap.get(key)), "note": note, "alert": False}
                for key, label, note in FIGURES]
        anomalies = snap.get("anomalies")
        if not isinstance(anomalies, dict):
            rows.append({"figure": "anomalies", "value": NA, "note": "", "alert": False})
            anomalies = {}
        for kind, count in sorted(anomalies.items()):
            seen = isinstance(count, int | float) and count > 0
            note = ANOMALY_NOTES.get(kind, "seen before the audit")
            rows.append({"figure": f"anomaly: {kind}", "value": figure(count),
                         "note": f"{ALERT}: {note}" if seen else f"none so far ({note})",
                         "alert": seen})
        value, note = fault_text(snap.get("faults"))
        rows.append({"figure": "faults active", "value": value, "note": note, "alert": False})
        rows.append(self._unknown_row())
        rows.append({"figure": "scope", "value": "", "note": self.scope, "alert": False})
        for i, row in enumerate(rows):  # Locust's table sorts its rows by ``name``
            row["name"] = f"{i:02d} {row['figure']}"
        return rows

    def _unknown_row(self) -> dict[str, Any]:
        if self.unknown_ages is None:
            return {"figure": "pushes of unknown age", "value": NA, "alert": False,
                    "note": "counted by each worker, which logs them at the end of the test"}
        named = ", ".join(f"{k} {n}" for k, n in sorted(self.unknown_ages.items()))
        return {"figure": "pushes of unknown age", "value": str(sum(self.unknown_ages.values())),
                "note": f"not in Locust's push rows (no server_ts): {named or 'none'}",
                "alert": False}

    def curve_svg(self) -> str:
        """The acked-but-unseen curve of the history, as inline SVG."""
        points = list(self.history)
        if points and all(v is None for _, v in points):
            return _message_svg(f"{NA}: LiveStats has no '{UNSEEN_KEY}' figure")
        if not points:
            return _message_svg(f"no sample yet (one every {SAMPLE_EVERY_S:g} s)")
        return curve_svg(points)

    def data(self) -> dict[str, Any]:
        """Everything the tab shows, JSON-ready (``/imload/live``)."""
        snap = self.stats.snapshot()
        anomalies = snap.get("anomalies") if isinstance(snap.get("anomalies"), dict) else {}
        faults = snap.get("faults") if isinstance(snap.get("faults"), list) else None
        value, note = fault_text(faults)
        return {"scope": self.scope, "uptime_s": round(self.clock() - self.t0, 1),
                "events": self.fed, "snapshot": snap, "rows": self.rows(snap),
                "anomalies": anomalies,
                "faults": {"timeline": bool(faults), "value": value, "text": note,
                           "listed": faults},
                "unknown_push_ages": None if self.unknown_ages is None
                else dict(self.unknown_ages),
                "unseen": {"key": UNSEEN_KEY, "points": [list(p) for p in self.history]},
                "curve_svg": self.curve_svg()}


CURVE_W, CURVE_H = 900, 200
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 14, 34
ORANGE = "#d4860b"


def curve_svg(points: list[tuple[float, float | None]]) -> str:
    """(seconds, value) points as a line over a shaded area, 0 at the bottom; a None value
    breaks the line. Labels: the top value, 0, and the first and last seconds."""
    values = [v for _, v in points if v is not None]
    top = max(1.0, max(values, default=0.0))
    t0, t1 = points[0][0], max(points[-1][0], points[0][0] + 1.0)
    x0, x1, y0, y1 = LEFT, CURVE_W - RIGHT, CURVE_H - BOTTOM, TOP

    def xy(t: float, v: float) -> str:
        return f"{x0 + (t - t0) / (t1 - t0) * (x1 - x0):.1f},{y0 - v / top * (y0 - y1):.1f}"

    out = [f'<svg class="chart" viewBox="0 0 {CURVE_W} {CURVE_H}" role="img" '
           'aria-label="acked but unseen">']
    for v in (0.0, top / 2, top):
        y = y0 - v / top * (y0 - y1)
        out.append(f'<line x1="{x0}" x2="{x1}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">'
                   f"{v:g}</text>")
    segments: list[list[tuple[float, float]]] = [[]]
    for t, v in points:
        if v is None:
            segments.append([])
        else:
            segments[-1].append((t, v))
    for seg in (s for s in segments if s):
        line = " ".join(xy(t, v) for t, v in seg)
        area = f"{xy(seg[0][0], 0)} {line} {xy(seg[-1][0], 0)}"
        out.append(f'<polygon points="{area}" fill="{ORANGE}" fill-opacity="0.15"/>')
        out.append(f'<polyline points="{line}" fill="none" stroke="{ORANGE}" '
                   'stroke-width="2" stroke-linejoin="round"/>')
    for t, anchor in ((t0, "start"), (points[-1][0], "end")):
        out.append(f'<text x="{xy(t, 0).split(",")[0]}" y="{y0 + 16}" text-anchor="{anchor}" '
                   f'class="tick">{t:g} s</text>')
    out.append(f'<text x="{(x0 + x1) / 2}" y="{CURVE_H - 4}" text-anchor="middle" '
               'class="axis-label">acked, not yet on every device owed it: seconds since '
               "the web UI started</text></svg>")
    return "\n".join(out)


def _message_svg(text: str) -> str:
    return (f'<svg class="chart" viewBox="0 0 900 60" role="img" aria-label="acked but '
            f'unseen"><text x="450" y="34" text-anchor="middle" class="empty">'
            f"{escape(text, quote=False)}</text></svg>")
