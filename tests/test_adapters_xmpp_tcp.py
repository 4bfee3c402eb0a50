"""XMPP over TCP (imload/adapters/xmpp/tcp.py): a stream fed in chunks, STARTTLS, restarts."""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree

from imload.adapters import adapter_class
from imload.adapters.base import DeviceIdentity, ProtocolViolation
from imload.adapters.xmpp.tcp import NS_TLS, XmppTcpAdapter

DOMAIN = "example.org"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
HEADER = (b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
          b"xmlns:stream='http://etherx.jabber.org/streams' id='s1' from='example.org' "
          b"version='1.0'>")


def features(inner: str) -> bytes:
    return f"<stream:features>{inner}</stream:features>".encode()


STARTTLS = features(f"<starttls xmlns='{NS_TLS}'><required/></starttls>")
PLAIN = features(f"<mechanisms xmlns='{SASL}'><mechanism>PLAIN</mechanism></mechanisms>")
BOUND = features("<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/><sm xmlns='urn:xmpp:sm:3'/>")


def tcp(**opts: Any) -> XmppTcpAdapter:
    a = XmppTcpAdapter(DeviceIdentity("alice", "phone", "pw", {"domain": DOMAIN, **opts}))
    a.opened(0.0)
    return a


def feed(a: XmppTcpAdapter, data: bytes, chunk: int = 7) -> tuple[list[dict[str, Any]],
                                                                    list[bytes]]:
    """``data`` in chunks of ``chunk`` bytes, as TCP may cut it: (events, bytes written)."""
    evs: list[dict[str, Any]] = []
    for i in range(0, len(data), chunk):
        evs.extend(a.decode(data[i:i + chunk], 0.0))
    return evs, a.output()


def test_registered_as_xmpp_tcp_on_a_byte_stream() -> None:
    assert adapter_class("xmpp-tcp") is XmppTcpAdapter
    assert XmppTcpAdapter.transport == "tcp" and XmppTcpAdapter.subprotocols == ()


def test_starttls_then_sasl_then_bind_and_login_ok_over_a_chunked_stream() -> None:
    a = tcp()
    (hello,) = a.encode({"t": "login", "rid": 1, "token": "pw"}, 0.0)
    assert hello.startswith(b"<?xml") and b"<stream:stream" in hello and b"example.org" in hello
    assert feed(a, HEADER + STARTTLS) == ([], [f"<starttls xmlns='{NS_TLS}'/>".encode()])
    assert feed(a, f"<proceed xmlns='{NS_TLS}'/>".encode()) == ([], [])
    assert a.wants_tls
    a.tls_started()  # the driver upgraded the socket
    (again,) = a.output()
    assert again.startswith(b"<?xml") and not a.wants_tls
    _, (auth,) = feed(a, HEADER + PLAIN, chunk=3)
    assert etree.fromstring(auth).get("mechanism") == "PLAIN"
    _, (restart,) = feed(a, f"<success xmlns='{SASL}'/>".encode())
    assert restart.startswith(b"<?xml")  # a new stream after SASL, and a new parser
    _, (bind,) = feed(a, HEADER + BOUND)
    bind_id = etree.fromstring(bind).get("id")
    _, (enable,) = feed(a, (f"<iq type='result' id='{bind_id}'><bind xmlns='urn:ietf:params:"
                            "xml:ns:xmpp-bind'><jid>alice@example.org/phone</jid></bind>"
                            "</iq>").encode())
    assert b"urn:xmpp:sm:3" in enable
    evs, out = feed(a, b"<enabled xmlns='urn:xmpp:sm:3' id='sm1' resume='true'/>")
    assert [e["t"] for e in evs] == ["login_ok"] and len(out) == 2  # carbons, presence
    msg = (b"<message from='bob@example.org/pc' to='alice@example.org/phone' type='chat' "
           b"id='b1'><body>hi &amp; bye</body></message>")
    evs, _ = feed(a, msg[:20])
    assert evs == []  # half a stanza waits for the rest
    evs, _ = feed(a, msg[20:])
    assert [(e["t"], e["body"], e["from"]) for e in evs] == [("msg", "hi & bye", "bob")]


def test_required_tls_refused_by_the_target_is_an_unauthenticated_login() -> None:
    a = tcp(starttls=False)
    a.encode({"t": "login", "rid": 4, "token": "pw"}, 0.0)
    evs, out = feed(a, HEADER + STARTTLS)
    assert evs[0]["t"] == "error" and evs[0]["rid"] == 4
    assert "requires STARTTLS" in evs[0]["msg"] and out == [b"</stream:stream>"]


def test_a_tls_failure_refuses_the_login() -> None:
    a = tcp()
    a.encode({"t": "login", "rid": 5, "token": "pw"}, 0.0)
    feed(a, HEADER + STARTTLS)
    evs, _ = feed(a, f"<failure xmlns='{NS_TLS}'/>".encode())
    assert evs[0]["code"] == "unauthenticated" and "STARTTLS refused" in evs[0]["msg"]


@pytest.mark.parametrize(("data", "why"), [
    (HEADER + b"<message><body>x</body></wrong>", "malformed XML stream"),
    (HEADER + b"</stream:stream>", "the server closed the stream"),
    (b"<html><body>", "not <stream:stream>"),
    (HEADER + b"<!DOCTYPE x>", "forbids DTDs"),
])
def test_a_broken_stream_is_a_fatal_violation(data: bytes, why: str) -> None:
    a = tcp()
    a.encode({"t": "login", "rid": 1, "token": "pw"}, 0.0)
    with pytest.raises(ProtocolViolation, match=why) as err:
        feed(a, data, chunk=len(data))
    assert err.value.fatal


def test_closed_forgets_the_stream_and_the_tls_state() -> None:
    a = tcp()
    a.encode({"t": "login", "rid": 1, "token": "pw"}, 0.0)
    feed(a, HEADER + STARTTLS)
    feed(a, f"<proceed xmlns='{NS_TLS}'/>".encode())
    a.closed()
    assert not a.wants_tls and not a.tls_done
    a.opened(1.0)
    a.encode({"t": "login", "rid": 2, "token": "pw"}, 1.0)
    assert feed(a, HEADER + STARTTLS)[1] == [f"<starttls xmlns='{NS_TLS}'/>".encode()]
