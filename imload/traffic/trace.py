"""Traces: what every device did and when, as JSON lines, written by the model or exported
from production, and replayed at any speed (docs/traffic.md, "Traces").

One JSON object per line, sorted by ``t``:

| field | meaning |
| --- | --- |
| ``t`` | seconds since the start of the trace (float) |
| ``user``, ``device`` | who acts (any valid names; a run prefixes users with its run id) |
| ``action`` | ``send``, ``read``, ``op``, ``offline`` or ``online`` |
| ``conv`` | ``send`` / ``read``: the conversation (``d:<a>:<b>`` or ``g:<name>``) |
| ``size`` | ``send``: body bytes; ``offline``: seconds until the device is back (optional) |
| ``kind``, ``args`` | ``op``: the op kind and its args, as in the protocol's ``op`` frame |

A first line ``{"trace": "imload", "version": 1, ...}`` (duration, devices,
seed, mix) is optional; readers skip it, and any line without ``t``. Bodies are
never in a trace, only their sizes: replay makes bodies of those sizes.
``read`` reads ``conv`` up to whatever the device holds by then.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from imload.protocol import conv_members, is_valid_conv, is_valid_name
from imload.traffic.mixes import Mix
from imload.traffic.model import Act, person_acts, spells_of
from imload.traffic.names import device_of, group_of, user_of
from imload.traffic.population import Population

ACTIONS = ("send", "read", "op", "offline", "online")
VERSION = 1


class TraceError(ValueError):
    """A trace line that cannot be replayed (the message names the line)."""


@dataclass(frozen=True, slots=True)
class Step:
    """One line of a trace, for one device."""

    t: float
    action: str
    conv: str = ""
    size: int = 0
    kind: str = ""
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class Trace:
    header: dict[str, Any]
    devices: dict[tuple[str, str], list[Step]]   # (user, device) -> its steps by time

    @property
    def duration_s(self) -> float:
        last = max((s[-1].t for s in self.devices.values() if s), default=0.0)
        return float(self.header.get("duration_s", last))

    def order(self) -> list[tuple[str, str]]:
        """The devices in the order Locust users take them: first devices first."""
        first = {k: (steps[0].t if steps else math.inf) for k, steps in self.devices.items()}
        return sorted(self.devices, key=lambda k: (k[1], first[k], k[0]))

    def count(self, action: str) -> int:
        return sum(1 for steps in self.devices.values() for s in steps if s.action == action)


def act_line(a: Act) -> dict[str, Any]:
    line: dict[str, Any] = {"t": round(a.t, 3), "user": user_of(a.person),
                            "device": device_of(a.device), "action": a.action}
    if a.action in ("send", "read"):
        line["conv"] = a.conv
    if a.action in ("send", "offline"):
        line["size"] = a.size
    if a.action == "op":
        line["kind"], line["args"] = a.kind, a.args
    return line


def synth(pop: Population, mix: Mix, seed: int, duration_s: float,
          msg_interval_s: float) -> Iterator[dict[str, Any]]:
    """The model's trace: a header, then every device's acts and the reads, by time."""
    acts: list[Act] = []
    for p in range(len(pop.people)):
        acts += person_acts(pop, mix, seed, p, duration_s, msg_interval_s)
    acts += _reads(pop, mix, seed, acts, duration_s)
    acts.sort(key=lambda a: (a.t, a.person, a.device))
    yield {"trace": "imload", "version": VERSION, "duration_s": duration_s,
           "devices": len(pop), "people": len(pop.people), "seed": seed, "mix": mix.name,
           "msg_interval_s": msg_interval_s}
    for a in acts:
        yield act_line(a)


def _reads(pop: Population, mix: Mix, seed: int, acts: list[Act],
           horizon_s: float) -> list[Act]:
    """Who reads each message and when: members other than the sender, each with
    ``read_share`` (less in big groups), ``read_delay_s`` later, on a device online then."""
    rng = random.Random(f"{seed}/reads")
    joined: dict[str, dict[int, float]] = {}
    gone: dict[str, dict[int, float]] = {}
    for g in pop.groups:
        joined[group_of(g.index)] = {m: 0.0 for m in g.members}
    for a in acts:
        if a.action == "op" and a.kind in ("group_add", "group_remove"):
            who = int(a.args["user"][1:])
            book = joined if a.kind == "group_add" else gone
            book.setdefault(a.args["conv"], {}).setdefault(who, a.t)
    spells: dict[tuple[int, int], list[tuple[float, float, bool]]] = {}
    out = []
    for a in acts:
        if a.action != "send":
            continue
        if a.conv.startswith("g:"):
            members = [m for m, t in joined.get(a.conv, {}).items()
                       if t <= a.t and gone.get(a.conv, {}).get(m, math.inf) > a.t]
            share = mix.read_share * min(1.0, 8.0 / max(len(members), 1))
        else:
            users = conv_members(a.conv) or ()
            members = [int(u[1:]) for u in users]
            share = mix.read_share
        for m in members:
            if m == a.person or rng.random() >= share:
                continue
            t = a.t + rng.expovariate(1.0 / mix.read_delay_s)
            if t >= horizon_s:
                continue
            online = []
            for d in range(pop.people[m].devices):
                ss = spells.setdefault((m, d), spells_of(mix, seed, m, d, horizon_s))
                if not any(s <= t < e for s, e, _ in ss):
                    online.append(d)
            if online:
                out.append(Act(t, m, rng.choice(online), "read", conv=a.conv))
    return out


def write_trace(lines: Iterable[dict[str, Any]], path: str | os.PathLike[str]) -> int:
    """Write trace lines to ``path``; returns the number of action lines."""
    n = 0
    with open(path, "wb") as f:
        for line in lines:
            f.write(orjson.dumps(line) + b"\n")
            n += "t" in line
    return n


def _step(n: int, raw: object) -> tuple[tuple[str, str], Step] | None:
    where = f"line {n}"
    if not isinstance(raw, dict) or ("t" not in raw and "time" not in raw):
        return None  # the header, or a comment line
    t = raw.get("t", raw.get("time"))
    user, device, action = raw.get("user"), raw.get("device"), raw.get("action")
    if not isinstance(t, int | float) or isinstance(t, bool) or t < 0:
        raise TraceError(f"{where}: 't' must be seconds >= 0, got {t!r}")
    if not is_valid_name(user) or not is_valid_name(device):
        raise TraceError(f"{where}: 'user' and 'device' must be names [A-Za-z0-9_.-]")
    if action not in ACTIONS:
        raise TraceError(f"{where}: 'action' must be one of {', '.join(ACTIONS)}, "
                         f"got {action!r}")
    conv = raw.get("conv", raw.get("conversation", ""))
    if action in ("send", "read") and not is_valid_conv(conv):
        raise TraceError(f"{where}: {action} needs 'conv', a conversation, got {conv!r}")
    size = raw.get("size", 0)
    if not isinstance(size, int | float) or isinstance(size, bool) or size < 0:
        raise TraceError(f"{where}: 'size' must be a number >= 0, got {size!r}")
    kind, args = raw.get("kind", ""), raw.get("args", {} if action != "op" else None)
    if action == "op" and (not isinstance(kind, str) or not kind or not isinstance(args, dict)):
        raise TraceError(f"{where}: op needs 'kind' (a string) and 'args' (an object)")
    assert isinstance(user, str) and isinstance(device, str)
    return (user, device), Step(float(t), action, str(conv or ""), int(size), str(kind),
                                dict(args or {}))


def read_trace(path: str | os.PathLike[str]) -> Trace:
    """Load a trace; TraceError naming the line for anything that cannot be replayed."""
    header: dict[str, Any] = {}
    devices: dict[tuple[str, str], list[Step]] = {}
    p = Path(path)
    try:
        f = open(p, "rb")  # noqa: SIM115 - closed below
    except OSError as e:
        raise TraceError(f"cannot read trace {p}: {e.strerror or e}") from None
    with f:
        for n, raw_line in enumerate(f, 1):
            if not raw_line.strip():
                continue
            try:
                raw = orjson.loads(raw_line)
            except orjson.JSONDecodeError as e:
                raise TraceError(f"{p}: line {n}: not JSON: {e}") from None
            if isinstance(raw, dict) and raw.get("trace") == "imload" and not header:
                header = raw
                continue
            try:
                got = _step(n, raw)
            except TraceError as e:
                raise TraceError(f"{p}: {e}") from None
            if got is not None:
                devices.setdefault(got[0], []).append(got[1])
    for steps in devices.values():
        steps.sort(key=lambda s: s.t)
    if not devices:
        raise TraceError(f"{p}: no actions")
    return Trace(header, devices)


def synth_file(path: str | os.PathLike[str], *, devices: int, mix: Mix, seed: int,
               duration_s: float, msg_interval_s: float,
               people: int | None = None) -> dict[str, Any]:
    """Write the model's trace of a run to ``path``; a summary of what it holds."""
    pop = Population.build(devices, mix, seed, people)
    counts: dict[str, int] = {}

    def counted(lines: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for line in lines:
            if "action" in line:
                counts[line["action"]] = counts.get(line["action"], 0) + 1
            yield line

    write_trace(counted(synth(pop, mix, seed, duration_s, msg_interval_s)), path)
    return {"devices": len(pop), "people": len(pop.people), "groups": len(pop.groups),
            "actions": counts}
