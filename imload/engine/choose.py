"""Which checker judges a journal: the engine (DuckDB) or the reference (in Python).

Both give the same verdict, byte for byte (``tests/test_engine_verdict.py``); they
differ in cost. The reference holds every event as a Python dict: fast on small
journals, about 6.5 GiB for a million messages. The engine keeps the journal in
DuckDB (compressed, spilled to disk past its memory limit) and is the one that
scales; on a journal outside the class it judges itself it hands over to the
reference anyway (``scope``). ``auto`` picks the engine from ``ENGINE_FROM_BYTES``
of columnar journal on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imload.check.verdict import check
from imload.engine.db import MEMORY_LIMIT
from imload.journal.columnar import SUFFIX
from imload.journal.reader import JournalError, journal_files, read_files

CHECKERS = ("auto", "engine", "reference")
ENGINE_FROM_BYTES = 64 << 20  # ~300k messages of columnar journal


def pick(files: Sequence[Path], choice: str = "auto") -> str:
    """``engine`` or ``reference`` for these journal files."""
    if choice not in CHECKERS:
        raise ValueError(f"unknown checker {choice!r}: one of {', '.join(CHECKERS)}")
    if choice != "auto":
        return choice
    columnar = sum(f.stat().st_size for f in files if f.name.endswith(SUFFIX))
    return "engine" if columnar >= ENGINE_FROM_BYTES else "reference"


@dataclass
class Judged:
    verdict: dict[str, Any]
    events: list[dict[str, Any]] | None  # the journal's events, when the reference read them
    note: str | None  # which checker judged it, and why, when the engine was asked


def judge(folders: Sequence[Path], choice: str = "auto",
          memory_limit: str = MEMORY_LIMIT) -> Judged:
    """The verdict of the journal in ``folders`` by the checker ``pick`` names. JournalError
    when it cannot be read; ``EngineMemoryError`` when the engine needs more memory."""
    files = journal_files(list(folders))
    if pick(files, choice) == "reference":
        journal = read_files(files)
        verdict = check(journal.events, bad_lines=journal.bad_lines, **journal.check_options())
        return Judged(verdict, journal.events, None)
    import duckdb

    from imload.engine.verdict import engine_check
    try:
        verdict, info = engine_check(files, memory_limit=memory_limit)
    except duckdb.OutOfMemoryException:
        raise EngineMemoryError(f"the engine ran out of its {memory_limit} (--memory-limit): "
                                "give it more") from None
    return Judged(verdict, None, f"judged by the {info.checker} checker"
                  + (f" ({info.reason})" if info.reason else ""))


class EngineMemoryError(JournalError):
    """The engine's memory limit is too small for this journal."""
