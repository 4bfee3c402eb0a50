"""Read markers as queries: the ``read_sync`` anomaly (``check.reads``), its latency and counts.

A run reads about as often as it sends (``read_share`` of the messages a person
gets, each ``read`` with its ``read_ok`` and a ``read_sync`` per other device),
so the read events stay in DuckDB, as the messages do; only ``marks`` (one per
login and audit, not per message) are walked in Python, by the reference's own
code where it can be (``diverged``, the readers' coverage, the session starts).

- went down: the values each (user, conv) received (``read_ok``, ``read_sync``,
  and the ``marks`` of the user's known conversations, 0 where absent) in the
  reference's merged order (``at``, then read, read_ok, read_sync, marks, then
  journal order); a request is judged against the highest value received
  strictly before it was made: the rises of that running maximum (few) are
  joined to the requests ``ASOF`` on time. A ``read_ok`` answers the oldest
  pending ``read`` of its connection and conversation; in scope (``scope_problem``)
  the n-th ``read_ok`` always finds the n-th ``read`` journaled before it, so the
  pairing is by rank.
- pushed down, unheld: a window (``lag``) and two joins.
- the marks' expanded rows (one per conversation the user has seen) are made in
  Python and joined as a small table (``mk``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import duckdb
import pyarrow as pa

from imload.check.cases import Cases
from imload.check.index import History
from imload.check.numbering import seq_opaque
from imload.check.reads import (
    MARKERS_ARE_LABELS,
    _starts,
    diverged,
    owe_readers,
    pushed_down_sentence,
    unheld_sentence,
    went_down_sentence,
)
from imload.checkdb.index import Index

READ_KINDS = ("read", "read_ok", "read_sync", "receipt")

# n-th read_ok of a connection and conversation with its n-th read (see the docstring)
PAIRS = """
    CREATE OR REPLACE TEMP TABLE rd_pairs AS
    WITH r AS (SELECT "user" AS u, device AS d, session AS s, conv, i, "at",
                      row_number() OVER (PARTITION BY "user", device, session, conv
                                         ORDER BY i) AS n
               FROM other WHERE ev = 'read'),
         o AS (SELECT "user" AS u, device AS d, session AS s, conv, i, "at", upto,
                      row_number() OVER (PARTITION BY "user", device, session, conv
                                         ORDER BY i) AS n
               FROM other WHERE ev = 'read_ok')
    SELECT o.u, o.conv, o.i AS e_i, o."at" AS e_at, o.upto AS v, r.i AS inv_i,
           r."at" AS start
    FROM o LEFT JOIN r USING (u, d, s, conv, n)"""


def scope_problem(con: duckdb.DuckDBPyConnection) -> str | None:
    """Why the read checks cannot be judged here (a ``read_ok`` with no ``read`` pending)."""
    con.execute(PAIRS)
    bad = con.execute("SELECT count(*) FROM rd_pairs WHERE inv_i IS NULL OR start > e_at"
                      ).fetchone()[0]  # type: ignore[index]
    return "a read_ok with no read pending (read order: not ported yet)" if bad else None


def counts(ix: Index) -> dict[str, int]:
    reads, oks = ix.con.execute("SELECT count(*) FILTER (WHERE ev = 'read'), count(*) FILTER "
                                "(WHERE ev = 'read_ok') FROM other").fetchone()  # type: ignore[misc]
    return {"reads": reads, "reads_ok": oks}


# read_sync latency (``latency.read_sync_s``): each push to the first read_ok it answers
LATENCY = """
    SELECT p."at" - o."at" AS x
    FROM (SELECT "user" AS u, conv, device AS d, upto, min_by("at", i) AS "at"
          FROM other WHERE ev = 'read_ok' GROUP BY ALL) o
    JOIN other p ON p.ev = 'read_sync' AND p."user" = o.u AND p.conv = o.conv
      AND p.from_device = o.d AND p.upto = o.upto"""


def read_sync_cases(ix: Index, small: History, limit: int = 20) -> Cases:
    """``reads.read_sync_cases``."""
    out = Cases("read_sync", limit, unit="users who read")
    kinds = ", ".join(f"'{k}'" for k in (*READ_KINDS, "marks"))
    readers = set(ix.dicts.names("user", [r[0] for r in ix.con.execute(
        f"SELECT DISTINCT \"user\" FROM other WHERE ev IN ({kinds})").fetchall()]))
    judged_here = owe_readers(small, out, readers)
    if seq_opaque(small):
        if judged_here:
            out.skip(*MARKERS_ARE_LABELS, judged_here)
    else:
        _went_down(ix, small, out)
        _pushed_down(ix, out)
    diverged(small, out)
    if "read" in ix.kinds:  # (no join over the copies for a run without reads)
        _unheld(ix, out)
    return out


def _marks_rows(ix: Index, small: History) -> Iterator[tuple[Any, ...]]:
    """The ``marks`` as ``went_down`` expands them: per marks event, per conversation the
    user has seen so far (a value received, or an earlier marks) or this one names, in
    sorted order: (u, conv, at, i, sub, value, start) with start None when not asked."""
    marks = small.kind("marks")
    if not marks:
        return
    starts = _starts(small)
    seen: dict[str, list[tuple[float, str]]] = {}  # user -> (first received at, conv)
    rows = ix.con.execute("""
            SELECT "user", conv, min("at") FROM other
            WHERE ev IN ('read_ok', 'read_sync')
              AND "user" IN (SELECT DISTINCT "user" FROM other WHERE ev = 'marks')
            GROUP BY ALL ORDER BY 3""").fetchall()
    for u, conv, at in ix.dicts.named(rows, "user", "conv"):
        seen.setdefault(u, []).append((at, conv))
    indices = ix.con.execute("SELECT i FROM other WHERE ev = 'marks' ORDER BY i").fetchall()
    named: dict[str, set[str]] = {}
    taken: dict[str, int] = {}
    for (i,), e in zip(indices, marks, strict=True):
        user, at = e["user"], e["at"]
        values = e["marks"] if isinstance(e["marks"], dict) else {}
        convs = named.setdefault(user, set())
        firsts = seen.get(user, [])
        k = taken.get(user, 0)
        while k < len(firsts) and firsts[k][0] <= at:  # received at or before (merged order)
            convs.add(firsts[k][1])
            k += 1
        taken[user] = k
        start = starts.get((user, e["device"], e["session"]))
        for sub, conv in enumerate(sorted(convs | set(values))):
            yield user, conv, at, i, sub, int(values.get(conv, 0)), start
        convs.update(values)


MK = pa.schema([("u", pa.int32()), ("conv", pa.int32()), ("at", pa.float64()),
                ("i", pa.int64()), ("sub", pa.int64()), ("v", pa.int64()),
                ("start", pa.float64())])

WENT_DOWN = """
    WITH recv AS (
      SELECT "user" AS u, conv, "at", CASE ev WHEN 'read_ok' THEN 1 ELSE 2 END AS rank, i,
             upto AS v FROM other WHERE ev IN ('read_ok', 'read_sync')
      UNION ALL SELECT u, conv, "at", 3, i, v FROM mk),
    w AS (SELECT *, max(v) OVER (PARTITION BY u, conv ORDER BY "at", rank, i
                                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before
          FROM recv),
    rises AS (SELECT u, conv, "at", max(v) AS top, arg_max(i, v) AS top_i FROM w
              WHERE before IS NULL OR v > before GROUP BY ALL),
    asked AS (
      SELECT start, u, conv, v, e_i, inv_i, e_at AS k_at, 1 AS rank, 0 AS sub FROM rd_pairs
      UNION ALL SELECT start, u, conv, v, i, NULL, "at", 3, sub FROM mk
      WHERE start IS NOT NULL)
    SELECT a.e_i, a.inv_i, r.top_i, a.start, a.conv, a.sub FROM asked a
    ASOF JOIN rises r ON a.u = r.u AND a.conv = r.conv AND a.start > r."at"
    WHERE a.v < r.top ORDER BY a.k_at, a.rank, a.e_i, a.sub"""


def _went_down(ix: Index, small: History, out: Cases) -> None:
    """(The marks name conversations no other event may name: those get ids of their own,
    past the dictionary's.)"""
    names: dict[int, str] = {}
    ids: dict[str, int] = {}

    def conv_id(conv: str) -> int:
        found = ids.get(conv)
        if found is None:
            known = ix.id("conv", conv)
            found = ids[conv] = len(ix.dicts.arrays["conv"]) + len(names) \
                if known is None else known
            names[found] = conv
        return found

    columns = list(zip(*_marks_rows(ix, small), strict=True)) or [() for _ in MK.names]
    rows = pa.table([
        [ix.id("user", u) for u in columns[0]],
        [conv_id(conv) for conv in columns[1]], *columns[2:]], schema=MK)
    ix.con.register("mk", rows)
    try:
        found = ix.con.execute(WENT_DOWN).fetchall()
    finally:
        ix.con.unregister("mk")
    for e_i, inv_i, top_i, start, conv_i, _ in found:
        if not out.tally():
            continue
        conv = names[conv_i] if conv_i in names else ix.name("conv", conv_i)
        e, invoke, top = ix.get([e_i, inv_i, top_i])
        assert e is not None and top is not None
        out.keep(went_down_sentence(conv, e["user"], top, _value(top, conv), e, start,
                                    _value(e, conv), ix.rel), [top, invoke, e])


def _value(e: dict[str, Any], conv: str) -> Any:
    """The marker value an event carries for ``conv`` (as the reference reads it)."""
    if e["ev"] == "marks":
        marks = e["marks"] if isinstance(e["marks"], dict) else {}
        return marks.get(conv, 0)
    return e["upto"]


def _pushed_down(ix: Index, out: Cases) -> None:
    for prev_i, i in ix.con.execute("""
            SELECT prev_i, i FROM (
              SELECT i, "at", ev, upto, lag(i) OVER w AS prev_i, lag(upto) OVER w AS prev
              FROM other WHERE ev IN ('read_sync', 'receipt')
              WINDOW w AS (PARTITION BY ev, "user", device, session, conv, reader ORDER BY i))
            WHERE upto < prev ORDER BY "at", ev = 'receipt', i""").fetchall():
        if out.tally():
            prev, e = ix.get([prev_i, i])
            assert prev is not None and e is not None
            out.keep(pushed_down_sentence(prev, e, ix.rel), [prev, e])


def _unheld(ix: Index, out: Cases) -> None:
    """In scope a (conv, seq) names one mid (``names``), so the device's first copy of it
    is the only copy of that seq it can hold."""
    for i, h_i in ix.con.execute("""
            SELECT r.i, h.h_i FROM other r
            LEFT JOIN names n ON n.conv = r.conv AND n.seq = r.upto
            LEFT JOIN held h ON h.u = r."user" AND h.d = r.device AND h.mid = n.mid
            WHERE r.ev = 'read' AND r.upto > 0 AND (h.h_i IS NULL OR h.h_at > r."at")
            ORDER BY r.i""").fetchall():
        if not out.tally():
            continue
        e, copy = ix.get([i, h_i])
        assert e is not None
        row = ix.con.execute("SELECT min(i) FROM events WHERE ev IN ('send_ok', 'deliver') "
                             "AND conv = ? AND seq = ?", [ix.id("conv", e["conv"]), e["upto"]]
                             ).fetchone()
        named = ix.one(row[0] if row else None)
        out.keep(unheld_sentence(e, named, copy, ix.rel), [e, named, copy])
