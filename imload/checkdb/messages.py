"""The message checks as queries: lost and partial (``check.delivery``), phantom, aborted,
corrupted and duplicated (``check.integrity``), and the counts (``check.figures``).

Each builds the reference's ``Cases`` (same count, coverage, sentences and evidence
events, in the same order) from what the queries find: the sets are DuckDB's, the
sentences are built in Python for the first ``limit`` cases only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from imload.check.cases import Cases
from imload.check.delivery import (
    MISSING_SHOWN,
    lost_sentence,
    partial_sentence,
    unaudited_copy,
)
from imload.check.integrity import (
    aborted_sentence,
    corrupted_sentence,
    phantom_events,
    phantom_sentence,
)
from imload.check.membership_time import Span
from imload.check.recipients import placed_by_time, unknown_recipients
from imload.checkdb.db import code
from imload.checkdb.index import Index

# the records in ``History.sends`` order: senders as they first appear, then by creation
RECORD_ORDER = "u_i, r_i"


@dataclass
class FanOut:
    expected: int = 0
    missing: list[tuple[dict[str, Any], list[tuple[str, str]]]] = field(default_factory=list)
    missed: int = 0  # devices that missed an acked message (all of them)
    unjudged: Cases = field(default_factory=lambda: Cases("lost", 0))


def fan_out(ix: Index) -> FanOut:
    """Every acked record with a copy short: its expected devices, the ones missing it;
    and the group messages whose members are not known (``acked.unknown``), in the order
    of their acks."""
    out = FanOut()
    out.expected = ix.con.execute("SELECT coalesce(sum(wanted), 0) FROM acked "
                                  "WHERE judged AND copies = wanted").fetchone()[0]  # type: ignore[index]
    short = ix.con.execute("""SELECT u, cmid, a_i, a_mid, a_conv, a_seq, s_i, unknown, s_at,
                                     a_at FROM acked
                              WHERE (judged AND copies <> wanted) OR unknown
                              ORDER BY a_i""").fetchall()
    if not short:
        return out
    mids = [row[3] for row in short]
    holders: dict[int, set[tuple[str, str]]] = {}
    held = ix.con.execute("SELECT u, d, mid FROM held WHERE mid IN (SELECT unnest(?))",
                          [mids]).fetchall()
    for u, d, mid in ix.dicts.named(held, "user", "device"):
        holders.setdefault(mid, set()).add((u, d))
    convs = ix.dicts.names("conv", [row[4] for row in short])
    for (u, cmid, a_i, mid_id, _, seq, s_i, unknown, s_at, a_at), conv in zip(short, convs,
                                                                               strict=True):
        mid = ix.name("mid", mid_id)
        span = _window(ix, s_at, a_at)
        recips = None if unknown else ix.recipients(conv, seq, span)
        if recips is None:
            out.unjudged.skip(*unknown_recipients(conv, ix.small, span=span))
            continue
        out.expected += len(recips)
        have = holders.get(mid_id, set())
        missing = [r for r in recips if r not in have]
        if not missing:
            continue
        if not any(ix.devices[mu][md].audit_done for mu, md in missing):
            out.unjudged.skip(*unaudited_copy(missing[0], mid, conv))
            continue
        out.missed += len(missing)
        out.missing.append(({"u": u, "cmid": cmid, "a_i": a_i, "s_i": s_i}, missing))
    return out


def lost_cases(ix: Index, found: FanOut, limit: int = 20) -> Cases:
    out = Cases("lost", limit, unit="acked messages")
    out.owe(_count(ix, "SELECT count(*) FROM acked"))
    out.reasons.update({k: list(v) for k, v in found.unjudged.reasons.items()})
    for rec, missing in found.missing:
        if not out.tally():
            continue
        sent, ok = ix.get([rec["s_i"], rec["a_i"]])
        assert ok is not None
        recips = ix.recipients(ok["conv"], ok["seq"],
                               _window(ix, sent["at"] if sent else None, ok["at"]))
        assert recips is not None
        out.keep(lost_sentence(sent, ok, missing, len(recips), ix.rel),
                 [sent, ok, *evidence(ix, missing)])
    return out


def partial_cases(ix: Index, limit: int = 20) -> Cases:
    out = Cases("partial", limit, unit="indeterminate sends that were stored")
    rows = ix.con.execute(f"""
        SELECT s_i, e_i, d_i FROM rec
        WHERE outcome IN ('info', 'pending') AND s_i IS NOT NULL AND d_i IS NOT NULL
        ORDER BY {RECORD_ORDER}""").fetchall()
    for s_i, e_i, d_i in rows:
        out.owe()
        sent, got = ix.get([s_i, d_i])
        assert sent is not None and got is not None
        span = _window(ix, sent["at"], got["at"])  # to its earliest copy
        recips = ix.recipients(got["conv"], got["seq"], span)
        if recips is None:
            out.skip(*unknown_recipients(got["conv"], ix.small, span=span))
            continue
        have = _holders(ix, d_i)
        missing = [r for r in recips if r not in have]
        if missing and len(missing) < len(recips) and out.tally():
            end = ix.one(e_i)
            out.keep(partial_sentence(sent, end, got["mid"], len(recips), missing),
                     [sent, end, got, *evidence(ix, missing)])
    return out


def phantom_cases(ix: Index, delivered: int, limit: int = 20) -> Cases:
    out = Cases("phantom", limit, unit="delivered messages")
    out.owe(delivered)
    rows = ix.con.execute(f"""
        SELECT d_i FROM rec
        WHERE s_i IS NULL AND d_i IS NOT NULL AND e_i IS NULL AND a_i IS NULL
        ORDER BY {RECORD_ORDER}""").fetchall()
    for (d_i,) in rows:
        if not out.tally():
            continue
        got = ix.one(d_i)
        assert got is not None
        firsts = [r[0] for r in ix.con.execute(
            "SELECT h_i FROM held WHERE mid = (SELECT mid FROM deliver WHERE i = ?) "
            "ORDER BY h_i", [d_i]).fetchall()]
        copies = ix.get(firsts)
        out.keep(phantom_sentence(got, len(copies)), copies)
    phantom_events(ix.small, out)
    return out


def aborted_cases(ix: Index, failed: int, limit: int = 20) -> Cases:
    out = Cases("aborted", limit, unit="refused sends")
    out.owe(failed)
    rows = ix.con.execute(f"""SELECT u, cmid, s_i, e_i, d_i FROM rec
                              WHERE outcome = 'fail' AND d_i IS NOT NULL
                              ORDER BY {RECORD_ORDER}""").fetchall()
    for u, cmid, s_i, e_i, d_i in rows:
        if not out.tally():
            continue
        sent, end, got = ix.get([s_i, e_i, d_i])
        assert got is not None
        out.keep(aborted_sentence(ix.name("user", u), ix.name("cmid", cmid), end, got),
                 [sent, end, got])
    return out


CORRUPT = """
    WITH bad AS (  -- copies unlike their send: few (none in a clean run), joined after
      SELECT e.i, r.s_i, e."user" AS u, e.device AS d, e.mid, e.digest FROM deliver e
      JOIN rec r ON r.u = e."from" AND r.cmid = e.cmid
      WHERE r.s_i IS NOT NULL AND e.digest IS DISTINCT FROM r.s_digest
        AND e.kind IS DISTINCT FROM {event})
    SELECT b.i, b.s_i FROM bad b JOIN held h ON h.u = b.u AND h.d = b.d AND h.mid = b.mid
    WHERE b.i = h.h_i OR b.digest IS DISTINCT FROM h.h_digest
    ORDER BY b.i"""


def corrupted_cases(ix: Index, delivered: int, limit: int = 20) -> Cases:
    """A copy whose digest is not the one sent, where the walk compares (its device's first
    copy of the mid, or a later copy whose digest differs from that first one)."""
    out = Cases("corrupted", limit, unit="delivered messages")
    out.owe(delivered)
    for i, s_i in ix.con.execute(CORRUPT.format(event=code(ix.con, "kind", "event"))).fetchall():
        if out.tally():
            sent, got = ix.get([s_i, i])
            assert sent is not None and got is not None
            out.keep(corrupted_sentence(sent, got), [sent, got])
    return out


def duplicated_cases(ix: Index, acked: int, recovered: int, limit: int = 20) -> Cases:
    """In scope, no logical send has two mids (``scope``): nothing to find but the due."""
    out = Cases("duplicated", limit, unit="stored messages")
    out.owe(acked + recovered)
    return out


def count_figures(ix: Index) -> dict[str, int]:
    row = ix.con.execute("""
        SELECT count(*) FILTER (WHERE s_i IS NOT NULL), coalesce(sum(attempts), 0),
               count(*) FILTER (WHERE outcome = 'ok'), count(*) FILTER (WHERE outcome = 'fail'),
               count(*) FILTER (WHERE s_i IS NOT NULL AND outcome IN ('info', 'pending')),
               count(*) FILTER (WHERE s_i IS NOT NULL AND outcome = 'pending'),
               count(*) FILTER (WHERE s_i IS NOT NULL AND outcome IN ('info', 'pending')
                                AND d_i IS NOT NULL)
        FROM rec""").fetchone()
    attempted, attempts, acked, failed, info, pending, recovered = row  # type: ignore[misc]
    delivered, copies = ix.con.execute(
        "SELECT count(*), (SELECT count(*) FROM deliver) FROM held").fetchone()  # type: ignore[misc]
    return {"attempted": attempted, "attempts": int(attempts), "sent": attempted,
            "acked": acked, "failed": failed, "info": info, "pending": pending,
            "recovered": recovered, "delivered": delivered, "expected_deliveries": 0,
            "wire_duplicates": int(copies) - delivered, "ops": 0, "ops_ok": 0,
            "ops_failed": 0, "ops_info": 0, "reads": 0, "reads_ok": 0}


def info_reasons(ix: Index) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {"send": {}, "op": {}, "send_fail": {}, "op_fail": {}}
    rows = ix.con.execute(f"""
        SELECT r.e_ev, coalesce(CAST(e.reason AS VARCHAR), 'None') FROM rec r
        JOIN events e ON e.i = r.e_i
        WHERE r.e_i IS NOT NULL AND r.outcome <> 'ok' ORDER BY {RECORD_ORDER}""").fetchall()
    found: dict[str, dict[str, int]] = {"send_info": {}, "send_fail": {}}
    for ev, reason in rows:
        counts = found[ev]
        counts[reason] = counts.get(reason, 0) + 1
    for key, ev in (("send", "send_info"), ("send_fail", "send_fail")):
        out[key] = dict(sorted(found[ev].items(), key=lambda kv: -kv[1]))  # stable: ties keep
    return out                                                            # first-seen order


def _holders(ix: Index, d_i: int) -> set[tuple[str, str]]:
    """The devices holding the mid of copy ``d_i``."""
    rows = ix.con.execute("SELECT u, d FROM held WHERE mid = (SELECT mid FROM deliver "
                          "WHERE i = ?)", [d_i]).fetchall()
    return set(ix.dicts.named(rows, "user", "device"))


def evidence(ix: Index, devices: list[tuple[str, str]]) -> list[dict[str, Any] | None]:
    """Per missing device: its last audit event, else its declaration."""
    picks = []
    for u, d in devices[:MISSING_SHOWN]:
        dv = ix.devices[u][d]
        picks.append(dv.audit if dv.audit is not None else dv.declared)
    return ix.get(picks)


def _window(ix: Index, start: float | None, end: float) -> Span | None:
    """A message's send window, which places it when the seqs are opaque (the time rule:
    ``membership_time``) or the groups subscriptions (who had joined); None otherwise, or
    when its first attempt is not journaled."""
    return (start, end) if start is not None and placed_by_time(ix.small) else None


def _count(ix: Index, sql: str) -> int:
    return int(ix.con.execute(sql).fetchone()[0])  # type: ignore[index]
