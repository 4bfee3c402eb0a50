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
        "action", "inbox_seq", "acked", "kind", "event", "event_text", "args", "seen_seq", "upto",
        "reader", "marks", "contacts", "pinned", "groups", "target", "fault", "undecryptable")


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
    """The cases of one anomaly kind: all of them counted, the first ``limit`` kept.

    Also the check's coverage (``coverage``): ``due`` items of its ``unit`` it had to
    judge, and per reason the ones it could not (``skip``), with the first as an
    example. A check sets ``due`` (or adds to it with ``owe``) for everything it is
    responsible for, judged or not; ``applicable`` False says the check does not apply
    to this run at all (e.g. gaps where the target declared its seqs non-contiguous),
    with the reason in ``note``."""

    __slots__ = ("applicable", "count", "due", "examples", "kind", "limit", "note", "reasons",
                 "unit")

    def __init__(self, kind: str, limit: int = 20, unit: str = "items") -> None:
        self.kind = kind
        self.limit = limit
        self.count = 0
        self.examples: list[Case] = []
        self.unit = unit
        self.due = 0
        self.reasons: dict[str, list[Any]] = {}  # reason -> [count, first example]
        self.applicable = True
        self.note = ""

    def owe(self, n: int = 1) -> None:
        """``n`` more items this check must judge."""
        self.due += n

    def skip(self, reason: str, example: str, n: int = 1) -> None:
        """``n`` of the due items could not be judged, for ``reason`` (the first example is
        kept: one short sentence naming the item)."""
        found = self.reasons.get(reason)
        if found is None:
            self.reasons[reason] = [n, example]
        else:
            found[0] += n

    def not_applicable(self, note: str) -> None:
        """This check does not apply to this run (nothing is due); ``note`` says why."""
        self.applicable = False
        self.note = note
        self.due = 0
        self.reasons.clear()

    @property
    def unjudged(self) -> int:
        return min(self.due, sum(n for n, _ in self.reasons.values()))

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
