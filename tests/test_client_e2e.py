"""End-to-end encrypted bodies (imload/client/e2e.py): the key directory, the sealer, and the
engine and audit that use it: ciphertext on the wire, plaintext digests in the journal, a
copy that fails authentication journaled ``undecryptable``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from imload.audit import _delivery
from imload.client.e2e import PREFIX, KeyDirectory, Sealer, directory
from imload.journal import body_digest, event_problem
from imload.protocol import direct_conv
from reference_server.bugs import tampered

sys.path.insert(0, str(Path(__file__).parent))
from engine_harness import AB, FakeDriver, World  # noqa: E402

KEYS = KeyDirectory(7)


def sealed_device(w: World, user: str) -> FakeDriver:
    d = w.device(user, start=False)
    d.engine.sealer = Sealer(directory(7), user)
    d.start()
    return d


def test_a_direct_chat_opens_only_for_its_two_users() -> None:
    alice, bob, carl = Sealer(KEYS, "alice"), Sealer(KEYS, "bob"), Sealer(KEYS, "carl")
    wire = alice.seal(AB, "c1", "hello")
    assert wire.startswith(PREFIX) and "hello" not in wire
    assert bob.open(AB, "alice", wire) == "hello"
    assert alice.open(AB, "alice", wire) == "hello"  # the sender's other devices
    assert carl.open(AB, "alice", wire) is None  # not his chat: no key
    assert Sealer(KeyDirectory(8), "bob").open(AB, "alice", wire) is None  # another run's keys


def test_a_group_key_is_shared_by_every_member() -> None:
    wire = Sealer(KEYS, "alice").seal("g:team", "c1", "hi all")
    assert Sealer(KEYS, "carl").open("g:team", "alice", wire) == "hi all"
    assert Sealer(KEYS, "carl").open("g:other", "alice", wire) is None


def test_anything_altered_fails_authentication() -> None:
    bob = Sealer(KEYS, "bob")
    wire = Sealer(KEYS, "alice").seal(AB, "c1", "hello")
    assert bob.open(AB, "alice", tampered(wire)) is None  # a byte of the ciphertext
    assert bob.open(AB, "bob", wire) is None  # another sender named
    assert bob.open(direct_conv("bob", "carl"), "alice", wire) is None  # moved elsewhere
    for junk in ("hello", PREFIX + "!!!", PREFIX + "AAAA", None, 5):
        assert bob.open(AB, "alice", junk) is None, junk


def test_a_sealer_refuses_a_chat_it_is_not_in() -> None:
    with pytest.raises(ValueError, match="carl has no key for 'd:alice:bob'"):
        Sealer(KEYS, "carl").seal(AB, "c1", "x")


def test_the_engine_sends_ciphertext_and_journals_plaintext_digests() -> None:
    w = World()
    a, b = sealed_device(w, "alice"), sealed_device(w, "bob")
    w.run()
    a.send(AB, "secret words")
    w.run()
    (frame,) = a.frames("send")
    assert frame["body"].startswith(PREFIX) and "secret" not in frame["body"]
    assert w.server.stored[("alice", frame["cmid"])]["body"] == frame["body"]
    (sent,) = a.evs("send")
    (got,) = b.evs("deliver")
    assert sent["digest"] == got["digest"] == body_digest("secret words")
    assert "undecryptable" not in got
    assert a.evs("device")[0]["e2e"] is True


def test_a_retry_sends_the_same_envelope() -> None:
    w = World()
    a = sealed_device(w, "alice")
    w.run()
    w.server.swallow_sends = 1
    a.send(AB, "again")
    w.run(15.0)
    first, second = a.frames("send")
    assert first["cmid"] == second["cmid"] and first["body"] == second["body"]


def test_a_tampered_copy_is_journaled_undecryptable() -> None:
    w = World()
    sealed_device(w, "alice")
    b = sealed_device(w, "bob")
    plain = w.device("carl")  # e2e off: its device event says nothing of it
    w.run()
    w.server.store("alice", "d0", AB, "c9", tampered(Sealer(KEYS, "alice").seal(AB, "c9", "x")))
    w.server.store("alice", "d0", "g:team", "c8", {"op": "group_create"}, kind="event",
                   to={"bob"})
    w.run()
    bad, event_copy = b.evs("deliver")
    assert bad["undecryptable"] is True and bad["digest"] is None
    assert event_problem(bad) is None
    assert "undecryptable" not in event_copy and event_copy["digest"] is not None
    assert "e2e" not in plain.evs("device")[0]


def test_the_audit_opens_sealed_bodies_as_the_engine_does() -> None:
    bob = Sealer(KEYS, "bob")
    m = {"mid": "m1", "conv": AB, "seq": 1, "useq": 1, "from": "alice", "from_device": "d0",
         "cmid": "c1", "body": Sealer(KEYS, "alice").seal(AB, "c1", "hello")}
    good = _delivery(m, "bob", "phone", 1.0, sealer=bob)
    assert good["digest"] == body_digest("hello") and "undecryptable" not in good
    bad = _delivery({**m, "body": tampered(m["body"])}, "bob", "phone", 1.0, sealer=bob)
    assert bad["digest"] is None and bad["undecryptable"] is True
    assert event_problem(bad) is None
    assert _delivery(m, "bob", "phone", 1.0)["digest"] == body_digest(m["body"])  # e2e off
