"""Who is in a group when the target's seqs are opaque labels: the time rule.

With ``seq = "opaque"`` (``numbering``) no two seqs compare, so a group op cannot
be placed at its event's seq. It is placed by the load host's clock instead: its
window runs from its first ``op`` attempt to its first ``op_ok`` (to +inf when it
was applied without one: ``membership.applied``). A message whose send window is
[s, a] (its first ``send`` attempt to its ``send_ok``; for an indeterminate send,
to its earliest copy; for an event message, its earliest copy at both ends) is
owed to user U iff U's membership is certain all along the window: no op
affecting U (a ``group_create`` naming or made by U, a ``group_add`` or
``group_remove`` of U) has a window overlapping [s, a], and every op of U ending
before s that may have applied last (no other op of U surely after it: ended
before it began) made U a member. A user whose membership changed during the
window may get the message or not (both are linearizable): not expected, and not
"not judged" either. A group with no applied ``group_create`` in the journal has
unknown members, as under the seq rule; so does a message sent before its
creation began, or one whose send the journal lacks.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any

from imload.check.index import History, SendRecord
from imload.check.membership import Members, applied, group_ops, what
from imload.check.oplog import OpRecord

INF = float("inf")
Span = tuple[float, float]


@dataclass(slots=True)
class UserOps:
    """One user's applied ops on one group, sorted by the end of their windows."""

    ends: list[float]
    joins: list[bool]  # the op made the user a member (create, add) or not (remove)
    recs: list[OpRecord]
    first_max: list[float]  # [i]: the latest start among ops[:i + 1]
    rest_min: list[float]  # [i]: the earliest start among ops[i:] (+inf past the end)
    joined: list[int]  # [i]: how many of ops[:i] made the user a member

    @classmethod
    def of(cls, ops: list[tuple[float, float, bool, OpRecord]]) -> UserOps:
        """From (end, start, joins, op) windows."""
        ops.sort(key=lambda o: (o[0], o[1]))
        starts = [o[1] for o in ops]
        first_max: list[float] = []
        rest_min, joined = [INF] * (len(ops) + 1), [0]
        for start, o in zip(starts, ops, strict=True):
            first_max.append(max(start, first_max[-1]) if first_max else start)
            joined.append(joined[-1] + o[2])
        for i in range(len(ops) - 1, -1, -1):
            rest_min[i] = min(starts[i], rest_min[i + 1])
        return cls([o[0] for o in ops], [o[2] for o in ops], [o[3] for o in ops], first_max,
                    rest_min, joined)

    def owed(self, s: float, a: float) -> bool:
        """A member all along [s, a], surely."""
        k = bisect_left(self.ends, s)  # ops[:k] ended before s
        # never a member before, or a change overlaps
        return k > 0 and a < self.rest_min[k] and self._member_after(k)

    def _member_after(self, k: int) -> bool:
        """Every op of ``ops[:k]`` that may have applied last made the user a member."""
        j = bisect_left(self.ends, self.first_max[k - 1], 0, k)  # ops[j:k] may be the last
        return self.joined[k] - self.joined[j] == k - j

    def windows(self) -> list[tuple[float, float, float]]:
        """``owed`` as windows: (lo, hi, a_max), owed iff lo < s <= hi and a < a_max (one per
        run of ``s`` after the same ops, where those leave the user a member)."""
        ends = [-INF, *self.ends, INF]
        return [(ends[k], ends[k + 1], self.rest_min[k]) for k in range(1, len(self.ends) + 1)
                if ends[k] < ends[k + 1] and self._member_after(k)]

    def last(self) -> list[tuple[bool, OpRecord]]:
        """The ops that may have applied last of all, and whether each made a member."""
        j = bisect_left(self.ends, self.first_max[-1])
        return list(zip(self.joins[j:], self.recs[j:], strict=True))


@dataclass(slots=True)
class TimeMembers:
    """A group's applied ops per user they affect, placed by time (``unknown``: a reason)."""

    users: dict[str, UserOps] = field(default_factory=dict)
    created: float = INF  # when the earliest applied group_create began
    unknown: str | None = None
    example: str = ""

    def members(self, span: Span) -> Members | None:
        """The users surely in the group all along ``span`` (None: not known)."""
        s, a = span
        if self.unknown is not None or a < self.created:
            return None
        return frozenset(u for u, ops in self.users.items() if ops.owed(s, a))


def time_members(conv: str, h: History) -> TimeMembers:
    """The ops of group ``conv`` placed by time (memoised)."""
    return h.memo.keyed("time_members", conv, lambda: _build(conv, h))


def _build(conv: str, h: History) -> TimeMembers:
    t = TimeMembers()
    per_user: dict[str, list[tuple[float, float, bool, OpRecord]]] = {}
    for rec in group_ops(h).get(conv, ()):
        if rec.first is None or not applied(h, rec):
            continue
        kind, args = rec.first["kind"], rec.first.get("args") or {}
        start = rec.first["at"]
        end = rec.ok["at"] if rec.ok is not None else INF
        named: Any = args.get("members") if kind == "group_create" else [args.get("user")]
        if not isinstance(named, list) or not all(isinstance(u, str) for u in named):
            t.unknown = "members unknown"
            t.example = (f"{conv}: {rec.user}'s applied op {rec.opid} ({what(rec)}) names "
                         "users the checker cannot read")
            return t
        if kind == "group_create":
            t.created = min(t.created, start)
            named = {*named, rec.user}
        for user in named:
            per_user.setdefault(user, []).append((end, start, kind != "group_remove", rec))
    if t.created == INF:
        t.unknown = "members unknown"
        t.example = (f"{conv}: no client's group_create was applied in the journal (a group "
                     "older than the run), so its members are unknown")
        return t
    t.users = {user: UserOps.of(ops) for user, ops in per_user.items()}
    return t


def send_span(rec: SendRecord) -> Span | None:
    """An acked send's window: its first attempt to its first ack (None: not journaled)."""
    sent, ok = rec.send_ev, rec.ok_ev
    return None if sent is None or ok is None else (sent["at"], ok["at"])


def event_span(conv: str, seq: Any, h: History) -> Span | None:
    """An event message's window: its earliest copy, at both ends."""
    first = h.group_events.get(conv, {}).get(seq)
    return None if first is None else (first["at"], first["at"])


def final_ops(conv: str, h: History) -> dict[str, list[tuple[bool, OpRecord]]] | None:
    """Per user of group ``conv``, the applied ops that may have applied last of all (the
    audit's state must hold one's effect); None when the members are unknown."""
    t = time_members(conv, h)
    if t.unknown is not None:
        return None
    return {user: ops.last() for user, ops in t.users.items()}


def time_unknown(conv: str, h: History, span: Span | None) -> tuple[str, str]:
    """(reason, example) for a group message the time rule cannot judge."""
    t = time_members(conv, h)
    if t.unknown is not None:
        return t.unknown, t.example
    if span is None:
        return "send time unknown", (f"{conv}: a message whose first send attempt is not in "
                                     "the journal, so who was in the group then is unknown")
    return "members unknown", f"{conv}: the message was sent before the group's creation"
