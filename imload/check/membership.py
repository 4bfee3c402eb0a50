"""Who is in a group, from what the clients did and the server acknowledged: the group
timelines every check reads, and the ``membership`` anomaly.

The checker never takes the server's word for what it must expect. A group's
members come from the clients' own ops (``oplog``): ``group_create`` with its
``members`` (plus the creator), ``group_add`` and ``group_remove`` with their
``user``. An op counts as applied when the server acked it (``op_ok``), or when
its outcome is unknown (``op_info``) but its membership event exists: an op of
unknown outcome whose event nobody ever received, not even in the audit, did not
happen. A refused op (``op_fail``) never applied. A role change (``group_role``) takes a
seq as an event too but changes no member: it is none of these ops (``GROUP_OPS``), and
its event is owed to the members of its seq like any message of the group.

**The rule that places an op in the group's order**: the server sequences a
membership change like a message; the event message it stored for op ``o`` of
user ``u`` is the one from ``u`` with cmid ``op:<o>`` (docs/protocol.md), and its
seq is the op's place. The server decides the order; what changed is the
client's. A group whose creation no client made (older than the run), or with
an applied op whose event nobody received (it cannot be placed), has members
the checker cannot know: ``Timeline.unknown`` says why, and every check that
needs them counts the messages as not judged (coverage) instead of guessing.
When the target declares its seqs opaque, no seq places anything: the ops are
placed by the load host's clock instead (``membership_time``, the time rule).

The server's event wording (the ``event`` body each device recorded) is a second
witness. ``membership`` compares it with the op it stands for: another kind,
another user, another member list is an anomaly with both in evidence. A body
the checker cannot read (a string, missing fields) is not judged, and counted.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from typing import Any

from imload.check.cases import Cases
from imload.check.index import Event, History
from imload.check.oplog import OpRecord, op_records
from imload.protocol.frames import GROUP_OPS

Members = frozenset[str]


class Timeline:
    """A group's membership changes in seq order: members before and after each one.

    ``unknown`` (a reason) and ``example`` are set when the members cannot be known."""

    __slots__ = ("after", "before", "events", "example", "ops", "seqs", "unknown")

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.before: list[Members | None] = []
        self.after: list[Members | None] = []
        self.events: list[Event] = []  # the event message that placed each change
        self.ops: list[OpRecord] = []  # the client op of each change
        self.unknown: str | None = None
        self.example = ""

    def members_at(self, seq: int, is_event: bool = False) -> Members | None:
        """The users who must get message ``seq`` (None: not known)."""
        if self.unknown is not None:
            return None
        i = bisect_right(self.seqs, seq) - 1
        if i < 0:
            return None
        if self.seqs[i] == seq and is_event:
            before, after = self.before[i], self.after[i]
            if after is None:
                return None
            return after | before if before is not None else after
        return self.after[i]

    def is_member(self, user: str, seq: int) -> bool | None:
        found = self.members_at(seq)
        return None if found is None else user in found

    def member_spans(self, user: str) -> list[tuple[int, int | None]]:
        """The seq ranges [from, to) in which ``user`` was owed the group's messages (to None:
        still a member at the end). A removal's own event is owed to the removed user."""
        spans: list[tuple[int, int | None]] = []
        start: int | None = None
        for seq, before, after in zip(self.seqs, self.before, self.after, strict=True):
            was = before is not None and user in before
            now = after is not None and user in after
            if now and not was and start is None:
                start = seq
            elif was and not now and start is not None:
                spans.append((start, seq + 1))
                start = None
        if start is not None:
            spans.append((start, None))
        return spans


def group_ops(h: History) -> dict[str, list[OpRecord]]:
    """The group ops the clients invoked, per group (memoised)."""
    found = h.memo.get("group_ops")
    if found is not None:
        done: dict[str, list[OpRecord]] = found
        return done
    per_conv: dict[str, list[OpRecord]] = {}
    for rec in op_records(h).values():
        first = rec.first
        if first is None or first["kind"] not in GROUP_OPS:
            continue
        conv = (first.get("args") or {}).get("conv")
        if isinstance(conv, str):
            per_conv.setdefault(conv, []).append(rec)
    return h.memo.put("group_ops", per_conv)


def event_of(h: History, rec: OpRecord) -> Event | None:
    """The first copy of the event message the server stored for this op, if any arrived."""
    mids = h.event_mids.get((rec.user, f"op:{rec.opid}"))
    return next(iter(mids.values())) if mids else None


def applied(h: History, rec: OpRecord) -> bool:
    """Acked, or of unknown outcome with its event stored."""
    outcome = rec.outcome
    return outcome == "ok" or (outcome == "info" and event_of(h, rec) is not None)


def what(rec: OpRecord) -> str:
    """``group_add user=u3`` (the op as the client sent it)."""
    if rec.first is None:
        return "never invoked"
    args = rec.first.get("args") or {}
    shown = " ".join(f"{k}={v}" for k, v in sorted(args.items()) if k != "conv")
    return f"{rec.first['kind']} {shown}".strip()


def group_timeline(conv: str, h: History) -> Timeline:
    """The membership timeline of group ``conv`` from the clients' ops (memoised)."""
    return h.memo.keyed("timelines", conv, lambda: _build(conv, h))


def _build(conv: str, h: History) -> Timeline:
    t = Timeline()
    placed: list[tuple[int, float, OpRecord, Event]] = []
    for rec in group_ops(h).get(conv, ()):
        if not applied(h, rec):
            continue
        e = event_of(h, rec)
        if e is None:
            if t.unknown is None:
                t.unknown = "membership op not placed"
                t.example = (f"{conv}: {rec.user}'s acked op {rec.opid} ({what(rec)}) has no "
                             "event message, so its place in the group's order is unknown")
            continue
        placed.append((e["seq"], e["at"], rec, e))
    placed.sort(key=lambda p: (p[0], p[1]))
    current: Members | None = None
    for seq, _, rec, e in placed:
        assert rec.first is not None
        kind, args = rec.first["kind"], rec.first.get("args") or {}
        before = current
        if kind == "group_create":
            members = args.get("members")
            current = (frozenset(members) | {rec.user} if isinstance(members, list) and all(
                isinstance(m, str) for m in members) else None)
        elif current is not None:
            user = args.get("user")
            if not isinstance(user, str):
                current = None
            else:
                current = current | {user} if kind == "group_add" else current - {user}
        t.seqs.append(seq)
        t.before.append(before)
        t.after.append(current)
        t.events.append(e)
        t.ops.append(rec)
    if t.unknown is None and not any(r.first is not None and r.first["kind"] == "group_create"
                                     for r in t.ops):
        t.unknown = "members unknown"
        t.example = (f"{conv}: no client's group_create was applied in the journal (a group "
                     "older than the run), so its members are unknown")
    return t


def unknown_members(conv: str, h: History) -> tuple[str, str]:
    """(reason, example) for a conversation whose recipients the checker cannot tell."""
    if isinstance(conv, str) and conv.startswith("g:"):
        t = group_timeline(conv, h)
        if t.unknown is not None:
            return t.unknown, t.example
        return "members unknown", f"{conv}: the message precedes the group's creation"
    return "conversation not understood", f"{conv!r} is neither d:<a>:<b> nor g:<name>"


def change_of(e: Mapping[str, Any]) -> tuple[str, Any] | None:
    """(op, user or member set) the server's event body says; None when it does not say."""
    body = e.get("event")
    if not isinstance(body, Mapping):
        return None
    op = body.get("op")
    if op == "group_create":
        members = body.get("members")
        if isinstance(members, list) and all(isinstance(m, str) for m in members):
            return op, frozenset(members)
        return None
    if op in ("group_add", "group_remove") and isinstance(body.get("user"), str):
        return op, body["user"]
    return None


def membership_cases(h: History, limit: int = 20) -> Cases:
    """Applied group ops whose server event says something else."""
    out = Cases("membership", limit, unit="applied group ops")
    for conv in sorted(group_ops(h)):
        for rec in group_ops(h)[conv]:
            if not applied(h, rec) or rec.first is None:
                continue
            out.owe()
            e = event_of(h, rec)
            if e is None:
                out.skip("no event message", f"{conv}: {rec.user}'s op {rec.opid} "
                         f"({what(rec)}) was applied but nobody received its event")
                continue
            said = change_of(e)
            if said is None:
                body = e.get("event", e.get("event_text"))
                out.skip("event body not understood",
                         f"{conv} seq {e['seq']}: the event of {rec.user}'s {what(rec)} "
                         f"reads {body!r:.80}")
                continue
            expected = _expected_change(rec)
            if said != expected and out.tally():
                out.keep(f"{rec.user}'s op {rec.opid} ({what(rec)}) on {conv} was applied and "
                         f"sequenced at seq {e['seq']}, but the server's event says "
                         f"{_said(said)}", [rec.first, rec.ok, e])
    return out


def _expected_change(rec: OpRecord) -> tuple[str, Any]:
    assert rec.first is not None
    kind, args = rec.first["kind"], rec.first.get("args") or {}
    if kind == "group_create":
        members = args.get("members")
        return kind, frozenset(members if isinstance(members, list) else ()) | {rec.user}
    return kind, args.get("user")


def _said(change: tuple[str, Any]) -> str:
    op, who = change
    if isinstance(who, frozenset):
        return f"{op} with members {', '.join(sorted(who))}"
    return f"{op} of {who}"
