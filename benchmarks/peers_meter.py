"""bench_peers.py's meter, loaded into each measured Locust process beside its locustfile
(``-f <locustfile>,benchmarks/peers_meter.py``): from ``test_start`` it waits
``PEERS_LEAD_S`` (logins, ramp), then counts the acked sends (``send-ack`` request
events, whichever user fires them) and the process's CPU over ``PEERS_WINDOW_S``, and
writes them as JSON to ``PEERS_METER``. Both contenders are measured the same way."""

from __future__ import annotations

import json
import os
import resource
import time
from typing import Any

import gevent
from locust import events

_acked = [0]


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


@events.request.add_listener
def _on_request(name: str, exception: Any = None, **_: Any) -> None:
    if name == "send-ack" and exception is None:
        _acked[0] += 1


def _measure(out: str, lead_s: float, window_s: float) -> None:
    gevent.sleep(lead_s)
    c0, a0, t0 = _cpu(), _acked[0], time.monotonic()
    gevent.sleep(window_s)
    c1, a1, t1 = _cpu(), _acked[0], time.monotonic()
    with open(out, "w") as f:
        json.dump({"cpu_s": c1 - c0, "messages": a1 - a0, "window_s": t1 - t0}, f)


@events.test_start.add_listener
def _on_test_start(**_: Any) -> None:
    out = os.environ.get("PEERS_METER")
    if out:
        gevent.spawn(_measure, out, float(os.environ["PEERS_LEAD_S"]),
                     float(os.environ["PEERS_WINDOW_S"]))
