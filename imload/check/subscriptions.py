"""Groups as subscriptions: who is owed a group message when the target declares
``group_membership = "subscription"`` (journal ``declare``; MQTT,
``Adapter.group_membership``).

On a broker a group is a topic, and a topic keeps no history: a device gets a group's
messages from the moment its subscription is acknowledged, never before. Each device
journals that moment (``joined {conv}``, the adapter's word to the engine). The rule:
a message of group ``conv`` sent in the window [s, a] is owed to a device of an
expected member (``recipients``: the clients' ops) only if that device had joined
``conv`` before s. A member's device that joined later, or never, is not owed it (and
may still get it: nothing forbids that). A subscription, once made, is the session's
for good: a session the broker loses while it is owed messages loses them, and that
is loss.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imload.check.index import History


def subscription_groups(h: History) -> bool:
    """The target declared its groups subscriptions (memoised)."""
    found = h.memo.get("groups_subscription")
    if found is None:
        found = h.memo.put("groups_subscription", any(
            e.get("group_membership") == "subscription" for e in h.kind("declare")))
    return bool(found)


def joined_at(h: History) -> dict[tuple[Any, Any, Any], float]:
    """(conv, user, device) -> when the device first joined the group (memoised)."""
    found = h.memo.get("joined_at")
    if found is None:
        found = {}
        for e in sorted(h.kind("joined"), key=lambda e: e["at"]):
            found.setdefault((e["conv"], e["user"], e["device"]), e["at"])
        h.memo.put("joined_at", found)
    done: dict[tuple[Any, Any, Any], float] = found
    return done


def subscribed(conv: str, recips: tuple[tuple[str, str], ...], sent_at: float,
               h: History) -> tuple[tuple[str, str], ...]:
    """Those of ``recips`` (user, device) that had joined ``conv`` before ``sent_at``."""
    joined = joined_at(h)
    inf = float("inf")
    return tuple(r for r in recips if joined.get((conv, r[0], r[1]), inf) < sent_at)
