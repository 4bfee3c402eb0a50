"""Names of users, devices and conversations (docs/protocol.md, "Names")."""

from __future__ import annotations

import re

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_GROUP = re.compile(r"g:[A-Za-z0-9_.-]{1,64}")


class NameError_(ValueError):
    """A user, device or conversation name that protocol v1 does not allow."""


def is_valid_name(name: object) -> bool:
    """True for a user or device name: ``[A-Za-z0-9_.-]{1,64}``."""
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


def direct_conv(a: str, b: str) -> str:
    """The direct conversation of users ``a`` and ``b``: ``d:<lower>:<higher>``."""
    if not (is_valid_name(a) and is_valid_name(b)):
        raise NameError_(f"not valid user names: {a!r}, {b!r}")
    if a == b:
        raise NameError_(f"a direct conversation needs two different users, got {a!r} twice")
    lo, hi = sorted((a, b))
    return f"d:{lo}:{hi}"


def is_valid_conv(conv: object) -> bool:
    """True for ``d:<a>:<b>`` with a < b, or ``g:<name>``."""
    if not isinstance(conv, str):
        return False
    if conv.startswith("g:"):
        return _GROUP.fullmatch(conv) is not None
    parts = conv.split(":")
    return (
        len(parts) == 3
        and parts[0] == "d"
        and is_valid_name(parts[1])
        and is_valid_name(parts[2])
        and parts[1] < parts[2]
    )


def conv_members(conv: str) -> tuple[str, str] | None:
    """The two users of a direct conversation; None for a group (its members live in the store)."""
    if not is_valid_conv(conv):
        raise NameError_(f"not a valid conversation: {conv!r}")
    if conv.startswith("g:"):
        return None
    _, a, b = conv.split(":")
    return (a, b)
