"""The node's WebSocket connection class: frames queued together leave in one write.

websockets hands the transport one ``write`` per frame; with uvloop each write to an
idle socket is a system call of its own. A session's writer queues several frames (a
``send_ack`` and the pushes of one loop pass) before the connection sends its data, so
joining them first makes one system call of several. Nothing else changes: the frames,
their order and the flow control (``drain``) are websockets' own.
"""

from __future__ import annotations

from websockets.asyncio.server import ServerConnection


class CoalescingConnection(ServerConnection):
    """A ``ServerConnection`` that joins the pending frames into one transport write."""

    def send_data(self) -> None:
        writes = self.protocol.writes
        # An empty chunk marks the end of the stream (half-close): leave those as they are.
        if len(writes) > 1 and all(writes):
            self.protocol.writes = [b"".join(writes)]
        super().send_data()
