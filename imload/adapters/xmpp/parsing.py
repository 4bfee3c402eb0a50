"""Reading one server message: RFC 7395 puts exactly one top-level element in each
WebSocket message (``<open/>``, ``<close/>``, a stanza or a nonza), so every payload
is parsed on its own, with no streaming parser kept across messages.

The parser is lxml's, hardened: no entity resolution, no DTD loading, no network,
``huge_tree`` off (libxml2's limits on depth and text size stay on), and a payload
that declares a DTD is refused before it reaches the parser (RFC 6120 11.1 forbids
DTDs in XMPP). Whatever cannot be read raises ``ProtocolViolation`` (not fatal), never
another exception. The namespaces the adapter reads are named here, once.

Elements are read by walking their children (``children``) rather than with
``find``: lxml makes a Python proxy per element it hands out, and one walk over a
``<message>`` costs less than several searches (see the package docstring for the
figures).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from lxml import etree

from imload.adapters.base import ProtocolViolation

NS_FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
NS_STREAMS = "http://etherx.jabber.org/streams"
NS_STREAM_ERRORS = "urn:ietf:params:xml:ns:xmpp-streams"
NS_CLIENT = "jabber:client"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_SM = "urn:xmpp:sm:3"
NS_CARBONS = "urn:xmpp:carbons:2"
NS_FORWARD = "urn:xmpp:forward:0"
NS_SID = "urn:xmpp:sid:0"
NS_MAM = "urn:xmpp:mam:2"
NS_RSM = "http://jabber.org/protocol/rsm"
NS_DATA = "jabber:x:data"
NS_PING = "urn:xmpp:ping"
NS_REGISTER = "jabber:iq:register"
NS_REGISTER_FEATURE = "http://jabber.org/features/iq-register"
NS_ROSTER = "jabber:iq:roster"
NS_RECEIPTS = "urn:xmpp:receipts"
NS_MUC = "http://jabber.org/protocol/muc"
NS_MUC_USER = "http://jabber.org/protocol/muc#user"
NS_MUC_ADMIN = "http://jabber.org/protocol/muc#admin"
NS_MUC_OWNER = "http://jabber.org/protocol/muc#owner"
NS_CONFERENCE = "jabber:x:conference"
NS_MARKERS = "urn:xmpp:chat-markers:0"
NS_HINTS = "urn:xmpp:hints"

Element = etree._Element

_local = threading.local()  # an lxml parser must not be shared between threads


def _parser() -> etree.XMLParser:
    p = getattr(_local, "parser", None)
    if p is None:
        p = _local.parser = etree.XMLParser(
            resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False,
            dtd_validation=False, collect_ids=False)
    return p


def parse(payload: bytes) -> Element:
    """The one top-level element of ``payload``; ``ProtocolViolation`` when it is not
    well-formed XML, declares a DTD, or holds anything but one element."""
    if not isinstance(payload, bytes | bytearray):
        raise ProtocolViolation(f"an XMPP payload is bytes, not {type(payload).__name__}")
    if b"<!DOCTYPE" in payload or b"<!ENTITY" in payload:
        raise ProtocolViolation("XMPP forbids DTDs and entity declarations (RFC 6120 11.1)")
    try:
        root = etree.fromstring(bytes(payload), _parser())
    except Exception as e:  # lxml's XMLSyntaxError and anything else it may raise
        raise ProtocolViolation(f"malformed XML: {e}") from None
    if root is None or not isinstance(root.tag, str):
        raise ProtocolViolation("no element in the payload")
    return root


def split(tag: str) -> tuple[str, str]:
    """``{ns}local`` -> (ns, local); an unqualified tag has the namespace ""."""
    if tag[:1] == "{":
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


def children(el: Element) -> Iterator[Element]:
    """The child elements of ``el`` (comments, processing instructions and unresolved
    entities skipped)."""
    for ch in el:
        if isinstance(ch.tag, str):
            yield ch


def child(el: Element, tag: str) -> Element | None:
    """The first child of ``el`` whose tag is ``tag`` (``{ns}local``)."""
    for ch in el:
        if ch.tag == tag:
            return ch
    return None


def text_of(el: Element | None) -> str:
    """The text directly inside ``el`` ("" for None or an empty element)."""
    if el is None:
        return ""
    return el.text or ""


def condition(el: Element, ns: str) -> str:
    """The local name of the first child of ``el`` in ``ns``: the defined condition of a
    stream error, a SASL failure or a stanza error ("" when there is none)."""
    for ch in children(el):
        cns, local = split(ch.tag)
        if cns == ns and local != "text":
            return local
    return ""


def error_text(el: Element, ns: str) -> str:
    """The ``<text/>`` of a stream, SASL or stanza error in ``ns``, or ""."""
    return text_of(child(el, f"{{{ns}}}text"))


def stanza_error(iq: Element) -> str:
    """``condition: text`` of an ``<error/>`` stanza child (``iq`` or ``message``)."""
    for ch in children(iq):
        if split(ch.tag)[1] == "error":
            cond = condition(ch, NS_STANZAS) or "undefined-condition"
            text = error_text(ch, NS_STANZAS)
            return f"{cond}: {text}" if text else cond
    return "undefined-condition"
