"""Latency figures from the journal, as HdrHistogram percentiles in milliseconds.

- ack: a logical send's first attempt to its first ``send_ok``.
- e2e: a logical send's first attempt to each member device's first copy of
  it (the sender's own devices included), load phase and audit alike,
  whatever the send's outcome in a direct chat (a recovered indeterminate
  send's copies count too); in a group, acked sends only. Split in two:
- push: the e2e samples whose copy came on a connection that was already up
  when the send was first attempted (the device was online: what a capacity
  SLO on delivery speed should bound);
- away: the e2e samples whose copy came on a connection that logged in after
  that (the device was away, by the model's choice or a fault: the time
  includes the time it was offline).
- stable: an acked send's ``send_ok`` to the first copy on the *last* of its
  expected devices (sends some device never got have none; see
  ``figures.unseen_over_time`` for them).
- reconnect: a device's ``disconnected`` to its next ``connected``.
- catchup: a login (``connected``) that found the inbox ahead of the
  device's cursor (``inbox_seq`` > ``acked``), to the first copy at or past
  that inbox position on the same connection: how long an offline device
  takes to catch up.
- read_sync: a ``read_ok`` that moved the marker, to each other device's
  ``read_sync`` push of that very value.

Both ends of a sample are on the load host's monotonic clock; a sample that
comes out negative (two hosts' clocks, or a push that overtook its own
reply) counts as 0. Samples are rounded to 10 µs, then percentiles are the
HdrHistogram's (3 significant figures: within 0.1 %); ``max`` is exact.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Sequence
from itertools import chain, compress, repeat
from operator import add, methodcaller, mul, ne, sub
from typing import Any

from hdrh.histogram import HdrHistogram

from imload.check.delivery import fan_out
from imload.check.index import History

_SESSION = methodcaller("get", "session")
PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p999": 99.9}
HIGHEST_US = 3_600_000_000  # one hour; longer samples are clamped to it
BIN_US = 10  # samples are rounded to 10 µs before they are recorded
SIGNIFICANT_FIGURES = 3


def summarize(seconds: Sequence[float]) -> dict[str, Any]:
    """{p50, p90, p99, p999, max, count} in ms of samples in seconds; nulls when there are none."""
    if not seconds:
        return from_bins({}, None, 0)
    # Binned to BIN_US in C (map, Counter), so the histogram records each distinct bin once.
    bins = Counter(map(int, map(add, map(mul, seconds, repeat(1e6 / BIN_US)), repeat(0.5))))
    return from_bins(bins, max(seconds), len(seconds))


def from_bins(bins: dict[int, int], most: float | None, count: int) -> dict[str, Any]:
    """``summarize`` of samples already binned (``int(s * 1e6 / BIN_US + 0.5)`` -> how many),
    the largest sample ``most`` (seconds) and their ``count``: what a query engine hands over."""
    if not count or most is None:
        return {**dict.fromkeys(PERCENTILES), "max": None, "count": 0}
    hist = HdrHistogram(1, HIGHEST_US, SIGNIFICANT_FIGURES)
    for value, n in bins.items():
        hist.record_value(min(max(value * BIN_US, 0), HIGHEST_US), n)
    at = hist.get_percentile_to_value_dict(list(PERCENTILES.values()))
    top = max(0, int(most * 1e6 + 0.5))  # exact; a bucket may pass it: clamp to it
    out: dict[str, Any] = {name: round(min(at[p], top) / 1000, 3)
                           for name, p in PERCENTILES.items()}
    out["max"] = round(top / 1000, 3)
    out["count"] = count
    return out


def stable_s(h: History) -> array[float]:
    f = fan_out(h)
    finite = list(map(ne, f.done_at, repeat(math.inf)))
    return array("d", map(sub, compress(f.done_at, finite), compress(f.ok_at, finite)))


def reconnect_s(h: History) -> list[float]:
    down: dict[tuple[Any, Any], float] = {}
    out: list[float] = []
    for e in sorted(chain(h.kind("disconnected"), h.kind("connected")), key=lambda e: e["at"]):
        key = (e["user"], e["device"])
        if e["ev"] == "disconnected":
            down.setdefault(key, e["at"])
        else:
            since = down.pop(key, None)
            if since is not None:
                out.append(e["at"] - since)
    return out


def catchup_s(h: History) -> list[float]:
    wanted: dict[tuple[Any, Any, Any], tuple[int, float]] = {}
    for e in h.kind("connected"):
        top, acked = e.get("inbox_seq"), e.get("acked")
        if isinstance(top, int) and isinstance(acked, int) and top > acked:
            wanted[(e["user"], e["device"], e["session"])] = (top, e["at"])
    by_device: dict[tuple[Any, Any], set[Any]] = {}
    for user, device, session in wanted:
        by_device.setdefault((user, device), set()).add(session)
    out: list[float] = []
    for (user, device), sessions in by_device.items():
        log = h.log(user, device)
        if log is None:
            continue
        copies = log.held.values()
        for copy in compress(copies, map(sessions.__contains__, map(_SESSION, copies))):
            key = (user, device, copy.get("session"))
            want = wanted.get(key)
            useq = copy.get("useq")
            if want is not None and isinstance(useq, int) and useq >= want[0]:
                out.append(copy["at"] - want[1])  # in time order: the first past the end
                del wanted[key]
    return out


def read_sync_s(h: History) -> list[float]:
    pushes: dict[tuple[Any, ...], list[float]] = {}
    for e in h.kind("read_sync"):
        key = (e["user"], e["conv"], e["from_device"], e["upto"])
        pushes.setdefault(key, []).append(e["at"])
    out: list[float] = []
    for ok in h.kind("read_ok"):
        for at in pushes.pop((ok["user"], ok["conv"], ok["device"], ok["upto"]), ()):
            out.append(at - ok["at"])
    return out


def latency_figures(h: History) -> dict[str, dict[str, Any]]:
    f = fan_out(h)
    push, away = h.push_s + f.group_push_s, h.away_s + f.group_away_s
    return {"ack": summarize(h.ack_s), "e2e": summarize(push + away), "push": summarize(push),
            "away": summarize(away), "stable": summarize(stable_s(h)),
            "reconnect": summarize(reconnect_s(h)),
            "catchup": summarize(catchup_s(h)), "read_sync": summarize(read_sync_s(h))}
