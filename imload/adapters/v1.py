"""Protocol v1 (docs/protocol.md) as an adapter: the engine's vocabulary is v1's, so this
is only the JSON codec, one frame per WebSocket text message.

It is the hot path of every run against the reference server: ``encode`` is one
``orjson.dumps``, ``decode`` one ``orjson.loads`` and a type check, and neither ever
has output or events of its own, so it declares them as its ``codec``: the driver
calls the two functions directly, with no tuple, clock read or flag test per frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from imload.adapters.base import Adapter, ProtocolViolation
from imload.protocol import FrameError, decode_text_payload


def decode_one(payload: bytes) -> dict[str, Any]:
    """One v1 frame; ProtocolViolation (not fatal) for one that is not."""
    try:
        return decode_text_payload(payload)
    except FrameError as e:
        raise ProtocolViolation(f"{e.code}: {e}") from None


class V1Adapter(Adapter):
    name = "v1"
    codec = (orjson.dumps, decode_one)  # one payload per intent, one event per payload

    def encode(self, frame: dict[str, Any], now: float) -> Sequence[bytes]:
        return (orjson.dumps(frame),)

    def decode(self, payload: bytes, now: float) -> Sequence[dict[str, Any]]:
        return (decode_one(payload),)
