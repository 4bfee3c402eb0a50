"""A run's journal as a trace (docs/traffic.md, "Traces"): who sent what, when.

Pure: it reads journal events (dicts) and returns trace lines (dicts), no files.

- Time 0 is the first ``device`` event: when Locust started its first user, which is
  what a replay's time 0 is too. A line's ``t`` is its event's ``at`` minus that.
- Names lose the run's id (``r<hex>``, the prefix of every user and group name,
  ``imload/traffic/names.py``): a replay prefixes them with its own.
- ``send``: the first attempt of each cmid (the engine retries by itself), with
  ``size`` ``BODY_SIZE``: the journal keeps a body's digest, not its length.
- ``op``: the first attempt of each opid, its ``kind`` and ``args``; ``read``: each
  read a device made (then a replay reads only these, not reactively).
- ``offline`` / ``online``: a device that first came online later than
  ``LATE_S`` after time 0 (Locust started it late) is ``offline`` from 0 until then;
  a model's offline spell (``disconnected`` with reason ``network down``) is
  ``offline`` until the device's next ``connect``. Disconnections made by faults are
  not lines: replaying the faults makes them again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import partial
from typing import Any

from imload.traffic.names import map_args, map_conv

BODY_SIZE = 32
LATE_S = 0.3
KINDS = ("device", "connect", "connected", "disconnected", "send", "op", "read")
_RUN_ID = re.compile(r"r[0-9a-f]+")


class ExtractError(ValueError):
    """The journal holds no load to make a trace of (the message says what is missing)."""


def run_prefix(users: Iterable[str]) -> str:
    """The run id every user name starts with ("" when there is none)."""
    names = sorted(set(users))
    if not names:
        return ""
    first, last = names[0], names[-1]
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    m = _RUN_ID.match(first[:n])
    if m is None:
        return ""
    prefix = m.group(0)
    # a hex run id may run into names that start with a-f: keep at least one character
    return prefix if all(len(u) > len(prefix) for u in names) else prefix[:-1]


def strip_user(prefix: str, user: str) -> str:
    return user[len(prefix):] if prefix and user.startswith(prefix) else user


def strip_conv(prefix: str, conv: str) -> str:
    return map_conv(conv, partial(strip_user, prefix))


def strip_args(prefix: str, args: dict[str, Any]) -> dict[str, Any]:
    return map_args(args, partial(strip_user, prefix))


def trace_lines(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The trace lines of a run's journal events (any order), sorted by ``t``."""
    evs = sorted((e for e in events if e.get("ev") in KINDS and "user" in e),
                 key=lambda e: e["at"])
    starts = [e["at"] for e in evs if e["ev"] == "device"]
    if not starts:
        raise ExtractError("the journal has no devices (no 'device' event): the load "
                           "did not start")
    t0 = min(starts)
    prefix = run_prefix(e["user"] for e in evs)
    lines: list[dict[str, Any]] = []
    first_online: dict[tuple[str, str], float] = {}
    away: set[tuple[str, str]] = set()
    seen: set[str] = set()

    def line(e: dict[str, Any], action: str, **more: Any) -> None:
        lines.append({"t": round(max(0.0, e["at"] - t0), 3),
                      "user": strip_user(prefix, e["user"]), "device": e["device"],
                      "action": action, **more})

    for e in evs:
        key, ev = (e["user"], e["device"]), e["ev"]
        if ev == "connected":
            first_online.setdefault(key, e["at"] - t0)
        elif ev == "disconnected" and e.get("reason") == "network down":
            away.add(key)
            line(e, "offline")
        elif ev == "connect" and key in away:
            away.discard(key)
            line(e, "online")
        elif ev == "send" and e.get("cmid") not in seen:
            seen.add(e.get("cmid", ""))
            line(e, "send", conv=strip_conv(prefix, e["conv"]), size=BODY_SIZE)
        elif ev == "op" and e.get("opid") not in seen:
            seen.add(e.get("opid", ""))
            line(e, "op", kind=e["kind"], args=strip_args(prefix, e.get("args") or {}))
        elif ev == "read":
            line(e, "read", conv=strip_conv(prefix, e["conv"]))
    late = [{"t": 0.0, "user": strip_user(prefix, u), "device": d, "action": a}
            | ({} if a == "offline" else {"t": round(t, 3)})
            for (u, d), t in first_online.items() if t > LATE_S for a in ("offline", "online")]
    out = sorted(late + lines, key=lambda x: x["t"])  # stable: offline before online
    if not any(x["action"] == "send" for x in out):
        raise ExtractError("the journal has no sends: nothing to shrink")
    return out

