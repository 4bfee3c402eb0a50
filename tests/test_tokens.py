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
