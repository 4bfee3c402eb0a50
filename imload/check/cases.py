"""Cases: the evidence of an anomaly, one sentence plus the few events that prove it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Case = dict[str, Any]  # {"explain": str, "events": [trimmed event, ...]}

MAX_CASE_EVENTS = 6  # per case; a cycle keeps two per edge, up to CYCLE_EVENTS
CYCLE_EVENTS = 12

# The fields a person needs to follow an event back into the journal, in print order.
KEEP = ("ev", "at", "user", "device", "session", "node", "cmid", "opid", "conv", "mid", "seq",
        "useq", "from", "from_device", "digest", "via", "phase", "attempt", "dup", "reason",
        "action", "inbox_seq", "acked", "kind", "event", "args", "seen_seq", "upto", "reader",
        "marks", "contacts", "pinned", "groups", "target", "fault")


def trim(e: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a journal event with only the fields worth showing."""
    return {k: e[k] for k in KEEP if k in e}


def make_case(explain: str, events: Iterable[Mapping[str, Any] | None],
              most: int = MAX_CASE_EVENTS) -> Case:
    """A case from a sentence and its events (None entries are skipped, repeats kept once)."""
    kept: list[dict[str, Any]] = []
    seen: set[int] = set()
    for e in events:
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        kept.append(trim(e))
        if len(kept) == most:
            break
    return {"explain": explain, "events": kept}


class Cases:
    """The cases of one anomaly kind: all of them counted, the first ``limit`` kept."""

    __slots__ = ("count", "examples", "kind", "limit")

    def __init__(self, kind: str, limit: int = 20) -> None:
        self.kind = kind
        self.limit = limit
        self.count = 0
        self.examples: list[Case] = []

    def tally(self) -> bool:
        """Count one case; True when its example should be built and kept (see ``keep``)."""
        self.count += 1
        return len(self.examples) < self.limit

    def keep(self, explain: str, events: Iterable[Mapping[str, Any] | None],
             most: int = MAX_CASE_EVENTS) -> None:
        self.examples.append(make_case(explain, events, most))

    def add(self, explain: str, events: Iterable[Mapping[str, Any] | None],
            most: int = MAX_CASE_EVENTS) -> None:
        """Count one case and keep it if there is room (when building it is cheap)."""
        if self.tally():
            self.keep(explain, events, most)

    def __repr__(self) -> str:
        return f"Cases({self.kind!r}, count={self.count})"


def who(user: Any, device: Any) -> str:
    return f"{user}/{device}"


def sender_of(e: Mapping[str, Any]) -> str:
    """The sending user an event speaks of: ``from`` on a delivery, ``user`` on the sender's own."""
    return str(e["from"] if e.get("ev") == "deliver" else e["user"])
