"""Names of the model's people, devices and conversations, and their run-local form.

The model and traces use run-independent names: users ``u<person>``, devices
``d<n>``, groups ``g:g<index>``, direct chats ``d:<a>:<b>``. A run prefixes
every user and group with its run id (``localize``) so that runs sharing a
backend never meet; a trace exported from production (any valid names) is
localized the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from imload.protocol import direct_conv


def user_of(person: int) -> str:
    return f"u{person}"


def device_of(number: int) -> str:
    return f"d{number}"


def group_of(index: int) -> str:
    return f"g:g{index}"


def dm(a: int, b: int) -> str:
    """The direct conversation of two people."""
    return direct_conv(user_of(a), user_of(b))


def local_user(run_id: str, user: str) -> str:
    return f"{run_id}{user}"


def map_conv(conv: str, user: Callable[[str], str]) -> str:
    """``conv`` with its users (direct) or its name (group) passed through ``user``."""
    if conv.startswith("g:"):
        return "g:" + user(conv[2:])
    if conv.startswith("d:") and conv.count(":") == 2:
        _, a, b = conv.split(":")
        return direct_conv(user(a), user(b))
    return conv


def map_args(args: dict[str, Any], user: Callable[[str], str]) -> dict[str, Any]:
    """An op's args with every user and conversation passed through ``user``
    (``map_conv``); members that are not names are left out."""
    out = dict(args)
    if isinstance(out.get("user"), str):
        out["user"] = user(out["user"])
    if isinstance(out.get("conv"), str):
        out["conv"] = map_conv(out["conv"], user)
    if isinstance(out.get("members"), list):
        out["members"] = [user(m) for m in out["members"] if isinstance(m, str)]
    return out


def local_conv(run_id: str, conv: str) -> str:
    """``conv`` with its users (direct) or its name (group) prefixed by ``run_id``."""
    return map_conv(conv, partial(local_user, run_id))


def local_args(run_id: str, args: dict[str, Any]) -> dict[str, Any]:
    """An op's args with every user and conversation localized."""
    return map_args(args, partial(local_user, run_id))
