"""Weak-network presets named after the seed's places, as Toxiproxy toxics over time.

A ``[[chaos]]`` step ``kind = "preset"`` with ``preset = NAME`` expands into
plain faults inside its window (``at_s`` to ``at_s + for_s``), drawn with the
scenario's seed, so the same seed replays the same outages.

- ``elevator``: one total outage of 10-30 s; packets vanish, the socket stays
  open. A ``timeout`` toxic (black hole, timeout 0).
- ``subway``: tunnels between stations. Every 15-25 s a black hole of 4-8 s,
  then ``reset_peer`` for 1 s as the phone reattaches at the station.
- ``high-speed-rail``: cell handoffs every 5-10 s (``reset_peer`` 0.5 s) on a
  slow, jittery link (latency 150 +- 100 ms throughout).
- ``3g``: latency 300 +- 150 ms; bandwidth 40 KB/s down and 15 KB/s up.
- ``bad-wifi``: slow, sliced, lossy: ``slicer`` 64 +- 32 bytes every 2 ms,
  latency 50 +- 100 ms, and 30 % of connections cut after 256 KB
  (``limit_data``).

Two more say the same places as packet faults (``kind = "netem"``: root, a local
cluster; docs/chaos.md gives their sources), where TCP's own retransmissions are the
truer model than a toxic's stream-level delay:

- ``3g-packets``: 125 +- 25 ms each way (a 250 ms round trip), 0.5 % of packets lost
  each way, 1,200 kbit/s.
- ``high-speed-rail-packets``: 75 +- 50 ms each way, 1 % lost, and a handover every
  5-10 s: every packet lost for 0.3-1.0 s (the radio gap; TCP stalls for an RTO and
  retransmits, where the toxic preset resets the connection).

Why these toxics: a black hole (timeout 0) is what a dead radio looks like to
TCP, so clients must notice it by missed heartbeats (seed 8.4); reset_peer is
the new attachment after a handoff, which kills the old connection at once.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from imload.faults.registry import FaultSpec

Window = tuple[float, float]


def _spec(kind: str, target: str, at: float, dur: float | None, preset: str,
          stream: str = "both", toxicity: float = 1.0, **attributes: Any) -> FaultSpec:
    return FaultSpec(kind=kind, target=target, at_s=round(at, 3),
                     for_s=None if dur is None else round(dur, 3), stream=stream,
                     toxicity=toxicity, attributes=dict(attributes), preset=preset)


def elevator(target: str, w: Window, rng: random.Random) -> list[FaultSpec]:
    start, end = w
    dur = min(rng.uniform(10, 30), end - start)
    return [_spec("timeout", target, start, dur, "elevator", timeout=0)]


def subway(target: str, w: Window, rng: random.Random) -> list[FaultSpec]:
    out, t = [], w[0] + rng.uniform(0, 5)
    while t < w[1]:
        tunnel = min(rng.uniform(4, 8), w[1] - t)
        out.append(_spec("timeout", target, t, tunnel, "subway", timeout=0))
        station = t + tunnel
        if station + 1 <= w[1]:
            out.append(_spec("reset_peer", target, station, 1.0, "subway", timeout=0))
        t = station + rng.uniform(15, 25)
    return out


def high_speed_rail(target: str, w: Window, rng: random.Random) -> list[FaultSpec]:
    out = [_spec("latency", target, w[0], w[1] - w[0], "high-speed-rail", latency=150,
                 jitter=100)]
    t = w[0] + rng.uniform(5, 10)
    while t + 0.5 <= w[1]:
        out.append(_spec("reset_peer", target, t, 0.5, "high-speed-rail", timeout=0))
        t += rng.uniform(5, 10)
    return out


def three_g(target: str, w: Window, rng: random.Random) -> list[FaultSpec]:
    dur = w[1] - w[0]
    return [_spec("latency", target, w[0], dur, "3g", latency=300, jitter=150),
            _spec("bandwidth", target, w[0], dur, "3g", stream="downstream", rate=40),
            _spec("bandwidth", target, w[0], dur, "3g", stream="upstream", rate=15)]


def bad_wifi(target: str, w: Window, rng: random.Random) -> list[FaultSpec]:
    dur = w[1] - w[0]
    return [_spec("slicer", target, w[0], dur, "bad-wifi", average_size=64, size_variation=32,
                  delay=2000),
            _spec("latency", target, w[0], dur, "bad-wifi", latency=50, jitter=100),
            _spec("limit_data", target, w[0], dur, "bad-wifi", stream="downstream",
                  toxicity=0.3, bytes=256 * 1024)]


def three_g_packets(target: str, w: Window, rng: random.Random) -> list[FaultSpec]:
    return [_spec("netem", target, w[0], w[1] - w[0], "3g-packets", delay=125, jitter=25,
                  distribution="normal", loss=0.5, rate=1200)]


def high_speed_rail_packets(target: str, w: Window, rng: random.Random) -> list[FaultSpec]:
    name = "high-speed-rail-packets"
    out = [_spec("netem", target, w[0], w[1] - w[0], name, delay=75, jitter=50,
                 distribution="normal", loss=1)]
    t = w[0] + rng.uniform(5, 10)
    while t < w[1]:
        gap = min(rng.uniform(0.3, 1.0), w[1] - t)
        out.append(_spec("netem", target, t, gap, name, loss=100))
        t += gap + rng.uniform(5, 10)
    return out


PRESETS: dict[str, Callable[[str, Window, random.Random], list[FaultSpec]]] = {
    "elevator": elevator,
    "subway": subway,
    "high-speed-rail": high_speed_rail,
    "3g": three_g,
    "bad-wifi": bad_wifi,
    "3g-packets": three_g_packets,
    "high-speed-rail-packets": high_speed_rail_packets,
}


def expand_preset(step: dict[str, Any], load_s: float, rng: random.Random) -> list[FaultSpec]:
    """Expand a ``kind = "preset"`` step; ValueError names the wrong key."""
    name = step.get("preset")
    if name not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {name!r}")
    unknown = sorted(set(step) - {"kind", "preset", "target", "at_s", "for_s"})
    if unknown:
        raise ValueError(f"preset {name}: unknown key(s) {', '.join(unknown)}; "
                         "known: preset, target, at_s, for_s")
    target = step.get("target")
    if not isinstance(target, str) or not target:
        raise ValueError(f"preset {name}: target must name a node (or \"*\" for every node)")
    at_s = step.get("at_s", 0)
    for_s = step.get("for_s", load_s - at_s if isinstance(at_s, int | float) else None)
    for key, value in (("at_s", at_s), ("for_s", for_s)):
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"preset {name}: {key} must be a number >= 0, got {value!r}")
    return PRESETS[name](target, (float(at_s), float(at_s) + float(for_s)), rng)
