"""Inbound chat messages as msg entries (imload/adapters/xmpp/messages.py)."""

from __future__ import annotations

from adapter_helpers import el
from lxml import etree

from imload.adapters.xmpp.messages import (
    CARBON_SENT,
    MAM_RESULT,
    Deliveries,
    direct_conv,
    forwarded_message,
    label_of,
    read_message,
    split_jid,
)

ME = "alice@example.org"


def test_jids_and_convs() -> None:
    assert split_jid("bob@example.org/pc/x") == ("bob", "example.org", "pc/x")
    assert split_jid("example.org") == ("", "example.org", "")
    assert direct_conv("bob", "alice") == direct_conv("alice", "bob") == "d:alice:bob"


def test_incoming_and_own_messages() -> None:
    m = el('<message xmlns="jabber:client" from="bob@example.org/pc" type="chat" id="i1">'
           '<body>hi</body><origin-id xmlns="urn:xmpp:sid:0" id="o1"/>'
           f'<stanza-id xmlns="urn:xmpp:sid:0" by="{ME}" id="S1"/>'
           '<stanza-id xmlns="urn:xmpp:sid:0" by="bob@example.org" id="B1"/></message>')
    assert read_message(m, "alice", ME).entry == {
        "mid": "x:o1", "conv": "d:alice:bob", "seq": label_of("x:o1"), "from": "bob",
        "from_device": "pc", "cmid": "o1", "body": "hi", "server_ts": None, "kind": "text"}
    assert read_message(m, "alice", ME).stanza_id == "S1"
    own = el(f'<message from="{ME}/laptop" to="carol@example.org" type="chat" id="i2">'
             "<body>yo</body></message>")
    e = read_message(own, "alice", ME).entry
    assert (e["mid"], e["conv"], e["from"], e["from_device"], e["cmid"]) == (
        "x:i2", "d:alice:carol", "alice", "laptop", "i2")
    bare = el('<message from="bob@example.org/pc"><body>z</body></message>')
    assert read_message(bare, "alice", ME, archive_id="A9").entry["mid"] == "x:sid:A9"
    assert read_message(bare, "alice", ME).entry is None  # no id at all: it could not be deduped


def test_what_is_no_chat_text() -> None:
    for s in ['<message from="bob@example.org/pc" type="chat" id="1"><composing/></message>',
              '<message from="bob@example.org/pc" type="error" id="1"><body>x</body></message>',
              '<message from="room@muc/nick" type="groupchat" id="1"><body>x</body></message>',
              '<message from="example.org" type="chat" id="1"><body>motd</body></message>']:
        assert read_message(el(s), "alice", ME).entry is None


def test_carbons_and_mam_wrappers() -> None:
    fw = ('<forwarded xmlns="urn:xmpp:forward:0"><message xmlns="jabber:client" '
          'from="bob@example.org/pc" id="x"><body>b</body></message></forwarded>')
    sent = el(f'<message from="{ME}"><body>ignored</body><sent xmlns="urn:xmpp:carbons:2">'
              f"{fw}</sent></message>")
    r = read_message(sent, "alice", ME)
    assert r.entry is None and r.wrapper is not None and r.wrapper.tag == CARBON_SENT
    assert forwarded_message(r.wrapper).get("id") == "x"
    res = el(f'<message><result xmlns="urn:xmpp:mam:2" queryid="q" id="A1">{fw}</result>'
             "</message>")
    w = read_message(res, "alice", ME).wrapper
    assert (w.tag, w.get("queryid"), w.get("id")) == (MAM_RESULT, "q", "A1")
    assert forwarded_message(w).findtext("{jabber:client}body") == "b"
    assert forwarded_message(el("<received/>")) is None


def test_deliveries_dedup_useq_and_cursor() -> None:
    d = Deliveries()
    assert d.admit({"mid": "x:1"}) == {"mid": "x:1", "useq": 1}
    assert d.admit({"mid": "x:1"}) is None and d.admit(None) is None
    assert d.admit({"mid": "x:2"})["useq"] == 2
    d.seen_live("S1")
    assert d.cursor is None  # not caught up: an older message may still be in the archive
    d.page_done("A5", complete=False)
    d.seen_live("S6")
    assert d.cursor == "A5"
    d.page_done(None, complete=True)
    assert d.cursor == "A5" and d.caught_up
    d.seen_live("S7")
    assert d.cursor == "S7"


def test_a_direct_invitation_names_its_room_and_is_no_chat_text() -> None:
    inv = etree.fromstring(
        b'<message xmlns="jabber:client" from="bob@example.org/pc" type="normal">'
        b'<body>join us</body><x xmlns="jabber:x:conference" jid="team@conf.example.org"/>'
        b'</message>')
    r = read_message(inv, "alice", "alice@example.org")
    assert r.invite == "team@conf.example.org" and r.entry is None
