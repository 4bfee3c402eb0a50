"""Durability (the store, reference_server/store.py): a node killed with SIGKILL in the
middle of a send burst, and the store killed with SIGKILL and restarted from its
append-only file, lose no message that got a send_ack; retries with the same cmid store
nothing twice. Checked by syncing every member's inbox from 0."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import Connect, WsClient, agree, client_factory, unique
from websockets.exceptions import ConnectionClosed

from imload.cluster import LocalCluster
from imload.protocol import direct_conv

pytestmark = pytest.mark.integration

PER_SENDER = 200


def all_msgs(c: WsClient) -> list[dict[str, Any]]:
    msgs: list[dict[str, Any]] = []
    after = 0
    while True:
        batch = c.request("sync", after=after, limit=1000)
        msgs += batch["msgs"]
        after = batch["upto"]
        if not batch["more"]:
            return msgs


def retry_until(what: str, attempt: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Call ``attempt`` until it returns a truthy value (store errors on the way are fine)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            got = attempt()
            if got:
                return got
        except (ConnectionClosed, OSError, AssertionError, KeyError):
            pass
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(0.1)


def burst(senders: list[tuple[WsClient, str, str]], kill: Callable[[], None]
          ) -> dict[str, dict[str, Any]]:
    """Pipeline PER_SENDER sends on each sender, kill mid-way: once every sender has an
    ack. A node pipelines the sends of a direct chat, so those go much faster than a
    group's: the sends are interleaved, a group's first. Return the acks by cmid."""
    groups_first = sorted(senders, key=lambda s: not s[2].startswith("g:"))
    for i in range(PER_SENDER):
        for c, prefix, conv in groups_first:
            c.send({"t": "send", "rid": 10_000 + i, "cmid": f"{prefix}{i}", "conv": conv,
                    "body": f"{prefix} {i}"})
    acks: dict[str, dict[str, Any]] = {}
    answered: Counter[int] = Counter()
    acked: Counter[int] = Counter()
    reading = set(range(len(senders)))
    killed = False
    deadline = time.monotonic() + 60
    while reading:
        assert time.monotonic() < deadline, "the burst stalled"
        for i in sorted(reading):
            try:
                frame = senders[i][0].recv(timeout=0.02)
            except TimeoutError:
                continue
            except ConnectionClosed:
                reading.discard(i)
                continue
            if frame.get("rid", 0) >= 10_000:
                answered[i] += 1
                if frame["t"] == "send_ack":
                    acks[frame["cmid"]] = frame
                    acked[i] += 1
                if answered[i] == PER_SENDER:
                    reading.discard(i)
            if not killed and len(acked) == len(senders):
                kill()
                killed = True
    assert killed and 0 < len(acks) < len(senders) * PER_SENDER, len(acks)
    return acks


def check_inbox(c: WsClient, user: str, acks: dict[str, dict[str, Any]],
                sent: dict[str, str]) -> None:
    """Every acked message of the user's conversations once; useq and seqs contiguous."""
    msgs = all_msgs(c)
    assert [m["useq"] for m in msgs] == list(range(1, len(msgs) + 1))
    seqs: dict[str, list[int]] = {}
    for m in msgs:
        seqs.setdefault(m["conv"], []).append(m["seq"])
    for conv, got in seqs.items():
        assert got == list(range(1, len(got) + 1)), (user, conv)
    counts = Counter(m["mid"] for m in msgs)
    mine = [a for cmid, a in acks.items() if user in sent[cmid]]
    assert mine
    lost = [a["cmid"] for a in mine if counts[a["mid"]] != 1]
    assert not lost, f"{user}: acked but not held exactly once: {lost[:5]}"
    by_cmid = Counter(m["cmid"] for m in msgs)
    assert all(n == 1 for n in by_cmid.values()), "a cmid stored twice"


def run_drill(tmp_path: Path, kill_part: str) -> None:
    c = LocalCluster(tmp_path, nodes=2)
    c.start()
    try:
        with client_factory(c) as open_client:
            drill(c, open_client, kill_part)
    finally:
        c.stop()
    for name in ("n1", "n2"):
        assert "Traceback" not in Path(c.parts[name].log).read_text()


def drill(c: LocalCluster, open_client: Connect, kill_part: str) -> None:
    alice, bob, carol = unique("alice"), unique("bob"), unique("carol")
    direct, group = direct_conv(alice, bob), f"g:{unique('crew')}"
    agree(c, carol, alice, bob)
    creator = open_client(carol, "c0", node="n2")
    assert creator.request("op", opid="mk", kind="group_create",
                           args={"conv": group, "members": [alice, bob]})["t"] == "op_ok"
    senders = [(open_client(alice, "a1", node="n1"), "a1-", direct),
               (open_client(alice, "a2", node="n1"), "a2-", direct),
               (open_client(carol, "c1", node="n1"), "c1-", group)]
    members = {direct: (alice, bob), group: (alice, bob, carol)}
    sent = {f"{p}{i}": " ".join(members[conv]) for _, p, conv in senders
            for i in range(PER_SENDER)}
    acks = burst(senders, lambda: c.kill_part(kill_part))
    c.restart_part(kill_part)

    def fresh(user: str, device: str) -> WsClient:
        return retry_until(f"login of {user}", lambda: open_client(user, device, node="n2"))

    for user in (alice, bob, carol):
        reader = fresh(user, "auditor")
        retry_until(f"sync of {user}", lambda r=reader, u=user: check_inbox(r, u, acks, sent)
                    or True)
    # the senders retry what was not acked, with the same cmids: each is stored once
    for (_, prefix, conv), user, device in zip(senders, (alice, alice, carol),
                                               ("a1", "a2", "c1"), strict=True):
        again = fresh(user, device)
        for i in range(PER_SENDER):
            cmid = f"{prefix}{i}"
            reply = retry_until(f"retry of {cmid}", lambda a=again, m=cmid, v=conv: (
                r if (r := a.request("send", cmid=m, conv=v, body=m)).get("t") == "send_ack"
                else None))
            if cmid in acks:
                assert reply["dup"] is True and reply["mid"] == acks[cmid]["mid"]
            acks[cmid] = reply
    for user in (alice, bob, carol):
        check_inbox(fresh(user, "auditor2"), user, acks, sent)


def test_a_node_killed_mid_burst_loses_no_acked_message(tmp_path: Path) -> None:
    run_drill(tmp_path, "n1")


def test_the_store_killed_mid_burst_and_restarted_from_its_aof_loses_nothing(
        tmp_path: Path) -> None:
    run_drill(tmp_path, "redis")
