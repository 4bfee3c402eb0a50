"""XEP-0198 bookkeeping (imload/adapters/xmpp/smacks.py)."""

from __future__ import annotations

import pytest

from imload.adapters.xmpp.smacks import WRAP, SmError, StreamManagement


def enabled() -> StreamManagement:
    sm = StreamManagement()
    sm.enabled("r1")
    return sm


def test_nothing_counts_before_enable() -> None:
    sm = StreamManagement()
    assert sm.track(b"<presence/>") is None
    sm.received()
    assert sm.handled == 0 and not sm.queue and not sm.can_resume


def test_ack_pops_in_order_and_ignores_old_h() -> None:
    sm = enabled()
    for i in range(4):
        sm.track(f"<m{i}/>".encode(), cmid=f"c{i}" if i % 2 else None)
    assert [s.n for s in sm.ack(2)] == [1, 2]
    assert sm.unacked("c1") is None and sm.unacked("c3") is not None
    assert sm.ack(1) == [] and sm.ack(2) == []
    with pytest.raises(SmError, match="h=5 acknowledges 3 stanzas, only 2"):
        sm.ack(5)
    assert [s.cmid for s in sm.ack(4)] == [None, "c3"]


def test_h_wraps_at_2_to_the_32() -> None:
    sm = enabled()
    sm._sent = sm._acked = WRAP - 1
    a, b = sm.track(b"<a/>"), sm.track(b"<b/>")
    assert (a.n, b.n) == (0, 1)
    assert [s.payload for s in sm.ack(1)] == [b"<a/>", b"<b/>"]
    sm.handled = WRAP - 1
    sm.received()
    assert sm.handled == 0


def test_connection_lost_then_resumed() -> None:
    sm = enabled()
    sm.received()
    for i in range(3):
        sm.track(b"x%d" % i, cmid=f"c{i}")
    sm.connection_lost()
    assert not sm.active and sm.can_resume and sm.handled == 1
    assert sm.track(b"not counted") is None
    acked, again = sm.resumed(1)
    assert [s.cmid for s in acked] == ["c0"] and [s.cmid for s in again] == ["c1", "c2"]
    assert sm.active and sm.track(b"next").n == 4


def test_failed_acks_up_to_h_and_loses_the_rest() -> None:
    sm = enabled()
    for i in range(3):
        sm.track(b"x", cmid=f"c{i}")
    acked, lost = sm.failed(1)
    assert [s.cmid for s in acked] == ["c0"] and [s.cmid for s in lost] == ["c1", "c2"]
    assert not sm.can_resume and not sm.queue and sm.unacked("c1") is None
    sm.enabled(None)
    assert sm.track(b"y").n == 1 and not sm.can_resume
    assert sm.failed(99)[0] == []  # an impossible h acknowledges nothing
