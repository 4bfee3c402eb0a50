"""Latency figures from the journal, as HdrHistogram percentiles in milliseconds.

- ack: a logical send's first attempt to its first ``send_ok``.
- e2e: an acked send's first attempt to each expected device's first delivery
  (the sender's own devices included), load phase and audit alike.

Both ends of a sample are on the load host's monotonic clock; a sample that
comes out negative (two hosts' clocks) counts as 0. Percentiles are the
HdrHistogram's (3 significant figures: within 0.1 %); ``max`` is exact.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hdrh.histogram import HdrHistogram

from imload.check.delivery import fan_out
from imload.check.history import OK_EV, SEND_EV, History

PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p999": 99.9}
HIGHEST_US = 3_600_000_000  # one hour; longer samples are clamped to it
SIGNIFICANT_FIGURES = 3


def summarize(seconds: list[float]) -> dict[str, Any]:
    """{p50, p90, p99, p999, max, count} in ms of samples in seconds; nulls when there are none."""
    if not seconds:
        return {**dict.fromkeys(PERCENTILES), "max": None, "count": 0}
    micros = Counter([int(s * 1e6 + 0.5) if s > 0 else 0 for s in seconds])
    hist = HdrHistogram(1, HIGHEST_US, SIGNIFICANT_FIGURES)
    for value, count in micros.items():
        hist.record_value(min(value, HIGHEST_US), count)
    at = hist.get_percentile_to_value_dict(list(PERCENTILES.values()))
    out: dict[str, Any] = {name: round(at[p] / 1000, 3) for name, p in PERCENTILES.items()}
    out["max"] = round(max(micros) / 1000, 3)
    out["count"] = len(seconds)
    return out


def ack_seconds(h: History) -> list[float]:
    """First attempt to first ack, per acked logical send."""
    return [rec[OK_EV]["at"] - rec[SEND_EV]["at"]
            for per_user in h.sends.values() for rec in per_user.values()
            if rec[OK_EV] is not None and rec[SEND_EV] is not None]


def e2e_seconds(h: History) -> list[float]:
    """First attempt to each expected device's first delivery, per acked logical send."""
    return fan_out(h).e2e


def latency_figures(h: History) -> dict[str, dict[str, Any]]:
    return {"ack": summarize(ack_seconds(h)), "e2e": summarize(e2e_seconds(h))}
