"""series.csv: the per-second series as CSV, one row per second, every column named with its
unit and equal to the series (pure, but for the one file written)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from test_report_html import sample_series

from imload.report.series_csv import (
    COLUMNS,
    HEADER,
    series_csv,
    series_rows,
    write_series_csv,
)
from imload.report.timeseries import Series


def distinct_series() -> Series:
    """Three seconds in which every column holds values no other column has: a column
    written under another's name, or shifted by a second, cannot go unnoticed."""
    return Series(t0=100.0, seconds=3, devices=9,
                  sent=[11, 12, 13], attempts=[21, 22, 23], failed=[31, 32, 33],
                  delivered=[41, 42, 43], ack_p50=[5.1, None, 5.3], ack_p99=[6.1, 6.2, 6.3],
                  e2e_p50=[7.1, 7.2, 7.3], e2e_p99=[8.1, 8.2, None], connected=[91, 92, 93],
                  connected_low=[81, 82, 83], unseen=[0, 4, 2])


def parse(text: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    return list(reader.fieldnames or []), list(reader)


def test_the_header_names_each_column_with_its_unit() -> None:
    header, _ = parse(series_csv(distinct_series()))
    assert header == ["t_s", "sent_per_s", "attempts_per_s", "failed_per_s",
                      "delivered_per_s", "ack_p50_ms", "ack_p99_ms", "e2e_p50_ms",
                      "e2e_p99_ms", "connected_devices", "connected_low_devices", "unseen_msgs"]
    assert header == list(HEADER)
    units = ("_s", "_per_s", "_ms", "_devices", "_msgs")
    assert all(name.endswith(units) for name in header)
    # every list the series holds per second is a column (a new one must be added here)
    per_second = {k for k, v in distinct_series().as_dict().items() if isinstance(v, list)
                  and k not in ("faults",)}
    assert per_second | {"t"} == {attr for _, attr in COLUMNS}


def test_one_row_per_second_with_each_value_under_its_own_name() -> None:
    s = distinct_series()
    _, rows = parse(series_csv(s))
    assert len(rows) == s.seconds
    assert rows[1] == {"t_s": "1", "sent_per_s": "12", "attempts_per_s": "22",
                       "failed_per_s": "32", "delivered_per_s": "42", "ack_p50_ms": "",
                       "ack_p99_ms": "6.2", "e2e_p50_ms": "7.2", "e2e_p99_ms": "8.2",
                       "connected_devices": "92", "connected_low_devices": "82",
                       "unseen_msgs": "4"}
    for i, row in enumerate(rows):  # every cell is the series' value of that second
        for name, attr in COLUMNS:
            value = getattr(s, attr)[i]
            assert row[name] == ("" if value is None else str(value)), (i, name)


def test_the_series_of_a_journal_round_trips() -> None:
    s = sample_series()
    _, rows = parse(series_csv(s))
    assert [int(r["t_s"]) for r in rows] == list(range(s.seconds)) and s.seconds == 10
    assert [int(r["sent_per_s"]) for r in rows] == s.sent
    assert [int(r["unseen_msgs"]) for r in rows] == s.unseen == [0] * 4 + [3] * 3 + [0] * 3
    assert [float(r["ack_p99_ms"]) for r in rows] == s.ack_p99
    assert [int(r["connected_low_devices"]) for r in rows] == s.connected_low
    assert sum(map(len, series_rows(s))) == len(COLUMNS) * s.seconds


def test_no_unseen_series_leaves_its_column_empty_and_no_seconds_is_a_header() -> None:
    s = distinct_series()
    s.unseen = None
    _, rows = parse(series_csv(s))
    assert [r["unseen_msgs"] for r in rows] == ["", "", ""]
    assert series_csv(Series(t0=0.0, seconds=0)) == ",".join(HEADER) + "\n"


def test_a_column_of_the_wrong_length_is_refused() -> None:
    s = distinct_series()
    s.failed = [1, 2]
    with pytest.raises(ValueError, match="2 values for 3 seconds"):
        series_csv(s)


def test_write_series_csv(tmp_path: Path) -> None:
    path = write_series_csv(tmp_path / "run" / "series.csv", distinct_series())
    assert path.read_text(encoding="utf-8") == series_csv(distinct_series())
    assert not list(path.parent.glob(".*.tmp"))
