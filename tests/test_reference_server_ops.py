"""Ops and state (reference_server/ops.py): contacts, pins, idempotence by opid, the order
of one device's ops, and bad args named by field."""

from __future__ import annotations

import random
from typing import Any

import pytest
from conftest import Connect, RawWs, unique

from imload.cluster import LocalCluster
from imload.protocol import direct_conv, mint_token

pytestmark = pytest.mark.integration


def test_contacts_and_pins_show_in_state(open_client: Connect) -> None:
    alice, bob, carol = unique("alice"), unique("bob"), unique("carol")
    a = open_client(alice, node="n1")
    assert a.request("state") == {"t": "state_ok", "rid": 1 + 1, "contacts": [], "pinned": [],
                                  "groups": []}
    for i, (kind, args) in enumerate([
            ("contact_add", {"user": carol}), ("contact_add", {"user": bob}),
            ("pin", {"conv": direct_conv(alice, bob), "pinned": True}),
            ("pin", {"conv": direct_conv(alice, carol), "pinned": True}),
            ("pin", {"conv": direct_conv(alice, carol), "pinned": False}),
            ("contact_remove", {"user": carol})]):
        reply = a.request("op", opid=f"op-{i}", kind=kind, args=args)
        assert reply == {"t": "op_ok", "rid": reply["rid"], "opid": f"op-{i}", "dup": False}
    laptop = open_client(alice, "laptop", node="n2")
    state = laptop.request("state")
    assert (state["contacts"], state["pinned"]) == ([bob], [direct_conv(alice, bob)])


def test_a_repeated_opid_is_applied_once(open_client: Connect) -> None:
    alice, bob = unique("alice"), unique("bob")
    a = open_client(alice)
    assert a.request("op", opid="x", kind="contact_add", args={"user": bob})["dup"] is False
    assert a.request("op", opid="y", kind="contact_remove", args={"user": bob})["dup"] is False
    again = open_client(alice, "tablet", node="n2")  # a retry from another device
    reply = again.request("op", opid="x", kind="contact_add", args={"user": bob})
    assert reply["t"] == "op_ok" and reply["dup"] is True
    assert again.request("state")["contacts"] == []  # the retry did not add bob back


def test_pipelined_ops_apply_in_the_order_sent(open_client: Connect) -> None:
    alice, bob = unique("alice"), unique("bob")
    a = open_client(alice)
    for i in range(40):
        kind = "contact_add" if i % 2 == 0 else "contact_remove"
        a.send({"t": "op", "rid": 100 + i, "opid": f"p{i}", "kind": kind,
                "args": {"user": bob}})
    a.send({"t": "op", "rid": 200, "opid": "last", "kind": "contact_add",
            "args": {"user": bob}})
    rids = [a.expect("op_ok")["rid"] for _ in range(41)]
    assert rids == [*range(100, 140), 200]
    assert a.request("state")["contacts"] == [bob]


def fold(frames: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """(contacts, pinned) after applying the ops ``frames`` in that order."""
    contacts: set[str] = set()
    pinned: set[str] = set()
    for f in frames:
        kind, args = f["kind"], f["args"]
        if kind == "pin":
            (pinned.add if args["pinned"] else pinned.discard)(args["conv"])
        else:
            (contacts.add if kind == "contact_add" else contacts.discard)(args["user"])
    return sorted(contacts), sorted(pinned)


def test_a_flush_read_in_one_go_applies_in_frame_order(cluster: LocalCluster) -> None:
    """20 ops of one device written at once, straight to the node (a client flushing its
    offline queue, every op on the wire before the first answer): the node reads them
    together and applies them in frame order (promise 8); the state is their fold."""
    alice, bob, carol = unique("alice"), unique("bob"), unique("carol")
    convs = [direct_conv(alice, bob), direct_conv(alice, carol)]
    rng = random.Random(8)
    ops = []
    for i in range(20):
        if i % 2 == 0:  # the same contacts and conversations, over and over
            ops.append(("contact_add" if i % 4 == 0 else "contact_remove",
                        {"user": rng.choice([bob, carol])}))
        else:
            ops.append(("pin", {"conv": rng.choice(convs), "pinned": i % 3 != 0}))
    frames = [{"t": "op", "rid": 10 + i, "opid": f"p{i}", "kind": kind, "args": args}
              for i, (kind, args) in enumerate(ops)]
    assert fold(frames) != fold(frames[::-1])  # the order shows in the end state
    raw = RawWs(cluster.parts["n1"].port)
    try:
        raw.send_json({"t": "login", "rid": 1, "token": mint_token(cluster.secret, alice, "d")})
        assert raw.read_json()["t"] == "login_ok"
        raw.send_together([*frames, {"t": "state", "rid": 99}])
        replies = [raw.read_json() for _ in range(21)]
    finally:
        raw.close()
    assert [(r["t"], r["rid"], r["dup"]) for r in replies[:20]] == [
        ("op_ok", f["rid"], False) for f in frames]
    state = replies[20]
    assert state["t"] == "state_ok" and (state["contacts"], state["pinned"]) == fold(frames)


def test_pinning_a_conversation_one_is_not_in_is_forbidden(open_client: Connect) -> None:
    a = open_client(unique("alice"))
    for conv in (direct_conv(unique("x"), unique("y")), f"g:{unique('nosuch')}"):
        reply = a.request("op", opid=f"pin-{conv}", kind="pin",
                          args={"conv": conv, "pinned": True})
        assert (reply["t"], reply["code"]) == ("error", "forbidden"), reply
    assert a.request("state")["pinned"] == []


@pytest.mark.parametrize(("kind", "args", "field"), [
    ("fly", {}, "'kind'"),
    ("contact_add", {}, "'args.user'"),
    ("contact_add", {"user": 5}, "'args.user'"),
    ("contact_add", {"user": "bad name"}, "'args.user'"),
    ("contact_add", {"user": "SELF"}, "'args.user'"),
    ("pin", {"conv": "d:b:a", "pinned": True}, "'args.conv'"),
    ("pin", {"conv": "d:a:b", "pinned": "yes"}, "'args.pinned'"),
    ("pin", {"conv": "d:a:b", "pinned": 1}, "'args.pinned'"),
    ("group_create", {"conv": "d:a:b", "members": []}, "'args.conv'"),
    ("group_create", {"conv": "g:x", "members": "bob"}, "'args.members'"),
    ("group_create", {"conv": "g:x", "members": ["ok", "not ok"]}, "'args.members'"),
    ("group_add", {"conv": "g:x"}, "'args.user'"),
    ("group_remove", {"conv": 7, "user": "bob"}, "'args.conv'"),
])
def test_bad_args_answer_bad_frame_naming_the_field(open_client: Connect, kind: str,
                                                    args: dict[str, object], field: str) -> None:
    user = unique("alice")
    c = open_client(user)
    if args.get("user") == "SELF":
        args = {"user": user}
    reply = c.request("op", opid="o1", kind=kind, args=args)
    assert (reply["t"], reply["code"]) == ("error", "bad_frame"), reply
    assert field in reply["msg"], reply
    assert c.request("state") == {"t": "state_ok", "rid": reply["rid"] + 1, "contacts": [],
                                  "pinned": [], "groups": []}


@pytest.mark.parametrize("frame", [
    {"t": "op", "rid": 5, "kind": "pin", "args": {}},
    {"t": "op", "rid": 5, "opid": "o", "kind": "pin", "args": []},
    {"t": "op", "rid": 5, "opid": "o" * 65, "kind": "pin", "args": {}},
    {"t": "state"},
])
def test_malformed_op_and_state_frames(open_client: Connect, frame: dict[str, object]) -> None:
    c = open_client()
    c.send(frame)
    reply = c.recv()
    assert (reply["t"], reply["code"]) == ("error", "bad_frame")
