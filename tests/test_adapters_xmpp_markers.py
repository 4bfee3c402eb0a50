"""Read markers as XEP-0333 chat markers (imload/adapters/xmpp/markers.py), against the
scripted server of test_adapters_xmpp_handshake."""

from __future__ import annotations

from test_adapters_xmpp_adapter import R, a_h, chat, ready
from test_adapters_xmpp_groups import ROOM, groupchat, joined, mam_page
from test_adapters_xmpp_handshake import DOMAIN, xml

from imload.adapters.xmpp import XmppAdapter
from imload.adapters.xmpp.messages import label_of

CONV = "d:alice:bob"
MARKERS = "urn:xmpp:chat-markers:0"


def marker(frm: str, to: str, of: str) -> bytes:
    return (f'<message xmlns="jabber:client" from="{frm}" to="{to}" type="chat" id="m-{of}">'
            f'<displayed xmlns="{MARKERS}" id="{of}"/></message>').encode()


def carbon(inner: bytes) -> bytes:
    return (f'<message xmlns="jabber:client" from="alice@{DOMAIN}" to="alice@{DOMAIN}/phone">'
            '<sent xmlns="urn:xmpp:carbons:2"><forwarded xmlns="urn:xmpp:forward:0">'
            f"{inner.decode()}</forwarded></sent></message>").encode()


def read(a: XmppAdapter, rid: int, conv: str = CONV) -> tuple[bytes, ...]:
    return tuple(a.encode({"t": "read", "rid": rid, "conv": conv, "upto": 1}, 0.0))


def test_a_read_marks_the_newest_message_from_the_peer_and_its_ack_is_read_ok() -> None:
    a = ready()
    for oid in ("b1", "b2"):
        a.decode(chat(f"bob@{DOMAIN}/pc", f"alice@{DOMAIN}/phone", oid).encode(), 0.0)
    a.output()
    displayed, r = read(a, 5)
    el = xml(displayed)
    assert r == R and (el.get("to"), el.get("type")) == (f"bob@{DOMAIN}", "chat")
    assert el.find(f"{{{MARKERS}}}displayed").get("id") == "b2"  # the newest one held
    assert el.find("{urn:xmpp:hints}store") is not None
    assert not a.has_events
    # carbons, presence, the marker: h=3 covers it
    assert a.decode(a_h(3), 0.0) == [{"t": "read_ok", "rid": 5, "conv": CONV,
                                      "upto": label_of("x:b2")}]


def test_without_smacks_read_ok_follows_the_write() -> None:
    a = ready(smacks=False)
    a.decode(chat(f"bob@{DOMAIN}/pc", f"alice@{DOMAIN}/phone", "b1").encode(), 0.0)
    assert len(read(a, 6)) == 1
    assert a.events() == [{"t": "read_ok", "rid": 6, "conv": CONV, "upto": label_of("x:b1")}]


def test_nothing_held_and_groups_are_refused() -> None:
    a = ready()
    assert read(a, 1) == () and read(a, 2, "g:team") == ()
    assert [(e["rid"], e["code"]) for e in a.events()] == [(1, "unsupported"),
                                                           (2, "unsupported")]


def test_markers_of_other_devices_are_read_sync_and_the_peers_are_receipts() -> None:
    a = ready()
    mine = marker(f"alice@{DOMAIN}/laptop", f"bob@{DOMAIN}", "b7")
    assert a.decode(carbon(mine), 0.0) == [
        {"t": "read_sync", "conv": CONV, "upto": label_of("x:b7"), "device": "laptop"}]
    assert a.decode(marker(f"bob@{DOMAIN}/pc", f"alice@{DOMAIN}/phone", "a3"), 0.0) == [
        {"t": "receipt", "conv": CONV, "user": "bob", "upto": label_of("x:a3")}]
    assert a.read_marks == {CONV: label_of("x:b7")}  # a receipt is bob's marker, not ours


def test_reads_waits_for_the_archive_and_answers_the_last_own_marker_of_each_chat() -> None:
    a = ready()
    a.encode({"t": "reads", "rid": 9}, 0.0)
    assert not a.has_events  # the archive was not read yet on this session
    [q] = a.encode({"t": "sync", "rid": 10, "limit": 50}, 0.0)
    own = [marker(f"alice@{DOMAIN}/laptop", f"bob@{DOMAIN}", x).decode() for x in ("b1", "b4")]
    peer = marker(f"bob@{DOMAIN}/pc", f"alice@{DOMAIN}", "a1").decode()
    items = [("A1", own[0]), ("A2", peer), ("A3", own[1])]
    evs = []
    for p in mam_page(xml(q).get("id"), f"alice@{DOMAIN}", items, "A3", True):
        evs += a.decode(p, 0.0)
    assert evs == [{"t": "reads_ok", "rid": 9, "marks": {CONV: label_of("x:b4")}},
                   {"t": "sync_batch", "rid": 10, "msgs": [], "upto": 0, "more": False}]
    a.encode({"t": "reads", "rid": 11}, 0.0)  # read to its end: at once now
    assert a.events() == [{"t": "reads_ok", "rid": 11, "marks": {CONV: label_of("x:b4")}}]


def room_marker(nick: str, of: str, marker_id: str = "x1") -> bytes:
    return (f'<message xmlns="jabber:client" from="{ROOM}/{nick}" type="groupchat" '
            f'id="{marker_id}"><displayed xmlns="{MARKERS}" id="{of}"/></message>').encode()


def test_in_a_room_the_marker_goes_to_the_room_and_its_echo_is_read_ok() -> None:
    a = ready()
    joined(a)
    a.output()
    a.decode(groupchat("bob#pc", "g1", "yo").encode(), 0.0)
    assert read(a, 8, "g:team") == ()
    [out] = a.output()
    el = xml(out)
    assert (el.get("to"), el.get("type")) == (ROOM, "groupchat")
    assert el.find(f"{{{MARKERS}}}displayed").get("id") == "g1"
    upto = label_of("x:g1")
    a.decode(room_marker("alice#phone", "g1", el.get("id")), 0.0)  # the room's echo
    assert a.events() == [{"t": "read_ok", "rid": 8, "conv": "g:team", "upto": upto}]
    a.decode(room_marker("alice#laptop", "g1"), 0.0)
    a.decode(room_marker("bob#pc", "g1"), 0.0)
    assert a.events() == [
        {"t": "read_sync", "conv": "g:team", "upto": upto, "device": "laptop"},
        {"t": "receipt", "conv": "g:team", "user": "bob", "upto": upto}]
