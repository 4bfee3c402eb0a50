"""``XmppAdapter``: the engine's intents as XMPP stanzas, the server's stanzas as
engine events (the mapping is the package docstring's).

``encode`` turns one intent into the payloads to write now; ``decode`` reads one
server message (``parsing.parse``) and routes it by its name: stanzas (counted
for XEP-0198), stream-management nonzas, the framing (``<open/>``, ``<close/>``),
features and SASL (``handshake.py``), stream errors. What cannot be read raises
``ProtocolViolation``, fatal for ``<close/>`` and ``<stream:error/>`` (the server
ends the stream), and never another exception type.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from typing import Any

from imload.adapters.base import ProtocolViolation
from imload.adapters.xmpp import build
from imload.adapters.xmpp.core import EXPECTED, Phase
from imload.adapters.xmpp.handshake import Events, h_attr
from imload.adapters.xmpp.markers import Markers
from imload.adapters.xmpp.messages import (
    MAM_RESULT,
    forwarded_message,
    label_of,
    read_message,
)
from imload.adapters.xmpp.parsing import (
    NS_CLIENT,
    NS_FRAMING,
    NS_PING,
    NS_ROSTER,
    NS_SASL,
    NS_SM,
    NS_STREAM_ERRORS,
    NS_STREAMS,
    Element,
    children,
    condition,
    error_text,
    parse,
    split,
)
from imload.adapters.xmpp.rooms import Room
from imload.adapters.xmpp.smacks import SmError

_STANZAS = frozenset({"message", "presence", "iq"})
_UNSUPPORTED = {
    "state": "the user's stored state (contacts, pins) has no XMPP mapping",
}


class XmppAdapter(Markers):
    """One device's XMPP client, without I/O (see the package docstring)."""

    @classmethod
    def promises(cls, options: dict[str, Any]) -> list[str] | None:
        """With XEP-0198 (``smacks``, the default) a stanza the server acked with ``<a h/>``
        is its responsibility (XEP-0198 section 4), and with the archive (XEP-0313) every
        device of each party gets it: no loss, on no device, and nothing delivered that no
        client sent or that differs from what was sent. Without XEP-0198 nothing is acked but
        the write, and RFC 6120 promises nothing for a stanza in a connection that drops:
        loss is a finding, not a defect. Never promised: duplicates (a stanza re-sent after
        a failed resume is a new stanza; XEP-0359 asks no server to drop repeats), order
        (seqs are labels here) and inbox gaps (the useqs are the adapter's)."""
        if options.get("smacks", True) is False:
            return ["phantom", "corrupted", "undecryptable"]
        return ["lost", "partial", "phantom", "aborted", "corrupted", "undecryptable"]

    @classmethod
    def credential(cls, secret: str, user: str, device: str) -> str:
        """The account password of ``user``: HMAC-SHA256 of the user under the target's
        secret (every device of a user shares the account, so ``device`` is not in it)."""
        mac = hmac.new(secret.encode(), f"imload-xmpp:{user}".encode(), hashlib.sha256)
        return mac.hexdigest()[:32]

    # ================================================================ intents
    def encode(self, frame: dict[str, Any], now: float) -> Sequence[bytes]:
        t = frame.get("t")
        handler = _INTENTS.get(t) if isinstance(t, str) else None
        if handler is not None:
            return handler(self, frame)
        if t in _UNSUPPORTED:
            self._event(self._error(frame.get("rid"), "unsupported", _UNSUPPORTED[t]))
        elif frame.get("rid") is not None:
            self._event(self._error(frame.get("rid"), "unknown_type",
                                    f"intent {t!r} has no XMPP mapping"))
        return ()

    def _send(self, frame: dict[str, Any]) -> tuple[bytes, ...]:
        rid, cmid, conv = frame.get("rid"), frame.get("cmid"), frame.get("conv")
        body = frame.get("body")
        if not (isinstance(cmid, str) and isinstance(conv, str) and isinstance(body, str)):
            self._event(self._error(rid, "bad_frame", "send needs string cmid, conv, body"))
            return ()
        if conv.startswith("g:"):
            return self._send_group(frame)
        parts = conv.split(":")
        if len(parts) != 3 or parts[0] != "d" or self.user not in (parts[1], parts[2]):
            self._event(self._error(rid, "forbidden", f"{self.user} is not in {conv}"))
            return ()
        if self.phase is not Phase.READY:
            return self._not_ready(frame)
        pending = self.sm.unacked(cmid)
        if pending is not None:  # still in the reliable stream (e.g. resent on resume):
            pending.rid = rid    # its ack answers this attempt, nothing more to write
            return ()
        peer = parts[2] if parts[1] == self.user else parts[1]
        stanza = build.chat_message(f"{peer}@{self.domain}", cmid, body)
        if self.sm.active:
            self._stanza(stanza, cmid, rid, conv)
            return (stanza, build.sm_request())
        # no XEP-0198: acked once written (at-most-once: a connection lost now loses it)
        mid = "x:" + cmid
        self._event({"t": "send_ack", "rid": rid, "cmid": cmid, "mid": mid, "conv": conv,
                     "seq": label_of(mid), "server_ts": None, "dup": False})
        return (stanza,)

    def _ping(self, frame: dict[str, Any]) -> tuple[bytes, ...]:
        if self.phase is not Phase.READY:
            return self._not_ready(frame)
        iq_id = self._next_id("ping")
        self.iqs[iq_id] = ("ping", (frame.get("rid"), frame.get("ts")))
        again = tuple(self._stanza(build.direct_invite(to, room, f"imload: {to} is invited"))
                      for to, room in sorted(self.bounced_invites))
        self.bounced_invites.clear()
        return (self._stanza(build.ping(iq_id)), *again)

    def _ack(self, frame: dict[str, Any]) -> tuple[bytes, ...]:
        return ()  # XMPP has no inbox cursor on the server: the MAM cursor is ours

    # ================================================================ server
    def decode(self, payload: bytes, now: float) -> Sequence[dict[str, Any]]:
        return self._read(parse(payload))

    def _read(self, root: Element) -> Events:
        """One top-level element of the server's, as engine events."""
        try:
            return self._dispatch(root)
        except ProtocolViolation:
            raise
        except Exception as e:  # a shape the code did not foresee: the server's bytes
            raise ProtocolViolation(f"unreadable <{split(root.tag)[1]}/>: "
                                    f"{type(e).__name__}: {e}") from None

    def _dispatch(self, el: Element) -> Events:
        ns, local = split(el.tag)
        if local in _STANZAS and ns in (NS_CLIENT, ""):
            self.sm.received()
            if local == "message":
                return self._on_message(el)
            if local == "iq":
                return self._on_iq(el)
            room = self.by_jid.get((el.get("from") or "").partition("/")[0].lower())
            return self._on_room_presence(el, room) if room is not None else []
        if ns == NS_SM and local in ("r", "a"):
            if local == "r":
                self._write(build.sm_answer(self.sm.handled))
                return []
            return self._on_sm_ack(el)
        if ns == NS_STREAMS and local == "error":
            cond = condition(el, NS_STREAM_ERRORS) or "undefined-condition"
            text = error_text(el, NS_STREAM_ERRORS)
            raise ProtocolViolation(f"stream error: {cond}" + (f" ({text})" if text else ""),
                                    fatal=True)
        if ns == NS_FRAMING and local == "close":
            where = el.get("see-other-uri")
            raise ProtocolViolation("the server closed the stream" +
                                    (f" (see other uri {where})" if where else ""), fatal=True)
        known = ((ns == NS_FRAMING and local == "open")
                 or (ns in (NS_STREAMS, "") and local == "features")
                 or ns == NS_SASL or (ns == NS_SM and local in ("enabled", "resumed", "failed")))
        if not known:
            return []  # a nonza of an extension the adapter does not use
        if local not in EXPECTED[self.phase]:
            raise ProtocolViolation(f"the server sent <{local}/> while the client is "
                                    f"{self.phase.value}")
        if local == "open":
            return []
        if local == "features":
            return self._on_features(el)
        if ns == NS_SASL:
            return self._on_sasl(local, el)
        return self._on_sm_session(local, el)

    # ------------------------------------------------------------ XEP-0198
    def _on_sm_ack(self, el: Element) -> Events:
        if not self.sm.active:
            return []  # a late <a/> of a session already settled
        try:
            acked = self.sm.ack(h_attr(el))
        except SmError as e:
            raise ProtocolViolation(str(e)) from None
        return self._acked(acked)

    # ------------------------------------------------------------ iq
    def _on_iq(self, iq: Element) -> Events:
        typ, iq_id = iq.get("type"), iq.get("id") or ""
        if typ in ("result", "error"):
            what, data = self.iqs.pop(iq_id, (None, None))
            if what == "mam":
                return self._on_mam_done(iq_id, data, iq)
            if what == "ping":  # an error answers too: the server is there (XEP-0199)
                return [{"t": "pong", "rid": data[0], "ts": data[1], "server_ts": None}]
            if what == "bind":
                return self._on_bind_result(iq)
            if what == "register":
                return self._on_register_result(iq)
            if what == "affil":
                return self._on_affiliation(data, iq)
            return []  # carbons enabled (or not: nothing to do), or a stale answer
        if typ in ("get", "set"):
            payload = next(children(iq), None)
            known = payload is not None and (
                split(payload.tag) == (NS_PING, "ping")
                or (split(payload.tag) == (NS_ROSTER, "query") and typ == "set"))
            frm = iq.get("from")
            reply = build.iq_result(iq_id, frm) if known else build.iq_error(iq_id, frm)
            self._write(self._stanza(reply))
        return []

    # ------------------------------------------------------------ messages
    def _on_message(self, el: Element) -> Events:
        user, own = self.user, self.own_bare
        if self.rooms:
            room = self.by_jid.get((el.get("from") or "").partition("/")[0].lower())
            if room is not None:
                return self._from_room(el, room)
        r = read_message(el, user, own)
        if r.wrapper is not None:
            frm = (el.get("from") or own).lower()
            if frm != own:
                return []  # carbons and MAM results come from the user's own account
            inner = forwarded_message(r.wrapper)
            if r.wrapper.tag == MAM_RESULT:
                self._mam_result(r.wrapper, inner, None)
                return []
            if inner is None:
                return []
            r = read_message(inner, user, own)  # a carbon: the message it carries
        if r.invite is not None:
            if el.get("type") == "error":  # our invitation, bounced by the invitee's server
                invitee = (el.get("from") or "").partition("/")[0].lower()
                if invitee and invitee != own and r.invite:
                    self.bounced_invites.add((invitee, r.invite.lower()))
                return []
            self._learn_room(r.invite)
            return []
        if self.phase is not Phase.READY:
            return []  # the engine is not listening yet: the archive keeps it for the sync
        if r.marker is not None:
            return self._marker_seen(r.marker, live=True)
        if r.stanza_id is not None:
            self.inbox.seen_live(r.stanza_id)
        entry = self.inbox.admit(r.entry)
        if entry is None:
            return []
        return [{"t": "msg", **entry}]

    def _from_room(self, el: Element, room: Room) -> Events:
        for ch in el:
            if ch.tag == MAM_RESULT:
                self._mam_result(ch, forwarded_message(ch), room)
                return []
        if self.phase is not Phase.READY:
            return []
        entry = self._on_room_message(el, room)
        return [{"t": "msg", **entry}] if entry is not None else []


_INTENTS: dict[str, Callable[[XmppAdapter, dict[str, Any]], Sequence[bytes]]] = {
    "login": XmppAdapter._login,
    "send": XmppAdapter._send,
    "sync": XmppAdapter._sync,
    "ping": XmppAdapter._ping,
    "ack": XmppAdapter._ack,
    "op": XmppAdapter._op,
    "read": XmppAdapter._mark_read,
    "reads": XmppAdapter._reads,
}
