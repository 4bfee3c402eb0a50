"""Read a TOML file of the user's (scenario, target file, a target's base) with one clear
error for each way it can be unusable: unreadable, not UTF-8, not TOML."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any


def read_toml(path: Path, what: str, error: Callable[[str], Exception],
              hint: str = "") -> dict[str, Any]:
    """The table in ``path``; ``error(message)`` raised, naming ``path`` and ``what`` (as in
    "cannot read {what}"), when it cannot be had. ``hint`` ends the "cannot read" message
    (what the user may do about a missing file)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise error(f"{path}: cannot read {what}: {e.strerror or e}{hint}") from None
    except UnicodeDecodeError as e:
        raise error(f"{path}: {what} is not UTF-8 text: {e}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise error(f"{path}: {what} is not valid TOML: {e}") from None
