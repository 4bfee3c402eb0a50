"""The journal: an append-only record of what every simulated device did and saw."""

from imload.journal.events import EVENT_FIELDS, body_digest, event
from imload.journal.reader import JournalError, read_journal
from imload.journal.writer import JournalWriter

__all__ = ["EVENT_FIELDS", "JournalError", "JournalWriter", "body_digest", "event",
           "read_journal"]
