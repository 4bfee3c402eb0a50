"""The sequence checks as queries: gap (``check.gaps``), backwards and order
(``check.order``), fifo and causality (``check.session_order``).

The queries find the suspects (a device short of its inbox top or of a
conversation's top seq, a push lower than the one before it, a session whose
acks went down); the reference's own code judges those few, on their events.
"""

from __future__ import annotations

from typing import Any

from imload.check.cases import Cases
from imload.check.gaps import (
    SHOWN,
    _around,
    missing_in_spans,
    missing_numbers,
    seq_sentence,
    unaudited,
    useq_sentence,
)
from imload.check.membership import group_timeline, unknown_members
from imload.check.numbering import unordered
from imload.check.order import backwards_sentence
from imload.check.session_order import (
    BLIND,
    _sweep,
    blind_example,
    causality_sentence,
    fifo_sentence,
)
from imload.checkdb import groups
from imload.checkdb.db import code
from imload.checkdb.index import Index


def gap_cases(ix: Index, numbering: dict[str, str], limit: int = 20) -> Cases:
    out = Cases("gap", limit, unit="devices")
    check_useq, check_seq = (numbering[k] == "contiguous" for k in ("useq", "seq"))
    if not (check_useq or check_seq):
        out.not_applicable(f"the target declares seq {numbering['seq']} and useq "
                           f"{numbering['useq']}: numbers may skip, so a gap is no hole")
        return out
    useqs: dict[tuple[str, str], tuple[int, int, int]] = {}
    if check_useq:
        useqs = _useq_spans(ix)
    seq_short: dict[tuple[str, str], list[str]] = {}
    unknown: dict[tuple[str, str], str] = {}  # a device's first group of unknown members
    if check_seq:
        short_groups = groups.SHORT if ix.groups else "SELECT NULL AS u, NULL AS d, NULL AS conv"
        rows = ix.con.execute(f"""
                WITH tops AS (SELECT conv, max(seq) AS top FROM events
                              WHERE ev IN ('send_ok', 'deliver') GROUP BY conv),
                     mine AS (SELECT u, d, conv, count(*) AS n, min(h_i) AS first_i
                              FROM held GROUP BY ALL),
                     groups AS ({short_groups})
                SELECT m.u, m.d, m.conv FROM mine m JOIN tops t USING (conv)
                JOIN cv ON cv.c = m.conv LEFT JOIN groups g USING (u, d, conv)
                WHERE (cv.direct AND m.n < t.top) OR g.u IS NOT NULL
                ORDER BY m.u, m.d, m.first_i""").fetchall()
        for u, d, conv in ix.dicts.named(rows, "user", "device", "conv"):
            seq_short.setdefault((u, d), []).append(conv)
        if ix.groups:
            unknown = {(u, d): conv for u, d, conv in ix.dicts.named(ix.con.execute(
                "SELECT u, d, arg_min(conv, h_i) FROM held WHERE conv IN "
                "(SELECT conv FROM gunknown) GROUP BY ALL").fetchall(), "user", "device", "conv")}
    tops = {u: {d: dv.inbox_top for d, dv in per.items()} for u, per in ix.devices.items()}
    for user in sorted(ix.devices):
        for device in sorted(ix.devices[user]):
            dv = ix.devices[user][device]
            out.owe()
            if not dv.audit_done:
                out.skip(*unaudited(user, device))
                continue
            top = tops[user][device]
            if check_useq and top > 0 and useqs.get((user, device)) != (top, 1, top):
                _useq(ix, out, user, device, top)
            for conv in seq_short.get((user, device), ()):
                _seq(ix, out, user, device, conv)
            if (user, device) in unknown:
                out.skip(*unknown_members(unknown[(user, device)], ix.small))
    return out


def _useq_spans(ix: Index) -> dict[tuple[str, str], tuple[int, int, int]]:
    """Per device, (distinct useqs held, lowest, highest), for the devices that hold no useq
    twice (a device that does is a suspect: ``_useq`` counts it exactly). Not a
    ``count(DISTINCT useq)`` per device: over a group chat's 13M copies that needs a hash
    table of them all at once, which a 550 MB limit cannot give; the duplicates are found by
    a grouping that spills."""
    twice = set(ix.con.execute(
        "SELECT DISTINCT u, d FROM (SELECT u, d FROM held WHERE useq IS NOT NULL "
        "GROUP BY u, d, useq HAVING count(*) > 1)").fetchall())
    rows = ix.con.execute(
        "SELECT u, d, count(useq), min(useq), max(useq) FROM held GROUP BY u, d").fetchall()
    return {(u, d): (n, lo, hi) for u, d, n, lo, hi in ix.dicts.named(
        [r for r in rows if (r[0], r[1]) not in twice], "user", "device")}


def _copies(ix: Index, user: str, device: str, conv: str | None = None) -> list[dict[str, Any]]:
    where = " AND conv = ?" if conv is not None else ""
    args: list[Any] = [ix.id("user", user), ix.id("device", device)] + (
        [ix.id("conv", conv)] if conv is not None else [])
    rows = ix.con.execute(f"SELECT h_i FROM held WHERE u = ? AND d = ?{where} ORDER BY h_i",
                          args).fetchall()
    return [e for e in ix.get([r[0] for r in rows]) if e is not None]


def _useq(ix: Index, out: Cases, user: str, device: str, top: int) -> None:
    inside = ix.con.execute(
        "SELECT count(DISTINCT useq) FROM held WHERE u = ? AND d = ? AND useq BETWEEN 1 AND ?",
        [ix.id("user", user), ix.id("device", device), top]).fetchone()[0]  # type: ignore[index]
    if inside >= top:
        return
    copies = _copies(ix, user, device)
    held = sorted({e["useq"] for e in copies})
    count, first = missing_numbers(held, 1, top + 1)
    if count and out.tally():
        dv = ix.devices[user][device]
        start, audit = ix.get([dv.audit_start, dv.audit])
        out.keep(useq_sentence((user, device), top, count, first),
                 [start, audit, *_around(copies, "useq", first[0])])


def _seq(ix: Index, out: Cases, user: str, device: str, conv: str) -> None:
    """``gaps._seq_gap``: the seqs a device lacks below its top of ``conv``, within the
    spans its user was owed them (a group's ``Timeline.member_spans``)."""
    copies = _copies(ix, user, device, conv)
    mine = {e["seq"]: e for e in copies}
    if not mine:
        return
    held = sorted(mine)
    top = held[-1]
    spans: list[tuple[int, int | None]] = [(1, None)]
    if conv.startswith("g:"):
        spans = group_timeline(conv, ix.small).member_spans(user)
    count, first = missing_in_spans(held, spans, top)
    if count and out.tally():
        named = dict(ix.con.execute(
            "SELECT seq, min(i) FROM events WHERE ev IN ('send_ok', 'deliver') AND conv = ? "
            "AND seq IN (SELECT unnest(?)) GROUP BY seq", [ix.id("conv", conv), first]
        ).fetchall())
        known = ix.get([named[s] for s in first if s in named][:2])
        out.keep(seq_sentence((user, device), conv, top, count, first, len(known)),
                 [mine[top], *known, ix.one(ix.devices[user][device].audit)])


def backwards_cases(ix: Index, limit: int = 20) -> Cases:
    out = Cases("backwards", limit, unit="devices")
    out.owe(sum(map(len, ix.devices.values())))
    if unordered(ix.small, out):
        return out
    for prev, cur in ix.con.execute(f"""
            SELECT prev_i, i FROM (
              SELECT i, seq, session, lag(i) OVER w AS prev_i, lag(seq) OVER w AS prev_seq,
                     lag(session) OVER w AS prev_session
              FROM deliver WHERE via = {code(ix.con, 'via', 'push')}
              WINDOW w AS (PARTITION BY "user", device, conv ORDER BY i))
            WHERE prev_i IS NOT NULL AND seq < prev_seq AND prev_session = session
            ORDER BY i""").fetchall():
        if out.tally():
            p, e = ix.get([prev, cur])
            assert p is not None and e is not None
            out.keep(backwards_sentence(p, e, ix.rel), [p, e])
    return out


def order_cases(ix: Index, limit: int = 20) -> Cases:
    """In scope no seq or mid is named two ways (``scope``), so no cycle either; opaque seqs
    leave the cycles unjudged."""
    out = Cases("order", limit, unit="conversations")
    out.owe(int(ix.con.execute("SELECT count(DISTINCT conv) FROM events WHERE ev IN "
                               "('send_ok', 'deliver')").fetchone()[0]))  # type: ignore[index]
    unordered(ix.small, out)
    return out


FIFO = """
    WITH w AS (SELECT u, a_device, a_session, a_conv, a_seq, s_at,
                      lag(a_seq) OVER o AS p_seq, lag(s_at) OVER o AS p_at
               FROM acked WHERE s_session = a_session AND last_session = a_session
               WINDOW o AS (PARTITION BY u, a_device, a_session, a_conv ORDER BY a_i))
    SELECT DISTINCT u, a_device, a_session, a_conv FROM w
    WHERE p_seq > a_seq OR p_at > s_at"""


def fifo_cases(ix: Index, limit: int = 20) -> Cases:
    out = Cases("fifo", limit, unit="acked messages")
    out.owe(int(ix.con.execute("SELECT count(*) FROM acked").fetchone()[0]))  # type: ignore[index]
    if unordered(ix.small, out):
        return out
    suspects = set(ix.con.execute(FIFO).fetchall())
    if not suspects:
        return out
    groups: dict[tuple[Any, ...], list[Any]] = {}
    rows = ix.con.execute("""
        SELECT u, a_device, a_session, a_conv, a_seq, s_at, z_at, a_i, s_i, z_i FROM acked
        WHERE a_conv IN (SELECT unnest(?))
          AND s_session = a_session AND z_session = a_session AND s_device = a_device
        ORDER BY a_i""", [sorted({k[3] for k in suspects})]).fetchall()
    for u, device, session, conv, seq, s_at, z_at, a_i, s_i, z_i in rows:
        if (u, device, session, conv) in suspects:
            groups.setdefault((u, device, session, conv), []).append(
                (seq, s_at, z_at, (a_i, s_i, z_i)))
    found: list[tuple[Any, Any]] = []
    for items in groups.values():
        if len(items) > 1:
            _sweep(items, found)
    for earlier, later in found:
        if not out.tally():
            continue
        a, last_e, b, sent_l = ix.get([earlier[0], earlier[2], later[0], later[1]])
        assert a is not None and b is not None and last_e is not None and sent_l is not None
        out.keep(fifo_sentence(a, b, last_e, sent_l, ix.rel), [last_e, sent_l, a, b])
    return out


def causality_cases(ix: Index, limit: int = 20) -> Cases:
    out = Cases("causality", limit, unit="acked messages")
    out.owe(int(ix.con.execute("SELECT count(*) FROM acked").fetchone()[0]))  # type: ignore[index]
    if unordered(ix.small, out):
        return out
    blind, first_s = ix.con.execute(
        "SELECT count(*), min_by(s_i, a_i) FROM acked WHERE s_seen IS NULL").fetchone()  # type: ignore[misc]
    if blind:
        sent = ix.one(first_s)
        assert sent is not None
        out.skip(BLIND, blind_example(sent), blind)
    for a_i, s_i in ix.con.execute("SELECT a_i, s_i FROM acked WHERE s_seen IS NOT NULL AND "
                                   "NOT a_seq > s_seen ORDER BY a_i").fetchall():
        if not out.tally():
            continue
        ok, sent = ix.get([a_i, s_i])
        assert ok is not None and sent is not None
        shown = _displayed(ix, sent, ok["conv"], sent["seen_seq"])
        out.keep(causality_sentence(sent, ok), [shown, sent, ok])
    return out


def _displayed(ix: Index, sent: dict[str, Any], conv: str, seq: int) -> dict[str, Any] | None:
    row = ix.con.execute("SELECT min(i) FROM events WHERE ev IN ('send_ok', 'deliver') AND "
                         "conv = ? AND seq = ?", [ix.id("conv", conv), seq]).fetchone()
    named = ix.one(row[0] if row else None)
    if named is not None:
        found = ix.con.execute("SELECT h_i FROM held WHERE u = ? AND d = ? AND mid = ?",
                               [ix.id("user", sent["user"]), ix.id("device", sent["device"]),
                                ix.id("mid", named["mid"])]).fetchone()
        copy = ix.one(found[0]) if found else None
        if copy is not None and copy["at"] <= sent["at"]:
            return copy
    return named


__all__ = ["SHOWN", "backwards_cases", "causality_cases", "fifo_cases", "gap_cases",
           "order_cases"]
