"""Latency figures from the journal, as HdrHistogram percentiles in milliseconds.

- ack: a logical send's first attempt to its first ``send_ok``.
- e2e: a logical send's first attempt to each member device's first copy of
  it (the sender's own devices included; direct chats for now), load phase
  and audit alike, whatever the send's outcome (a recovered indeterminate
  send's copies count too). The history walk gathers both samples.

Both ends of a sample are on the load host's monotonic clock; a sample that
comes out negative (two hosts' clocks) counts as 0. Percentiles are the
HdrHistogram's (3 significant figures: within 0.1 %); ``max`` is exact.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from hdrh.histogram import HdrHistogram

from imload.check.history import History

PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p999": 99.9}
HIGHEST_US = 3_600_000_000  # one hour; longer samples are clamped to it
SIGNIFICANT_FIGURES = 3


def summarize(seconds: Sequence[float]) -> dict[str, Any]:
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


def latency_figures(h: History) -> dict[str, dict[str, Any]]:
    return {"ack": summarize(h.ack_s), "e2e": summarize(h.e2e_s)}
