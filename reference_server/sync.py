"""The ``sync`` request: inbox entries after a cursor, in batches bounded in number and in
bytes, so a big inbox comes in several replies (``more: true``) that each stay under the
frame limit clients keep. Its limit (limits.py) is drawn while the inbox is read, not
before: a sync costs the time of one store round trip, not two.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Protocol

from imload.protocol.frames import BAD_FRAME
from reference_server.requests import Requests

if TYPE_CHECKING:
    from reference_server.limits import Limiter

SYNC_DEFAULT_LIMIT = 200
SYNC_MAX_LIMIT = 1000
# a sync_batch's entries stop past this many bytes (at least one entry each): with a
# message at most MAX_FRAME_BYTES, a reply stays under the 1 MiB frame limit that many
# WebSocket clients keep by default (python websockets, browsers' proxies)
SYNC_MAX_BYTES = 512 * 1024


class Syncing(Requests, Protocol):
    """A logged-in connection, as its sync sees it (``Session``)."""

    limits: Limiter

    def reply_text(self, text: str) -> None: ...


async def handle_sync(session: Syncing, frame: dict[str, Any]) -> None:
    assert session.user is not None
    rid = frame["rid"]
    limit = frame.get("limit", SYNC_DEFAULT_LIMIT)
    if limit < 1:
        session.bad(BAD_FRAME, "sync: field 'limit' must be at least 1", rid)
        return
    batch, drawn = await asyncio.gather(session.store.sync(
        session.user, max(frame["after"], 0), min(limit, SYNC_MAX_LIMIT),
        None if session.bugs.has("unbounded-sync") else SYNC_MAX_BYTES),
        session.limits.take("sync"), return_exceptions=True)
    if isinstance(drawn, BaseException):
        raise drawn  # over the limit (RateLimited): the batch read is not sent
    if isinstance(batch, BaseException):
        raise batch
    # The entries are stored JSON: splice them in rather than decode and encode again.
    more = "true" if batch.more else "false"
    session.reply_text(f'{{"t":"sync_batch","rid":{rid},"msgs":[{",".join(batch.entries)}],'
                       f'"upto":{batch.upto},"more":{more}}}')
