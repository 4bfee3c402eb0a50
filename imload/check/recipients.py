"""Who must receive a message: the expected devices of a conversation at a seq.

Direct conversations (``d:a:b``) are simple: every device of a and of b known
in the journal, the sender's own devices included (docs/protocol.md: the sender's
inbox gets its own message, so its other devices see it).

Groups (``g:...``) change members, and a message with seq s goes to the
members as of s (docs/protocol.md, "Ops"). The changes are the clients' own
group ops, each placed at the seq of the event message the server stored for it
(``membership`` says how, and why never the server's word for who is in):

- ``group_create {members}``: the members are these and the creator;
- ``group_add {user}``: the user joins; the event reaches the old members and
  the new one;
- ``group_remove {user}``: the user leaves; the event reaches the old members,
  the removed one included (so their devices learn it).

A text message at seq s goes to the members after the last change below s; a
change at seq s goes to the members before and after it. When the members
cannot be known (no client created the group in this run, an applied op could
not be placed), ``expected_devices`` answers None: callers count such messages
as not judged (coverage, with ``unknown_recipients`` saying why) rather than
guess.

When the target declares its seqs opaque (labels), the changes are placed by the
load host's clock instead, and a message (given its send window ``span``) is
owed to the users surely in the group all along it (``membership_time``). When it
declares its groups subscriptions (MQTT), only those users' devices that had joined
the group before the message was sent are owed it (``subscriptions``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from imload.check.membership import Members, Timeline, group_timeline, unknown_members
from imload.check.membership_time import Span, event_span, time_members, time_unknown
from imload.check.numbering import seq_opaque
from imload.check.subscriptions import subscribed, subscription_groups
from imload.protocol import NameError_, conv_members

if TYPE_CHECKING:
    from imload.check.index import History

Recipients = tuple[tuple[str, str], ...]
__all__ = ["Members", "Recipients", "Span", "Timeline", "conv_users", "direct_users",
           "expected_devices", "expected_users", "group_timeline", "unknown_recipients"]


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


def expected_users(conv: str, seq: int | None, history: History, is_event: bool = False, *,
                   span: Span | None = None) -> tuple[str, ...] | None:
    """The users who must get message ``seq`` of ``conv``; None when not known.

    ``span`` is the message's send window, which places it when the seqs are opaque (an
    event message's is its earliest copy, found from ``seq`` when not given)."""
    members = history.members.get(conv)
    if members is None:
        members = conv_users(conv)
    if members:
        return members
    if not isinstance(conv, str) or not conv.startswith("g:"):
        return None
    if seq_opaque(history):
        if span is None and is_event:
            span = event_span(conv, seq, history)
        timed = time_members(conv, history).members(span) if span is not None else None
        return tuple(sorted(timed)) if timed is not None else None
    if not isinstance(seq, int):
        return None
    found = group_timeline(conv, history).members_at(seq, is_event)
    return tuple(sorted(found)) if found is not None else None


def placed_by_time(history: History) -> bool:
    """Whether a group message's send window places it: its members by the time rule
    (opaque seqs) or its devices by when they joined (groups as subscriptions)."""
    return seq_opaque(history) or subscription_groups(history)


def expected_devices(conv: str, seq: int | None, history: History, is_event: bool = False,
                     *, span: Span | None = None,
                     devices: Mapping[str, Iterable[str]] | None = None) -> Recipients | None:
    """The (user, device) pairs that must end up holding message ``seq`` of ``conv``.

    None when the checker cannot tell (a group whose creation it never saw, a
    malformed conv): callers skip such messages rather than guess. Memoised per
    member set on ``history``. Under the time rule (opaque seqs) a message may be
    owed to nobody (every member's membership changed while it was sent): ().
    ``devices``: each user's devices, when not ``history``'s (the DuckDB checker's index
    knows them; not memoised then).
    """
    users = expected_users(conv, seq, history, is_event, span=span)
    if not users:
        return () if users is not None and seq_opaque(history) else None
    if devices is not None:
        found: Recipients = tuple((user, device) for user in users
                                  for device in devices.get(user, ()))
    else:
        memo: dict[tuple[str, ...], Recipients] = history.memo.table("recipients")
        if users not in memo:
            memo[users] = tuple((user, device) for user in users
                                for device in history.devices.get(user, {}))
        found = memo[users]
    if span is not None and conv[:2] == "g:" and subscription_groups(history):
        return subscribed(conv, found, span[0], history)
    return found


def unknown_recipients(conv: str, history: History, *,
                       span: Span | None = None) -> tuple[str, str]:
    """(reason, example) for a message whose recipients ``expected_devices`` cannot tell."""
    if isinstance(conv, str) and conv.startswith("g:") and seq_opaque(history):
        return time_unknown(conv, history, span)
    return unknown_members(conv, history)
