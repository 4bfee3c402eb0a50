"""The journal in DuckDB: its tables, and its events back by number.

``load.load`` fills the tables: a narrow one per message kind (``NARROW``)
and ``other`` with every column; ``events`` views them all. ``i`` numbers the
events as ``read_journal`` orders them (by ``at``, ties by file then by place
in the file); the checks speak of events by ``i`` and ``fetch`` rebuilds the
journal's own event dicts (keys in their order) only for the few that a
verdict shows.

The coded columns (``FAMILY``: the names, and ``keys``, ``via``, ``phase`` and
``kind``) hold integer ids, one numbering per family (a user's id is the same in
``user`` and ``from``; a query compares a coded column with ``code(con, family,
value)``): ``Dicts`` (``names_of``) turns ids into names and back, and each
family's dictionary is a table too,
``dict_<family>(id, name)``; ``cv`` describes each conversation (``direct``,
``grp``, a direct chat's two users ``a`` and ``b`` as user ids).

DuckDB runs on every core (``threads``), within ``memory_limit``, spilling to
``temp_directory`` when a sort or a join needs more.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from imload.journal.columns import SCHEMA, decode
from imload.journal.events import EVENT_FIELDS

# DuckDB's own limit; the process also holds Python's share and what DuckDB's allocator
# keeps: 550 MB keeps a million direct messages (5M events) or the chat mix's 500k under
# 1 GiB, and the chat mix's million (13M copies: its groups) at 1.1 GiB
# (benchmarks/bench_checker.py; 600 MB took the chat mix's 500k messages to 1.05 GiB)
MEMORY_LIMIT = "550MB"
COLUMNS = [f.name for f in SCHEMA]
# the coded columns, each with its family (the columns whose values name the same things):
# the names, and the text columns of few values (a query compares them with ``code``)
FAMILY = {"user": "user", "from": "user", "device": "device", "from_device": "device",
          "conv": "conv", "mid": "mid", "cmid": "cmid", "digest": "digest",
          "keys": "keys", "via": "via", "phase": "phase", "kind": "kind"}
STORED = pa.schema([pa.field(f.name, pa.int32()) if f.name in FAMILY else f for f in SCHEMA])
Names = dict[str, pa.Array]  # family -> its dictionary (an id is a place in it)
# families of few enough names for a Python dict
SMALL_FAMILIES = ("user", "device", "conv", "keys", "via", "phase", "kind")


@dataclass
class Dicts:
    """A connection's dictionaries: ids to names and back."""

    arrays: Names
    _ids: dict[str, dict[str, int]] = field(default_factory=dict)

    def name(self, family: str, i: int | None) -> Any:
        return None if i is None else self.arrays[family][i].as_py()

    def names(self, family: str, ids: list[int | None]) -> list[Any]:
        """The names of ``ids`` (None stays None), in one take."""
        return pc.take(self.arrays[family], pa.array(ids, pa.int32())).to_pylist()

    def named(self, rows: Sequence[Sequence[Any]], *families: str) -> list[tuple[Any, ...]]:
        """``rows`` with their first columns' ids as names, one ``families`` per column
        (one take per column); the other columns as they are."""
        k = len(families)
        heads = zip(*(self.names(f, [r[c] for r in rows]) for c, f in enumerate(families)),
                    strict=True)
        return [(*head, *row[k:]) for head, row in zip(heads, rows, strict=True)]

    def id(self, family: str, name: Any) -> int | None:
        """The id of ``name`` (None when no event names it)."""
        if not isinstance(name, str):
            return None
        if family in SMALL_FAMILIES:
            ids = self._ids.get(family)
            if ids is None:
                values = self.arrays[family].to_pylist()
                ids = self._ids[family] = {v: k for k, v in enumerate(values)}
            return ids.get(name)
        found = pc.index(self.arrays[family], pa.scalar(name, pa.string())).as_py()
        return None if found < 0 else int(found)


def code(con: duckdb.DuckDBPyConnection, family: str, value: str) -> int:
    """The id of ``value`` in a coded column, for a query's comparison (-1, which no row
    holds, when no event has it)."""
    found = names_of(con).id(family, value)
    return -1 if found is None else found


def q(name: str) -> str:
    """A column name quoted for SQL (``at`` and ``from`` are keywords)."""
    return '"' + name.replace('"', '""') + '"'


@dataclass
class Loaded:
    """What loading found besides the rows."""

    files: list[Path]
    bad_lines: list[str] = field(default_factory=list)
    events: int = 0
    not_events: int = 0  # given rows without an ``ev`` or a numeric ``at`` (left out)
    timeline: dict[str, Any] | None = None  # several clocks put on one (``clocks``)


_FOLDERS: dict[int, str] = {}
_DICTS: dict[int, Dicts] = {}


def folder_of(con: duckdb.DuckDBPyConnection) -> str:
    """The private folder of a connection made by ``connect``."""
    return _FOLDERS[id(con)]


def names_of(con: duckdb.DuckDBPyConnection) -> Dicts:
    """The dictionaries of a connection's loaded journal."""
    return _DICTS[id(con)]


CV = """
    CREATE OR REPLACE TEMP TABLE cv AS
    SELECT c.id AS c, c.name, c.name LIKE 'd:%' AS direct, c.name LIKE 'g:%' AS grp,
           a.id AS a, b.id AS b
    FROM dict_conv c
    LEFT JOIN dict_user a ON c.name LIKE 'd:%' AND a.name = split_part(c.name, ':', 2)
    LEFT JOIN dict_user b ON c.name LIKE 'd:%' AND b.name = split_part(c.name, ':', 3)"""


_IDS: list[pa.Array] = [pa.array([], pa.int32())]  # 0, 1, 2, ...: sliced by ``count``


def count(n: int) -> pa.Array:
    """0, 1, ..., n - 1 (int32: ids): a slice of one array, grown in Arrow when short (a
    Python int given to a compute function costs ~70 us: pyarrow looks for numpy)."""
    if len(_IDS[0]) < n:
        ones = pc.fill_null(pa.nulls(max(n, 2 * len(_IDS[0]), 1 << 16), pa.int32()),
                            pa.scalar(1, pa.int32()))
        _IDS[0] = pc.subtract(pc.cumulative_sum(ones), pa.scalar(1, pa.int32()))
    return _IDS[0].slice(0, n)


def set_names(con: duckdb.DuckDBPyConnection, names: Names) -> None:
    """Keep a loaded journal's dictionaries: in Python, and as ``dict_<family>`` tables."""
    _DICTS[id(con)] = Dicts(names)
    for family, values in names.items():
        con.register(f"dict_{family}", pa.table({"id": count(len(values)), "name": values}))
    con.execute(CV)


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


def _forget(key: int, folder: str) -> None:
    _FOLDERS.pop(key, None)
    _DICTS.pop(key, None)
    shutil.rmtree(folder, ignore_errors=True)


def fetch(con: duckdb.DuckDBPyConnection, indices: Iterable[int],
          tables: Iterable[str] = TABLES) -> dict[int, dict[str, Any]]:
    """The journal events numbered ``indices``, each rebuilt exactly as written, looked for
    in ``tables`` (all of them, or the one a caller knows holds them): one query per table
    (the narrow ones have few columns), fetched as Arrow, its ids turned into names with a
    take per column and its rows into events by the columnar journal's own ``decode``."""
    wanted = pa.table({"i": pa.array(sorted(set(indices)), pa.int64())})
    out: dict[int, dict[str, Any]] = {}
    if not len(wanted):
        return out
    dicts = names_of(con)
    cur = con.cursor()  # (its own: ``con`` may hold a result its caller is reading)
    cur.register("wanted_", wanted)
    try:
        for table in tables:
            names = ([c for c in COLUMNS if c != "n"] if table == "other" else
                     ["keys", "extra", "at", *NARROW[table]])
            rows = _arrow(cur.sql(f"SELECT i, {', '.join(q(c) for c in names)} FROM {table} "
                                  "SEMI JOIN wanted_ USING (i)"))
            if rows.num_rows:
                numbers, events = decode(_as_journal(rows, dicts, table))
                out.update(zip(numbers, events, strict=True))
            if len(out) == len(wanted):
                break
    finally:
        cur.close()
    return out


def _arrow(rel: duckdb.DuckDBPyRelation) -> pa.Table:
    """A relation's rows as an Arrow table (``to_arrow_table`` from DuckDB 1.4 on, which
    deprecates the older name)."""
    to_table = getattr(rel, "to_arrow_table", None) or rel.fetch_arrow_table
    return to_table()


def _as_journal(rows: pa.Table, dicts: Dicts, table: str) -> pa.RecordBatch:
    """A table's rows as a journal batch for ``decode``: ``i`` first (its numbers), the
    key lists as a dictionary column, every other id its name, a narrow table's ``ev``."""
    batch = rows.combine_chunks().to_batches()[0]  # (rows: one chunk per column)
    arrays = [batch.column(0),
              pa.DictionaryArray.from_arrays(batch.column(1), dicts.arrays["keys"])]
    names = ["i", "keys"]
    for name, col in zip(batch.schema.names[2:], batch.columns[2:], strict=True):
        arrays.append(pc.take(dicts.arrays[FAMILY[name]], col) if name in FAMILY else col)
        names.append(name)
    if table != "other":
        arrays.append(pa.array([table] * batch.num_rows, pa.string()))
        names.append("ev")
    return pa.RecordBatch.from_arrays(arrays, names=names)
