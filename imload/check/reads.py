"""Read markers (docs/protocol.md, promise 7): the ``read_sync`` anomaly.

A user's marker of a conversation (the highest seq read) only grows and
reaches all the user's devices. Four ways to catch it failing:

- went down: every ``read_ok``, ``read_sync`` and ``marks`` value is the
  stored marker at some moment. Once a device has *received* a value v (at
  time t), any request *made* after t must see at least v: a ``read`` invoked
  after t whose ``read_ok`` is lower, or a ``marks`` fetch made after t (after
  the device's login, or its audit start) that is lower. Only requests made
  after the value arrived are compared, so pushes still in flight never
  count (this is the real-time order of linearizability, on the load host's
  clock).
- pushed down: the ``read_sync`` (or ``receipt``) pushes of one conversation
  on one connection going down (the store publishes them in write order).
- diverged: after the audit, two devices of one user fetched different markers
  (``marks`` events of phase ``audit``).
- unheld: a device sent ``read`` up to seq s of a conversation without
  holding that message at the time (the device never had it).

With opaque seqs (labels: ``numbering``) only the last two are judged: a marker is
then the message marked, and "down" has no order to go by.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from collections.abc import Callable
from operator import itemgetter
from typing import Any

from imload.check.cases import Cases, who
from imload.check.index import Event, History
from imload.check.numbering import seq_opaque

_USER = itemgetter("user")

Obs = tuple[float, int, Event]  # (when received, value, event)


# why, with opaque seqs, no read marker is judged to have gone down (reason, example)
MARKERS_ARE_LABELS = ("seq declared opaque", "the target numbers conversations with labels, "
                      "so whether a read marker went down cannot be judged (divergence and "
                      "unheld reads still are)")


def read_sync_cases(h: History, limit: int = 20) -> Cases:
    out = Cases("read_sync", limit, unit="users who read")
    readers: set[str] = set()
    for k in ("read", "read_ok", "read_sync", "receipt", "marks"):
        readers.update(map(_USER, h.kind(k)))  # in C: most of a journal's read events
    judged_here = owe_readers(h, out, readers)
    if seq_opaque(h):  # markers are labels: "went down" has no order to go by
        if judged_here:
            out.skip(*MARKERS_ARE_LABELS, judged_here)
    else:
        went_down(h, out)
        pushed_down(h, out)
    diverged(h, out)
    unheld(h, out)
    return out


def owe_readers(h: History, out: Cases, readers: set[str]) -> int:
    """Owe every user who read; skip those whose audit fetched no markers (``marks`` of
    phase audit). How many are judged here."""
    audited = {e["user"] for e in h.kind("marks") if e.get("phase") == "audit"}
    out.owe(len(readers))
    blind = sorted(readers - audited)
    if blind:
        out.skip("no read markers fetched in the audit", f"{blind[0]}: the audit has no "
                 "marks (reads_ok), so whether its devices agree is unknown", len(blind))
    return len(readers) - len(blind)


def _starts(h: History) -> dict[tuple[Any, Any, Any], float]:
    """When each device session began: its ``connected`` (the audit's: its audit start)."""
    found = {(e["user"], e["device"], e["session"]): e["at"] for e in h.kind("connected")}
    for user, per_user in h.devices.items():
        for device, log in per_user.items():
            if log.audit_start is not None:
                found[(user, device, 0)] = log.audit_start["at"]
    return found


def went_down(h: History, out: Cases) -> None:
    received: dict[tuple[str, str], list[Obs]] = {}  # (user, conv) -> values, in time order
    convs_of: dict[str, set[str]] = {}  # user -> conversations with a value received
    asked: list[tuple[float, str, str, int, Event, Event | None]] = []  # requests to judge
    pending: dict[tuple[Any, ...], deque[Event]] = {}
    starts = _starts(h)
    merged = sorted([*h.kind("read"), *h.kind("read_ok"), *h.kind("read_sync"),
                     *h.kind("marks")], key=lambda e: e["at"])
    for e in merged:
        k, user = e["ev"], e["user"]
        if k == "read":
            pending.setdefault((user, e["device"], e["session"], e["conv"]), deque()).append(e)
        elif k == "marks":
            marks = e["marks"] if isinstance(e["marks"], dict) else {}
            start = starts.get((user, e["device"], e["session"]))
            convs = convs_of.setdefault(user, set())
            for conv in sorted(convs | set(marks)):
                value = marks.get(conv, 0)
                if start is not None:
                    asked.append((start, user, conv, value, e, None))
                received.setdefault((user, conv), []).append((e["at"], value, e))
            convs.update(marks)
        else:
            conv = e["conv"]
            if k == "read_ok":
                queue = pending.get((user, e["device"], e["session"], conv))
                invoke = queue.popleft() if queue else None
                if invoke is not None:
                    asked.append((invoke["at"], user, conv, e["upto"], e, invoke))
            received.setdefault((user, conv), []).append((e["at"], e["upto"], e))
            convs_of.setdefault(user, set()).add(conv)
    floors = {key: _prefix_max(obs) for key, obs in received.items()}
    for start, user, conv, value, e, invoke in asked:
        ats, tops = floors.get((user, conv), ([], []))
        i = bisect_left(ats, start)  # values received strictly before the request was made
        if i == 0:
            continue
        top_value, top = tops[i - 1]
        if value < top_value and out.tally():
            out.keep(went_down_sentence(conv, user, top, top_value, e, start, value, h.rel),
                     [top, invoke, e])


def went_down_sentence(conv: str, user: str, top: Event, top_value: int, e: Event,
                       start: float, value: int, rel: Callable[[float], float]) -> str:
    """A request made at ``start`` got ``value``, below the ``top_value`` received before."""
    what = "read_ok" if e["ev"] == "read_ok" else "marks (reads_ok)"
    return (f"the read marker of {conv} went down for {user}: "
            f"{who(top['user'], top['device'])} had received {top_value} "
            f"({top['ev']} at {rel(top['at'])}s), then "
            f"{who(user, e['device'])} asked at {rel(start)}s and got {what} {value}")


def _prefix_max(obs: list[Obs]) -> tuple[list[float], list[tuple[int, Event]]]:
    ats: list[float] = []
    tops: list[tuple[int, Event]] = []
    best: tuple[int, Event] | None = None
    for at, value, e in obs:
        if isinstance(value, int) and (best is None or value > best[0]):
            best = (value, e)
        if best is not None:
            ats.append(at)
            tops.append(best)
    return ats, tops


def pushed_down(h: History, out: Cases) -> None:
    last: dict[tuple[Any, ...], Event] = {}
    pushes = sorted([*h.kind("read_sync"), *h.kind("receipt")], key=lambda e: e["at"])
    for e in pushes:
        key = (e["ev"], e["user"], e["device"], e["session"], e["conv"], e.get("reader"))
        prev = last.get(key)
        last[key] = e
        if prev is not None and e["upto"] < prev["upto"] and out.tally():
            out.keep(pushed_down_sentence(prev, e, h.rel), [prev, e])


def pushed_down_sentence(prev: Event, e: Event, rel: Callable[[float], float]) -> str:
    """Two pushes of one connection, the later one lower."""
    whose = f"{e['reader']}'s read receipts" if e["ev"] == "receipt" else "read_sync pushes"
    return (f"{who(e['user'], e['device'])}'s {whose} of {e['conv']} went down on one "
            f"connection (session {e['session']}): {prev['upto']} at "
            f"{rel(prev['at'])}s, then {e['upto']} at {rel(e['at'])}s")


def diverged(h: History, out: Cases) -> None:
    final: dict[str, dict[str, Event]] = {}  # user -> device -> its last audit marks
    for e in h.kind("marks"):
        if e.get("phase") == "audit" and isinstance(e.get("marks"), dict):
            final.setdefault(e["user"], {})[e["device"]] = e
    for user, per_device in sorted(final.items()):
        if len(per_device) < 2:
            continue
        convs = sorted({c for e in per_device.values() for c in e["marks"]})
        for conv in convs:
            values = {d: e["marks"].get(conv, 0) for d, e in sorted(per_device.items())}
            if len(set(values.values())) > 1 and out.tally():
                shown = ", ".join(f"{who(user, d)} {v}" for d, v in values.items())
                out.keep(f"after the audit the devices of {user} disagree on the read marker "
                         f"of {conv}: {shown}", list(per_device.values()))


def unheld(h: History, out: Cases) -> None:
    for e in h.kind("read"):
        upto = e["upto"]
        if not isinstance(upto, int) or upto <= 0:
            continue
        log = h.log(e["user"], e["device"])
        conv = e["conv"]
        named = h.by_seq.get(conv, {}).get(upto)
        copy = h.copy(e["user"], e["device"], named["mid"]) if named is not None else None
        if copy is not None and copy["at"] <= e["at"]:
            continue
        if log is not None and any(c["conv"] == conv and c["seq"] == upto and c["at"] <= e["at"]
                                   for c in log.held.values()):
            continue  # held under another mid (an order anomaly, reported there)
        if out.tally():
            out.keep(unheld_sentence(e, named, copy, h.rel), [e, named, copy])


def unheld_sentence(e: Event, named: Event | None, copy: Event | None,
                    rel: Callable[[float], float]) -> str:
    """A ``read`` up to a seq its device did not hold (``named``: the first event naming
    that seq; ``copy``: the device's copy, when it came later)."""
    return (f"{who(e['user'], e['device'])} marked {e['conv']} read up to seq {e['upto']} at "
            f"{rel(e['at'])}s without holding that message"
            + (f" (mid {named['mid']}" + (f", which reached it only at "
               f"{rel(copy['at'])}s)" if copy is not None else ")")
               if named is not None else " (no one ever saw that seq)"))
