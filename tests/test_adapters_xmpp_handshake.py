"""The XMPP login (imload/adapters/xmpp/handshake.py), driven by a scripted server.

``Server`` is the fake: canned payloads, and a real SCRAM-SHA-1 server (scramp's)
for the account, so the client's proofs are checked. ``login`` walks one device
through a whole login; tests/test_adapters_xmpp_adapter.py uses both.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from lxml import etree
from scramp import ScramMechanism

from imload.adapters.base import DeviceIdentity, ProtocolViolation
from imload.adapters.xmpp import XmppAdapter

DOMAIN = "example.org"
FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
SM = "urn:xmpp:sm:3"
STREAMS = "http://etherx.jabber.org/streams"


def adapter(user: str = "alice", device: str = "phone", password: str = "pw", **opts: Any
            ) -> XmppAdapter:
    a = XmppAdapter(DeviceIdentity(user, device, password, {"domain": DOMAIN, **opts}))
    a.sasl_nonce = "clientnonce"
    a.opened(0.0)
    return a


def xml(payload: bytes) -> etree._Element:
    return etree.fromstring(payload)


def step(a: XmppAdapter, payload: bytes) -> tuple[list[dict[str, Any]], list[bytes]]:
    """One server message in: (the events decode returns, the bytes the adapter wrote)."""
    evs = list(a.decode(payload, 0.0))
    return evs, a.output()


class Server:
    """A scripted XMPP server for one account (canned payloads, real SCRAM)."""

    def __init__(self, user: str = "alice", password: str = "pw") -> None:
        self.user = user
        mech = ScramMechanism("SCRAM-SHA-1")
        info = mech.make_auth_info(password, iteration_count=4096, salt=b"0123456789abcdef")
        self.scram = mech.make_server(lambda _u: info, s_nonce="servernonce")

    @staticmethod
    def open() -> bytes:
        return (f'<open xmlns="{FRAMING}" from="{DOMAIN}" id="s1" version="1.0" '
                'xml:lang="en"/>').encode()

    @staticmethod
    def features(mechs: tuple[str, ...] = ("SCRAM-SHA-1", "PLAIN"),
                 register: bool = False) -> bytes:
        ms = "".join(f"<mechanism>{m}</mechanism>" for m in mechs)
        reg = '<register xmlns="http://jabber.org/features/iq-register"/>' if register else ""
        return (f'<stream:features xmlns:stream="{STREAMS}" xmlns="jabber:client">'
                f'<mechanisms xmlns="{SASL}">{ms}</mechanisms>{reg}</stream:features>').encode()

    @staticmethod
    def features_bound(sm: bool = True) -> bytes:
        smf = f'<sm xmlns="{SM}"/>' if sm else ""
        return (f'<stream:features xmlns:stream="{STREAMS}" xmlns="jabber:client">'
                '<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/>'
                f'<session xmlns="urn:ietf:params:xml:ns:xmpp-session"/>{smf}'
                "</stream:features>").encode()

    def challenge(self, auth: bytes) -> bytes:
        el = xml(auth)
        assert el.get("mechanism") == "SCRAM-SHA-1"
        self.scram.set_client_first(base64.b64decode(el.text).decode())
        first = base64.b64encode(self.scram.get_server_first().encode()).decode()
        return f'<challenge xmlns="{SASL}">{first}</challenge>'.encode()

    def success(self, response: bytes) -> bytes:
        self.scram.set_client_final(base64.b64decode(xml(response).text).decode())
        final = base64.b64encode(self.scram.get_server_final().encode()).decode()
        return f'<success xmlns="{SASL}">{final}</success>'.encode()

    @staticmethod
    def failure(cond: str = "not-authorized") -> bytes:
        return f'<failure xmlns="{SASL}"><{cond}/></failure>'.encode()

    def bind_result(self, bind_iq: bytes, device: str = "phone") -> bytes:
        iq_id = xml(bind_iq).get("id")
        return (f'<iq xmlns="jabber:client" type="result" id="{iq_id}">'
                '<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind">'
                f"<jid>{self.user}@{DOMAIN}/{device}</jid></bind></iq>").encode()

    @staticmethod
    def enabled(resume_id: str = "sm-1") -> bytes:
        return f'<enabled xmlns="{SM}" id="{resume_id}" resume="true" max="300"/>'.encode()


def login(a: XmppAdapter, srv: Server, smacks: bool = True, rid: int = 1
          ) -> tuple[list[dict[str, Any]], list[bytes]]:
    """A fresh SCRAM login: (every event on the way, every byte written after bind)."""
    assert a.encode({"t": "login", "rid": rid, "token": "x"}, 0.0)[0].startswith(b"<open ")
    assert step(a, srv.open()) == ([], [])
    _, (auth,) = step(a, srv.features())
    _, (response,) = step(a, srv.challenge(auth))
    _, (reopen,) = step(a, srv.success(response))
    assert reopen.startswith(b"<open ")
    step(a, srv.open())
    _, (bind,) = step(a, srv.features_bound(sm=smacks))
    evs, out = step(a, srv.bind_result(bind, a.identity.device))
    if smacks:
        assert out == [f'<enable xmlns="{SM}" resume="true"/>'.encode()] and evs == []
        evs, out = step(a, srv.enabled())
    return evs, out


def test_fresh_scram_login_binds_enables_smacks_carbons_presence_then_login_ok() -> None:
    a, srv = adapter(), Server()
    assert a.encode({"t": "login", "rid": 7, "token": "x"}, 0.0) == (
        f'<open xmlns="{FRAMING}" to="{DOMAIN}" version="1.0"/>'.encode(),)
    assert step(a, srv.open()) == ([], [])
    _, (auth,) = step(a, srv.features())
    assert base64.b64decode(xml(auth).text) == b"n,,n=alice,r=clientnonce"
    _, (response,) = step(a, srv.challenge(auth))
    assert xml(response).tag == f"{{{SASL}}}response"
    _, out = step(a, srv.success(response))  # the server's signature checks out
    assert out == [f'<open xmlns="{FRAMING}" to="{DOMAIN}" version="1.0"/>'.encode()]
    step(a, srv.open())
    _, (bind,) = step(a, srv.features_bound())
    assert xml(bind).find(".//{urn:ietf:params:xml:ns:xmpp-bind}resource").text == "phone"
    assert step(a, srv.bind_result(bind)) == ([], [f'<enable xmlns="{SM}" resume="true"/>'
                                                  .encode()])
    evs, (carbons, presence) = step(a, srv.enabled("resume-me"))
    assert xml(carbons).find("{urn:xmpp:carbons:2}enable") is not None
    assert presence == b'<presence xmlns="jabber:client"/>'
    assert evs == [{"t": "login_ok", "rid": 7, "user": "alice", "device": "phone",
                    "node": DOMAIN, "server_ts": None, "hb_ms": 0, "inbox_seq": 0,
                    "acked": 0}]
    assert a.sm.active and a.sm.resume_id == "resume-me"
    assert len(a.sm.queue) == 2  # carbons iq and presence count toward h


def test_plain_login_when_scram_is_not_offered_and_no_smacks() -> None:
    a = adapter(password="secret")
    a.encode({"t": "login", "rid": 1, "token": "x"}, 0.0)
    step(a, Server.open())
    _, (auth,) = step(a, Server.features(mechs=("PLAIN",)))
    assert xml(auth).get("mechanism") == "PLAIN"
    assert base64.b64decode(xml(auth).text) == b"\0alice\0secret"
    _, (reopen,) = step(a, f'<success xmlns="{SASL}"/>'.encode())
    assert reopen.startswith(b"<open ")
    step(a, Server.open())
    _, (bind,) = step(a, Server.features_bound(sm=False))
    evs, out = step(a, Server().bind_result(bind))
    assert [e["t"] for e in evs] == ["login_ok"] and out[1] == b'<presence xmlns="jabber:client"/>'
    assert not a.sm.active


def test_registration_then_auth_when_not_authorized() -> None:
    a, srv = adapter(register=True), Server()
    a.encode({"t": "login", "rid": 3, "token": "x"}, 0.0)
    step(a, srv.open())
    _, (auth,) = step(a, srv.features(register=True))
    evs, (reg,) = step(a, Server.failure())
    assert evs == []
    q = xml(reg).find("{jabber:iq:register}query")
    assert xml(reg).get("type") == "set"
    assert [q.findtext("{jabber:iq:register}username"),
            q.findtext("{jabber:iq:register}password")] == ["alice", "pw"]
    evs, (auth2,) = step(a, f'<iq type="result" id="{xml(reg).get("id")}"/>'.encode())
    assert evs == [] and xml(auth2).get("mechanism") == "SCRAM-SHA-1"
    _, (response,) = step(a, srv.challenge(auth2))
    _, (reopen,) = step(a, srv.success(response))
    assert reopen.startswith(b"<open ")


def test_auth_failure_without_registration_is_unauthenticated() -> None:
    a = adapter()
    a.encode({"t": "login", "rid": 9, "token": "x"}, 0.0)
    step(a, Server.open())
    step(a, Server.features(register=True))
    evs, out = step(a, Server.failure())
    assert evs == [{"t": "error", "rid": 9, "code": "unauthenticated",
                    "msg": "SASL SCRAM-SHA-1 failed: not-authorized"}]
    assert out == [f'<close xmlns="{FRAMING}"/>'.encode()]


def test_registration_refused_is_unauthenticated_and_not_tried_again() -> None:
    a = adapter(register=True)
    a.encode({"t": "login", "rid": 2, "token": "x"}, 0.0)
    step(a, Server.open())
    step(a, Server.features(register=True))
    _, (reg,) = step(a, Server.failure())
    evs, _ = step(a, (f'<iq type="error" id="{xml(reg).get("id")}"><error type="cancel">'
                      '<conflict xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>')
                  .encode())
    assert evs[0]["code"] == "unauthenticated" and "conflict" in evs[0]["msg"]
    a.closed()
    a.opened(1.0)
    a.encode({"t": "login", "rid": 4, "token": "x"}, 1.0)
    step(a, Server.open())
    step(a, Server.features(register=True))
    evs, _ = step(a, Server.failure())
    assert evs[0]["rid"] == 4 and evs[0]["code"] == "unauthenticated"


def test_forged_server_signature_is_refused() -> None:
    a, srv = adapter(), Server()
    a.encode({"t": "login", "rid": 1, "token": "x"}, 0.0)
    step(a, srv.open())
    _, (auth,) = step(a, srv.features())
    step(a, srv.challenge(auth))
    forged = base64.b64encode(b"v=" + base64.b64encode(b"x" * 20)).decode()
    evs, out = step(a, f'<success xmlns="{SASL}">{forged}</success>'.encode())
    assert evs[0]["code"] == "unauthenticated" and "signature" in evs[0]["msg"]
    assert out == [f'<close xmlns="{FRAMING}"/>'.encode()]


def test_no_usable_mechanism() -> None:
    a = adapter()
    a.encode({"t": "login", "rid": 1, "token": "x"}, 0.0)
    step(a, Server.open())
    evs, _ = step(a, Server.features(mechs=("EXTERNAL",)))
    assert evs[0]["msg"] == "no usable SASL mechanism (offered: EXTERNAL)"


def test_second_login_on_one_connection_is_a_bad_frame() -> None:
    a = adapter()
    a.encode({"t": "login", "rid": 1, "token": "x"}, 0.0)
    assert a.encode({"t": "login", "rid": 2, "token": "x"}, 0.0) == ()
    assert a.events()[0]["code"] == "bad_frame"


def test_handshake_element_out_of_phase_names_it() -> None:
    a = adapter()
    a.encode({"t": "login", "rid": 1, "token": "x"}, 0.0)
    with pytest.raises(ProtocolViolation, match="<success/> while the client is opening"):
        a.decode(f'<success xmlns="{SASL}"/>'.encode(), 0.0)


def test_login_helper_reaches_ready() -> None:
    a = adapter()
    evs, _ = login(a, Server())
    assert evs[0]["t"] == "login_ok" and a.phase.value == "ready"
