"""Groups over XEP-0045 rooms (imload/adapters/xmpp/groups.py), against the scripted
server of test_adapters_xmpp_handshake: ops, group messages and their echo, invitations,
the rooms' archives in a sync, and what a room's refusals become."""

from __future__ import annotations

import json
from typing import Any

from test_adapters_xmpp_handshake import DOMAIN, Server, adapter, login, step, xml

from imload.adapters.xmpp import XmppAdapter
from imload.adapters.xmpp.messages import label_of

MUC = f"conference.{DOMAIN}"
ROOM = f"team@{MUC}"
MUC_USER = "http://jabber.org/protocol/muc#user"
MAM = "urn:xmpp:mam:2"


def ready(user: str = "alice", device: str = "phone", smacks: bool = True) -> XmppAdapter:
    a = adapter(user, device, smacks=smacks)
    login(a, Server(user), smacks=smacks)
    a.output()
    return a


def op(a: XmppAdapter, rid: int, opid: str, kind: str, **args: Any) -> list[bytes]:
    assert tuple(a.encode({"t": "op", "rid": rid, "opid": opid, "kind": kind,
                           "args": {"conv": "g:team", **args}}, 0.0)) == ()
    return a.output()


def self_presence(nick: str = "alice#phone", *codes: str, typ: str = "") -> bytes:
    st = "".join(f'<status code="{c}"/>' for c in (*codes, "110"))
    t = f' type="{typ}"' if typ else ""
    return (f'<presence xmlns="jabber:client" from="{ROOM}/{nick}"{t}>'
            f'<x xmlns="{MUC_USER}"><item affiliation="owner" role="moderator"/>{st}</x>'
            "</presence>").encode()


def iq_result(iq_id: str, frm: str = ROOM) -> bytes:
    return f'<iq xmlns="jabber:client" type="result" id="{iq_id}" from="{frm}"/>'.encode()


def iq_error(iq_id: str, cond: str = "forbidden", typ: str = "auth") -> bytes:
    return (f'<iq xmlns="jabber:client" type="error" id="{iq_id}" from="{ROOM}">'
            f'<error type="{typ}"><{cond} xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>'
            "</error></iq>").encode()


def groupchat(nick: str, oid: str, body: str, sid: str = "R1", wrap: str = "") -> str:
    return (f'<message xmlns="jabber:client" from="{ROOM}/{nick}" type="groupchat" id="{oid}">'
            f'<body>{body}</body><origin-id xmlns="urn:xmpp:sid:0" id="{oid}"/>'
            f'<stanza-id xmlns="urn:xmpp:sid:0" by="{ROOM}" id="{sid}"/></message>')


def ids(payloads: list[bytes], tag: str) -> list[str]:
    return [xml(p).get("id") for p in payloads if xml(p).tag.endswith(tag)]


def test_group_create_enters_sets_owners_one_per_iq_then_ok_event_and_invites() -> None:
    a = ready()
    out = op(a, 7, "o1", "group_create", members=["carol", "bob", "alice"])
    join = xml(out[0])  # not in the room yet: enter it first, nothing else until then
    assert len(out) == 1 and join.get("to") == f"{ROOM}/alice#phone"
    assert join.find("{http://jabber.org/protocol/muc}x/{*}history").get("maxstanzas") == "0"
    evs, out = step(a, self_presence("alice#phone", "201"))
    assert evs == []
    form, *affils, mam = out  # a new room: instant form; the waiting iqs; its archive
    assert xml(form).find("{http://jabber.org/protocol/muc#owner}query") is not None
    items = [xml(p).find("{*}query/{*}item") for p in affils]
    assert [(i.get("jid"), i.get("affiliation")) for i in items] == [
        (f"bob@{DOMAIN}", "owner"), (f"carol@{DOMAIN}", "owner")]  # the creator owns it
    assert xml(mam).get("to") == ROOM and xml(mam).find(f"{{{MAM}}}query") is not None
    first, second = (xml(p).get("id") for p in affils)
    assert step(a, iq_result(first)) == ([], [])  # one of two: not yet
    evs, out = step(a, iq_result(second))
    assert evs == [{"t": "op_ok", "rid": 7, "opid": "o1", "dup": False}]
    event, *invites = (xml(p) for p in out)
    assert (event.get("to"), event.get("type"), event.get("id")) == (ROOM, "groupchat", "op:o1")
    assert json.loads(event.findtext("{jabber:client}body")) == {
        "op": "group_create", "user": "alice", "members": ["alice", "bob", "carol"]}
    assert [(i.get("to"), i.find("{jabber:x:conference}x").get("jid")) for i in invites] == [
        (f"{u}@{DOMAIN}", ROOM) for u in ("alice", "bob", "carol")]  # own devices learn too


def test_add_and_remove_set_owner_and_none_and_tell_only_the_added() -> None:
    a = ready()
    op(a, 1, "o1", "group_create", members=[])  # the creator alone: its own affiliation
    _, out = step(a, self_presence())
    [affil] = [p for p in out if xml(p).find("{*}query/{*}item") is not None]
    evs, _ = step(a, iq_result(xml(affil).get("id")))
    assert evs == [{"t": "op_ok", "rid": 1, "opid": "o1", "dup": False}]
    out = op(a, 2, "o2", "group_add", user="dave")
    assert xml(out[0]).find("{*}query/{*}item").get("affiliation") == "owner"
    evs, out = step(a, iq_result(xml(out[0]).get("id")))
    assert evs[0]["t"] == "op_ok" and [xml(p).get("to") for p in out] == [ROOM, f"dave@{DOMAIN}"]
    assert json.loads(xml(out[0]).findtext("{*}body")) == {"op": "group_add", "user": "dave",
                                                           "by": "alice"}
    out = op(a, 3, "o3", "group_remove", user="dave")
    assert xml(out[0]).find("{*}query/{*}item").get("affiliation") == "none"
    evs, out = step(a, iq_result(xml(out[0]).get("id")))
    assert evs[0]["opid"] == "o3" and [xml(p).get("to") for p in out] == [ROOM]  # no invite


def test_a_refused_entry_refuses_what_waited_and_forgets_the_room() -> None:
    a = ready()
    op(a, 4, "o1", "group_create", members=["bob"])  # the name is someone else's room
    error = (f'<presence xmlns="jabber:client" from="{ROOM}/alice#phone" type="error">'
             '<error type="auth"><registration-required '
             'xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></presence>').encode()
    evs, out = step(a, error)
    assert evs == [] and out == []
    [ev] = a.events()
    assert (ev["rid"], ev["code"]) == (4, "forbidden") and "registration-required" in ev["msg"]
    assert "g:team" not in a.rooms and not any(w == "affil" for w, _ in a.iqs.values())


def test_a_refused_affiliation_is_one_forbidden_error() -> None:
    a = ready()
    op(a, 5, "o1", "group_create", members=["bob", "carol"])
    _, out = step(a, self_presence())
    affils = ids(out, "iq")
    evs, _ = step(a, iq_error(affils[0]))
    assert [(e["rid"], e["code"]) for e in evs] == [(5, "forbidden")]
    assert step(a, iq_result(affils[1])) == ([], [])  # the op already failed: no op_ok


def test_other_ops_and_bad_groups_are_refused_with_the_rid() -> None:
    a = ready()
    a.encode({"t": "op", "rid": 1, "opid": "o1", "kind": "pin", "args": {}}, 0.0)
    a.encode({"t": "op", "rid": 2, "opid": "o2", "kind": "group_add",
              "args": {"conv": "g:Team", "user": "x"}}, 0.0)
    assert [(e["rid"], e["code"]) for e in a.events()] == [(1, "unsupported"), (2, "bad_frame")]


def joined(a: XmppAdapter) -> None:
    """``a`` learns g:team from an invitation and enters it."""
    invite = (f'<message xmlns="jabber:client" from="bob@{DOMAIN}/pc" to="alice@{DOMAIN}" '
              f'type="normal"><body>hi</body><x xmlns="jabber:x:conference" jid="{ROOM}"/>'
              "</message>").encode()
    evs, out = step(a, invite)
    assert evs == [] and xml(out[0]).get("to") == f"{ROOM}/alice#phone"
    evs, out = step(a, self_presence())
    assert evs == [] and ids(out, "iq")  # the room's archive, read at once


def test_a_group_message_is_acked_by_its_echo_which_is_also_the_own_copy() -> None:
    a = ready()
    joined(a)
    assert tuple(a.encode({"t": "send", "rid": 9, "cmid": "c1", "conv": "g:team",
                           "body": "hey"}, 0.0)) == ()
    [m] = a.output()
    assert (xml(m).get("to"), xml(m).get("type")) == (ROOM, "groupchat")
    evs = a.decode(groupchat("alice#phone", "c1", "hey", sid="S9").encode(), 0.0)
    mid = "x:c1"
    assert a.events() == [{"t": "send_ack", "rid": 9, "cmid": "c1", "mid": mid,
                           "conv": "g:team", "seq": label_of(mid), "server_ts": None,
                           "dup": False}]
    assert [(e["t"], e["from"], e["from_device"], e["body"]) for e in evs] == [
        ("msg", "alice", "phone", "hey")]
    other = a.decode(groupchat("bob#pc", "op:b1", json.dumps(
        {"op": "group_add", "user": "carol", "by": "bob"}), sid="S10").encode(), 0.0)
    assert other[0]["kind"] == "event" and other[0]["body"]["user"] == "carol"
    assert other[0]["cmid"] == "op:b1" and other[0]["from"] == "bob"


def test_a_group_send_waits_for_the_entry_and_a_bounce_enters_again() -> None:
    a = ready(smacks=False)
    joined(a)
    a.closed()  # a new connection is in no room: the send waits for the entry
    _, out = login(a, Server(), smacks=False)
    assert f"{ROOM}/alice#phone" in [xml(p).get("to") for p in out]
    a.encode({"t": "send", "rid": 3, "cmid": "c2", "conv": "g:team", "body": "b"}, 0.0)
    assert a.output() == []
    _, out = step(a, self_presence())
    assert "c2" in ids(out, "message")
    bounce = (f'<message xmlns="jabber:client" from="{ROOM}" type="error" id="c2">'
              '<error type="cancel"><not-acceptable '
              'xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></message>').encode()
    evs, out = step(a, bounce)  # the room forgot its occupants (a node died): enter again
    assert evs == [] and xml(out[0]).get("to") == f"{ROOM}/alice#phone"
    [ev] = a.events()
    assert (ev["rid"], ev["code"]) == (3, "internal")  # retried by the engine


def test_removed_from_the_room_forgets_it() -> None:
    a = ready()
    joined(a)
    step(a, self_presence("alice#phone", "321", typ="unavailable"))
    assert "g:team" not in a.rooms
    a.encode({"t": "send", "rid": 4, "cmid": "c3", "conv": "g:team", "body": "x"}, 0.0)
    assert a.events()[0]["code"] == "forbidden"


def mam_page(qid: str, frm: str, items: list[tuple[str, str]], last: str,
             complete: bool) -> list[bytes]:
    res = [(f'<message xmlns="jabber:client" from="{frm}"><result xmlns="{MAM}" '
            f'queryid="{qid}" id="{aid}"><forwarded xmlns="urn:xmpp:forward:0">{inner}'
            "</forwarded></result></message>").encode() for aid, inner in items]
    fin = (f'<iq xmlns="jabber:client" type="result" id="{qid}"><fin xmlns="{MAM}" '
           f'complete="{str(complete).lower()}"><set xmlns="http://jabber.org/protocol/rsm">'
           f"<last>{last}</last></set></fin></iq>").encode()
    return [*res, fin]


def test_sync_reads_the_own_archive_then_each_room_it_names() -> None:
    a = ready()
    [q1] = a.encode({"t": "sync", "rid": 20, "limit": 10}, 0.0)
    assert xml(q1).get("to") is None
    invite = (f'<message xmlns="jabber:client" from="bob@{DOMAIN}/pc" to="alice@{DOMAIN}" '
              f'type="normal"><body>hi</body><x xmlns="jabber:x:conference" jid="{ROOM}"/>'
              "</message>")
    evs: list[dict[str, Any]] = []
    for p in mam_page(xml(q1).get("id"), f"alice@{DOMAIN}", [("A1", invite)], "A1", True):
        evs += a.decode(p, 0.0)
    out = a.output()  # an empty page for the engine: the room's archive at once
    assert evs == [] and xml(out[0]).get("to") == f"{ROOM}/alice#phone"
    [q2] = [p for p in out if xml(p).get("to") == ROOM]
    for p in mam_page(xml(q2).get("id"), ROOM, [("R1", groupchat("bob#pc", "g1", "yo"))],
                      "R1", True):
        evs += a.decode(p, 0.0)
    [batch] = evs
    assert batch["t"] == "sync_batch" and batch["rid"] == 20 and batch["more"] is False
    assert [(m["conv"], m["body"], m["from"]) for m in batch["msgs"]] == [("g:team", "yo", "bob")]
    assert a.rooms["g:team"].archive.cursor == "R1"


def test_an_invitation_the_server_bounced_is_sent_again_with_the_next_ping() -> None:
    """The invitee's account may not exist yet (it is made at its first login): the
    server bounces the invitation, and the invitee would never learn the room. The bounce
    is kept and the invitation sent again with the next ping, until one is not bounced."""
    a = ready()
    bounce = (f'<message xmlns="jabber:client" from="carol@{DOMAIN}" to="alice@{DOMAIN}/phone" '
              f'type="error"><body>imload: carol is in g:team</body>'
              f'<x xmlns="jabber:x:conference" jid="{ROOM}"/><error type="cancel">'
              '<service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>'
              "</message>").encode()
    evs, out = step(a, bounce)
    assert evs == [] and out == []  # not taken as an invitation to alice herself
    sent = [xml(p) for p in a.encode({"t": "ping", "rid": 7, "ts": 1}, 0.0)]
    assert [s.tag.rpartition("}")[2] for s in sent] == ["iq", "message"]
    again = sent[1]
    assert again.get("to") == f"carol@{DOMAIN}"
    assert again.find("{jabber:x:conference}x").get("jid") == ROOM
    # sent once: the next ping carries no invitation unless it bounced again
    assert [xml(p).tag.rpartition("}")[2] for p in a.encode({"t": "ping", "rid": 8, "ts": 2},
                                                              0.0)] == ["iq"]
