"""Protocol adapters: the engine's intents and events in one wire protocol each.

``base.py`` is the interface (read it first), ``v1.py`` imload's own protocol,
``xmpp/`` XMPP over WebSocket (``xmpp``) and over TCP with STARTTLS (``xmpp-tcp``),
``mqtt/`` MQTT 3.1.1 and 5 over TCP (``mqtt``).
A target names its protocol (``protocol = "xmpp"``, default ``"v1"``) and may give
the adapter options in a table of the same name (``[xmpp]``); ``adapter_class`` and
``make_adapter`` turn that into an adapter per device. A team's own adapter needs no
change here: the target names it by import path (``protocol = "acme_im:AcmeAdapter"``,
a module importable where imload runs) and its options table by the class's ``name``
(``[acme]``). docs/drivers.md says how to write one.
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
    "mqtt": "imload.adapters.mqtt.adapter:MqttAdapter",
}

__all__ = ["PROTOCOLS", "Adapter", "DeviceIdentity", "ProtocolViolation", "adapter_class",
           "make_adapter", "options_table"]


def adapter_class(protocol: str) -> type[Adapter]:
    """The adapter class of ``protocol`` (a name in ``PROTOCOLS``, or ``module:Class``);
    ValueError saying what is wrong otherwise."""
    where = PROTOCOLS.get(protocol)
    if where is None and ":" not in protocol:
        raise ValueError(f"unknown protocol {protocol!r}; known: {', '.join(sorted(PROTOCOLS))}"
                         ", or an adapter's import path, module:Class")
    module, _, name = (where or protocol).partition(":")
    try:
        cls = getattr(importlib.import_module(module), name)
    except ImportError as e:
        raise ValueError(f"protocol {protocol!r}: cannot import {module!r} ({e}); is it on "
                         "PYTHONPATH where imload runs?") from None
    except AttributeError:
        raise ValueError(f"protocol {protocol!r}: module {module!r} has no {name!r}") from None
    if not (isinstance(cls, type) and issubclass(cls, Adapter)):
        raise ValueError(f"protocol {protocol!r}: {name} is not an imload.adapters.Adapter")
    return cls


def options_table(protocol: str) -> str:
    """The name of the target's table of ``protocol``'s options: the protocol's name, or
    for an import path the adapter class's ``name`` (``[acme]``)."""
    return protocol if protocol in PROTOCOLS else adapter_class(protocol).name or protocol


def make_adapter(protocol: str, user: str, device: str, secret: str,
                 options: dict[str, Any] | None = None) -> Adapter:
    """A new adapter for one device, with the credential its protocol derives from
    ``secret``."""
    cls = adapter_class(protocol)
    token = cls.credential(secret, user, device)
    return cls(DeviceIdentity(user, device, token, dict(options or {})))
