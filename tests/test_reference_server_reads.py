"""Read markers (reference_server/reads.py): read_ok carries the stored marker, which only
grows; read_sync reaches the user's other devices on every node; receipts reach the other
members; reads_ok lists every marker."""

from __future__ import annotations

import time

import pytest
from conftest import Connect, WsClient, unique
from test_reference_server_groups import new_group

from imload.cluster import LocalCluster
from imload.protocol import direct_conv

pytestmark = pytest.mark.integration


def chat(c: WsClient, conv: str, n: int) -> None:
    for i in range(n):
        assert c.request("send", cmid=f"{conv}-{i}", conv=conv, body=str(i))["t"] == "send_ack"


def test_a_read_reaches_the_other_devices_and_the_other_member(open_client: Connect) -> None:
    alice, bob = unique("alice"), unique("bob")
    conv = direct_conv(alice, bob)
    phone = open_client(alice, "phone", node="n1")
    laptop = open_client(alice, "laptop", node="n2")
    tablet = open_client(alice, "tablet", node="n1")
    b = open_client(bob, node="n2")
    chat(b, conv, 3)
    before = int(time.time() * 1000)
    reply = phone.request("read", conv=conv, upto=2)
    after = int(time.time() * 1000)
    assert reply == {"t": "read_ok", "rid": reply["rid"], "conv": conv, "upto": 2}
    pushes = [other.expect("read_sync") for other in (laptop, tablet)]
    stamp = pushes[0]["server_ts"]  # the node's clock when it took the read (no skew here)
    assert before <= stamp <= after
    for push in pushes:
        assert push == {"t": "read_sync", "conv": conv, "upto": 2, "device": "phone",
                        "server_ts": stamp}
    assert b.expect("receipt") == {"t": "receipt", "conv": conv, "user": alice, "upto": 2,
                                   "server_ts": stamp}
    phone.request("ping")
    assert not [f for f in phone.pushes if f["t"] == "read_sync"]  # not to the reader
    assert laptop.request("reads")["marks"] == {conv: 2}


def test_the_marker_only_grows_and_stops_at_the_last_seq(open_client: Connect) -> None:
    alice, bob = unique("alice"), unique("bob")
    conv = direct_conv(alice, bob)
    a = open_client(alice, node="n1")
    chat(a, conv, 5)
    assert a.request("read", conv=conv, upto=4)["upto"] == 4
    assert a.request("read", conv=conv, upto=2)["upto"] == 4  # lower: the stored value
    assert a.request("read", conv=conv, upto=99)["upto"] == 5  # past the end: the last seq
    laptop = open_client(alice, "laptop", node="n2")
    assert laptop.request("reads") == {"t": "reads_ok", "rid": 2, "marks": {conv: 5}}


def test_group_receipts_go_to_every_other_member(open_client: Connect,
                                                 cluster: LocalCluster) -> None:
    conv, a, (_, bob, carol) = new_group(open_client, cluster, "readers",
                                         ("alice", "bob", "carol"))
    b = open_client(bob, node="n2")
    c = open_client(carol, node="n1")
    chat(a, conv, 2)
    assert c.request("read", conv=conv, upto=3)["upto"] == 3
    for other in (a, b):
        receipt = other.expect("receipt")
        assert receipt == {"t": "receipt", "conv": conv, "user": carol, "upto": 3,
                           "server_ts": receipt["server_ts"]}
        assert isinstance(receipt["server_ts"], int)
    assert c.request("reads")["marks"] == {conv: 3}


def test_reads_lists_every_conversation(open_client: Connect) -> None:
    alice = unique("alice")
    a = open_client(alice)
    convs = [direct_conv(alice, unique("p")) for _ in range(3)]
    for i, conv in enumerate(convs):
        chat(a, conv, i + 1)
        a.request("read", conv=conv, upto=i + 1)
    assert a.request("reads")["marks"] == {conv: i + 1 for i, conv in enumerate(convs)}
    assert open_client(unique("new")).request("reads")["marks"] == {}


def test_reading_a_conversation_one_is_not_in_is_forbidden(open_client: Connect) -> None:
    a = open_client(unique("alice"))
    for conv in (direct_conv(unique("x"), unique("y")), f"g:{unique('nosuch')}"):
        reply = a.request("read", conv=conv, upto=1)
        assert (reply["t"], reply["code"]) == ("error", "forbidden")
    assert a.request("reads")["marks"] == {}


@pytest.mark.parametrize(("fields", "words"), [
    ({"conv": "dm:x", "upto": 1}, "'conv'"),
    ({"conv": "d:a:b", "upto": -1}, "'upto'"),
    ({"conv": "d:a:b", "upto": "1"}, "'upto'"),
    ({"upto": 1}, "'conv'"),
])
def test_bad_reads_answer_bad_frame(open_client: Connect, fields: dict[str, object],
                                    words: str) -> None:
    reply = open_client().request("read", **fields)
    assert (reply["t"], reply["code"]) == ("error", "bad_frame") and words in reply["msg"]
