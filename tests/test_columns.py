"""The columnar journal's schema (imload/journal/columns.py): any event comes back exactly as
it was written (values, their types, key order, missing vs null), and well-typed events sit
in typed columns a query can use."""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from imload.journal.columns import (
    NESTED,
    RAW_KEYS,
    SCHEMA,
    TYPES,
    decode,
    encode,
    group_rows,
    schema_of,
)
from imload.journal.events import EVENT_FIELDS, FIELD_TYPES


def roundtrip(rows: list[dict[str, Any]], first: int = 0
              ) -> tuple[list[int], list[dict[str, Any]], pa.RecordBatch]:
    """(numbers, events) decoded from the batch of ``rows``, in number order; and the batch."""
    batch = encode(group_rows(rows, first))
    numbers, events = decode(batch)
    order = sorted(range(len(numbers)), key=numbers.__getitem__)
    return [numbers[i] for i in order], [events[i] for i in order], batch


def same(a: Any, b: Any) -> bool:
    """Equal, of the same types all the way down (1, 1.0 and True differ), dicts in the same
    key order, -0.0 and 0.0 apart."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, float):
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return bool(a == b)


def test_same_tells_types_and_key_order_apart() -> None:
    assert same({"a": [1, {"b": 1.0}]}, {"a": [1, {"b": 1.0}]})
    assert not same({"a": 1}, {"a": 1.0}) and not same({"a": 1}, {"a": True})
    assert not same({"a": 1, "b": 2}, {"b": 2, "a": 1})
    assert not same([{"x": 2**70}], [{"x": float(2**70)}])
    assert not same(0.0, -0.0)


# -- strategies ----------------------------------------------------------------------------

INT64 = st.integers(-(2**63), 2**63 - 1)
BIG = st.integers(2**63, 2**90) | st.integers(-(2**90), -(2**63) - 1)  # beyond int64
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
TEXT = st.text(max_size=12)  # any unicode but lone surrogates (JSON cannot hold those)
SCALARS = st.none() | st.booleans() | INT64 | BIG | FLOATS | TEXT
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(TEXT, inner, max_size=3), max_leaves=8)

# field names the schema does not know, with the awkward ones: a comma (the keys column joins
# names with commas), the names of the schema's own columns, the empty name
UNKNOWN = st.sampled_from(["zz", "a,b", ",", "raw", "extra", "n", "keys", "", "ключ", "ü,"]) \
    | st.text(max_size=6).filter(lambda k: k not in FIELD_TYPES)
KINDS = st.sampled_from(sorted(EVENT_FIELDS)) | st.text(max_size=8)


def right_value(field: str) -> st.SearchStrategy[Any]:
    """A value of the type ``field``'s column holds."""
    kind = TYPES[field]
    if field in NESTED:
        types = FIELD_TYPES[field]
        return st.dictionaries(TEXT, JSON, max_size=3) if dict in types \
            else st.lists(JSON, max_size=3)
    if kind == pa.int64():
        return INT64
    if kind == pa.float64():
        return FLOATS
    if kind == pa.bool_():
        return st.booleans()
    return TEXT


def value(field: str, clean: bool) -> st.SearchStrategy[Any]:
    if field not in TYPES:
        return JSON
    if clean:
        return right_value(field) | st.none()
    return right_value(field) | JSON  # of the right type or anything at all


@st.composite
def shapes(draw: st.DrawFn) -> tuple[str, tuple[str, ...]]:
    """A kind and its key list: the kind's fields, maybe some more, maybe not all, any order."""
    kind = draw(KINDS)
    names = ["ev", "at", *EVENT_FIELDS.get(kind, ())]
    names += draw(st.lists(st.sampled_from(sorted(FIELD_TYPES)) | UNKNOWN, max_size=4))
    names = list(dict.fromkeys(names))
    if draw(st.booleans()):
        names = [n for n in names if draw(st.integers(0, 5))]  # drop about one in six
    if draw(st.booleans()):
        names = draw(st.permutations(names))
    return kind, tuple(names)


@st.composite
def event_lists(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Events of a few shapes (so groups hold several rows), each clean or not."""
    kinds = draw(st.lists(shapes(), min_size=1, max_size=5))
    out = []
    for _ in range(draw(st.integers(0, 25))):
        kind, names = draw(st.sampled_from(kinds))
        clean = draw(st.booleans())
        e: dict[str, Any] = {}
        for n in names:
            if n == "ev" and clean:
                e[n] = kind
            elif n == "at" and clean:
                e[n] = draw(FLOATS)
            else:
                e[n] = draw(value(n, clean))
        out.append(e)
    return out


@settings(max_examples=150)
@given(rows=event_lists(), first=st.integers(0, 2**40))
def test_any_events_round_trip_exactly(rows: list[dict[str, Any]], first: int) -> None:
    numbers, back, batch = roundtrip(rows, first)
    assert batch.schema.names[:2] == ["n", "keys"] and batch.num_rows == len(rows)
    assert batch.schema == schema_of(frozenset(batch.schema.names))  # SCHEMA's, in its order
    assert numbers == list(range(first, first + len(rows)))
    assert back == rows
    for a, b in zip(back, rows, strict=True):
        assert list(a) == list(b)
        assert same(a, b), (a, b)


# -- targeted ------------------------------------------------------------------------------

def deliver(seq: Any, at: float = 1.0, **more: Any) -> dict[str, Any]:
    return {"ev": "deliver", "at": at, "user": "u", "device": "d", "session": 1, "mid": "m",
            "conv": "c", "seq": seq, "useq": seq, "from": "v", "from_device": "d",
            "cmid": "k", "digest": None, "via": "push", "phase": "load", **more}


def test_a_typed_batch_has_typed_columns_a_query_can_use() -> None:
    rows = [deliver(s, at=10.0 + s) for s in range(1, 6)]
    rows.append({"ev": "send_ok", "at": 20.0, "user": "u", "device": "d", "session": 1,
                 "cmid": "k", "conv": "c", "mid": "m", "seq": 6, "dup": False})
    rows.append({"ev": "fault", "at": 21.0, "action": "start", "kind": "latency",
                 "target": "n1", "fault": "f1", "detail": {"ms": 200}})
    _, back, batch = roundtrip(rows)
    assert back == rows
    # nothing fell back to raw, no field is unknown: a column no row uses is not there
    assert "raw" not in batch.schema.names and "extra" not in batch.schema.names
    assert "useq" in batch.schema.names and "reason" not in batch.schema.names
    seq = batch.column("seq")
    assert seq.type == pa.int64() and seq.null_count == 1  # the fault has none
    assert batch.column("at").type == pa.float64() and batch.column("at").null_count == 0
    assert batch.column("dup").type == pa.bool_()
    delivers = batch.filter(pc.equal(batch.column("ev"), "deliver"))
    assert delivers.column("seq").null_count == 0
    assert sorted(delivers.column("seq").to_pylist()) == [1, 2, 3, 4, 5]
    assert pc.sum(delivers.column("seq")).as_py() == 15
    assert pc.max(batch.column("at")).as_py() == 21.0
    detail = batch.filter(pc.equal(batch.column("ev"), "fault")).column("detail")
    assert detail.to_pylist() == ['{"ms":200}']  # nested: JSON text


def test_missing_and_null_stay_apart() -> None:
    a = deliver(1)
    b = deliver(2)
    del b["digest"]
    rows = [a, b, {"ev": "x", "at": 1.0, "detail": None, "zz": None}]
    _, back, _ = roundtrip(rows)
    assert back == rows and "digest" in back[0] and "digest" not in back[1]
    assert [list(e) for e in back] == [list(e) for e in rows]


def test_unknown_fields_go_to_extra_as_json() -> None:
    rows = [{"ev": "newer", "at": 1.0, "shiny": {"a": [1, 2]}, "user": "u"}]
    _, back, batch = roundtrip(rows)
    assert back == rows and list(back[0]) == ["ev", "at", "shiny", "user"]
    assert batch.column("extra").to_pylist() == ['{"shiny":{"a":[1,2]}}']
    assert batch.column("user").to_pylist() == ["u"] and "raw" not in batch.schema.names


def test_a_wrong_typed_value_keeps_the_event_whole_as_json() -> None:
    good = deliver(1)
    bad = deliver("7", at=2.0, extra_field=1)  # a string seq (other keys: another group)
    _, back, batch = roundtrip([good, bad])
    assert back == [good, bad] and type(back[1]["seq"]) is str
    keys = batch.column("keys").to_pylist()
    assert keys == [",".join(good), RAW_KEYS]
    raw = batch.column("raw").to_pylist()
    assert raw[0] is None and raw[1] is not None and '"seq":"7"' in raw[1]
    # the good event's columns are typed; the raw one's ev and at are still there to query
    assert batch.column("seq").to_pylist() == [1, None]
    assert batch.column("ev").to_pylist() == ["deliver", "deliver"]
    assert batch.column("at").to_pylist() == [1.0, 2.0]


def test_numbers_of_the_wrong_kind_go_raw_not_converted() -> None:
    cases = [
        {"ev": "x", "at": 1},  # an int at: a float column would make it 1.0
        {"ev": "x", "at": 1.0, "seq": 2.0},  # a float seq: an int column would make it 2
        {"ev": "x", "at": 1.0, "seq": True},  # a bool seq
        {"ev": "x", "at": 1.0, "seq": 2**64},  # beyond int64
        {"ev": "x", "at": 10**400},  # an int no float can hold
        {"ev": "x", "at": 1.0, "zz": 2**70},  # a big int in an unknown field
        {"ev": "x", "at": 1.0, "detail": {"a": -(2**65)}},  # ... in a nested one
    ]
    for e in cases:
        _, back, batch = roundtrip([e])
        assert batch.column("keys").to_pylist() == [RAW_KEYS], e
        assert same(back[0], e), (back, e)


def test_field_names_the_keys_column_cannot_spell_go_raw() -> None:
    for e in ({"ev": "x", "at": 1.0, "a,b": 1}, {"raw": 1}, {}):
        _, back, batch = roundtrip([e])
        assert batch.column("keys").to_pylist() == [RAW_KEYS]
        assert same(back[0], e)


def test_one_group_falls_back_alone() -> None:
    """A value that overflows its column sends its group raw, not the whole batch."""
    rows = [deliver(1), {"ev": "x", "at": 2.0, "seq": 2**63}]
    _, back, batch = roundtrip(rows)
    assert back == rows
    assert batch.column("keys").to_pylist() == [",".join(rows[0]), RAW_KEYS]


def test_every_known_field_has_a_column_of_its_type() -> None:
    """A field of numbers only gets a number column (a string one would send every value
    raw), nested ones JSON text, and every field of FIELD_TYPES a column."""
    assert set(TYPES) == set(FIELD_TYPES) and set(SCHEMA.names) == {"n", "keys", "extra",
                                                                   "raw", *FIELD_TYPES}
    for field, types in FIELD_TYPES.items():
        kinds = set(types) - {type(None)}
        if kinds <= {int, float} and bool not in kinds:
            assert TYPES[field] in (pa.int64(), pa.float64()), field
        elif kinds == {bool}:
            assert TYPES[field] == pa.bool_(), field
        else:
            assert TYPES[field] == pa.string(), field
            assert (field in NESTED) == bool(kinds & {dict, list}), field


def test_a_refused_connect_as_the_client_writes_it_is_typed() -> None:
    """``retry_after_ms`` is whole milliseconds (a Retry-After header), or None."""
    rows = [{"ev": "connect_failed", "at": 3.0, "user": "u", "device": "d", "reason": "HTTP 503",
             "retry_after_ms": ms, "backoff": "full_jitter", "retry_in_s": 1.25}
            for ms in (1500, None)]
    _, back, batch = roundtrip(rows)
    assert back == rows
    assert "raw" not in batch.schema.names
    assert batch.column("retry_after_ms").type == pa.int64()
    assert batch.column("retry_after_ms").to_pylist() == [1500, None]


def test_the_clock_events_are_typed() -> None:
    rows = [{"ev": "clock", "at": 5.25, "source": "vm-1", "wall": 1796606731.73, "host": "vm",
             "role": "master"},
            {"ev": "clock_offset", "at": 6.5, "source": "vm-2", "offset_s": 7.4e-05,
             "rtt_s": 0.0011}]
    _, back, batch = roundtrip(rows)
    assert back == rows
    assert "raw" not in batch.schema.names
    assert batch.column("wall").type == pa.float64()
    assert batch.column("rtt_s").to_pylist() == [None, 0.0011]


def test_a_batch_of_another_version_reads_back_by_column_name() -> None:
    """An older imload had no ``role`` column (it went to ``extra``) but a ``gone`` one, and
    its columns stood in another order: columns are found by name, not place."""
    schema = pa.schema([("n", pa.int64()), ("keys", pa.dictionary(pa.int32(), pa.string())),
                        ("gone", pa.int64()), ("at", pa.float64()), ("ev", pa.string()),
                        ("detail", pa.string()), ("raw", pa.string()), ("extra", pa.string())])
    keys = pa.DictionaryArray.from_arrays(pa.array([0, 1, 0], pa.int32()),
                                          pa.array(["ev,at,role,gone,detail", RAW_KEYS]))
    batch = pa.record_batch([
        pa.array([2, 0, 1]), keys, pa.array([5, None, 6]), pa.array([1.0, None, 2.0]),
        pa.array(["clock", "odd", "clock"]), pa.array(['{"a":1}', None, None]),
        pa.array([None, '{"ev":"odd","at":1}', None]),
        pa.array(['{"role":"master"}', None, '{"role":"w"}'])], schema=schema)
    numbers, events = decode(batch)
    assert sorted(zip(numbers, map(str, events), strict=True)) == [
        (0, str({"ev": "odd", "at": 1})),
        (1, str({"ev": "clock", "at": 2.0, "role": "w", "gone": 6, "detail": None})),
        (2, str({"ev": "clock", "at": 1.0, "role": "master", "gone": 5, "detail": {"a": 1}})),
    ]
