"""Stop a capacity run after its first failing step, judged live from the journal.

While the load runs, only what can be judged before the audit is judged: the
scenario's SLOs on ack latency (``latency_ms.ack.p50`` … ``max``) over each
step's window, and the streaming pre-check (a (conv, seq) or a cmid with two
mids). When a step fails, the load stops; the full checker then judges every
step that ran, after the heal and the audit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from imload.live.stats import LiveStats, percentile
from imload.slo import Slo

QUANTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99, "p999": 0.999, "max": 1.0}


class StepWatch:
    def __init__(self, slos: Sequence[Slo], ramp_s: float) -> None:
        self.slos = [s for s in slos if s.figure.startswith("latency_ms.ack.")
                     and s.figure.rsplit(".", 1)[1] in QUANTILES]
        self.ramp_s = ramp_s
        self.stats = LiveStats()
        self.steps: list[tuple[str, float]] = []  # (label, start)
        self.first_attempt: dict[tuple[str, str], float] = {}
        self.latencies: dict[int, list[float]] = {}

    def _step_of(self, at: float) -> int | None:
        for i in range(len(self.steps) - 1, -1, -1):
            start = self.steps[i][1]
            if at >= start:
                return i if at >= start + self.ramp_s else None
        return None

    def _judge(self, i: int) -> str | None:
        label = self.steps[i][0]
        values = self.latencies.get(i, [])
        for slo in self.slos:
            value = percentile(values, QUANTILES[slo.figure.rsplit(".", 1)[1]])
            if value is None:
                continue
            if (slo.max is not None and value > slo.max) or \
                    (slo.min is not None and value < slo.min):
                return f"{label}: {slo.label} missed ({value:.1f} ms)"
        bad = {k: v for k, v in self.stats.anomalies.items() if v}
        if bad:
            return f"{label}: anomalies already seen {bad}"
        return None

    def __call__(self, events: list[dict[str, Any]]) -> str | None:
        """Feed new events; the reason to stop once a finished step failed, else None."""
        for ev in events:
            self.stats.feed(ev)
            kind = ev["ev"]
            if kind == "phase" and str(ev.get("phase", "")).startswith("step:"):
                _, n, users = ev["phase"].split(":")
                self.steps.append((f"step {n} ({users} users)", ev["at"]))
                if len(self.steps) >= 2:
                    reason = self._judge(len(self.steps) - 2)
                    if reason:
                        return reason
            elif kind == "send":
                self.first_attempt.setdefault((ev["user"], ev["cmid"]), ev["at"])
            elif kind == "send_ok":
                start = self.first_attempt.pop((ev["user"], ev["cmid"]), None)
                i = self._step_of(start) if start is not None else None
                if i is not None:
                    self.latencies.setdefault(i, []).append((ev["at"] - start) * 1000)
        return None
