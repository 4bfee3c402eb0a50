"""The logical sends sorted by outcome, in one pass over ``History.sends`` (memoised).

Several checks and figures look at the same subsets (refused but delivered,
indeterminate but delivered, delivered but never sent); ``send_tally`` walks
the records once and keeps those subsets and the outcome counts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import chain, compress, repeat
from operator import attrgetter, is_not, ne, not_, or_

from imload.check.index import FAIL, INFO, OK, PENDING, History, SendRecord

_OUTCOME = attrgetter("outcome")
_SEND_EV = attrgetter("send_ev")
_ATTEMPTS = attrgetter("attempts")

Keyed = tuple[str, str, SendRecord]  # (sender user, cmid, record)


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
    records = list(chain.from_iterable(map(dict.values, h.sends.values())))
    outcomes = list(map(_OUTCOME, records))
    sent = list(map(is_not, map(_SEND_EV, records), repeat(None)))
    t.attempted = sum(sent)
    t.attempts = sum(map(_ATTEMPTS, records))
    by_outcome = Counter(outcomes)
    t.acked, t.failed = by_outcome[OK], by_outcome[FAIL]
    unsure = Counter(compress(outcomes, sent))  # info counts only sends a client made
    t.info, t.pending = unsure[INFO] + unsure[PENDING], unsure[PENDING]
    # the few that need a closer look: refused, indeterminate, or never sent
    odd = map(or_, map(not_, sent), map(ne, outcomes, repeat(OK)))
    for rec in compress(records, odd):
        outcome = rec.outcome
        if outcome == OK:
            continue
        key = _sender_cmid(rec)
        if outcome == FAIL:
            if rec.deliv_ev is not None:
                t.refused_delivered.append((*key, rec))
        elif rec.send_ev is not None:
            if rec.deliv_ev is not None:
                t.unsure_delivered.append((*key, rec))
        elif rec.deliv_ev is not None and rec.end_ev is None and rec.ok_ev is None:
            t.never_sent.append((*key, rec))
    return h.memo.put("send_tally", t)


def _sender_cmid(rec: SendRecord) -> tuple[str, str]:
    """(sender user, cmid) of a record, from whichever of its events exists."""
    e = rec.send_ev or rec.ok_ev or rec.end_ev or rec.deliv_ev or rec.mid_ev
    if e is None:
        return ("?", "?")
    if e["ev"] == "deliver":
        return e["from"], e["cmid"]
    return e["user"], e["cmid"]
