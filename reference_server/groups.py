"""Conversations' members, and the group ops (``group_create``, ``group_add``,
``group_remove``, ``group_role``).

A direct conversation's members are in its name; a group's are in the store with a
membership version (``c:<group>:mver``, the seq of its last change). Writers read both and
hand the version to the script, which refuses when it moved in between; ``MAX_STALE``
rereads later the node gives up with ``internal`` (the client retries with the same cmid or
opid). So a message with seq s reaches exactly the members as of s.

A membership change takes a seq in the group and is delivered as a message of kind
``event``, from the acting user and device, with ``cmid`` ``"op:<opid>"`` and a JSON
object as ``body``: ``{"op": "group_create", "user": <creator>, "members": [...]}``,
``{"op": "group_add", "user": <added>, "by": <actor>}``, ``{"op": "group_remove",
"user": <removed>, "by": <actor>}`` or ``{"op": "group_role", "user": <member>, "role":
"admin" | "member", "by": <owner>}``. It reaches the members after the change and, for
``group_remove``, the removed user too (so their devices learn it). A role change takes a
seq like the others but changes no member, so it leaves the membership version alone.

The rules (docs/protocol.md, "Groups"; ``fanout.GroupRules``): a user joins only with their
consent, that is when they have the actor as a contact (checked in the op's script, so a
``contact_remove`` cannot race it); the creator is the owner, who names and un-names admins
(``group_role``) and removes anyone; an admin removes members who are neither the owner nor
an admin; anyone may leave, and a removed or leaving admin is no longer one (all in the
op's script, so two ops cannot race past a rule); a group has at most ``--max-group-size``
members (checked here against the members read at the version the script then insists on,
so it is exact); each op and each group message draws its recipients from the sender's
fan-out budget (fanout.py). A refusal answers ``forbidden`` naming the rule (``rate_limited`` with
``retry_after_ms`` for the budget) and changes nothing.

Bug modes: ``stale-members`` (``member_cache.MemberCache``: the fan-out of a group message
leaves out whoever joined since the node last refreshed its cached list), ``terse-events``
(``event_body``: the event body worded as a string, no member list), ``open-groups`` (no
consent, owner, admin or size rule) and ``no-fanout-limit`` (no budget).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from imload.protocol import conv_members
from imload.protocol.frames import FORBIDDEN, RATE_LIMITED
from reference_server.store import StaleMembers, Store, StoreError

if TYPE_CHECKING:
    from reference_server.requests import Requests

MAX_STALE = 8


def event_body(kind: str, user: str, target: str | None, recipients: list[str],
               terse: bool = False, role: str = "") -> dict[str, Any] | str:
    """The body of a membership event: the object docs/protocol.md promises or, with the
    ``terse-events`` bug, a string without the member list."""
    if kind == "group_create":
        if terse:
            return json.dumps({"op": kind, "user": user})  # JSON as text, no members
        return {"op": kind, "user": user, "members": recipients}
    if terse:
        return f"{kind} {target} by {user}"
    if kind == "group_role":
        return {"op": kind, "user": target, "role": role, "by": user}
    return {"op": kind, "user": target, "by": user}


async def members_of(store: Store, conv: str) -> tuple[list[str], str]:
    """The members of a valid conversation and its membership version ('' for a direct one
    or a group that does not exist)."""
    direct = conv_members(conv)
    if direct is not None:
        return list(direct), ""
    view = await store.group(conv)
    return sorted(view.members), view.ver


async def group_op(session: Requests, frame: dict[str, Any]) -> bool | None:
    """Apply a group op; True when it repeats an opid already applied, False when applied
    now, None when refused (the error is sent here)."""
    assert session.user is not None and session.device is not None
    store = session.store
    rid, opid, kind, args = frame["rid"], frame["opid"], frame["kind"], frame["args"]
    conv, user, role = args["conv"], session.user, args.get("role", "")
    terse = session.bugs.has("terse-events")
    rules = session.group_rules
    charged = False  # the fan-out budget is drawn once, whatever the rereads
    for _ in range(MAX_STALE):
        members, ver = await members_of(store, conv)
        target: str | None
        if kind == "group_create":
            target = None
            recipients = sorted(set(args["members"]) | {user})
        else:
            target = args["user"]
            recipients = sorted(set(members) | {target})
        why = rules.too_big(kind, conv, members, recipients)
        if why is not None:
            session.error(FORBIDDEN, f"op {kind}: {why}", rid)
            return None
        if not charged:
            wait_ms = await rules.fanout.charge(store, user, len(recipients))
            if wait_ms:
                why = rules.fanout.refusal(len(recipients))
                session.error(RATE_LIMITED, f"op {kind}: {why}", rid, retry_after_ms=wait_ms)
                return None
            charged = True
        body = event_body(kind, user, target, recipients, terse, role)
        try:
            status, detail = await store.group_op(
                user, session.device, opid, kind, conv, recipients, target, ver, body,
                session.now_ms(), open_rules=rules.open, role=role)
        except StaleMembers:
            continue
        if status == 3:
            session.error(FORBIDDEN, f"op {kind}: {detail}", rid)
            return None
        return status == 1
    raise StoreError(f"the members of {conv} kept changing; retry the op")
