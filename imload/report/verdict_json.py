"""verdict.json: the checker's verdict on disk, indented, written atomically."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS


def dumps_verdict(verdict: dict[str, Any]) -> bytes:
    """The verdict as indented JSON bytes, ending with a newline."""
    return orjson.dumps(verdict, option=_OPTIONS) + b"\n"


def write_verdict(path: str | os.PathLike[str], verdict: dict[str, Any]) -> Path:
    """Write ``verdict`` to ``path`` (through a temporary file and a rename); return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(dumps_verdict(verdict))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)
    return target


def read_verdict(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a verdict written by ``write_verdict``; ValueError when it is not a JSON object."""
    data = orjson.loads(Path(path).read_bytes())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a verdict is a JSON object, found {type(data).__name__}")
    return data
