"""SASL client side (imload/adapters/xmpp/sasl.py) against scramp's SCRAM server."""

from __future__ import annotations

import pytest
from scramp import ScramMechanism

from imload.adapters.xmpp.sasl import (
    SaslClient,
    SaslError,
    choose_mechanism,
    decode_b64,
)


def scram_server(password: str):  # noqa: ANN201 - scramp's server has no public type
    mech = ScramMechanism("SCRAM-SHA-1")
    info = mech.make_auth_info(password, iteration_count=4096, salt=b"saltsaltsaltsalt")
    return mech.make_server(lambda _user: info, s_nonce="snonce")


def test_choose_prefers_scram_then_plain() -> None:
    assert choose_mechanism(["PLAIN", "SCRAM-SHA-1", "X-OAUTH2"]) == "SCRAM-SHA-1"
    assert choose_mechanism(["PLAIN", "EXTERNAL"]) == "PLAIN"
    assert choose_mechanism(["SCRAM-SHA-1-PLUS", "EXTERNAL"]) is None


def test_scram_exchange_verifies_the_server() -> None:
    srv = scram_server("pw")
    c = SaslClient("SCRAM-SHA-1", "alice", "pw", nonce="cnonce")
    first = c.initial()
    assert first == b"n,,n=alice,r=cnonce"
    srv.set_client_first(first.decode())
    final = c.challenge(srv.get_server_first().encode())
    srv.set_client_final(final.decode())  # raises if the proof were wrong
    c.success(srv.get_server_final().encode())


def test_scram_server_final_as_a_challenge_then_empty_success() -> None:
    srv = scram_server("pw")
    c = SaslClient("SCRAM-SHA-1", "alice", "pw")
    srv.set_client_first(c.initial().decode())
    srv.set_client_final(c.challenge(srv.get_server_first().encode()).decode())
    assert c.challenge(srv.get_server_final().encode()) == b""
    c.success(b"")


def test_scram_refuses_a_wrong_signature_and_a_missing_one() -> None:
    srv = scram_server("another password")
    c = SaslClient("SCRAM-SHA-1", "alice", "pw")
    srv.set_client_first(c.initial().decode())
    c.challenge(srv.get_server_first().encode())
    with pytest.raises(SaslError, match="server signature"):
        c.success(b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
    c2 = SaslClient("SCRAM-SHA-1", "alice", "pw")
    c2.initial()
    with pytest.raises(SaslError, match="challenge"):
        c2.challenge(b"r=not-my-nonce,s=c2FsdA==,i=4096")
    with pytest.raises(SaslError, match="without the server's signature"):
        SaslClient("SCRAM-SHA-1", "alice", "pw").success(b"")


def test_plain() -> None:
    c = SaslClient("PLAIN", "alice", "pw")
    assert c.initial() == b"\0alice\0pw"
    c.success(b"")
    with pytest.raises(SaslError):
        c.challenge(b"x")
    with pytest.raises(SaslError):
        SaslClient("DIGEST-MD5", "alice", "pw")


def test_base64() -> None:
    assert decode_b64("=") == b"" and decode_b64("") == b"" and decode_b64("YQ==") == b"a"
    with pytest.raises(SaslError):
        decode_b64("not base64!")
