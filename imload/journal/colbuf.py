"""The columnar writer's fast path: each key list's events put in typed Arrow buffers by C
code (``_colbuf.c``, built with the package when a C compiler is there), one call per
event, numbered there too.

``Pending`` holds a writer's events since its last flush: ``add`` takes an event of a
registered key list in one C call (atomic under the GIL: no lock around it), and tells when
a flush is due. What it does not take goes to the pure-Python path (``columns.Group``:
values in a flat list, converted by pyarrow at the flush), numbered by ``claim``: a key
list's first event, a key list with a nested field or one the schema does not know, an
event with a value of another type than its column's (an int ``at``, a string ``seq``),
and every event when the package was built without the extension (``AVAILABLE`` False) or
the writer was asked for the Python path. Both give the same events back
(tests/test_colbuf.py); docs/journal.md says what each costs.
"""

from __future__ import annotations

from typing import Any, Protocol

import pyarrow as pa

from imload.journal.columns import NESTED, RAW_KEYS, TYPES, Columns, head, layout

try:
    from imload.journal import _colbuf
except ImportError:  # built without a C compiler: the pure-Python path
    _colbuf = None  # type: ignore[assignment]

AVAILABLE = _colbuf is not None

# the letter of each column type in ``_colbuf.Rows``' kinds
_LETTER = {pa.string(): "s", pa.int64(): "i", pa.float64(): "f", pa.bool_(): "b"}

# what ``Pending.take`` gives per key list: (events, their numbers as int64 bytes, per
# column (null count, validity bitmap, string offsets or None, values))
Taken = tuple[int, bytes, list[tuple[int, bytes, bytes | None, bytes]]]


class Pending(Protocol):
    """A writer's events since its last flush (``_colbuf.Pending``, or ``PurePending``)."""

    count: int
    flush_at: int

    def add(self, event: dict[str, Any]) -> int: ...
    def register(self, keys: tuple[str, ...], kinds: str) -> object: ...
    def claim(self) -> int: ...
    def take(self) -> list[tuple[tuple[str, ...], Taken]]: ...


class PurePending:
    """``Pending`` without the extension: takes no event itself, only numbers them."""

    def __init__(self, flush_at: int) -> None:
        self.count = 0
        self.flush_at = flush_at

    def add(self, event: dict[str, Any]) -> int:
        return 0

    def register(self, keys: tuple[str, ...], kinds: str) -> object:
        raise ValueError("no typed buffers without the extension")

    def claim(self) -> int:
        n = self.count
        self.count = n + 1
        return n

    def take(self) -> list[tuple[tuple[str, ...], Taken]]:
        return []


def pending(flush_at: int, compiled: bool) -> Pending:
    """The events a writer holds: in typed buffers when ``compiled`` and built."""
    if compiled and _colbuf is not None:
        return _colbuf.Pending(flush_at)  # type: ignore[no-any-return]
    return PurePending(flush_at)


def kinds_for(keys: tuple[str, ...]) -> str | None:
    """The column kind letter of each key, or None when the fast path does not take the key
    list (a nested or unknown field; a key list kept raw)."""
    if not keys or keys == (RAW_KEYS,) or any(
            k not in TYPES or k in NESTED or "," in k for k in keys):
        return None
    return "".join(_LETTER[TYPES[k]] for k in keys)


def columns_of(keys: tuple[str, ...], taken: Taken) -> Columns:
    """A key list's taken events as a group's columns (the buffers wrapped, not copied)."""
    count, numbers, buffers = taken
    lay = layout(keys)
    columns = head(lay.joined, pa.Array.from_buffers(pa.int64(), count,
                                                     [None, pa.py_buffer(numbers)]))
    for (name, _, kind), (nulls, valid, offsets, data) in zip(lay.slots, buffers,
                                                               strict=True):
        bitmap = pa.py_buffer(valid) if nulls else None
        values = [pa.py_buffer(data)] if offsets is None else \
            [pa.py_buffer(offsets), pa.py_buffer(data)]
        columns[name] = pa.Array.from_buffers(kind, count, [bitmap, *values], null_count=nulls)
    return columns
