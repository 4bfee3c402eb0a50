"""The counts of the verdict: logical sends, attempts, outcomes, deliveries."""

from journal_builder import two_friends

from imload.check.figures import count_figures
from imload.check.history import build_history


def test_counts_of_a_mixed_run() -> None:
    j = two_friends()
    j.message("alice", "phone", "bob", "ok1")  # 3 expected deliveries
    j.send("bob", "phone", "ok2", "alice")
    j.send("bob", "phone", "ok2", "alice", attempt=2)
    j.ack("bob", "ok2")
    j.deliver_all("bob", "ok2")
    j.deliver("bob", "phone", "bob", "ok2", via="sync")  # a wire duplicate
    j.send("alice", "phone", "f1", "bob")
    j.fail("alice", "f1")
    j.send("alice", "phone", "i1", "bob")
    j.info("alice", "i1")
    j.deliver_all("alice", "i1")  # recovered
    j.send("alice", "phone", "i2", "bob")
    j.info("alice", "i2")  # indeterminate, never seen again
    j.send("alice", "phone", "p1", "bob")  # no outcome at all: the process died
    assert count_figures(build_history(j.events)) == {
        "attempted": 6, "attempts": 7, "sent": 6, "acked": 2, "failed": 1, "info": 3,
        "pending": 1, "recovered": 1, "delivered": 9, "expected_deliveries": 6,
        "wire_duplicates": 1,
    }
