"""Accounts on Mosquitto's dynamic security plugin: the command a device's adapter
publishes, as the target's admin, to create its user, and how the answer reads.

The plugin listens on ``$CONTROL/dynamic-security/v1`` and answers on ``.../response``
(Mosquitto 2.0 docs, "Dynamic Security plugin"). ``createClient`` answers
``{"responses": [{"command": "createClient"}]}``, or the same with an ``error``;
"Client already exists" means another device of the user made the account, which is
as good.
"""

from __future__ import annotations

import orjson

from imload.adapters.base import ProtocolViolation

CONTROL = "$CONTROL/dynamic-security/v1"
RESPONSE = f"{CONTROL}/response"


def create_client(user: str, password: str) -> bytes:
    """The payload that creates the account ``user`` with ``password``."""
    return orjson.dumps({"commands": [{"command": "createClient", "username": user,
                                       "password": password}]})


def refusal(payload: bytes) -> str | None:
    """None when the answer says the account exists now; otherwise the plugin's error.
    ``ProtocolViolation`` (fatal) for an answer that is not the plugin's."""
    try:
        answer = orjson.loads(payload)["responses"][0]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        raise ProtocolViolation(f"a dynamic-security answer not understood: "
                                f"{payload[:120]!r}", fatal=True) from None
    if not isinstance(answer, dict):
        return "an answer that is not an object"
    error = answer.get("error")
    if not error or "already exists" in str(error):
        return None
    return str(error)
