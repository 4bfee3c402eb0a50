"""Read every journal file of a run folder into one history ordered by time."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson


class JournalError(ValueError):
    """A journal folder that cannot be read at all."""


@dataclass
class Journal:
    events: list[dict[str, Any]]
    files: list[Path]
    bad_lines: list[str] = field(default_factory=list)  # "file:line: why", e.g. a torn last line


def read_journal(directory: str | os.PathLike[str]) -> Journal:
    """Load ``DIR/*.jsonl`` sorted by ``at`` (stable, so one file's order is kept on ties).

    A line that is not a JSON object with ``ev`` and ``at`` (a write torn by a
    killed process) is skipped and named in ``bad_lines``, never fatal.
    """
    d = Path(directory)
    if not d.is_dir():
        raise JournalError(f"no journal folder at {d}")
    files = sorted(d.glob("*.jsonl"))
    if not files:
        raise JournalError(f"no journal files (*.jsonl) in {d}")
    events: list[dict[str, Any]] = []
    bad: list[str] = []
    for path in files:
        with open(path, "rb") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    ev = orjson.loads(line)
                except orjson.JSONDecodeError:
                    bad.append(f"{path.name}:{n}: not JSON")
                    continue
                if not isinstance(ev, dict) or "ev" not in ev or not isinstance(
                        ev.get("at"), int | float):
                    bad.append(f"{path.name}:{n}: not an event (needs 'ev' and a numeric 'at')")
                    continue
                events.append(ev)
    events.sort(key=lambda e: e["at"])
    return Journal(events=events, files=files, bad_lines=bad)
