"""Read markers as XEP-0333 chat markers (``<displayed/>``), one-to-one chats only.

``read {rid, conv: "d:a:b", upto}``
    The user opened the chat: a ``<displayed id=…/>`` for the newest message from the
    peer this device holds (what a real client marks; XEP-0333 section 4: "all
    messages up to this one"), with a store hint (XEP-0334) so archives keep it, and
    ``<r/>``. ``read_ok {rid, conv, upto}`` when the server's ``<a h/>`` covers it
    (without XEP-0198: once written), ``upto`` being that message's seq (its label,
    ``messages.label_of``): the engine's ``upto`` names a seq, and seqs are labels
    here, so "up to" has no order to follow; the marker stored is the message marked.
    Nothing from the peer held yet, or a group: ``error unsupported``.
``read_sync {conv, upto, device}``
    Another device of the user marked the chat: its marker, as a carbon (XEP-0280).
``receipt {conv, user, upto}``
    The peer marked the chat (its marker arrives like a message).
``reads {rid}`` -> ``reads_ok {rid, marks}``
    XMPP stores no read marker apart from the messages: the user's markers are the
    last marker each chat has from the user's own devices in the user's archive
    (Prosody keeps markers: ``mod_mam``'s "marker" rule), as read by the sync, plus
    those this device sent or got as carbons since. The answer waits until the archive
    was read to its end on this session (the sync at login does that).
"""

from __future__ import annotations

from typing import Any

from imload.adapters.base import DeviceIdentity
from imload.adapters.xmpp import build
from imload.adapters.xmpp.archives import Archives
from imload.adapters.xmpp.core import Phase
from imload.adapters.xmpp.handshake import Events
from imload.adapters.xmpp.messages import Marker, label_of


class Markers(Archives):
    """The read-marker layer of the adapter; see the module docstring."""

    def __init__(self, identity: DeviceIdentity) -> None:
        super().__init__(identity)
        self.read_marks: dict[str, int] = {}  # conv -> the user's marker, as known here
        self.reads_waiting: list[Any] = []    # reads rids until the archive is read

    def closed(self) -> None:
        super().closed()
        self.reads_waiting = []

    def _mark_read(self, frame: dict[str, Any]) -> tuple[bytes, ...]:
        rid, conv = frame.get("rid"), frame.get("conv")
        if not isinstance(conv, str) or conv[:2] not in ("d:", "g:"):
            self._event(self._error(rid, "bad_frame", f"read of {conv!r}: not a conversation"))
            return ()
        if self.phase is not Phase.READY:
            return self._not_ready(frame)
        mid = self.inbox.newest.get(conv)
        if mid is None:
            self._event(self._error(rid, "unsupported", f"nothing from the others in {conv} "
                                    "held yet: a chat marker names a message"))
            return ()
        if conv[:2] == "g:":
            return self._mark_room(rid, conv, mid)
        parts = conv.split(":")
        peer = parts[2] if parts[1] == self.user else parts[1]
        upto = label_of(mid)
        self.read_marks[conv] = upto
        stanza = build.displayed(f"{peer}@{self.domain}", mid[2:], self._next_id("m"))
        if self.sm.active:
            return (self._stanza(stanza, rid=rid, conv=conv, upto=upto), build.sm_request())
        self._event({"t": "read_ok", "rid": rid, "conv": conv, "upto": upto})
        return (stanza,)

    def _mark_room(self, rid: Any, conv: str, mid: str) -> tuple[bytes, ...]:
        room = self.rooms.get(conv)
        if room is None:
            self._event(self._error(rid, "forbidden", f"{self.user} is not in {conv}"))
            return ()
        upto = label_of(mid)
        self.read_marks[conv] = upto
        marker_id = self._next_id("m")
        self.group_reads[marker_id] = (rid, conv, upto)
        self._write_or_wait(room, build.displayed(room.jid, mid[2:], marker_id, True), rid,
                            ("read", marker_id))
        return ()

    def _reads(self, frame: dict[str, Any]) -> tuple[bytes, ...]:
        rid = frame.get("rid")
        if self.phase is not Phase.READY:
            return self._not_ready(frame)
        if self.inbox.caught_up or self.mam_unavailable:
            self._event(self._marks(rid))
        else:
            self.reads_waiting.append(rid)
        return ()

    def _marks(self, rid: Any) -> dict[str, Any]:
        return {"t": "reads_ok", "rid": rid, "marks": dict(self.read_marks)}

    # ------------------------------------------------------------ hooks of Archives
    def _marker_seen(self, m: Marker, live: bool) -> Events:
        upto = label_of(m.mid)
        if m.mine:
            self.read_marks[m.conv] = upto  # the newest marker wins (archive order, or live)
            if live and m.device != self.identity.device:
                return [{"t": "read_sync", "conv": m.conv, "upto": upto, "device": m.device}]
            return []
        if live:
            return [{"t": "receipt", "conv": m.conv, "user": m.reader, "upto": upto}]
        return []

    def _archive_read_to_end(self) -> Events:
        waiting, self.reads_waiting = self.reads_waiting, []
        return [self._marks(rid) for rid in waiting]
