"""The driver's timer heap: a setting per name, replaced or cancelled settings skipped."""

from __future__ import annotations

from imload.drivers.timers import TimerHeap


def test_due_timers_come_in_time_order_each_once() -> None:
    t = TimerHeap()
    t.set("ping", 3.0)
    t.set("ack", 1.0)
    t.set("sync", 2.0)
    assert t.pop_due(0.5) is None and len(t) == 3
    assert [t.pop_due(2.5), t.pop_due(2.5), t.pop_due(2.5)] == ["ack", "sync", None]
    assert t.pop_due(9.0) == "ping" and t.pop_due(9.0) is None and len(t) == 0


def test_a_new_setting_replaces_the_old_and_a_cancel_forgets_it() -> None:
    t = TimerHeap()
    t.set("login", 1.0)
    t.set("login", 5.0)  # replaced: fires once, at 5
    t.set("sync", 2.0)
    t.cancel("sync")
    assert t.pop_due(4.0) is None
    assert t.until_next(4.0, cap=30.0) == 1.0
    assert t.pop_due(5.0) == "login" and t.pop_due(99.0) is None


def test_until_next_is_capped_and_at_least_a_millisecond() -> None:
    t = TimerHeap()
    assert t.until_next(0.0, cap=30.0) == 30.0
    t.set("far", 100.0)
    assert t.until_next(0.0, cap=30.0) == 30.0
    t.set("now", 0.0)
    assert t.until_next(5.0, cap=30.0) == 0.001
