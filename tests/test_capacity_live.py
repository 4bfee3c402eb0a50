from typing import Any

from imload.capacity.live import StepWatch
from imload.slo import Slo


def step(n: int, users: int, at: float) -> dict[str, Any]:
    return {"ev": "phase", "at": at, "phase": f"step:{n}:{users}", "action": "start"}


def sends(t0: float, count: int, latency_s: float) -> list[dict[str, Any]]:
    out = []
    for i in range(count):
        at = t0 + i * 0.1
        out.append({"ev": "send", "at": at, "user": "a", "cmid": f"c{t0}-{i}"})
        out.append({"ev": "send_ok", "at": at + latency_s, "user": "a", "cmid": f"c{t0}-{i}",
                    "conv": "d:a:b", "seq": int(t0 * 100) + i, "mid": f"m{t0}-{i}"})
    return out


SLOS = [Slo("latency_ms.ack.p99", max=200, name="ack p99"), Slo("counts.acked", min=1)]


def test_the_first_slow_step_stops_the_load_when_the_next_begins() -> None:
    watch = StepWatch(SLOS, ramp_s=1.0)
    assert watch.slos == [SLOS[0]]  # only what can be judged live
    assert watch([step(1, 10, 0.0), *sends(0.2, 5, 5.0), *sends(2.0, 5, 0.05)]) is None
    assert watch([step(2, 20, 10.0), *sends(12.0, 5, 0.5)]) is None  # step 1 was fine
    reason = watch([step(3, 40, 20.0)])
    assert reason == "step 2 (20 users): ack p99 missed (500.0 ms)"


def test_anomalies_seen_live_fail_the_step() -> None:
    watch = StepWatch([], ramp_s=0.0)
    dup = sends(1.0, 1, 0.01)
    dup[1] = {**dup[1], "mid": "other"}
    assert watch([step(1, 10, 0.0), *sends(1.0, 1, 0.01), dup[1]]) is None
    reason = watch([step(2, 20, 5.0)]) or ""
    assert reason.startswith("step 1 (10 users): anomalies already seen")
    assert "'duplicated': 1" in reason
