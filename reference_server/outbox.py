"""A session's outbound frames, in order: text frames (``str``, or ``bytes`` already UTF-8)
and, last, a close ``(code, reason)``. One writer task takes them in batches; ``size``
is what the queued frames weigh (characters of a ``str``, bytes of ``bytes``), so a
session can bound what a client that stops reading costs in bytes, not only in frames.

A deque and one waiter future: cheaper per frame than ``asyncio.Queue``, which the
node's hot path paid three times per message (a ``send_ack`` and two pushes).
"""

from __future__ import annotations

import asyncio
from collections import deque

Close = tuple[int, str]
Item = str | bytes | Close


class Outbox:
    """FIFO of one session's outbound items; ``take`` waits for at least one."""

    def __init__(self) -> None:
        self._items: deque[Item] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the writer's, once it waited
        self.size = 0  # the queued text frames' length

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Item) -> None:
        self._items.append(item)
        if not isinstance(item, tuple):
            self.size += len(item)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._items.clear()
        self.size = 0

    async def take(self, limit: int, max_bytes: int | None = None
                   ) -> tuple[list[str | bytes], Close | None]:
        """Up to ``limit`` text frames, oldest first, and the close if one came next; no
        frame past ``max_bytes`` (at least one frame): what the writer holds while a client
        does not read is bounded in bytes, like what stays queued."""
        items = self._items
        while not items:
            if self._loop is None:
                self._loop = asyncio.get_running_loop()
            self._waiter = self._loop.create_future()
            await self._waiter
        texts: list[str | bytes] = []
        taken = 0
        while items and len(texts) < limit and (max_bytes is None or taken < max_bytes):
            item = items.popleft()
            if isinstance(item, tuple):
                return texts, item
            texts.append(item)
            self.size -= len(item)
            taken += len(item)
        return texts, None
