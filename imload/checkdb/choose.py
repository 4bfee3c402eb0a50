"""Which checker judges a journal: the DuckDB checker (DuckDB) or the reference (in Python).

Both give the same verdict, byte for byte (``tests/test_checkdb_verdict.py``); they
differ in cost. The reference holds every event as a Python dict: fast on small
journals, about 6.5 GiB for a million messages. The DuckDB checker keeps the journal in
DuckDB (compressed, spilled to disk past its memory limit) and is the one that
scales; on a journal outside the class it judges itself it hands over to the
reference anyway (``scope``). ``auto`` picks the DuckDB checker from ``DUCKDB_FROM_BYTES``
of columnar journal on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imload.check.verdict import check
from imload.checkdb.db import MEMORY_LIMIT
from imload.journal.columnar import SUFFIX
from imload.journal.reader import JournalError, journal_files, read_files
from imload.report.timeseries import Series, build_series

CHECKERS = ("auto", "duckdb", "reference")
DUCKDB_FROM_BYTES = 64 << 20  # ~300k messages of columnar journal


def pick(files: Sequence[Path], choice: str = "auto") -> str:
    """``duckdb`` or ``reference`` for these journal files."""
    if choice not in CHECKERS:
        raise ValueError(f"unknown checker {choice!r}: one of {', '.join(CHECKERS)}")
    if choice != "auto":
        return choice
    columnar = sum(f.stat().st_size for f in files if f.name.endswith(SUFFIX))
    return "duckdb" if columnar >= DUCKDB_FROM_BYTES else "reference"


@dataclass
class Judged:
    verdict: dict[str, Any]
    series: Series  # the report's per-second series
    note: str | None  # which checker judged it, and why, when the DuckDB checker was asked


def judge(folders: Sequence[Path], choice: str = "auto",
          memory_limit: str = MEMORY_LIMIT) -> Judged:
    """The verdict of the journal in ``folders`` by the checker ``pick`` names. JournalError
    when it cannot be read; ``CheckMemoryError`` when the DuckDB checker needs more memory."""
    files = journal_files(list(folders))
    if pick(files, choice) == "reference":
        journal = read_files(files)
        verdict = check(journal.events, bad_lines=journal.bad_lines, **journal.check_options())
        return Judged(verdict, build_series(journal.events, verdict), None)
    import duckdb

    from imload.checkdb.verdict import duckdb_check
    try:
        verdict, info = duckdb_check(files, memory_limit=memory_limit, series=True)
    except duckdb.OutOfMemoryException:
        raise CheckMemoryError(f"the DuckDB checker ran out of its {memory_limit} "
                               "(--memory-limit): "
                                "give it more") from None
    assert info.series is not None
    return Judged(verdict, info.series, f"judged by the {info.checker} checker"
                  + (f" ({info.reason})" if info.reason else ""))


class CheckMemoryError(JournalError):
    """The DuckDB checker's memory limit is too small for this journal."""
