"""A rolling restart: each target node killed and restarted in turn, one every ``every_s``,
each down ``for_s`` (default: half of ``every_s``). It is a plan, not a fault of its own:
``expand`` turns it into ``kill`` faults before the run, so the journal shows kills marked
``preset = "rolling_restart"``."""

from __future__ import annotations

from imload.faults.kinds.base import (
    KINDS,
    FaultContext,
    FaultError,
    FaultKind,
    FaultSpec,
    NodeMeans,
    Option,
    register,
)
from imload.faults.kinds.signal import Kill


@register
class RollingRestart(FaultKind):
    name = "rolling_restart"
    does = ("kills and restarts each target node in turn, one every `every_s`, each down "
            "`for_s` (default: half of `every_s`)")
    needs = Kill.needs
    options = (Option("every_s", "seconds between one node's restart and the next's", unit="s",
                      default=10, minimum=1),)

    def validate(self, spec: FaultSpec) -> None:
        if spec.for_s is not None and spec.for_s >= spec.attributes["every_s"]:
            raise ValueError("rolling_restart: for_s (each node's down time) must be shorter "
                             "than every_s, or two nodes would be down at once")

    def expand(self, spec: FaultSpec, nodes: list[str]) -> list[FaultSpec]:
        every = spec.attributes["every_s"]
        targets = nodes if spec.target == "*" else [spec.target]
        return [FaultSpec(kind=Kill.name, target=name, at_s=spec.at_s + i * every,
                          for_s=spec.for_s if spec.for_s is not None else every / 2,
                          preset=self.name)
                for i, name in enumerate(targets)]

    def missing(self, spec: FaultSpec, node: NodeMeans, ctx: FaultContext) -> str | None:
        return KINDS[Kill.name].missing(spec, node, ctx)

    def start(self, spec: FaultSpec, fault_id: str, node: NodeMeans, ctx: FaultContext) -> None:
        raise FaultError(f"{self.name} on {spec.target} is made of kills: plan it with "
                         "expand_targets, then start those")

    def stop(self, spec: FaultSpec, fault_id: str, node: NodeMeans, ctx: FaultContext) -> None:
        self.start(spec, fault_id, node, ctx)
