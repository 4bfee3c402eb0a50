"""The report's charts over time, from a run's per-second series (pure: SVG text).

Each function returns ``(title, caption, svg)``; every chart shades the fault
windows and marks the end of the load and the start of the audit. Per-second
values are drawn at the middle of their second. ``push_latency_chart`` and
``unseen_chart`` are the first screen's (drawn narrower, in its right column,
with their text at full size); ``throughput_chart`` and ``connected_chart`` are in the
"Over time" section further down.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from imload.report.svg import (
    BLUE,
    GREEN,
    HEIGHT,
    ORANGE,
    PURPLE,
    RED,
    WIDTH,
    Line,
    fault_bands,
    line_chart,
    phase_marks,
)
from imload.report.timeseries import Series

Chart = tuple[str, str, str]  # (title, caption, svg)
HALF_WIDTH, HALF_HEIGHT = 540, 180  # the first screen's two charts


class TimeAxis:
    """What every chart over time shares: its x points, fault bands and phase marks."""

    def __init__(self, series: Series, faults: Sequence[dict[str, Any]],
                 phases: dict[str, Any]):
        self.series = series
        self.xs = [t + 0.5 for t in series.t]
        self.kw: dict[str, Any] = {"x_max": series.seconds, "bands": fault_bands(faults),
                                   "marks": phase_marks(phases)}

    def pts(self, values: Sequence[Any]) -> list[tuple[float, Any]]:
        """``values`` (one per second) at the middle of their seconds."""
        return list(zip(self.xs, values, strict=True))


def throughput_chart(axis: TimeAxis, width: int = WIDTH, height: int = HEIGHT) -> Chart:
    s = axis.series
    return ("Throughput", "messages acked (sent) and first copies delivered, per second",
            line_chart([Line("sent (acked) / s", axis.pts(s.sent), BLUE),
                        Line("delivered / s", axis.pts(s.delivered), GREEN),
                        Line("failed or unknown / s", axis.pts(s.failed), RED, dashed=True)],
                       y_label="messages / s", aria="throughput", width=width,
                       height=height, **axis.kw))


def push_latency_chart(axis: TimeAxis, width: int = HALF_WIDTH,
                       height: int = HALF_HEIGHT) -> Chart:
    """e2e p50 and p99 (first attempt to each device's first copy: pushed, or synced after a
    reconnect) by the second the copy arrived, and the ack p99 dashed; a log scale when they
    span 30x or more."""
    s = axis.series
    return ("Push latency", "first attempt to each device's first copy, per second",
            line_chart([Line("e2e p50", axis.pts(s.e2e_p50), BLUE),
                        Line("e2e p99", axis.pts(s.e2e_p99), ORANGE),
                        Line("ack p99", axis.pts(s.ack_p99), PURPLE, dashed=True)],
                       y_label="ms", log_y=True, y_min=None, aria="push latency",
                       width=width, height=height, **axis.kw))


def unseen_chart(axis: TimeAxis, width: int = HALF_WIDTH, height: int = HALF_HEIGHT) -> Chart:
    """Acked messages not yet on every expected device, at each whole second; "no data"
    when the verdict had no unseen series."""
    s = axis.series
    points = list(zip(s.t, s.unseen, strict=True)) if s.unseen is not None else []
    caption = ("acked messages not yet on every expected device"
               if s.unseen is not None else "the verdict has no unseen series")
    return ("Acked but unseen", caption,
            line_chart([Line("acked, not yet everywhere", points, ORANGE, area=True)],
                       y_label="messages", aria="unseen", width=width, height=height,
                       **axis.kw))


def connected_chart(axis: TimeAxis, width: int = WIDTH, height: int = HEIGHT) -> Chart:
    s = axis.series
    return ("Connected devices", f"of {s.devices} devices; the dashed line is the fewest "
            "connected at any moment of each second",
            line_chart([Line("connected (end of second)", axis.pts(s.connected), GREEN,
                             area=True),
                        Line("fewest within the second", axis.pts(s.connected_low), RED,
                             dashed=True)],
                       y_label="devices", aria="connected devices", width=width,
                       height=height, **axis.kw))
