"""What each anomaly kind means, in one sentence: the reports show it beside the kind.

The same words as the table "The anomalies" in docs/checker.md
(tests/test_report_definitions.py holds the two equal, and every kind of
``imload.check.verdict.CHECKS`` to have one).
"""

from __future__ import annotations

DEFINITIONS: dict[str, str] = {
    "lost": "an acked message some expected device never got, not even in the audit",
    "partial": "an indeterminate send that reached some expected devices but not all",
    "duplicated": "one logical message stored under two mids",
    "phantom": "a delivered message (or membership event) no simulated client sent",
    "aborted": "a send refused for certain that was delivered anyway",
    "corrupted": "a copy whose body digest differs from what was sent",
    "undecryptable": "an end-to-end encrypted copy whose ciphertext failed authentication",
    "order": "one (conv, seq) naming two mids, one mid in two places, or orders that cannot "
             "be merged",
    "gap": "a hole in a device's useqs or seqs after the audit",
    "backwards": "pushes of one conversation going down in seq on one connection",
    "fifo": "two sends of one session sequenced against their send order",
    "causality": "a message sequenced before one its sender had already displayed",
    "read_sync": "a read marker that went down, devices that disagree, a read of a message "
                 "never held",
    "op": "an op applied twice, lost, out of its device's order, or a final state unlike "
          "the fold",
    "display_order": "a device (hybrid display) showing a reply above the message it answers",
    "membership": "the server's membership event says another change than the client's "
                  "acked op",
}


def definition(kind: str) -> str:
    """The kind's one-sentence meaning, capitalised and ending with a full stop; "" for a
    kind this imload does not know (a verdict from a newer one)."""
    words = DEFINITIONS.get(kind)
    return f"{words[0].upper()}{words[1:]}." if words else ""
