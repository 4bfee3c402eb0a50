"""Pushes merged into Locust's request table once per kind per second
(imload/users/pushstats.py): the rows equal those of one ``log_request`` per push.

Importing Locust monkey-patches the process, so each check runs in a child Python
(this file, run as a script) on real ``RequestStats`` objects: no Locust run, no I/O."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import traceback
from typing import Any

import pytest

T0 = 1_700_000_000.0  # an epoch second


def _row(stats: Any, name: str) -> dict[str, Any]:
    e = stats.entries[(name, "push")]
    return {"n": e.num_requests, "buckets": dict(e.response_times),
            "sum": round(e.total_response_time, 6), "min": e.min_response_time,
            "max": e.max_response_time,
            "per_s": {k: v for k, v in e.num_reqs_per_sec.items() if v},
            "median": e.get_response_time_percentile(0.5),
            "p99": e.get_response_time_percentile(0.99)}


def check_a_merge_makes_the_row_one_log_per_push_makes() -> None:
    from locust.stats import RequestStats

    from imload.users.pushstats import PUSH, merge
    rng = random.Random(7)
    ages = [rng.choice([0.0, 3.0, 42.5, 147.0, 999.0, 3432.0, 58760.0]) + rng.random()
            for _ in range(500)]
    by_log, merged = RequestStats(), RequestStats()
    for a in ages:
        by_log.log_request(PUSH, "msg", a, 0)  # type: ignore[arg-type]
    merge(merged, "msg", ages, T0 + 0.5)
    got, want = _row(merged, "msg"), _row(by_log, "msg")
    assert got.pop("per_s") == {int(T0): 500}  # one log per push: the seconds they came
    want.pop("per_s")
    assert got == want, (got, want)
    assert merged.total.num_requests == 500
    assert merged.total.total_response_time == pytest.approx(sum(ages))


def check_each_second_is_merged_when_the_next_begins() -> None:
    from locust.stats import RequestStats

    from imload.users.pushes import PushBatch
    from imload.users.pushstats import merge_batch
    stats, batch = RequestStats(), PushBatch()
    for name, age, at in (("msg", 10.0, 0.1), ("receipt", 20.0, 0.2), ("msg", 30.0, 0.9)):
        assert merge_batch(stats, batch.add(name, age, T0 + at)) == 0
    assert merge_batch(stats, batch.add("msg", 50.0, T0 + 1.3)) == 3  # a new second
    assert merge_batch(stats, batch.take()) == 1 and merge_batch(stats, batch.take()) == 0
    assert _row(stats, "msg") == {"n": 3, "buckets": {10: 1, 30: 1, 50: 1}, "sum": 90.0,
                                  "min": 10.0, "max": 50.0,
                                  "per_s": {int(T0): 2, int(T0) + 1: 1},
                                  "median": 30, "p99": 50}
    assert _row(stats, "receipt")["n"] == 1 and stats.total.num_requests == 4


def check_what_is_kept_goes_with_a_workers_report() -> None:
    from locust import events
    from locust.stats import RequestStats

    from imload.users import pushstats

    class Env:
        stats = RequestStats()

    pushstats._environment = Env()
    pushstats.add(Env.stats, "read_sync", 5.0)
    seen: list[int] = []

    def runner_takes_figures(**_: Any) -> None:  # as Locust's runner does, after ours
        seen.append(Env.stats.entries[("read_sync", "push")].num_requests)

    events.report_to_master.add_listener(runner_takes_figures)
    events.report_to_master.fire(client_id="w1", data={})
    assert seen == [1] and pushstats.BATCH.pending == 0


CHECKS = [name for name in list(globals()) if name.startswith("check_")]


@pytest.fixture(scope="module")
def outcomes() -> dict[str, str]:
    """Every check, run once in one child Python: "ok" or the failure, by name."""
    p = subprocess.run([sys.executable, __file__], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr[-3000:]
    got: dict[str, str] = json.loads(p.stdout.splitlines()[-1])
    return got


@pytest.mark.parametrize("check", CHECKS)
def test_in_a_locust_process(outcomes: dict[str, str], check: str) -> None:
    assert outcomes[check] == "ok", outcomes[check]


if __name__ == "__main__":
    results = {}
    for name in CHECKS:
        try:
            globals()[name]()
            results[name] = "ok"
        except Exception:
            results[name] = traceback.format_exc()
    print(json.dumps(results))
