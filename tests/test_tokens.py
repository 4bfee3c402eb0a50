import time

import jwt
import pytest

from imload.protocol import TokenError, mint_token, verify_token

SECRET = "s" * 32


def test_round_trip() -> None:
    assert verify_token(SECRET, mint_token(SECRET, "alice", "phone")) == ("alice", "phone")


def test_rejections() -> None:
    with pytest.raises(TokenError, match="expired"):
        verify_token(SECRET, mint_token(SECRET, "a", "d", ttl_s=-10))
    with pytest.raises(TokenError, match="invalid token"):
        verify_token("t" * 32, mint_token(SECRET, "a", "d"))
    with pytest.raises(TokenError, match="non-empty string"):
        verify_token(SECRET, 5)
    with pytest.raises(TokenError, match="invalid user or device"):
        verify_token(SECRET, mint_token(SECRET, "a b", "d"))


def test_a_token_naming_an_audience_is_another_services() -> None:
    claims = {"sub": "a", "dev": "d", "exp": int(time.time()) + 60, "aud": "imload"}
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    with pytest.raises(TokenError, match="names an audience"):
        verify_token(SECRET, token)
    assert verify_token(SECRET, token, skip=frozenset({"aud"})) == ("a", "d")


def test_skip_leaves_exactly_what_it_names_unchecked() -> None:
    old = mint_token(SECRET, "a", "d", ttl_s=-10)
    assert verify_token(SECRET, old, skip=frozenset({"exp"})) == ("a", "d")
    forged = mint_token("t" * 32, "a", "d")
    assert verify_token(SECRET, forged, skip=frozenset({"signature"})) == ("a", "d")
    with pytest.raises(TokenError, match="expired"):  # the signature skipped, not the expiry
        verify_token(SECRET, mint_token("t" * 32, "a", "d", ttl_s=-10),
                     skip=frozenset({"signature"}))
