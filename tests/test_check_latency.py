"""Latency percentiles from the journal: ack and end-to-end, via HdrHistogram."""

import pytest
from journal_builder import two_friends

from imload.check.history import build_history
from imload.check.latency import latency_figures, summarize


def test_percentiles_of_a_known_set() -> None:
    got = summarize([i / 1000 for i in range(1, 1001)])  # 1 ms .. 1000 ms
    assert got["count"] == 1000
    for key, want in (("p50", 500), ("p90", 900), ("p99", 990), ("p999", 999)):
        assert got[key] == pytest.approx(want, rel=1e-3), key
    assert got["max"] == 1000.0


def test_sub_millisecond_and_negative_samples() -> None:
    got = summarize([0.0002, -0.5])  # 0.2 ms, and a sample from a skewed clock
    assert got["count"] == 2 and got["max"] == 0.2 and got["p50"] == 0.0


def test_no_samples_gives_nulls() -> None:
    assert summarize([]) == {"p50": None, "p90": None, "p99": None, "p999": None, "max": None,
                             "count": 0}


def test_ack_and_e2e_from_the_journal() -> None:
    j = two_friends()
    for i in range(1, 11):
        t = 200.0 + i
        j.send("alice", "phone", f"c{i}", "bob", at=t)
        j.send("alice", "phone", f"c{i}", "bob", attempt=2, at=t + 0.5)  # a retry
        j.ack("alice", f"c{i}", at=t + 0.001 * i)  # ack after i ms, measured from attempt 1
        j.deliver("alice", "phone", "alice", f"c{i}", at=t + 0.002 * i)
        j.deliver("alice", "laptop", "alice", f"c{i}", at=t + 0.003 * i)
        j.deliver("bob", "phone", "alice", f"c{i}", at=t + 0.004 * i)
        j.deliver("bob", "phone", "alice", f"c{i}", at=t + 0.9, via="sync")  # not the first
    j.events.sort(key=lambda e: e["at"])
    h = build_history(j.events)
    assert sorted(round(s * 1000, 6) for s in h.ack_s) == list(range(1, 11))
    e2e = sorted(round(s * 1000, 6) for s in h.e2e_s)
    assert e2e == sorted(k * i for i in range(1, 11) for k in (2, 3, 4))
    figures = latency_figures(h)
    assert figures["ack"]["count"] == 10 and figures["ack"]["max"] == 10.0
    assert figures["ack"]["p50"] == pytest.approx(5.0, rel=1e-3)
    assert figures["e2e"]["count"] == 30 and figures["e2e"]["max"] == 40.0


def test_e2e_counts_recovered_sends_and_early_copies_but_not_strangers() -> None:
    j = two_friends()
    j.send("alice", "phone", "c1", "bob", at=200.0)
    j.info("alice", "c1", at=205.0)
    j.deliver("bob", "phone", "alice", "c1", at=200.25)  # recovered: 250 ms
    j.deliver("carol", "tab", "alice", "c1", at=200.3)  # not a member: no sample
    j.deliver("alice", "laptop", "alice", "c2", mid="m9", seq=2, at=206.0,
              from_device="phone", conv="d:alice:bob")  # journaled before its send
    j.send("alice", "phone", "c2", "bob", at=206.1)
    h = build_history(j.events)
    assert sorted(round(s, 6) for s in h.e2e_s) == [-0.1, 0.25]
    assert latency_figures(h)["e2e"]["p50"] == 0.0  # the negative sample counts as 0


def test_unacked_and_undelivered_messages_have_no_samples() -> None:
    j = two_friends()
    j.send("alice", "phone", "c1", "bob")
    j.info("alice", "c1")
    figures = latency_figures(build_history(j.events))
    assert figures["ack"]["count"] == 0 and figures["e2e"]["count"] == 0
    assert figures["e2e"]["p99"] is None
