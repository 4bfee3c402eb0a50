"""Loading a journal into DuckDB, numbered in the reference checker's order.

``read_journal`` orders events by ``at``, ties by file then by place in the
file. ``load`` reads the journal once (``_Split``):

1. each batch keeps its rows' ``at`` and ``fn`` (its file's number and its place
   in the file, ``f << 40 | n``) and is split by table (``db.NARROW``: the
   message kinds, most of a journal, get narrow tables; everything else goes to
   ``other`` with every column) into parts, runs of its rows, spooled to a file
   in the database's folder: the columns not null in every row, the coded ones
   (``db.FAMILY``) as indices into the part's own dictionaries (kept in memory);
2. the pairs are sorted in Arrow: the inverse of that permutation is every
   event's number ``i`` (a part's rows are a run of the reading order: their
   numbers are a slice of it);
3. each family's dictionaries are unified into one (``unify``: the ids, the same
   in every table and column of the family, and each part's index to id);
4. each table is made from its parts read back from the spool, with their ``i``
   and ids, a million rows at a time (a column null in every row of a table is
   a constant ``NULL``).

The spool keeps memory to the pairs, the dictionaries and a million rows: held
in memory, the parts took the chat mix's 500k messages past 1 GiB.

The coded columns (``db.FAMILY``: users, devices, conversations, mids, cmids,
digests, and the few-valued ``keys``, ``via``, ``phase`` and ``kind``) go to the
database as integers; the dictionaries stay in Arrow (``db.names_of``), so every
join and grouping in DuckDB is over integers and a string is made only for the
few events a verdict shows.

No join, no sort inside the database. A JSON lines file is encoded by the
columnar writer's encoder (so both forms give the same rows). Rows whose ``at``
is not a number are left out (not events, as ``read_journal`` says).
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from imload.checkdb.clocks import Row, Shift, clock_rows, shift_of
from imload.checkdb.db import (
    COLUMNS,
    FAMILY,
    NARROW,
    STORED,
    TABLES,
    Loaded,
    Names,
    count,
    folder_of,
    q,
    set_names,
)
from imload.journal.columnar import SUFFIX, batches_of
from imload.journal.columns import RAW_KEYS, SCHEMA, TYPES, encode, group_rows, schema_of
from imload.journal.reader import _is_event, jsonl_events

CHUNK = 65536  # JSON lines encoded per batch
AHEAD = 4  # batches read ahead of their spooling (each held until spooled)
TABLE_ROWS = 1 << 20  # rows read back from the spool and inserted at a time
FILE_SHIFT = 40  # events per file below 2**40
TYPED = frozenset(TYPES)  # a key list's fields that need a column (the rest go to extra)
CORE = ("n", "keys", "ev", "at")  # the columns a batch is split by (``_split``)
_NO_AT = pa.array([], pa.float64())
# compute functions get typed scalars: a Python int costs ~70 us a call (pyarrow looks for numpy)
_NOWHERE, _FIRST, _OTHER = (pa.scalar(k, pa.int32()) for k in (-1, 0, len(NARROW)))


def load(con: duckdb.DuckDBPyConnection, files: Sequence[Path]) -> Loaded:
    """Read ``files`` (in ``read_journal``'s order) into the tables."""
    out = Loaded(files=list(files))
    sources: list[Iterator[pa.RecordBatch]] = [
        batches_of(path, out.bad_lines) if path.name.endswith(SUFFIX)
        else _jsonl_batches(path, out.bad_lines) for path in files]
    out.events, out.timeline = _load(con, sources, align=True)
    return out


def load_events(con: duckdb.DuckDBPyConnection, events: Sequence[dict[str, Any]]) -> Loaded:
    """``events`` (a journal already in memory, e.g. a test's), as one file."""
    out = Loaded(files=[])
    kept = [e for e in events if _is_event(e)]
    out.not_events = len(events) - len(kept)
    batches = (encode(group_rows(kept[start:start + CHUNK], start))
               for start in range(0, len(kept), CHUNK))
    out.events, _ = _load(con, [batches], align=False)  # (given on one timeline)
    return out


def _load(con: duckdb.DuckDBPyConnection, sources: list[Iterator[pa.RecordBatch]],
          align: bool) -> tuple[int, dict[str, Any] | None]:
    """Load the batches of each file of ``sources``; (events, the timeline's summary when
    ``align`` put several clocks on one, else None)."""
    spool = os.path.join(folder_of(con), "spool.arrows")
    split = _Split(spool)
    for f, batches in enumerate(sources):
        for batch in batches:
            split.add(batch, f)
    split.finish()
    if align:
        split.shift = shift_of(split.clocks, split.fns, split.ats, FILE_SHIFT)
    with ThreadPoolExecutor(1) as pool:  # the sort beside the union (each frees the GIL)
        numbered = pool.submit(split.numbers)
        set_names(con, split.unify())
        numbers, events = numbered.result()
    _write_tables(con, split.parts, numbers, spool, split.shift.per_row)
    os.remove(spool)
    con.execute("CREATE VIEW events AS " + " UNION ALL BY NAME ".join(
        f"SELECT *{'' if t == 'other' else f', {chr(39)}{t}{chr(39)} AS ev'} FROM {t}"
        for t in TABLES))
    return events, split.shift.summary


# the narrow tables drop ``ev`` (their name says it) and ``n``
COLUMNS_OF = {**{t: ["keys", "at", *cols, "extra"] for t, cols in NARROW.items()},
              "other": COLUMNS}
_ALLOWED = {t: {*cols, "ev"} for t, cols in COLUMNS_OF.items()}
_KINDS = pa.array(list(NARROW))


@dataclass
class _Part:
    """A run of one batch's rows bound for one table, spooled: ``pos`` the first one's
    place in the reading order; ``schema`` its columns not null in every row (the coded
    ones as indices into ``codes``' dictionaries), ``at`` and ``size`` its place in the
    spool. ``codes``: per coded column, its dictionary (indices 0, 1, 2, ...); after
    ``_Split.unify``, each of those indices' id."""

    table: str
    pos: int
    rows: int
    schema: pa.Schema
    at: int
    size: int
    codes: dict[str, pa.Array]


class _Split:
    """The journal read once: every row's ``at`` and ``fn`` (``numbers``), its rows split
    by table (``parts``, in reading order, spooled to a file), the coded columns'
    dictionaries (``unify``)."""

    def __init__(self, spool: str) -> None:
        self.ats: list[pa.Array] = []
        self.fns: list[pa.Array] = []
        self.offset = 0
        self.parts: list[_Part] = []
        self.clocks: list[Row] = []  # the clock and clock_offset rows (``clocks``)
        self.shift = Shift(None, None)  # each row's ``at`` onto the master's clock
        self.spool = pa.OSFile(spool, "wb")
        self.lock = threading.Lock()
        # batches are split and spooled on threads of their own while the next one is read
        self.pool = ThreadPoolExecutor(2)  # (Arrow frees the GIL)
        self.pending: deque[Future[tuple[pa.Array, pa.Array, list[_Part], list[Row]]]] = \
            deque()

    def add(self, batch: pa.RecordBatch, f: int) -> None:
        """Split a batch, ``f``'s, on a worker (``_split``); results taken in order."""
        self.pending.append(self.pool.submit(self._split, batch, f, self.offset))
        self.offset += batch.num_rows
        while len(self.pending) > AHEAD:
            self._take()

    def _take(self) -> None:
        at, fn, parts, clocks = self.pending.popleft().result()
        self.ats.append(at)
        self.fns.append(fn)
        self.parts.extend(parts)
        self.clocks += clocks

    def _split(self, batch: pa.RecordBatch, f: int,
               offset: int) -> tuple[pa.Array, pa.Array, list[_Part], list[Row]]:
        """A batch's ``at`` and ``fn``, and its parts. A message event goes to its own table
        when its key list fits it (decided once per distinct key list, the batch's ``keys``
        dictionary), else to ``other``; rows that are not events go nowhere. The writer keeps
        a batch's rows grouped by key list, so a table's rows come in a few runs."""
        batch = on_schema(batch)
        at = batch.column("at")
        keys = batch.column("keys")
        names = keys.dictionary.to_pylist()
        kind = pc.fill_null(pc.index_in(batch.column("ev"), value_set=_KINDS), _NOWHERE)
        fits = [k is not None and k != RAW_KEYS and set(k.split(",")) & TYPED
                <= _ALLOWED[t] for t in NARROW for k in names]
        code = pc.add(pc.multiply(pc.max_element_wise(kind, _FIRST),
                                  pa.scalar(len(names), pa.int32())), keys.indices)
        placed = pc.and_(pc.greater_equal(kind, _FIRST),
                         pc.fill_null(pc.take(pa.array(fits, pa.bool_()), code),
                                      pa.scalar(False)))
        where = pc.if_else(placed, kind, _OTHER)
        where = pc.if_else(pc.is_valid(at), where, _NOWHERE)  # (numbered after every event)
        runs = pc.run_end_encode(where)
        start, cuts = 0, []
        for end, t in zip(runs.run_ends.to_pylist(), runs.values.to_pylist(), strict=True):
            if t >= 0:
                cuts.append((TABLES[t], start, end - start))
            start = end
        # at: a copy (a slice would hold the whole batch's memory)
        return (pa.concat_arrays([at, _NO_AT]),
                pc.add(batch.column("n"), pa.scalar(f << FILE_SHIFT, pa.int64())),
                self._cut(batch, cuts, offset), clock_rows(batch, f << FILE_SHIFT))

    def _cut(self, batch: pa.RecordBatch, cuts: list[tuple[str, int, int]],
             offset: int) -> list[_Part]:
        parts = []
        present = set(batch.schema.names)
        for table, start, rows in cuts:
            arrays, names, codes = [], [], {}
            for name in COLUMNS_OF[table]:
                if name not in present:  # (a column no row of the batch has)
                    continue
                col = batch.column(name).slice(start, rows)
                if col.null_count == rows:
                    continue
                if name in FAMILY:
                    if not pa.types.is_dictionary(col.type):
                        col = col.dictionary_encode()
                    codes[name] = pa.DictionaryArray.from_arrays(count(len(col.dictionary)),
                                                                 col.dictionary)
                    col = col.indices
                arrays.append(col)
                names.append(name)
            data = pa.RecordBatch.from_arrays(arrays, names=names)
            message = data.serialize()  # (only the run's rows)
            with self.lock:
                at = self.spool.tell()
                self.spool.write(message)
            parts.append(_Part(table, offset + start, rows, data.schema, at, message.size,
                               codes))
        return parts

    def finish(self) -> None:
        """Every part spooled."""
        while self.pending:
            self._take()
        self.pool.shutdown()
        self.spool.close()

    def numbers(self) -> tuple[pa.Array, int]:
        """Every row's number in the reference order (rows in reading order), and how many
        rows are events (those whose ``at`` is a number: numbered first)."""
        if not self.ats:
            return pa.array([], pa.int64()), 0
        at = pa.chunked_array(self.ats)
        if self.shift.per_row is not None:
            at = pc.add(at, self.shift.per_row)
        pairs = pa.table({"at": at, "fn": pa.chunked_array(self.fns)})
        self.ats, self.fns = [], []
        order = pc.sort_indices(pairs, [("at", "ascending", "at_end"),
                                        ("fn", "ascending", "at_end")])
        numbers = pc.inverse_permutation(order.cast(pa.int64()))
        return numbers, len(pairs) - pairs.column("at").null_count

    def unify(self) -> Names:
        """Each family's dictionaries unified into one; the parts' codes, their ids."""
        dictionaries: Names = {}
        for family in dict.fromkeys(FAMILY.values()):
            places = [(part, c) for part in self.parts for c in part.codes
                      if FAMILY[c] == family]
            if not places:
                dictionaries[family] = pa.array([], pa.string())
                continue
            unified = pa.chunked_array([p.codes[c] for p, c in places]).unify_dictionaries()
            dictionaries[family] = unified.chunk(0).dictionary
            for k, (part, c) in enumerate(places):
                part.codes[c] = unified.chunk(k).indices
            del unified
        pa.default_memory_pool().release_unused()  # the parts' dictionaries
        return dictionaries


_SQL_TYPES = {pa.int64(): "BIGINT", pa.int32(): "INTEGER", pa.float64(): "DOUBLE",
              pa.string(): "VARCHAR", pa.bool_(): "BOOLEAN"}


def _write_tables(con: duckdb.DuckDBPyConnection, parts: list[_Part], numbers: pa.Array,
                  spool: str, shift: pa.Array | None) -> None:
    """Each table made from its parts read back from the spool, ``TABLE_ROWS`` rows at a
    time (read as Arrow, no copy until DuckDB's; inserting Arrow costs DuckDB no more than
    reading Parquet); a column null in every row of a table is a constant."""
    by_table: dict[str, list[_Part]] = {t: [] for t in TABLES}
    for part in parts:
        by_table[part.table].append(part)
    parts.clear()
    with pa.OSFile(spool) as source:
        for table in TABLES:
            mine = by_table.pop(table)
            kept = [c for c in COLUMNS_OF[table] if any(c in p.schema.names for p in mine)]
            schema = pa.schema([pa.field("i", pa.int64())] + [STORED.field(c) for c in kept])
            into = f"CREATE TABLE {table} AS"
            cols = ", ".join(q(c) if c in kept else
                             f"NULL::{_SQL_TYPES[STORED.field(c).type]} AS {q(c)}"
                             for c in COLUMNS_OF[table])
            for group in _groups(mine):
                rows = pa.Table.from_batches([_rows(source, p, schema, numbers, shift)
                                              for p in group], schema)
                con.register("rows_", rows)
                con.execute(f"{into} SELECT i, {cols} FROM rows_")
                con.unregister("rows_")
                into = f"INSERT INTO {table}"
                del rows
            pa.default_memory_pool().release_unused()  # Arrow's cache of freed memory


def _groups(parts: list[_Part]) -> Iterator[list[_Part]]:
    """``parts`` in runs of about ``TABLE_ROWS`` rows (one, empty, when there are none)."""
    group: list[_Part] = []
    rows = 0
    for part in parts:
        group.append(part)
        rows += part.rows
        if rows >= TABLE_ROWS:
            yield group
            group, rows = [], 0
    if group or not parts:
        yield group


def _rows(source: pa.NativeFile, part: _Part, schema: pa.Schema,
          numbers: pa.Array, shift: pa.Array | None) -> pa.RecordBatch:
    """A part read back: its numbers, its ids, a column it lacks null, its ``at`` on the
    master's clock."""
    source.seek(part.at)
    data = ipc.read_record_batch(source.read_buffer(part.size), part.schema)
    arrays = [numbers.slice(part.pos, part.rows)]
    for field in list(schema)[1:]:
        if field.name not in part.schema.names:
            arrays.append(pa.nulls(part.rows, field.type))
        elif field.name in part.codes:
            arrays.append(pc.take(part.codes[field.name], data.column(field.name)))
        elif field.name == "at" and shift is not None:
            arrays.append(pc.add(data.column("at"), shift.slice(part.pos, part.rows)))
        else:
            arrays.append(data.column(field.name))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def on_schema(batch: pa.RecordBatch) -> pa.RecordBatch:
    """A batch with today's types, in today's order: a column of another schema version
    cast (null when it cannot be), one today's schema lacks dropped, ``CORE``'s null when
    absent; other absent columns stay absent (null in every row)."""
    names = batch.schema.names
    if batch.schema == schema_of(frozenset(names)) and set(CORE) <= set(names):
        return batch
    fields, arrays = [], []
    for want in SCHEMA:
        if want.name not in names:
            if want.name in CORE:
                fields.append(want)
                arrays.append(pa.nulls(batch.num_rows, want.type))
            continue
        col = batch.column(want.name)
        if col.type != want.type:
            try:
                col = col.cast(want.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                col = pa.nulls(batch.num_rows, want.type)
        fields.append(want)
        arrays.append(col)
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def _jsonl_batches(path: Path, bad: list[str]) -> Iterator[pa.RecordBatch]:
    rows: list[dict[str, Any]] = []
    first = 0
    for ev in jsonl_events(path, bad):
        rows.append(ev)
        if len(rows) == CHUNK:
            yield encode(group_rows(rows, first))
            first += len(rows)
            rows = []
    if rows:
        yield encode(group_rows(rows, first))
