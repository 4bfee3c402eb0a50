"""The archives (XEP-0313): the user's own and each room's, read from a cursor.

``sync {rid, limit}`` reads every archive the device knows on from its cursor: the
user's own first, then each room's (``groups.py``), one after the other, in
``sync_batch`` pages with ``more`` until the last is read. A new sync marks them all
unread; the engine's next ``sync`` after a batch with ``more`` goes on where the last
stopped. The engine follows ``more`` only while ``upto`` grows, so a page holding
nothing new is never handed over: the adapter fetches the next page (or archive)
itself. A query the adapter makes by itself (``rid`` None: a room entered while
online) hands its messages over as ``msg`` pushes. A room that refuses its archive
(``auth``: no longer a member) is forgotten; a server without MAM (``cancel``)
answers every sync with an empty batch from then on.
"""

from __future__ import annotations

from typing import Any

from imload.adapters.xmpp import build
from imload.adapters.xmpp.core import MamQuery, Phase
from imload.adapters.xmpp.groups import Groups
from imload.adapters.xmpp.handshake import Events
from imload.adapters.xmpp.messages import read_message
from imload.adapters.xmpp.parsing import (
    NS_MAM,
    NS_RSM,
    Element,
    child,
    children,
    split,
    stanza_error,
    text_of,
)
from imload.adapters.xmpp.rooms import Room

_FIN = f"{{{NS_MAM}}}fin"
_RSM_SET = f"{{{NS_RSM}}}set"
_RSM_LAST = f"{{{NS_RSM}}}last"


class Archives(Groups):
    """The archive layer of the adapter; see the module docstring."""

    def _sync(self, frame: dict[str, Any]) -> tuple[bytes, ...]:
        if self.phase is not Phase.READY:
            return self._not_ready(frame)
        rid = frame.get("rid")
        limit = frame.get("limit")
        limit = limit if isinstance(limit, int) and not isinstance(limit, bool) else 200
        after = frame.get("after")
        if isinstance(after, int) and after > self.inbox.useq:
            # a fresh adapter for a device that held useqs up to ``after`` (the audit's):
            # number on from there, so the device's useqs stay unique
            self.inbox.useq = after
        if self.mam_unavailable:
            self._event(self._batch(rid, [], more=False))
            return ()
        limit = max(1, limit)
        if not self.sync_open:  # a new sync reads every archive on from its cursor; the
            self.inbox.caught_up = False  # engine's next one (after more) goes on
            for room in self.rooms.values():
                room.archive.caught_up = False
        self.sync_open = True
        q = self._next_archive(rid, limit)
        if q is None:
            self.sync_open = False
            self._event(self._batch(rid, [], more=False))
            return ()
        return (self._archive_query(q),)

    def _archive_query(self, q: MamQuery) -> bytes:
        qid = self._next_id("q")
        self.mam[qid] = q
        self.iqs[qid] = ("mam", q)
        archive = q.room.archive if q.room is not None else self.inbox
        archive.caught_up = False
        to = q.room.jid if q.room is not None else None
        return self._stanza(build.mam_query(qid, q.limit, archive.cursor, to))

    def _next_archive(self, rid: Any, limit: int) -> MamQuery | None:
        """The next archive a sync must read (the user's own first), or None: all read."""
        if not self.inbox.caught_up:
            return MamQuery(rid, limit)
        for room in self.rooms.values():
            if not room.archive.caught_up:
                return MamQuery(rid, min(limit, 50), room=room)
        return None
    def _mam_result(self, result: Element, inner: Element | None, room: Room | None) -> None:
        q = self.mam.get(result.get("queryid") or "")
        if q is not None and q.room is room:
            q.results.append((result.get("id") or "", inner))

    def _on_mam_done(self, qid: str, q: MamQuery, iq: Element) -> Events:
        self.mam.pop(qid, None)
        room = q.room
        if iq.get("type") == "error":
            err = next((c for c in children(iq) if split(c.tag)[1] == "error"), None)
            kind = err.get("type") if err is not None else None
            if room is not None and kind in ("auth", "cancel"):
                if kind == "auth":  # no longer a member: the room's archive is closed
                    self._forget(room, f"{room.jid} refused its archive")
                room.archive.caught_up = True  # (cancel: the room keeps no archive)
                return self._archive_done(q, [])
            if kind == "cancel":
                self.mam_unavailable = True  # no archive: syncs answer empty from now on
                self.sync_open = False
                return self._archive_read_to_end() + (
                    [self._batch(q.rid, [], more=False)] if q.rid is not None else [])
            self.sync_open = False
            return ([self._error(q.rid, "internal", f"MAM query failed: {stanza_error(iq)}")]
                    if q.rid is not None else [])
        fin = child(iq, _FIN)
        complete = fin is not None and fin.get("complete") in ("true", "1")
        rset = child(fin, _RSM_SET) if fin is not None else None
        last = (text_of(child(rset, _RSM_LAST)).strip() or None) if rset is not None else None
        msgs = []
        for archive_id, inner in q.results:
            if inner is None:
                continue
            if room is not None:
                entry = self._on_room_message(inner, room, archive_id)
            else:
                r = read_message(inner, self.user, self.own_bare, archive_id)
                if r.invite is not None:
                    self._learn_room(r.invite)
                elif r.marker is not None:
                    self._marker_seen(r.marker, live=False)
                entry = self.inbox.admit(r.entry)
            if entry is not None:
                msgs.append(entry)
        archive = room.archive if room is not None else self.inbox
        before = archive.cursor
        archive.page_done(last, complete)
        if not complete and not (last and last != before):
            complete = archive.caught_up = True  # a page that moves nowhere: the end
        if not complete and not msgs:
            # a page of messages already held: the engine follows `more` only when upto
            # grows, so the adapter fetches the next page itself
            q.results = []
            self._write(self._archive_query(q))
            return []
        return self._archive_done(q, msgs, more=not complete)

    def _archive_done(self, q: MamQuery, msgs: list[dict[str, Any]],
                      more: bool = False) -> Events:
        """A page is in: hand it over (a sync's batch, or pushes for the adapter's own
        query) and, when this archive is read and another waits, go on."""
        if q.rid is None:
            if more:
                q.results = []
                self._write(self._archive_query(q))
            return [{"t": "msg", **m} for m in msgs]
        if not more:
            nxt = self._next_archive(q.rid, q.limit)
            if nxt is not None:
                if not msgs:
                    self._write(self._archive_query(nxt))
                    return []
                more = True  # the engine asks again (upto grew): the next archive then
        self.sync_open = more
        batch = [self._batch(q.rid, msgs, more=more)]
        return batch if more else self._archive_read_to_end() + batch

    def _batch(self, rid: Any, msgs: list[dict[str, Any]], more: bool) -> dict[str, Any]:
        return {"t": "sync_batch", "rid": rid, "msgs": msgs, "upto": self.inbox.useq,
                "more": more}
