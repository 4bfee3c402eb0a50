"""series.csv: the per-second series of a run (``timeseries.Series``) as CSV, for people who
chart elsewhere (a spreadsheet, pandas, gnuplot).

One row per second of the series, in order; the header names each column with its
unit (``COLUMNS``). ``t_s`` is the start of the second, in seconds since the load
started (the time base of the verdict's faults and phases); a count is what happened
in that second; a latency cell is empty in a second without samples, and every
``unseen_msgs`` cell is empty when the verdict had no unseen series.
``write_html_report`` writes it beside report.html, so every command that writes
the report (run, verify, capacity) writes it too.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

from imload.report.timeseries import Series

SERIES_CSV = "series.csv"

# (header, Series attribute): the header says the unit; "per_s" counts are per that second.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("t_s", "t"),
    ("sent_per_s", "sent"),  # logical sends first acked in that second
    ("attempts_per_s", "attempts"),  # wire attempts
    ("failed_per_s", "failed"),  # send_fail and send_info
    ("delivered_per_s", "delivered"),  # first copies of a message on a device
    ("ack_p50_ms", "ack_p50"),
    ("ack_p99_ms", "ack_p99"),
    ("e2e_p50_ms", "e2e_p50"),
    ("e2e_p99_ms", "e2e_p99"),
    ("connected_devices", "connected"),  # at the end of the second
    ("connected_low_devices", "connected_low"),  # the fewest at any moment of it
    ("unseen_msgs", "unseen"),  # acked, not yet on every expected device
)
HEADER = tuple(name for name, _ in COLUMNS)


def series_rows(series: Series) -> list[list[Any]]:
    """One list per second, in ``COLUMNS`` order; None where the series has no value."""
    columns = [getattr(series, attr) for _, attr in COLUMNS]
    n = series.seconds
    return [[_at(col, i, n) for col in columns] for i in range(n)]


def _at(column: list[Any] | None, i: int, n: int) -> Any:
    if column is None:
        return None
    if len(column) != n:
        raise ValueError(f"a series column has {len(column)} values for {n} seconds")
    return column[i]


def series_csv(series: Series) -> str:
    """The CSV text: the header, then one row per second (empty cell for None)."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(HEADER)
    out.writerows([["" if v is None else v for v in row] for row in series_rows(series)])
    return buf.getvalue()


def write_series_csv(path: str | os.PathLike[str], series: Series) -> Path:
    """Write ``series_csv(series)`` to ``path`` (UTF-8, through a rename); return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(series_csv(series), encoding="utf-8")
    os.replace(tmp, target)
    return target
