"""Set malformed events aside, so a damaged journal is judged on the rest, never a crash.

The walk in ``history`` trusts each event's fields (that is what makes it fast). When a
journal breaks that trust (a field missing or of the wrong type, from a hand-edited file
or another writer), ``check`` screens every event against the journal schema
(``imload.journal.events``), judges the well-formed ones, and names each one set aside
in ``verdict["journal"]["bad_events"]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from imload.journal.events import event_problem

MAX_NAMED = 100  # descriptions kept; the last one says how many more there were


def screen(events: Sequence[Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """(the well-formed events in their order, a description of each one set aside)."""
    good: list[dict[str, Any]] = []
    bad: list[str] = []
    dropped = 0
    for n, e in enumerate(events, 1):
        problem = event_problem(e)
        if problem is None:
            good.append(e)
            continue
        dropped += 1
        if len(bad) < MAX_NAMED:
            what = e.get("ev") if isinstance(e, dict) else type(e).__name__
            at = e.get("at") if isinstance(e, dict) else None
            bad.append(f"event #{n} ({what!r} at {at}): {problem}")
    if dropped > len(bad):
        bad[-1] = f"... and {dropped - len(bad) + 1} more malformed events"
    return good, bad
