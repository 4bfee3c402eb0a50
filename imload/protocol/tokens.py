"""Device tokens: JWT HS256 with claims ``sub`` (user), ``dev`` (device), ``exp``.

A v1 token names no audience: a token that carries an ``aud`` claim was minted for another
service (one that shares the secret) and is refused, whatever it names.
"""

from __future__ import annotations

import time
from typing import Any

import jwt

from imload.protocol.names import is_valid_name

# what ``verify_token(skip=...)`` may leave unchecked (the reference server's bug modes)
SKIPPABLE = frozenset({"signature", "exp", "aud"})


class TokenError(ValueError):
    """A token that is malformed, badly signed, expired or names an invalid user or device."""


def mint_token(secret: str, user: str, device: str, ttl_s: int = 24 * 3600,
               now: float | None = None) -> str:
    """Sign a token for ``user``/``device`` valid for ``ttl_s`` seconds."""
    issued = int(time.time() if now is None else now)
    return jwt.encode({"sub": user, "dev": device, "exp": issued + ttl_s}, secret,
                      algorithm="HS256")


def verify_token(secret: str, token: object, skip: frozenset[str] = frozenset()
                 ) -> tuple[str, str]:
    """Return (user, device) from a valid token, or raise TokenError saying why. ``skip``
    leaves some of ``SKIPPABLE`` unchecked: only a deliberately broken server does that."""
    if not isinstance(token, str) or not token:
        raise TokenError("token must be a non-empty string")
    assert skip <= SKIPPABLE, skip
    options: dict[str, Any] = {"require": ["sub", "dev", "exp"]}
    options.update({f"verify_{check}": check not in skip for check in SKIPPABLE})
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options=options)
    except jwt.ExpiredSignatureError as e:
        raise TokenError("token expired") from e
    except jwt.InvalidAudienceError as e:
        raise TokenError("invalid token: it names an audience (aud), so it is for another "
                         "service") from e
    except jwt.InvalidTokenError as e:
        raise TokenError(f"invalid token: {e}") from e
    user, device = claims["sub"], claims["dev"]
    if not (is_valid_name(user) and is_valid_name(device)):
        raise TokenError("token names an invalid user or device")
    return user, device
