"""The adapter's shared state (imload/adapters/xmpp/core.py): options, and what closed()
forgets and keeps."""

from __future__ import annotations

import pytest

from imload.adapters.base import DeviceIdentity
from imload.adapters.xmpp import XmppAdapter
from imload.adapters.xmpp.core import EXPECTED, Phase


def make(**opts: object) -> XmppAdapter:
    return XmppAdapter(DeviceIdentity("alice", "phone", "pw", {"domain": "example.org",
                                                                **opts}))


def test_options() -> None:
    a = make()
    assert (a.domain, a.register, a.smacks, a.own_bare) == (
        "example.org", False, True, "alice@example.org")
    b = make(register=True, smacks=False, muc="conference.example.org")
    assert (b.register, b.smacks) == (True, False)
    with pytest.raises(ValueError, match="domain"):
        XmppAdapter(DeviceIdentity("alice", "phone", "pw", {"domain": ""}))


def test_closed_forgets_the_connection_keeps_the_device() -> None:
    a = make()
    a.opened(0.0)
    a.encode({"t": "login", "rid": 1}, 0.0)
    a.sm.enabled("r1")
    a.sm.track(b"<m/>", cmid="c1")
    a.inbox.admit({"mid": "x:1"})
    a.inbox.cursor = "A1"
    a.iqs["q1"] = ("mam", None)
    a.closed()
    assert a.phase is Phase.IDLE and a.login_rid is None and a.iqs == {} and a.mam == {}
    assert not a.sm.active and a.sm.resume_id == "r1" and a.sm.unacked("c1") is not None
    assert (a.inbox.useq, a.inbox.cursor, a.inbox.delivered) == (1, "A1", {"x:1"})


def test_queues_drain() -> None:
    a = make()
    a._write(b"x")
    a._event({"t": "error"})
    assert a.has_output and a.has_events
    assert a.output() == [b"x"] and a.events() == [{"t": "error"}]
    assert not a.has_output and not a.has_events and a.output() == []


def test_every_phase_says_what_it_expects() -> None:
    assert set(EXPECTED) == set(Phase)
