"""XMPP over TCP (RFC 6120), with STARTTLS: the WebSocket adapter's logic on a stream.

Over TCP the client and the server each write one long XML document: a
``<stream:stream>`` header, then top-level elements (stanzas and nonzas), restarted
after STARTTLS and after SASL. ``XmppTcpAdapter`` feeds the bytes, as they arrive,
to an incremental lxml parser (``XMLPullParser``, hardened as ``parsing.py``'s) and
hands each complete top-level element to the same dispatch as RFC 7395's messages;
the stream header stands for ``<open/>`` and its end for ``<close/>``. A new parser
starts with each stream the client opens (``_stream_open``), since the server
answers a restart with a new document.

STARTTLS (RFC 6120 section 5): when the first features offer ``<starttls/>`` and the
target's ``[xmpp-tcp] starttls`` is not false, the adapter asks for it; on
``<proceed/>`` it sets ``wants_tls`` and the driver upgrades the socket (trusting the
target's ``ca``) and calls ``tls_started``, after which the stream starts again. A
server that requires TLS (``<required/>``) while ``starttls = false`` is a refused
login, as is ``<failure/>``. The node's url is ``tcp://host:port``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from lxml import etree

from imload.adapters.base import ProtocolViolation
from imload.adapters.xmpp.adapter import XmppAdapter
from imload.adapters.xmpp.build import attr
from imload.adapters.xmpp.core import EXPECTED, Phase
from imload.adapters.xmpp.parsing import NS_STREAMS, Element, child, split

NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
_STREAM = f"{{{NS_STREAMS}}}stream"
Events = list[dict[str, Any]]


class XmppTcpAdapter(XmppAdapter):
    """One device's XMPP client over a TCP stream; see the module docstring."""

    name = "xmpp-tcp"
    subprotocols: ClassVar[tuple[str, ...]] = ()
    transport = "tcp"

    def _reset_connection(self) -> None:
        super()._reset_connection()
        opts = self.identity.options or {}
        self.use_tls = opts.get("starttls", True) is not False
        self.tls_done = False
        self.wants_tls = False
        self._new_parser()

    def _new_parser(self) -> None:
        self._parser = etree.XMLPullParser(
            events=("start", "end"), resolve_entities=False, no_network=True,
            huge_tree=False, load_dtd=False, dtd_validation=False)
        self._depth = 0

    # ------------------------------------------------------------ the stream
    def _stream_open(self) -> bytes:
        self._new_parser()  # the server answers with a new document
        return ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                f"xmlns:stream='{NS_STREAMS}' to=\"{attr(self.domain)}\" "
                "version='1.0'>").encode()

    def _stream_close(self) -> bytes:
        return b"</stream:stream>"

    def tls_started(self) -> None:
        self.wants_tls = False
        self.tls_done = True
        self._write(self._stream_open())

    def decode(self, payload: bytes, now: float) -> Sequence[dict[str, Any]]:
        if b"<!DOCTYPE" in payload or b"<!ENTITY" in payload:
            raise ProtocolViolation("XMPP forbids DTDs and entity declarations (RFC 6120 11.1)",
                                    fatal=True)
        try:
            self._parser.feed(bytes(payload))
            found = list(self._parser.read_events())
        except Exception as e:  # lxml's XMLSyntaxError: the rest of the stream is unreadable
            raise ProtocolViolation(f"malformed XML stream: {e}", fatal=True) from None
        out: Events = []
        for kind, el in found:
            if kind == "start":
                self._depth += 1
                if self._depth == 1:
                    self._on_stream_header(el)
                continue
            self._depth -= 1
            if self._depth == 0:
                raise ProtocolViolation("the server closed the stream", fatal=True)
            if self._depth == 1:
                out.extend(self._element(el))
                parent = el.getparent()
                if parent is not None:
                    parent.remove(el)  # a long stream must not keep what it has read
        return out

    def _on_stream_header(self, el: Element) -> None:
        if el.tag != _STREAM:
            raise ProtocolViolation(f"the stream starts with <{split(el.tag)[1]}/>, not "
                                    "<stream:stream>", fatal=True)
        if "open" not in EXPECTED[self.phase]:
            raise ProtocolViolation(f"the server opened a stream while the client is "
                                    f"{self.phase.value}")

    def _element(self, el: Element) -> Events:
        ns, local = split(el.tag)
        return self._on_tls(local) if ns == NS_TLS else self._read(el)

    # ------------------------------------------------------------ STARTTLS
    def _on_features(self, el: Element) -> Events:
        if self.phase is Phase.OPENING and not self.tls_done:
            offer = child(el, f"{{{NS_TLS}}}starttls")
            if offer is not None and self.use_tls:
                self._write(f"<starttls xmlns='{NS_TLS}'/>".encode())
                return []
            if offer is not None and child(offer, f"{{{NS_TLS}}}required") is not None:
                return self._refuse("the server requires STARTTLS and the target says "
                                    "starttls = false")
        return super()._on_features(el)

    def _on_tls(self, local: str) -> Events:
        if self.phase is not Phase.OPENING or self.tls_done:
            raise ProtocolViolation(f"the server sent <{local}/> (STARTTLS) while the "
                                    f"client is {self.phase.value}")
        if local == "proceed":
            self.wants_tls = True
            return []
        return self._refuse(f"STARTTLS refused by the server (<{local}/>)")
