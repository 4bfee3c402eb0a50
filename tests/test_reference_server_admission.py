"""Admission control (reference_server/admission.py): the connection limit and the login
rate refuse handshakes with HTTP 503 and Retry-After; a client that stops reading is shed
with overloaded and 4003. (Request limits: test_reference_server_limits.py.)"""

from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import RawWs, own_node, unique

from imload.cluster import LocalCluster
from imload.protocol import direct_conv, mint_token
from reference_server.admission import TokenBucket

pytestmark = pytest.mark.integration


def retry_after(raw: RawWs) -> int:
    found = re.search(r"(?im)^retry-after:\s*(\d+)\s*$", raw.head)
    assert found, raw.head
    return int(found.group(1))


def test_token_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(2.0, 3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    assert bucket.wait_s() == pytest.approx(0.5)
    now[0] = 0.5
    assert bucket.take() and not bucket.take()
    now[0] = 100.0
    assert sum(bucket.take() for _ in range(10)) == 3  # never more than the burst


def test_over_the_connection_limit_the_handshake_gets_503(cluster: LocalCluster,
                                                         tmp_path: Path) -> None:
    with own_node(cluster, tmp_path, "--max-conns", "2") as node, \
            contextlib.ExitStack() as st:
        first = node.client(st)
        node.client(st)
        refused = RawWs(node.port)
        assert refused.status == 503 and retry_after(refused) >= 1
        refused.close()
        first.ws.close()
        deadline = time.monotonic() + 10
        while True:  # the node frees the slot once it has seen the close
            again = RawWs(node.port)
            again.close()
            if again.status == 101:
                break
            assert time.monotonic() < deadline, again.head
            time.sleep(0.05)


def test_over_the_login_rate_the_handshake_gets_503(cluster: LocalCluster,
                                                   tmp_path: Path) -> None:
    with own_node(cluster, tmp_path, "--login-rate", "0.05", "--login-burst", "2") as node, \
            contextlib.ExitStack() as st:
        c = node.client(st)
        node.client(st)
        refused = RawWs(node.port)
        assert refused.status == 503 and retry_after(refused) >= 1
        assert "login rate" in refused.body
        refused.close()
        assert c.request("ping")["t"] == "pong"  # connections already in are not touched


PUSHES = 200  # of 50 KB: ~10 MB, more than the socket buffers (and a byte bound) hold


def shed_slow_reader(cluster: LocalCluster, node: Any, st: contextlib.ExitStack) -> Any:
    """A reader that stops reading while a sender stores ``PUSHES`` big messages for it;
    then it reads what got through up to the close. The sender's client, to ask again."""
    alice, bob = unique("alice"), unique("bob")
    conv = direct_conv(alice, bob)
    slow = RawWs(node.port, rcvbuf=4096)
    slow.send_json({"t": "login", "rid": 1, "token": mint_token(cluster.secret, bob, "p")})
    assert slow.read_json()["t"] == "login_ok"
    a = node.client(st, alice)
    body = "x" * 50_000
    for i in range(PUSHES):
        a.send({"t": "send", "rid": 100 + i, "cmid": f"big{i}", "conv": conv, "body": body})
    for _ in range(PUSHES):
        assert a.expect("send_ack", timeout=30)["t"] == "send_ack"
    frames, code = slow.read_until_close()  # what got through, then the error and the close
    slow.close()
    assert code == 4003
    assert frames[-1]["t"] == "error" and frames[-1]["code"] == "overloaded"
    assert len([f for f in frames if f["t"] == "msg"]) < PUSHES
    return a


def test_a_client_that_stops_reading_is_shed_with_overloaded_and_4003(
        cluster: LocalCluster, tmp_path: Path) -> None:
    with own_node(cluster, tmp_path, "--max-outbound", "4") as node, \
            contextlib.ExitStack() as st:
        a = shed_slow_reader(cluster, node, st)
        assert a.request("ping")["t"] == "pong"
    assert "shedding it with 4003" in node.log.read_text()


def test_a_client_that_stops_reading_is_shed_by_bytes_before_frames(
        cluster: LocalCluster, tmp_path: Path) -> None:
    """Few big pushes: the frame bound (100k) is far, the byte bound (1 MB) is what sheds."""
    with own_node(cluster, tmp_path, "--max-outbound", "100000",
                  "--max-outbound-bytes", "1000000") as node, contextlib.ExitStack() as st:
        shed_slow_reader(cluster, node, st)
    log = node.log.read_text()
    assert "shedding it with 4003" in log
    queued = [int(x) for x in re.findall(r"frames \((\d+) bytes\) queued", log)]
    assert queued and 1_000_000 <= queued[0] < 1_000_000 + 60_000  # shed at the byte bound
