"""The columnar journal file (``<name>.arrows.zst``, one per process): Arrow IPC streams,
one per flush, each in a zstd frame of its own.

``ColumnarJournalWriter`` has the interface of ``JournalWriter`` (``write``,
``flush``, ``close``, ``path``, ``count``): events are kept in memory (typed
buffers filled in C: ``colbuf``) and written every ``flush_every`` events and on
every ``flush()`` (the Locust processes flush every second). A flush is one
record batch with the columns its events use, so each is a stream of its own
(its schema, its batch, the end-of-stream marker), compressed as one frame and
written at once: a file is readable up to its last whole flush after a crash,
and ``read_columnar`` says where a torn one cut it short. ``close`` adds a
stream of no batch, the end mark (``END``): a file without it was not closed.

``zstdcat F`` gives the streams one after another (any Arrow IPC reader reads
each). Compressing a flush as one buffer costs a fraction of a zstd stream fed
each IPC buffer on its own, and Arrow's own per-buffer compression costs
milliseconds per batch. See ``columns`` for the schema and how an event
round-trips exactly.
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

from imload.journal.colbuf import columns_of, kinds_for, pending
from imload.journal.columns import RAW_KEYS, SCHEMA, Group, add_to, columns_in, decode, join

SUFFIX = ".arrows.zst"  # the Arrow IPC stream format's customary extension, compressed
COMPRESSION = "zstd"
# the last stream of a file its writer closed: no batch, this schema (each flush's stream
# is marked too: ``columns.schema_of``)
END = SCHEMA.with_metadata({"imload": "end"})


class ColumnarJournalWriter:
    """Appends events to ``DIR/<name>.arrows.zst`` in batches. Thread- and greenlet-safe."""

    def __init__(self, directory: str | os.PathLike[str], name: str,
                 flush_every: int = 8192, compiled: bool = True) -> None:
        Path(directory).mkdir(parents=True, exist_ok=True)
        self.path = Path(directory) / f"{name}{SUFFIX}"
        self._file = pa.OSFile(str(self.path), "wb")
        self._codec = pa.Codec(COMPRESSION)
        self._lock = threading.Lock()
        self._flush_every = flush_every
        # the events since the last flush: in typed buffers (``colbuf``; ``compiled``
        # False: the pure-Python path alone), the rest in ``_groups``
        self._pending = pending(flush_every - 1, compiled)
        self._seen: set[tuple[str, ...]] = set()  # key lists met (registered when typed)
        self._groups: dict[tuple[str, ...], Group] = {}

    @property
    def count(self) -> int:
        """Events written so far."""
        return self._pending.count

    def write(self, ev: dict[str, Any]) -> None:
        done = self._pending.add(ev)  # the common case: one C call, atomic under the GIL
        if done == 1:
            return
        with self._lock:
            if done == 0:
                self._add(ev)
            if self._pending.count > self._pending.flush_at:
                self._write_pending()

    def _add(self, ev: dict[str, Any]) -> None:
        """An event the fast path did not take: its key list's first (registered then, when
        typed), or one it does not take (to the Python path)."""
        keys = tuple(ev)
        if keys not in self._seen:
            self._seen.add(keys)
            kinds = kinds_for(keys)
            if kinds is not None:
                try:
                    self._pending.register(keys, kinds)
                except ValueError:  # another key list of the same hash, or no extension
                    pass
                else:
                    if self._pending.add(ev):
                        return
        add_to(self._groups, keys, ev, self._pending.claim())

    def _write_pending(self) -> None:
        if self._file.closed:
            return
        parts = [columns_of(keys, taken) for keys, taken in self._pending.take()]
        parts += [columns_in(g) for g in self._groups.values() if g.numbers]
        self._groups = {}
        self._pending.flush_at = self._pending.count + self._flush_every - 1
        if parts:
            self._write_stream(join(parts))

    def _write_stream(self, batch: pa.RecordBatch) -> None:
        """One flush: an Arrow stream of its own (the columns its events use) in a zstd
        frame of its own, written at once; a batch of no row makes a stream of no batch."""
        sink = pa.BufferOutputStream()
        with ipc.new_stream(sink, batch.schema) as stream:
            if batch.num_rows:
                stream.write_batch(batch)
        self._file.write(self._codec.compress(sink.getvalue()))

    def flush(self) -> None:
        with self._lock:
            self._write_pending()

    def close(self) -> None:
        with self._lock:
            if self._file.closed:
                return
            self._write_pending()
            self._write_stream(pa.RecordBatch.from_pylist([], END))
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
    """The record batches of one columnar file (its streams one after another), as far as
    it can be read; an error when it ends without its writer's end mark."""
    with pa.CompressedInputStream(pa.OSFile(str(path)), COMPRESSION) as raw:
        f = _Peekable(raw)
        streams, ended = 0, False
        while not f.at_end():
            reader = ipc.open_stream(f)
            schema = reader.schema
            if schema.names[:2] != ["n", "keys"]:
                raise NotImload("not an imload journal (its first columns are not n, keys)")
            streams += 1
            ended = schema.metadata == END.metadata
            yield from reader
        if not streams:
            raise OSError("no Arrow stream in it")
        # (a file of the first format: one stream, unmarked, whole at its end)
        if not ended and not (streams == 1 and not schema.metadata):
            raise OSError("no end mark: its writer did not close it")


class _Peekable:
    """A file object over a decompressing stream that says whether anything is left (Arrow's
    own cannot), so a reader knows a stream's end from the file's. Reads are zero-copy
    Arrow buffers but for the byte taken to look."""

    def __init__(self, raw: pa.NativeFile) -> None:
        self.raw = raw
        self.head = b""
        self.closed = False

    def at_end(self) -> bool:
        if not self.head:
            self.head = self.raw.read(1)
        return not self.head

    def read(self, n: int | None = -1) -> bytes | pa.Buffer:
        if self.head:
            head, self.head = self.head, b""
            return head + (self.raw.read() if n is None or n < 0 else self.raw.read(n - 1))
        return self.raw.read() if n is None or n < 0 else self.raw.read_buffer(n)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True


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
                    .to_pylist():
                events = decode(batch)[1]
                if kinds is not None:
                    events = [e for e in events if e.get("ev") in kinds]
                yield from events if fields is None else project(events, fields)
                continue
            if "ev" not in names:  # no row is an event of a kind
                continue
            wanted = pc.is_in(batch.column("ev"), value_set=pa.array(list(kinds)))
            present = [f for f in fields if f in names]  # (the others: null in every row)
            rows = batch.filter(wanted).select(present).to_pylist()
            yield from rows if len(present) == len(fields) else project(rows, fields)
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
