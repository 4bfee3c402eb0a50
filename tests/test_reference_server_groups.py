"""Groups (reference_server/groups.py): create, add, remove as ops; membership events with a
seq; a message with seq s reaching exactly the members as of s; on a 2-node cluster."""

from __future__ import annotations

import itertools

import pytest
from conftest import Connect, WsClient, unique

pytestmark = pytest.mark.integration

_opids = itertools.count(1)


def op(c: WsClient, kind: str, **args: object) -> dict[str, object]:
    return c.request("op", opid=f"o{next(_opids)}", kind=kind, args=args)


def texts(c: WsClient, conv: str) -> list[tuple[int, str, object]]:
    """(seq, kind, body) of every inbox entry of ``conv``, by sync from 0."""
    return [(m["seq"], m["kind"], m["body"]) for m in c.request("sync", after=0)["msgs"]
            if m["conv"] == conv]


def test_create_delivers_an_event_to_every_member_on_every_node(open_client: Connect) -> None:
    alice, bob, carol = unique("alice"), unique("bob"), unique("carol")
    conv = f"g:{unique('team')}"
    a = open_client(alice, node="n1")
    b = open_client(bob, node="n2")
    c = open_client(carol, node="n1")
    reply = a.request("op", opid="create-1", kind="group_create",
                      args={"conv": conv, "members": [bob, carol]})
    assert reply == {"t": "op_ok", "rid": reply["rid"], "opid": "create-1", "dup": False}
    members = sorted([alice, bob, carol])
    for client in (a, b, c):
        ev = client.push()
        assert (ev["conv"], ev["seq"], ev["kind"], ev["from"]) == (conv, 1, "event", alice)
        assert ev["body"] == {"op": "group_create", "user": alice, "members": members}
        assert ev["cmid"] == "op:create-1" and ev["useq"] == 1
    assert a.request("state")["groups"] == [conv]
    again = a.request("op", opid="create-1", kind="group_create",
                      args={"conv": conv, "members": [bob, carol]})
    assert again["t"] == "op_ok" and again["dup"] is True
    ack = b.request("send", cmid="c1", conv=conv, body="hello team")
    assert ack["t"] == "send_ack" and ack["seq"] == 2
    for client in (a, b, c):
        msg = client.push()
        assert (msg["mid"], msg["seq"], msg["body"]) == (ack["mid"], 2, "hello team")


def test_members_as_of_each_seq(open_client: Connect) -> None:
    alice, bob, dave = unique("alice"), unique("bob"), unique("dave")
    conv = f"g:{unique('club')}"
    a = open_client(alice, node="n1")
    assert op(a, "group_create", conv=conv, members=[bob])["t"] == "op_ok"
    a.request("send", cmid="before", conv=conv, body="before dave")  # seq 2
    assert op(a, "group_add", conv=conv, user=dave)["t"] == "op_ok"  # seq 3
    a.request("send", cmid="during", conv=conv, body="with dave")  # seq 4
    b = open_client(bob, node="n2")
    assert op(b, "group_remove", conv=conv, user=dave)["t"] == "op_ok"  # seq 5, by any member
    a.request("send", cmid="after", conv=conv, body="without dave")  # seq 6
    d = open_client(dave, node="n2")
    assert texts(d, conv) == [
        (3, "event", {"op": "group_add", "user": dave, "by": alice}),
        (4, "text", "with dave"),
        (5, "event", {"op": "group_remove", "user": dave, "by": bob}),
    ]
    assert [seq for seq, _, _ in texts(b, conv)] == [1, 2, 3, 4, 5, 6]
    assert d.request("state")["groups"] == []
    assert b.request("state")["groups"] == [conv]
    refused = d.request("send", cmid="late", conv=conv, body="let me in")
    assert (refused["t"], refused["code"]) == ("error", "forbidden")


def test_adding_a_member_twice_or_removing_a_stranger_changes_nothing(
        open_client: Connect) -> None:
    alice, bob = unique("alice"), unique("bob")
    conv = f"g:{unique('g')}"
    a = open_client(alice)
    op(a, "group_create", conv=conv, members=[bob])
    assert op(a, "group_add", conv=conv, user=bob)["t"] == "op_ok"
    assert op(a, "group_remove", conv=conv, user=unique("nobody"))["t"] == "op_ok"
    assert [seq for seq, _, _ in texts(a, conv)] == [1]


def test_leaving_a_group(open_client: Connect) -> None:
    alice, bob = unique("alice"), unique("bob")
    conv = f"g:{unique('g')}"
    a = open_client(alice)
    op(a, "group_create", conv=conv, members=[bob])
    b = open_client(bob, node="n2")
    assert op(b, "group_remove", conv=conv, user=bob)["t"] == "op_ok"
    assert b.request("state")["groups"] == []
    assert texts(b, conv)[-1] == (2, "event", {"op": "group_remove", "user": bob, "by": bob})
    assert op(b, "group_add", conv=conv, user=bob)["code"] == "forbidden"


@pytest.mark.parametrize("kind", ["group_add", "group_remove"])
def test_non_members_may_not_change_a_group(open_client: Connect, kind: str) -> None:
    alice, mallory = unique("alice"), unique("mallory")
    conv = f"g:{unique('g')}"
    a = open_client(alice)
    op(a, "group_create", conv=conv, members=[])
    m = open_client(mallory, node="n2")
    reply = op(m, kind, conv=conv, user=mallory if kind == "group_add" else alice)
    assert (reply["t"], reply["code"]) == ("error", "forbidden")
    assert "not a member" in reply["msg"]
    assert op(m, kind, conv=f"g:{unique('nosuch')}", user=alice)["code"] == "forbidden"


def test_creating_a_group_that_exists_is_forbidden(open_client: Connect) -> None:
    conv = f"g:{unique('taken')}"
    a = open_client(unique("alice"))
    assert op(a, "group_create", conv=conv, members=[])["t"] == "op_ok"
    reply = op(open_client(unique("bob")), "group_create", conv=conv, members=[])
    assert (reply["t"], reply["code"]) == ("error", "forbidden")
    assert "already exists" in reply["msg"]


def test_concurrent_adds_and_sends_keep_members_as_of_each_seq(open_client: Connect) -> None:
    """Sends pipelined on one node while members are added from the other: every member
    holds exactly the messages from its own add event on, seqs contiguous."""
    alice = unique("alice")
    others = [unique("m") for _ in range(6)]
    conv = f"g:{unique('busy')}"
    a = open_client(alice, node="n1")
    op(a, "group_create", conv=conv, members=[])
    adder = open_client(alice, "laptop", node="n2")
    for i in range(30):
        a.send({"t": "send", "rid": 1000 + i, "cmid": f"c{i}", "conv": conv, "body": str(i)})
    for i, m in enumerate(others):
        adder.send({"t": "op", "rid": 2000 + i, "opid": f"add-{m}", "kind": "group_add",
                    "args": {"conv": conv, "user": m}})
    acks = [a.expect("send_ack") for _ in range(30)]
    for _ in others:
        assert adder.expect("op_ok")["dup"] is False
    full = texts(a, conv)
    assert [seq for seq, _, _ in full] == list(range(1, 38))
    assert sorted(ack["seq"] for ack in acks) == [s for s, k, _ in full if k == "text"]
    for m in others:
        held = texts(open_client(m, node="n2"), conv)
        added_at = next(s for s, k, body in full if k == "event" and body["user"] == m)
        assert [s for s, _, _ in held] == list(range(added_at, 38))
