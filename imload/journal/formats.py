"""The journal's file formats and the writer of each: one place to pick one by name."""

from __future__ import annotations

import os

from imload.journal.columnar import SUFFIX, ColumnarJournalWriter
from imload.journal.writer import JournalWriter

# name -> writer; the first is the default of the Locust processes (--imload-journal-format)
WRITERS: dict[str, type[ColumnarJournalWriter] | type[JournalWriter]] = {
    "columnar": ColumnarJournalWriter,  # zstd Arrow IPC stream, *.arrows.zst
    "jsonl": JournalWriter,  # JSON lines, *.jsonl
}
SUFFIXES = {"columnar": SUFFIX, "jsonl": ".jsonl"}
DEFAULT_FORMAT = next(iter(WRITERS))


def open_writer(directory: str | os.PathLike[str], name: str,
                form: str = DEFAULT_FORMAT) -> ColumnarJournalWriter | JournalWriter:
    """A writer of ``DIR/<name>.<suffix>`` in format ``form`` (a key of ``WRITERS``)."""
    try:
        return WRITERS[form](directory, name)
    except KeyError:
        raise ValueError(f"unknown journal format {form!r}: one of "
                         f"{', '.join(WRITERS)}") from None
