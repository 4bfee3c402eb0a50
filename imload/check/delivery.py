"""Did every expected device get every message? ``lost`` and ``partial``.

- lost: an acked logical send that some expected device (every device of
  every member as of its seq, the sender's own included) never received, in
  the load phase or the audit. One case per logical send, naming the devices
  that miss it.
- partial: an indeterminate send (``send_info``, or no outcome at all) that
  reached some expected devices but not all: the server stored it, so every
  member was owed it (docs/checker.md, "Where expectations come from").

Messages whose recipients are not known (a group no client created in this run,
a membership op that could not be placed: see ``membership``) cannot be judged;
when the seqs are opaque, a group message is placed by its send window instead
(``membership_time``), and may then be owed to nobody (judged, with no copy due);
neither can a message whose only missing copies are on devices that never
finished their audit (missing there may just mean not synced yet). Both are
counted, with their reason, in the check's coverage. ``fan_out`` walks the
acked sends once, for lost, the expected-deliveries count and the "stable" time
of each send (when its last expected device got it); it looks into the devices'
holdings only for a send whose copies (counted by the history walk for direct chats) fall short.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import add, and_, attrgetter, eq, is_, itemgetter, not_

from imload.check.cases import Cases, who
from imload.check.index import Event, History, SendRecord
from imload.check.membership_time import send_span
from imload.check.recipients import (
    Recipients,
    expected_devices,
    placed_by_time,
    unknown_recipients,
)
from imload.check.sends import send_tally

MISSING_SHOWN = 4  # devices named (with their audit event) in one case
_OK_EV = attrgetter("ok_ev")
_MID_EV = attrgetter("mid_ev")
_COPIES = attrgetter("copies")
_DONE_AT = attrgetter("done_at")
_FIRST = itemgetter(0)
_SECOND = itemgetter(1)


def copies_of(mid: str, recips: Recipients, h: History) -> list[Event | None]:
    """Each expected device's first copy of ``mid`` (None where it has none)."""
    devices = h.devices
    return [devices[u][d].held.get(mid) for u, d in recips]


@dataclass(slots=True)
class FanOut:
    """What the acked sends owed their recipients, and what reached them."""

    expected: int = 0  # expected deliveries (acked sends x their known recipients)
    missing: list[tuple[SendRecord, list[tuple[str, str]]]] = field(
        default_factory=list)  # (record, devices that never got it)
    ok_at: array[float] = field(default_factory=lambda: array("d"))  # per acked send (known
    done_at: array[float] = field(default_factory=lambda: array("d"))  # recipients): its ack,
    # and when its last expected device got it (+inf: never)
    # groups' e2e samples, split as ``History.push_s`` and ``away_s``
    group_push_s: array[float] = field(default_factory=lambda: array("d"))
    group_away_s: array[float] = field(default_factory=lambda: array("d"))
    unjudged: Cases = field(default_factory=lambda: Cases("lost", 0))  # why some were not


def fan_out(h: History) -> FanOut:
    """One pass over the acked sends (memoised on ``h``)."""
    found = h.memo.get("fan_out")
    if found is not None:
        done: FanOut = found
        return done
    out = FanOut()
    ok_ats, done_ats = out.ok_at, out.done_at
    never = float("inf")
    acked = h.acked
    # The common case in C: a direct chat's acked message with a member copy on every device.
    oks = list(map(_OK_EV, acked))
    convs = h.acked_conv  # each ``oks``' conv
    ndev = {user: len(per_user) for user, per_user in h.devices.items()}
    pairs = [conv for conv, users in h.members.items() if users]  # direct chats
    users = list(map(h.members.__getitem__, pairs))
    direct_n = dict(zip(pairs, map(add, map(ndev.get, map(_FIRST, users), repeat(0)),
                                   map(ndev.get, map(_SECOND, users), repeat(0))),
                        strict=True))
    wanted = list(map(direct_n.get, convs, repeat(-1)))
    full = list(map(eq, map(_COPIES, acked), wanted))
    canonical = map(is_, map(_MID_EV, acked), oks)  # (a clash is looked at below)
    easy = list(map(and_, full, canonical))
    ok_ats.extend(compress(h.acked_at, easy))  # each ``oks``' at
    done_ats.extend(map(_DONE_AT, compress(acked, easy)))
    expected = sum(compress(wanted, easy))
    # groups by the time rule or by subscriptions: each message's send window places it
    timed = placed_by_time(h)
    span = None
    for rec, ok in zip(compress(acked, map(not_, easy)), compress(oks, map(not_, easy)),
                       strict=True):
        conv, mid = ok["conv"], ok["mid"]
        canon = rec.mid_ev
        n = direct_n.get(conv)
        if (n is not None and rec.copies == n and canon["mid"] == mid
                and canon["conv"] == conv):
            expected += n  # the walk counted a copy of this very mid on every device
            ok_ats.append(ok["at"])
            done_ats.append(rec.done_at)
            continue
        if timed:
            span = send_span(rec)
        recips = expected_devices(conv, ok["seq"], h, span=span)
        if recips is None:
            out.unjudged.skip(*unknown_recipients(conv, h, span=span))
            continue
        if not recips:
            continue  # owed to nobody: every member's membership changed while it was sent
        expected += len(recips)
        ok_ats.append(ok["at"])
        got = copies_of(mid, recips, h)
        missing = [d for d, copy in zip(recips, got, strict=True) if copy is None]
        if missing and not any(h.devices[u][d].audited() for u, d in missing):
            out.unjudged.skip(*unaudited_copy(missing[0], mid, conv))
            done_ats.append(never)
        elif missing:
            out.missing.append((rec, missing))
            done_ats.append(never)
        else:
            done_ats.append(max(copy["at"] for copy in got))  # type: ignore[index]
        sent = rec.send_ev
        if sent is not None and rec.copies == 0 and conv.startswith("g:"):
            start = sent["at"]
            for (u, d), copy in zip(recips, got, strict=True):
                if copy is not None:
                    samples = out.group_away_s if h.devices[u][d].was_away(copy, start) \
                        else out.group_push_s
                    samples.append(copy["at"] - start)
    out.expected = expected
    return h.memo.put("fan_out", out)


def lost_cases(h: History, limit: int = 20) -> Cases:
    """Acked sends that some expected device never received."""
    out = Cases("lost", limit, unit="acked messages")
    found = fan_out(h)
    out.owe(len(h.acked))
    out.reasons.update({k: list(v) for k, v in found.unjudged.reasons.items()})
    for rec, missing in found.missing:
        if not out.tally():
            continue
        ok = rec.ok_ev
        span = send_span(rec) if placed_by_time(h) else None
        n = len(expected_devices(ok["conv"], ok["seq"], h, span=span) or ())
        out.keep(lost_sentence(rec.send_ev, ok, missing, n, h.rel),
                 [rec.send_ev, ok, *_evidence(h, missing)])
    return out


def partial_cases(h: History, limit: int = 20) -> Cases:
    """Indeterminate sends delivered to some expected devices but not to all."""
    out = Cases("partial", limit, unit="indeterminate sends that were stored")
    timed = placed_by_time(h)
    for _user, _cmid, rec in send_tally(h).unsure_delivered:
        got = rec.mid_ev
        out.owe()
        # its window under the time rule: the first attempt to the earliest copy (the walk
        # goes in time order, so the first event naming its mid is that copy)
        span = (rec.send_ev["at"], got["at"]) if timed else None
        recips = expected_devices(got["conv"], got["seq"], h, span=span)
        if recips is None:
            out.skip(*unknown_recipients(got["conv"], h, span=span))
            continue
        mid = got["mid"]
        missing = [r for r, copy in zip(recips, copies_of(mid, recips, h), strict=True)
                   if copy is None]
        if missing and len(missing) < len(recips) and out.tally():
            end = rec.end_ev
            out.keep(partial_sentence(rec.send_ev, end, mid, len(recips), missing),
                     [rec.send_ev, end, got, *_evidence(h, missing)])
    return out


def unaudited_copy(ud: tuple[str, str], mid: str, conv: str) -> tuple[str, str]:
    """(reason, example) for a message whose only missing copies are on unaudited devices."""
    return ("device never audited", f"{who(*ud)} misses {mid} of {conv} but never finished "
            "its audit, so it may not have synced yet")


def lost_sentence(sent: Event | None, ok: Event, missing: list[tuple[str, str]], n: int,
                  rel: Callable[[float], float]) -> str:
    """The case of an acked message ``n`` expected devices should hold, ``missing`` do not."""
    sender = who(ok["user"], (sent or ok)["device"])
    return (f"{sender}'s message {ok['cmid']} (mid {ok['mid']}, seq {ok['seq']} of "
            f"{ok['conv']}) was acked at {rel(ok['at'])}s but {len(missing)} of {n} "
            f"expected devices never received it, not even in the audit: {names(missing)}")


def partial_sentence(sent: Event, end: Event | None, mid: str, n: int,
                     missing: list[tuple[str, str]]) -> str:
    """The case of an indeterminate send stored as ``mid`` that reached some of its ``n``."""
    why = f"send_info: {end.get('reason')}" if end is not None else "no outcome"
    return (f"{who(sent['user'], sent['device'])}'s message {sent['cmid']} was indeterminate "
            f"({why}) yet was stored as mid {mid} and reached {n - len(missing)} of {n} "
            f"expected devices; never: {names(missing)}")


def names(devices: list[tuple[str, str]]) -> str:
    shown = ", ".join(who(u, d) for u, d in devices[:MISSING_SHOWN])
    more = len(devices) - MISSING_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def _evidence(h: History, devices: list[tuple[str, str]]) -> list[Event | None]:
    """Per missing device: its last audit event (what it synced up to), else its declaration."""
    shown = []
    for u, d in devices[:MISSING_SHOWN]:
        log = h.devices[u][d]
        shown.append(log.audit or log.declared)
    return shown
