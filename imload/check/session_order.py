"""Sends sequenced against what their sender did and saw: ``fifo`` and ``causality``.

fifo (docs/protocol.md, promise 4, "sends on one connection are sequenced in frame
order"): X and Y are acked sends of one device session to one conversation,
every attempt of each made in that session and the ack received there. If X's
last attempt was journaled before Y's first, the server read X's frame before
Y's, so X's seq must be below Y's. Retries across sessions are left out: a
send retried on a new connection may rightly land after a later one.

causality (promise 5): a ``send`` may carry ``seen_seq``, the highest seq of
its conversation the device displayed when the user hit send. The message was
written after that one was read, so its seq must be above ``seen_seq``.

The history walk does the cheap half while it files each ack: per device
session and conversation, acks whose seq and first attempt both grow need
nothing more (sorted by seq, they were sent in that order); a key where
either goes down is a suspect, and a send acked at a seq not above its
``seen_seq`` is filed. ``session_pass`` (memoised) then looks at the suspects
only: their sends sorted by seq, a sweep from the highest seq down finds, for
each send, a send of higher seq whose attempts were all made before it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import compress
from operator import attrgetter, itemgetter, le
from typing import Any

from imload.check.cases import Cases, who
from imload.check.index import Event, History, SendRecord
from imload.check.numbering import unordered

_KEY = itemgetter("user", "device", "session", "conv")
_OK_EV = attrgetter("ok_ev")
Item = tuple[Any, float, float, SendRecord]  # (seq, first attempt at, last attempt at, record)
BLIND = "send records no seen_seq"  # the reason causality could not judge a send


@dataclass(slots=True)
class SessionPass:
    fifo: list[tuple[SendRecord, SendRecord]] = field(default_factory=list)  # (earlier, later)
    causality: list[tuple[SendRecord, Event]] = field(default_factory=list)  # (record, seen)


def session_pass(h: History) -> SessionPass:
    found = h.memo.get("session_pass")
    if found is not None:
        done: SessionPass = found
        return done
    out = SessionPass()
    out.causality = [(rec, rec.send_ev) for rec in h.seen_after]
    suspects = h.fifo_suspects  # the walk's cheap pass: keys whose acks went out of order
    groups: dict[tuple[Any, ...], list[Item]] = {}
    acked: list[SendRecord] = []
    if suspects:
        # Only acks in a suspect's conversation can have a suspect key: the full keys
        # (4-tuples) are built for those alone.
        convs = {key[3] for key in suspects}
        acked = list(compress(h.acked, map(convs.__contains__, h.acked_conv)))
    keys = list(map(_KEY, map(_OK_EV, acked)))
    for rec, key in zip(compress(acked, map(suspects.__contains__, keys)),
                        compress(keys, map(suspects.__contains__, keys)), strict=True):
        ok = rec.ok_ev
        sent, last = rec.send_ev, rec.last_ev
        session = ok["session"]
        if (sent is not None and sent["session"] == session and last["session"] == session
                and sent["device"] == ok["device"]):
            groups.setdefault(key, []).append((ok["seq"], sent["at"], last["at"], rec))
    for items in groups.values():
        if len(items) > 1:
            _sweep(items, out.fifo)
    return h.memo.put("session_pass", out)


def _sweep(items: list[Item], found: list[tuple[SendRecord, SendRecord]]) -> None:
    items.sort(key=itemgetter(0))
    firsts = [item[1] for item in items]
    if all(map(le, firsts, firsts[1:])):
        return  # sent in seq order: no send of a higher seq was made before a lower one
    best: Item | None = None  # of the higher seqs, the one whose last attempt came first
    for item in reversed(items):
        if best is not None and best[2] < item[1] and best[0] != item[0]:
            found.append((best[3], item[3]))
        if best is None or item[2] < best[2]:
            best = item


def fifo_cases(h: History, limit: int = 20) -> Cases:
    out = Cases("fifo", limit, unit="acked messages")
    out.owe(len(h.acked))
    if unordered(h, out):
        return out
    for earlier, later in session_pass(h).fifo:
        if not out.tally():
            continue
        a, b = earlier.ok_ev, later.ok_ev
        out.keep(fifo_sentence(a, b, earlier.last_ev, later.send_ev, h.rel),
                 [earlier.last_ev, later.send_ev, a, b])
    return out


def causality_cases(h: History, limit: int = 20) -> Cases:
    out = Cases("causality", limit, unit="acked messages")
    out.owe(len(h.acked))
    if unordered(h, out):
        return out
    if h.blind:  # filed by the walk: acked records whose send names no seen_seq
        sent = h.blind[0].send_ev
        out.skip(BLIND, blind_example(sent), len(set(map(id, h.blind))))
    for rec, sent in session_pass(h).causality:
        if not out.tally():
            continue
        ok = rec.ok_ev
        seen_seq = sent["seen_seq"]
        shown = _displayed(h, sent["user"], sent["device"], ok["conv"], seen_seq, sent["at"])
        out.keep(causality_sentence(sent, ok), [shown, sent, ok])
    return out


def fifo_sentence(a: Event, b: Event, last: Event, first: Event,
                  rel: Callable[[float], float]) -> str:
    """The case of acks ``a`` and ``b`` sequenced against the order they were sent in."""
    return (f"{who(a['user'], a['device'])} sent {a['cmid']} before {b['cmid']} on "
            f"session {a['session']} (its last attempt at {rel(last['at'])}s, "
            f"the other's first at {rel(first['at'])}s), yet {a['cmid']} got seq "
            f"{a['seq']} of {a['conv']} and {b['cmid']} seq {b['seq']}")


def blind_example(sent: Event) -> str:
    """Why causality could not judge a send (it records no ``seen_seq``)."""
    return (f"{who(sent['user'], sent['device'])}'s send {sent['cmid']} does not say what the "
            "device displayed")


def causality_sentence(sent: Event, ok: Event) -> str:
    """The case of a message sequenced at or below the seq its sender had displayed."""
    return (f"{who(sent['user'], sent['device'])} had displayed seq {sent['seen_seq']} of "
            f"{ok['conv']} when it sent {ok['cmid']}, yet {ok['cmid']} was sequenced at "
            f"seq {ok['seq']}, not after it")


def _displayed(h: History, user: str, device: str, conv: str, seq: int,
               before: float) -> Event | None:
    """The device's copy of (conv, seq) journaled before ``before``, else the first naming it."""
    named = h.by_seq.get(conv, {}).get(seq)
    if named is not None:
        copy = h.copy(user, device, named["mid"])
        if copy is not None and copy["at"] <= before:
            return copy
    return named
