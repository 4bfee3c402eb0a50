"""What a device holds of its user's inbox: the useq cursor, dedup by mid, groups.

Pure bookkeeping, no I/O. ``held_upto`` is the highest useq such that every
useq from 1 to it is held (what the device may ``ack``); useqs held above a
hole wait in ``_above`` until the hole is filled. Each mid is shown once
(``display.py``) whatever duplicates the wire brought (the journal still
records every delivery; the checker counts them).

Group membership is learnt from ``event`` messages (``group_create`` naming
this user among ``members``, ``group_add``/``group_remove`` naming this user),
applied in seq order per group so a late sync of an older event changes nothing.
An event whose body is not the documented object (a backend that words it as text)
still says the user is in that group (the server sends a group's events to its
members): the group counts as joined until a readable event says otherwise.
"""

from __future__ import annotations

from typing import Any

from imload.client.display import Display

# fields a msg (push or sync entry) must have, with their types
_MSG_FIELDS: tuple[tuple[str, type], ...] = (("mid", str), ("conv", str), ("seq", int),
                                             ("useq", int))


def is_valid_msg(m: object) -> bool:
    """True when ``m`` is a dict with the fields the engine and the journal need."""
    if type(m) is dict:  # the usual case (decoded JSON): exact types, checked fast
        if (type(m.get("mid")) is str and type(m.get("conv")) is str
                and type(m.get("seq")) is int and type(m.get("useq")) is int):
            return True
    elif not isinstance(m, dict):
        return False
    for name, typ in _MSG_FIELDS:
        v = m.get(name)
        if not isinstance(v, typ) or isinstance(v, bool):
            return False
    return True


class Inbox:
    """The device's copy of the inbox; ``add`` returns what changed."""

    def __init__(self, user: str, display: Display | None = None) -> None:
        self.user = user
        self.display = display or Display()
        self.held_upto = 0
        self.inbox_seq = 0
        self._above: set[int] = set()
        self._mids: set[str] = set()
        self.duplicates = 0
        self.groups: dict[str, bool] = {}     # group -> member now (False: left or removed)
        self._group_seq: dict[str, int] = {}  # seq of the membership event applied last

    def trust_cursor(self, acked: int) -> None:
        """Treat useq 1..acked as held (the server's stored cursor for this device)."""
        if acked > self.held_upto:
            self.held_upto = acked
            self._above = {u for u in self._above if u > acked}
            self._advance()
        self.see_inbox_seq(acked)

    def see_inbox_seq(self, useq: int) -> None:
        self.inbox_seq = max(self.inbox_seq, useq)

    def add(self, m: dict[str, Any]) -> bool:
        """Hold a valid msg; True if it was new (by useq), False for a duplicate."""
        useq: int = m["useq"]
        if useq > self.inbox_seq:  # see_inbox_seq, inline
            self.inbox_seq = useq
        is_new = useq > self.held_upto and useq not in self._above
        if is_new:
            if useq == self.held_upto + 1:
                self.held_upto = useq
                self._advance()
            else:
                self._above.add(useq)
        else:
            self.duplicates += 1
        mid = m["mid"]
        if mid not in self._mids:
            self._mids.add(mid)
            self.display.add(m)
            if m.get("kind") == "event":
                self._membership(m)
        return is_new

    def _membership(self, m: dict[str, Any]) -> None:
        body = m.get("body")
        conv, seq = m["conv"], m["seq"]
        if not isinstance(body, dict):
            self.groups.setdefault(conv, True)  # unreadable, but it reached this user
            return
        if seq <= self._group_seq.get(conv, 0):
            return
        op = body.get("op")
        members = body.get("members")
        if op == "group_create" and isinstance(members, list) and self.user in members:
            member = True
        elif op in ("group_add", "group_remove") and body.get("user") == self.user:
            member = op == "group_add"
        else:
            return
        self._group_seq[conv] = seq
        self.groups[conv] = member

    def in_group(self, conv: str) -> bool | None:
        """True: a member; False: was one and left or was removed; None: never seen in it."""
        return self.groups.get(conv)

    def _advance(self) -> None:
        while self.held_upto + 1 in self._above:
            self.held_upto += 1
            self._above.discard(self.held_upto)

    def has_gap(self) -> bool:
        """True when some useq above ``held_upto + 1`` is held but a lower one is not."""
        return bool(self._above)

    def messages(self, conv: str) -> list[dict[str, Any]]:
        """The conversation as displayed: each mid once, in the display policy's order."""
        return self.display.messages(conv)

    def convs(self) -> list[str]:
        return self.display.convs()
