"""The checker: a pure function from a run's journal to a verdict (Jepsen-style).

``check(events)`` builds one index of the journal (``history``), runs every
check in ``verdict.CHECKS`` (each a small function returning the cases that
prove one anomaly, with the events involved), adds the figures (``figures``,
``latency``) and returns the verdict dict that ``imload.report`` writes and
shows. docs/checker.md explains every anomaly with an example from a real run.

| module | anomalies |
| --- | --- |
| ``delivery`` | lost, partial (indeterminate sends delivered to some members only) |
| ``integrity`` | duplicated, phantom, aborted, corrupted |
| ``order`` (+ ``cycles``) | order (one seq two mids, one mid two places, merge cycles), backwards |
| ``gaps`` | gap (useq or seq holes after the audit) |
| ``session_order`` | fifo, causality |
| ``reads`` | read_sync |
| ``ops`` | op |
| ``display`` | display_order (a reply shown above what it answers, hybrid order) |
| ``membership`` | membership (an applied group op whose server event says something else) |

``history`` builds the index in one walk (``index`` holds its types,
``filing`` its slow paths); ``recipients`` says who must get a message
(groups: the members as of its seq, or by time when seqs are opaque:
``membership_time``); ``sends`` sorts the logical sends by outcome.
"""

from imload.check.cases import Case, Cases
from imload.check.history import build_history
from imload.check.index import History
from imload.check.recipients import expected_devices
from imload.check.verdict import CHECKS, check, verdict_of

__all__ = ["CHECKS", "Case", "Cases", "History", "build_history", "check", "expected_devices",
           "verdict_of"]
