"""Who must receive a message: the expected devices of a conversation at a seq.

Direct conversations (``d:a:b``) are simple: every device of a and of b known
in the journal, the sender's own devices included (PROTOCOL.md: the sender's
inbox gets its own message, so its other devices see it).

Groups (``g:...``) change members, and a message with seq s goes to the
members as of s (PROTOCOL.md, "Op kinds"). A change is itself a message of
the group, of kind ``event``, whose ``event`` field (recorded on the
delivery) says what changed; ``group_timeline`` replays them in seq order:

- ``group_create {members}``: the members are exactly these;
- ``group_add {user}``: the user joins; the event reaches the old members and
  the new one;
- ``group_remove {user}``: the user leaves; the event reaches the old members,
  the removed one included (so their devices learn it).

A text message at seq s goes to the members after the last change below s; a
change at seq s goes to the members before and after it. Before the group's
``group_create`` is known (it was never delivered to anyone, or the group is
older than the run), the members are unknown and ``expected_devices``
answers None: callers skip such messages rather than guess.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from imload.protocol import NameError_, conv_members

if TYPE_CHECKING:
    from imload.check.history import History

Recipients = tuple[tuple[str, str], ...]
Members = frozenset[str]


def conv_users(conv: str) -> tuple[str, ...] | None:
    """The users of a direct conversation; None for groups and bad names."""
    if isinstance(conv, str):
        parts = conv.split(":")
        if len(parts) == 3 and parts[0] == "d" and "" < parts[1] < parts[2]:
            return parts[1], parts[2]  # the common case, without the full name check
    try:
        return conv_members(conv)
    except (NameError_, TypeError):
        return None


def direct_users(convs: dict[str, tuple[str, ...]], conv: str) -> tuple[str, ...]:
    """``conv_users`` memoised in ``convs`` (() for groups and bad names)."""
    found = convs.get(conv)
    if found is None:
        found = convs[conv] = conv_users(conv) or ()
    return found


class Timeline:
    """A group's membership changes in seq order: members before and after each one."""

    __slots__ = ("after", "before", "events", "seqs")

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.before: list[Members | None] = []
        self.after: list[Members | None] = []
        self.events: list[Mapping[str, Any]] = []

    def members_at(self, seq: int, is_event: bool = False) -> Members | None:
        """The users who must get message ``seq`` (None: not known)."""
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


def change_of(e: Mapping[str, Any]) -> tuple[str, Any] | None:
    """(op, user or members) of an event delivery; None when it does not say."""
    body = e.get("event")
    if not isinstance(body, Mapping):
        return None
    op = body.get("op")
    if op == "group_create":
        members = body.get("members")
        return (op, members) if isinstance(members, list) else None
    if op in ("group_add", "group_remove") and isinstance(body.get("user"), str):
        return op, body["user"]
    return None


def group_timeline(conv: str, history: History) -> Timeline:
    """The membership timeline of group ``conv`` from its event deliveries (memoised)."""
    memo: dict[str, Timeline] = history.memo.setdefault("timelines", {})
    found = memo.get(conv)
    if found is not None:
        return found
    t = Timeline()
    current: Members | None = None
    for seq, e in sorted(history.group_events.get(conv, {}).items()):
        change = change_of(e)
        before = current
        if change is None:
            current = None
        elif change[0] == "group_create":
            current = frozenset(str(u) for u in change[1])
        elif current is not None:
            current = (current | {change[1]} if change[0] == "group_add"
                       else current - {change[1]})
        t.seqs.append(seq)
        t.before.append(before)
        t.after.append(current)
        t.events.append(e)
    memo[conv] = t
    return t


def expected_users(conv: str, seq: int | None, history: History,
                   is_event: bool = False) -> tuple[str, ...] | None:
    """The users who must get message ``seq`` of ``conv``; None when not known."""
    members = history.members.get(conv)
    if members is None:
        members = conv_users(conv)
    if members:
        return members
    if not isinstance(conv, str) or not conv.startswith("g:") or not isinstance(seq, int):
        return None
    found = group_timeline(conv, history).members_at(seq, is_event)
    return tuple(sorted(found)) if found is not None else None


def expected_devices(conv: str, seq: int | None, history: History,
                     is_event: bool = False) -> Recipients | None:
    """The (user, device) pairs that must end up holding message ``seq`` of ``conv``.

    None when the checker cannot tell (a group whose creation it never saw, a
    malformed conv): callers skip such messages rather than guess. Memoised per
    member set on ``history``.
    """
    users = expected_users(conv, seq, history, is_event)
    if not users:
        return None
    memo: dict[tuple[str, ...], Recipients] = history.memo.setdefault("recipients", {})
    found = memo.get(users)
    if found is None:
        found = memo[users] = tuple((user, device) for user in users
                                    for device in history.devices.get(user, {}))
    return found
