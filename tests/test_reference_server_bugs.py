"""Bug modes (reference_server/bugs.py): each is off by default, refused unless named, and
breaks the node in exactly the way its line in ``BUGS`` says."""

from __future__ import annotations

import contextlib
import itertools
from pathlib import Path

import pytest
from conftest import own_node, unique

from imload.cluster import LocalCluster
from imload.protocol import direct_conv
from reference_server.bugs import BUGS, BugSet, UnknownBug

pytestmark = pytest.mark.integration


def test_the_registry_and_the_set() -> None:
    assert set(BUGS) == {"lose-offline", "no-dedup", "racy-seq", "lww-read"}
    assert not BugSet() and BugSet(["racy-seq"]).has("racy-seq")
    assert not BugSet(["racy-seq"]).has("no-dedup")
    with pytest.raises(UnknownBug, match="known: lose-offline, lww-read"):
        BugSet(["nope"])


def test_lose_offline_removes_pushed_entries(cluster: LocalCluster, tmp_path: Path) -> None:
    alice, bob = unique("alice"), unique("bob")
    conv = direct_conv(alice, bob)
    with own_node(cluster, tmp_path, "--bug", "lose-offline") as node, \
            contextlib.ExitStack() as st:
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
    with own_node(cluster, tmp_path, "--bug", "no-dedup", "--seed", "3") as node, \
            contextlib.ExitStack() as st:
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
    with own_node(cluster, tmp_path) as node, contextlib.ExitStack() as st:
        a = node.client(st, alice)
        first = a.request("send", cmid="same", conv=direct_conv(alice, bob), body="x")
        again = a.request("send", cmid="same", conv=direct_conv(alice, bob), body="x")
        assert again["dup"] is True and again["mid"] == first["mid"]


def test_racy_seq_gives_two_messages_one_seq(cluster: LocalCluster, tmp_path: Path) -> None:
    alice, bob = unique("alice"), unique("bob")
    conv = direct_conv(alice, bob)
    with own_node(cluster, tmp_path, "--bug", "racy-seq") as node, \
            contextlib.ExitStack() as st:
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
    with own_node(cluster, tmp_path, "--bug", "lww-read") as node, \
            contextlib.ExitStack() as st:
        a = node.client(st, alice, "phone")
        laptop = node.client(st, alice, "laptop")
        for i in range(5):
            a.request("send", cmid=f"c{i}", conv=conv, body="x")
        assert a.request("read", conv=conv, upto=5)["upto"] == 5
        assert laptop.request("read", conv=conv, upto=2)["upto"] == 2  # went down
        assert a.expect("read_sync")["upto"] == 2
        assert a.request("reads")["marks"] == {conv: 2}
