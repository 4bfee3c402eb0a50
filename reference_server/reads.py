"""Read markers (the seed's PIMSyncRead): ``read``, ``reads``, and their pushes.

``read {rid, conv, upto}`` stores the user's marker of ``conv`` (the highest seq read):
it never passes the conversation's last seq and only grows (the ``lww-read`` bug mode lets
a lower read overwrite it). ``read_ok`` carries the stored value, sent once it is in the
store. When the marker moved, the store publishes ``read_sync {conv, upto, device}`` to the
user's other devices and ``receipt {conv, user, upto}`` to every other member of the
conversation (group and direct alike). A device fetches every marker after login with
``reads {rid}`` -> ``reads_ok {rid, marks}``, ``marks`` being ``{conv: upto}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from imload.protocol import is_valid_conv
from imload.protocol.frames import BAD_FRAME, FORBIDDEN
from reference_server.groups import members_of

if TYPE_CHECKING:
    from reference_server.session import Session


async def handle_read(session: Session, frame: dict[str, Any]) -> None:
    assert session.user is not None and session.device is not None
    rid, conv = frame["rid"], frame["conv"]
    if not is_valid_conv(conv):
        session.bad(BAD_FRAME, "read: field 'conv' must be a conversation (d:a:b or g:name)",
                    rid)
        return
    if frame["upto"] < 0:
        session.bad(BAD_FRAME, "read: field 'upto' must be at least 0", rid)
        return
    store = session.node.store
    members, _ = await members_of(store, conv)
    if session.user not in members:
        session.error(FORBIDDEN, f"read: {session.user} is not a member of {conv}", rid)
        return
    others = [m for m in members if m != session.user]
    stored = await store.read(session.user, session.device, conv, frame["upto"], others,
                              lww=session.node.config.bugs.has("lww-read"))
    session.reply({"t": "read_ok", "rid": rid, "conv": conv, "upto": stored})


async def handle_reads(session: Session, frame: dict[str, Any]) -> None:
    assert session.user is not None
    marks = await session.node.store.reads(session.user)
    session.reply({"t": "reads_ok", "rid": frame["rid"], "marks": marks})
