"""The journal: an append-only record of what every simulated device did and saw."""

from imload.journal.events import EVENT_FIELDS, FIELD_TYPES, body_digest, event, event_problem
from imload.journal.reader import JournalError, read_journal
from imload.journal.writer import JournalWriter

__all__ = ["EVENT_FIELDS", "FIELD_TYPES", "JournalError", "JournalWriter", "body_digest",
           "event", "event_problem", "read_journal"]
