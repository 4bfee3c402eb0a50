"""Bug modes (reference_server/bugs.py): each is off by default, refused unless named, and
breaks the node in exactly the way its line in ``BUGS`` says."""

from __future__ import annotations

import contextlib
import itertools
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import OwnNode, RawWs, WsClient, agree, own_node, unique

from imload.audit import _delivery
from imload.client import DeviceEngine, Record, SendFrame
from imload.client.core import EngineCore
from imload.client.e2e import KeyDirectory, Sealer
from imload.cluster import LocalCluster
from imload.journal import body_digest, event_problem
from imload.protocol import direct_conv, mint_token
from reference_server.bugs import BUGS, BugSet, UnknownBug, tampered
from reference_server.member_cache import STALE_MEMBERS_S, MemberCache

pytestmark = pytest.mark.integration


@contextlib.contextmanager
def node_and_stack(cluster: LocalCluster, tmp: Path, *args: str
                   ) -> Iterator[tuple[OwnNode, contextlib.ExitStack]]:
    """A node of its own with ``args`` (``own_node``), and a stack its clients close on."""
    with own_node(cluster, tmp, *args) as node, contextlib.ExitStack() as st:
        yield node, st


def test_the_registry_and_the_set() -> None:
    assert {"lose-offline", "no-dedup", "racy-seq", "lww-read", "stale-members",
            "terse-events", "op-reorder"} <= set(BUGS)
    assert not BugSet() and BugSet(["racy-seq"]).has("racy-seq")
    assert not BugSet(["racy-seq"]).has("no-dedup")
    with pytest.raises(UnknownBug, match="known: alg-none, any-audience, frame-user"):
        BugSet(["nope"])


def test_lose_offline_removes_pushed_entries(cluster: LocalCluster, tmp_path: Path) -> None:
    alice, bob = unique("alice"), unique("bob")
    conv = direct_conv(alice, bob)
    with node_and_stack(cluster, tmp_path, "--bug", "lose-offline") as (node, st):
        a = node.client(st, alice)
        b = node.client(st, bob, "phone")
        ack = a.request("send", cmid="c1", conv=conv, body="lost")
        assert b.push()["mid"] == ack["mid"]
        assert a.push()["mid"] == ack["mid"]
        a.request("send", cmid="c2", conv=conv, body="kept")  # b's entry 2 also pushed
        b.push()
        b.request("ping")  # the node drops an entry before pushing it
        assert b.request("sync", after=0)["msgs"] == []
        laptop = node.client(st, bob, "laptop")  # was offline: never gets them
        assert laptop.login_ok is not None and laptop.login_ok["inbox_seq"] == 2
        assert laptop.request("sync", after=0)["msgs"] == []


def test_no_dedup_stores_a_retry_again_and_drops_some_acks(cluster: LocalCluster,
                                                           tmp_path: Path) -> None:
    alice, bob = unique("alice"), unique("bob")
    conv = direct_conv(alice, bob)
    with node_and_stack(cluster, tmp_path, "--bug", "no-dedup", "--seed", "3") as (node, st):
        a = node.client(st, alice)
        n = 400
        for i in range(n):
            a.send({"t": "send", "rid": 10 + i, "cmid": f"c{i}", "conv": conv, "body": "x"})
        pong = a.request("ping")  # handled after every send
        acks = [f for f in a.pushes if f["t"] == "send_ack"]
        assert pong["t"] == "pong" and 0 < n - len(acks) < 20  # about 1 % dropped
        missing = sorted(set(range(n)) - {int(f["cmid"][1:]) for f in acks})
        retry = a.request("send", cmid=f"c{missing[0]}", conv=conv, body="x")
        while retry["t"] != "send_ack":  # the retry's own ack may be dropped too
            retry = a.request("send", cmid=f"c{missing[0]}", conv=conv, body="x")
        assert retry["dup"] is False and retry["seq"] > n
        b = node.client(st, bob)
        cmids = [m["cmid"] for m in b.request("sync", after=0, limit=1000)["msgs"]]
        assert cmids.count(f"c{missing[0]}") >= 2  # one logical send, stored twice


def test_no_dedup_is_off_by_default(cluster: LocalCluster, tmp_path: Path) -> None:
    alice, bob = unique("alice"), unique("bob")
    with node_and_stack(cluster, tmp_path) as (node, st):
        a = node.client(st, alice)
        first = a.request("send", cmid="same", conv=direct_conv(alice, bob), body="x")
        again = a.request("send", cmid="same", conv=direct_conv(alice, bob), body="x")
        assert again["dup"] is True and again["mid"] == first["mid"]


def test_racy_seq_gives_two_messages_one_seq(cluster: LocalCluster, tmp_path: Path) -> None:
    alice, bob = unique("alice"), unique("bob")
    conv = direct_conv(alice, bob)
    with node_and_stack(cluster, tmp_path, "--bug", "racy-seq") as (node, st):
        a = node.client(st, alice)
        b = node.client(st, bob)
        rids = itertools.count(10)
        for i in range(20):  # two devices, pipelined, into one conversation
            a.send({"t": "send", "rid": next(rids), "cmid": f"a{i}", "conv": conv, "body": "a"})
            b.send({"t": "send", "rid": next(rids), "cmid": f"b{i}", "conv": conv, "body": "b"})
        seqs = [c.expect("send_ack")["seq"] for c in (a, b) for _ in range(20)]
        assert len(set(seqs)) < len(seqs), "no two sends shared a seq"
        stored = [m["seq"] for m in b.request("sync", after=0, limit=1000)["msgs"]]
        assert len(stored) == 40 and len(set(stored)) < 40


def test_lww_read_lets_a_late_lower_read_win(cluster: LocalCluster, tmp_path: Path) -> None:
    alice, bob = unique("alice"), unique("bob")
    conv = direct_conv(alice, bob)
    with node_and_stack(cluster, tmp_path, "--bug", "lww-read") as (node, st):
        a = node.client(st, alice, "phone")
        laptop = node.client(st, alice, "laptop")
        for i in range(5):
            a.request("send", cmid=f"c{i}", conv=conv, body="x")
        assert a.request("read", conv=conv, upto=5)["upto"] == 5
        assert laptop.request("read", conv=conv, upto=2)["upto"] == 2  # went down
        assert a.expect("read_sync")["upto"] == 2
        assert a.request("reads")["marks"] == {conv: 2}


def op(c: WsClient, kind: str, **args: Any) -> dict[str, Any]:
    return c.request("op", opid=unique("op"), kind=kind, args=args)


def seqs(c: WsClient, conv: str) -> list[tuple[int, str]]:
    """(seq, kind) of every entry of ``conv`` in the user's inbox, by a sync from the start."""
    msgs = c.request("sync", after=0, limit=1000)["msgs"]
    return [(m["seq"], m["kind"]) for m in msgs if m["conv"] == conv]


def join_then_send(node: OwnNode, st: contextlib.ExitStack
                   ) -> tuple[str, WsClient, WsClient, WsClient, WsClient]:
    """alice makes a group with bob and writes to it (seq 2), adds carol (seq 3) and, as
    soon as carol's device has the add event, writes again (seq 4); then she removes bob
    (seq 5) and writes a third time (seq 6). The group, alice, bob, carol and carol's
    laptop (logged in afterwards)."""
    alice, bob, carol = unique("alice"), unique("bob"), unique("carol")
    conv = f"g:{unique('team')}"
    a, b, c = node.client(st, alice), node.client(st, bob), node.client(st, carol)
    for member in (b, c):  # their consent to be added (docs/protocol.md, "Groups")
        assert op(member, "contact_add", user=alice)["t"] == "op_ok"
    assert op(a, "group_create", conv=conv, members=[bob])["t"] == "op_ok"
    assert a.request("send", cmid="before", conv=conv, body="x")["seq"] == 2
    assert op(a, "group_add", conv=conv, user=carol)["t"] == "op_ok"
    assert c.push()["body"] == {"op": "group_add", "user": carol, "by": alice}
    ack = a.request("send", cmid="after-join", conv=conv, body="y")
    assert ack["t"] == "send_ack" and ack["seq"] == 4 and ack["dup"] is False
    assert op(a, "group_remove", conv=conv, user=bob)["t"] == "op_ok"
    assert a.request("send", cmid="after-leave", conv=conv, body="z")["seq"] == 6
    return conv, a, b, c, node.client(st, carol, "laptop")


def test_stale_members_leaves_a_new_member_out(cluster: LocalCluster, tmp_path: Path) -> None:
    with node_and_stack(cluster, tmp_path, "--bug", "stale-members") as (node, st):
        conv, a, b, c, laptop = join_then_send(node, st)  # well within STALE_MEMBERS_S
        assert seqs(a, conv) == [(1, "event"), (2, "text"), (3, "event"), (4, "text"),
                                 (5, "event"), (6, "text")]
        assert seqs(b, conv) == [(1, "event"), (2, "text"), (3, "event"), (4, "text"),
                                 (5, "event")]  # a removal counts at once
        # carol is a member since seq 3 and gets the events, but not the send_ack'd
        # messages 4 and 6: not pushed, not in her inbox, so no sync brings them
        assert seqs(c, conv) == [(3, "event"), (5, "event")]
        assert seqs(laptop, conv) == [(3, "event"), (5, "event")]


def test_the_same_join_is_honoured_without_the_bug(cluster: LocalCluster,
                                                   tmp_path: Path) -> None:
    with node_and_stack(cluster, tmp_path) as (node, st):
        conv, _, _, c, laptop = join_then_send(node, st)
        for dev in (c, laptop):
            assert seqs(dev, conv) == [(3, "event"), (4, "text"), (5, "event"), (6, "text")]


def test_the_member_cache_refreshes_only_when_old() -> None:
    now = [0.0]
    cache = MemberCache(clock=lambda: now[0])
    assert cache.fanout("g:x", ["a", "b"]) == ["a", "b"]
    now[0] = STALE_MEMBERS_S - 0.1
    assert cache.fanout("g:x", ["a", "b", "c"]) == ["a", "b"]  # c joined: left out
    assert cache.fanout("g:x", ["b", "c"]) == ["b"]  # a left: out at once
    assert cache.fanout("d:a:b", ["a", "b"]) == ["a", "b"]  # direct chats as they are
    now[0] = STALE_MEMBERS_S
    assert cache.fanout("g:x", ["a", "b", "c"]) == ["a", "b", "c"]


def engine_deliveries(user: str, login_ok: dict[str, Any], frames: list[dict[str, Any]],
                      monkeypatch: pytest.MonkeyPatch
                      ) -> tuple[DeviceEngine, list[dict[str, Any]]]:
    """A client engine fed ``frames`` (pushes), and the ``deliver`` events it recorded."""
    monkeypatch.setattr(EngineCore, "check_events", True)  # every event against the schema
    engine = DeviceEngine(user, "d1", "token", ["ws://node/ws"], rng=random.Random(1))
    engine.start(0.0)
    engine.transport_open(0.1)
    (login,) = [a.frame for a in engine.actions()
                if isinstance(a, SendFrame) and a.frame["t"] == "login"]
    engine.frame_received({**login_ok, "rid": login["rid"]}, 0.2)
    for f in frames:
        engine.frame_received(f, 0.3)
    assert engine.bad_frames == 0
    return engine, [a.event for a in engine.actions()
                    if isinstance(a, Record) and a.event["ev"] == "deliver"]


def test_terse_events_word_membership_as_strings(cluster: LocalCluster, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    alice, bob, carol = unique("alice"), unique("bob"), unique("carol")
    conv = f"g:{unique('team')}"
    with node_and_stack(cluster, tmp_path, "--bug", "terse-events") as (node, st):
        a, b = node.client(st, alice), node.client(st, bob)
        agree(cluster, alice, bob, carol, url=node.url)
        assert op(a, "group_create", conv=conv, members=[bob])["t"] == "op_ok"
        assert op(a, "group_add", conv=conv, user=carol)["t"] == "op_ok"
        assert op(a, "group_remove", conv=conv, user=bob)["t"] == "op_ok"
        pushes = [b.push() for _ in range(3)]
        synced = b.request("sync", after=0)["msgs"]
        assert b.login_ok is not None
    bodies = [m["body"] for m in synced]
    assert bodies == [f'{{"op": "group_create", "user": "{alice}"}}',
                      f"group_add {carol} by {alice}", f"group_remove {bob} by {alice}"]
    assert [m["kind"] for m in synced] == ["event"] * 3
    assert [m["body"] for m in pushes] == bodies
    # the client (and the audit's sync) record what they got: no ``event`` object, the
    # text as ``event_text``, a well-formed journal event
    engine, recorded = engine_deliveries(bob, b.login_ok, pushes, monkeypatch)
    audited = [_delivery(m, bob, "d1", 1.0) for m in synced]
    for got in (recorded, audited):
        assert [e["event_text"] for e in got] == bodies
        for e in got:
            assert event_problem(e) is None and e["kind"] == "event" and "event" not in e, e
    # an unreadable event still tells the device it is in the group (so it writes there)
    assert engine.in_group(conv) is True
    assert engine_deliveries(bob, b.login_ok, [], monkeypatch)[0].in_group(conv) is None


def test_op_reorder_applies_a_flush_read_in_one_go_newest_first(cluster: LocalCluster,
                                                               tmp_path: Path) -> None:
    """20 ops of one device written at once (a pipelined flush of its offline queue): the
    node answers each once but applies them in reverse order, so the contact that the
    ops added and removed in turn ends present, where their fold says absent."""
    alice, bob = unique("alice"), unique("bob")
    frames = [{"t": "op", "rid": 10 + i, "opid": f"p{i}",
               "kind": "contact_add" if i % 2 == 0 else "contact_remove", "args": {"user": bob}}
              for i in range(20)]  # add, remove, ..., remove: the fold has no bob
    with own_node(cluster, tmp_path, "--bug", "op-reorder") as node:
        raw = RawWs(node.port)
        try:
            raw.send_json({"t": "login", "rid": 1,
                           "token": mint_token(node.secret, alice, "phone")})
            assert raw.read_json()["t"] == "login_ok"
            raw.send_together([*frames, {"t": "state", "rid": 99}])
            replies = [raw.read_json() for _ in range(21)]
            raw.send_json({"t": "op", "rid": 100, "opid": "alone", "kind": "contact_remove",
                           "args": {"user": bob}})  # an op that comes alone: as it should
            alone = raw.read_json()
            raw.send_json({"t": "state", "rid": 101})
            after = raw.read_json()
        finally:
            raw.close()
    oks = replies[:20]
    assert all(r["t"] == "op_ok" and r["dup"] is False for r in oks)  # each applied once
    assert [r["rid"] for r in oks] == [f["rid"] for f in reversed(frames)]  # newest first
    assert replies[20]["t"] == "state_ok" and replies[20]["contacts"] == [bob]  # op p0 won
    assert alone["t"] == "op_ok" and after["contacts"] == []


def test_tamper_body_alters_stored_bodies_caught_as_corrupted_or_undecryptable(
        cluster: LocalCluster, tmp_path: Path) -> None:
    """A direct message and a group message are both stored altered (a bug mode keeps the
    one-at-a-time write path: session.py): a plain body is journaled with another digest
    (corrupted), an end-to-end sealed one as undecryptable."""
    alice, bob = unique("alice"), unique("bob")
    conv, group = direct_conv(alice, bob), f"g:{unique('team')}"
    keys = KeyDirectory(3)
    mine, bobs = Sealer(keys, alice), Sealer(keys, bob)
    with node_and_stack(cluster, tmp_path, "--bug", "tamper-body") as (node, st):
        a, b = node.client(st, alice), node.client(st, bob, "phone")
        assert op(b, "contact_add", user=alice)["t"] == "op_ok"
        assert op(a, "group_create", conv=group, members=[bob])["t"] == "op_ok"
        for cmid, to, body in (("p1", conv, "plain words"),
                               ("s1", conv, mine.seal(conv, "s1", "sealed words")),
                               ("s2", group, mine.seal(group, "s2", "group words"))):
            assert a.request("send", cmid=cmid, conv=to, body=body)["t"] == "send_ack"
        got = {m["cmid"]: m for m in b.request("sync", after=0)["msgs"] if m["kind"] == "text"}
    assert got["p1"]["body"] == tampered("plain words") != "plain words"
    plain = _delivery(got["p1"], bob, "phone", 1.0)
    assert plain["digest"] != body_digest("plain words") and "undecryptable" not in plain
    for cmid in ("s1", "s2"):
        sealed = _delivery(got[cmid], bob, "phone", 1.0, sealer=bobs)
        assert sealed["undecryptable"] is True and sealed["digest"] is None, cmid
        assert bobs.open(got[cmid]["conv"], alice, got[cmid]["body"]) is None


def test_sealed_bodies_pass_a_correct_node_untouched(cluster: LocalCluster,
                                                     tmp_path: Path) -> None:
    alice, bob = unique("alice"), unique("bob")
    conv = direct_conv(alice, bob)
    keys = KeyDirectory(3)
    wire = Sealer(keys, alice).seal(conv, "s1", "sealed words")
    with node_and_stack(cluster, tmp_path) as (node, st):
        a, b = node.client(st, alice), node.client(st, bob, "phone")
        assert a.request("send", cmid="s1", conv=conv, body=wire)["t"] == "send_ack"
        (m,) = b.request("sync", after=0)["msgs"]
    assert m["body"] == wire  # the server stores and forwards the envelope as it came
    assert Sealer(keys, bob).open(conv, alice, m["body"]) == "sealed words"
