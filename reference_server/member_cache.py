"""The ``stale-members`` bug mode's cache of each group's member list (groups.py uses it)."""

from __future__ import annotations

import time
from collections.abc import Callable

STALE_MEMBERS_S = 4.0  # stale-members: how long a node keeps a group's cached member list


class MemberCache:
    """The ``stale-members`` bug: a node's cached member list of each group, refreshed
    only when it is ``ttl_s`` old. A message goes to the members read just now *and* in
    the cached list: removals count at once, but a member who joined since the last
    refresh is left out of every message sent until the next one."""

    def __init__(self, ttl_s: float = STALE_MEMBERS_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._lists: dict[str, tuple[float, frozenset[str]]] = {}

    def fanout(self, conv: str, members: list[str]) -> list[str]:
        """Who gets a message of ``conv`` whose members are ``members`` (read just now)."""
        if not conv.startswith("g:"):
            return members
        now = self._clock()
        cached = self._lists.get(conv)
        if cached is None or now - cached[0] >= self.ttl_s:
            self._lists[conv] = (now, frozenset(members))
            return members
        return [m for m in members if m in cached[1]]
