"""Holes a device still has after the audit: the ``gap`` anomaly.

Only devices whose audit finished are judged (an ``audit`` event with action
``done``): the audit synced them to the end of their inbox, so a hole there
is one the server will never fill (PROTOCOL.md, promises 3 and 6).

- useq: the device must hold every inbox position 1 .. ``inbox_seq`` (the
  user's newest useq when the audit logged in). One case per device.
- seq: a device that holds seq s of a conversation must hold every seq below
  s that was meant for its user (every seq of a direct chat; in a group, the
  seqs at which the user was a member, see ``recipients``), whether or not
  the missing message was seen anywhere else (a seq the server handed out and
  nobody ever saw is a gap too). One case per (device, conversation).

The common case is cheap: per device, its inbox positions and its copies per
conversation are counted in C (``set``, ``Counter``) and compared with the
inbox top and the conversation's top seq; only a device (or conversation)
that falls short, and groups, are looked at copy by copy.
"""

from __future__ import annotations

from collections import Counter
from itertools import compress, repeat
from operator import itemgetter, lt, methodcaller, or_
from typing import Any

from imload.check.cases import Cases, who
from imload.check.history import DeviceLog, Event, History
from imload.check.recipients import group_timeline

SHOWN = 8  # missing numbers named in one sentence
_USEQ = itemgetter("useq")  # every copy has one (check() screens events that lack it)
_CONV = itemgetter("conv")
_IS_GROUP = methodcaller("startswith", "g:")


def audited(log: DeviceLog) -> Event | None:
    """The device's finished audit (its ``audit done`` event), else None."""
    done = log.audit
    return done if done is not None and done.get("action") == "done" else None


def gap_cases(h: History, limit: int = 20) -> Cases:
    out = Cases("gap", limit)
    tops: dict[str, int] | None = None
    for user, per_user in sorted(h.devices.items()):
        for device, log in sorted(per_user.items()):
            if audited(log) is None:
                continue
            if tops is None:
                tops = {conv: max(seqs) for conv, seqs in h.by_seq.items() if seqs}
            copies = log.held.values()
            top = _inbox_top(log)
            if top > 0 and not set(map(_USEQ, copies)).issuperset(range(1, top + 1)):
                _useq_gap((user, device), log, list(copies), out)
            counts = Counter(map(_CONV, copies))
            convs = list(counts)
            owed = map(or_, map(lt, counts.values(), map(tops.get, convs, repeat(0))),
                       map(_IS_GROUP, convs))
            for conv in compress(convs, owed):  # short of the top seq, or a group
                _seq_gap(h, (user, device, conv),
                         [e for e in copies if e["conv"] == conv], log, out)
    return out


def _inbox_top(log: DeviceLog) -> int:
    done = audited(log)
    top = (log.audit_start or done or {}).get("inbox_seq")
    return top if isinstance(top, int) else 0


def _useq_gap(ud: tuple[str, str], log: DeviceLog, copies: list[Event], out: Cases) -> None:
    top = _inbox_top(log)
    held = set(map(_USEQ, copies))
    missing = sorted(set(range(1, top + 1)).difference(held))
    if missing and out.tally():
        out.keep(f"{who(*ud)} misses {len(missing)} of inbox positions 1..{top} after "
                 f"the audit: useq {_numbers(missing)}",
                 [log.audit_start, log.audit, *_around(copies, "useq", missing[0])])


def _seq_gap(h: History, key: tuple[str, str, str], copies: list[Event], log: DeviceLog,
             out: Cases) -> None:
    user, device, conv = key
    mine = {e["seq"]: e for e in copies if isinstance(e.get("seq"), int)}
    if not mine:
        return
    top = max(mine)
    wanted: Any
    if conv.startswith("g:"):
        timeline = group_timeline(conv, h)
        wanted = (s for s in range(1, top) if timeline.is_member(user, s))
    else:
        wanted = range(1, top)
    missing = [s for s in wanted if s not in mine]
    if missing and out.tally():
        named = h.by_seq.get(conv, {})
        known = [named[s] for s in missing if s in named][:2]
        out.keep(f"{who(user, device)} holds seq {top} of {conv} but, after the audit, "
                 f"misses {len(missing)} seq(s) below it: {_numbers(missing)}"
                 + (f" ({len(known)} of them were seen elsewhere)" if known else
                    " (never seen by anyone)"),
                 [mine[top], *known, log.audit])


def _around(copies: list[Event], key: str, value: int) -> list[Event]:
    """The copies just below and above a missing number, if there are any."""
    below = [e for e in copies if isinstance(e.get(key), int) and e[key] < value]
    above = [e for e in copies if isinstance(e.get(key), int) and e[key] > value]
    out = []
    if below:
        out.append(max(below, key=itemgetter(key)))
    if above:
        out.append(min(above, key=itemgetter(key)))
    return out


def _numbers(values: list[int]) -> str:
    shown = ", ".join(map(str, values[:SHOWN]))
    return shown + (f" and {len(values) - SHOWN} more" if len(values) > SHOWN else "")
