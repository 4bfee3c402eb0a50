"""Groups as XEP-0045 rooms: names, the device's memory of its rooms, and reading what a
room sends (its messages, live or archived, and its presences).

A group ``g:<name>`` is the room ``<name>@<muc service>`` (names must be lowercase, as
for users: servers nodeprep JIDs). A device enters a room with the nick
``<user>#<device>``, so a room message says which user and device sent it. The room's
members are its *owners* (XEP-0045 affiliation ``owner``): any member may add or
remove members (the reference v1 server asks consent and keeps one owner; a room has
neither), and in a room only owners may change every affiliation. The
room is members-only and persistent (the server's defaults in the private configs
imload writes; docs/backends/), so who may enter is the affiliation list, and the
room's archive (XEP-0313 on the room) keeps every message for members who were away.

A membership change is told two ways: the actor posts the change as a message in
the room (its body the JSON object protocol v1 gives an ``event`` message, its
origin-id ``op:<opid>``, so the checker pairs it with the op, as for v1), and sends the
user it adds a direct invitation (XEP-0249) with a body, which the invitee's own
archive keeps: a device that was away learns its rooms from the archive.

``Rooms`` is per device: each room's archive cursor (``Archive``), whether the current
connection is in it, and what waits for the entry (group messages, ops).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from imload.adapters.xmpp.messages import Archive, label_of, split_jid
from imload.adapters.xmpp.parsing import (
    NS_CLIENT,
    NS_MARKERS,
    NS_MUC_USER,
    NS_SID,
    Element,
    children,
)
from imload.protocol.frames import GROUP_OPS

_BODY = f"{{{NS_CLIENT}}}body"
_ORIGIN_ID = f"{{{NS_SID}}}origin-id"
_STANZA_ID = f"{{{NS_SID}}}stanza-id"
_MUC_USER = f"{{{NS_MUC_USER}}}x"
_STATUS = f"{{{NS_MUC_USER}}}status"
_DISPLAYED = f"{{{NS_MARKERS}}}displayed"


@dataclass(slots=True)
class Room:
    """One room the device belongs to."""

    conv: str
    jid: str
    archive: Archive = field(default_factory=Archive)
    joined: bool = False     # the current connection is in the room
    joining: bool = False    # its join presence is on the way
    # stanzas to write once joined: (payload, the rid to refuse if the entry fails, and
    # what to drop then: ("send", cmid) or ("iq", iq id))
    waiting: list[tuple[bytes, Any, tuple[str, str]]] = field(default_factory=list)


def room_node(conv: str) -> str | None:
    """``g:<name>`` -> the room's local part; None when ``conv`` is no group name XMPP
    can carry (not ``g:``, or not lowercase)."""
    if not isinstance(conv, str) or not conv.startswith("g:") or len(conv) < 3:
        return None
    name = conv[2:]
    if name != name.lower() or "@" in name or "/" in name:
        return None
    return name


def nick_of(user: str, device: str) -> str:
    return f"{user}#{device}"


def sender_of(nick: str) -> tuple[str, str]:
    """The (user, device) a nick names ((nick, "") for a nick imload did not make)."""
    user, sep, device = nick.rpartition("#")
    return (user, device) if sep and user else (nick, "")


def event_body(kind: str, actor: str, args: dict[str, Any]) -> str:
    """The room message that tells a membership change: protocol v1's event object."""
    if kind == "group_create":
        members = sorted({*args.get("members", ()), actor})
        return json.dumps({"op": kind, "user": actor, "members": members})
    return json.dumps({"op": kind, "user": args.get("user"), "by": actor})


class RoomRead(NamedTuple):
    """What one walk over a room's message found."""

    entry: dict[str, Any] | None  # the msg entry (no useq), None: no text or event
    stanza_id: str | None         # the room's archive id for it
    displayed: str | None = None  # a chat marker (XEP-0333): the id of the message marked


def room_message(message: Element, conv: str, room_jid: str,
                 archive_id: str | None = None) -> RoomRead:
    """A room's ``<message type="groupchat"/>`` as a ``msg`` entry without ``useq`` (None:
    no body, no sender, or nothing to know it by), the room's archive id for it, and
    the message a chat marker in it names."""
    body: str | None = None
    origin_id = stanza_id = displayed = None
    for ch in children(message):
        tag = ch.tag
        if tag == _BODY or tag == "body":
            body = ch.text or ""
        elif tag == _ORIGIN_ID:
            origin_id = ch.get("id")
        elif tag == _STANZA_ID and (ch.get("by") or "").lower() == room_jid:
            stanza_id = ch.get("id")
        elif tag == _DISPLAYED:
            displayed = ch.get("id")
    stanza_id = stanza_id or archive_id
    nick = split_jid(message.get("from") or "")[2]
    if message.get("type") != "groupchat" or not nick:
        return RoomRead(None, stanza_id)  # subjects, room notices, errors
    if body is None:
        return RoomRead(None, stanza_id, displayed)
    ident = origin_id or message.get("id") or (f"sid:{stanza_id}" if stanza_id else None)
    if not ident:
        return RoomRead(None, stanza_id)
    user, device = sender_of(nick)
    mid = "x:" + ident
    kind, content = "text", body
    if ident.startswith("op:") and body[:1] == "{":
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and parsed.get("op") in GROUP_OPS:
            kind, content = "event", parsed
    return RoomRead({"mid": mid, "conv": conv, "seq": label_of(mid), "from": user,
                     "from_device": device, "cmid": ident, "body": content, "server_ts": None,
                     "kind": kind}, stanza_id)


def statuses(presence: Element) -> set[str]:
    """The XEP-0045 status codes of a room presence."""
    found: set[str] = set()
    for x in presence:
        if x.tag == _MUC_USER:
            found.update(st.get("code") or "" for st in x if st.tag == _STATUS)
    return found
