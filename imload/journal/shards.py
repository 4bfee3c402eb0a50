"""Which journal folders ``imload verify`` reads: a run folder and any shard folders.

In a run across machines without ``--imload-ship-journal``, each Locust worker
writes its journal on its own machine; copy those folders anywhere (docs/
distributed.md) and name them after the run folder::

    imload verify runs/big shards/host-a shards/host-b
    imload verify runs/big 'shards/*'

The first folder is the run (its ``scenario.toml`` gives the SLOs, its report
is written again); every folder may be a run folder (its ``journal/`` is read)
or a journal folder. A quoted glob is expanded here (the shell expands an
unquoted one); a pattern that matches nothing is an error, as is a folder named
twice.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from pathlib import Path

from imload.journal.reader import JournalError

_MAGIC = set("*?[")


def journal_folders(given: Sequence[str | os.PathLike[str]]) -> tuple[Path, list[Path]]:
    """(the first folder, as named: the run; every journal folder to read, in order)."""
    named: list[Path] = []
    for g in given:
        text = str(g)
        if _MAGIC & set(text):
            matches = sorted(glob.glob(text))
            if not matches:
                raise JournalError(f"no folder matches {text!r}")
            named.extend(Path(m) for m in matches)
        else:
            named.append(Path(text))
    if not named:
        raise JournalError("no run folder given")
    folders: list[Path] = []
    for p in named:
        journal = p / "journal" if (p / "journal").is_dir() else p
        if not journal.is_dir():
            raise JournalError(f"no journal folder at {p}")
        if journal.resolve() in {f.resolve() for f in folders}:
            raise JournalError(f"{p}: named twice (its events would count twice)")
        folders.append(journal)
    return named[0], folders
