"""Inbound chat messages as engine ``msg`` entries, and what the device remembers of
them across its connections.

``read_message`` reads one ``<message/>`` (a live one, the one inside a carbon, or
the one inside a MAM result) into the fields of a ``msg`` without ``useq``: ``None``
when it is no 1:1 chat text (no body, an error, a groupchat, no sender). The
direction comes from the sender: a message from the user's own bare JID is one
another device of the user (or this one) sent, so the conversation is with its
``to`` and ``from`` is the user; any other is from the peer.

``Deliveries`` is per device: the ``useq`` counter (1, 2, 3 ... never reused across
connections), the mids already delivered (the dedup: a mid is delivered once,
whether it came live, as a carbon or from the archive) and the MAM cursor.

mid is ``"x:" + origin-id`` (XEP-0359; the ``id`` attribute when there is no
origin-id, the archive's stanza-id as a last resort). XMPP 1:1 chats have no shared
server numbering, so seq is an opaque label (``label_of(mid)``: an integer, as the
engine and the journal want, equal on every device; the target declares
``seq = "opaque"``, so no check compares two of them).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from imload.adapters.base import label_of
from imload.adapters.xmpp.parsing import (
    NS_CARBONS,
    NS_CLIENT,
    NS_CONFERENCE,
    NS_FORWARD,
    NS_MAM,
    NS_MARKERS,
    NS_SID,
    Element,
    children,
    split,
)

_BODY = f"{{{NS_CLIENT}}}body"
_BODY_BARE = "body"
_ORIGIN_ID = f"{{{NS_SID}}}origin-id"
_STANZA_ID = f"{{{NS_SID}}}stanza-id"
_FORWARDED = f"{{{NS_FORWARD}}}forwarded"
_CHAT_TYPES = frozenset({"chat", "normal", None})
_CONFERENCE = f"{{{NS_CONFERENCE}}}x"
_DISPLAYED = f"{{{NS_MARKERS}}}displayed"
CARBON_RECEIVED = f"{{{NS_CARBONS}}}received"
CARBON_SENT = f"{{{NS_CARBONS}}}sent"
MAM_RESULT = f"{{{NS_MAM}}}result"
_WRAPPERS = frozenset({CARBON_RECEIVED, CARBON_SENT, MAM_RESULT})


def split_jid(jid: str) -> tuple[str, str, str]:
    """``local@domain/resource`` -> (local, domain, resource), each "" when absent."""
    bare, _, resource = jid.partition("/")
    local, at, domain = bare.partition("@")
    if not at:
        local, domain = "", bare
    return local, domain, resource


def direct_conv(a: str, b: str) -> str:
    """The v1 name of the direct conversation of users ``a`` and ``b``."""
    return f"d:{a}:{b}" if a <= b else f"d:{b}:{a}"


class Inbound(NamedTuple):
    """What one walk over a ``<message/>`` found."""

    entry: dict[str, Any] | None  # the msg entry (no useq, no t), None: no 1:1 chat text
    stanza_id: str | None         # the id the user's own archive gave it (XEP-0359)
    wrapper: Element | None       # a carbon <received/>/<sent/> or a MAM <result/> child
    invite: str | None = None     # the room a direct invitation (XEP-0249) names
    marker: Marker | None = None  # a chat marker (XEP-0333 displayed)


class Marker(NamedTuple):
    """A ``<displayed/>`` chat marker: ``reader`` (a device of it: ``device``) displayed
    ``conv`` up to the message whose mid is ``mid``; ``mine``: the reader is the user."""

    conv: str
    reader: str
    device: str
    mid: str
    mine: bool


def read_message(message: Element, user: str, own_bare: str,
                 archive_id: str | None = None) -> Inbound:
    """One walk over ``message``'s children (lxml makes a proxy per child it hands out,
    so the adapter walks once): a wrapper (carbon, MAM result) is returned as such,
    anything else read as chat text. ``archive_id``: its MAM id, when it comes from the
    archive."""
    body: str | None = None
    origin_id = stanza_id = displayed = None
    for ch in message:
        tag = ch.tag
        if tag == _BODY or tag == _BODY_BARE:
            body = ch.text or ""
        elif tag == _ORIGIN_ID:
            origin_id = ch.get("id")
        elif tag == _STANZA_ID:
            if (ch.get("by") or "").lower() == own_bare:
                stanza_id = ch.get("id")
        elif tag in _WRAPPERS:
            return Inbound(None, None, ch)
        elif tag == _CONFERENCE:
            return Inbound(None, None, None, ch.get("jid") or "")
        elif tag == _DISPLAYED:
            displayed = ch.get("id")
    if archive_id and not stanza_id:
        stanza_id = archive_id
    typ = message.get("type")
    if (body is None and displayed is None) or typ not in _CHAT_TYPES:
        return Inbound(None, stanza_id, None)  # chat states, receipts, errors, groupchat
    frm_local, frm_domain, frm_res = split_jid(message.get("from") or "")
    if not frm_local:
        return Inbound(None, stanza_id, None)  # from the server itself: no conversation
    mine = f"{frm_local}@{frm_domain}".lower() == own_bare
    if mine:
        peer = split_jid(message.get("to") or "")[0]
        sender = user
        if not peer:
            return Inbound(None, stanza_id, None)
    else:
        peer = sender = frm_local
    if body is None:
        return Inbound(None, stanza_id, None, marker=Marker(
            direct_conv(user, peer), sender, frm_res, "x:" + displayed, mine)
            if displayed else None)
    ident = origin_id or message.get("id") or (f"sid:{stanza_id}" if stanza_id else None)
    if not ident:
        return Inbound(None, stanza_id, None)  # nothing to know it by: no dedup possible
    mid = "x:" + ident
    return Inbound({"mid": mid, "conv": direct_conv(user, peer), "seq": label_of(mid),
                    "from": sender,
                    "from_device": frm_res, "cmid": origin_id or message.get("id") or ident,
                    "body": body, "server_ts": None, "kind": "text"}, stanza_id, None)


def forwarded_message(wrapper: Element) -> Element | None:
    """The message inside a carbon or MAM result (``<forwarded><message/>``)."""
    for fw in children(wrapper):
        if fw.tag == _FORWARDED:
            for inner in children(fw):
                if split(inner.tag)[1] == "message":
                    return inner
    return None


class Archive:
    """Where a device is in one archive (its user's own, or a room's, ``rooms.py``)."""

    __slots__ = ("caught_up", "cursor")

    def __init__(self) -> None:
        self.cursor: str | None = None  # the MAM cursor: the newest archive id we hold
        self.caught_up = False          # the archive was read to its end on this session

    def seen_live(self, stanza_id: str) -> None:
        """A live message carried this archive id: it is the cursor, when the archive
        was read to its end on this session (otherwise an older message may be in the
        archive and not held yet, and the cursor must not pass it)."""
        if self.caught_up:
            self.cursor = stanza_id

    def page_done(self, last: str | None, complete: bool) -> None:
        """A MAM page ended at archive id ``last``; ``complete``: the archive's end."""
        if last:
            self.cursor = last
        self.caught_up = complete


class Deliveries(Archive):
    """The per-device memory of inbound messages (see the module docstring), and where
    the device is in its user's own archive."""

    __slots__ = ("delivered", "newest", "user", "useq")

    def __init__(self, user: str = "") -> None:
        super().__init__()
        self.user = user
        self.useq = 0                   # the last useq handed out
        self.delivered: set[str] = set()
        self.newest: dict[str, str] = {}  # conv -> mid of the newest text from someone else

    def admit(self, entry: dict[str, Any] | None) -> dict[str, Any] | None:
        """``entry`` with the next useq, or None when it is None or already delivered."""
        if entry is None or entry["mid"] in self.delivered:
            return None
        self.delivered.add(entry["mid"])
        self.useq += 1
        entry["useq"] = self.useq
        if entry.get("from") != self.user and entry.get("kind") == "text":
            self.newest[entry["conv"]] = entry["mid"]
        return entry
