"""``imload journal``: look into a journal and convert it between its two forms.

    imload journal stats   PATH...                  files, events per kind, bytes per message
    imload journal print   PATH... [--kind K] [--limit N]   events as JSON lines, in time order
    imload journal convert PATH... --out DIR [--to columnar|jsonl]

A PATH is a run folder (its ``journal/``), a journal folder or one journal
file, of either form (``*.jsonl``, ``*.arrows.zst``). ``convert`` writes one
file per input file, with the same name in the other form, and checks that
every event reads back equal (key order included) before it says done.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

import orjson

from imload.journal.columnar import SUFFIX
from imload.journal.formats import SUFFIXES, WRITERS, open_writer
from imload.journal.reader import PATTERNS, JournalError, read_file


def journal_paths(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The journal files named by ``paths`` (run folders, journal folders or files)."""
    files: list[Path] = []
    for given in paths:
        p = Path(given)
        if p.is_dir() and (p / "journal").is_dir():
            p = p / "journal"
        if p.is_dir():
            found = sorted(f for pattern in PATTERNS for f in p.glob(pattern))
            if not found:
                raise JournalError(f"no journal files (*.jsonl, *{SUFFIX}) in {p}")
            files.extend(found)
        elif p.is_file():
            if not (p.name.endswith(".jsonl") or p.name.endswith(SUFFIX)):
                raise JournalError(f"{p}: not a journal file (*.jsonl or *{SUFFIX})")
            files.append(p)
        else:
            raise JournalError(f"no journal file or folder at {p}")
    return files


def stem(path: Path) -> str:
    """A journal file's name without its form's suffix."""
    for suffix in (SUFFIX, ".jsonl"):
        if path.name.endswith(suffix):
            return path.name[: -len(suffix)]
    return path.stem


def stats(paths: Sequence[str | os.PathLike[str]], out: IO[str]) -> int:
    """Print, per file and in total: events, bytes, bytes per event and per acked message."""
    files = journal_paths(paths)
    total: Counter[str] = Counter()
    size = 0
    bad: list[str] = []
    for f in files:
        events = read_file(f, bad)
        kinds = Counter(e["ev"] for e in events if isinstance(e.get("ev"), str))
        total.update(kinds)
        n = f.stat().st_size
        size += n
        out.write(f"{f}: {len(events):,} events, {n:,} bytes ({_per(n, len(events))} per event)\n")
    events = sum(total.values())
    acked = total.get("send_ok", 0)
    out.write(f"total: {len(files)} files, {events:,} events, {size:,} bytes; "
              f"{_per(size, events)} per event, {_per(size, acked)} per acked message\n")
    for kind, n in sorted(total.items(), key=lambda kv: (-kv[1], kv[0])):
        out.write(f"  {kind:14} {n:>12,}\n")
    for line in bad:
        out.write(f"unreadable: {line}\n")
    return 0


def _per(n: int, d: int) -> str:
    return f"{n / d:,.1f} B" if d else "-"


def print_events(paths: Sequence[str | os.PathLike[str]], out: IO[str],
                 kinds: Iterable[str] = (), limit: int | None = None) -> int:
    """Print the events of every file merged in time order, as JSON lines."""
    wanted = set(kinds)
    events: list[dict[str, Any]] = []
    bad: list[str] = []
    for f in journal_paths(paths):
        events.extend(e for e in read_file(f, bad) if not wanted or e.get("ev") in wanted)
    events.sort(key=lambda e: e["at"])
    for e in events[:limit]:
        out.write(orjson.dumps(e).decode() + "\n")
    for line in bad:
        sys.stderr.write(f"imload journal: unreadable: {line}\n")
    return 0


def convert(paths: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str],
            to: str, out: IO[str]) -> int:
    """Write each journal file again in form ``to`` into ``out_dir``; verify the copy."""
    if to not in WRITERS:
        raise JournalError(f"unknown journal format {to!r}: one of {', '.join(WRITERS)}")
    target = Path(out_dir)
    files = journal_paths(paths)
    names = [stem(f) for f in files]
    if len(set(names)) < len(names):
        raise JournalError("two input files have the same name; convert them one folder "
                           "at a time")
    for name in names:  # before anything is written: all or nothing; and never both forms
        for suffix in SUFFIXES.values():  # of one file in a folder (read twice, it counts twice)
            dest = target / f"{name}{suffix}"
            if dest.exists():
                raise JournalError(f"{dest} exists already; convert into an empty folder")
    for f, name in zip(files, names, strict=True):
        bad: list[str] = []
        events = read_file(f, bad)
        writer = open_writer(target, name, to)
        with writer:
            for e in events:
                writer.write(e)
        again = read_file(writer.path, [])
        if again != events or any(list(a) != list(b) for a, b in zip(again, events,
                                                                        strict=True)):
            raise JournalError(f"{writer.path}: the copy does not read back equal to {f}")
        note = f" ({len(bad)} unreadable parts skipped: {bad[0]})" if bad else ""
        out.write(f"{f} -> {writer.path}: {len(events):,} events, "
                  f"{f.stat().st_size:,} -> {writer.path.stat().st_size:,} bytes{note}\n")
    return 0
