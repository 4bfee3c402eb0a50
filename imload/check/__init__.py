"""The checker: a pure function from a run's journal to a verdict (Jepsen-style).

``check(events)`` builds one index of the journal (``history``), runs every
check in ``verdict.CHECKS`` (each returns the cases that prove one anomaly,
see ``delivery``, ``integrity`` and ``order``), adds the figures (``figures``,
``latency``) and returns the verdict dict that ``imload.report`` writes and
shows.
"""

from imload.check.cases import Case, Cases
from imload.check.history import History, build_history
from imload.check.recipients import expected_devices
from imload.check.verdict import CHECKS, check, verdict_of

__all__ = ["CHECKS", "Case", "Cases", "History", "build_history", "check", "expected_devices",
           "verdict_of"]
