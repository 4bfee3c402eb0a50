"""Device tokens: JWT HS256 with claims ``sub`` (user), ``dev`` (device), ``exp``."""

from __future__ import annotations

import time

import jwt

from imload.protocol.names import is_valid_name


class TokenError(ValueError):
    """A token that is malformed, badly signed, expired or names an invalid user or device."""


def mint_token(secret: str, user: str, device: str, ttl_s: int = 24 * 3600,
               now: float | None = None) -> str:
    """Sign a token for ``user``/``device`` valid for ``ttl_s`` seconds."""
    issued = int(time.time() if now is None else now)
    return jwt.encode({"sub": user, "dev": device, "exp": issued + ttl_s}, secret,
                      algorithm="HS256")


def verify_token(secret: str, token: object) -> tuple[str, str]:
    """Return (user, device) from a valid token, or raise TokenError saying why."""
    if not isinstance(token, str) or not token:
        raise TokenError("token must be a non-empty string")
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"],
                            options={"require": ["sub", "dev", "exp"]})
    except jwt.ExpiredSignatureError as e:
        raise TokenError("token expired") from e
    except jwt.InvalidTokenError as e:
        raise TokenError(f"invalid token: {e}") from e
    user, device = claims["sub"], claims["dev"]
    if not (is_valid_name(user) and is_valid_name(device)):
        raise TokenError("token names an invalid user or device")
    return user, device
