"""What the client writes (imload/adapters/xmpp/build.py): escaped, parseable, exact."""

from __future__ import annotations

from lxml import etree

from imload.adapters.xmpp import build


def test_chat_message_escapes_body_and_attributes() -> None:
    raw = build.chat_message('bob@example.org', 'c"1<', "a<b & c > d\x00\ud800 é")
    el = etree.fromstring(raw)
    assert (el.tag, el.get("to"), el.get("type"), el.get("id")) == (
        "{jabber:client}message", "bob@example.org", "chat", 'c"1<')
    assert el.findtext("{jabber:client}body") == "a<b & c > d\ufffd\ufffd é"
    assert el.find("{urn:xmpp:sid:0}origin-id").get("id") == 'c"1<'


def test_exact_nonzas() -> None:
    assert build.open_stream("example.org") == (
        b'<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="example.org" version="1.0"/>')
    assert build.close_stream() == b'<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>'
    assert build.sm_enable() == b'<enable xmlns="urn:xmpp:sm:3" resume="true"/>'
    assert build.sm_resume("id&1", 7) == b'<resume xmlns="urn:xmpp:sm:3" previd="id&amp;1" h="7"/>'
    assert build.sm_request() == b'<r xmlns="urn:xmpp:sm:3"/>'
    assert build.sm_answer(3) == b'<a xmlns="urn:xmpp:sm:3" h="3"/>'
    assert build.auth("PLAIN", b"") == (
        b'<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">=</auth>')
    assert build.iq_result("i1", None) == b'<iq xmlns="jabber:client" type="result" id="i1"/>'
    assert build.presence() == b'<presence xmlns="jabber:client"/>'


def test_mam_query_with_and_without_cursor() -> None:
    rsm = "{http://jabber.org/protocol/rsm}"
    q = etree.fromstring(build.mam_query("q1", 50, None))
    query = q.find("{urn:xmpp:mam:2}query")
    assert (q.get("type"), q.get("id"), query.get("queryid")) == ("set", "q1", "q1")
    assert query.findtext(".//{jabber:x:data}value") == "urn:xmpp:mam:2"
    assert query.findtext(f"{rsm}set/{rsm}max") == "50"
    assert query.find(f"{rsm}set/{rsm}after") is None
    q = etree.fromstring(build.mam_query("q2", 5, "A<1"))
    assert q.findtext(f".//{rsm}after") == "A<1"


def test_register_bind_carbons_ping_error() -> None:
    reg = etree.fromstring(build.register("r1", "al&ce", "p<w"))
    assert reg.findtext(".//{jabber:iq:register}password") == "p<w"
    assert reg.findtext(".//{jabber:iq:register}username") == "al&ce"
    bind = etree.fromstring(build.bind("b1", "phone"))
    assert bind.findtext(".//{urn:ietf:params:xml:ns:xmpp-bind}resource") == "phone"
    assert etree.fromstring(build.enable_carbons("c1")).find(
        "{urn:xmpp:carbons:2}enable") is not None
    assert etree.fromstring(build.ping("p1")).find("{urn:xmpp:ping}ping") is not None
    err = etree.fromstring(build.iq_error("s1", "example.org"))
    assert err.find(
        "{jabber:client}error/{urn:ietf:params:xml:ns:xmpp-stanzas}service-unavailable"
    ) is not None


def test_muc_stanzas_escape_and_name_their_namespaces() -> None:
    join = etree.fromstring(build.muc_join('r@muc.x/a"b#d'))
    assert join.get("to") == 'r@muc.x/a"b#d'
    assert join.find("{http://jabber.org/protocol/muc}x/{*}history").get("maxstanzas") == "0"
    form = etree.fromstring(build.muc_instant("f1", "r@muc.x"))
    assert form.find("{http://jabber.org/protocol/muc#owner}query/{jabber:x:data}x").get(
        "type") == "submit"
    affil = etree.fromstring(build.muc_affiliations("a1", "r@muc.x", ["b@x", "c&@x"], "owner"))
    assert [(i.get("jid"), i.get("affiliation")) for i in affil.iter("{*}item")] == [
        ("b@x", "owner"), ("c&@x", "owner")]
    assert affil.find("{http://jabber.org/protocol/muc#admin}query") is not None
    gc = etree.fromstring(build.groupchat("r@muc.x", "c<1", "x & y"))
    assert (gc.get("type"), gc.get("id"), gc.findtext("{jabber:client}body")) == (
        "groupchat", "c<1", "x & y")
    inv = etree.fromstring(build.direct_invite("b@x", "r@muc.x", "in <r>"))
    assert inv.find("{jabber:x:conference}x").get("jid") == "r@muc.x"
    assert inv.findtext("{jabber:client}body") == "in <r>"
    q = etree.fromstring(build.mam_query("q1", 5, "A9", to="r@muc.x"))
    assert q.get("to") == "r@muc.x" and q.findtext(".//{*}after") == "A9"
