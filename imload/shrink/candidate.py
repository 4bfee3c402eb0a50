"""A candidate of the search: trace lines plus the scenario's ``[[chaos]]`` steps.

Pure. The reductions keep a subset of one kind of part (devices, conversations, time
windows, acts, faults) and return a new candidate; ``rebased`` moves everything earlier
so the first act comes ``LEAD_S`` after time 0 (a try lasts only as long as what it
keeps); ``scenario_table`` is the scenario that replays it (``imload run``'s trace replay,
docs/traffic.md "Traces").

A line's time and a fault's ``at_s`` are on two clocks whose origins differ by Locust's
start-up (the fault timeline starts with the load phase, the trace with the first
Locust user, a fraction of a second later); a shift moves both by the same amount, so
what happens between them stays as it was.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

ACTS = ("send", "op", "read")  # what a device does; offline / online are its state
LEAD_S = 1.0  # the first act's time after rebasing: every device is up and away by then
TAIL_S = 0.5  # the load outlasts the last line or fault by this much (the drain acks the rest)
WINDOWS = 8  # time windows the window pass starts from
# [load] keys a try drops: the model's (a trace replay has no use for them) and those of
# several Locust processes or machines (a shrunk drill runs in one, and never waits for
# workers)
DROPPED_LOAD_KEYS = ("population", "devices", "device_shares", "horizon", "msg_interval_s",
                     "processes", "expect_workers", "master_host", "master_port")

Line = dict[str, Any]
Fault = dict[str, Any]


def conv_of(line: Line) -> str | None:
    """The conversation a line is about (an op's ``args.conv``), None for none."""
    if line["action"] in ("send", "read"):
        return str(line.get("conv", ""))
    conv = (line.get("args") or {}).get("conv") if line["action"] == "op" else None
    return conv if isinstance(conv, str) else None


def _shift_fault(f: Fault, s: float) -> Fault | None:
    at = float(f.get("at_s", 0.0))
    end = at + float(f["for_s"]) if f.get("for_s") is not None else None
    if end is not None and end - s <= 0:
        return None  # over before the kept part starts
    g = dict(f)
    g["at_s"] = round(max(0.0, at - s), 3)
    if end is not None:
        g["for_s"] = round(end - s - g["at_s"], 3)
    return g


@dataclass(frozen=True)
class Candidate:
    lines: tuple[Line, ...]
    faults: tuple[Fault, ...] = ()

    # the parts each pass works on
    def people(self) -> list[str]:
        return list(dict.fromkeys(x["user"] for x in self.lines))

    def devices(self) -> list[tuple[str, str]]:
        return list(dict.fromkeys((x["user"], x["device"]) for x in self.lines))

    def convs(self) -> list[str]:
        return list(dict.fromkeys(c for x in self.lines if (c := conv_of(x)) is not None))

    def acts(self) -> list[int]:
        return [i for i, x in enumerate(self.lines) if x["action"] in ACTS]

    def windows(self, n: int = WINDOWS) -> list[tuple[float, float]]:
        """The acts' span cut into at most ``n`` windows [lo, hi) of about as many acts each
        (not of equal length: a window without acts would be a try wasted)."""
        times = sorted(x["t"] for x in self.lines if x["action"] in ACTS)
        if not times:
            return []
        k = max(1, min(n, len(times)))
        starts = sorted({times[(i * len(times)) // k] for i in range(k)})
        return list(zip(starts, [*starts[1:], math.inf], strict=True))

    # the reductions
    def keep_people(self, kept: Iterable[str]) -> Candidate:
        keep = set(kept)
        return self._keep(lambda x: x["user"] in keep)

    def keep_devices(self, kept: Iterable[tuple[str, str]]) -> Candidate:
        keep = set(kept)
        return self._keep(lambda x: (x["user"], x["device"]) in keep)

    def keep_convs(self, kept: Iterable[str]) -> Candidate:
        keep = set(kept)
        return self._keep(lambda x: (c := conv_of(x)) is None or c in keep)

    def keep_windows(self, kept: Sequence[tuple[float, float]]) -> Candidate:
        return self._keep(lambda x: x["action"] not in ACTS
                          or any(lo <= x["t"] < hi for lo, hi in kept))

    def keep_acts(self, kept: Iterable[int]) -> Candidate:
        keep = set(kept)
        return Candidate(tuple(x for i, x in enumerate(self.lines)
                               if x["action"] not in ACTS or i in keep), self.faults)

    def keep_faults(self, kept: Iterable[Fault]) -> Candidate:
        return Candidate(self.lines, tuple(kept))

    def _keep(self, ok: Any) -> Candidate:
        return Candidate(tuple(x for x in self.lines if ok(x)), self.faults)

    # what a try needs
    def rebased(self, lead_s: float = LEAD_S) -> Candidate:
        """Everything moved earlier so the first act is at ``lead_s`` (never later), and
        the device state lines after the last act moved to ``lead_s`` after it (a try
        need not wait for a device to come back: the end of the load brings it back)."""
        times = [x["t"] for x in self.lines if x["action"] in ACTS]
        if not times:
            return self
        s = max(0.0, min(times) - lead_s)
        cap = max(times) + lead_s
        lines = [x | {"t": round(max(0.0, min(x["t"], cap) - s), 3)} for x in self.lines]
        # an away spell over before the kept part: offline and online both at 0, gone
        zero = {(x["user"], x["device"]) for x in lines if x["t"] == 0 and x["action"] == "online"}
        lines = [x for x in lines if not (x["t"] == 0 and x["action"] in ("offline", "online")
                                          and (x["user"], x["device"]) in zero)]
        faults = tuple(g for f in self.faults if (g := _shift_fault(f, s)) is not None)
        return Candidate(tuple(lines), faults)

    def duration_s(self, tail_s: float = TAIL_S) -> float:
        """The load's length: the last line or fault end, plus ``tail_s``, whole seconds."""
        ends = [x["t"] for x in self.lines]
        ends += [float(f.get("at_s", 0)) + float(f.get("for_s") or 0) for f in self.faults]
        return float(math.ceil(max(ends, default=0.0) + tail_s))

    def counts(self) -> dict[str, int]:
        out = {"devices": len(self.devices()), "messages": 0, "ops": 0, "reads": 0,
               "faults": len(self.faults)}
        names = {"send": "messages", "op": "ops", "read": "reads"}
        for x in self.lines:
            if x["action"] in names:
                out[names[x["action"]]] += 1
        return out

    def trace_lines(self, header: dict[str, Any]) -> list[Line]:
        """The trace file's lines: a header, then the lines by time."""
        head = {"trace": "imload", "version": 1, "duration_s": self.duration_s(0.0),
                "devices": len(self.devices())} | header
        return [head, *sorted(self.lines, key=lambda x: x["t"])]


def scenario_table(raw: dict[str, Any], c: Candidate, trace: str, name: str) -> dict[str, Any]:
    """The run's scenario (its parsed TOML ``raw``) made to replay ``c`` from ``trace`` (a
    path relative to the new scenario file): every device started at once, the model's
    and multi-process keys gone, ``[[chaos]]`` the candidate's faults."""
    out = {k: v for k, v in raw.items() if k not in ("chaos", "capacity", "metrics")}
    load = {k: v for k, v in dict(raw.get("load", {})).items() if k not in DROPPED_LOAD_KEYS}
    users = max(1, len(c.devices()))
    load.update(users=users, spawn_rate=users, duration_s=c.duration_s(), trace=trace,
                time_scale=1.0)
    out.update(name=name, load=load)
    if c.faults:
        out["chaos"] = [dict(f) for f in c.faults]
    return out
