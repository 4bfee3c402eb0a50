"""Protocol v1 (docs/protocol.md) as an adapter: the engine's vocabulary is v1's, so this
is only the JSON codec, one frame per WebSocket text message.

It is the hot path of every run against the reference server: ``encode`` is one
``orjson.dumps``, ``decode`` one ``orjson.loads`` and a type check, and neither ever
has output or events of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from imload.adapters.base import Adapter, ProtocolViolation
from imload.protocol import FrameError, decode_text_payload


class V1Adapter(Adapter):
    name = "v1"

    def encode(self, frame: dict[str, Any], now: float) -> Sequence[bytes]:
        return (orjson.dumps(frame),)

    def decode(self, payload: bytes, now: float) -> Sequence[dict[str, Any]]:
        try:
            return (decode_text_payload(payload),)
        except FrameError as e:
            raise ProtocolViolation(f"{e.code}: {e}") from None
