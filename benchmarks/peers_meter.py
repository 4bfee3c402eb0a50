"""bench_peers.py's meter, loaded into each measured Locust process beside its locustfile
(``-f <locustfile>,benchmarks/peers_meter.py``): from ``test_start`` it waits
``PEERS_LEAD_S`` (logins, ramp), then counts the acked sends (``send-ack`` request
events, whichever user fires them) and the process's CPU over ``PEERS_WINDOW_S`` (or
until the test stops, if sooner), and writes them as JSON to ``PEERS_METER``. Both
contenders are measured the same way."""

from __future__ import annotations

import json
import os
import resource
import time
from typing import Any

import gevent
from locust import events

_acked = [0]
_start: list[tuple[float, int, float]] = []  # (cpu, acked, monotonic) when the window opened


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


@events.request.add_listener
def _on_request(name: str, exception: Any = None, **_: Any) -> None:
    if name == "send-ack" and exception is None:
        _acked[0] += 1


def _close() -> None:
    """Write the window's figures (once): from its start until now."""
    out = os.environ.get("PEERS_METER")
    if not _start or not out or os.path.exists(out):
        return
    c0, a0, t0 = _start[0]
    with open(out, "w") as f:
        json.dump({"cpu_s": _cpu() - c0, "messages": _acked[0] - a0,
                   "window_s": time.monotonic() - t0}, f)


def _measure(lead_s: float, window_s: float) -> None:
    gevent.sleep(lead_s)
    _start.append((_cpu(), _acked[0], time.monotonic()))
    gevent.sleep(window_s)
    _close()


@events.test_start.add_listener
def _on_test_start(**_: Any) -> None:
    if os.environ.get("PEERS_METER"):
        gevent.spawn(_measure, float(os.environ["PEERS_LEAD_S"]),
                     float(os.environ["PEERS_WINDOW_S"]))


@events.test_stop.add_listener
def _on_test_stop(**_: Any) -> None:
    _close()  # the run ended before the window did: what was measured so far
