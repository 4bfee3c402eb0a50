"""The fault registry: each fault kind a small piece with a start and a stop.

A scenario's ``[[chaos]]`` step names a ``kind``, a ``target`` node, when it
starts (``at_s``, seconds after the load starts) and for how long
(``for_s``; without it the fault lasts until the heal). Toxic kinds take
Toxiproxy's own attribute names (see Toxiproxy's README), plus ``stream``
(``downstream``, ``upstream`` or ``both``, default both) and ``toxicity``.

| kind | what it does | settings |
| --- | --- | --- |
| latency | delay every chunk on the node's client proxy | latency (ms), jitter (ms) |
| bandwidth | limit the rate | rate (KB/s) |
| slow_close | delay the close | delay (ms) |
| timeout | black-hole data, close after timeout (0: never) | timeout (ms) |
| reset_peer | reset connections after timeout | timeout (ms) |
| slicer | slice data into small bits with delays | average_size, size_variation, delay (us) |
| limit_data | close after so many bytes | bytes |
| down | disable the proxy: open connections close, new ones are refused | |
| kill | SIGKILL the node (its target ``kill`` command); restart it at the stop | |
| pause | SIGSTOP the node (its ``pause`` command); SIGCONT it at the stop (``resume``) | |
| rolling_restart | kill and restart each target node in turn, one every ``every_s`` | every_s |

``target = "*"`` makes one fault per node of the target (a mass disconnect is
``kind = "down"`` on ``"*"`` for a second). Weak-network presets are in
``presets.py``, the random nemesis in ``nemesis.py``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from imload.faults.toxiproxy import ToxiproxyAPI

TOXIC_ATTRIBUTES: dict[str, frozenset[str]] = {
    "latency": frozenset({"latency", "jitter"}),
    "bandwidth": frozenset({"rate"}),
    "slow_close": frozenset({"delay"}),
    "timeout": frozenset({"timeout"}),
    "reset_peer": frozenset({"timeout"}),
    "slicer": frozenset({"average_size", "size_variation", "delay"}),
    "limit_data": frozenset({"bytes"}),
}
REQUIRED_ATTRIBUTES: dict[str, frozenset[str]] = {
    "latency": frozenset({"latency"}),
    "bandwidth": frozenset({"rate"}),
    "slicer": frozenset({"average_size"}),
    "limit_data": frozenset({"bytes"}),
}
PROCESS_COMMANDS = {"kill": ("kill", "restart"), "pause": ("pause", "resume")}
FAULT_KINDS = frozenset({*TOXIC_ATTRIBUTES, "down", *PROCESS_COMMANDS, "rolling_restart"})
STREAMS = {"downstream": ("downstream",), "upstream": ("upstream",),
           "both": ("downstream", "upstream")}
_COMMON = {"kind", "target", "at_s", "for_s"}


class FaultError(RuntimeError):
    """A fault that could not be started or stopped."""


@dataclass(frozen=True)
class FaultSpec:
    kind: str
    target: str
    at_s: float
    for_s: float | None = None
    stream: str = "both"
    toxicity: float = 1.0
    attributes: dict[str, int] = field(default_factory=dict)
    preset: str | None = None  # the preset or nemesis that made this fault, if any

    def detail(self) -> dict[str, Any]:
        d: dict[str, Any] = dict(self.attributes)
        if self.kind in TOXIC_ATTRIBUTES:
            d.update(stream=self.stream, toxicity=self.toxicity)
        if self.preset:
            d["preset"] = self.preset
        return d


def _number(step: dict[str, Any], key: str, default: float | None = None) -> float | None:
    value = step.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{key} must be a number >= 0, got {value!r}")
    return float(value)


def parse_fault(step: dict[str, Any]) -> FaultSpec:
    """Validate one ``[[chaos]]`` table; ValueError names the wrong key."""
    kind = step.get("kind")
    if kind not in FAULT_KINDS:
        raise ValueError(f"kind must be one of {', '.join(sorted(FAULT_KINDS))}, got {kind!r}")
    target = step.get("target")
    if not isinstance(target, str) or not target:
        raise ValueError(f"{kind}: target must name a node of the target file")
    at_s = _number(step, "at_s")
    if at_s is None:
        raise ValueError(f"{kind}: at_s (seconds after the load starts) is required")
    for_s = _number(step, "for_s")
    allowed = _COMMON | (TOXIC_ATTRIBUTES.get(kind, frozenset())
                         | ({"stream", "toxicity"} if kind in TOXIC_ATTRIBUTES else set())
                         | ({"every_s"} if kind == "rolling_restart" else set()))
    unknown = sorted(set(step) - allowed)
    if unknown:
        raise ValueError(f"{kind}: unknown key(s) {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(allowed))}")
    attributes: dict[str, int] = {}
    for key in TOXIC_ATTRIBUTES.get(kind, frozenset()):
        if key in step:
            value = step[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{kind}: {key} must be an integer >= 0, got {value!r}")
            attributes[key] = value
    if kind == "rolling_restart":
        every = step.get("every_s", 10)
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"rolling_restart: every_s must be a whole number >= 1, got {every!r}")
        if for_s is not None and for_s >= every:
            raise ValueError("rolling_restart: for_s (each node's down time) must be shorter "
                             "than every_s, or two nodes would be down at once")
        attributes["every_s"] = every
    missing = sorted(REQUIRED_ATTRIBUTES.get(kind, frozenset()) - set(attributes))
    if missing:
        raise ValueError(f"{kind}: missing {', '.join(missing)}")
    stream = step.get("stream", "both")
    if stream not in STREAMS:
        raise ValueError(f"{kind}: stream must be downstream, upstream or both, got {stream!r}")
    toxicity = _number(step, "toxicity", 1.0)
    if toxicity is None or toxicity > 1:
        raise ValueError(f"{kind}: toxicity must be between 0 and 1")
    return FaultSpec(kind=kind, target=target, at_s=at_s, for_s=for_s, stream=stream,
                     toxicity=toxicity, attributes=attributes)


class NodeMeans(Protocol):
    """What a target offers to fault one node (imload.cluster.target.NodeSpec fits)."""

    name: str
    proxy: str | None
    kill: str | None
    restart: str | None
    pause: str | None
    resume: str | None


def run_shell(command: str, timeout_s: float = 60.0) -> None:
    """Run a target's kill/restart command; FaultError with its output when it fails."""
    try:
        done = subprocess.run(command, shell=True, capture_output=True, text=True,
                              timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise FaultError(f"command timed out after {timeout_s:.0f} s: {command}") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise FaultError(f"command failed (exit {done.returncode}): {command}: "
                         + " / ".join(tail))


@dataclass
class FaultContext:
    """The means a run has to make faults: node specs, Toxiproxy, a shell."""

    nodes: dict[str, NodeMeans]
    toxiproxy: ToxiproxyAPI | None
    shell: Callable[[str], None] = run_shell


def missing_means(spec: FaultSpec, ctx: FaultContext) -> str | None:
    """Why this target cannot make this fault, or None when it can."""
    node = ctx.nodes.get(spec.target)
    if node is None:
        return f"{spec.kind} targets {spec.target!r}, not a node of the target " \
               f"(nodes: {', '.join(sorted(ctx.nodes))})"
    if spec.kind in PROCESS_COMMANDS:
        first, second = PROCESS_COMMANDS[spec.kind]
        if not getattr(node, first, None) or not getattr(node, second, None):
            return (f"{spec.kind} on {spec.target} needs '{first}' and '{second}' commands "
                    "in the target file")
        return None
    if ctx.toxiproxy is None:
        return f"{spec.kind} on {spec.target} needs [toxiproxy] api in the target file"
    if not node.proxy:
        return f"{spec.kind} on {spec.target} needs the node's 'proxy' in the target file"
    return None


def toxic_names(spec: FaultSpec, fault_id: str) -> list[tuple[str, str]]:
    """(toxic name, stream) pairs this fault adds."""
    return [(f"{fault_id}_{stream}", stream) for stream in STREAMS[spec.stream]]


def start_fault(spec: FaultSpec, fault_id: str, ctx: FaultContext) -> None:
    node = ctx.nodes[spec.target]
    if spec.kind in PROCESS_COMMANDS:
        ctx.shell(getattr(node, PROCESS_COMMANDS[spec.kind][0]))
        return
    assert ctx.toxiproxy is not None and node.proxy is not None
    if spec.kind == "down":
        ctx.toxiproxy.set_enabled(node.proxy, False)
        return
    for name, stream in toxic_names(spec, fault_id):
        ctx.toxiproxy.add_toxic(node.proxy, name, spec.kind, stream=stream,
                                toxicity=spec.toxicity, attributes=spec.attributes)


def stop_fault(spec: FaultSpec, fault_id: str, ctx: FaultContext) -> None:
    node = ctx.nodes[spec.target]
    if spec.kind in PROCESS_COMMANDS:
        ctx.shell(getattr(node, PROCESS_COMMANDS[spec.kind][1]))
        return
    assert ctx.toxiproxy is not None and node.proxy is not None
    if spec.kind == "down":
        ctx.toxiproxy.set_enabled(node.proxy, True)
        return
    for name, _ in toxic_names(spec, fault_id):
        ctx.toxiproxy.remove_toxic(node.proxy, name)


def expand_targets(specs: list[FaultSpec], nodes: list[str]) -> list[FaultSpec]:
    """Replace each ``target = "*"`` fault by one fault per node, and each rolling restart
    by its kills, in time order."""
    out: list[FaultSpec] = []
    for spec in specs:
        if spec.kind == "rolling_restart":
            every = spec.attributes["every_s"]
            targets = nodes if spec.target == "*" else [spec.target]
            out.extend(FaultSpec(kind="kill", target=name, at_s=spec.at_s + i * every,
                                 for_s=spec.for_s if spec.for_s is not None else every / 2,
                                 preset="rolling_restart")
                       for i, name in enumerate(targets))
        elif spec.target == "*":
            out.extend(replace(spec, target=name) for name in nodes)
        else:
            out.append(spec)
    return sorted(out, key=lambda s: s.at_s)
