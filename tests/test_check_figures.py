"""The figures of the verdict: counts, fractions, cost, info causes, unseen over time."""

from journal_builder import JournalBuilder, two_friends

from imload.check.figures import (
    cost_figures,
    count_figures,
    fraction_figures,
    info_reasons,
    unseen_over_time,
)
from imload.check.history import build_history


def mixed_run() -> JournalBuilder:
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
    j.info("alice", "i1", reason="retry budget")
    j.deliver_all("alice", "i1")  # recovered
    j.send("alice", "phone", "i2", "bob")
    j.info("alice", "i2")  # indeterminate, never seen again
    j.send("alice", "phone", "p1", "bob")  # no outcome at all: the process died
    j.op("alice", "phone", "o1", "contact_add", {"user": "bob"})
    j.op("alice", "phone", "o1", "contact_add", {"user": "bob"}, attempt=2)
    j.op_ok("alice", "phone", "o1")
    j.op("alice", "phone", "o2", "pin", {"conv": "d:alice:bob", "pinned": True})
    j.op_info("alice", "phone", "o2", reason="disconnected")
    j.read("bob", "phone", "d:alice:bob", 2)
    return j


def test_counts_of_a_mixed_run() -> None:
    assert count_figures(build_history(mixed_run().events)) == {
        "attempted": 6, "attempts": 7, "sent": 6, "acked": 2, "failed": 1, "info": 3,
        "pending": 1, "recovered": 1, "delivered": 9, "expected_deliveries": 6,
        "wire_duplicates": 1, "ops": 2, "ops_ok": 1, "ops_failed": 0, "ops_info": 1,
        "reads": 1, "reads_ok": 1,
    }


def test_fractions_cost_and_info_reasons() -> None:
    h = build_history(mixed_run().events)
    counts = count_figures(h)
    f = fraction_figures(h, counts, {"lost": 0, "phantom": 0, "duplicated": 0})
    assert f["acked"] == round(2 / 6, 6) and f["info"] == 0.5 and f["delivered"] == 1.0
    assert f["recovered"] == round(1 / 3, 6) and f["ok_operations"] == round(3 / 8, 6)
    cost = cost_figures(h, counts)
    # 7 attempts + 2 acks + 9 first copies + 1 wire duplicate, over 6 logical sends
    assert cost["frames"] == 19 and cost["frames_per_message"] == round(19 / 6, 4)
    assert cost["retry_ratio"] == round(7 / 6, 4) and cost["retries"] == 1
    assert cost["op_retry_ratio"] == 1.5
    assert info_reasons(h) == {"send": {"retry budget": 1, "timeout": 1},
                               "op": {"disconnected": 1}, "send_fail": {"forbidden": 1},
                               "op_fail": {}}


def test_nothing_sent_has_no_fractions() -> None:
    h = build_history(two_friends().events)
    counts = count_figures(h)
    f = fraction_figures(h, counts, {})
    assert f["acked"] is None and f["lost"] is None
    assert cost_figures(h, counts)["frames_per_message"] is None
    assert unseen_over_time(h) == []


def test_unseen_over_time_counts_acked_messages_until_every_device_has_them() -> None:
    j = JournalBuilder(start=100.0)
    j.phase("load", "start", at=100.0)
    for user, device in (("alice", "phone"), ("bob", "phone")):
        j.device(user, device)
    j.send("alice", "phone", "c1", "bob", at=100.5)
    j.ack("alice", "c1", at=100.6)  # acked in second 1
    j.deliver("alice", "phone", "alice", "c1", at=100.7)
    j.deliver("bob", "phone", "alice", "c1", at=102.5)  # everywhere only in second 3
    j.send("alice", "phone", "c2", "bob", at=101.2)
    j.ack("alice", "c2", at=101.3)  # acked in second 2, never reaches bob
    j.deliver("alice", "phone", "alice", "c2", at=101.4)
    j.phase("load", "end", at=104.0)
    got = unseen_over_time(build_history(j.events))
    assert got == [{"t_s": 0, "unseen": 0}, {"t_s": 1, "unseen": 1}, {"t_s": 2, "unseen": 2},
                   {"t_s": 3, "unseen": 1}, {"t_s": 4, "unseen": 1}]
