"""What the subcommands' parsers share: the parser class and the argument types."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from typing import TypeVar

from imload.slo import EXIT_ERROR

EXIT_CODES_HELP = ("exit codes: 0 passed; 1 failed (an anomaly, or an SLO missed); 2 the run "
                   "could not be made; 3 unknown: not everything could be judged (a check's "
                   "coverage short, or nothing acked or delivered)")

SubParsers = argparse._SubParsersAction  # what ``add_subparsers`` returns
_N = TypeVar("_N", int, float)


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # exit 2 with one clear line, no traceback
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def positive_float(text: str) -> float:
    value = _read(float, text, "a number")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def positive_int(text: str) -> int:
    return _whole_number(text, 1, "a whole number")


def _read(kind: Callable[[str], _N], text: str, what: str) -> _N:
    """``kind(text)``, or an ArgumentTypeError saying ``text`` is not ``what``."""
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None


def _whole_number(text: str, least: int, what: str) -> int:
    value = _read(int, text, what)
    if value < least:
        raise argparse.ArgumentTypeError(f"must be at least {least}, got {text}")
    return value


def size(text: str) -> str:
    """A memory size as DuckDB takes it: ``600MB``, ``8GB``, ``1.5GiB``."""
    if not re.fullmatch(r"\d+(\.\d+)?\s*([KMGT]i?B)", text.strip(), re.IGNORECASE):
        raise argparse.ArgumentTypeError(f"not a size like 600MB or 8GB: {text!r}")
    return text.strip()


def listen(text: str) -> str:
    """``--prometheus``: HOST:PORT (or a port, on 127.0.0.1) as imload.live.prometheus takes it."""
    from imload.live.prometheus import parse_listen
    try:
        parse_listen(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def autosave(text: str) -> int | str:
    """``--autosave-interval``: whole seconds >= 0, or ``default``."""
    if text == "default":
        return text
    return _whole_number(text, 0, "a whole number or 'default'")
