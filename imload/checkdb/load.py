"""Loading a journal into DuckDB, numbered in the reference checker's order.

``read_journal`` orders events by ``at``, ties by file then by place in the
file. ``load`` reads the journal twice (reading a columnar file is cheap next to
anything a database does with it):

1. the first pass keeps only each event's ``at`` and ``fn`` (its file's number
   and its place in the file, ``f << 40 | n``) and sorts those pairs in Arrow;
   the inverse of that permutation is every event's number ``i``;
2. the second pass splits each batch by table (``db.NARROW``: the message
   kinds, most of a journal, get narrow tables; everything else goes to
   ``other`` with every column), gives each row its ``i`` (a slice of the
   inverse permutation: rows come in the same order as in the first pass) and
   inserts the rows in bulk.

The name columns (``db.FAMILY``: users, devices, conversations, mids, cmids, digests)
go to the database as integers: the first pass dictionary-encodes each batch's
columns and unifies the dictionaries of each family once (``_Names``), the second
gives each row its family's global id; the dictionaries stay in Arrow
(``db.names_of``), so every join and grouping in DuckDB is over integers and a
string is made only for the few events a verdict shows.

No join, no sort inside the database. A JSON lines file is encoded once (the
columnar writer's encoder, so both forms give the same rows) and spooled to an
uncompressed Arrow file in the database's folder for the second pass. Rows
whose ``at`` is not a number are left out (not events, as ``read_journal`` says).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from imload.checkdb.db import (
    COLUMNS,
    FAMILY,
    NARROW,
    STORED,
    TABLES,
    Loaded,
    Names,
    folder_of,
    set_names,
)
from imload.journal.columnar import SUFFIX, batches_of
from imload.journal.columns import RAW_KEYS, SCHEMA, TYPES, encode, group_rows
from imload.journal.reader import _is_event, jsonl_events

CHUNK = 65536  # JSON lines encoded per batch
AHEAD = 4  # batches read ahead of their encoding (each held until encoded)
FILE_SHIFT = 40  # events per file below 2**40
FLUSH_ROWS = 1 << 18  # rows gathered in Arrow before one Parquet row group
PARQUET: dict[str, Any] = {"compression": "lz4", "use_dictionary": False}  # write speed first
TYPED = frozenset(TYPES)  # a key list's fields that need a column (the rest go to extra)
AT, N = SCHEMA.get_field_index("at"), SCHEMA.get_field_index("n")
EV = SCHEMA.get_field_index("ev")
_NO_AT = pa.array([], pa.float64())

Batches = Callable[[], Iterator[pa.RecordBatch]]


def load(con: duckdb.DuckDBPyConnection, files: Sequence[Path]) -> Loaded:
    """Read ``files`` (in ``read_journal``'s order) into the tables."""
    out = Loaded(files=list(files))
    folder = folder_of(con)
    sources: list[tuple[int, Batches]] = []
    for f, path in enumerate(files):
        if path.name.endswith(SUFFIX):
            sources.append((f, _columnar(path, out.bad_lines)))
        else:
            sources.append((f, _spooled(path, os.path.join(folder, f"spool-{f}.arrow"),
                                        out.bad_lines)))
    out.events = _load(con, sources)
    for f in range(len(files)):
        spool = os.path.join(folder, f"spool-{f}.arrow")
        if os.path.exists(spool):
            os.remove(spool)
    return out


def load_events(con: duckdb.DuckDBPyConnection, events: Sequence[dict[str, Any]]) -> Loaded:
    """``events`` (a journal already in memory, e.g. a test's), as one file."""
    out = Loaded(files=[])
    kept = [e for e in events if _is_event(e)]
    out.not_events = len(events) - len(kept)
    batches = [encode(group_rows(kept[start:start + CHUNK], start))
               for start in range(0, len(kept), CHUNK)]
    out.events = _load(con, [(0, lambda: iter(batches))])
    return out


def _load(con: duckdb.DuckDBPyConnection, sources: list[tuple[int, Batches]]) -> int:
    names = _Names()
    numbers, events = _numbers(sources, names)
    ids = names.unify()
    pa.default_memory_pool().release_unused()  # the sort's, the batches' dictionaries'
    set_names(con, names.dictionaries)
    loader = _Loader(con, events)
    offset, k = 0, 0
    for _, batches in sources:
        for batch in batches():
            loader.add(names.encoded(batch, ids, k), numbers.slice(offset, batch.num_rows))
            offset += batch.num_rows
            k += 1
    del numbers, ids
    loader.finish()
    con.execute("CREATE VIEW events AS " + " UNION ALL BY NAME ".join(
        f"SELECT *{'' if t == 'other' else f', {chr(39)}{t}{chr(39)} AS ev'} FROM {t}"
        for t in TABLES))
    return events


class _Names:
    """The name columns dictionary-encoded batch by batch (``add``), then each family's
    dictionaries unified into one (``unify``): its values' ids, the same in every table."""

    def __init__(self) -> None:
        self.parts: dict[str, list[pa.DictionaryArray]] = {c: [] for c in FAMILY}
        self.dictionaries: Names = {}
        # encoded on a thread of its own while the next batch is read (Arrow frees the GIL)
        self.pool = ThreadPoolExecutor(1)
        self.pending: deque[Future[list[pa.DictionaryArray]]] = deque()

    def add(self, batch: pa.RecordBatch) -> None:
        self.pending.append(self.pool.submit(
            lambda: [batch.column(c).dictionary_encode() for c in self.parts]))
        while len(self.pending) > AHEAD:
            self._take()

    def _take(self) -> None:
        for parts, encoded in zip(self.parts.values(), self.pending.popleft().result(),
                                  strict=True):
            parts.append(encoded)

    def unify(self) -> dict[str, list[pa.Array]]:
        """Per name column, per batch (in reading order), its rows' ids."""
        while self.pending:
            self._take()
        self.pool.shutdown()
        ids: dict[str, list[pa.Array]] = {}
        for family in dict.fromkeys(FAMILY.values()):
            columns = [c for c, fam in FAMILY.items() if fam == family]
            chunks = [a for c in columns for a in self.parts.pop(c)]
            if not chunks:
                self.dictionaries[family] = pa.array([], pa.string())
                ids.update({c: [] for c in columns})
                continue
            unified = pa.chunked_array(chunks).unify_dictionaries()
            self.dictionaries[family] = unified.chunk(0).dictionary
            per = len(chunks) // len(columns)
            for k, c in enumerate(columns):
                ids[c] = [unified.chunk(k * per + b).indices for b in range(per)]
        return ids

    @staticmethod
    def encoded(batch: pa.RecordBatch, ids: dict[str, list[pa.Array]],
                k: int) -> pa.RecordBatch:
        """Batch ``k`` with its name columns replaced by their ids (let go of once used)."""
        for column in FAMILY:
            batch = batch.set_column(batch.schema.get_field_index(column),
                                     STORED.field(column), ids[column][k])
            ids[column][k] = None  # type: ignore[call-overload]
        return batch


def _numbers(sources: list[tuple[int, Batches]], names: _Names) -> tuple[pa.Array, int]:
    """Every row's number in the reference order (rows in reading order), and how many
    rows are events (those whose ``at`` is a number: numbered first); ``names`` gathers
    the name columns."""
    ats: list[pa.Array] = []
    fns: list[pa.Array] = []
    for f, batches in sources:
        for batch in batches():  # copies: a column would keep its whole batch's memory
            ats.append(pa.concat_arrays([batch.column(AT), _NO_AT]))
            fns.append(pc.add(batch.column(N), f << FILE_SHIFT))
            names.add(batch)
    if not ats:
        return pa.array([], pa.int64()), 0
    pairs = pa.table({"at": pa.chunked_array(ats), "fn": pa.chunked_array(fns)})
    order = pc.sort_indices(pairs, [("at", "ascending", "at_end"),
                                    ("fn", "ascending", "at_end")])
    numbers = pc.inverse_permutation(order.cast(pa.int64()))
    return numbers, len(pairs) - pairs.column("at").null_count


class _Loader:
    """Gathers each table's rows (Arrow, narrow) into a Parquet file, then makes the table
    from it (DuckDB reads a Parquet file on every core; inserting Arrow rows costs several
    times more)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, events: int) -> None:
        self.con = con
        self.folder = folder_of(con)
        self.events = events
        self.parts: dict[str, list[pa.RecordBatch]] = {t: [] for t in TABLES}
        self.rows = 0
        self.writers: dict[str, pq.ParquetWriter] = {}
        # the narrow tables drop ``ev`` (their name says it) and ``n``
        self.columns = {t: ["keys", "at", *cols, "extra"] for t, cols in NARROW.items()}
        self.columns["other"] = COLUMNS
        self.allowed = {t: {*cols, "ev"} for t, cols in self.columns.items()}
        self.value_set = pa.array(list(NARROW))
        self.pool = ThreadPoolExecutor(1)
        self.written: Future[list[None]] | None = None

    def add(self, batch: pa.RecordBatch, numbers: pa.Array) -> None:
        """Split a batch by table. A message event goes to its own table when its key list
        fits it (decided once per distinct key list, the batch's ``keys`` dictionary), else
        to ``other``; rows that are not events go nowhere. The writer keeps a batch's rows
        grouped by key list, so a table's rows come in a few runs: slices, not copies."""
        keys = batch.column(1)
        names = keys.dictionary.to_pylist()
        kind = pc.fill_null(pc.index_in(batch.column(EV), value_set=self.value_set), -1)
        fits = [k is not None and k != RAW_KEYS and set(k.split(",")) & TYPED
                <= self.allowed[t] for t in NARROW for k in names]
        code = pc.add(pc.multiply(pc.max_element_wise(kind, 0).cast(pa.int32()), len(names)),
                      keys.indices)
        placed = pc.and_(pc.greater_equal(kind, 0),
                         pc.fill_null(pc.take(pa.array(fits, pa.bool_()), code), False))
        where = pc.if_else(placed, kind, len(NARROW))
        where = pc.if_else(pc.less(numbers, self.events), where, -1)
        batch = batch.add_column(0, "i", numbers)
        runs = pc.run_end_encode(where)
        start = 0
        for end, t in zip(runs.run_ends.to_pylist(), runs.values.to_pylist(), strict=True):
            if t >= 0:
                table = TABLES[t]
                rows = batch.slice(start, end - start)
                self._put(table, rows.select(["i", *self.columns[table]]))
            start = end

    def _put(self, table: str, rows: pa.RecordBatch) -> None:
        self.parts[table].append(rows)
        self.rows += rows.num_rows
        if self.rows >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        """Write the gathered rows on the writer's thread (Parquet encoding frees the GIL),
        while the next rows are split; one flush at a time in flight."""
        if self.written is not None:
            self.written.result()
        data = [(table, pa.Table.from_batches(parts))
                for table, parts in self.parts.items() if parts]
        for parts in self.parts.values():
            parts.clear()
        self.written = self.pool.submit(lambda: [self._write(t, d) for t, d in data])
        self.rows = 0

    def _write(self, table: str, data: pa.Table) -> None:
        writer = self.writers.get(table)
        if writer is None:
            writer = self.writers[table] = pq.ParquetWriter(self._path(table), data.schema,
                                                            **PARQUET)
        writer.write_table(data)

    def _path(self, table: str) -> str:
        return os.path.join(self.folder, f"{table}.rows.parquet")

    def finish(self) -> None:
        self.flush()
        assert self.written is not None
        self.written.result()
        self.pool.shutdown()
        for table in TABLES:
            if table not in self.writers:
                schema = pa.schema([pa.field("i", pa.int64())] +
                                   [STORED.field(c) for c in self.columns[table]])
                self._write(table, schema.empty_table())
            self.writers.pop(table).close()
        pa.default_memory_pool().release_unused()  # Arrow's cache of freed memory: DuckDB's now
        for table in TABLES:
            self.con.execute(f"CREATE TABLE {table} AS SELECT * FROM "
                             f"read_parquet('{self._path(table)}')")
            os.remove(self._path(table))


def _columnar(path: Path, bad: list[str]) -> Batches:
    told = [False]

    def batches() -> Iterator[pa.RecordBatch]:
        yield from _read_columnar(path, bad if not told[0] else [])
        told[0] = True
    return batches


def _read_columnar(path: Path, bad: list[str]) -> Iterator[pa.RecordBatch]:
    """``columnar.batches_of``, each batch on today's schema."""
    for batch in batches_of(path, bad):
        yield batch if batch.schema == SCHEMA else _conform(batch)


def _conform(batch: pa.RecordBatch) -> pa.RecordBatch:
    """A batch of another schema version on today's (missing columns null; a column whose
    type changed cast, or null when it cannot be)."""
    arrays = []
    for want in SCHEMA:
        if want.name not in batch.schema.names:
            arrays.append(pa.nulls(batch.num_rows, want.type))
            continue
        col = batch.column(want.name)
        if col.type != want.type:
            try:
                col = col.cast(want.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                col = pa.nulls(batch.num_rows, want.type)
        arrays.append(col)
    return pa.RecordBatch.from_arrays(arrays, schema=SCHEMA)


def _spooled(path: Path, spool: str, bad: list[str]) -> Batches:
    """A JSON lines file through the columnar writer's encoder, ``CHUNK`` events a batch:
    encoded on the first pass (and written to ``spool``), read back from it after."""
    written = [False]

    def batches() -> Iterator[pa.RecordBatch]:
        if written[0]:
            with pa.OSFile(spool) as source:
                yield from ipc.open_stream(source)
            return
        with pa.OSFile(spool, "wb") as sink, ipc.new_stream(sink, SCHEMA) as out:
            for batch in _jsonl_batches(path, bad):
                out.write_batch(batch)
                yield batch
        written[0] = True
    return batches


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
