"""What a reconnect storm did, from the journal alone (pure).

After the first ``kill`` fault starts, for each surviving node: connection
attempts per second (the peak one-second bucket and the total), accepts
(``connected``) and refusals with HTTP 503; for the devices the kill threw
off: how long until 50 %, 99 % and 100 % of them were connected again
(docs/chaos.md, "The avalanche drill").
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class NodeStorm:
    attempts: int = 0
    peak_attempts_per_s: int = 0
    accepts: int = 0
    refused_503: int = 0


@dataclass
class Storm:
    killed: str | None
    kill_at: float | None
    thrown_off: int = 0
    back: int = 0
    back_s: dict[str, float | None] = field(default_factory=dict)  # "p50", "p99", "p100"
    nodes: dict[str, NodeStorm] = field(default_factory=dict)
    honoured_retry_after: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"killed": self.killed, "thrown_off": self.thrown_off, "back": self.back,
                "back_s": self.back_s, "honoured_retry_after": self.honoured_retry_after,
                "nodes": {k: vars(v) for k, v in sorted(self.nodes.items())}}


def _quantile(sorted_values: list[float], q: float, total: int) -> float | None:
    """The q-quantile over ``total`` devices; None when fewer than that came back."""
    need = max(1, math.ceil(q * total))
    return round(sorted_values[need - 1], 3) if len(sorted_values) >= need else None


# disconnects that are the device's own doing, not the kill's
OWN_REASONS = ("network down", "stop")


def analyse_storm(events: Iterable[dict[str, Any]], url_to_node: dict[str, str],
                  window_s: float = 60.0, thrown_within_s: float = 5.0) -> Storm:
    """The storm after the first kill, over ``window_s`` seconds (or until the load ends).

    Thrown off: devices connected to the killed node that lost their connection
    within ``thrown_within_s`` of the kill (not by going offline themselves).
    """
    evs = list(events)
    kill = next((e for e in evs if e["ev"] == "fault" and e.get("kind") == "kill"
                 and e.get("action") == "start"), None)
    if kill is None:
        return Storm(killed=None, kill_at=None)
    storm = Storm(killed=kill["target"], kill_at=kill["at"])
    t0, t1 = kill["at"], kill["at"] + window_s
    load_end = next((e["at"] for e in evs if e["ev"] == "phase" and e.get("phase") == "load"
                     and e.get("action") == "end" and e["at"] > t0), None)
    if load_end is not None:
        t1 = min(t1, load_end)
    node_of: dict[tuple[str, str], str | None] = {}  # device -> node it is connected to
    last_url: dict[tuple[str, str], str] = {}
    thrown: dict[tuple[str, str], float] = {}
    back: dict[tuple[str, str], float] = {}
    buckets: dict[str, Counter[int]] = defaultdict(Counter)
    early_retries = 0
    refused_at: dict[tuple[str, str], tuple[float, int]] = {}
    for e in evs:
        kind = e["ev"]
        if kind not in ("connect", "connected", "connect_failed", "disconnected"):
            continue
        dev = (e["user"], e["device"])
        at = e["at"]
        if kind == "connect":
            last_url[dev] = e["url"]
            if dev in refused_at and t0 <= at:
                when, wait_ms = refused_at.pop(dev)
                if wait_ms and (at - when) * 1000 < wait_ms * 0.95:
                    early_retries += 1
            if t0 <= at < t1:
                node = url_to_node.get(e["url"], e["url"])
                ns = storm.nodes.setdefault(node, NodeStorm())
                ns.attempts += 1
                buckets[node][int(at - t0)] += 1
        elif kind == "connected":
            node = e.get("node") or url_to_node.get(e.get("url") or last_url.get(dev, ""), "?")
            node_of[dev] = node
            if t0 <= at < t1:
                storm.nodes.setdefault(node, NodeStorm()).accepts += 1
                if dev in thrown and dev not in back:
                    back[dev] = at - thrown[dev]
        elif kind == "connect_failed":
            if t0 <= at < t1 and "503" in str(e.get("reason")):
                node = url_to_node.get(last_url.get(dev, ""), "?")
                storm.nodes.setdefault(node, NodeStorm()).refused_503 += 1
                refused_at[dev] = (at, e.get("retry_after_ms") or 0)
        elif kind == "disconnected":
            own = str(e.get("reason", "")).startswith(OWN_REASONS)
            if (t0 <= at < t0 + thrown_within_s and node_of.get(dev) == storm.killed
                    and dev not in thrown and not own):
                thrown[dev] = at
            node_of[dev] = None
    for node, counter in buckets.items():
        storm.nodes[node].peak_attempts_per_s = max(counter.values())
    storm.thrown_off = len(thrown)
    storm.back = len(back)
    times = sorted(back.values())
    storm.back_s = {f"p{int(q * 100)}": _quantile(times, q, len(thrown))
                    for q in (0.5, 0.99, 1.0)}
    if any(ns.refused_503 for ns in storm.nodes.values()):
        storm.honoured_retry_after = early_retries == 0
    return storm
