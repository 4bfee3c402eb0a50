"""Service level objectives: thresholds on verdict figures that gate a run.

A scenario lists them as ``[[slo]]`` tables::

    [[slo]]
    figure = "latency_ms.ack.p99"   # a path into verdict.json (see docs/verdict.md)
    max = 500                       # or min = ...
    name = "ack p99 under 500 ms"   # optional

Every anomaly kind the checker reports gets an SLO of its own, ``= 0``, unless
the scenario names that anomaly itself. Besides the verdict's own figures,
``ratios.retry`` (wire attempts per logical send), ``ratios.failed`` and
``ratios.indeterminate`` (per logical send) can be gated. A figure the verdict
does not have fails its SLO (a typo must not pass a gate); a figure without
samples (a latency nobody measured) passes, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Slo:
    figure: str
    max: float | None = None
    min: float | None = None
    name: str | None = None

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        op, limit = ("<=", self.max) if self.max is not None else (">=", self.min)
        return f"{self.figure} {op} {limit:g}"


def parse_slos(raw: object) -> list[Slo]:
    """Validate a scenario's ``slo`` list; ValueError names the entry and the key."""
    if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
        raise ValueError("slo must be a list of tables ([[slo]])")
    out = []
    for i, r in enumerate(raw, 1):
        unknown = sorted(set(r) - {"figure", "max", "min", "name"})
        if unknown:
            raise ValueError(f"slo {i}: unknown key(s) {', '.join(unknown)}; "
                             "known: figure, max, min, name")
        figure = r.get("figure")
        if not isinstance(figure, str) or not figure or any(not p for p in figure.split(".")):
            raise ValueError(f"slo {i}: figure must be a dotted path such as "
                             f"\"latency_ms.ack.p99\", got {figure!r}")
        bounds = [k for k in ("max", "min") if k in r]
        if len(bounds) != 1:
            raise ValueError(f"slo {i} ({figure}): give exactly one of max or min")
        limit = r[bounds[0]]
        if isinstance(limit, bool) or not isinstance(limit, int | float):
            raise ValueError(f"slo {i} ({figure}): {bounds[0]} must be a number")
        name = r.get("name")
        if name is not None and not isinstance(name, str):
            raise ValueError(f"slo {i} ({figure}): name must be a string")
        out.append(Slo(figure=figure, name=name, **{bounds[0]: float(limit)}))
    return out


def derived_figures(verdict: dict[str, Any]) -> dict[str, Any]:
    """Ratios computed from the counts, for SLOs on error and retry rates."""
    c = verdict.get("counts", {})
    logical = c.get("attempted") or 0

    def per(n: object) -> float | None:
        return round(float(n) / logical, 6) if logical and isinstance(n, int | float) else None
    return {"ratios": {"retry": per(c.get("attempts")), "failed": per(c.get("failed")),
                       "indeterminate": per(c.get("info"))}}


_MISSING = object()


def _lookup(tree: dict[str, Any], path: str) -> Any:
    node: Any = tree
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def evaluate(verdict: dict[str, Any], slos: list[Slo]) -> list[dict[str, Any]]:
    """One line per SLO (the scenario's, then ``= 0`` for each anomaly kind it left out)."""
    named = {s.figure for s in slos}
    every = list(slos) + [Slo(figure=f"anomalies.{kind}", max=0.0, name=f"{kind} = 0")
                          for kind in verdict.get("anomalies", {})
                          if f"anomalies.{kind}" not in named]
    derived = derived_figures(verdict)
    lines = []
    for slo in every:
        value = _lookup(verdict, slo.figure)
        if value is _MISSING:
            value = _lookup(derived, slo.figure)
        line: dict[str, Any] = {"name": slo.label, "figure": slo.figure,
                                "limit": slo.max if slo.max is not None else slo.min,
                                "op": "max" if slo.max is not None else "min"}
        if value is _MISSING:
            line.update(value=None, passed=False, note="the verdict has no such figure")
        elif value is None:
            line.update(value=None, passed=True, note="no samples")
        elif isinstance(value, bool) or not isinstance(value, int | float):
            line.update(value=None, passed=False, note=f"not a number: {value!r}")
        else:
            ok = value <= slo.max if slo.max is not None else value >= (slo.min or 0.0)
            line.update(value=value, passed=bool(ok))
        lines.append(line)
    return lines


def apply_slos(verdict: dict[str, Any], slos: list[Slo]) -> dict[str, Any]:
    """Fill ``verdict["slo"]`` and fail ``passed`` when any SLO is missed."""
    verdict["slo"] = evaluate(verdict, slos)
    if not all(line["passed"] for line in verdict["slo"]):
        verdict["passed"] = False
    return verdict
