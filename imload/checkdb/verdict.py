"""The DuckDB checker's verdict: the reference checker's verdict, computed by DuckDB queries.

``duckdb_check(files)`` loads the journal into DuckDB (``db``), asks whether
it is in the class the DuckDB checker judges itself (``scope``), and if so builds the
verdict the reference checker (``imload.check.verdict_of``) would build, byte
for byte: the same counts, figures, anomalies, coverage, sentences and
evidence. Outside the class it hands the journal to the reference checker,
exactly as ``imload verify`` always did, and says why (``CheckInfo.reason``).

The few events that are not messages (devices, sessions, faults, phases,
audits, read markers, declarations, ops and the audit's states, and the first
copy of each membership event) are judged by the reference's own code over a
small history of them (``_small_history``); the messages and the reads stay in
DuckDB (``messages``, ``sequences``, ``reads``), and the groups' membership
timelines, built by the reference over the small history, join them there
(``groups``).
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from imload.check.cases import Cases
from imload.check.coverage import coverage_entry, journal_entry
from imload.check.display import display_order_cases
from imload.check.figures import cost_of, fractions, info_reasons, op_counts
from imload.check.filing import finish
from imload.check.history import _Walk
from imload.check.index import History
from imload.check.integrity import e2e_devices, undecryptable_of
from imload.check.latency import BIN_US, from_bins, reconnect_s, summarize
from imload.check.membership import membership_cases
from imload.check.numbering import numbering
from imload.check.oplog import op_records
from imload.check.ops import op_cases
from imload.check.promises import promised
from imload.check.verdict import CHECKS, check, validity
from imload.checkdb import groups, messages, reads, sequences
from imload.checkdb.db import MEMORY_LIMIT, connect, fetch
from imload.checkdb.index import Index, build_index
from imload.checkdb.load import load, load_events
from imload.checkdb.scope import OP_KINDS, out_of_scope
from imload.checkdb.series import series_of
from imload.checkdb.tables import build_tables
from imload.report.timeseries import Series, build_series

SMALL_KINDS = ("device", "connect", "connected", "connect_failed", "disconnected", "fault",
               "audit", "phase", "marks", "declare", "clock", "clock_offset", "joined",
               *OP_KINDS)


@dataclass
class CheckInfo:
    checker: str = "duckdb"  # "duckdb", or "reference" when the journal is out of scope
    reason: str | None = None  # why the reference judged it
    seconds: dict[str, float] = field(default_factory=dict)  # load, scope, tables, checks
    series: Series | None = None  # the report's per-second series, when asked for


def duckdb_check(files: Sequence[Path] | None = None, *,
                 events: Sequence[dict[str, Any]] | None = None, max_examples: int = 20,
                 memory_limit: str = MEMORY_LIMIT, threads: int | None = None,
                 con: duckdb.DuckDBPyConnection | None = None, series: bool = False,
                 timeline: dict[str, Any] | None = None) -> tuple[dict[str, Any], CheckInfo]:
    """The verdict of the journal in ``files`` (or of ``events``), and how it was reached
    (with the report's series in ``info.series`` when ``series`` is asked for).
    ``timeline``: how given ``events`` were put on one clock (the reference's argument);
    files are put on one as they are read."""
    info = CheckInfo()
    con = con or connect(memory_limit, threads, on_disk=events is None)
    t = time.perf_counter()
    loaded = load_events(con, events) if events is not None else load(con, files or [])
    info.seconds["load"] = time.perf_counter() - t
    t = time.perf_counter()
    info.reason = ("unreadable lines (the reference names them)" if loaded.bad_lines
                   else "rows that are not events (the reference names them)"
                   if loaded.not_events else out_of_scope(con, tables=False))
    info.seconds["scope"] = time.perf_counter() - t
    if info.reason is None:
        t = time.perf_counter()
        build_tables(con)
        info.seconds["tables"] = time.perf_counter() - t
        t = time.perf_counter()
        info.reason = out_of_scope(con, tables=True)
        info.seconds["scope"] += time.perf_counter() - t
    if info.reason is not None:
        info.checker = "reference"
        con.close()
        verdict, journal = _reference(files, events, max_examples, timeline)
        if series:
            info.series = build_series(journal, verdict)
        return verdict, info
    t = time.perf_counter()
    ix = build_index(con)
    small = _small_events(ix)
    verdict = _verdict(ix, small, max_examples)
    if (timeline := loaded.timeline if events is None else timeline) is not None:
        verdict["journal"]["timeline"] = timeline
    info.seconds["checks"] = time.perf_counter() - t
    if series:
        t = time.perf_counter()
        info.series = series_of(ix, small, verdict)
        info.seconds["series"] = time.perf_counter() - t
    con.close()
    return verdict, info


def _reference(files: Sequence[Path] | None, events: Sequence[dict[str, Any]] | None,
               max_examples: int, timeline: dict[str, Any] | None
               ) -> tuple[dict[str, Any], Sequence[dict[str, Any]]]:
    if events is not None:
        return check(events, max_examples=max_examples, timeline=timeline), events
    from imload.journal.reader import read_files
    journal = read_files(list(files or []))
    return check(journal.events, bad_lines=journal.bad_lines, max_examples=max_examples,
                 **journal.check_options()), journal.events


def _small_events(ix: Index) -> list[dict[str, Any]]:
    """The events that are not messages (devices, sessions, faults, phases, audits, read
    markers, declarations), in journal order."""
    kinds = ", ".join(f"'{k}'" for k in SMALL_KINDS)
    indices = [r[0] for r in ix.con.execute(
        f"SELECT i FROM events WHERE ev IN ({kinds}) ORDER BY i").fetchall()]
    found = fetch(ix.con, indices, ("other",))
    return [found[i] for i in indices]


def _small_history(ix: Index, small: list[dict[str, Any]]) -> History:
    """The non-message events, walked by the reference (its own filing and checks)."""
    h = History()
    paused = gc.isenabled()
    gc.disable()
    try:
        _Walk(h).run(small, ordered=False)
    finally:
        if paused:
            gc.enable()
    groups.events_of(ix, h)
    h.events = ix.events
    h.t_end = ix.t_end
    first = ix.con.execute("SELECT min_by(\"at\", i) FROM events").fetchone()[0]  # type: ignore[index]
    finish(h, first)
    return h


def _verdict(ix: Index, events: list[dict[str, Any]], max_examples: int) -> dict[str, Any]:
    small = ix.small = _small_history(ix, events)
    groups.build(ix)
    declared = numbering(small)
    counts = messages.count_figures(ix)
    counts.update(op_counts(small))
    counts.update(reads.counts(ix))
    fan = messages.fan_out(ix)
    counts["expected_deliveries"] = fan.expected
    limit = max_examples
    found: dict[str, Cases] = {
        "lost": messages.lost_cases(ix, fan, limit),
        "partial": messages.partial_cases(ix, limit),
        "duplicated": messages.duplicated_cases(ix, counts["acked"], counts["recovered"], limit),
        "phantom": messages.phantom_cases(ix, counts["delivered"], limit),
        "aborted": messages.aborted_cases(ix, counts["failed"], limit),
        "corrupted": messages.corrupted_cases(ix, counts["delivered"], limit),
        # in scope, no copy failed authentication (``scope``): the applicability and the due
        "undecryptable": undecryptable_of([], e2e_devices(small), counts["delivered"], limit),
        "order": sequences.order_cases(ix, limit),
        "gap": sequences.gap_cases(ix, declared, limit),
        "backwards": sequences.backwards_cases(ix, limit),
        "fifo": sequences.fifo_cases(ix, limit),
        "causality": sequences.causality_cases(ix, limit),
        "read_sync": reads.read_sync_cases(ix, small, limit),
        "op": op_cases(small, limit),
        "display_order": display_order_cases(small, limit),
        "membership": membership_cases(small, limit),
    }
    assert list(found) == list(CHECKS), "the reference's checks, in its order"
    promises = promised(small, CHECKS)
    anomalies = {kind: cases.count for kind, cases in found.items()}
    counts["unexpected"] = anomalies["phantom"]
    coverage = {kind: coverage_entry(cases) for kind, cases in found.items()}
    coverage["journal"] = journal_entry(ix.events, [], [], 0)
    valid, unknown = validity(anomalies, coverage, counts, promises)
    slo: list[dict[str, Any]] = []
    return {
        "valid": valid,
        "promises": list(promises),
        "passed": valid is True and all(s.get("passed") for s in slo),
        "counts": counts,
        "fractions": fractions(counts, anomalies, fan.missed),
        "anomalies": anomalies,
        "coverage": coverage,
        "unknown": unknown,
        "examples": {kind: cases.examples for kind, cases in found.items()},
        "latency_ms": _latency(ix, small),
        "cost": cost_of(counts, counts["acked"],
                        sum(rec.attempts for rec in op_records(small).values())),
        "info_reasons": _info_reasons(ix, small),
        "over_time": {"unseen": _unseen(ix)},
        "faults": small.faults,
        "phases": small.phases,
        "slo": slo,
        "journal": {"events": ix.events, "bad_lines": [], "bad_events": []},
    }


def _info_reasons(ix: Index, small: History) -> dict[str, dict[str, int]]:
    """The sends' from the queries, the ops' by the reference over the small history."""
    out = messages.info_reasons(ix)
    ops = info_reasons(small)
    out["op"], out["op_fail"] = ops["op"], ops["op_fail"]
    return out


def _binned(ix: Index, samples: str) -> dict[str, Any]:
    """``summarize`` of the samples ``x`` a query gives, binned by DuckDB."""
    rows = ix.con.execute(f"""
        WITH s AS ({samples})
        SELECT CAST(trunc(x * CAST({1e6 / BIN_US!r} AS DOUBLE) + 0.5) AS BIGINT) AS b, count(*),
               max(max(x)) OVER (), sum(count(*)) OVER () FROM s GROUP BY b""").fetchall()
    if not rows:
        return from_bins({}, None, 0)
    return from_bins({b: n for b, n, _, _ in rows}, rows[0][2], int(rows[0][3]))


# A copy's connection: its latest ``connected`` before it (``ASOF``). When every connection
# logged in once (one ``connected`` per device and session: most runs), an equality join
# finds the same, without sorting the copies.
E2E = """
    CREATE TEMP TABLE e2e AS
    SELECT h.h_at - s.s_at AS x, coalesce(c.c_at > s.s_at, false) AS away
    FROM held h
    {join} (SELECT "user" AS u, device AS d, session, i AS c_i, "at" AS c_at
            FROM other WHERE ev = 'connected') c
      ON c.u = h.u AND c.d = h.d AND c.session = h.session AND h.h_i > c.c_i
    JOIN snd s ON s.u = h.frm AND s.cmid = h.cmid
    JOIN cv ON cv.c = h.conv
    WHERE cv.direct AND (h.u = cv.a OR h.u = cv.b)"""
RELOGGED = """SELECT count(*) FROM (SELECT 1 FROM other WHERE ev = 'connected'
                                    GROUP BY "user", device, session HAVING count(*) > 1)"""


def _latency(ix: Index, small: History) -> dict[str, dict[str, Any]]:
    """``latency.latency_figures``; e2e split as ``DeviceLog.was_away`` does: away when the
    copy's connection logged in (its latest ``connected`` before the copy) after the first
    attempt."""
    relogged = ix.con.execute(RELOGGED).fetchone()[0]  # type: ignore[index]
    e2e = E2E.format(join="ASOF LEFT JOIN" if relogged else "LEFT JOIN")
    ix.con.execute(e2e + (" UNION ALL " + groups.E2E if ix.groups else ""))
    return {
        "ack": _binned(ix, "SELECT a_at - s_at AS x FROM acked"),
        "e2e": _binned(ix, "SELECT x FROM e2e"),
        "push": _binned(ix, "SELECT x FROM e2e WHERE NOT away"),
        "away": _binned(ix, "SELECT x FROM e2e WHERE away"),
        "stable": _binned(ix, "SELECT done_at - a_at AS x FROM acked "
                              "WHERE judged AND copies = wanted"),
        "reconnect": summarize(reconnect_s(small)),
        "catchup": _binned(ix, """
            WITH w AS (SELECT "user" AS u, device AS d, session, max_by(inbox_seq, i) AS top,
                              max_by("at", i) AS at0
                       FROM events WHERE ev = 'connected' AND inbox_seq > acked GROUP BY ALL)
            SELECT min_by(h.h_at, h.h_i) - w.at0 AS x FROM w
            JOIN held h ON h.u = w.u AND h.d = w.d AND h.session = w.session
              AND h.useq >= w.top
            GROUP BY w.u, w.d, w.session, w.at0"""),
        "read_sync": _binned(ix, reads.LATENCY),
    }


def _unseen(ix: Index) -> list[dict[str, float | int]]:
    """``figures.unseen_over_time``: acked messages not yet on every expected device."""
    rows = ix.con.execute("""
        WITH s AS (SELECT ceil(a_at - $t0) AS start,
                          CASE WHEN copies = wanted THEN greatest(ceil(done_at - $t0),
                               ceil(a_at - $t0)) END AS stop
                   FROM acked WHERE judged)
        SELECT 1 AS sign, start AS t, count(*) FROM s GROUP BY start
        UNION ALL
        SELECT -1, stop, count(*) FROM s WHERE stop IS NOT NULL GROUP BY stop""",
                          {"t0": ix.t0}).fetchall()
    if not rows:
        return []
    end = max(0, math.ceil(ix.t_end - ix.t0))
    delta = [0] * (end + 2)
    for sign, t, n in rows:
        delta[min(end + 1, max(0, int(t)))] += sign * n
    out, running = [], 0
    for t in range(end + 1):
        running += delta[t]
        out.append({"t_s": t, "unseen": running})
    return out
