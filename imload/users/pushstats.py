"""Pushes into Locust's request table: every push counted, one merge per kind per second.

A device gets a push for nearly every message (its peer's, its own from another
device), so firing Locust's ``request`` event for each (a keyword dict, every
listener, two ``StatsEntry.log`` calls with a clock read and a histogram bucket each)
cost as much as handling the push itself. The pushes of the current wall-clock second
are kept instead (``pushes.PushBatch``: one list of ages per push kind) and merged
into Locust's statistics one kind at a time (``merge``: a ``StatsEntry`` built from
the list, added with ``StatsEntry.extend``, the call a Locust master adds its
workers' figures with). The rows are the same as with one event per push: the true
count, the ages in Locust's own histogram buckets (``bucket_response_time``), min,
max, average, requests per second.

What is kept is merged when a new second starts (at the next push), every second by
``install``'s flusher (a push kind that went quiet), before a worker reports to its
master (``report_to_master``) and when the test stops. Pushes reach the table only:
listeners of ``events.request`` see IM requests, not pushes.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import gevent
from locust import events
from locust import stats as locust_stats

from imload.users.pushes import Batch, PushBatch

PUSH = "push"  # the request_type of the push rows
FLUSH_EVERY_S = 1.0

BATCH = PushBatch()  # every device of this Locust process
_environment: Any = None
_flusher: gevent.Greenlet | None = None


def merge(stats: locust_stats.RequestStats, name: str, ages: list[float],
          last: float) -> None:
    """Add pushes of kind ``name`` with these ages (ms) to ``stats``, the last of them at
    ``last`` (epoch s, the second they are counted in): the push row and the total."""
    part = locust_stats.StatsEntry(stats, name, PUSH)
    part.num_requests = len(ages)
    part.total_response_time = sum(ages)
    part.min_response_time, part.max_response_time = min(ages), max(ages)
    bucket = locust_stats.bucket_response_time  # looked up here: Locust lets it be replaced
    part.response_times = dict(Counter(map(bucket, ages)))
    part.num_reqs_per_sec = {int(last): len(ages)}
    part.last_request_timestamp = last
    part.start_time = min(part.start_time, last)
    stats.entries[(name, PUSH)].extend(part)
    stats.total.extend(part)


def merge_batch(stats: locust_stats.RequestStats, batch: Batch | None) -> int:
    """``merge`` each kind of a ``PushBatch``'s batch; how many pushes that was."""
    if batch is None:
        return 0
    last, ages = batch
    for name, kind_ages in ages.items():
        merge(stats, name, kind_ages, last)
    return sum(len(a) for a in ages.values())


def add(stats: locust_stats.RequestStats, name: str, age_ms: float) -> None:
    """A push of kind ``name`` of that age arrived now: kept (the last second merged)."""
    done = BATCH.add(name, age_ms, time.time())
    if done is not None:
        merge_batch(stats, done)


def flush() -> int:
    """Merge what is kept into the statistics of the installed environment."""
    return merge_batch(_environment.stats, BATCH.take()) if _environment is not None else 0


def install(environment: Any) -> None:
    """Merge what is kept every ``FLUSH_EVERY_S`` and when the test stops (from the
    ``init`` listener, once per process)."""
    global _environment, _flusher
    _environment = environment
    if _flusher is None:
        _flusher = gevent.spawn(_flush_every, FLUSH_EVERY_S)
        events.test_stop.add_listener(lambda **_: flush())


def _flush_every(seconds: float) -> None:
    while True:
        gevent.sleep(seconds)
        flush()


@events.report_to_master.add_listener
def _on_report_to_master(**_: Any) -> None:
    """A worker is about to send its figures: what is kept goes with them. Registered on
    import, before the runner's own listener takes the figures (Locust makes its runner
    after importing the locustfile)."""
    flush()
