"""What bounds a group's fan-out: the size limit and the budget of inbox writes per sender,
so a group cannot amplify one user's traffic without bound (``GroupRules``, used by
groups.py for the ops and by the session for group messages).

A message to a group of n members is n inbox writes (and n pushes); a membership change
too (its event reaches every member). Each user has one token bucket of inbox writes in
the store (``u:<user>:fanout``), shared by every device, connection and node, so neither
a reconnect nor another node refills it: ``--fanout-rate`` writes per second,
``--fanout-burst`` deep. A group ``send`` or group op costs its recipients (a group
larger than the bucket costs the whole bucket); over the budget it is answered
``rate_limited`` with ``retry_after_ms`` and nothing is stored. Direct messages cost
nothing here (two writes each: the per-connection send bucket bounds them).

The bucket is one of the store's scripts (``scripts.FANOUT_LUA``, on the request guard's
bucket functions), on the store's clock (``TIME``), so nodes whose clocks disagree
(``--clock-skew-ms``) share one budget; like the request buckets it is soft state, kept out
of the append-only file. The ``no-fanout-limit`` bug mode skips it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reference_server.config import Config
    from reference_server.store import Store


class Fanout:
    """A node's fan-out rule: ``rate`` inbox writes per second per user, ``burst`` deep;
    ``off`` for the bug mode no-fanout-limit."""

    def __init__(self, rate: float, burst: int, off: bool = False) -> None:
        self.rate, self.burst, self.off = rate, burst, off

    def refusal(self, writes: int) -> str:
        """Why a request of ``writes`` inbox writes was refused (the error's text)."""
        return (f"over the fan-out budget of {self.rate:g} inbox writes/s per user "
                f"(burst {self.burst}; this one: {writes} members)")

    async def charge(self, store: Store, user: str, writes: int) -> int:
        """Take ``writes`` from ``user``'s bucket: 0 when taken, else the ms to wait
        (nothing taken). StoreError when the store fails."""
        if self.off or writes <= 0:
            return 0
        return await store.charge_fanout(user, self.rate, self.burst, writes)


@dataclass(frozen=True)
class GroupRules:
    """A node's group rules: the size limit, the fan-out budget, and ``open`` for the bug
    mode open-groups (no consent, owner or size rule)."""

    max_size: int
    fanout: Fanout
    open: bool = False

    @classmethod
    def of(cls, config: Config) -> GroupRules:
        bugs = config.bugs
        return cls(config.max_group_size,
                   Fanout(config.fanout_rate, config.fanout_burst,
                          off=bugs.has("no-fanout-limit")),
                   open=bugs.has("open-groups"))

    def too_big(self, kind: str, conv: str, members: list[str], recipients: list[str]
                ) -> str | None:
        """Why the op would make the group larger than allowed (None: it does not)."""
        after = len(recipients)
        if self.open or kind not in ("group_create", "group_add") or after <= self.max_size \
                or after == len(members):  # adding a member already there
            return None
        return (f"{conv} would have {after} members, over the limit of {self.max_size} "
                "(--max-group-size)")
