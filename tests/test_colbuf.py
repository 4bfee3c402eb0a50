"""The columnar writer's fast path (imload/journal/colbuf.py, _colbuf.c): typed buffers
filled in C give the events back exactly as the pure-Python path does, refuse whatever
does not fit a column's type whole (the event goes to the Python path), and start again
after each ``take``."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imload.journal import colbuf
from imload.journal.colbuf import columns_of, kinds_for
from imload.journal.columnar import ColumnarJournalWriter, read_columnar
from imload.journal.columns import NESTED, TYPES, decode, join

needs_build = pytest.mark.skipif(not colbuf.AVAILABLE, reason="built without a C compiler")


def test_the_extension_is_built_where_a_compiler_is() -> None:
    """setup.py's extension is optional: a failed build must not pass unnoticed here."""
    assert colbuf.AVAILABLE or shutil.which("cc") is None


def deliver(seq: Any = 1, **more: Any) -> dict[str, Any]:
    return {"ev": "deliver", "at": 1.5, "user": "u", "device": "u/d1", "mid": f"m{seq}",
            "seq": seq, "dup": False, "server_ts": None, **more}


def rows_for(keys: tuple[str, ...]) -> Any:
    """Typed buffers for key list ``keys`` (``_colbuf.Rows``), or None when not typed."""
    kinds = kinds_for(keys)
    return None if kinds is None else colbuf._colbuf.Rows(kinds)


def back(keys: tuple[str, ...], rows: Any) -> list[dict[str, Any]]:
    """What ``rows`` holds, as events (through a batch and the reader's decode)."""
    return decode(join([columns_of(keys, rows.take())]))[1]


@needs_build
def test_values_come_back_with_their_types_and_nulls() -> None:
    evs = [deliver(i, at=i / 3, dup=i % 3 == 0, server_ts=i * 1000 if i % 2 else None)
           for i in range(20)]  # bools and validity over more than two bytes of bits
    evs[7]["user"] = "ü-ñ 😀"  # UTF-8 of more than one byte
    evs[8]["user"] = None
    keys = tuple(evs[0])
    rows = rows_for(keys)
    assert rows is not None
    assert all(rows.add(e, n) for n, e in enumerate(evs)) and len(rows) == 20
    assert back(keys, rows) == evs
    assert len(rows) == 0 and back(keys, rows) == []  # taken: empty again
    assert rows.add(evs[3], 0) and back(keys, rows) == [evs[3]]


@needs_build
@pytest.mark.parametrize(("field", "value"), [
    ("seq", True),  # a bool is not an int
    ("seq", 1.0),  # a float in an int column
    ("seq", 2 ** 63),  # beyond int64
    ("seq", "7"),
    ("at", 2),  # an int in a float column
    ("user", 5),
    ("user", "\ud800"),  # a lone surrogate has no UTF-8
    ("dup", 0),
    ("mid", type("Name", (str,), {})("m")),  # a str subclass: only exact types
])
def test_a_value_of_another_type_is_refused_and_nothing_kept(field: str, value: Any) -> None:
    good = deliver(1)
    keys = tuple(good)
    rows = rows_for(keys)
    assert rows is not None and rows.add(good, 0)
    odd = {**good, field: value}
    assert rows.add(odd, 1) is False
    assert rows.add(deliver(2), 2)
    assert len(rows) == 2 and back(keys, rows) == [good, deliver(2)]


@needs_build
def test_a_refused_event_leaves_no_null_count_behind() -> None:
    """The nulls written before the value that did not fit are taken back too."""
    good = deliver(1)
    keys = tuple(good)
    rows = rows_for(keys)
    assert rows.add(good, 0) and rows.add({**good, "user": None, "seq": "x"}, 1) is False
    columns = columns_of(keys, rows.take())
    assert columns["user"].null_count == 0 and columns["user"].to_pylist() == ["u"]
    columns["user"].validate(full=True)


@needs_build
def test_what_the_fast_path_does_not_take() -> None:
    assert rows_for(("ev", "at", "detail")) is None  # nested: JSON text, the Python path
    assert rows_for(("ev", "at", "shiny")) is None  # unknown to the schema
    assert rows_for(("raw",)) is None and rows_for(()) is None
    rows = rows_for(("ev", "at"))
    assert rows is not None and rows.add({"ev": "x"}, 0) is False  # another key count
    with pytest.raises(TypeError):
        rows.add(["ev", "at"], 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kind"):
        colbuf._colbuf.Rows("sx")


TYPED = sorted(k for k in TYPES if k not in NESTED)
_VALUES = {pa.string(): st.text(max_size=6), pa.int64(): st.integers(-2 ** 63, 2 ** 63 - 1),
           pa.float64(): st.floats(allow_nan=False), pa.bool_(): st.booleans()}
# anything: what fits, what does not (the writer sends those to the Python path)
_ANY = st.one_of(st.none(), st.text(max_size=3), st.integers(-2 ** 70, 2 ** 70),
                 st.floats(allow_nan=False), st.booleans())


@st.composite
def typed_events(draw: st.DrawFn) -> list[dict[str, Any]]:
    key_lists = draw(st.lists(st.lists(st.sampled_from(TYPED), min_size=1, max_size=8,
                                       unique=True), min_size=1, max_size=3))
    out = []
    for _ in range(draw(st.integers(1, 30))):
        keys = draw(st.sampled_from(key_lists))
        out.append({k: draw(st.one_of(st.none(), _VALUES[TYPES[k]]) if draw(st.integers(0, 9))
                            else _ANY) for k in keys})
    return out


@settings(max_examples=60, deadline=None)
@given(evs=typed_events(), flush_every=st.integers(1, 12))
def test_both_paths_give_the_same_events_back(tmp_path_factory: pytest.TempPathFactory,
                                              evs: list[dict[str, Any]],
                                              flush_every: int) -> None:
    folder = tmp_path_factory.mktemp("w")
    got = []
    for compiled in (True, False):
        with ColumnarJournalWriter(folder, f"c{compiled}", flush_every=flush_every,
                                   compiled=compiled) as w:
            for e in evs:
                w.write(e)
        events, problem = read_columnar(w.path)
        assert problem is None
        got.append(events)
    assert got[0] == evs and got[1] == evs
    for a, b in zip(got[0], evs, strict=True):
        assert list(a) == list(b) and [type(v) for v in a.values()] == \
            [type(v) for v in b.values()]


@needs_build
def test_pending_numbers_events_and_says_when_a_flush_is_due() -> None:
    p = colbuf.pending(2, compiled=True)
    keys = tuple(deliver(1))
    assert p.add(deliver(1)) == 0 and p.count == 0  # not registered: not taken, no number
    p.register(keys, kinds_for(keys) or "")
    with pytest.raises(ValueError, match="registered"):
        p.register(keys, kinds_for(keys) or "")
    assert [p.add(deliver(1)), p.add(deliver("x")), p.claim(), p.add(deliver(3))] == [1, 0, 1, 2]
    assert p.count == 3  # 0 and 2 taken, 1 claimed for the event not taken
    [(k, taken)] = p.take()
    assert k == keys and taken[0] == 2
    assert decode(join([columns_of(k, taken)]))[0] == [0, 2]
    assert p.take() == []
    with pytest.raises(ValueError, match="one kind per key"):
        p.register(("ev", "at"), "s")
    with pytest.raises(ValueError, match="keys are str"):
        p.register((1, "at"), "if")  # type: ignore[arg-type]
    assert p.add({1: 2, "at": 1.0}) == 0 and p.count == 3  # not a str key: not taken
    bare = colbuf._colbuf.Pending.__new__(colbuf._colbuf.Pending)  # no __init__: refused
    with pytest.raises(TypeError, match="not set up"):
        bare.add({"ev": "x"})


def test_many_key_lists_and_the_python_path_keep_the_written_order(tmp_path: Path) -> None:
    """More key lists than the first table holds (it grows), events not taken among them."""
    evs = [{"ev": "k", "at": float(i), **{f"f{j}": j for j in range(i % 5)},
            **({"user": "u", "seq": i} if i % 2 else {"device": 3})} for i in range(300)]
    evs += [{"ev": f"e{i}", **{TYPED[j]: None for j in range(i % 40)}} for i in range(200)]
    for compiled in (True, False):
        with ColumnarJournalWriter(tmp_path, f"m{compiled}", flush_every=64,
                                   compiled=compiled) as w:
            for e in evs:
                w.write(e)
            assert w.count == len(evs)
        assert read_columnar(w.path) == (evs, None)
