"""Append journal events to a JSONL file, one writer per process."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import orjson


class JournalWriter:
    """Appends events to ``DIR/<name>.jsonl``; flushes every ``flush_every`` events.

    Safe to call from several threads or greenlets of one process.
    """

    def __init__(self, directory: str | os.PathLike[str], name: str,
                 flush_every: int = 256) -> None:
        Path(directory).mkdir(parents=True, exist_ok=True)
        self.path = Path(directory) / f"{name}.jsonl"
        self._file = open(self.path, "ab")  # noqa: SIM115 - closed in close()
        self._lock = threading.Lock()
        self._flush_every = flush_every
        self.count = 0
        self._flush_at = flush_every  # count at which the next flush is due

    def write(self, ev: dict[str, Any]) -> None:
        line = orjson.dumps(ev, option=orjson.OPT_APPEND_NEWLINE)
        with self._lock:
            self._file.write(line)
            self.count += 1
            if self.count >= self._flush_at:
                self._file.flush()
                self._flush_at = self.count + self._flush_every

    def flush(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.flush()
                self._flush_at = self.count + self._flush_every

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
