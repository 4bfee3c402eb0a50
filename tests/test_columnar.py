"""The columnar journal file (imload/journal/columnar.py): written in batches, read back
whole, and read as far as it goes when it was cut short, never an exception."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from imload.journal.columnar import (
    COMPRESSION,
    SUFFIX,
    ColumnarJournalWriter,
    read_columnar,
    read_new_batches,
)
from imload.journal.columns import SCHEMA, schema_of


def events(n: int, start: int = 0) -> list[dict[str, Any]]:
    """``n`` events of a few kinds, one of them kept raw (an int ``at``)."""
    out: list[dict[str, Any]] = []
    for i in range(start, start + n):
        if i % 7 == 3:
            out.append({"ev": "odd", "at": i, "seq": str(i)})  # raw
        elif i % 3 == 0:
            out.append({"ev": "deliver", "at": i / 10, "user": f"u{i}", "device": "d0",
                        "session": 1, "mid": f"m{i}", "conv": "c", "seq": i, "useq": i,
                        "from": "v", "from_device": "d0", "cmid": f"k{i}", "digest": None,
                        "via": "push", "phase": "load"})
        else:
            out.append({"ev": "device", "at": i / 10, "user": f"u{i}", "device": "d0",
                        "note": {"i": i}})
    return out


def streams_in(path: Path) -> list[pa.Table]:
    """A whole file's Arrow streams, read as any tool can: decompressed, then one stream
    after another to the end."""
    with pa.CompressedInputStream(pa.OSFile(str(path)), COMPRESSION) as f:
        data = f.read_buffer()
    source = pa.BufferReader(data)
    out = []
    while source.tell() < data.size:
        out.append(ipc.open_stream(source).read_all())
    return out


def batches_in(path: Path) -> list[int]:
    """The number of rows of each batch of a whole file."""
    return [b.num_rows for t in streams_in(path) for b in t.to_batches()]


def table_of(path: Path) -> pa.Table:
    """A whole file as one table on ``SCHEMA`` (a column a stream lacks: null in its rows)."""
    table = pa.concat_tables(streams_in(path), promote_options="default")
    return pa.table([table.column(f.name) if f.name in table.column_names
                     else pa.nulls(table.num_rows, f.type) for f in SCHEMA], schema=SCHEMA)


def write(path_dir: Path, name: str, evs: list[dict[str, Any]], flush_every: int,
          flush_after: tuple[int, ...] = ()) -> Path:
    with ColumnarJournalWriter(path_dir, name, flush_every=flush_every) as w:
        for i, e in enumerate(evs, 1):
            w.write(e)
            if i in flush_after:
                w.flush()
    return w.path


def test_round_trip_over_several_flushes(tmp_path: Path) -> None:
    evs = events(23)
    path = write(tmp_path, "a", evs, flush_every=5, flush_after=(7,))
    assert path == tmp_path / f"a{SUFFIX}" and SUFFIX == ".arrows.zst"
    back, problem = read_columnar(path)
    assert problem is None
    assert back == evs and [list(e) for e in back] == [list(e) for e in evs]
    assert [type(e["at"]) for e in back] == [type(e["at"]) for e in evs]
    # 5 (flush_every), 2 (flush()), 5, 5, 5, then the rest on close
    assert batches_in(path) == [5, 2, 5, 5, 5, 1]


def test_the_file_is_a_zstd_arrow_stream_any_tool_can_read(tmp_path: Path) -> None:
    evs = events(10)
    path = write(tmp_path, "a", evs, flush_every=4)
    streams = streams_in(path)
    assert len(streams) == 4  # one per flush, each with the columns its events use ...
    assert streams[3].num_rows == 0  # ... and the end mark
    assert all(t.schema == schema_of(frozenset(t.schema.names)) for t in streams)
    assert "raw" in streams[0].schema.names and "raw" not in streams[2].schema.names
    table = table_of(path)
    assert table.num_rows == 10
    # rows are grouped by key list within a batch; ``n`` gives the written order back
    assert sorted(table.column("n").to_pylist()) == list(range(10))
    by_n = table.sort_by("n")
    assert by_n.column("ev").to_pylist() == [e["ev"] for e in evs]
    assert by_n.column("seq").to_pylist() == [e.get("seq") if e["ev"] == "deliver" else
                                              None for e in evs]


def test_the_writer_flushes_at_flush_every(tmp_path: Path) -> None:
    w = ColumnarJournalWriter(tmp_path, "a", flush_every=4)
    evs = events(9)
    for e in evs[:3]:
        w.write(e)
    assert w.count == 3
    assert read_new_batches(w.path, 0) == ([], 0)  # held in memory
    w.write(evs[3])
    assert read_new_batches(w.path, 0) == (evs[:4], 1)
    for e in evs[4:9]:
        w.write(e)
    assert read_new_batches(w.path, 0) == (evs[:8], 2)
    w.flush()
    assert read_new_batches(w.path, 0) == (evs, 3)
    w.flush()  # nothing pending: no empty batch
    assert read_new_batches(w.path, 3) == ([], 3)
    w.close()
    assert batches_in(w.path) == [4, 4, 1]


def test_close_twice_and_flush_after_close_are_fine(tmp_path: Path) -> None:
    w = ColumnarJournalWriter(tmp_path, "a")
    w.write(events(1)[0])
    w.close()
    size = w.path.stat().st_size
    w.close()
    w.flush()
    assert w.path.stat().st_size == size
    assert read_columnar(w.path) == (events(1), None)


def test_a_writer_with_nothing_written_leaves_a_readable_file(tmp_path: Path) -> None:
    with ColumnarJournalWriter(tmp_path, "a"):
        pass
    assert read_columnar(tmp_path / f"a{SUFFIX}") == ([], None)


def _offsets(data: bytes, cut: Path, stride: int = 5) -> list[int]:
    """Every 5th byte, and every byte between two of those where the events read back
    change (a batch ends there): each kind of cut, at a fraction of every offset's cost."""
    def held(offset: int) -> int:
        cut.write_bytes(data[:offset])
        return len(read_columnar(cut)[0])
    picks = list(range(0, len(data), stride))
    found = set(picks)
    counts = [held(o) for o in picks]
    for k in range(len(picks) - 1):
        if counts[k] != counts[k + 1]:
            found.update(range(picks[k], picks[k + 1]))
    return sorted(found)


def test_a_file_cut_anywhere_reads_back_its_whole_batches(tmp_path: Path) -> None:
    evs = events(40)
    path = write(tmp_path, "a", evs, flush_every=9)
    data = path.read_bytes()
    # how many events the file holds, at each size it had when a batch was flushed
    sizes = [9, 18, 27, 36, 40]
    cut = tmp_path / f"cut{SUFFIX}"
    seen: dict[int, int] = {}
    for offset in _offsets(data, cut):
        cut.write_bytes(data[:offset])
        back, problem = read_columnar(cut)
        assert back == evs[: len(back)], offset  # a prefix ...
        assert len(back) in (0, *sizes), offset  # ... of whole batches
        assert problem is not None and problem.startswith(f"cut{SUFFIX}: cut short "), offset
        assert ("at its start" in problem) == (not back), (offset, problem)
        seen.setdefault(len(back), offset)
    assert sorted(seen) == [0, *sizes]  # every batch boundary was met (and not past the end)
    assert seen[0] == 0 and seen[9] < seen[18] < seen[27] < seen[36] < seen[40]
    cut.write_bytes(data)
    assert read_columnar(cut) == (evs, None)


def test_garbage_empty_and_foreign_files_are_named_not_raised(tmp_path: Path) -> None:
    garbage = tmp_path / f"garbage{SUFFIX}"
    garbage.write_bytes(os.urandom(3000))
    empty = tmp_path / f"empty{SUFFIX}"
    empty.write_bytes(b"")
    plain = tmp_path / f"plain{SUFFIX}"  # an Arrow stream, but not compressed
    with pa.OSFile(str(plain), "wb") as f, ipc.new_stream(f, SCHEMA):
        pass
    foreign = tmp_path / f"foreign{SUFFIX}"
    schema = pa.schema([("a", pa.int64())])
    with pa.CompressedOutputStream(str(foreign), COMPRESSION) as f, \
            ipc.new_stream(f, schema) as s:
        s.write_batch(pa.record_batch([pa.array([1, 2])], schema=schema))
    for path in (garbage, empty, plain, foreign):
        back, problem = read_columnar(path)
        assert back == [] and problem is not None and problem.startswith(path.name), path
        assert read_new_batches(path, 0) == ([], 0)
    assert "not an imload journal" in read_columnar(foreign)[1]


@pytest.mark.parametrize("keys", [pa.array(["ev,at"]), pa.array([7])])
def test_a_stream_that_only_looks_like_a_journal_is_named(tmp_path: Path,
                                                          keys: pa.Array) -> None:
    """The first two columns are n and keys, the rest is not imload's."""
    schema = pa.schema([("n", pa.int64()), ("keys", keys.type), ("x", pa.int64())])
    path = tmp_path / f"odd{SUFFIX}"
    with pa.CompressedOutputStream(str(path), COMPRESSION) as f, \
            ipc.new_stream(f, schema) as s:
        s.write_batch(pa.record_batch([pa.array([0]), keys, pa.array([1])], schema=schema))
    back, problem = read_columnar(path)
    assert back == [] and problem is not None and problem.startswith(f"odd{SUFFIX}: ")
    assert read_new_batches(path, 0)[0] == []


def test_read_new_batches_returns_each_event_once_as_the_file_grows(tmp_path: Path) -> None:
    evs = events(50)
    whole = write(tmp_path, "whole", evs, flush_every=8).read_bytes()
    growing = tmp_path / f"growing{SUFFIX}"
    got: list[dict[str, Any]] = []
    seen = 0
    calls_with_news = 0
    for offset in [*range(0, len(whole), 53), len(whole)]:  # the file as a reader may see it
        growing.write_bytes(whole[:offset])
        new, seen = read_new_batches(growing, seen)
        calls_with_news += bool(new)
        got.extend(new)
        assert got == evs[: len(got)]
        again, same = read_new_batches(growing, seen)  # nothing new: nothing twice
        assert again == [] and same == seen
    assert got == evs and seen == 7
    assert calls_with_news == 7  # every batch came on its own (the steps are small)


def test_read_new_batches_while_the_writer_writes(tmp_path: Path) -> None:
    w = ColumnarJournalWriter(tmp_path, "a", flush_every=1000)
    got: list[dict[str, Any]] = []
    seen = 0
    evs = events(30)
    for chunk in (evs[:10], evs[10:11], evs[11:30]):
        for e in chunk:
            w.write(e)
        w.flush()
        new, seen = read_new_batches(w.path, seen)
        assert new == chunk
        got.extend(new)
    w.close()
    new, seen = read_new_batches(w.path, seen)
    assert new == [] and seen == 3 and got == evs


def test_a_file_of_another_version_is_read_by_column_name(tmp_path: Path) -> None:
    """The typed columns follow FIELD_TYPES, which grows: a file whose schema has a column
    fewer (its field was unknown then: in ``extra``) and one more reads back the same."""
    evs = events(12)
    path = write(tmp_path, "new", evs, flush_every=5)
    table = table_of(path)
    older = table.drop_columns(["role", "useq"]).append_column("gone", pa.nulls(12, pa.int64()))
    old = tmp_path / f"old{SUFFIX}"
    with pa.CompressedOutputStream(str(old), COMPRESSION) as f, \
            ipc.new_stream(f, older.schema) as s:
        s.write_table(older)
    # the delivers' useq had no column then: an older writer put it in their extra
    assert read_columnar(old)[0] != evs
    fixed = older.set_column(older.schema.get_field_index("extra"), "extra", pa.array(
        [f'{{"useq":{u}}}' if u is not None else x
         for u, x in zip(table.column("useq").to_pylist(), table.column("extra").to_pylist(),
                         strict=True)]))
    with pa.CompressedOutputStream(str(old), COMPRESSION) as f, \
            ipc.new_stream(f, fixed.schema) as s:
        s.write_table(fixed)
    assert read_columnar(old) == (evs, None)
    assert read_new_batches(old, 0) == (evs, 3)
