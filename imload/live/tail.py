"""Read a journal folder while it is being written: only complete new lines (JSON lines) or
whole new batches (columnar), every file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

from imload.journal.columnar import SUFFIX, read_new_batches


class JournalTail:
    """``poll()`` returns the events appended to ``DIR/*.jsonl`` and ``DIR/*.arrows.zst``
    since the last poll.

    A line still being written (no newline yet) waits for the next poll; a line that
    is not JSON is skipped (the final reader names it). Files that appear later are
    picked up.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self._offsets: dict[Path, int] = {}
        self._batches: dict[Path, tuple[int, int]] = {}  # columnar: (size, batches) read

    def poll(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if not self.directory.is_dir():
            return out
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            out.extend(self._columnar(path))
        for path in sorted(self.directory.glob("*.jsonl")):
            offset = self._offsets.get(path, 0)
            try:
                with open(path, "rb") as f:
                    f.seek(offset)
                    chunk = f.read()
            except OSError:
                continue
            end = chunk.rfind(b"\n")
            if end < 0:
                continue
            self._offsets[path] = offset + end + 1
            for line in chunk[:end].split(b"\n"):
                if not line.strip():
                    continue
                try:
                    ev = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(ev, dict) and "ev" in ev:
                    out.append(ev)
        out.sort(key=lambda e: e.get("at", 0))
        return out

    def _columnar(self, path: Path) -> list[dict[str, Any]]:
        try:
            size = path.stat().st_size
        except OSError:
            return []
        last_size, seen = self._batches.get(path, (-1, 0))
        if size == last_size:
            return []
        events, batches = read_new_batches(path, seen)
        self._batches[path] = (size, batches)
        return events
