"""The report's per-second series (``report.timeseries.build_series``) from the DuckDB checker's
tables: the message series as queries, the rest by the reference's own code.

The message kinds are bucketed by DuckDB (sent, attempts, failed, delivered,
and the ack and e2e samples, whose two nearest-rank percentiles per second are
picked from each second's sorted list, not a Python sort); the devices, connections, faults and
phases come from the few non-message events, walked by ``add_state`` exactly as
``build_series`` walks them. The result equals ``build_series`` on the same
journal (``tests/test_checkdb_series.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from imload.checkdb.db import q
from imload.checkdb.index import Index
from imload.report.timeseries import Series, add_state, seconds_of

QUANTILES = (50, 99)  # the p50 and p99 of ``build_series``
AT = q("at")


def series_of(ix: Index, small: Sequence[dict[str, Any]],
              verdict: dict[str, Any] | None) -> Series:
    """The series of the journal in ``ix`` (its tables built), ``small`` its non-message
    events in journal order."""
    if not ix.events:
        return Series(t0=0.0, seconds=0, unseen=None)
    n = seconds_of(ix.t0, ix.t_end)
    s = Series(t0=ix.t0, seconds=n, sent=[0] * n, attempts=[0] * n, failed=[0] * n,
               delivered=[0] * n)

    def bucket(at: str) -> str:
        return f"least({n - 1}, greatest(0, trunc({at} - $t0)))::BIGINT"

    counts = {
        "attempts": f"SELECT {bucket(AT)} AS b, count(*) FROM send GROUP BY b",
        "failed": f"SELECT {bucket(AT)} AS b, count(*) FROM other "
                  "WHERE ev IN ('send_fail', 'send_info') GROUP BY b",
        "sent": f"SELECT {bucket('a_at')} AS b, count(*) FROM ack GROUP BY b",
        "delivered": f"SELECT {bucket('h_at')} AS b, count(*) FROM held "
                     "GROUP BY b",
    }
    for name, sql in counts.items():
        column = getattr(s, name)
        for b, count in ix.con.execute(sql, {"t0": ix.t0}).fetchall():
            column[b] = count
    s.ack_p50, s.ack_p99 = _percentiles(ix, n, f"""
        SELECT {bucket('a_at')} AS b, greatest(0.0, a.a_at - s.s_at) AS v
        FROM ack a JOIN snd s USING (u, cmid) WHERE s.s_i < a.a_i""")
    s.e2e_p50, s.e2e_p99 = _percentiles(ix, n, f"""
        SELECT {bucket('h_at')} AS b, greatest(0.0, h.h_at - s.s_at) AS v
        FROM held h JOIN snd s ON s.u = h.frm AND s.cmid = h.cmid WHERE s.s_i < h.h_i""")
    add_state(s, small, verdict)
    return s


SAMPLES_AT_ONCE = 2_000_000  # samples whose lists one query holds (8 bytes each, and more)


def _percentiles(ix: Index, n: int, samples: str
                 ) -> tuple[list[float | None], list[float | None]]:
    """Per second, ``percentile(sorted samples, q)`` for each of ``QUANTILES``: the sample of
    rank max(1, ceil(q / 100 * count)), in milliseconds rounded as ``build_series`` does.

    A second's samples are listed and sorted together, seconds of at most
    ``SAMPLES_AT_ONCE`` samples at a time (more than that, as lists at once, outgrew a
    550 MB limit with a group chat's 13M copies)."""
    ix.con.execute(f"CREATE OR REPLACE TEMP TABLE samples_ AS {samples}", {"t0": ix.t0})
    out: list[list[float | None]] = [[None] * n for _ in QUANTILES]
    picks = ", ".join(f"l[greatest(1, ceil(CAST({q} AS DOUBLE) / 100 * c))::BIGINT]"
                      for q in QUANTILES)
    for lo, hi in _spans(ix.con.execute(
            "SELECT b, count(*) FROM samples_ GROUP BY b ORDER BY b").fetchall()):
        rows = ix.con.execute(f"""
            WITH x AS (SELECT b, count(*) AS c, list_sort(list(v)) AS l FROM samples_
                       WHERE b BETWEEN $lo AND $hi GROUP BY b)
            SELECT b, {picks} FROM x""", {"lo": lo, "hi": hi}).fetchall()
        for b, *values in rows:
            for k, v in enumerate(values):
                out[k][b] = round(v * 1000, 3)
    ix.con.execute("DROP TABLE samples_")
    return out[0], out[1]


def _spans(counts: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Runs of consecutive seconds (first, last) of at most ``SAMPLES_AT_ONCE`` samples each
    (a second of more is a run of its own)."""
    spans: list[tuple[int, int]] = []
    held = 0
    for b, c in counts:
        if spans and held + c <= SAMPLES_AT_ONCE:
            spans[-1] = (spans[-1][0], b)
            held += c
        else:
            spans.append((b, b))
            held = c
    return spans
