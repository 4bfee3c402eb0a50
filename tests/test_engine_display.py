"""Display policies (seq, the seed's hybrid), ``seen_seq`` on sends, and device clocks."""

from __future__ import annotations

import pytest
from engine_harness import AB, World, alice_and_bob
from hypothesis import given
from hypothesis import strategies as st

from imload.client import Display, EngineConfig, hybrid_order

LATE = -30 * 60_000  # the seed's client, 30 minutes late


def msg(seq: int, frm: str, ts: int, server_ts: int) -> dict[str, object]:
    return {"mid": f"m{seq}", "conv": AB, "seq": seq, "useq": seq, "from": frm, "ts": ts,
            "server_ts": server_ts}


def test_hybrid_orders_one_sender_by_local_time_and_senders_by_server_time() -> None:
    msgs = [msg(1, "alice", 1_000, 1_000), msg(2, "bob", 900, 1_100),
            msg(3, "alice", 500, 1_200),   # alice's clock stepped back: shown before seq 1
            msg(4, "bob", 2_000, 1_300)]
    # chains alice [3, 1] and bob [2, 4], merged by the server time of their heads
    assert [m["seq"] for m in hybrid_order(msgs)] == [2, 3, 1, 4]


def test_skewed_sender_alone_is_harmless_under_hybrid() -> None:
    # the seed's example: A 30 min late sends, B replies; hybrid shows them in order
    msgs = [msg(1, "A", 10_000 + LATE, 10_000), msg(2, "B", 11_000, 11_000)]
    assert [m["seq"] for m in hybrid_order(msgs)] == [1, 2]


@given(st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 50), st.integers(0, 50)),
                max_size=30))
def test_hybrid_is_a_permutation_keeping_each_senders_local_order(
        rows: list[tuple[str, int, int]]) -> None:
    msgs = [msg(i + 1, frm, ts, sts) for i, (frm, ts, sts) in enumerate(rows)]
    out = hybrid_order(msgs)
    assert sorted(m["seq"] for m in out) == list(range(1, len(rows) + 1))
    for frm in "abc":
        mine = [(m["ts"], m["seq"]) for m in out if m["from"] == frm]
        assert mine == sorted(mine)


def test_window_keeps_the_last_messages_only() -> None:
    d = Display("hybrid", keep_all=False, window=3)
    for i in range(1, 8):
        d.add(msg(i, "a", i, i))
    assert [m["seq"] for m in d.messages(AB)] == [5, 6, 7] and d.seen_seq(AB) == 7
    s = Display("seq", keep_all=False)
    s.add(msg(4, "a", 1, 1))
    assert s.messages(AB) == [] and s.seen_seq(AB) == 4 and s.top == {AB: 4}
    with pytest.raises(ValueError, match="seq or hybrid"):
        Display("by-ts")


def test_send_records_the_newest_seq_displayed() -> None:
    w, a, b = alice_and_bob()
    a.send(AB, "first")
    w.run()
    b.send(AB, "reply")
    w.run()
    sends = a.evs("send") + b.evs("send")
    assert [(e["user"], e["seen_seq"]) for e in sends] == [("alice", 0), ("bob", 1)]


def test_hybrid_shows_a_users_late_phone_above_their_laptop() -> None:
    """alice's phone is 30 minutes late, her laptop is right: under the hybrid policy her
    later phone message sorts above her earlier laptop message, so bob's bottom line
    (what he answers) is not the newest message; by seq it is."""
    w = World()
    phone = w.device("alice", "d0", config=EngineConfig(skew_ms=LATE))
    laptop = w.device("alice", "d1")
    bob_h = w.device("bob", "d0", config=EngineConfig(display="hybrid"))
    bob_s = w.device("bob", "d1")
    w.run()
    laptop.send(AB, "from the laptop")
    w.run()
    phone.send(AB, "from the phone, later")
    w.run()
    assert [m["seq"] for m in bob_s.engine.messages(AB)] == [1, 2]
    assert [m["seq"] for m in bob_h.engine.messages(AB)] == [2, 1]
    bob_h.send(AB, "answer (hybrid)")
    bob_s.send(AB, "answer (seq)")
    assert bob_h.evs("send")[0]["seen_seq"] == 1
    assert bob_s.evs("send")[0]["seen_seq"] == 2
    # deliveries under hybrid carry both clocks so a checker can replay the order
    d = bob_h.evs("deliver", seq=2)[0]
    assert d["ts"] < d["server_ts"] - 29 * 60_000
    assert "ts" not in bob_s.evs("deliver", seq=2)[0]


def test_skew_shows_in_the_sent_ts_and_the_offset_estimate() -> None:
    w = World(config=EngineConfig(skew_ms=LATE, wall_offset=1_700_000_000.0))
    w.server.clock_offset_ms = 1_700_000_000_000
    a = w.device("alice")
    w.run(11)
    assert a.engine.clock_offset_ms == pytest.approx(-LATE, abs=5)
    a.send(AB)
    (s,) = a.evs("send")
    assert s["ts"] == a.engine.local_ms(w.net.now)
    assert s["ts"] == pytest.approx(w.server.ms() + LATE, abs=5)


def test_correct_clock_stamps_sends_with_the_estimated_server_time() -> None:
    w = World(config=EngineConfig(skew_ms=LATE, wall_offset=1_700_000_000.0,
                                  correct_clock=True))
    w.server.clock_offset_ms = 1_700_000_000_000
    a = w.device("alice")
    w.run(0.5)
    a.send(AB, "before any pong: raw clock")
    w.run(11)
    a.send(AB, "after a pong: corrected")
    first, second = a.evs("send")
    assert first["ts"] == pytest.approx(w.server.ms() - 11_000 + LATE, abs=20)
    assert second["ts"] == pytest.approx(w.server.ms(), abs=20)
