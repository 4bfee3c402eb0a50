"""The node's WebSocket connection class, and the writing of a batch of text frames.

websockets hands the transport one ``write`` per frame; with uvloop each write to an
idle socket is a system call of its own. ``CoalescingConnection`` joins the frames
pending when it sends its data into one write. ``send_texts`` writes a session's batch
of text frames: on a ``CoalescingConnection`` without extensions (the node negotiates
none: ``compression=None``) it frames them itself, as one chunk (a server's frames are
unmasked: FIN + opcode, length, payload), instead of building a ``Frame`` object per
frame; elsewhere through websockets' ``send_text``. Either way inside websockets'
``send_context``, which checks the connection is open and applies its flow control.
"""

from __future__ import annotations

import struct

from websockets.asyncio.server import ServerConnection

_LEN16 = struct.Struct("!BBH")
_LEN64 = struct.Struct("!BBQ")
_TEXT_FIN = 0x81  # FIN bit + opcode 1 (text)


class CoalescingConnection(ServerConnection):
    """A ``ServerConnection`` that joins the pending frames into one transport write."""

    def send_data(self) -> None:
        writes = self.protocol.writes
        # An empty chunk marks the end of the stream (half-close): leave those as they are.
        if len(writes) > 1 and all(writes):
            self.protocol.writes = [b"".join(writes)]
        super().send_data()


def text_frames(texts: list[str | bytes]) -> bytes:
    """Unmasked, unfragmented text frames of UTF-8 payloads, one after the other."""
    parts: list[bytes] = []
    for text in texts:
        data = text.encode() if isinstance(text, str) else text
        n = len(data)
        if n < 126:
            parts.append(bytes((_TEXT_FIN, n)))
        elif n < 65536:
            parts.append(_LEN16.pack(_TEXT_FIN, 126, n))
        else:
            parts.append(_LEN64.pack(_TEXT_FIN, 127, n))
        parts.append(data)
    return b"".join(parts)


async def send_texts(ws: ServerConnection, texts: list[str | bytes]) -> None:
    """Send text frames (``str``, or ``bytes`` already UTF-8) in order, in one write."""
    async with ws.send_context():
        protocol = ws.protocol
        if isinstance(ws, CoalescingConnection) and not protocol.extensions and \
                not protocol.expect_continuation_frame:
            protocol.writes.append(text_frames(texts))
        else:
            for text in texts:
                protocol.send_text(text.encode() if isinstance(text, str) else text)
