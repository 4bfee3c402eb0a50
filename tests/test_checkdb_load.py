"""The DuckDB checker's loader (imload/checkdb/load.py): batches of any schema version, and
of only the columns their events use, are split by name."""

from __future__ import annotations

import pyarrow as pa

from imload.checkdb.load import CORE, on_schema
from imload.journal.columns import SCHEMA, encode, group_rows, schema_of


def test_a_batch_of_the_columns_its_events_use_is_taken_as_it_is() -> None:
    batch = encode(group_rows([{"ev": "send", "at": 1.0, "user": "u", "cmid": "c"}]))
    assert on_schema(batch) is batch
    assert set(batch.schema.names) == {*CORE, "user", "cmid"}


def test_core_columns_are_filled_and_other_versions_conformed() -> None:
    """No ``ev`` or ``at`` (hand-made events without them), a column of an older version
    (``gone``), a type that changed (``seq`` once a string of digits)."""
    keys = pa.DictionaryArray.from_arrays(pa.array([0, 0], pa.int32()), pa.array(["seq,gone"]))
    batch = pa.record_batch([pa.array([0, 1]), keys, pa.array(["7", "x"]),
                             pa.array([1, 2])], names=["n", "keys", "seq", "gone"])
    fixed = on_schema(batch)
    assert fixed.schema == schema_of(frozenset({*CORE, "seq"}))
    assert fixed.schema.names == [f.name for f in SCHEMA if f.name in {*CORE, "seq"}]
    assert fixed.column("ev").null_count == 2 and fixed.column("at").null_count == 2
    assert fixed.column("seq").type == pa.int64()
    assert fixed.column("seq").to_pylist() == [None, None]  # "x" cannot be cast: all null
    ok = on_schema(batch.filter(pa.array([True, False])))
    assert ok.column("seq").to_pylist() == [7]
