"""The checker's entry point: a journal's events in, a verdict (a JSON-ready dict) out.

``check`` is pure: no I/O, no clock, no randomness. The verdict is the one
docs/checker.md describes ("The verdict")::

    {"valid": true | false | "unknown",   # false: a promised anomaly; unknown: nothing acked or
                                          # delivered, or a check could not judge everything
     "passed": bool,                      # valid is true and every SLO held
     "coverage": {kind: {...}},           # per check (and "journal"): see ``coverage``
     "unknown": [sentence, ...],          # why valid is unknown (empty when it is not)
     "counts": {...},                     # figures.count_figures
     "fractions": {...},                  # figures.fraction_figures
     "anomalies": {kind: int},            # only the kinds in CHECKS: absent = not checked
     "promises": [kind, ...],             # the kinds that are defects (check/promises.py)
     "examples": {kind: [case, ...]},     # up to max_examples per kind
     "latency_ms": {"ack", "e2e", "push", "away", "stable", "reconnect", "catchup",
                    "read_sync"},
     "cost": {"frames", "frames_per_message", "retry_ratio", "retries", "op_retry_ratio"},
     "info_reasons": {"send": {reason: n}, "op": {...}, "send_fail": {...}, "op_fail": {...}},
     "over_time": {"unseen": [{"t_s", "unseen"}, ...]},
     "faults": [{"fault", "kind", "target", "at_s", "until_s", "detail"}, ...],
     "phases": {phase: {"start_s", "end_s"}},
     "slo": [],                           # filled by imload.slo.apply_slos (the SLO lines)
     "journal": {"events": n, "bad_lines": [...], "bad_events": [...],
                 "timeline": {...}}}          # only when given: journal/timeline.py's summary

A case is ``{"explain": one sentence, "events": [trimmed journal events]}``.
Times in ``faults``, ``phases``, ``over_time`` and explanations are seconds
since the load phase started (else since the first event); events keep their
journal ``at``.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from imload.check.cases import Cases
from imload.check.coverage import coverage_entry, journal_entry, short, unknown_sentences
from imload.check.delivery import lost_cases, partial_cases
from imload.check.display import display_order_cases
from imload.check.figures import (
    cost_figures,
    count_figures,
    fraction_figures,
    info_reasons,
    unseen_over_time,
)
from imload.check.gaps import gap_cases
from imload.check.history import build_history
from imload.check.index import Event, History
from imload.check.integrity import (
    aborted_cases,
    corrupted_cases,
    duplicated_cases,
    phantom_cases,
    undecryptable_cases,
)
from imload.check.latency import latency_figures
from imload.check.membership import membership_cases
from imload.check.ops import op_cases
from imload.check.order import backwards_cases, order_cases
from imload.check.promises import promised
from imload.check.reads import read_sync_cases
from imload.check.screen import screen
from imload.check.session_order import causality_cases, fifo_cases

# Every anomaly the checker knows, in report order. A new check is one entry here.
CHECKS: dict[str, Callable[[History, int], Cases]] = {
    "lost": lost_cases,
    "partial": partial_cases,
    "duplicated": duplicated_cases,
    "phantom": phantom_cases,
    "aborted": aborted_cases,
    "corrupted": corrupted_cases,
    "undecryptable": undecryptable_cases,
    "order": order_cases,
    "gap": gap_cases,
    "backwards": backwards_cases,
    "fifo": fifo_cases,
    "causality": causality_cases,
    "read_sync": read_sync_cases,
    "op": op_cases,
    "display_order": display_order_cases,
    "membership": membership_cases,
}


def check(events: Sequence[Event], *, bad_lines: Iterable[str] = (),
          max_examples: int = 20, timeline: dict[str, Any] | None = None) -> dict[str, Any]:
    """Judge one run from its journal events (sorted by ``at``, as ``read_journal`` gives them).

    ``bad_lines`` (the reader's torn or unreadable lines) are passed through to
    ``verdict["journal"]``; they do not fail the verdict by themselves. Malformed
    events (a field missing or of the wrong type) are set aside and named in
    ``verdict["journal"]["bad_events"]``; the rest is judged (``screen``).
    ``timeline`` (how the files' clocks were put on one, ``imload.journal.timeline.align``)
    goes to ``verdict["journal"]["timeline"]`` as it is; without it the key is absent.

    The cyclic garbage collector is paused while it runs (the index is millions
    of acyclic containers; the collector would only walk them again and again).
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        try:
            return verdict_of(build_history(events), bad_lines=bad_lines,
                              max_examples=max_examples, timeline=timeline)
        except (KeyError, TypeError, AttributeError, ValueError, IndexError):
            pass  # an event broke the walk's trust in its fields: screen them all
        good, bad = screen(events)
        h = build_history(good)
        h.malformed = bad
        h.dropped = len(events) - len(good)
        return verdict_of(h, bad_lines=bad_lines, max_examples=max_examples,
                          timeline=timeline)
    finally:
        if paused:
            gc.enable()


def validity(anomalies: Mapping[str, int], coverage: Mapping[str, Mapping[str, Any]],
             counts: Mapping[str, Any],
             promises: Iterable[str] | None = None) -> tuple[bool | str, list[str]]:
    """``valid`` and its ``unknown`` sentences: False on an anomaly of a promised kind
    (``promises``; every kind when None), else "unknown" when the coverage of a promised
    check (or of the journal) is short or nothing was acked or delivered, else True."""
    kinds = set(anomalies if promises is None else promises)
    judged = {k: v for k, v in coverage.items() if k in kinds or k not in CHECKS}
    unknown = unknown_sentences(judged)
    if not counts.get("acked") and not counts.get("delivered"):
        unknown.insert(0, "nothing was acked and nothing delivered: the run proves nothing")
    broken = any(n for k, n in anomalies.items() if k in kinds)
    valid: bool | str = False if broken else "unknown" if unknown else True
    assert valid is not True or not any(map(short, judged.values()))
    return valid, unknown


def verdict_of(h: History, *, bad_lines: Iterable[str] = (), max_examples: int = 20,
               timeline: dict[str, Any] | None = None) -> dict[str, Any]:
    """The verdict of an already built history (see ``check``)."""
    counts = count_figures(h)
    promises = promised(h, CHECKS)
    found = {kind: run(h, max_examples) for kind, run in CHECKS.items()}
    anomalies = {kind: cases.count for kind, cases in found.items()}
    counts["unexpected"] = anomalies["phantom"]
    bad_lines = list(bad_lines)
    coverage = {kind: coverage_entry(cases) for kind, cases in found.items()}
    coverage["journal"] = journal_entry(h.events, bad_lines, h.malformed, h.dropped)
    valid, unknown = validity(anomalies, coverage, counts, promises)
    slo: list[dict[str, Any]] = []
    journal: dict[str, Any] = {"events": h.events, "bad_lines": bad_lines,
                               "bad_events": list(h.malformed)}
    if timeline is not None:
        journal["timeline"] = timeline
    return {
        "valid": valid,
        "promises": list(promises),
        "passed": valid is True and all(s.get("passed") for s in slo),
        "counts": counts,
        "fractions": fraction_figures(h, counts, anomalies),
        "anomalies": anomalies,
        "coverage": coverage,
        "unknown": unknown,
        "examples": {kind: cases.examples for kind, cases in found.items()},
        "latency_ms": latency_figures(h),
        "cost": cost_figures(h, counts),
        "info_reasons": info_reasons(h),
        "over_time": {"unseen": unseen_over_time(h)},
        "faults": h.faults,
        "phases": h.phases,
        "slo": slo,
        "journal": journal,
    }
