"""Coverage: how much of what each check had to judge it judged, and why not the rest.

A verdict never passes what it did not check (Jepsen's ``valid?: unknown``). Every
check counts the items it is responsible for (``Cases.due``: acked messages for
``lost``, devices for ``gap``, acked group ops for ``membership``, ...) and the ones
it could not judge, by reason, with a first example (``Cases.skip``). This module
turns that into the verdict's ``coverage`` table and the ``unknown`` sentences::

    "coverage": {"lost": {"unit": "acked messages", "due": 2316, "judged": 0,
                          "unjudged": 2316, "percent": 0.0,
                          "reasons": [{"reason": "members unknown", "count": 2316,
                                       "example": "g:ab12: ..."}]}, ...}
    "unknown": ["lost: could not check 2,316 of 2,316 acked messages: members unknown
                 (2,316); e.g. g:ab12: ..."]

``percent`` is None when nothing was due. A check that does not apply to the run
(``Cases.not_applicable``) has ``applicable: false`` and a ``note``, and is never
short. The journal itself has a line: events the checker had to set aside
(malformed, unreadable) are events it did not judge.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from imload.check.cases import Cases


def coverage_entry(cases: Cases) -> dict[str, Any]:
    """One check's line of the coverage table."""
    unjudged = cases.unjudged
    judged = cases.due - unjudged
    entry: dict[str, Any] = {
        "unit": cases.unit, "due": cases.due, "judged": judged, "unjudged": unjudged,
        "percent": percent(judged, cases.due),
        "reasons": [{"reason": reason, "count": n, "example": example}
                    for reason, (n, example) in sorted(cases.reasons.items(),
                                                       key=lambda kv: (-kv[1][0], kv[0]))],
    }
    if not cases.applicable:
        entry["applicable"] = False
        entry["note"] = cases.note
    return entry


def journal_entry(events: int, bad_lines: list[str], bad_events: list[str],
                  dropped_events: int) -> dict[str, Any]:
    """The journal's line: every line read is due; torn lines and malformed events were not
    judged (what they carried is missing from every other check)."""
    cases = Cases("journal", unit="journal lines")
    cases.owe(events + len(bad_lines) + dropped_events)
    if bad_lines:
        cases.skip("unreadable line", bad_lines[0], len(bad_lines))
    if dropped_events:
        cases.skip("malformed event", bad_events[0] if bad_events else "", dropped_events)
    return coverage_entry(cases)


def percent(judged: int, due: int) -> float | None:
    return round(100.0 * judged / due, 2) if due else None


def short(entry: Mapping[str, Any]) -> bool:
    """Did this check leave something it had to judge unjudged?"""
    return bool(entry.get("unjudged"))


def unknown_sentences(coverage: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One sentence per check whose coverage is short, in report order."""
    return [sentence(kind, entry) for kind, entry in coverage.items() if short(entry)]


def sentence(kind: str, entry: Mapping[str, Any]) -> str:
    """``lost: could not check 2,316 of 2,316 acked messages: members unknown (2,316);
    e.g. g:x: ...``"""
    reasons: Iterable[Mapping[str, Any]] = entry.get("reasons") or []
    listed = "; ".join(f"{r['reason']} ({r['count']:,})" for r in reasons)
    first = next(iter(entry.get("reasons") or []), None)
    example = f"; e.g. {first['example']}" if first and first.get("example") else ""
    return (f"{kind}: could not check {entry['unjudged']:,} of {entry['due']:,} "
            f"{entry['unit']}: {listed}{example}")
