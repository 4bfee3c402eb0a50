"""A seeded random nemesis: a new fault on a new target about every ``interval_s``.

Like Jepsen's nemesis, it rotates faults and targets; unlike a hand-written
timeline it needs no planning, and the same seed (with the same node names)
replays exactly the same faults. Each fault lasts 40-70 % of the interval, so
two never overlap and the system gets a moment to recover between them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from imload.faults.registry import KINDS, FaultSpec

# kind -> the attributes the nemesis gives it: each kind's own ``nemesis`` (None: never picked)
NEMESIS_FAULTS: dict[str, dict[str, int]] = {
    name: dict(kind.nemesis) for name, kind in KINDS.items() if kind.nemesis is not None}
DEFAULT_KINDS = ("latency", "timeout", "reset_peer", "down", "kill")


@dataclass(frozen=True)
class NemesisSpec:
    interval_s: float = 10.0
    kinds: tuple[str, ...] = DEFAULT_KINDS
    targets: tuple[str, ...] = ("*",)  # "*": every node of the target
    start_s: float = 5.0
    end_s: float | None = None  # default: the load's end minus one interval


def parse_nemesis(raw: dict[str, Any]) -> NemesisSpec:
    """Validate a ``[nemesis]`` table; ValueError names the wrong key."""
    known = set(NemesisSpec.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    values: dict[str, Any] = {}
    for key in ("interval_s", "start_s", "end_s"):
        if key in raw:
            v = raw[key]
            if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
                raise ValueError(f"{key} must be a number >= 0, got {v!r}")
            values[key] = float(v)
    if values.get("interval_s", 1.0) < 1:
        raise ValueError("interval_s must be at least 1")
    for key, allowed in (("kinds", set(NEMESIS_FAULTS)), ("targets", None)):
        if key in raw:
            v = raw[key]
            if not isinstance(v, list) or not v or not all(isinstance(x, str) and x for x in v):
                raise ValueError(f"{key} must be a non-empty list of names")
            if allowed is not None and set(v) - allowed:
                raise ValueError(f"{key}: unknown {', '.join(sorted(set(v) - allowed))}; "
                                 f"known: {', '.join(sorted(allowed))}")
            values[key] = tuple(v)
    return NemesisSpec(**values)


def nemesis_schedule(spec: NemesisSpec, nodes: list[str], load_s: float,
                     seed: int) -> list[FaultSpec]:
    """The faults this nemesis makes over a load of ``load_s`` seconds against ``nodes``."""
    rng = random.Random(f"nemesis:{seed}")
    targets = sorted(nodes) if "*" in spec.targets else list(spec.targets)
    end = spec.end_s if spec.end_s is not None else load_s - spec.interval_s
    out: list[FaultSpec] = []
    t = spec.start_s
    while t < end:
        kind = rng.choice(spec.kinds)
        target = rng.choice(targets)
        dur = spec.interval_s * rng.uniform(0.4, 0.7)
        stream = "both"
        out.append(FaultSpec(kind=kind, target=target, at_s=round(t, 3), for_s=round(dur, 3),
                             stream=stream, attributes=dict(NEMESIS_FAULTS[kind]),
                             preset="nemesis"))
        t += spec.interval_s
    return out
