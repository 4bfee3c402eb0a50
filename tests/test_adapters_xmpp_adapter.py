"""XmppAdapter (imload/adapters/xmpp/adapter.py): intents out, stanzas in, driven by the
scripted server of test_adapters_xmpp_handshake."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_adapters_xmpp_handshake import (
    DOMAIN,
    FRAMING,
    SM,
    STREAMS,
    Server,
    adapter,
    login,
    step,
    xml,
)

from imload.adapters import adapter_class, make_adapter
from imload.adapters.base import ProtocolViolation
from imload.adapters.xmpp import XmppAdapter
from imload.adapters.xmpp.messages import label_of

R = f'<r xmlns="{SM}"/>'.encode()


def a_h(h: int) -> bytes:
    return f'<a xmlns="{SM}" h="{h}"/>'.encode()


def send(a: XmppAdapter, rid: int, cmid: str, conv: str = "d:alice:bob",
         body: str = "hi") -> tuple[bytes, ...]:
    return tuple(a.encode({"t": "send", "rid": rid, "cmid": cmid, "conv": conv,
                           "body": body, "ts": 0}, 0.0))


def ack_ev(rid: int, cmid: str, conv: str = "d:alice:bob") -> dict[str, Any]:
    return {"t": "send_ack", "rid": rid, "cmid": cmid, "mid": "x:" + cmid, "conv": conv,
            "seq": label_of("x:" + cmid), "server_ts": None, "dup": False}


def chat(frm: str, to: str, oid: str, body: str = "yo", sid: str | None = None) -> str:
    sid_el = (f'<stanza-id xmlns="urn:xmpp:sid:0" by="alice@{DOMAIN}" id="{sid}"/>'
              if sid else "")
    return (f'<message xmlns="jabber:client" from="{frm}" to="{to}" type="chat" id="{oid}">'
            f'<body>{body}</body><origin-id xmlns="urn:xmpp:sid:0" id="{oid}"/>{sid_el}'
            "</message>")


def ready(**opts: Any) -> XmppAdapter:
    a = adapter(**opts)
    login(a, Server(), smacks=opts.get("smacks", True))
    return a


def login_again(a: XmppAdapter, rid: int
                ) -> tuple[Server, tuple[list[dict[str, Any]], list[bytes]]]:
    """The connection drops and a new one opens at 5 s: a SCRAM login up to the bound
    features, which a stream with a resumable session answers with ``<resume>``, another
    with ``<bind>``. Returns the server and what the features drew (events, bytes)."""
    a.closed()
    a.opened(5.0)
    srv = Server()
    a.encode({"t": "login", "rid": rid, "token": "x"}, 5.0)
    step(a, srv.open())
    _, (auth,) = step(a, srv.features())
    _, (resp,) = step(a, srv.challenge(auth))
    step(a, srv.success(resp))
    step(a, srv.open())
    return srv, step(a, srv.features_bound())


def test_registered_as_the_xmpp_protocol() -> None:
    assert adapter_class("xmpp") is XmppAdapter
    a = make_adapter("xmpp", "alice", "phone", "secret", {"domain": DOMAIN})
    b = make_adapter("xmpp", "alice", "laptop", "secret", {"domain": DOMAIN})
    assert a.identity.token == b.identity.token != "secret"  # one password per account
    assert XmppAdapter.subprotocols == ("xmpp",)
    with pytest.raises(ValueError, match="domain"):
        make_adapter("xmpp", "alice", "phone", "secret", {})


def test_send_then_a_h_gives_send_acks_in_order() -> None:
    a = ready()  # carbons iq and presence are stanzas 1 and 2
    m1, r1 = send(a, 10, "c1", body="a<b & c")
    assert r1 == R
    m = xml(m1)
    assert (m.get("to"), m.get("type"), m.get("id")) == (f"bob@{DOMAIN}", "chat", "c1")
    assert m.findtext("{jabber:client}body") == "a<b & c"
    assert m.find("{urn:xmpp:sid:0}origin-id").get("id") == "c1"
    send(a, 11, "c2")
    send(a, 12, "c3")
    assert step(a, a_h(2)) == ([], [])            # only carbons and presence
    assert step(a, a_h(4)) == ([ack_ev(10, "c1"), ack_ev(11, "c2")], [])
    assert step(a, a_h(4)) == ([], [])            # the same h again: nothing new
    assert step(a, a_h(5)) == ([ack_ev(12, "c3")], [])
    with pytest.raises(ProtocolViolation, match="h=9 acknowledges 4"):
        a.decode(a_h(9), 0.0)
    assert not a.has_events


def test_server_r_is_answered_with_the_inbound_count() -> None:
    a = ready()
    assert step(a, R) == ([], [a_h(0)])
    step(a, f'<iq xmlns="jabber:client" type="result" id="{next(iter(a.iqs))}"/>'.encode())
    step(a, b'<presence xmlns="jabber:client" from="bob@example.org/pc"/>')
    step(a, chat(f"bob@{DOMAIN}/pc", f"alice@{DOMAIN}/phone", "b1").encode())
    assert step(a, R) == ([], [a_h(3)])


def test_without_smacks_the_ack_follows_the_write() -> None:
    a = ready(smacks=False)
    out = send(a, 5, "c9")
    assert len(out) == 1 and xml(out[0]).get("id") == "c9"  # no <r/>
    assert a.has_events and a.events() == [ack_ev(5, "c9")]


def test_groups_and_foreign_convs_are_refused_with_the_rid() -> None:
    a = ready()
    assert send(a, 1, "g1", conv="g:team") == ()
    assert send(a, 2, "g2", conv="d:bob:carol") == ()
    assert a.events() == [
        {"t": "error", "rid": 1, "code": "forbidden",
         "msg": "alice is not in g:team (no invitation seen)"},
        {"t": "error", "rid": 2, "code": "forbidden", "msg": "alice is not in d:bob:carol"}]


def test_unsupported_intents_answer_error_with_their_rid() -> None:
    a = ready()
    for rid, frame in enumerate([{"t": "read", "conv": "d:alice:bob", "upto": 1},
                                 {"t": "read", "conv": "g:team", "upto": 1}, {"t": "state"},
                                 {"t": "op", "opid": "o1", "kind": "pin", "args": {}}], 1):
        assert a.encode({**frame, "rid": rid}, 0.0) == ()
    assert [(e["rid"], e["code"]) for e in a.events()] == [
        (1, "unsupported"), (2, "unsupported"), (3, "unsupported"), (4, "unsupported")]
    assert a.encode({"t": "ack", "upto": 3}, 0.0) == () and not a.has_events


def test_resume_after_closed_resends_what_was_not_acked() -> None:
    a = ready()
    send(a, 1, "c1")
    send(a, 2, "c2")
    m3, _ = send(a, 3, "c3")
    step(a, a_h(2))
    step(a, R)
    step(a, chat(f"bob@{DOMAIN}/pc", f"alice@{DOMAIN}/phone", "b1").encode())
    _, (_, out) = login_again(a, 20)
    assert a.sm.can_resume and a.inbox.useq == 1  # the closed stream's session is kept
    assert out == [f'<resume xmlns="{SM}" previd="sm-1" h="1"/>'.encode()]  # no bind first
    evs, out = step(a, f'<resumed xmlns="{SM}" previd="sm-1" h="3"/>'.encode())
    assert evs == [{"t": "login_ok", "rid": 20, "user": "alice", "device": "phone",
                    "node": DOMAIN, "server_ts": None, "hb_ms": 0, "inbox_seq": 1,
                    "acked": 1},
                   ack_ev(1, "c1")]
    assert out[1:] == [m3, R] and xml(out[0]).get("id") == "c2"
    assert send(a, 30, "c2") == ()  # the engine's retry: already in the stream
    assert step(a, a_h(5)) == ([ack_ev(30, "c2"), ack_ev(3, "c3")], [])


def test_failed_resume_starts_fresh_and_acks_none_of_the_lost() -> None:
    a = ready()
    send(a, 1, "c1")
    send(a, 2, "c2")
    srv, _ = login_again(a, 21)
    evs, (bind,) = step(a, f'<failed xmlns="{SM}"><item-not-found '
                           'xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></failed>'.encode())
    assert evs == [] and xml(bind).find("{urn:ietf:params:xml:ns:xmpp-bind}bind") is not None
    assert step(a, srv.bind_result(bind)) == ([], [f'<enable xmlns="{SM}" resume="true"/>'
                                                  .encode()])
    evs, _ = step(a, srv.enabled("sm-2"))
    assert [e["t"] for e in evs] == ["login_ok"]  # no send_ack for c1, c2
    assert len(a.sm.queue) == 2 and a.sm.unacked("c1") is None
    c1_again, _ = send(a, 40, "c1")  # the engine retries: it goes on the wire again
    assert xml(c1_again).get("id") == "c1"
    assert step(a, a_h(3)) == ([ack_ev(40, "c1")], [])


def test_failed_resume_with_h_still_acks_what_the_server_handled() -> None:
    a = ready()
    send(a, 1, "c1")
    send(a, 2, "c2")
    srv, _ = login_again(a, 22)
    _, (bind,) = step(a, f'<failed xmlns="{SM}" h="3"/>'.encode())
    step(a, srv.bind_result(bind))
    evs, _ = step(a, srv.enabled("sm-2"))
    assert evs[1:] == [ack_ev(1, "c1")] and evs[0]["t"] == "login_ok"


def test_inbound_messages_and_carbons_get_contiguous_useqs_once_each() -> None:
    a = ready()
    me, bob = f"alice@{DOMAIN}", f"bob@{DOMAIN}"
    evs, _ = step(a, chat(f"{bob}/pc", f"{me}/phone", "b1", body="one", sid="S1").encode())
    assert evs == [{"t": "msg", "mid": "x:b1", "conv": "d:alice:bob", "seq": label_of("x:b1"),
                    "from": "bob", "from_device": "pc", "cmid": "b1", "body": "one",
                    "server_ts": None, "kind": "text", "useq": 1}]
    received = (f'<message xmlns="jabber:client" from="{me}" to="{me}/phone">'
                '<received xmlns="urn:xmpp:carbons:2"><forwarded xmlns="urn:xmpp:forward:0">'
                f'{chat(f"{bob}/pc", f"{me}/laptop", "b2", body="two")}'
                "</forwarded></received></message>")
    sent = (f'<message xmlns="jabber:client" from="{me}" to="{me}/phone">'
            '<sent xmlns="urn:xmpp:carbons:2"><forwarded xmlns="urn:xmpp:forward:0">'
            f'{chat(f"{me}/laptop", bob, "a1", body="three")}</forwarded></sent></message>')
    (e2,), _ = step(a, received.encode())
    (e3,), _ = step(a, sent.encode())
    assert (e2["mid"], e2["from"], e2["from_device"], e2["useq"]) == ("x:b2", "bob", "pc", 2)
    assert (e3["mid"], e3["from"], e3["from_device"], e3["useq"], e3["conv"]) == (
        "x:a1", "alice", "laptop", 3, "d:alice:bob")
    assert step(a, chat(f"{bob}/pc", f"{me}/phone", "b1").encode()) == ([], [])  # dup
    state = ('<message xmlns="jabber:client" from="bob@example.org/pc" type="chat">'
             '<active xmlns="http://jabber.org/protocol/chatstates"/></message>')
    assert step(a, state.encode()) == ([], [])
    forged = received.replace(f'from="{me}"', 'from="mallory@example.org"', 1)
    assert step(a, forged.encode()) == ([], [])
    assert a.inbox.cursor is None  # no sync read the archive to its end yet


def mam_page(qid: str, entries: list[tuple[str, str]]) -> list[bytes]:
    return [(f'<message xmlns="jabber:client" to="alice@{DOMAIN}/phone">'
             f'<result xmlns="urn:xmpp:mam:2" queryid="{qid}" id="{aid}">'
             '<forwarded xmlns="urn:xmpp:forward:0">'
             '<delay xmlns="urn:xmpp:delay" stamp="2026-01-01T00:00:00Z"/>'
             f"{inner}</forwarded></result></message>").encode() for aid, inner in entries]


def fin(qid: str, last: str | None, complete: bool) -> bytes:
    last_el = f"<last>{last}</last>" if last else ""
    return (f'<iq xmlns="jabber:client" type="result" id="{qid}">'
            f'<fin xmlns="urn:xmpp:mam:2" complete="{str(complete).lower()}">'
            f'<set xmlns="http://jabber.org/protocol/rsm">{last_el}</set></fin></iq>').encode()


def test_mam_sync_in_two_pages() -> None:
    a = ready()
    me, bob = f"alice@{DOMAIN}", f"bob@{DOMAIN}"
    step(a, chat(f"{bob}/pc", f"{me}/phone", "b2").encode())  # live first: useq 1
    (q1,) = a.encode({"t": "sync", "rid": 50, "after": 0, "limit": 2}, 0.0)
    query = xml(q1).find("{urn:xmpp:mam:2}query")
    qid = query.get("queryid")
    rset = query.find("{http://jabber.org/protocol/rsm}set")
    assert rset.findtext("{http://jabber.org/protocol/rsm}max") == "2"
    assert rset.find("{http://jabber.org/protocol/rsm}after") is None  # from the start
    for p in mam_page(qid, [("A1", chat(f"{bob}/pc", me, "b1", body="first")),
                            ("A2", chat(f"{me}/laptop", bob, "a1", body="mine"))]):
        assert step(a, p) == ([], [])
    (batch,), _ = step(a, fin(qid, "A2", complete=False))
    assert [(m["mid"], m["from"], m["useq"]) for m in batch["msgs"]] == [
        ("x:b1", "bob", 2), ("x:a1", "alice", 3)]
    assert (batch["t"], batch["rid"], batch["upto"], batch["more"]) == (
        "sync_batch", 50, 3, True)
    assert "t" not in batch["msgs"][0]
    (q2,) = a.encode({"t": "sync", "rid": 51, "after": 3, "limit": 2}, 0.0)
    qid2 = xml(q2).find("{urn:xmpp:mam:2}query").get("queryid")
    assert xml(q2).findtext(".//{http://jabber.org/protocol/rsm}after") == "A2"
    for p in mam_page(qid2, [("A3", chat(f"{bob}/pc", me, "b2")),  # held already
                             ("A4", chat(f"{bob}/pc", me, "b3"))]):
        step(a, p)
    (batch,), _ = step(a, fin(qid2, "A4", complete=True))
    assert [(m["mid"], m["useq"]) for m in batch["msgs"]] == [("x:b3", 4)]
    assert (batch["rid"], batch["upto"], batch["more"]) == (51, 4, False)
    assert a.inbox.cursor == "A4" and a.inbox.caught_up
    step(a, chat(f"{bob}/pc", f"{me}/phone", "b5", sid="A5").encode())
    assert a.inbox.cursor == "A5"  # caught up: live archive ids move the cursor


def test_a_page_of_held_messages_fetches_the_next_page_itself() -> None:
    a = ready()
    bob, me = f"bob@{DOMAIN}", f"alice@{DOMAIN}"
    step(a, chat(f"{bob}/pc", f"{me}/phone", "b1").encode())
    (q1,) = a.encode({"t": "sync", "rid": 60, "after": 1, "limit": 1}, 0.0)
    qid = xml(q1).find("{urn:xmpp:mam:2}query").get("queryid")
    step(a, mam_page(qid, [("A1", chat(f"{bob}/pc", me, "b1"))])[0])
    evs, (q2,) = step(a, fin(qid, "A1", complete=False))
    assert evs == [] and xml(q2).findtext(".//{http://jabber.org/protocol/rsm}after") == "A1"


def test_mam_errors() -> None:
    a = ready()
    (q,) = a.encode({"t": "sync", "rid": 70, "after": 0, "limit": 5}, 0.0)
    wait = (f'<iq xmlns="jabber:client" type="error" id="{xml(q).get("id")}">'
            '<error type="wait"><resource-constraint '
            'xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>')
    assert step(a, wait.encode())[0] == [
        {"t": "error", "rid": 70, "code": "internal",
         "msg": "MAM query failed: resource-constraint"}]
    (q,) = a.encode({"t": "sync", "rid": 71, "after": 0, "limit": 5}, 0.0)
    cancel = wait.replace("wait", "cancel").replace(xml(wait.encode()).get("id"),
                                                    xml(q).get("id"))
    empty = {"t": "sync_batch", "rid": 71, "msgs": [], "upto": 0, "more": False}
    assert step(a, cancel.encode())[0] == [empty]
    assert a.encode({"t": "sync", "rid": 72, "after": 0}, 0.0) == ()
    assert a.events() == [{**empty, "rid": 72}]


def test_ping_pong_and_server_pings() -> None:
    a = ready()
    (p,) = a.encode({"t": "ping", "rid": 80, "ts": 1234}, 0.0)
    assert xml(p).get("type") == "get" and xml(p).find("{urn:xmpp:ping}ping") is not None
    res = f'<iq xmlns="jabber:client" type="result" id="{xml(p).get("id")}"/>'.encode()
    assert step(a, res) == ([{"t": "pong", "rid": 80, "ts": 1234, "server_ts": None}], [])
    srv_ping = (f'<iq xmlns="jabber:client" type="get" id="s7" from="{DOMAIN}">'
                '<ping xmlns="urn:xmpp:ping"/></iq>').encode()
    assert step(a, srv_ping) == ([], [
        f'<iq xmlns="jabber:client" type="result" id="s7" to="{DOMAIN}"/>'.encode()])
    disco = (f'<iq xmlns="jabber:client" type="get" id="s8" from="{DOMAIN}">'
             '<query xmlns="http://jabber.org/protocol/disco#info"/></iq>').encode()
    (_, [err]) = step(a, disco)
    assert xml(err).get("type") == "error" and b"service-unavailable" in err


def test_stream_error_and_close_are_fatal() -> None:
    a = ready()
    err = (f'<stream:error xmlns:stream="{STREAMS}"><conflict '
           'xmlns="urn:ietf:params:xml:ns:xmpp-streams"/><text '
           'xmlns="urn:ietf:params:xml:ns:xmpp-streams">replaced</text></stream:error>')
    with pytest.raises(ProtocolViolation, match=r"stream error: conflict \(replaced\)") as e:
        a.decode(err.encode(), 0.0)
    assert e.value.fatal
    with pytest.raises(ProtocolViolation, match="closed the stream") as e:
        a.decode(f'<close xmlns="{FRAMING}"/>'.encode(), 0.0)
    assert e.value.fatal


@pytest.mark.parametrize("payload", [b"", b"<message", b"\xff\xfe", b"<a/><b/>", b"hello",
                                     b'<a xmlns:x="u"><x:b></a>',
                                     b'<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>',
                                     f'<a xmlns="{SM}" h="many"/>'.encode()])
def test_malformed_bytes_are_a_protocol_violation(payload: bytes) -> None:
    a = ready()
    with pytest.raises(ProtocolViolation) as e:
        a.decode(payload, 0.0)
    assert not e.value.fatal


STANZAS = [chat(f"bob@{DOMAIN}/pc", f"alice@{DOMAIN}/phone", "b1").encode(),
           mam_page("q1", [("A1", chat(f"bob@{DOMAIN}/pc", "alice@example.org", "b1"))])[0],
           fin("q1", "A1", True), R, a_h(1), Server.features()]


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_fuzz_random_and_truncated_payloads_only_ever_raise_protocol_violation(
        data: st.DataObject) -> None:
    a = ready()
    base = data.draw(st.sampled_from(STANZAS))
    cut = data.draw(st.integers(0, len(base)))
    noise = data.draw(st.binary(max_size=64))
    mode = data.draw(st.sampled_from(["truncate", "random", "flip"]))
    if mode == "truncate":
        payload = base[:cut]
    elif mode == "random":
        payload = noise
    else:
        i = random.Random(cut).randrange(len(base))
        payload = base[:i] + noise[:4] + base[i + 1:]
    try:
        evs = a.decode(payload, 0.0)
    except ProtocolViolation:
        return
    assert isinstance(evs, list | tuple)


def test_a_fresh_adapter_numbers_on_from_the_sync_cursor_it_is_given() -> None:
    a = ready()  # the audit's: a device that held useqs 1..7 under an earlier adapter
    me, bob = f"alice@{DOMAIN}", f"bob@{DOMAIN}"
    (q,) = a.encode({"t": "sync", "rid": 9, "after": 7, "limit": 5}, 0.0)
    qid = xml(q).find("{urn:xmpp:mam:2}query").get("queryid")
    for p in mam_page(qid, [("A1", chat(f"{bob}/pc", me, "b1"))]):
        step(a, p)
    (batch,), _ = step(a, fin(qid, "A1", complete=True))
    assert [m["useq"] for m in batch["msgs"]] == [8] and batch["upto"] == 8


def test_promises_follow_stream_management() -> None:
    assert XmppAdapter.promises({"domain": DOMAIN}) == [
        "lost", "partial", "phantom", "aborted", "corrupted", "undecryptable"]
    assert XmppAdapter.promises({"domain": DOMAIN, "smacks": False}) == [
        "phantom", "corrupted", "undecryptable"]
