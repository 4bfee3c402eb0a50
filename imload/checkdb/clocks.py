"""One timeline across machines for the DuckDB checker: every row's ``at`` on the master's clock.

The reference reader shifts each event's ``at`` in place (``journal.timeline.align``);
the DuckDB checker never holds the events, so it does the same in three steps over
columns:

1. while the journal is read, each batch's ``clock`` and ``clock_offset`` rows (a
   handful per process) are kept as events with their file and place in the file
   (``clock_rows``);
2. once every batch is read, ``timeline.plan`` says each clock source's shift from
   those events alone and the number of events each source wrote (counted here from
   the rows' ``fn``, the file and place every row keeps for the numbering);
3. each row's shift (``Shift``: 0 for the master's and for a run on one clock) is
   added to its ``at`` before the rows are numbered and again as the tables are made.

A row belongs to the source of the latest ``clock`` row before it in its file (the
file's first source before any), as ``align`` has it. Nothing is done, and nothing
costs anything, for a journal without ``clock`` rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from imload.journal.columns import decode
from imload.journal.timeline import plan, sources_of

KINDS = pa.array(["clock", "clock_offset"])
Row = tuple[int, dict[str, Any]]  # (fn: file << shift | place in the file, the event)


def clock_rows(batch: pa.RecordBatch, file_bits: int) -> list[Row]:
    """The batch's ``clock`` and ``clock_offset`` rows as events, each with its ``fn``
    (``file_bits``: its file's number, shifted); [] for a batch without one (most)."""
    found = pc.is_in(batch.column("ev"), value_set=KINDS)
    if not pc.any(found).as_py():
        return []
    numbers, events = decode(batch.filter(found))
    return [(file_bits | n, e) for n, e in zip(numbers, events, strict=True)]


@dataclass
class Shift:
    """What the journal's clocks come to: each row's shift, and ``align``'s summary."""

    per_row: pa.Array | None  # float64, in reading order; None: nothing is shifted
    summary: dict[str, Any] | None  # None: one clock (the verdict says nothing)


def shift_of(rows: list[Row], fns: Sequence[pa.Array], ats: Sequence[pa.Array],
             file_bits: int) -> Shift:
    """The shift of every row (``fns``/``ats``: the rows' ``fn`` and ``at``, in reading
    order) from the journal's clock rows."""
    if not rows:
        return Shift(None, None)
    by_file: dict[int, list[Row]] = {}
    for row in sorted(rows, key=lambda r: r[0]):
        by_file.setdefault(row[0] >> file_bits, []).append(row)
    fn = pa.chunked_array(fns, pa.int64())
    is_event = pc.is_valid(pa.chunked_array(ats, pa.float64()))
    counts: dict[str | None, int] = {}
    spans: list[tuple[pa.ChunkedArray, str | None]] = []
    for f, found in by_file.items():
        for start, end, source in _runs(found, f, file_bits):
            inside = pc.and_(pc.greater_equal(fn, start), pc.less(fn, end))
            counts[source] = counts.get(source, 0) + pc.sum(pc.and_(inside, is_event)).as_py()
            spans.append((inside, source))
    shifts, summary = plan([[e for _, e in found] for found in by_file.values()], counts)
    if not shifts:
        return Shift(None, summary if summary["sources"] > 1 else None)
    per_row = pc.multiply(pc.cast(is_event, pa.float64()), 0.0)  # zeros, one per row
    for inside, source in spans:
        if shifts.get(source):
            per_row = pc.if_else(inside, shifts[source], per_row)
    return Shift(per_row.combine_chunks(), summary)


def _runs(found: list[Row], f: int, file_bits: int) -> list[tuple[int, int, str | None]]:
    """(first fn, end fn, source) of each run of file ``f``'s rows on one source, from its
    clock rows ``found``: ``align``'s source of each row (``timeline.sources_of``) holds
    from its file's start, and each clock row's from that row on."""
    tagged = sources_of([e for _, e in found])
    starts = [f << file_bits] + [fn for fn, e in found if e.get("ev") == "clock"]
    owners = [tagged[0][0]] + [s for s, e in tagged if e.get("ev") == "clock"]
    return list(zip(starts, [*starts[1:], (f + 1) << file_bits], owners, strict=True))
