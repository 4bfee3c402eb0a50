"""Groups over XEP-0045 rooms: the group ops, group messages, and the rooms' archives.

The mapping (names, nicks, affiliations, how a change is told: ``rooms.py``):

``op {rid, opid, kind: group_create | group_add | group_remove, args}``
    The actor's device enters the room first when it is not in it (``group_create``
    makes the room: the server's defaults make it persistent and members-only; a new
    room's ``201`` is answered with an instant-room form). Then one admin iq sets the
    affiliation: ``owner`` for the creator's members or the added user, ``none`` for
    the removed one. Its result is the durable ack: ``op_ok {rid, opid, dup: False}``;
    then the change goes to the room as an ``event`` message (origin-id ``op:<opid>``)
    and, for the users it adds (and the creator itself, so its other devices learn the
    room), as a direct invitation (one the server bounces, to an account not made yet:
    its first login makes it, is sent again with the next ping). A room that refuses
    the entry or the iq (a name
    taken by a room we are not in, not an owner): ``error forbidden``. Other kinds of
    op: ``error unsupported``.
``send {rid, cmid, conv: "g:<name>", body}``
    ``<message type="groupchat">`` to the room once the device is in it (written at
    the entry otherwise). The room reflects it to its sender (XEP-0045 7.2.3); the
    reflection, live or found in the room's archive, is the ack: the room accepted and
    archived it. ``send_ack`` then, and the message is the sender device's own copy.
    An error from the room: ``error forbidden`` (not a member: no retry).
``sync``
    After the user's own archive, each room's archive from the room's cursor: one
    archive after the other, in ``sync_batch`` pages, ``more`` until the last is read.

Every fresh session enters every room the device knows; a room learnt while online
(an invitation, live or from the archive) is entered at once and its archive read
then, its messages handed over as ``msg``. A room that removes the user (its
presence with status 321 or 307, or an archive query refused) is forgotten.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from imload.adapters.base import DeviceIdentity
from imload.adapters.xmpp import build
from imload.adapters.xmpp.core import MamQuery, Phase
from imload.adapters.xmpp.handshake import Events, Handshake
from imload.adapters.xmpp.messages import Marker, label_of, split_jid
from imload.adapters.xmpp.parsing import Element, stanza_error
from imload.adapters.xmpp.rooms import (
    Room,
    event_body,
    nick_of,
    room_message,
    room_node,
    sender_of,
    statuses,
)
from imload.protocol.frames import GROUP_OPS

_REFUSALS = frozenset({"forbidden", "not-allowed", "registration-required",
                       "not-authorized", "item-not-found", "conflict", "not-acceptable"})
_GONE = frozenset({"301", "307", "321", "322"})  # banned, kicked, removed from the members


@dataclass(slots=True)
class GroupOp:
    rid: Any
    opid: str
    kind: str
    room: Room
    args: dict[str, Any]
    left: int = 0         # affiliation iqs not answered yet
    failed: bool = False  # one was refused: the op's error is given


class Groups(Handshake):
    """The rooms layer of the adapter; see the module docstring."""

    def __init__(self, identity: DeviceIdentity) -> None:
        super().__init__(identity)
        opts = identity.options or {}
        muc = opts.get("muc")
        self.muc = muc if isinstance(muc, str) and muc else f"conference.{self.domain}"
        self.nick = nick_of(self.user, self.identity.device)
        self.rooms: dict[str, Room] = {}             # conv -> room (the device's memory)
        # invitations the server bounced (the invitee's account did not exist yet: it is
        # made at its first login, docs/backends), (invitee, room): sent again with the
        # next ping, until one is not bounced
        self.bounced_invites: set[tuple[str, str]] = set()
        self.by_jid: dict[str, Room] = {}            # room JID -> room
        self.group_sends: dict[str, tuple[Any, str]] = {}  # cmid -> (rid, conv) until echoed
        self.group_reads: dict[str, tuple[Any, str, int]] = {}  # marker id -> (rid, conv,
        #                                                         upto) until echoed

    # ------------------------------------------------------------ rooms
    def _room(self, conv: str) -> Room | None:
        room = self.rooms.get(conv)
        if room is None:
            node = room_node(conv)
            if node is None:
                return None
            room = Room(conv, f"{node}@{self.muc}")
            self.rooms[conv] = self.by_jid[room.jid] = room
        return room

    def _learn_room(self, jid: str | None) -> None:
        """An invitation named room ``jid``: remember it and, online, enter it."""
        if not jid:
            return
        node, domain, _ = split_jid(jid.lower())
        if domain != self.muc or not node:
            return
        room = self._room(f"g:{node}")
        if room is not None and self.phase is Phase.READY:
            self._enter(room)

    def _forget(self, room: Room, why: str) -> None:
        self.rooms.pop(room.conv, None)
        self.by_jid.pop(room.jid, None)
        for _payload, rid, (what, key) in room.waiting:  # what waited for the entry
            waits: dict[str, Any] = {"send": self.group_sends, "iq": self.iqs,
                                     "read": self.group_reads}[what]
            waits.pop(key, None)
            self._event(self._error(rid, "forbidden", why))
        room.waiting = []

    def _enter(self, room: Room) -> None:
        if room.joined or room.joining:
            return
        room.joining = True
        self._write(self._stanza(build.muc_join(f"{room.jid}/{self.nick}")))

    def closed(self) -> None:
        super().closed()
        for room in self.rooms.values():  # what waited for an entry belongs to the
            room.joined = room.joining = False  # connection: the engine asks again
            room.waiting = []

    def _session_up(self, fresh: bool) -> Events:
        evs = super()._session_up(fresh)
        for room in self.rooms.values():  # enter again (after a resume: a no-op presence)
            if fresh:
                room.archive.caught_up = False
            self._enter(room)
        return evs

    def _write_or_wait(self, room: Room, payload: bytes, rid: Any = None,
                       key: tuple[str, str] = ("", "")) -> None:
        if room.joined:
            self._write(self._stanza(payload))
        else:
            room.waiting.append((payload, rid, key))
            self._enter(room)

    # ------------------------------------------------------------ intents
    def _op(self, frame: dict[str, Any]) -> tuple[bytes, ...]:
        rid, kind, opid = frame.get("rid"), frame.get("kind"), frame.get("opid")
        args = frame.get("args") if isinstance(frame.get("args"), dict) else {}
        if kind not in GROUP_OPS:
            self._event(self._error(rid, "unsupported", f"op {kind!r} has no XMPP mapping "
                                    "(groups only: group_create, group_add, group_remove)"))
            return ()
        room = self._room(args.get("conv"))  # type: ignore[arg-type]
        user = args.get("user")
        if room is None or not isinstance(opid, str) or (
                kind != "group_create" and not isinstance(user, str)):
            self._event(self._error(rid, "bad_frame", f"{kind} needs a lowercase g: conv"
                                    f"{'' if kind == 'group_create' else ' and a user'}"))
            return ()
        if self.phase is not Phase.READY:
            return self._not_ready(frame)
        op = GroupOp(rid, opid, kind, room, args)
        if kind == "group_create":  # the creator is the room's owner already
            users = sorted({m for m in args.get("members", ()) if isinstance(m, str)}
                           - {self.user})
        else:
            users = [user]  # type: ignore[list-item]
        affiliation = "none" if kind == "group_remove" else "owner"
        if not users:  # a group of the creator alone: entering the room made it
            users = [self.user]
        op.left = len(users)
        for u in users:  # one item per iq: Prosody reads only the first of several
            iq_id = self._next_id("affil")
            self.iqs[iq_id] = ("affil", op)
            self._write_or_wait(room, build.muc_affiliations(
                iq_id, room.jid, [f"{u}@{self.domain}"], affiliation), rid, ("iq", iq_id))
        return ()

    def _send_group(self, frame: dict[str, Any]) -> tuple[bytes, ...]:
        rid, cmid, conv = frame["rid"], frame["cmid"], frame["conv"]
        room = self.rooms.get(conv)
        if room is None:
            self._event(self._error(rid, "forbidden" if room_node(conv) else "bad_frame",
                                    f"{self.user} is not in {conv} (no invitation seen)"))
            return ()
        if self.phase is not Phase.READY:
            return self._not_ready(frame)
        # written again on every attempt (the last one's rid is answered): a copy the
        # room got twice has one origin-id, so one mid, and devices keep it once
        self.group_sends[cmid] = (rid, conv)
        self._write_or_wait(room, build.groupchat(room.jid, cmid, frame["body"]), rid,
                            ("send", cmid))
        return ()

    # ------------------------------------------------------------ the rooms' answers
    def _on_room_presence(self, el: Element, room: Room) -> Events:
        nick = split_jid(el.get("from") or "")[2]
        codes = statuses(el)
        mine = nick == self.nick or "110" in codes
        if el.get("type") == "error" and (mine or not nick):
            room.joining = False
            self._forget(room, f"the room {room.jid} refused the entry: {stanza_error(el)}")
            return []
        if not mine:
            return []
        if el.get("type") == "unavailable":
            room.joined = room.joining = False
            if codes & _GONE:
                self._forget(room, f"removed from {room.jid}")
            return []
        if room.joined:
            return []
        room.joined, room.joining = True, False
        if "201" in codes:  # a new room: accept its configuration (the server's defaults)
            iq_id = self._next_id("form")
            self.iqs[iq_id] = ("form", room)
            self._write(self._stanza(build.muc_instant(iq_id, room.jid)))
        waiting, room.waiting = room.waiting, []
        for payload, _rid, _key in waiting:
            self._write(self._stanza(payload))
        if not (room.archive.caught_up or self.sync_open
                or any(q.room is room for q in self.mam.values())):
            self._write(self._archive_query(MamQuery(None, 50, room=room)))
        return []

    def _on_affiliation(self, op: GroupOp, iq: Element) -> Events:
        op.left -= 1
        if op.failed:
            return []
        if iq.get("type") == "error":
            op.failed = True
            why = stanza_error(iq)
            code = "forbidden" if why.split(":")[0] in _REFUSALS else "internal"
            return [self._error(op.rid, code, f"{op.kind} on {op.room.jid}: {why}")]
        if op.left > 0:
            return []
        room, args = op.room, op.args
        self._write_or_wait(room, build.groupchat(room.jid, f"op:{op.opid}",
                                                  event_body(op.kind, self.user, args)))
        if op.kind == "group_create":
            invited = sorted({*(m for m in args.get("members", ()) if isinstance(m, str)),
                              self.user})
        else:
            invited = [args["user"]] if op.kind == "group_add" else []
        for user in invited:
            self._write(self._stanza(build.direct_invite(
                f"{user}@{self.domain}", room.jid, f"imload: {user} is in {room.conv}")))
        return [{"t": "op_ok", "rid": op.rid, "opid": op.opid, "dup": False}]

    def _on_room_message(self, el: Element, room: Room, archive_id: str | None = None,
                         ) -> dict[str, Any] | None:
        """A room message (live, or from the room's archive) as a ``msg`` entry with its
        useq, or None; the echo of the device's own message acks its send."""
        entry, stanza_id, displayed = room_message(el, room.conv, room.jid, archive_id)
        if archive_id is None and stanza_id is not None:
            room.archive.seen_live(stanza_id)
        if entry is None:
            if displayed is not None:
                self._room_marker(el, room, displayed, live=archive_id is None)
            elif el.get("type") == "error":
                self._on_room_error(el, room)
            return None
        if split_jid(el.get("from") or "")[2] == self.nick:
            pending = self.group_sends.pop(entry["cmid"], None)
            if pending is not None:
                mid = entry["mid"]
                self._event({"t": "send_ack", "rid": pending[0], "cmid": entry["cmid"],
                             "mid": mid, "conv": room.conv, "seq": label_of(mid),
                             "server_ts": None, "dup": False})
        return self.inbox.admit(entry)

    def _room_marker(self, el: Element, room: Room, displayed: str, live: bool) -> None:
        """A chat marker in a room: the echo of this device's own acks its read."""
        nick = split_jid(el.get("from") or "")[2]
        user, device = sender_of(nick)
        if nick == self.nick:
            pending = self.group_reads.pop(el.get("id") or "", None)
            if pending is not None:
                self._event({"t": "read_ok", "rid": pending[0], "conv": pending[1],
                             "upto": pending[2]})
        for ev in self._marker_seen(Marker(room.conv, user, device, "x:" + displayed,
                                           user == self.user), live):
            self._event(ev)

    def _on_room_error(self, el: Element, room: Room) -> None:
        """A room bounced a message. ``not-acceptable`` says the device is no occupant
        any more, though it entered: the room lost its occupants (ejabberd's room process
        died with a node) without telling them. The device enters again (what XEP-0410
        self-pings find out) and the send is retried; anything else refuses it."""
        cmid = el.get("id") or ""
        pending = self.group_sends.pop(cmid, None) or self.group_reads.pop(cmid, None)
        why = stanza_error(el)
        gone = why.split(":")[0] == "not-acceptable"
        if gone and room.joined:
            room.joined = False
            self._enter(room)
        if pending is not None:
            self._event(self._error(pending[0], "internal" if gone else "forbidden",
                                    f"the room refused the message: {why}"))
