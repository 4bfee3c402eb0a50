"""Per-device orders that cannot be merged: the smallest cycle, each edge explained."""

from journal_builder import two_friends

from imload.check.cases import Cases
from imload.check.cycles import cycle_cases, smallest_cycle
from imload.check.history import build_history
from imload.check.order import order_cases


def test_consistent_orders_have_no_cycle() -> None:
    j = two_friends()
    for i in range(4):
        j.message("alice", "phone", "bob", f"c{i}")
    assert cycle_cases(build_history(j.events), Cases("order")).count == 0


def test_two_devices_ordering_two_messages_differently_is_a_two_cycle() -> None:
    j = two_friends()
    for cmid in ("c1", "c2"):
        j.send("alice", "phone", cmid, "bob")
        j.ack("alice", cmid)  # m1 seq 1, m2 seq 2
        j.deliver("alice", "phone", "alice", cmid)
        j.deliver("alice", "laptop", "alice", cmid)
    j.deliver("bob", "phone", "alice", "c2", seq=1)  # bob's copies carry swapped seqs
    j.deliver("bob", "phone", "alice", "c1", seq=2)
    h = build_history(j.events)
    cases = cycle_cases(h, Cases("order"))
    assert cases.count == 1
    explain = cases.examples[0]["explain"]
    assert "the orders of d:alice:bob cannot be merged into one: a cycle of 2" in explain
    assert "m1 before m2 (alice/laptop: seq 1 < 2)" in explain
    assert "m2 before m1 (bob/phone: seq 1 < 2)" in explain
    events = cases.examples[0]["events"]
    assert len(events) == 4 and {e["user"] for e in events} == {"alice", "bob"}
    # the verdict's order count holds the pairwise clashes and the cycle
    assert order_cases(h).count == cases.count + len(h.mid_clashes) + len(h.seq_clashes)


def test_a_three_cycle_no_two_observers_contradict_directly() -> None:
    ev = {"ev": "deliver", "conv": "d:a:b"}
    obs = {  # each observer sees two of the three messages
        "x": {"m1": {**ev, "seq": 1}, "m2": {**ev, "seq": 2}},
        "y": {"m2": {**ev, "seq": 1}, "m3": {**ev, "seq": 2}},
        "z": {"m3": {**ev, "seq": 1}, "m1": {**ev, "seq": 3}},
    }
    cycle = smallest_cycle(obs)
    assert cycle is not None and len(cycle) == 3
    assert sorted(name for _, _, name in cycle) == ["x", "y", "z"]


def test_the_found_cycle_is_shortened_with_full_orders() -> None:
    ev = {"ev": "deliver", "conv": "d:a:b"}
    long_line = {f"m{i}": {**ev, "seq": i} for i in range(1, 8)}  # m1 < m2 < ... < m7
    obs = {"x": long_line, "y": {"m7": {**ev, "seq": 1}, "m1": {**ev, "seq": 9}}}
    cycle = smallest_cycle(obs)
    assert cycle == [("m1", "m7", "x"), ("m7", "m1", "y")]
