"""The journal in DuckDB: one ``events`` table, in the reference checker's order.

``load(files)`` streams every journal file into DuckDB (columnar files batch by
batch, JSON lines through the same encoder as the columnar writer, so both
forms give the same rows), then numbers the events as ``read_journal`` orders
them: by ``at``, ties by file then by place in the file. ``i`` is that number;
the checks speak of events by ``i`` and ``fetch`` rebuilds the journal's own
event dicts (keys in their order) only for the few that a verdict shows.

DuckDB runs on every core (``threads``), within ``memory_limit``, spilling to
``temp_directory`` when a sort or a join needs more.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from imload.journal.columnar import COMPRESSION, SUFFIX
from imload.journal.columns import NESTED, RAW_KEYS, SCHEMA, TYPES, encode, group_rows
from imload.journal.events import EVENT_FIELDS
from imload.journal.reader import _is_event, jsonl_events

CHUNK = 65536  # JSON lines encoded per batch
# DuckDB's own limit; the process also holds Arrow batches while loading and Python's
# share: 600 MB keeps a million-message run under 1 GiB (benchmarks/bench_checker.py)
MEMORY_LIMIT = "600MB"
COLUMNS = [f.name for f in SCHEMA]


def q(name: str) -> str:
    """A column name quoted for SQL (``at`` and ``from`` are keywords)."""
    return '"' + name.replace('"', '""') + '"'


@dataclass
class Loaded:
    """What loading found besides the rows."""

    files: list[Path]
    bad_lines: list[str] = field(default_factory=list)
    events: int = 0


_FOLDERS: dict[int, str] = {}


def folder_of(con: duckdb.DuckDBPyConnection) -> str:
    """The private folder of a connection made by ``connect``."""
    return _FOLDERS[id(con)]


def connect(memory_limit: str = MEMORY_LIMIT, threads: int | None = None,
            temp_directory: str | None = None, on_disk: bool = True
            ) -> duckdb.DuckDBPyConnection:
    """A DuckDB database in a private temporary folder: a file (``on_disk``: its tables
    are compressed, so a journal many times ``memory_limit`` fits), else in memory (a
    small journal, e.g. a test's: no file to make); removed when the process ends."""
    config: dict[str, Any] = {"memory_limit": memory_limit,
                              "preserve_insertion_order": False}
    if threads:
        config["threads"] = threads
    folder = tempfile.mkdtemp(prefix="imload-checkdb-", dir=temp_directory)
    path = os.path.join(folder, "journal.duckdb") if on_disk else ":memory:"
    con = duckdb.connect(path, config=config)
    con.execute(f"SET temp_directory = '{folder}'")
    _FOLDERS[id(con)] = folder
    weakref.finalize(con, _forget, id(con), folder)
    return con


# The message kinds get narrow tables of their own (most of a journal); everything else,
# and a message event with a field its table lacks, goes to ``other`` with every column.
NARROW: dict[str, tuple[str, ...]] = {
    "deliver": (*EVENT_FIELDS["deliver"], "kind", "event", "event_text", "ts", "server_ts"),
    "send": (*EVENT_FIELDS["send"], "seen_seq"),
    "send_ok": EVENT_FIELDS["send_ok"],
}
TABLES = (*NARROW, "other")
FILE_SHIFT = 40  # events per file below 2**40
TYPED = frozenset(TYPES)  # a key list's fields that need a column (the rest go to extra)
PARQUET: dict[str, Any] = {"compression": "lz4", "use_dictionary": False}  # write speed first
FLUSH_ROWS = 1 << 17  # rows gathered in Arrow before one Parquet row group


class _Loader:
    """Gathers each table's rows (Arrow, narrow) and inserts them in bulk."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.folder = folder_of(con)
        self.parts: dict[str, list[pa.RecordBatch]] = {t: [] for t in TABLES}
        self.rows = 0
        self.writers: dict[str, pq.ParquetWriter] = {}
        # the narrow tables drop ``ev`` (their name says it) and ``n`` (in ``fn``, below)
        self.columns = {t: ["n", "keys", "at", *cols, "extra"] for t, cols in NARROW.items()}
        self.columns["other"] = COLUMNS
        self.allowed = {t: {*cols, "ev"} for t, cols in self.columns.items()}

    def add(self, batch: pa.RecordBatch, f: int) -> None:
        """Split a batch by table: narrow columns selected first (no copy), then filtered. A
        message event goes to its own table when its key list fits it (decided once per
        distinct key list, the batch's ``keys`` dictionary), else to ``other``."""
        keys = batch.column(1)
        names = keys.dictionary.to_pylist()
        kind = pc.fill_null(pc.index_in(batch.column(2), value_set=pa.array(list(NARROW))), -1)
        fits = [k is not None and k != RAW_KEYS and set(k.split(",")) & TYPED
                <= self.allowed[t] for t in NARROW for k in names]
        code = pc.add(pc.multiply(pc.max_element_wise(kind, 0).cast(pa.int32()), len(names)),
                      keys.indices)
        placed = pc.and_(pc.greater_equal(kind, 0),
                         pc.fill_null(pc.take(pa.array(fits, pa.bool_()), code), False))
        taken = None
        for t, table in enumerate(NARROW):
            mask = pc.and_(placed, pc.equal(kind, t))
            rows = batch.select(self.columns[table]).filter(mask)
            if rows.num_rows:
                self._put(table, rows, f)
            taken = mask if taken is None else pc.or_(taken, mask)
        others = batch.filter(pc.invert(taken)) if taken is not None else batch
        if others.num_rows:
            self._put("other", others, f)

    def _put(self, table: str, rows: pa.RecordBatch, f: int) -> None:
        """``fn``: the file's number and the event's place in it, as one sortable integer
        (``f`` << 40 | ``n``): the numbering's one join key."""
        fn = pc.add(rows.column(0), f << FILE_SHIFT)
        rows = rows.append_column("fn", fn)
        if table != "other":
            rows = rows.drop_columns(["n"])
        self.parts[table].append(rows)
        self.rows += rows.num_rows
        if self.rows >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        """Each table's gathered rows as one Parquet row group (DuckDB reads them back in
        parallel; inserting batch after batch into its tables costs several times more)."""
        for table, parts in self.parts.items():
            if not parts:
                continue
            data = pa.Table.from_batches(parts)
            writer = self.writers.get(table)
            if writer is None:
                writer = self.writers[table] = pq.ParquetWriter(
                    os.path.join(self.folder, f"{table}.rows.parquet"), data.schema,
                    **PARQUET)
            writer.write_table(data)
            parts.clear()
        self.rows = 0

    def finish(self) -> None:
        self.flush()
        for table in TABLES:
            writer = self.writers.pop(table, None)
            if writer is None:
                schema = pa.schema([SCHEMA.field(c) for c in self.columns[table]
                                    if table == "other" or c != "n"]).append(
                    pa.field("fn", pa.int64()))
                writer = pq.ParquetWriter(os.path.join(self.folder, f"{table}.rows.parquet"),
                                          schema, **PARQUET)
            writer.close()


def _columnar_batches(path: Path, bad: list[str]) -> Iterator[pa.RecordBatch]:
    count = 0
    try:
        with pa.CompressedInputStream(pa.OSFile(str(path)), COMPRESSION) as f:
            reader = ipc.open_stream(f)
            if reader.schema.names[:2] != ["n", "keys"]:
                raise ValueError("not an imload journal (its first columns are not n, keys)")
            same = reader.schema == SCHEMA
            for batch in reader:
                count += batch.num_rows
                yield batch if same else _conform(batch)
    except (pa.ArrowInvalid, OSError, ValueError) as e:
        where = f"after {count} events" if count else "at its start"
        bad.append(f"{path.name}: cut short {where} ({str(e).splitlines()[0][:120]})")


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


def _jsonl_batches(path: Path, bad: list[str]) -> Iterator[pa.RecordBatch]:
    """A JSON lines file through the columnar writer's encoder, ``CHUNK`` events a batch."""
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


def load(con: duckdb.DuckDBPyConnection, files: Sequence[Path]) -> Loaded:
    """Stream ``files`` (in ``read_journal``'s order) into the tables."""
    out = Loaded(files=list(files))
    loader = _Loader(con)
    for f, path in enumerate(files):
        batches = _columnar_batches(path, out.bad_lines) if path.name.endswith(SUFFIX) \
            else _jsonl_batches(path, out.bad_lines)
        for batch in batches:
            loader.add(batch, f)
    loader.finish()
    out.events = _number(con)
    return out


def load_events(con: duckdb.DuckDBPyConnection, events: Sequence[dict[str, Any]]) -> Loaded:
    """``events`` (a journal already in memory, e.g. a test's), as one file."""
    out = Loaded(files=[])
    loader = _Loader(con)
    kept = [e for e in events if _is_event(e)]
    for start in range(0, len(kept), CHUNK):
        loader.add(encode(group_rows(kept[start:start + CHUNK], start)), 0)
    loader.finish()
    out.events = _number(con)
    return out


def _number(con: duckdb.DuckDBPyConnection) -> int:
    """Number the events in the reference order (by ``at``, ties by file and place: one
    sort of (``at``, ``fn``) pairs, then each table's rows joined to their number), rows
    whose ``at`` is not a number left out (not events, as ``read_journal`` says);
    ``events`` views them all, each narrow table with its ``ev``."""
    folder = folder_of(con)
    rows = {t: f"read_parquet('{os.path.join(folder, t)}.rows.parquet')" for t in TABLES}
    union = " UNION ALL ".join(f'SELECT "at", fn FROM {rows[t]}' for t in TABLES)
    con.execute(f"""CREATE TABLE ord AS SELECT fn, (row_number() OVER (ORDER BY "at", fn)
                    - 1)::BIGINT AS i FROM ({union}) WHERE "at" IS NOT NULL""")
    for t in TABLES:
        con.execute(f"CREATE TABLE {t} AS SELECT o.i, r.* EXCLUDE (fn) FROM {rows[t]} r "
                    "JOIN ord o USING (fn)")
        os.remove(os.path.join(folder, f"{t}.rows.parquet"))
    con.execute("DROP TABLE ord")
    con.execute("CREATE VIEW events AS " + " UNION ALL BY NAME ".join(
        f"SELECT *{'' if t == 'other' else f', {chr(39)}{t}{chr(39)} AS ev'} FROM {t}"
        for t in TABLES))
    return int(con.execute("SELECT count(*) FROM events").fetchone()[0])  # type: ignore[index]


def _forget(key: int, folder: str) -> None:
    _FOLDERS.pop(key, None)
    shutil.rmtree(folder, ignore_errors=True)


def fetch(con: duckdb.DuckDBPyConnection, indices: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The journal events numbered ``indices``, each rebuilt exactly as written (one query
    per table: the narrow ones have few columns)."""
    wanted = sorted(set(indices))
    out: dict[int, dict[str, Any]] = {}
    if not wanted:
        return out
    for table in TABLES:
        names = ([c for c in COLUMNS if c not in ("n", "ev")] if table == "other" else
                 ["keys", "extra", "at", *NARROW[table]])
        if table == "other":
            names.append("ev")
        cols = ", ".join(q(c) for c in names)
        rows = con.execute(f"SELECT i, {cols} FROM {table} WHERE i IN (SELECT unnest(?))",
                           [wanted]).fetchall()
        index = {c: k + 1 for k, c in enumerate(names)}
        for row in rows:
            out[row[0]] = _event(row, index, table)
        if len(out) == len(wanted):
            break
    return out


def _event(row: tuple[Any, ...], index: dict[str, int], table: str) -> dict[str, Any]:
    keys = row[index["keys"]]
    if keys == RAW_KEYS:
        return dict(json.loads(row[index["raw"]]))
    extra = row[index["extra"]]
    extras = orjson.loads(extra) if extra is not None else {}
    e: dict[str, Any] = {}
    for k in keys.split(","):
        if k == "ev" and table != "other":
            e[k] = table
        elif k in index:
            v = row[index[k]]
            e[k] = orjson.loads(v) if k in NESTED and v is not None else v
        else:
            e[k] = extras[k]
    return e
