"""Read every journal file of a run (one folder or several shard folders) into one history
ordered by time.

A journal file is JSON lines (``*.jsonl``: the run's own file, hand-made
journals, older runs) or columnar (``*.arrows.zst``, ``columnar``: what the Locust
processes write by default). Both are read the same way and may be mixed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from imload.journal.columnar import SUFFIX, columnar_events, project, read_columnar
from imload.journal.timeline import align

PATTERNS = ("*.jsonl", f"*{SUFFIX}")


class JournalError(ValueError):
    """A journal folder that cannot be read at all."""


@dataclass
class Journal:
    events: list[dict[str, Any]]
    files: list[Path]
    bad_lines: list[str] = field(default_factory=list)  # "file:line: why", e.g. a torn last line
    timeline: dict[str, Any] | None = None  # how the files' clocks were put on one timeline

    def check_options(self) -> dict[str, Any]:
        """What ``check`` takes from the reader besides the events (``bad_lines`` aside)."""
        return {"timeline": self.timeline} if self.timeline else {}


def journal_files(directories: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The journal files of each folder (sorted by name within a folder); JournalError
    when a folder is missing or holds none."""
    files: list[Path] = []
    for directory in directories:
        d = Path(directory)
        if not d.is_dir():
            raise JournalError(f"no journal folder at {d}")
        found = sorted(p for pattern in PATTERNS for p in d.glob(pattern))
        if not found:
            raise JournalError(f"no journal files (*.jsonl, *{SUFFIX}) in {d}")
        files.extend(found)
    return files


def _is_event(ev: Any) -> bool:
    return isinstance(ev, dict) and "ev" in ev and isinstance(ev.get("at"), int | float)


def read_file(path: Path, bad: list[str]) -> list[dict[str, Any]]:
    """One file's events in written order; what could not be read is named in ``bad``."""
    if path.name.endswith(SUFFIX):
        events, problem = read_columnar(path)
        if problem:
            bad.append(problem)
        kept = [e for e in events if _is_event(e)]
        if len(kept) < len(events):  # only a raw (JSON) row can be one of these
            bad.append(f"{path.name}: {len(events) - len(kept)} rows not events "
                       f"(need 'ev' and a numeric 'at')")
        return kept
    return list(jsonl_events(path, bad))


def jsonl_events(path: Path, bad: list[str]) -> Iterator[dict[str, Any]]:
    """The events of a JSON lines file, one by one; a line that is not one is named in
    ``bad`` (a write torn by a killed process), never fatal."""
    with open(path, "rb") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                ev = orjson.loads(line)
            except orjson.JSONDecodeError:
                bad.append(f"{path.name}:{n}: not JSON")
                continue
            if not _is_event(ev):
                bad.append(f"{path.name}:{n}: not an event (needs 'ev' and a numeric 'at')")
                continue
            yield ev


def unordered_events(directory: str | os.PathLike[str], kinds: Sequence[str] | None = None,
                     fields: Sequence[str] | None = None) -> Iterator[dict[str, Any]]:
    """Every event of a journal folder (only ``kinds``, each as a dict of ``fields``, when
    given), file by file and batch by batch, in no particular order and on no common clock,
    holding one batch at a time: for a consumer that needs neither (the audit's list of
    devices) at any journal size. What cannot be read is skipped here; ``read_journal``
    names it."""
    for path in journal_files([directory]):
        if path.name.endswith(SUFFIX):
            yield from columnar_events(path, kinds, fields)
            continue
        events: Iterable[dict[str, Any]] = jsonl_events(path, [])
        if kinds is not None:
            events = (e for e in events if e["ev"] in kinds)
        yield from events if fields is None else project(events, fields)


def read_journal(directory: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]
                 ) -> Journal:
    """Load every journal file of one folder (or of several shard folders, one per machine)
    sorted by ``at`` (stable, so one file's order is kept on ties).

    A line or batch that cannot be read (a write torn by a killed process) is
    skipped and named in ``bad_lines``, never fatal. Events of several processes'
    clocks are put on the master's first (``timeline.align``); ``timeline`` says how,
    when there was more than one clock.
    """
    folders = [directory] if isinstance(directory, str | os.PathLike) else list(directory)
    if not folders:
        raise JournalError("no journal folder given")
    return read_files(journal_files(folders))


def read_files(files: list[Path]) -> Journal:
    """``read_journal`` of these journal files (in this order: ties keep it)."""
    bad: list[str] = []
    per_file = [read_file(path, bad) for path in files]
    summary = align(per_file)  # one timeline: each process's clock onto the master's
    events = [e for found in per_file for e in found]
    events.sort(key=lambda e: e["at"])
    return Journal(events=events, files=files, bad_lines=bad,
                   timeline=summary if summary["sources"] > 1 else None)
