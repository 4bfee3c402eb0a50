"""The reference node against protocol v1, on a real cluster (redis, toxiproxy, 2 nodes)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import Connect, RawWs, client_factory, own_node, unique

from imload.cluster import LocalCluster
from imload.protocol import direct_conv, mint_token

pytestmark = pytest.mark.integration


def test_healthz_answers_200(cluster: LocalCluster) -> None:
    port = cluster.parts["n1"].port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
        assert r.status == 200
        assert r.read().decode().strip() == "ok n1"


def test_login_ok_carries_the_session_facts(open_client: Connect) -> None:
    user = unique()
    c = open_client(user, "phone", node="n2")
    ok = c.login_ok
    assert ok is not None
    assert {k: ok[k] for k in ("t", "rid", "user", "device", "node", "hb_ms", "inbox_seq",
                               "acked")} == {
        "t": "login_ok", "rid": 1, "user": user, "device": "phone", "node": "n2",
        "hb_ms": 10_000, "inbox_seq": 0, "acked": 0}
    assert abs(ok["server_ts"] - time.time() * 1000) < 60_000


@pytest.mark.parametrize("token", ["garbage", "wrong-secret", "expired"])
def test_bad_token_is_refused_and_closed_4002(open_client: Connect, token: str) -> None:
    tokens = {"garbage": "not.a.jwt",
              "wrong-secret": mint_token("another-secret-" * 3, "alice", "phone"),
              "expired": mint_token("x" * 32, "alice", "phone", ttl_s=10, now=time.time() - 3600)}
    c = open_client(login=False)
    reply = c.request("login", token=tokens[token], ts=1)
    assert reply["t"] == "error" and reply["code"] == "unauthenticated"
    assert c.closed_with() == 4002


def test_frames_before_login_are_unauthenticated_and_the_node_serves_on(
        open_client: Connect, cluster: LocalCluster) -> None:
    c = open_client(login=False)
    reply = c.request("send", cmid="c1", conv="d:a:b", body="hi")
    assert (reply["t"], reply["code"]) == ("error", "unauthenticated")
    assert c.login(cluster.secret, unique(), "d1")["t"] == "login_ok"
    assert c.request("ping", ts=5)["t"] == "pong"


@pytest.mark.parametrize(("frame", "code", "rid"), [
    ("not json", "bad_frame", None),
    ("[1, 2]", "bad_frame", None),
    ('{"rid": 7}', "bad_frame", 7),
    ('{"t": "dance", "rid": 8}', "unknown_type", 8),
    ('{"t": "send", "rid": 9, "cmid": "c", "conv": 5, "body": "x"}', "bad_frame", 9),
    ('{"t": "send", "rid": 10, "cmid": "c", "conv": "d:a:b"}', "bad_frame", 10),
    ('{"t": "sync", "rid": "eleven", "after": 0}', "bad_frame", None),
    ('{"t": "ack", "upto": "3"}', "bad_frame", None),
    ('{"t": "send", "rid": 12, "cmid": "c", "conv": "dm:a", "body": "x"}', "bad_frame", 12),
    ('{"t": "sync", "rid": 13, "after": 0, "limit": 0}', "bad_frame", 13),
    (b"\x00\x01binary", "bad_frame", None),
])
def test_bad_frames_get_an_error_and_the_connection_stays_usable(
        open_client: Connect, frame: str | bytes, code: str, rid: int | None) -> None:
    c = open_client()
    c.send(frame)
    reply = c.recv()
    assert reply["t"] == "error" and reply["code"] == code, reply
    assert reply.get("rid") == rid
    assert reply["msg"]
    assert c.request("ping", ts=1)["t"] == "pong"


def test_more_than_20_bad_frames_close_1008(open_client: Connect) -> None:
    c = open_client()
    for _ in range(20):
        c.send("{oops")
        assert c.recv()["code"] == "bad_frame"
    assert c.request("ping")["t"] == "pong"
    c.send("{oops")
    assert c.closed_with() == 1008
    assert [f["code"] for f in c.pushes] == ["bad_frame"]


def test_a_frame_over_the_limit_closes_1009(open_client: Connect) -> None:
    c = open_client()
    c.send(json.dumps({"t": "ping", "rid": 1, "pad": "x" * (64 * 1024)}))
    assert c.closed_with() == 1009


def test_a_text_frame_that_is_not_utf8_closes_1007(cluster: LocalCluster) -> None:
    raw = RawWs(cluster.parts["n1"].port)
    raw.send_json({"t": "login", "rid": 1, "token": mint_token(cluster.secret, unique(), "d")})
    assert raw.read_json()["t"] == "login_ok"
    raw.send_frame(b'{"t": "ping", "rid": 2, "x": "\xff\xfe"}')
    assert raw.read_until_close()[1] == 1007
    raw.close()


@pytest.mark.parametrize("text", ["[" * 5000 + "]" * 5000, '{"a":' * 3000 + "1" + "}" * 3000,
                                  '{"t": "ping", "rid": 1e999}', '{"t": "ping", "rid": 1}x'])
def test_deep_or_odd_json_is_a_bad_frame(open_client: Connect, text: str) -> None:
    c = open_client()
    c.send(text)
    assert c.recv()["code"] == "bad_frame"
    assert c.request("ping")["t"] == "pong"


def test_half_a_frame_then_silence_is_closed_4004(cluster: LocalCluster,
                                                 tmp_path: Path) -> None:
    with own_node(cluster, tmp_path, "--hb-ms", "100") as node:
        raw = RawWs(node.port)
        raw.send_json({"t": "login", "rid": 1, "token": mint_token(cluster.secret, unique(),
                                                                   "d")})
        assert raw.read_json()["t"] == "login_ok"
        raw.sock.sendall(b"\x81\xfe\x01\x00")  # a 256-byte text frame's header, no more
        assert raw.read_until_close()[1] == 4004
        raw.close()
        with contextlib.ExitStack() as st:  # and the node serves on
            assert node.client(st).request("ping")["t"] == "pong"


def test_the_user_comes_from_the_token_never_from_a_frame(open_client: Connect) -> None:
    alice, bob = unique("alice"), unique("bob")
    conv = direct_conv(alice, bob)
    b = open_client(bob, node="n2")
    b.request("send", cmid="c1", conv=conv, body="to alice")
    b.request("read", conv=conv, upto=1)
    mallory = open_client(unique("mallory"))
    assert mallory.request("reads", user=bob)["marks"] == {}  # extra fields are ignored
    assert mallory.request("sync", after=0, user=bob)["msgs"] == []
    assert mallory.request("state", user=bob)["contacts"] == []
    reply = mallory.request("send", cmid="c2", conv=conv, body="as bob", user=bob)
    assert reply["code"] == "forbidden"


def test_ping_echoes_ts(open_client: Connect) -> None:
    pong = open_client().request("ping", ts=123)
    assert pong["ts"] == 123 and isinstance(pong["server_ts"], int)


def test_a_message_reaches_every_device_of_both_members_across_nodes(
        open_client: Connect) -> None:
    alice, bob = unique("alice"), unique("bob")
    conv = direct_conv(alice, bob)
    a_phone = open_client(alice, "phone", node="n1")
    a_laptop = open_client(alice, "laptop", node="n2")
    b_phone = open_client(bob, "phone", node="n2")
    ack = a_phone.request("send", cmid="c1", conv=conv, body="hello", ts=42)
    assert ack["t"] == "send_ack"
    assert (ack["cmid"], ack["conv"], ack["seq"], ack["dup"]) == ("c1", conv, 1, False)
    got = {name: c.push() for name, c in
           (("a_phone", a_phone), ("a_laptop", a_laptop), ("b_phone", b_phone))}
    for msg in got.values():
        assert msg == {"t": "msg", "mid": ack["mid"], "conv": conv, "seq": 1, "from": alice,
                       "from_device": "phone", "cmid": "c1", "body": "hello", "ts": 42,
                       "server_ts": ack["server_ts"], "useq": 1, "kind": "text"}
    reply = b_phone.request("send", cmid="r1", conv=conv, body="hi back")
    assert reply["seq"] == 2
    assert a_laptop.push()["body"] == "hi back"


def test_a_repeated_cmid_returns_the_first_ack_and_stores_nothing(
        open_client: Connect) -> None:
    alice, bob = unique("alice"), unique("bob")
    conv = direct_conv(alice, bob)
    a = open_client(alice)
    first = a.request("send", cmid="same", conv=conv, body="once")
    again = a.request("send", cmid="same", conv=conv, body="once")
    assert again["dup"] is True and first["dup"] is False
    assert {k: again[k] for k in ("mid", "seq", "server_ts", "conv")} == \
        {k: first[k] for k in ("mid", "seq", "server_ts", "conv")}
    b = open_client(bob, node="n2")
    batch = b.request("sync", after=0)
    assert [m["mid"] for m in batch["msgs"]] == [first["mid"]]


def test_sync_pages_through_the_inbox_after_a_cursor(open_client: Connect) -> None:
    alice, bob = unique("alice"), unique("bob")
    conv = direct_conv(alice, bob)
    a = open_client(alice)
    mids = [a.request("send", cmid=f"c{i}", conv=conv, body=f"m{i}")["mid"] for i in range(5)]
    b = open_client(bob, node="n2")
    assert b.login_ok is not None and b.login_ok["inbox_seq"] == 5
    pages = []
    after = 0
    while True:
        batch = b.request("sync", after=after, limit=2)
        assert batch["t"] == "sync_batch"
        pages.append(([m["useq"] for m in batch["msgs"]], batch["upto"], batch["more"]))
        after = batch["upto"]
        if not batch["more"]:
            break
    assert pages == [([1, 2], 2, True), ([3, 4], 4, True), ([5], 5, False)]
    assert b.request("sync", after=5) == {"t": "sync_batch", "rid": 5, "msgs": [],
                                          "upto": 5, "more": False}
    everything = b.request("sync", after=0)["msgs"]
    assert [m["mid"] for m in everything] == mids
    assert [m["seq"] for m in everything] == [1, 2, 3, 4, 5]


def test_ack_moves_the_device_cursor_up_only(open_client: Connect, cluster: LocalCluster
                                             ) -> None:
    alice, bob = unique("alice"), unique("bob")
    conv = direct_conv(alice, bob)
    a = open_client(alice)
    for i in range(3):
        a.request("send", cmid=f"c{i}", conv=conv, body="x")
    b = open_client(bob, "phone")
    b.send({"t": "ack", "upto": 2})
    b.send({"t": "ack", "upto": 1})  # lower: ignored
    b.request("ping")  # acks have no reply: a later reply means they were handled
    again = open_client(bob, "phone", node="n2")
    assert again.login_ok is not None and again.login_ok["acked"] == 2
    other = open_client(bob, "tablet")
    assert other.login_ok is not None and other.login_ok["acked"] == 0
    other.send({"t": "ack", "upto": 99})  # past the inbox end: clamped to it
    other.request("ping")
    assert open_client(bob, "tablet").login_ok["acked"] == 3  # type: ignore[index]


@pytest.mark.parametrize("second_node", ["n1", "n2"])
def test_a_second_login_of_a_device_closes_the_first_4001(
        open_client: Connect, second_node: str) -> None:
    user = unique()
    first = open_client(user, "phone", node="n1")
    laptop = open_client(user, "laptop", node="n1")
    second = open_client(user, "phone", node=second_node)
    assert first.closed_with() == 4001
    assert second.request("ping")["t"] == "pong"
    assert laptop.request("ping")["t"] == "pong"


def test_sending_to_a_conversation_one_is_not_in_is_forbidden(open_client: Connect) -> None:
    a = open_client(unique("alice"))
    for conv in (direct_conv(unique("x"), unique("y")), "g:nosuchgroup"):
        reply = a.request("send", cmid="c1", conv=conv, body="x")
        assert (reply["t"], reply["code"]) == ("error", "forbidden"), reply
    assert a.request("ping")["t"] == "pong"


# -- nodes of their own ----------------------------------------------------------------------

def test_a_silent_connection_is_closed_4004_after_three_heartbeats(
        cluster: LocalCluster, tmp_path: Path) -> None:
    with own_node(cluster, tmp_path, "--hb-ms", "400") as node, contextlib.ExitStack() as st:
        c = node.client(st)
        assert c.login_ok is not None and c.login_ok["hb_ms"] == 400
        started = time.monotonic()
        for _ in range(5):  # frames keep it open past three intervals (1.2 s); a ping
            time.sleep(0.3)  # every 0.3 s leaves 0.9 s of slack on a loaded machine
            assert c.request("ping")["t"] == "pong"
        assert c.closed_with(timeout=30) == 4004
        assert time.monotonic() - started > 1.5 + 1.2


def test_a_connection_that_never_logs_in_is_closed_4004_at_the_login_deadline(
        cluster: LocalCluster, tmp_path: Path) -> None:
    with own_node(cluster, tmp_path, "--login-timeout-s", "0.5") as node, \
            contextlib.ExitStack() as st:
        logged_in = node.client(st)  # logs in at once: the deadline is not for it
        silent = RawWs(node.port)  # upgraded, then nothing
        chatty = RawWs(node.port)  # frames, but never a login
        started = time.monotonic()
        chatty.send_json({"t": "ping", "rid": 1})
        assert chatty.read_json()["code"] == "unauthenticated"
        assert silent.read_until_close()[1] == 4004
        assert chatty.read_until_close()[1] == 4004
        assert 0.4 < time.monotonic() - started < 5
        silent.close()
        chatty.close()
        time.sleep(0.5)
        assert logged_in.request("ping")["t"] == "pong"


@pytest.mark.parametrize(("args", "says"), [
    (["--port", "80"], "required"),
    (["--node-id", "n1", "--port", "x", "--redis", "redis://h:1", "--secret", "s"], "--port"),
    (["--node-id", "n1", "--port", "1", "--redis", "http://h", "--secret", "s"], "--redis"),
    (["--node-id", "n1", "--port", "1", "--redis", "redis://h:1", "--secret", "s",
      "--bug", "no-such"], "known: alg-none, any-audience"),
])
def test_bad_arguments_exit_2_with_one_line(args: list[str], says: str) -> None:
    run = subprocess.run([sys.executable, "-m", "reference_server", *args],
                         capture_output=True, text=True, timeout=30)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], run.stderr


def test_the_node_answers_internal_while_the_store_is_down_then_recovers(
        tmp_path: Path) -> None:
    own = LocalCluster(tmp_path / "storedown", nodes=2)
    own.start()
    try:
        with client_factory(own) as open_own:
            alice, bob = unique("alice"), unique("bob")
            conv = direct_conv(alice, bob)
            a = open_own(alice, node="n1")
            b = open_own(bob, node="n2")
            before = a.request("send", cmid="c1", conv=conv, body="durable")
            b.push()
            own.kill_part("redis")
            reply = a.request("send", cmid="c2", conv=conv, body="retry me")
            assert (reply["t"], reply["code"]) == ("error", "internal")
            own.restart_part("redis")
            deadline = time.monotonic() + 10
            logs = [Path(own.parts[n].log) for n in ("n1", "n2")]
            while not all("pub/sub reconnected" in log.read_text() for log in logs):
                assert time.monotonic() < deadline, "the nodes did not resubscribe"
                time.sleep(0.05)
            while True:  # the client retries with the same cmid
                reply = a.request("send", cmid="c2", conv=conv, body="retry me")
                if reply["t"] == "send_ack" or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert reply["t"] == "send_ack" and reply["seq"] == 2
            # n2 subscribed again: the push arrives (pushes published while a node's
            # pub/sub link is down are not pushed: sync finds them)
            assert b.push(timeout=5)["mid"] == reply["mid"]
            msgs = b.request("sync", after=0)["msgs"]
            assert [m["mid"] for m in msgs] == [before["mid"], reply["mid"]]
    finally:
        own.stop()
    for name in ("n1", "n2"):
        assert "Traceback" not in Path(own.parts[name].log).read_text()


def test_node_logs_hold_no_traceback(cluster: LocalCluster) -> None:
    """Nothing the tests this process ran so far on the session's cluster made a node log a
    traceback (in whatever order they ran); the logs read are the nodes' own, holding at
    least this test's connection and its close."""
    for name in ("n1", "n2"):
        with client_factory(cluster) as open_client:
            open_client(unique("logs"), node=name)
        log = Path(cluster.parts[name].log)
        deadline = time.monotonic() + 10
        while "close" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)  # the node logs the close once it has seen it
        text = log.read_text()
        assert "Traceback" not in text, text[-3000:]
        assert "close" in text and "connect" in text




def test_a_big_inbox_syncs_in_batches_bounded_in_bytes(open_client: Connect) -> None:
    """30 stored messages of 60 KB: one reply would be 1.8 MB, past the 1 MiB frame limit
    of a default websockets client (this one); each batch stays under 512 KiB of entries."""
    from reference_server.sync import SYNC_MAX_BYTES

    alice, bob = unique("alice"), unique("bob")
    conv = direct_conv(alice, bob)
    a = open_client(alice)
    body = "x" * 60_000
    for i in range(30):
        a.request("send", cmid=f"c{i}", conv=conv, body=f"{i:02d}{body}")
    b = open_client(bob, node="n2")
    after, got, sizes = 0, [], []
    while True:
        batch = b.request("sync", after=after)  # limit 200: the bytes bound the batch
        sizes.append(sum(len(json.dumps(m)) for m in batch["msgs"]))
        got += [m["body"][:2] for m in batch["msgs"]]
        after = batch["upto"]
        if not batch["more"]:
            break
    assert got == [f"{i:02d}" for i in range(30)]
    assert len(sizes) >= 4 and max(sizes) <= SYNC_MAX_BYTES
    assert b.request("sync", after=0, limit=1)["more"] is True  # one entry is never cut


def test_the_handshake_names_no_versions(cluster: LocalCluster) -> None:
    port = int(cluster.node_url("n1", direct=True).split(":")[2].split("/")[0])
    ws = RawWs(port)
    try:
        assert ws.status == 101
        head = ws.head.lower()
        assert "server:" not in head and "python" not in head and "websockets/" not in head
    finally:
        ws.sock.close()



def test_message_ids_are_opaque_and_unique(open_client: Connect) -> None:
    """Ids from one global counter would tell any user the platform's traffic between two
    of its own messages; these are a keyed hash of it: unique, in no order, same shape."""
    alice, bob = unique("alice"), unique("bob")
    conv = direct_conv(alice, bob)
    a = open_client(alice)
    mids = [a.request("send", cmid=f"c{i}", conv=conv, body="hi")["mid"] for i in range(50)]
    assert len(set(mids)) == 50
    assert all(len(m) == 25 and m[0] == "m" and int(m[1:], 16) >= 0 for m in mids)
    assert mids != sorted(mids)  # not in sending order (sorted by chance: 1 in 50!)
    assert a.request("send", cmid="c0", conv=conv, body="hi")["mid"] == mids[0]  # a repeat
