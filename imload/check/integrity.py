"""Is every delivered message one the clients sent, once, intact, and not refused?

- duplicated: one logical send (sender, cmid) stored under two mids, seen in
  acks or deliveries (server-side dedup failed). Redelivery of the same mid
  is not an anomaly: ``History.wire_duplicates`` counts it.
- phantom: a delivered (from, cmid) that no simulated client ever sent, or a
  membership event (``cmid`` ``op:<opid>``) of an op no client ever invoked.
- corrupted: a delivery whose body digest differs from the digest sent.
- undecryptable: with end-to-end encryption on (docs/e2e.md), a delivery whose body
  failed authentication (journaled ``undecryptable``): a server or proxy altered the
  ciphertext, or moved it to another conversation or sender.
- aborted: a send the server definitely refused (``send_fail``) that was
  delivered anyway.
"""

from __future__ import annotations

from typing import Any

from imload.check.cases import Cases, sender_of, who
from imload.check.index import (
    Event,
    History,
)
from imload.check.oplog import op_records
from imload.check.sends import send_tally


def duplicated_cases(h: History, limit: int = 20) -> Cases:
    """Logical sends that got more than one mid: one case per logical send."""
    out = Cases("duplicated", limit, unit="stored messages")
    out.owe(len(h.acked) + len(send_tally(h).unsure_delivered))
    grouped: dict[tuple[str, Any], list[Event]] = {}
    for first, other in h.cmid_clashes:
        key = (sender_of(first), first["cmid"])
        grouped.setdefault(key, [first]).append(other)
    for (user, cmid), shown in grouped.items():
        if not out.tally():
            continue
        rec = h.record(user, cmid)
        sent = rec.send_ev if rec is not None else None
        retry = rec.last_ev if rec is not None and rec.attempts > 1 else None
        mids = ", ".join(f"{e['mid']} ({_seen(h, e)})" for e in shown)
        tries = f" after {rec.attempts} attempts" if retry is not None else ""
        out.keep(f"{user}'s message {cmid} was stored under {len(shown)} mids{tries}: {mids}",
                 [sent, retry, *shown])
    return out


def phantom_cases(h: History, limit: int = 20) -> Cases:
    """Delivered messages whose (from, cmid) no client attempted: one case per (from, cmid)."""
    out = Cases("phantom", limit, unit="delivered messages")
    out.owe(h.delivered())
    for _user, _cmid, rec in send_tally(h).never_sent:
        if not out.tally():
            continue
        got = rec.deliv_ev
        copies: list[Event] = rec.early or [got]
        out.keep(phantom_sentence(got, len(copies)), copies)
    phantom_events(h, out)
    return out


def phantom_events(h: History, out: Cases) -> None:
    """Membership events stored as an op (``op:<opid>``) no simulated client invoked."""
    ops = op_records(h)
    for (user, cmid), mids in h.event_mids.items():
        opid = cmid[3:] if isinstance(cmid, str) and cmid.startswith("op:") else None
        rec = ops.get((user, opid)) if opid is not None else None
        if (rec is None or rec.first is None) and out.tally():
            got = next(iter(mids.values()))
            out.keep(f"{who(got['user'], got['device'])} received a membership event of "
                     f"{got['conv']} (mid {got['mid']}, seq {got['seq']}) as {user}'s "
                     f"{cmid}, an op no simulated client ever invoked",
                     list(mids.values()))


def corrupted_cases(h: History, limit: int = 20) -> Cases:
    """Deliveries whose digest differs from the digest sent: one case per delivery."""
    out = Cases("corrupted", limit, unit="delivered messages")
    out.owe(h.delivered())
    for sent, got in h.digest_mismatches:
        if out.tally():
            out.keep(corrupted_sentence(sent, got), [sent, got])
    return out


def e2e_devices(h: History) -> bool:
    """Did any device seal its bodies end to end (its ``device`` event says ``e2e``)?"""
    return any(log.declared is not None and log.declared.get("e2e") is True
               for per_user in h.devices.values() for log in per_user.values())


def undecryptable_cases(h: History, limit: int = 20) -> Cases:
    """Deliveries whose envelope failed authentication: one case per delivery."""
    return undecryptable_of(h.undecryptable, e2e_devices(h), h.delivered(), limit)


def undecryptable_of(found: list[tuple[Event | None, Event]], e2e: bool, delivered: int,
                     limit: int = 20) -> Cases:
    """The ``undecryptable`` cases of ``found`` (send or None, copy); the check applies
    when some device encrypted end to end (``e2e``) or a copy says it failed."""
    out = Cases("undecryptable", limit, unit="delivered messages")
    if not found and not e2e:
        out.not_applicable("no device encrypted its bodies end to end (e2e off)")
        return out
    out.owe(delivered)
    for sent, got in found:
        if out.tally():
            out.keep(undecryptable_sentence(sent, got), [sent, got])
    return out


def aborted_cases(h: History, limit: int = 20) -> Cases:
    """Sends refused for certain (``send_fail``) that were delivered anyway."""
    out = Cases("aborted", limit, unit="refused sends")
    out.owe(send_tally(h).failed)
    for user, cmid, rec in send_tally(h).refused_delivered:
        if not out.tally():
            continue
        got, end = rec.deliv_ev, rec.end_ev
        out.keep(aborted_sentence(user, cmid, end, got), [rec.send_ev, end, got])
    return out


def phantom_sentence(got: Event, copies: int) -> str:
    """The case of a delivered message no client sent (``got``: its first copy)."""
    return (f"{who(got['user'], got['device'])} received mid {got['mid']} (seq "
            f"{got['seq']} of {got['conv']}) as {got['from']}/{got['from_device']}'s message "
            f"{got['cmid']}, which no simulated client ever sent ({copies} "
            f"{'copy' if copies == 1 else 'copies'})")


def aborted_sentence(user: str, cmid: str, end: Event | None, got: Event) -> str:
    """The case of a refused send that was delivered anyway."""
    return (f"{user}'s message {cmid} was refused (send_fail: "
            f"{end.get('reason') if end is not None else '?'}) yet reached "
            f"{who(got['user'], got['device'])} as mid {got['mid']}")


def corrupted_sentence(sent: Event, got: Event) -> str:
    """The case of a copy whose digest is not the one sent."""
    return (f"{who(got['user'], got['device'])} received {got['from']}'s message "
            f"{got['cmid']} (mid {got['mid']}) with digest {got['digest']}, but "
            f"{who(sent['user'], sent['device'])} sent digest {sent['digest']}")


def undecryptable_sentence(sent: Event | None, got: Event) -> str:
    """The case of a copy whose envelope failed authentication."""
    by = (f"as {who(sent['user'], sent['device'])} sealed it" if sent is not None
          else "(no send of it journaled before)")
    return (f"{who(got['user'], got['device'])} could not authenticate {got['from']}'s message "
            f"{got['cmid']} (mid {got['mid']}, {got['conv']}): the ciphertext is not "
            f"{by}")


def _seen(h: History, e: Event) -> str:
    where = "acked" if e["ev"] == "send_ok" else f"delivered to {who(e['user'], e['device'])}"
    return f"{where} at {h.rel(e['at'])}s"
