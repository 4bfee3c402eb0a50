"""Protocol adapters: the engine's intents and events in one wire protocol each.

``base.py`` is the interface (read it first), ``v1.py`` imload's own protocol,
``xmpp/`` XMPP over WebSocket (``xmpp``) and over TCP with STARTTLS (``xmpp-tcp``).
A target names its protocol (``protocol = "xmpp"``, default ``"v1"``) and may give
the adapter options in a table of the same name (``[xmpp]``); ``adapter_class`` and
``make_adapter`` turn that into an adapter per device. docs/drivers.md says how to
add one.
"""

from __future__ import annotations

import importlib
from typing import Any

from imload.adapters.base import Adapter, DeviceIdentity, ProtocolViolation

# protocol name -> "module:class"; imported on first use (XMPP's XML library is not
# loaded by a run that does not need it)
PROTOCOLS: dict[str, str] = {
    "v1": "imload.adapters.v1:V1Adapter",
    "xmpp": "imload.adapters.xmpp:XmppAdapter",
    "xmpp-tcp": "imload.adapters.xmpp.tcp:XmppTcpAdapter",
}

__all__ = ["PROTOCOLS", "Adapter", "DeviceIdentity", "ProtocolViolation", "adapter_class",
           "make_adapter"]


def adapter_class(protocol: str) -> type[Adapter]:
    """The adapter class of ``protocol``; ValueError naming the known ones otherwise."""
    where = PROTOCOLS.get(protocol)
    if where is None:
        raise ValueError(f"unknown protocol {protocol!r}; known: {', '.join(sorted(PROTOCOLS))}")
    module, name = where.split(":")
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, Adapter)
    return cls


def make_adapter(protocol: str, user: str, device: str, secret: str,
                 options: dict[str, Any] | None = None) -> Adapter:
    """A new adapter for one device, with the credential its protocol derives from
    ``secret``."""
    cls = adapter_class(protocol)
    token = cls.credential(secret, user, device)
    return cls(DeviceIdentity(user, device, token, dict(options or {})))
