"""The columnar journal's schema: journal events as Apache Arrow record batches, and back.

One wide schema holds every field of ``FIELD_TYPES`` (events.py) as a typed
column: strings, int64, float64, bool, and the nested fields (dicts and lists)
as JSON text. Four more columns:

- ``n``: the event's number in its file (the writer's count), so a reader
  restores the file's order exactly;
- ``keys``: the event's field names in their order, comma-separated
  (dictionary-encoded: a run has a few dozen distinct lists), so a reader
  rebuilds every event with its own keys in their order: an event read back
  equals, key order included, the event written, and a missing field and a
  ``null`` one stay apart;
- ``extra``: a JSON object of the fields the schema does not know (newer
  writers, hand-made journals);
- ``raw``: the whole event as JSON, for an event one of whose values does not
  fit its column's type (an int ``at``, a string ``seq``), or that the other
  columns cannot hold exactly (a comma in a field name, an int beyond 64 bits
  in a nested or unknown field); such an event comes back exactly as it was
  written, only without a typed column to query.

A batch has only the columns its events use (``schema_of``; a reader takes a
column a batch lacks as null in all its rows). The pure-Python path (``Group``,
``encode``) is here; the writer's fast path fills the same columns in C
(``colbuf``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import lru_cache
from operator import itemgetter
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from imload.journal.events import FIELD_TYPES

_NONE = type(None)
# Fields stored as numbers of one Python type, whatever FIELD_TYPES allows: a
# writer's ``at`` is a float (time.monotonic()), ``ts`` epoch milliseconds,
# ``retry_after_ms`` whole milliseconds (imload/drivers/wsopen.py).
_STORED: dict[str, pa.DataType] = {"at": pa.float64(), "ts": pa.int64(),
                                   "retry_after_ms": pa.int64(), "server_ts": pa.int64()}


def _arrow_type(field: str, types: tuple[type, ...]) -> pa.DataType:
    if field in _STORED:
        return _STORED[field]
    kinds = set(types) - {_NONE}
    if kinds == {str}:
        return pa.string()
    if kinds == {bool}:
        return pa.bool_()
    if kinds == {int}:
        return pa.int64()
    if kinds == {int, float}:  # a measured number (``wall``, ``offset_s``): a float
        return pa.float64()
    return pa.string()  # dicts and lists, as JSON text


# The exact Python types a column takes (anything else sends the event to ``raw``).
_PY: dict[pa.DataType, frozenset[type]] = {
    pa.string(): frozenset({str, _NONE}), pa.int64(): frozenset({int, _NONE}),
    pa.float64(): frozenset({float, _NONE}), pa.bool_(): frozenset({bool, _NONE}),
}

_NUMBERS = frozenset({pa.int64(), pa.float64()})
NESTED = frozenset(f for f, types in FIELD_TYPES.items() if set(types) & {dict, list})
TYPES: dict[str, pa.DataType] = {f: _arrow_type(f, t) for f, t in FIELD_TYPES.items()}
SCHEMA = pa.schema([("n", pa.int64()), ("keys", pa.dictionary(pa.int32(), pa.string())),
                    *TYPES.items(), ("extra", pa.string()),
                    ("raw", pa.string())])
RAW_KEYS = "raw"  # the ``keys`` of a raw event


class Group:
    """Events with the same keys in the same order, their values held in one flat list until
    a flush (``width`` values per event).

    Taking the values while the event is fresh in the cache, with one C call
    (``itemgetter``) whose tuple goes at once (``extend``), keeps a columnar write
    cheap: no object per event outlives the call, so the collector runs no more often
    than with JSON lines (a tuple per event held until the flush made a generator's
    gen-0 collections five times as many). Nested and unknown values are frozen as JSON
    at once (the caller may reuse them).
    """

    __slots__ = ("keys", "width", "take", "frozen", "values", "numbers", "raw")

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.keys = keys
        self.width = len(keys)
        get = itemgetter(*keys) if keys else None
        self.take: Callable[[dict[str, Any]], tuple[Any, ...]] = \
            get if len(keys) > 1 else (lambda e: (get(e),)) if keys else (lambda e: ())
        self.frozen = [i for i, k in enumerate(keys) if k in NESTED or k not in TYPES]
        self.values: list[Any] = []
        self.numbers: list[int] = []
        # kept raw: keys the ``keys`` column cannot spell (none; a comma in a name; the
        # raw marker itself), or a value only the standard library's JSON keeps exact
        self.raw = not keys or keys == (RAW_KEYS,) or any("," in k for k in keys)

    def add(self, e: dict[str, Any], number: int) -> None:
        row: Sequence[Any] = self.take(e)
        if self.frozen:
            frozen = list(row)
            for i in self.frozen:
                if frozen[i] is None and self.keys[i] in TYPES:
                    continue
                try:
                    frozen[i] = orjson.dumps(frozen[i]).decode()
                except TypeError:  # e.g. an int beyond 64 bits, which orjson reads as a float
                    frozen[i] = _dumps(frozen[i])
                    self.raw = True
            row = frozen
        self.values.extend(row)
        self.numbers.append(number)

    def column(self, i: int) -> list[Any]:
        """The values of field ``i``, one per event."""
        return self.values[i::self.width]

    def rows(self) -> list[list[Any]]:
        """The values of each event."""
        w = self.width
        return [self.values[k:k + w] for k in range(0, len(self.numbers) * w, w)] if w \
            else [[] for _ in self.numbers]

    def events(self) -> list[dict[str, Any]]:
        """The events back (for the raw path)."""
        out = []
        for values in self.rows():
            for i in self.frozen:
                if values[i] is not None or self.keys[i] not in TYPES:
                    values[i] = json.loads(values[i])
            out.append(dict(zip(self.keys, values, strict=True)))
        return out


def add_to(groups: dict[tuple[str, ...], Group], keys: tuple[str, ...], e: dict[str, Any],
           number: int) -> None:
    """Event ``e`` (key list ``keys``), numbered ``number``, into its group of ``groups``."""
    g = groups.get(keys)
    if g is None:
        g = groups[keys] = Group(keys)
    g.add(e, number)


def group_rows(rows: Sequence[dict[str, Any]], first: int = 0) -> list[Group]:
    """``rows`` grouped by their key lists, numbered from ``first``."""
    groups: dict[tuple[str, ...], Group] = {}
    for n, e in enumerate(rows, first):
        add_to(groups, tuple(e), e, n)
    return list(groups.values())


def encode(groups: Sequence[Group]) -> pa.RecordBatch:
    """One batch holding every event of ``groups``; ``n`` keeps their written order.

    The batch has the columns its events use, in ``SCHEMA``'s order (``n`` and ``keys``
    always): a column none of them has is not there (a reader takes it as all null), so
    no row pays for another kind's columns. Each group's columns are converted by pyarrow
    from slices of its flat list, and the groups are joined in one C++ call."""
    return join([columns_in(g) for g in groups if g.numbers])


Columns = dict[str, pa.Array]  # one group's columns by name, ``n`` and ``keys`` among them


def join(parts: Sequence[Columns]) -> pa.RecordBatch:
    """One batch of the groups' columns: a column a group lacks is null in its rows."""
    if not parts:
        return pa.RecordBatch.from_pylist([], SCHEMA)
    schema = schema_of(frozenset().union(*parts))
    if len(parts) == 1:
        return pa.RecordBatch.from_arrays([parts[0][f.name] for f in schema], schema=schema)
    batches = []
    for part in parts:
        rows = len(part["n"])
        batches.append(pa.RecordBatch.from_arrays(
            [part[f.name] if f.name in part else _long(f.type, _nulls(f.type), rows)
             for f in schema], schema=schema))
    return pa.concat_batches(batches)


@lru_cache(maxsize=1024)
def schema_of(names: frozenset[str]) -> pa.Schema:
    """The fields of ``SCHEMA`` named in ``names``, in its order, marked as a flush's (a
    file whose last stream is one was cut short: ``columnar``)."""
    return pa.schema([f for f in SCHEMA if f.name in names], metadata={"imload": "flush"})


def columns_in(g: Group) -> Columns:
    """A group's columns: typed, or its events whole as JSON (``raw``)."""
    if not g.raw:
        try:
            columns = _typed_columns(g)
        except (pa.ArrowException, OverflowError):  # a wrong type, an int beyond int64
            columns = None
        if columns is not None:
            return columns
    return _raw_columns(g)


class _Layout:
    """Where a key list's values go: each typed field's column and type, the number fields
    whose Python types are checked (pyarrow would convert 1 to 1.0 or 1.0 to 1), and the
    fields the schema does not know (to ``extra``)."""

    __slots__ = ("joined", "slots", "numbers", "unknown")

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.joined = ",".join(keys)
        self.slots = [(k, i, TYPES[k]) for i, k in enumerate(keys) if k in TYPES]
        self.numbers = [(i, _PY[TYPES[k]]) for i, k in enumerate(keys)
                        if TYPES.get(k) in _NUMBERS]
        self.unknown = [(i, _dumps(k)) for i, k in enumerate(keys) if k not in TYPES]


@lru_cache(maxsize=1024)
def layout(keys: tuple[str, ...]) -> _Layout:
    """How the events of key list ``keys`` are stored (computed once per key list)."""
    return _Layout(keys)


def _typed_columns(g: Group) -> Columns | None:
    """The group's events in their typed columns, or None when a number is of a type its
    column would change."""
    lay = layout(g.keys)
    for i, allowed in lay.numbers:
        if not set(map(type, g.column(i))) <= allowed:
            return None
    columns = head(lay.joined, pa.array(g.numbers, pa.int64()))
    for name, i, kind in lay.slots:
        columns[name] = pa.array(g.column(i), kind)
    if lay.unknown:  # each value is JSON already: the object is assembled, not encoded again
        names = [k for _, k in lay.unknown]
        columns["extra"] = pa.array(
            ["{" + ",".join([f"{k}:{v}" for k, v in zip(names, row, strict=True)]) + "}"
             for row in zip(*[g.column(i) for i, _ in lay.unknown], strict=True)],
            pa.string())
    return columns


def _raw_columns(g: Group) -> Columns:
    """Events kept whole as JSON (``ev`` and ``at`` typed when they fit, for queries)."""
    rows = g.events()
    columns = head(RAW_KEYS, pa.array(g.numbers, pa.int64()))
    columns["ev"] = pa.array(
        [e.get("ev") if isinstance(e.get("ev"), str) else None for e in rows], pa.string())
    columns["at"] = pa.array([_float(e.get("at")) for e in rows], pa.float64())
    # the standard library's JSON: exact for every float (orjson writes inf as null)
    columns["raw"] = pa.array([json.dumps(e, separators=(",", ":"), default=repr)
                               for e in rows], pa.string())
    return columns


def head(keys: str, numbers: pa.Array) -> Columns:
    """A group's first two columns: its events' numbers, and its key list on each row."""
    return {"n": numbers, "keys": pa.DictionaryArray.from_arrays(
        _long("zeros", _zeros, len(numbers)), pa.array([keys], pa.string()))}


def _float(a: Any) -> float | None:
    """``a`` as a float when it is a number that has one (an int beyond 1e308 has none)."""
    if not isinstance(a, int | float) or isinstance(a, bool):
        return None
    try:
        return float(a)
    except OverflowError:
        return None


# long arrays of one value (each type's nulls, the zero indices), sliced to a group's length
_LONG: dict[Any, pa.Array] = {}


def _long(key: Any, make: Callable[[int], pa.Array], n: int) -> pa.Array:
    """``n`` values of ``make``'s array: a zero-copy slice of one cached array."""
    cached = _LONG.get(key)
    if cached is None or len(cached) < n:
        cached = _LONG[key] = make(max(n, 65536))
    return cached.slice(0, n)


def _nulls(kind: pa.DataType) -> Callable[[int], pa.Array]:
    return lambda n: pa.nulls(n, kind)


def _zeros(n: int) -> pa.Array:
    """``n`` zero indices (a group's rows all have its one key list)."""
    return pa.repeat(pa.scalar(0, pa.int32()), n)


def _dumps(e: Any) -> str:
    try:
        return orjson.dumps(e).decode()
    except TypeError:  # what orjson refuses (an int beyond 64 bits): the standard library
        return json.dumps(e, default=repr)


def decode(batch: pa.RecordBatch) -> tuple[list[int], list[dict[str, Any]]]:
    """(numbers in file, events) of every row of ``batch``, each event as it was written.

    Per key list: its rows filtered out in C++, its columns to Python lists, the events
    zipped together (no Python loop per value but the JSON of nested and unknown ones).
    Columns are found by name: a batch of an imload whose ``FIELD_TYPES`` had other
    fields reads back the same (a field it had no column for is in its ``extra``)."""
    where = {name: i for i, name in enumerate(batch.schema.names)}
    typed = {name: i for name, i in where.items() if name not in ("n", "keys", "extra", "raw")}
    keys = batch.column(1)
    if keys.null_count:
        raise ValueError("a row without its key list")
    names_of = keys.dictionary.to_pylist()
    indices = keys.indices
    numbers: list[int] = []
    events: list[dict[str, Any]] = []
    single = len(names_of) == 1
    for g, joined in enumerate(names_of):
        rows = batch if single else batch.filter(pc.equal(indices, g))
        if not rows.num_rows:
            continue
        numbers.extend(rows.column(0).to_pylist())
        if joined == RAW_KEYS:
            events.extend(map(json.loads, rows.column(where["raw"]).to_pylist()))
            continue
        names = joined.split(",")
        columns: list[list[Any]] = []
        extras: list[Any] | None = None
        for k in names:
            if k in typed:
                col = rows.column(typed[k]).to_pylist()
                if k in NESTED:
                    col = [None if v is None else orjson.loads(v) for v in col]
            else:
                if extras is None:
                    extras = list(map(orjson.loads, rows.column(where["extra"]).to_pylist()))
                col = list(map(itemgetter(k), extras))
            columns.append(col)
        events.extend(dict(zip(names, values, strict=True))
                      for values in zip(*columns, strict=True))
    return numbers, events
