"""Did every expected device get every message? ``lost`` and ``partial``.

- lost: an acked logical send that some expected device (every device of
  every member, the sender's own included) never received, in the load phase
  or the audit. One case per logical send, naming the devices that miss it.
- partial: an indeterminate send (``send_info``, or no outcome at all) that
  reached some expected devices but not all: the server stored it, so every
  member was owed it (ORACLE.md, "indeterminate sends").

Conversations whose recipients are not known yet (groups) are skipped.
``fan_out`` walks the acked sends once, for lost and the expected-deliveries
count; it looks into the devices' holdings only for a send whose copies (counted
by the history walk) fall short.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from imload.check.cases import Cases, who
from imload.check.history import COPIES, END_EV, MID_EV, OK_EV, SEND_EV, Event, History
from imload.check.recipients import Recipients, expected_devices
from imload.check.sends import send_tally

MISSING_SHOWN = 4  # devices named (with their audit event) in one case
Held = tuple[Recipients, tuple[dict[str, Event], ...]]
_UNSEEN: Any = object()


def recipients_held(conv: str, seq: int | None, h: History) -> Held | None:
    """The expected devices of a message and, aligned with them, the mids each holds."""
    recips = expected_devices(conv, seq, h)
    if recips is None:
        return None
    return recips, tuple(h.devices[u][d].held for u, d in recips)


@dataclass(slots=True)
class FanOut:
    """What the acked sends owed their recipients, and what reached them."""

    expected: int = 0  # expected deliveries (acked sends x their known recipients)
    missing: list[tuple[list[Any], list[tuple[str, str]]]] = field(
        default_factory=list)  # (record, devices that never got it)


def fan_out(h: History) -> FanOut:
    """One pass over the acked sends (memoised on ``h``)."""
    found = h.memo.get("fan_out")
    if found is not None:
        done: FanOut = found
        return done
    out = FanOut()
    direct: dict[str, Held | None] = {}  # direct chats: the recipients do not depend on seq
    expected = 0
    for rec in h.acked:
        ok = rec[OK_EV]
        conv = ok["conv"]
        held = direct.get(conv, _UNSEEN)
        if held is _UNSEEN:
            held = recipients_held(conv, ok["seq"], h)
            if conv.startswith("d:"):
                direct[conv] = held
        if held is None:
            continue
        recips, helds = held
        expected += len(helds)
        mid = ok["mid"]
        canon = rec[MID_EV]
        if rec[COPIES] == len(helds) and canon["mid"] == mid and canon["conv"] == conv:
            continue  # the walk counted a copy of this very mid on every member device
        missing = [d for d, copies in zip(recips, helds, strict=True) if mid not in copies]
        if missing:
            out.missing.append((rec, missing))
    out.expected = expected
    h.memo["fan_out"] = out
    return out


def lost_cases(h: History, limit: int = 20) -> Cases:
    """Acked sends that some expected device never received."""
    out = Cases("lost", limit)
    for rec, missing in fan_out(h).missing:
        if not out.tally():
            continue
        ok = rec[OK_EV]
        user, cmid = ok["user"], ok["cmid"]
        n = len(expected_devices(ok["conv"], ok["seq"], h) or ())
        sender = who(user, (rec[SEND_EV] or ok)["device"])
        out.keep(f"{sender}'s message {cmid} (mid {ok['mid']}, seq {ok['seq']} of "
                 f"{ok['conv']}) was acked at {h.rel(ok['at'])}s but {len(missing)} of {n} "
                 f"expected devices never received it: {_names(missing)}",
                 [rec[SEND_EV], ok, *_evidence(h, missing)])
    return out


def partial_cases(h: History, limit: int = 20) -> Cases:
    """Indeterminate sends delivered to some expected devices but not to all."""
    out = Cases("partial", limit)
    for user, cmid, rec in send_tally(h).unsure_delivered:
        got = rec[MID_EV]
        found = recipients_held(got["conv"], got["seq"], h)
        if found is None:
            continue
        mid = got["mid"]
        recips, helds = found
        missing = [r for r, held in zip(recips, helds, strict=True) if mid not in held]
        if missing and len(missing) < len(recips) and out.tally():
            end = rec[END_EV]
            why = f"send_info: {end.get('reason')}" if end is not None else "no outcome"
            out.keep(f"{who(user, rec[SEND_EV]['device'])}'s message {cmid} was indeterminate "
                     f"({why}) yet was stored as mid {mid} and reached "
                     f"{len(recips) - len(missing)} of {len(recips)} expected devices; "
                     f"never: {_names(missing)}",
                     [rec[SEND_EV], end, got, *_evidence(h, missing)])
    return out


def _names(devices: list[tuple[str, str]]) -> str:
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
