"""Ops (``op {rid, opid, kind, args}`` -> ``op_ok {rid, opid, dup}``) and ``state``.

Ops are instructions a device may have queued while offline (the seed's section 8.6).
Each applies at most once per (user, opid): a repeat answers ``dup: true`` and changes
nothing. A connection's frames are handled one at a time, an op to the end before the next
frame is read, so ops apply in the order one connection sent them, also when the client
pipelines them (its whole offline queue on the wire at once; the ``op-reorder`` bug mode,
opbatch.py, breaks exactly that). ``op_ok`` is sent once the effect is in the store.

| kind | args | effect |
| --- | --- | --- |
| ``group_create`` | ``conv`` (g:), ``members`` | a new group of them and its creator (owner) |
| ``group_add`` | ``conv`` (g:), ``user`` | add a member (any member, with the user's consent) |
| ``group_remove`` | ``conv`` (g:), ``user`` | remove a member (the owner, or an admin a mere |
| | | member; oneself: leave) |
| ``group_role`` | ``conv`` (g:), ``user``, ``role`` | name (``admin``) or un-name (``member``) |
| | | an admin (the owner) |
| ``contact_add`` | ``user`` | add a contact (not oneself) |
| ``contact_remove`` | ``user`` | remove a contact |
| ``pin`` | ``conv``, ``pinned`` (bool) | pin or unpin a conversation one is a member of |

Bad args answer ``bad_frame`` naming the field (``args.user``); a group that exists
already, a group or conversation the user is not in, a group change the group rules refuse
(groups.py: consent, owner, admins, size): ``forbidden``; over the fan-out budget:
``rate_limited``. Adding a member already there, removing one who is not, or giving a
member the role they have, is applied as a no-op (no event).
``state {rid}`` answers ``state_ok {rid, contacts, pinned, groups}``, each sorted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from imload.protocol import validate_op
from imload.protocol.frames import BAD_FRAME, FORBIDDEN, GROUP_EVENT_OPS
from reference_server.groups import group_op, members_of

if TYPE_CHECKING:
    from reference_server.requests import Requests


async def handle_op(session: Requests, frame: dict[str, Any]) -> None:
    """``op``: validate (FrameError on bad args), apply once, answer op_ok."""
    validate_op(frame)
    assert session.user is not None
    store = session.store
    rid, opid, kind, args = frame["rid"], frame["opid"], frame["kind"], frame["args"]
    dup: bool | None
    if kind in GROUP_EVENT_OPS:
        dup = await group_op(session, frame)
        if dup is None:
            return
    elif kind in ("contact_add", "contact_remove"):
        if args["user"] == session.user:
            session.bad(BAD_FRAME, f"op {kind}: field 'args.user' must be another user", rid)
            return
        action = "add" if kind == "contact_add" else "remove"
        dup = not await store.set_op(session.user, opid, "contacts", action, args["user"])
    else:  # pin
        conv = args["conv"]
        members, _ = await members_of(store, conv)
        if session.user not in members:
            session.error(FORBIDDEN, f"op pin: {session.user} is not a member of {conv}", rid)
            return
        action = "add" if args["pinned"] else "remove"
        dup = not await store.set_op(session.user, opid, "pinned", action, conv)
    session.reply({"t": "op_ok", "rid": rid, "opid": opid, "dup": dup})


async def handle_state(session: Requests, frame: dict[str, Any]) -> None:
    assert session.user is not None
    state = await session.store.state(session.user)
    session.reply({"t": "state_ok", "rid": frame["rid"], **state})
