"""The rich Console imload prints its messages with: one place for how output looks.

On a terminal, lines wrap at its width as usual. Anywhere else (a pipe, a file, a CI log)
a line is never wrapped nor cropped: paths and error messages stay whole, for copying and
for grep, whatever the width rich would assume (80 columns).
"""

from __future__ import annotations

import sys

from rich.console import Console


def make_console(stderr: bool = False, width: int | None = None) -> Console:
    """A Console on stdout (or ``stderr``); ``width`` for a table that needs one."""
    stream = sys.stderr if stderr else sys.stdout
    terminal = hasattr(stream, "isatty") and stream.isatty()
    return Console(stderr=stderr, width=width, soft_wrap=not terminal)
