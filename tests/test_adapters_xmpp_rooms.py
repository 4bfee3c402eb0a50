"""Rooms (imload/adapters/xmpp/rooms.py): names, nicks, event bodies and reading a
room's messages and presences, without I/O."""

from __future__ import annotations

import json

from adapter_helpers import el
from lxml import etree

from imload.adapters.xmpp.messages import label_of
from imload.adapters.xmpp.rooms import (
    event_body,
    nick_of,
    room_message,
    room_node,
    sender_of,
    statuses,
)

ROOM = "team@conference.example.org"


def msg(inner: str, frm: str = f"{ROOM}/bob#pc", typ: str = "groupchat") -> etree._Element:
    return el(f'<message xmlns="jabber:client" from="{frm}" type="{typ}">{inner}</message>')


def test_room_names_are_lowercase_group_names() -> None:
    assert room_node("g:team-1.x") == "team-1.x"
    assert [room_node(c) for c in ("g:Team", "d:a:b", "g:", 7, "g:a@b")] == [None] * 5


def test_a_nick_says_user_and_device_and_a_foreign_nick_is_a_user() -> None:
    assert sender_of(nick_of("bob", "pc")) == ("bob", "pc")
    assert sender_of("a#b#c") == ("a#b", "c") and sender_of("someone") == ("someone", "")


def test_event_bodies_are_protocol_v1s_event_objects() -> None:
    assert json.loads(event_body("group_create", "al", {"members": ["bo", "al"]})) == {
        "op": "group_create", "user": "al", "members": ["al", "bo"]}
    assert json.loads(event_body("group_remove", "al", {"user": "bo"})) == {
        "op": "group_remove", "user": "bo", "by": "al"}


def test_a_room_message_reads_as_a_group_msg_with_the_rooms_archive_id() -> None:
    m = msg('<body>hi</body><origin-id xmlns="urn:xmpp:sid:0" id="c1"/>'
            f'<stanza-id xmlns="urn:xmpp:sid:0" by="bob@example.org" id="no"/>'
            f'<stanza-id xmlns="urn:xmpp:sid:0" by="{ROOM}" id="R7"/>')
    entry, sid, _ = room_message(m, "g:team", ROOM)
    assert sid == "R7"  # the room's id, not another archive's
    assert entry == {"mid": "x:c1", "conv": "g:team", "seq": label_of("x:c1"), "from": "bob",
                     "from_device": "pc", "cmid": "c1", "body": "hi", "server_ts": None,
                     "kind": "text"}


def test_an_op_message_is_an_event_and_a_lookalike_is_text() -> None:
    body = json.dumps({"op": "group_add", "user": "c", "by": "bob"})
    entry, _, _ = room_message(msg(f'<body>{body}</body><origin-id xmlns="urn:xmpp:sid:0" '
                                'id="op:o1"/>'), "g:team", ROOM)
    assert entry is not None and entry["kind"] == "event" and entry["body"]["user"] == "c"
    text, _, _ = room_message(msg(f'<body>{body}</body><origin-id xmlns="urn:xmpp:sid:0" '
                               'id="c9"/>'), "g:team", ROOM)
    assert text is not None and text["kind"] == "text" and text["body"] == body
    broken, _, _ = room_message(msg('<body>{"op": </body><origin-id xmlns="urn:xmpp:sid:0" '
                                 'id="op:o2"/>'), "g:team", ROOM)
    assert broken is not None and broken["kind"] == "text"


def test_subjects_notices_errors_and_anonymous_messages_are_not_messages() -> None:
    assert room_message(msg("<subject/>"), "g:team", ROOM)[0] is None
    assert room_message(msg("<body>x</body>", frm=ROOM), "g:team", ROOM)[0] is None
    assert room_message(msg("<body>x</body>", typ="error"), "g:team", ROOM)[0] is None
    entry, sid, _ = room_message(msg("<body>x</body>"), "g:team", ROOM, archive_id="R2")
    assert entry is not None and entry["mid"] == "x:sid:R2" and sid == "R2"
    assert room_message(msg("<body>x</body>"), "g:team", ROOM) == (None, None, None)


def test_a_marker_in_a_room_names_the_message_it_marks() -> None:
    m = msg('<displayed xmlns="urn:xmpp:chat-markers:0" id="c4"/>')
    assert room_message(m, "g:team", ROOM) == (None, None, "c4")


def test_status_codes() -> None:
    pres = el('<presence xmlns="jabber:client"><x xmlns="http://jabber.org/protocol/muc#user">'
              '<status code="110"/><status code="321"/></x></presence>')
    assert statuses(pres) == {"110", "321"}
