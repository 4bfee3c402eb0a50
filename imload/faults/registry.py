"""The fault registry: what a run asks of the fault kinds, whatever the kind.

A scenario's ``[[chaos]]`` step names a ``kind``, a ``target`` node, when it
starts (``at_s``, seconds after the load starts) and for how long
(``for_s``; without it the fault lasts until the heal), plus the kind's own keys.
The kinds are small classes in ``imload/faults/kinds/`` (one module per kind or
family; ``kinds/base.py`` says what a kind is made of); docs/chaos.md's table of
kinds is generated from them (``python -m imload.docs_tables``).

``target = "*"`` makes one fault per node of the target (a mass disconnect is
``kind = "down"`` on ``"*"`` for a second). Weak-network presets are in
``presets.py``, the random nemesis in ``nemesis.py``.
"""

from __future__ import annotations

from typing import Any

from imload.faults.kinds import KINDS
from imload.faults.kinds.base import (
    NUMBER,
    FaultContext,
    FaultError,
    FaultSpec,
    NodeMeans,
    Option,
    run_shell,
)
from imload.faults.kinds.toxic import STREAMS, toxic_names

FAULT_KINDS = frozenset(KINDS)
AT_S = Option("at_s", "seconds after the load starts", type=NUMBER, required=True)
FOR_S = Option("for_s", "how long it lasts; none: until the heal", type=NUMBER)


def parse_fault(step: dict[str, Any]) -> FaultSpec:
    """Validate one ``[[chaos]]`` table; ValueError names the wrong key."""
    kind = step.get("kind")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(sorted(KINDS))}, got {kind!r}")
    target = step.get("target")
    if not isinstance(target, str) or not target:
        raise ValueError(f"{kind}: target must name a node of the target file")
    at_s = AT_S.read(kind, step)
    if at_s is None:
        raise ValueError(f"{kind}: at_s (seconds after the load starts) is required")
    spec = FaultSpec(kind=kind, target=target, at_s=at_s, for_s=FOR_S.read(kind, step))
    return KINDS[kind].parse(step, spec)


def missing_means(spec: FaultSpec, ctx: FaultContext) -> str | None:
    """Why this target cannot make this fault, or None when it can."""
    node = ctx.nodes.get(spec.target)
    if node is None:
        return f"{spec.kind} targets {spec.target!r}, not a node of the target " \
               f"(nodes: {', '.join(sorted(ctx.nodes))})"
    return KINDS[spec.kind].missing(spec, node, ctx)


def start_fault(spec: FaultSpec, fault_id: str, ctx: FaultContext) -> None:
    KINDS[spec.kind].start(spec, fault_id, ctx.nodes[spec.target], ctx)


def stop_fault(spec: FaultSpec, fault_id: str, ctx: FaultContext) -> None:
    KINDS[spec.kind].stop(spec, fault_id, ctx.nodes[spec.target], ctx)


def expand_targets(specs: list[FaultSpec], nodes: list[str]) -> list[FaultSpec]:
    """Each step's faults against ``nodes`` (``"*"``: one per node; a rolling restart: its
    kills), in time order."""
    out = [s for spec in specs for s in KINDS[spec.kind].expand(spec, nodes)]
    return sorted(out, key=lambda s: s.at_s)


__all__ = ["FAULT_KINDS", "KINDS", "STREAMS", "FaultContext", "FaultError", "FaultSpec",
           "NodeMeans", "expand_targets", "missing_means", "parse_fault", "run_shell",
           "start_fault", "stop_fault", "toxic_names"]
