"""Latency percentiles from the journal: ack and end-to-end, via HdrHistogram."""

import pytest
from journal_builder import JournalBuilder, two_friends
from test_check_recipients import team

from imload.check.history import build_history
from imload.check.latency import (
    catchup_s,
    latency_figures,
    read_sync_s,
    reconnect_s,
    stable_s,
    summarize,
)


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
    e2e = sorted(round(s * 1000, 6) for s in h.push_s)  # every device online throughout
    assert not h.away_s
    assert e2e == sorted(k * i for i in range(1, 11) for k in (2, 3, 4))
    figures = latency_figures(h)
    assert figures["ack"]["count"] == 10 and figures["ack"]["max"] == 10.0
    assert figures["ack"]["p50"] == pytest.approx(5.0, rel=1e-3)
    assert figures["e2e"]["count"] == 30 and figures["e2e"]["max"] == 40.0
    assert figures["push"] == figures["e2e"] and figures["away"]["count"] == 0


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
    assert sorted(round(s, 6) for s in h.push_s) == [-0.1, 0.25]
    assert latency_figures(h)["e2e"]["p50"] == 0.0  # the negative sample counts as 0


def test_unacked_and_undelivered_messages_have_no_samples() -> None:
    j = two_friends()
    j.send("alice", "phone", "c1", "bob")
    j.info("alice", "c1")
    figures = latency_figures(build_history(j.events))
    assert figures["ack"]["count"] == 0 and figures["e2e"]["count"] == 0
    assert figures["e2e"]["p99"] is None


def test_stable_reconnect_catchup_and_read_sync() -> None:
    j = JournalBuilder(start=100.0)
    j.phase("load", "start", at=100.0)
    for user, device in (("alice", "phone"), ("alice", "laptop"), ("bob", "phone")):
        j.device(user, device)
    j.send("alice", "phone", "c1", "bob", at=101.0)
    j.ack("alice", "c1", at=101.01)
    j.deliver("alice", "phone", "alice", "c1", at=101.02)
    j.deliver("bob", "phone", "alice", "c1", at=101.03)
    j.deliver("alice", "laptop", "alice", "c1", at=101.11)  # the last device: stable 100 ms
    j.send("alice", "phone", "c2", "bob", at=102.0)
    j.ack("alice", "c2", at=102.01)  # never reaches bob: no stable sample
    j.deliver_all("alice", "c2", skip=(("bob", "phone"),), at=102.02)
    j.add("disconnected", at=103.0, user="bob", device="phone", session=1, reason="error")
    j.sessions[("bob", "phone")] = 2
    j.add("connected", at=103.25, user="bob", device="phone", session=2, node="n1",
          inbox_seq=3, acked=1)  # back after 250 ms, 2 entries behind
    j.deliver("bob", "phone", "alice", "c2", via="sync", at=103.3)  # useq 2 < 3: not yet
    j.send("bob", "phone", "c3", "alice", at=103.35)
    j.ack("bob", "c3", at=103.36)
    j.deliver("bob", "phone", "bob", "c3", via="sync", at=103.4)  # useq 3: caught up, 150 ms
    j.read("alice", "phone", "d:alice:bob", 3, at=104.0)  # read_ok at 104.01
    j.read_sync("alice", "laptop", "d:alice:bob", 3, "phone")  # at 104.02: 10 ms
    h = build_history(j.events)
    # c1: 100 ms; c2 reached bob only after his reconnect; c3 never reached alice: none
    assert [round(s, 6) for s in stable_s(h)] == [0.1, 1.29]
    assert [round(s, 6) for s in reconnect_s(h)] == [0.25]
    assert [round(s, 6) for s in catchup_s(h)] == [0.15]
    assert [round(s, 6) for s in read_sync_s(h)] == [0.01]
    figures = latency_figures(h)
    assert figures["stable"]["count"] == 2 and figures["stable"]["max"] == 1290.0
    assert figures["reconnect"]["p50"] == pytest.approx(250.0, rel=1e-3)
    assert figures["read_sync"]["count"] == 1
    # c2 reached bob on the connection he made after it was sent: away, 1.3 s; the rest
    # came to devices online when they were sent (c3 to bob's phone on that same
    # connection, made before c3 was sent): push
    assert [round(s, 6) for s in h.away_s] == [1.3]
    assert figures["away"]["count"] == 1 and figures["away"]["max"] == 1300.0
    assert figures["push"]["count"] == figures["e2e"]["count"] - 1
    assert figures["push"]["max"] == pytest.approx(110.0)


def test_group_sends_have_e2e_samples() -> None:
    figures = latency_figures(build_history(team().events))
    # c1 to 3 devices, c2 to 4, c3 to 3 (bob was removed)
    assert figures["e2e"]["count"] == 10 and figures["stable"]["count"] == 3
    assert figures["push"]["count"] == 10 and figures["away"]["count"] == 0


def test_a_group_member_that_logs_in_after_a_send_has_an_away_sample() -> None:
    j = team()
    sends = [e for e in j.events if e["ev"] == "send"]
    first = sends[0]
    copy = next(e for e in j.events if e["ev"] == "deliver" and e["cmid"] == first["cmid"]
                and e["user"] != first["user"])
    login = {"ev": "connected", "at": first["at"] + 1e-6, "user": copy["user"],
             "device": copy["device"], "session": copy["session"], "node": "n1",
             "inbox_seq": 0, "acked": 0}
    copy["at"] = max(copy["at"], login["at"] + 1e-6)
    events = sorted([*j.events, login], key=lambda e: e["at"])
    figures = latency_figures(build_history(events))
    assert figures["away"]["count"] == 1 and figures["push"]["count"] == 9
    assert figures["e2e"]["count"] == 10
