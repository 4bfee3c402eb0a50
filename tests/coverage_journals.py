"""Journals the checker cannot judge completely (for the gate's and the reports' tests).

``group_older_than_the_run``: a group no client created in the run, whose messages
reached everyone. Its members are unknown, so whether its messages were lost cannot
be judged: the checker's coverage of ``lost`` (and ``gap``) is short and its verdict
``valid: "unknown"`` (imload/check/coverage.py, tests/test_check_membership.py).
"""

from __future__ import annotations

from journal_builder import JournalBuilder, two_friends

# SLOs of a drill that accepts what ``group_older_than_the_run`` leaves unjudged
ACCEPT_LESS = """
[[slo]]
figure = "coverage.lost.percent"
min = 20
[[slo]]
figure = "coverage.gap.percent"
min = 0
"""


def group_older_than_the_run(messages: int = 3) -> JournalBuilder:
    j = two_friends()
    j.groups["g:old"] = {"alice", "bob"}
    j.message("alice", "phone", "bob", "c0")
    for i in range(1, messages + 1):
        j.group_message("bob", "phone", "g:old", f"c{i}")
    j.audit_all()
    return j


def fully_judged() -> JournalBuilder:
    """One direct message delivered everywhere, every device audited: nothing unjudged."""
    j = two_friends()
    j.message("alice", "phone", "bob", "c1")
    j.audit_all()
    return j
