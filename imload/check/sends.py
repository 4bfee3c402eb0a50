"""The logical sends sorted by outcome, in one pass over ``History.sends`` (memoised).

Several checks and figures look at the same subsets (refused but delivered,
indeterminate but delivered, delivered but never sent); ``send_tally`` walks
the records once and keeps those subsets and the outcome counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from imload.check.history import (
    ATTEMPTS,
    DELIV_EV,
    END_EV,
    FAIL,
    OK,
    OK_EV,
    OUTCOME,
    PENDING,
    SEND_EV,
    History,
)

Keyed = tuple[str, str, list[Any]]  # (sender user, cmid, record)


@dataclass(slots=True)
class SendTally:
    attempted: int = 0  # logical sends with at least one ``send`` event
    attempts: int = 0  # ``send`` events
    acked: int = 0
    failed: int = 0
    info: int = 0  # indeterminate: ``send_info`` or no outcome at all (``pending``)
    pending: int = 0
    refused_delivered: list[Keyed] = field(default_factory=list)  # fail, yet delivered
    unsure_delivered: list[Keyed] = field(default_factory=list)  # info/pending, delivered
    never_sent: list[Keyed] = field(default_factory=list)  # no client event, yet delivered


def send_tally(h: History) -> SendTally:
    found = h.memo.get("send_tally")
    if found is not None:
        tally: SendTally = found
        return tally
    t = SendTally()
    for user, per_user in h.sends.items():
        for cmid, rec in per_user.items():
            sent = rec[SEND_EV]
            if sent is not None:
                t.attempted += 1
                t.attempts += rec[ATTEMPTS]
            outcome = rec[OUTCOME]
            if outcome == OK:
                t.acked += 1
            elif outcome == FAIL:
                t.failed += 1
                if rec[DELIV_EV] is not None:
                    t.refused_delivered.append((user, cmid, rec))
            elif sent is not None:
                t.info += 1
                if outcome == PENDING:
                    t.pending += 1
                if rec[DELIV_EV] is not None:
                    t.unsure_delivered.append((user, cmid, rec))
            elif rec[DELIV_EV] is not None and rec[END_EV] is None and rec[OK_EV] is None:
                t.never_sent.append((user, cmid, rec))
    h.memo["send_tally"] = t
    return t
