"""The columnar journal file: a zstd-compressed Arrow IPC stream (``<name>.arrows.zst``), one
per process.

``ColumnarJournalWriter`` has the interface of ``JournalWriter`` (``write``,
``flush``, ``close``, ``path``, ``count``): events are kept in memory and
written as record batches every ``flush_every`` events and on every
``flush()`` (the Locust processes flush every second). A stream needs no
footer, so a file is readable up to its last whole batch after a crash;
``read_columnar`` says where a torn batch cut it short.

The whole stream goes through one zstd stream (``zstdcat F | <any Arrow IPC
reader>`` reads it), flushed after every batch: a batch costs microseconds,
where compressing each IPC buffer on its own (Arrow's own option) costs
milliseconds per batch of a 60-column schema, and a flushed zstd stream is
readable up to its last flush. See ``columns`` for the schema and how an
event round-trips exactly.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from imload.journal.columns import RAW_KEYS, SCHEMA, Group, decode, encode

SUFFIX = ".arrows.zst"  # the Arrow IPC stream format's customary extension, compressed
COMPRESSION = "zstd"


class ColumnarJournalWriter:
    """Appends events to ``DIR/<name>.arrows.zst`` in batches. Thread- and greenlet-safe."""

    def __init__(self, directory: str | os.PathLike[str], name: str,
                 flush_every: int = 8192) -> None:
        Path(directory).mkdir(parents=True, exist_ok=True)
        self.path = Path(directory) / f"{name}{SUFFIX}"
        self._file = pa.CompressedOutputStream(pa.OSFile(str(self.path), "wb"), COMPRESSION)
        self._stream = ipc.new_stream(self._file, SCHEMA)
        self._lock = threading.Lock()
        self._flush_every = flush_every
        self._flush_at = flush_every - 1  # the number of the event that fills a batch
        self._groups: dict[tuple[str, ...], Group] = {}
        self.count = 0

    def write(self, ev: dict[str, Any]) -> None:
        keys = tuple(ev)
        with self._lock:
            g = self._groups.get(keys)
            if g is None:
                g = self._groups[keys] = Group(keys)
            n = self.count
            if g.frozen:
                g.add(ev, n)
            else:  # the common case, inline: one C call takes every value
                g.values.extend(g.take(ev))
                g.numbers.append(n)
            self.count = n + 1
            if n >= self._flush_at:
                self._write_pending()

    def _write_pending(self) -> None:
        if not self._groups or self._file.closed:
            return
        groups, self._groups = list(self._groups.values()), {}
        self._flush_at = self.count + self._flush_every - 1
        self._stream.write_batch(encode(groups))
        self._file.flush()

    def flush(self) -> None:
        with self._lock:
            self._write_pending()

    def close(self) -> None:
        with self._lock:
            if self._file.closed:
                return
            self._write_pending()
            self._stream.close()  # the end-of-stream marker
            self._file.close()
            with open(self.path, "rb") as f:
                os.fsync(f.fileno())

    def __enter__(self) -> ColumnarJournalWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class NotImload(ValueError):
    """An Arrow stream, but not of imload's schema."""


# What a damaged or foreign file may raise: a stream with imload's column names whose rows
# do not hold together fails in ``decode`` with one of the last three.
_DAMAGED = (pa.ArrowException, OSError, ValueError, KeyError, TypeError, AttributeError)


def _batches(path: Path) -> Iterator[pa.RecordBatch]:
    """The record batches of one columnar file, as far as it can be read."""
    with pa.CompressedInputStream(pa.OSFile(str(path)), COMPRESSION) as f:
        reader = ipc.open_stream(f)
        names = reader.schema.names  # the typed columns may be another version's
        if names[:2] != ["n", "keys"] or not {"extra", "raw"} <= set(names):
            raise NotImload("not an imload journal (its columns are not n, keys, ..., "
                            "extra, raw)")
        yield from reader


def read_columnar(path: Path) -> tuple[list[dict[str, Any]], str | None]:
    """The events of one columnar file in their written order, and why it ended early
    (a torn last batch, a file that is not an Arrow stream), or None when it is whole."""
    numbers: list[int] = []
    events: list[dict[str, Any]] = []
    problem: str | None = None
    try:
        for batch in _batches(path):
            n, e = decode(batch)
            numbers.extend(n)
            events.extend(e)
    except (NotImload, *_DAMAGED) as e:
        problem = why_ended(path, e, len(events))
    return in_order(numbers, events), problem


def batches_of(path: Path, bad: list[str]) -> Iterator[pa.RecordBatch]:
    """The record batches of one columnar file as far as it can be read; why it ended early
    goes to ``bad`` (``why_ended``), never raised."""
    count = 0
    try:
        for batch in _batches(path):
            count += batch.num_rows
            yield batch
    except (NotImload, *_DAMAGED) as e:
        bad.append(why_ended(path, e, count))


def why_ended(path: Path, e: BaseException, events: int) -> str:
    """The one line that names why a columnar file ended early, ``events`` into it."""
    if isinstance(e, NotImload):
        return f"{path.name}: {e}"
    where = f"after {events} events" if events else "at its start"
    return f"{path.name}: cut short {where} ({str(e).splitlines()[0][:120]})"


def columnar_events(path: Path, kinds: Sequence[str] | None = None,
                    fields: Sequence[str] | None = None) -> Iterator[dict[str, Any]]:
    """The events of one columnar file batch by batch (in written order within a batch's
    key list, not across them), as far as it can be read; one batch held at a time. With
    ``kinds`` and ``fields``: only those kinds, each as a dict of those fields (None where
    absent), read from their columns without decoding the rest."""
    try:
        for batch in _batches(path):
            names = batch.schema.names
            if kinds is None or fields is None or RAW_KEYS in batch.column(1).dictionary \
                    .to_pylist() or not set(fields) <= set(names):
                events = decode(batch)[1]
                if kinds is not None:
                    events = [e for e in events if e.get("ev") in kinds]
                yield from events if fields is None else project(events, fields)
                continue
            wanted = pc.is_in(batch.column("ev"), value_set=pa.array(list(kinds)))
            yield from batch.filter(wanted).select(list(fields)).to_pylist()
    except (NotImload, *_DAMAGED):
        return


def project(events: Iterable[dict[str, Any]], fields: Sequence[str]
            ) -> Iterator[dict[str, Any]]:
    """Each event as a dict of ``fields`` (None where absent)."""
    for e in events:
        yield {f: e.get(f) for f in fields}


def in_order(numbers: list[int], events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``events`` in the order of their numbers (a C-level sort of the positions)."""
    order = sorted(range(len(numbers)), key=numbers.__getitem__)
    return list(map(events.__getitem__, order))


def read_new_batches(path: Path, seen: int) -> tuple[list[dict[str, Any]], int]:
    """The events of the batches after the first ``seen`` of a file still being written, and
    how many whole batches it holds now (a batch still being written waits for the next
    call). The zstd stream is read from its start each time (cheap: the batches already
    seen are skipped undecoded)."""
    numbers: list[int] = []
    events: list[dict[str, Any]] = []
    n = 0
    try:
        for batch in _batches(path):
            if n >= seen:
                more, evs = decode(batch)
                numbers.extend(more)
                events.extend(evs)
            n += 1
    except _DAMAGED:
        pass  # the end of what is written so far (or a file that is not a journal)
    return in_order(numbers, events), n
