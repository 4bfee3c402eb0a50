"""The ``op-reorder`` bug mode: the ops of a connection that arrive together apply newest
first, so a client's pipelined flush of its offline queue lands out of order.

The mistake, as it could be made: to answer a burst of ops (a device back online sends
its whole queue at once) without a store round trip between reading one frame and the
next, the node puts each ``op`` it reads on a per-connection list and applies the list
in a task of its own once the connection has nothing more to read, taking the ops from
the end (``pop()`` where ``popleft()`` was meant). Each op is still applied once and
answered ``op_ok``, only in reverse order; an op that arrives alone is unaffected. Any
other frame first waits until the ops read before it are applied (as frames wait for
pipelined sends, inflight.py), so a ``state`` after the ops sees all of them.

Promise 8 (docs/protocol.md) says ops apply in the order one connection sent them; the
correct node handles an op, like every frame but pipelined sends and acks, to the end
before it reads the next frame (session.py).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reference_server.requests import Dispatcher


class OpBatch:
    """The ops a session has read and not yet applied (only with ``--bug op-reorder``)."""

    def __init__(self, session: Dispatcher) -> None:
        self._session = session
        self._pending: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._pending)

    async def take(self, frame: dict[str, Any]) -> bool:
        """Keep an ``op`` of a logged-in session for later (True); for any other frame,
        apply what was kept first and return False (the caller handles the frame)."""
        if frame["t"] == "op" and self._session.user is not None:
            self._pending.append(frame)
            if self._task is None:
                # The task first runs when the read loop waits for the socket (or for the
                # store): by then every op that came in the same read is on the list.
                self._task = asyncio.get_running_loop().create_task(self._apply())
            return True
        await self.drain()
        return False

    async def _apply(self) -> None:
        try:
            while self._pending:
                await self._session.dispatch(self._pending.pop())  # the bug: newest first
        finally:
            self._task = None

    async def drain(self) -> None:
        """Return once every op kept so far is applied and answered."""
        while self._task is not None:
            await self._task

    def cancel(self) -> None:
        """The session ends without waiting (the node stops): drop what is left."""
        self._pending.clear()
        if self._task is not None:
            self._task.cancel()
