"""Read markers (the seed's PIMSyncRead): ``read``, ``reads``, and their pushes.

``read {rid, conv, upto}`` stores the user's marker of ``conv`` (the highest seq read):
it never passes the conversation's last seq and only grows (the ``lww-read`` bug mode lets
a lower read overwrite it). ``read_ok`` carries the stored value, sent once it is in the
store. When the marker moved, the store publishes ``read_sync {conv, upto, device,
server_ts}`` to the user's other devices and ``receipt {conv, user, upto, server_ts}`` to
every other member of the conversation (group and direct alike); ``server_ts`` is this
node's clock when it took the read, so a receiver can tell the push's age. A device
fetches every marker after login with ``reads {rid}`` -> ``reads_ok {rid, marks}``,
``marks`` being ``{conv: upto}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from imload.protocol import is_valid_conv
from imload.protocol.frames import BAD_FRAME, FORBIDDEN
from reference_server.groups import members_of

if TYPE_CHECKING:
    from reference_server.requests import Requests


async def handle_read(session: Requests, frame: dict[str, Any]) -> None:
    assert session.user is not None and session.device is not None
    rid, conv = frame["rid"], frame["conv"]
    if not is_valid_conv(conv):
        session.bad(BAD_FRAME, "read: field 'conv' must be a conversation (d:a:b or g:name)",
                    rid)
        return
    if frame["upto"] < 0:
        session.bad(BAD_FRAME, "read: field 'upto' must be at least 0", rid)
        return
    store = session.store
    members, _ = await members_of(store, conv)
    if session.user not in members and not session.bugs.has("open-conversations"):
        session.error(FORBIDDEN, f"read: {session.user} is not a member of {conv}", rid)
        return
    others = [m for m in members if m != session.user]
    stored = await store.read(session.user, session.device, conv, frame["upto"], others,
                              session.now_ms(), lww=session.bugs.has("lww-read"))
    session.reply({"t": "read_ok", "rid": rid, "conv": conv, "upto": stored})


async def handle_reads(session: Requests, frame: dict[str, Any]) -> None:
    assert session.user is not None
    marks = await session.store.reads(session.user)
    session.reply({"t": "reads_ok", "rid": frame["rid"], "marks": marks})
