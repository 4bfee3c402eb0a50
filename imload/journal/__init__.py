"""The journal: an append-only record of what every simulated device did and saw.

``events`` (what an event is) is pure and imported here; the reader and the writer
(files, Arrow) load on first use of their names, so a pure consumer (the checker imports
``imload.journal.events``) does not load them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from imload.journal.events import EVENT_FIELDS, FIELD_TYPES, body_digest, event, event_problem

if TYPE_CHECKING:
    from imload.journal.reader import JournalError, read_journal
    from imload.journal.writer import JournalWriter

_LAZY = {"JournalError": "imload.journal.reader", "read_journal": "imload.journal.reader",
         "JournalWriter": "imload.journal.writer"}

__all__ = ["EVENT_FIELDS", "FIELD_TYPES", "JournalError", "JournalWriter", "body_digest",
           "event", "event_problem", "read_journal"]


def __getattr__(name: str) -> Any:
    """The reader's and the writer's names, imported when first asked for."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'imload.journal' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
