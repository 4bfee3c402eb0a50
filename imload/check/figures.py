"""Counts of a run: what was attempted, acked, failed, indeterminate and delivered."""

from __future__ import annotations

from imload.check.delivery import fan_out
from imload.check.history import History
from imload.check.sends import send_tally


def count_figures(h: History) -> dict[str, int]:
    """The ``counts`` of the verdict.

    attempted (= sent): logical sends with at least one ``send`` event;
    attempts: wire attempts (``send`` events); acked / failed / info: logical
    sends by outcome (ok wins over fail, fail over info; ``info`` includes the
    ``pending`` ones, which have no outcome at all); recovered: indeterminate
    sends that were delivered anyway; delivered: unique (device, mid);
    expected_deliveries: acked sends times their expected devices (known
    recipients only); wire_duplicates: repeated (device, mid) deliveries.
    """
    t = send_tally(h)
    delivered = sum(len(log.held) for per_user in h.devices.values()
                    for log in per_user.values())
    return {"attempted": t.attempted, "attempts": t.attempts, "sent": t.attempted,
            "acked": t.acked, "failed": t.failed, "info": t.info, "pending": t.pending,
            "recovered": len(t.unsure_delivered), "delivered": delivered,
            "expected_deliveries": fan_out(h).expected, "wire_duplicates": h.wire_duplicates}
