"""Scenario files: what load to run, against which target, with which faults.

A scenario is TOML (see chaos/default.toml, every key commented there).
``load_scenario`` validates it completely before anything starts, and every
problem is a ``ScenarioError`` naming the file and the key. The ``[load]`` keys, their
kinds, defaults and rules are one table, ``imload/load_options.py``'s.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from imload.faults.nemesis import NemesisSpec, nemesis_schedule, parse_nemesis
from imload.faults.presets import expand_preset
from imload.faults.registry import FAULT_KINDS, FaultSpec, expand_targets, parse_fault
from imload.load_options import (
    INT,
    INTS,
    NUMBER,
    STRINGS,
    SWITCH,
    TEXT,
    Kind,
    LoadError,
    LoadSpec,
    parse_load,
)
from imload.slo import Slo, parse_slos
from imload.toml_file import read_toml


class ScenarioError(ValueError):
    """A scenario file that cannot be run as written."""


@dataclass(frozen=True)
class ClusterSpec:
    backend: str = "reference"  # imload/cluster/backends: reference, prosody, ...
    smacks: bool = True  # an XMPP backend: XEP-0198 stream management on
    protocol: str = ""  # the protocol clients speak to it ("": the backend's; prosody:
    #                     xmpp over WebSocket, or xmpp-tcp: TCP with STARTTLS)
    nodes: int = 3
    bug: str | None = None
    tls: bool = False
    node_args: tuple[str, ...] = ()  # extra arguments for every node (admission limits, ...)
    node_clock_skew_ms: tuple[int, ...] = ()  # per node, in order: n1, n2, ...
    qos: int | None = None  # mosquitto: 0 or 1 (None: the backend's, 1)
    autosave_interval_s: int | None = None  # mosquitto: None the backend's (1), 0 never,
    #                                         1800 Mosquitto's own default

    def per_node_args(self) -> dict[str, list[str]]:
        return {f"n{i}": ["--clock-skew-ms", str(ms)]
                for i, ms in enumerate(self.node_clock_skew_ms, 1) if ms}


@dataclass(frozen=True)
class ProfileSpec:
    """A share of the devices on their own proxies with a weak-network preset on them."""

    name: str
    share: float
    preset: str


@dataclass(frozen=True)
class CapacitySpec:
    steps: tuple[int, ...] = ()  # users of each step; empty: no capacity search
    step_s: float = 30.0  # how long each step holds
    ramp_s: float = 5.0  # the start of each step that is not judged (users arriving)
    spawn_rate: float = 50.0  # users started per second as a step grows


@dataclass(frozen=True)
class AuditSpec:
    quiet_s: float = 2.0
    timeout_s: float = 120.0


@dataclass(frozen=True)
class MetricsSpec:
    """``[metrics]``: the live figures on a Prometheus endpoint (docs/metrics.md)."""

    prometheus: str = ""  # HOST:PORT (port 0: a free one) to serve them on; "": off
    linger_s: float = 0.0  # seconds the final figures stay served after the run


@dataclass(frozen=True)
class Scenario:
    path: Path
    name: str
    target: str  # "local" or a path to a target file (resolved against the scenario's folder)
    seed: int
    load: LoadSpec
    cluster: ClusterSpec
    audit: AuditSpec
    chaos: list[FaultSpec] = field(default_factory=list)
    nemesis: NemesisSpec | None = None
    slos: list[Slo] = field(default_factory=list)
    capacity: CapacitySpec = field(default_factory=CapacitySpec)
    profiles: tuple[ProfileSpec, ...] = ()
    metrics: MetricsSpec = field(default_factory=MetricsSpec)

    def fault_plan(self, nodes: list[str]) -> list[FaultSpec]:
        """Every fault of the run against these node names, ``"*"`` and nemesis expanded."""
        planned = [*self.chaos, *self._profile_faults(nodes)]
        if self.nemesis is not None:
            planned += nemesis_schedule(self.nemesis, nodes, self.load.duration_s, self.seed)
        return expand_targets(planned, nodes)

    def _profile_faults(self, nodes: list[str]) -> list[FaultSpec]:
        """Each profile's preset on each node's proxy of that profile, all along."""
        return [spec for p in self.profiles for node in nodes
                for spec in expand_preset({"kind": "preset", "preset": p.preset,
                                           "target": f"{node}.{p.name}", "at_s": 0},
                                          self.load.duration_s,
                                          random.Random(f"profile:{self.seed}:{p.name}:{node}"))]

    def has_packet_faults(self) -> bool:
        """Whether a fault of the run (a step or a profile's preset) works on packets
        (``netem``): its devices then run in the run's network namespace."""
        return any(f.kind == "netem" for f in [*self.chaos, *self._profile_faults(["n1"])])


_TOP = {"name", "target", "seed", "load", "cluster", "audit", "chaos", "nemesis", "slo",
        "capacity", "profiles", "metrics"}


def _annotation(kind: Kind) -> str:
    """How a dataclass field of ``kind`` is annotated (as text: ``from __future__``)."""
    return kind.py.__name__ if isinstance(kind.py, type) else str(kind.py)


# a section's field annotation (without `` | None``) -> its kind: what it takes, its words
_KINDS: dict[str, Kind] = {_annotation(k): k for k in (INT, NUMBER, TEXT, SWITCH, INTS, STRINGS)}


def _section(path: Path, data: dict[str, Any], key: str, cls: type) -> Any:
    raw = data.get(key, {})
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}: [{key}] must be a table")
    allowed = cls.__dataclass_fields__
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise ScenarioError(f"{path}: [{key}] has unknown key(s) {', '.join(unknown)}; "
                            f"known: {', '.join(allowed)}")
    values = {}
    for name, f in allowed.items():
        if name not in raw:
            continue
        value = raw[name]
        want = (f.type if isinstance(f.type, str) else f.type.__name__).replace(" | None", "")
        kind = _KINDS.get(want)
        if kind is None:
            raise TypeError(f"{cls.__name__}.{name}: no check for type {want}")
        if not kind.takes(value):
            raise ScenarioError(f"{path}: {key}.{name} must be {kind.words}, got {value!r}")
        if isinstance(value, list):
            value = tuple(value)
        if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
            raise ScenarioError(f"{path}: {key}.{name} must not be negative, got {value!r}")
        values[name] = value
    return cls(**values)


def parse_scenario(data: dict[str, Any], path: Path) -> Scenario:
    """Validate parsed TOML ``data`` (read from ``path``) into a Scenario."""
    unknown = sorted(set(data) - _TOP)
    if unknown:
        raise ScenarioError(f"{path}: unknown key(s) {', '.join(unknown)}; "
                            f"known: {', '.join(sorted(_TOP))}")
    name = data.get("name", path.stem)
    target = data.get("target", "local")
    seed = data.get("seed", 1)
    if not isinstance(name, str):
        raise ScenarioError(f"{path}: name must be a string")
    if not isinstance(target, str) or not target:
        raise ScenarioError(f"{path}: target must be \"local\" or the path of a target file")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ScenarioError(f"{path}: seed must be an integer, got {seed!r}")
    if target != "local":
        target = str((path.parent / target).resolve())
    load = _load(path, data)
    cluster = _cluster(path, data)
    audit = _section(path, data, "audit", AuditSpec)
    raw_chaos = data.get("chaos", [])
    if not isinstance(raw_chaos, list) or not all(isinstance(c, dict) for c in raw_chaos):
        raise ScenarioError(f"{path}: chaos must be a list of tables ([[chaos]])")
    chaos: list[FaultSpec] = []
    rng = random.Random(f"presets:{seed}")
    for i, step in enumerate(raw_chaos, 1):
        try:
            if step.get("kind") == "preset":
                specs = expand_preset(step, load.duration_s, rng)
            else:
                specs = [parse_fault(step)]
        except ValueError as e:
            raise ScenarioError(f"{path}: chaos step {i}: {e}") from None
        for spec in specs:
            if spec.at_s > load.duration_s:
                raise ScenarioError(f"{path}: chaos step {i} ({spec.kind}) starts at "
                                    f"{spec.at_s} s, after the load ends ({load.duration_s} s)")
        chaos.extend(specs)
    nemesis = None
    if "nemesis" in data:
        if not isinstance(data["nemesis"], dict):
            raise ScenarioError(f"{path}: [nemesis] must be a table")
        try:
            nemesis = parse_nemesis(data["nemesis"])
        except ValueError as e:
            raise ScenarioError(f"{path}: nemesis: {e}") from None
    try:
        slos = parse_slos(data.get("slo", []))
    except ValueError as e:
        raise ScenarioError(f"{path}: {e}") from None
    profiles = _profiles(path, data.get("profiles", []))
    capacity = _section(path, data, "capacity", CapacitySpec)
    if any(u < 1 for u in capacity.steps) or list(capacity.steps) != sorted(capacity.steps):
        raise ScenarioError(f"{path}: capacity.steps must be growing user counts >= 1, "
                            f"got {list(capacity.steps)}")
    if capacity.step_s <= capacity.ramp_s:
        raise ScenarioError(f"{path}: capacity.step_s must be longer than capacity.ramp_s")
    return Scenario(path=path, name=name, target=target, seed=seed, load=load, cluster=cluster,
                    audit=audit, chaos=chaos, nemesis=nemesis, slos=slos, capacity=capacity,
                    profiles=profiles, metrics=_metrics(path, data))


def _metrics(path: Path, data: dict[str, Any]) -> MetricsSpec:
    """``[metrics]``: ``prometheus`` must be HOST:PORT (or a port), ``linger_s`` bounded."""
    from imload.live.prometheus import MAX_LINGER_S, parse_listen
    metrics = _section(path, data, "metrics", MetricsSpec)
    if metrics.prometheus:
        try:
            parse_listen(metrics.prometheus)
        except ValueError as e:
            raise ScenarioError(f"{path}: metrics.prometheus: {e}") from None
    if metrics.linger_s > MAX_LINGER_S:
        raise ScenarioError(f"{path}: metrics.linger_s must be at most {MAX_LINGER_S:g} s, "
                            f"got {metrics.linger_s:g}")
    return metrics


def _cluster(path: Path, data: dict[str, Any]) -> ClusterSpec:
    """``[cluster]``: the backend's own keys only, node counts that agree."""
    cluster = _section(path, data, "cluster", ClusterSpec)
    if cluster.nodes < 1:
        raise ScenarioError(f"{path}: cluster.nodes must be at least 1")
    from imload.cluster.backends import BACKENDS

    if cluster.backend not in BACKENDS:
        raise ScenarioError(f"{path}: cluster.backend must be one of {', '.join(BACKENDS)}, "
                            f"got {cluster.backend!r}")
    if cluster.backend == "reference" and cluster.protocol not in ("", "v1"):
        raise ScenarioError(f"{path}: cluster.protocol: the reference cluster speaks v1 only, "
                            f"got {cluster.protocol!r}")
    if cluster.backend != "reference" and (cluster.bug or cluster.tls or cluster.node_args
                                           or cluster.node_clock_skew_ms):
        raise ScenarioError(f"{path}: cluster.bug, tls, node_args and node_clock_skew_ms are "
                            f"the reference cluster's; the {cluster.backend} backend takes "
                            "none of them")
    mqtt = [k for k in ("qos", "autosave_interval_s") if getattr(cluster, k) is not None]
    if mqtt and cluster.backend != "mosquitto":
        raise ScenarioError(f"{path}: cluster.{' and '.join(mqtt)}: the mosquitto backend's; "
                            f"the {cluster.backend} backend does not take them")
    if cluster.qos not in (None, 0, 1):
        raise ScenarioError(f"{path}: cluster.qos must be 0 or 1, got {cluster.qos}")
    if len(cluster.node_clock_skew_ms) > cluster.nodes:
        raise ScenarioError(f"{path}: cluster.node_clock_skew_ms names "
                            f"{len(cluster.node_clock_skew_ms)} nodes, the cluster has "
                            f"{cluster.nodes}")
    return cluster


def _load(path: Path, data: dict[str, Any]) -> LoadSpec:
    """``[load]``: its keys, kinds and rules are imload/load_options.py's table; the trace
    made absolute (relative to the scenario) and found."""
    try:
        load = LoadSpec(**parse_load(data.get("load", {})))
    except LoadError as e:
        raise ScenarioError(f"{path}: {e}") from None
    if load.trace is not None:
        trace = (path.parent / load.trace).resolve()
        if not trace.is_file():
            raise ScenarioError(f"{path}: load.trace: no trace file at {trace}")
        load = replace(load, trace=str(trace))
    return load


def _profiles(path: Path, raw: object) -> tuple[ProfileSpec, ...]:
    """``[[profiles]]``: name, share (0-1) and a weak-network preset; shares add up to <= 1."""
    from imload.faults.presets import PRESETS
    from imload.protocol import is_valid_name
    if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
        raise ScenarioError(f"{path}: profiles must be a list of tables ([[profiles]])")
    out = []
    for i, r in enumerate(raw, 1):
        unknown = sorted(set(r) - {"name", "share", "preset"})
        if unknown:
            raise ScenarioError(f"{path}: profile {i}: unknown key(s) {', '.join(unknown)}; "
                                "known: name, share, preset")
        name, share, preset = r.get("name"), r.get("share"), r.get("preset")
        if not is_valid_name(name) or "." in str(name):
            raise ScenarioError(f"{path}: profile {i}: name must match [A-Za-z0-9_-]{{1,64}}, "
                                f"got {name!r}")
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
            raise ScenarioError(f"{path}: profile {name}: share must be a number in (0, 1], "
                                f"got {share!r}")
        if preset not in PRESETS:
            raise ScenarioError(f"{path}: profile {name}: preset must be one of "
                                f"{', '.join(PRESETS)}, got {preset!r}")
        out.append(ProfileSpec(str(name), float(share), str(preset)))
    if sum(p.share for p in out) > 1 + 1e-9:
        raise ScenarioError(f"{path}: the profiles' shares add up to more than 1")
    if len({p.name for p in out}) != len(out):
        raise ScenarioError(f"{path}: two profiles have the same name")
    return tuple(out)


def rescale(scenario: Scenario, time_scale: float = 1.0, users: int | None = None) -> Scenario:
    """The same drill shorter or longer (every time multiplied) and with other users."""
    def scaled(spec: FaultSpec) -> FaultSpec:
        return replace(spec, at_s=spec.at_s * time_scale,
                       for_s=None if spec.for_s is None else spec.for_s * time_scale)
    load = replace(scenario.load, duration_s=scenario.load.duration_s * time_scale,
                   users=users or scenario.load.users)
    nemesis = scenario.nemesis
    if nemesis is not None:
        nemesis = replace(nemesis, interval_s=max(1.0, nemesis.interval_s * time_scale),
                          start_s=nemesis.start_s * time_scale,
                          end_s=None if nemesis.end_s is None else nemesis.end_s * time_scale)
    return replace(scenario, load=load, chaos=[scaled(s) for s in scenario.chaos],
                   nemesis=nemesis)


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read and validate a scenario file."""
    p = Path(path)
    return parse_scenario(read_toml(p, "the scenario", ScenarioError), p)


__all__ = ["FAULT_KINDS", "AuditSpec", "ClusterSpec", "LoadSpec", "MetricsSpec", "Scenario",
           "ScenarioError", "load_scenario", "parse_scenario", "rescale"]
