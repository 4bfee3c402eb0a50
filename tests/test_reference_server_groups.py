"""Groups (reference_server/groups.py): create, add, remove and roles as ops; membership
events with a seq; a message with seq s reaching exactly the members as of s; on a 2-node
cluster. The rules (docs/protocol.md, "Groups"): consent, the owner and admins, the size
limit, the fan-out budget."""

from __future__ import annotations

import contextlib
import itertools
from pathlib import Path

import pytest
import redis
from conftest import Connect, WsClient, agree, own_node, unique

from imload.cluster import LocalCluster
from imload.protocol import direct_conv

pytestmark = pytest.mark.integration

_opids = itertools.count(1)


def op(c: WsClient, kind: str, **args: object) -> dict[str, object]:
    return c.request("op", opid=f"o{next(_opids)}", kind=kind, args=args)


def new_group(open_client: Connect, cluster: LocalCluster, what: str,
              names: tuple[str, ...] = ("alice", "bob", "carol", "dave")
              ) -> tuple[str, WsClient, list[str]]:
    """A new group ``g:<what>...`` of fresh users named after ``names``, who agreed, made
    by the first (its owner, on n1): (its name, the owner's client, the users)."""
    users = [unique(n) for n in names]
    conv = f"g:{unique(what)}"
    agree(cluster, *users)
    a = open_client(users[0])
    assert op(a, "group_create", conv=conv, members=users[1:])["t"] == "op_ok"
    return conv, a, users


def texts(c: WsClient, conv: str) -> list[tuple[int, str, object]]:
    """(seq, kind, body) of every inbox entry of ``conv``, by sync from 0."""
    return [(m["seq"], m["kind"], m["body"]) for m in c.request("sync", after=0)["msgs"]
            if m["conv"] == conv]


def test_create_delivers_an_event_to_every_member_on_every_node(open_client: Connect,
                                                                cluster: LocalCluster) -> None:
    alice, bob, carol = unique("alice"), unique("bob"), unique("carol")
    conv = f"g:{unique('team')}"
    agree(cluster, alice, bob, carol)
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


def test_members_as_of_each_seq(open_client: Connect, cluster: LocalCluster) -> None:
    alice, bob, dave = unique("alice"), unique("bob"), unique("dave")
    conv = f"g:{unique('club')}"
    agree(cluster, alice, bob, dave)
    a = open_client(alice, node="n1")
    assert op(a, "group_create", conv=conv, members=[bob])["t"] == "op_ok"
    a.request("send", cmid="before", conv=conv, body="before dave")  # seq 2
    assert op(a, "group_add", conv=conv, user=dave)["t"] == "op_ok"  # seq 3
    a.request("send", cmid="during", conv=conv, body="with dave")  # seq 4
    b = open_client(bob, node="n2")
    assert op(a, "group_remove", conv=conv, user=dave)["t"] == "op_ok"  # seq 5, by the owner
    a.request("send", cmid="after", conv=conv, body="without dave")  # seq 6
    d = open_client(dave, node="n2")
    assert texts(d, conv) == [
        (3, "event", {"op": "group_add", "user": dave, "by": alice}),
        (4, "text", "with dave"),
        (5, "event", {"op": "group_remove", "user": dave, "by": alice}),
    ]
    assert [seq for seq, _, _ in texts(b, conv)] == [1, 2, 3, 4, 5, 6]
    assert d.request("state")["groups"] == []
    assert b.request("state")["groups"] == [conv]
    refused = d.request("send", cmid="late", conv=conv, body="let me in")
    assert (refused["t"], refused["code"]) == ("error", "forbidden")


def test_adding_a_member_twice_or_removing_a_stranger_changes_nothing(
        open_client: Connect, cluster: LocalCluster) -> None:
    alice, bob = unique("alice"), unique("bob")
    conv = f"g:{unique('g')}"
    agree(cluster, alice, bob)
    a = open_client(alice)
    op(a, "group_create", conv=conv, members=[bob])
    assert op(a, "group_add", conv=conv, user=bob)["t"] == "op_ok"
    assert op(a, "group_remove", conv=conv, user=unique("nobody"))["t"] == "op_ok"
    assert [seq for seq, _, _ in texts(a, conv)] == [1]


def test_leaving_a_group(open_client: Connect, cluster: LocalCluster) -> None:
    alice, bob = unique("alice"), unique("bob")
    conv = f"g:{unique('g')}"
    agree(cluster, alice, bob)
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


def test_concurrent_adds_and_sends_keep_members_as_of_each_seq(open_client: Connect,
                                                               cluster: LocalCluster) -> None:
    """Sends pipelined on one node while members are added from the other: every member
    holds exactly the messages from its own add event on, seqs contiguous."""
    alice = unique("alice")
    others = [unique("m") for _ in range(6)]
    conv = f"g:{unique('busy')}"
    agree(cluster, alice, *others)
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


def test_a_user_joins_only_with_their_consent(open_client: Connect,
                                              cluster: LocalCluster) -> None:
    """Consent is having the actor as a contact: a group_create naming anyone who has not
    given it is refused whole; a group_add too; contact_remove takes it back."""
    alice, bob, carol, dave = (unique(n) for n in ("alice", "bob", "carol", "dave"))
    conv = f"g:{unique('consent')}"
    agree(cluster, alice, bob, dave)
    a = open_client(alice)
    refused = op(a, "group_create", conv=conv, members=[bob, carol])
    assert (refused["t"], refused["code"]) == ("error", "forbidden")
    assert f"({carol}) have not added {alice} as a contact" in refused["msg"]
    assert a.request("state")["groups"] == []  # nothing was created
    assert op(a, "group_create", conv=conv, members=[bob])["t"] == "op_ok"
    refused = op(a, "group_add", conv=conv, user=carol)
    assert refused["code"] == "forbidden" and "has not added" in refused["msg"]
    b = open_client(bob, node="n2")
    assert op(b, "group_add", conv=conv, user=dave)["code"] == "forbidden"  # dave agreed
    agree(cluster, bob, dave)  # to alice only; now to bob too
    assert op(b, "group_add", conv=conv, user=dave)["t"] == "op_ok"
    c = open_client(carol, node="n2")
    assert op(c, "contact_add", user=alice)["t"] == "op_ok"
    assert op(c, "contact_remove", user=alice)["t"] == "op_ok"  # and changed her mind
    assert op(a, "group_add", conv=conv, user=carol)["code"] == "forbidden"
    assert c.request("state")["groups"] == []
    assert [body["op"] for _, kind, body in texts(a, conv) if kind == "event"] == [
        "group_create", "group_add"]


def test_only_the_owner_removes_others_and_anyone_may_leave(open_client: Connect,
                                                            cluster: LocalCluster) -> None:
    conv, a, (alice, bob, carol, dave) = new_group(open_client, cluster, "owned")
    b = open_client(bob, node="n2")
    for victim in (alice, carol):
        refused = op(b, "group_remove", conv=conv, user=victim)
        assert (refused["t"], refused["code"]) == ("error", "forbidden")
        assert "only the owner" in refused["msg"]
    assert op(a, "group_remove", conv=conv, user=bob)["t"] == "op_ok"
    assert op(a, "group_remove", conv=conv, user=alice)["t"] == "op_ok"  # the owner leaves
    c = open_client(carol, node="n2")
    assert op(c, "group_remove", conv=conv, user=dave)["code"] == "forbidden"  # no owner now
    assert op(c, "group_remove", conv=conv, user=carol)["t"] == "op_ok"
    assert [(body["user"], body["by"]) for _, kind, body in texts(c, conv)
            if kind == "event" and body["op"] == "group_remove"] == [
        (bob, alice), (alice, alice), (carol, carol)]


def test_a_group_beyond_the_size_limit_is_refused(cluster: LocalCluster, tmp_path: Path) -> None:
    alice, *others = (unique(n) for n in ("alice", "bob", "carol", "dave"))
    conv = f"g:{unique('small')}"
    with own_node(cluster, tmp_path, "--max-group-size", "3") as node, \
            contextlib.ExitStack() as stack:
        agree(cluster, alice, *others, url=node.url)
        a = node.client(stack, alice)
        refused = op(a, "group_create", conv=conv, members=others)
        assert (refused["t"], refused["code"]) == ("error", "forbidden")
        assert f"{conv} would have 4 members, over the limit of 3" in refused["msg"]
        assert op(a, "group_create", conv=conv, members=others[:2])["t"] == "op_ok"
        assert op(a, "group_add", conv=conv, user=others[2])["code"] == "forbidden"
        assert op(a, "group_add", conv=conv, user=others[1])["t"] == "op_ok"  # already in
        assert op(a, "group_remove", conv=conv, user=others[0])["t"] == "op_ok"
        assert op(a, "group_add", conv=conv, user=others[2])["t"] == "op_ok"


def test_group_messages_and_ops_draw_on_a_fanout_budget_per_user(
        cluster: LocalCluster, tmp_path: Path) -> None:
    """10 inbox writes, refilled at 0.01/s (none during the test): a group of 3 costs 3
    per message and per op; a reconnect does not refill it; direct messages cost nothing."""
    alice, bob, carol, dave = (unique(n) for n in ("alice", "bob", "carol", "dave"))
    conv = f"g:{unique('budget')}"
    with own_node(cluster, tmp_path, "--fanout-rate", "0.01", "--fanout-burst", "10") as node, \
            contextlib.ExitStack() as stack:
        agree(cluster, alice, bob, carol, dave, url=node.url)
        a = node.client(stack, alice)
        assert op(a, "group_create", conv=conv, members=[bob, carol])["t"] == "op_ok"  # 7 left
        for i in range(2):  # 4, then 1 left
            assert a.request("send", cmid=f"m{i}", conv=conv, body="hi")["t"] == "send_ack"
        refused = a.request("send", cmid="m2", conv=conv, body="one too many")
        assert (refused["t"], refused["code"]) == ("error", "rate_limited")
        assert "fan-out budget" in refused["msg"] and 100_000 <= refused["retry_after_ms"]
        again = node.client(stack, alice, "laptop").request("send", cmid="m2", conv=conv,
                                                            body="from another device")
        assert again["code"] == "rate_limited"
        refused = op(a, "group_add", conv=conv, user=dave)
        assert (refused["code"], refused["retry_after_ms"] > 0) == ("rate_limited", True)
        direct = a.request("send", cmid="d0", conv=direct_conv(alice, bob), body="still")
        assert direct["t"] == "send_ack"
        assert [seq for seq, _, _ in texts(a, conv)] == [1, 2, 3]


def test_the_owner_names_admins_who_remove_members_but_not_the_owner_or_admins(
        open_client: Connect, cluster: LocalCluster) -> None:
    conv, a, (alice, bob, carol, dave, erin) = new_group(
        open_client, cluster, "ranks", ("alice", "bob", "carol", "dave", "erin"))
    b = open_client(bob, node="n2")
    refused = op(b, "group_role", conv=conv, user=carol, role="admin")
    assert (refused["t"], refused["code"]) == ("error", "forbidden")
    assert f"only the owner of {conv} names or un-names admins" in refused["msg"]
    assert op(a, "group_role", conv=conv, user=bob, role="admin")["t"] == "op_ok"  # seq 2
    assert op(a, "group_role", conv=conv, user=bob, role="admin")["t"] == "op_ok"  # no-op
    assert op(a, "group_role", conv=conv, user=carol, role="admin")["t"] == "op_ok"  # seq 3
    for victim, why in ((alice, "may not remove its owner"),
                        (carol, f"may not remove another admin ({carol}); only the owner")):
        refused = op(b, "group_remove", conv=conv, user=victim)
        assert (refused["t"], refused["code"]) == ("error", "forbidden")
        assert f"{bob} is an admin of {conv} and {why}" in refused["msg"]
    assert op(b, "group_role", conv=conv, user=erin, role="admin")["code"] == "forbidden"
    assert op(b, "group_remove", conv=conv, user=dave)["t"] == "op_ok"  # seq 4, by an admin
    refused = op(a, "group_role", conv=conv, user=alice, role="member")
    assert refused["code"] == "forbidden" and "is the owner" in refused["msg"]
    refused = op(a, "group_role", conv=conv, user=dave, role="admin")
    assert refused["code"] == "forbidden" and f"{dave} is not a member" in refused["msg"]
    assert op(a, "group_role", conv=conv, user=carol, role="member")["t"] == "op_ok"  # seq 5
    assert op(b, "group_remove", conv=conv, user=carol)["t"] == "op_ok"  # seq 6, no more admin
    events = [(seq, body) for seq, kind, body in texts(a, conv) if kind == "event"]
    assert events[1:] == [
        (2, {"op": "group_role", "user": bob, "role": "admin", "by": alice}),
        (3, {"op": "group_role", "user": carol, "role": "admin", "by": alice}),
        (4, {"op": "group_remove", "user": dave, "by": bob}),
        (5, {"op": "group_role", "user": carol, "role": "member", "by": alice}),
        (6, {"op": "group_remove", "user": carol, "by": bob}),
    ]
    e = open_client(erin, node="n2")
    assert [seq for seq, _, _ in texts(e, conv)] == [1, 2, 3, 4, 5, 6]  # every member told
    store = redis.Redis.from_url(cluster.redis_url, decode_responses=True)
    assert store.get(f"c:{conv}:mver") == "6"  # role changes left the members' version
    assert store.smembers(f"c:{conv}:admins") == {bob}


def test_a_removed_or_leaving_admin_is_no_longer_one(open_client: Connect,
                                                     cluster: LocalCluster) -> None:
    conv, a, (_, bob, carol, dave) = new_group(open_client, cluster, "demoted")
    b, c = open_client(bob, node="n2"), open_client(carol, node="n2")
    for admin in (bob, carol):
        assert op(a, "group_role", conv=conv, user=admin, role="admin")["t"] == "op_ok"
    assert op(a, "group_remove", conv=conv, user=bob)["t"] == "op_ok"  # removed by the owner
    assert op(c, "group_remove", conv=conv, user=carol)["t"] == "op_ok"  # left
    for user in (bob, carol):
        assert op(a, "group_add", conv=conv, user=user)["t"] == "op_ok"
    for admin in (b, c):
        refused = op(admin, "group_remove", conv=conv, user=dave)
        assert refused["code"] == "forbidden" and "only the owner or an admin" in refused["msg"]
    assert op(a, "group_role", conv=conv, user=bob, role="admin")["t"] == "op_ok"
    assert op(b, "group_remove", conv=conv, user=dave)["t"] == "op_ok"


def test_a_role_op_names_a_role_of_the_protocol(open_client: Connect) -> None:
    a = open_client(unique("alice"))
    conv = f"g:{unique('g')}"
    op(a, "group_create", conv=conv, members=[])
    for role in ("owner", "", 3):
        reply = op(a, "group_role", conv=conv, user=unique("bob"), role=role)
        assert (reply["t"], reply["code"]) == ("error", "bad_frame")
        assert "args.role" in reply["msg"]
    assert op(a, "group_role", conv=direct_conv("x", "y"), user="x", role="admin")["code"] == \
        "bad_frame"


def test_the_open_groups_bug_mode_lets_any_member_change_roles(cluster: LocalCluster,
                                                              tmp_path: Path) -> None:
    alice, bob, carol = (unique(n) for n in ("alice", "bob", "carol"))
    conv = f"g:{unique('open')}"
    with own_node(cluster, tmp_path, "--bug", "open-groups") as node, \
            contextlib.ExitStack() as stack:
        a = node.client(stack, alice)
        assert op(a, "group_create", conv=conv, members=[bob, carol])["t"] == "op_ok"
        b = node.client(stack, bob)
        assert op(b, "group_role", conv=conv, user=carol, role="admin")["t"] == "op_ok"
        assert op(b, "group_remove", conv=conv, user=alice)["t"] == "op_ok"
        assert op(b, "group_role", conv=conv, user=alice, role="admin")["code"] == "forbidden"
