"""The LBS (reference_server/lbs.py) and node presence (presence.py): live nodes below
their limit, in a load-weighted random order; a node that stops reporting drops out."""

from __future__ import annotations

import contextlib
import json
import random
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import own_node

from imload.cluster import LocalCluster, load_target
from reference_server.lbs import route_order


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def route(cluster: LocalCluster) -> list[dict[str, Any]]:
    status, body = get(f"{cluster.lbs_url}/v1/route?user=alice&device=phone")
    assert status == 200
    nodes: list[dict[str, Any]] = body["nodes"]
    return nodes


def wait_for(check: Any, what: str, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_the_order_is_weighted_by_load_not_sorted() -> None:
    nodes = [{"id": "a", "url": "ws://a/ws", "load": 0.2},
             {"id": "b", "url": "ws://b/ws", "load": 0.6},
             {"id": "full", "url": "ws://f/ws", "load": 1.0}]
    rng = random.Random(7)
    firsts = Counter(route_order(nodes, rng)[0]["id"] for _ in range(4000))
    assert set(firsts) == {"a", "b"}  # the full node never; the busier one sometimes first
    assert 0.55 < firsts["a"] / 4000 < 0.8  # weights 0.8 : 0.4 -> a first 2/3 of the time
    assert route_order(nodes, rng)[0].keys() == {"id", "url", "load"}
    assert route_order([], rng) == []


@pytest.mark.integration
def test_the_lbs_hands_out_the_proxy_urls_of_live_nodes(cluster: LocalCluster) -> None:
    target = load_target(cluster.target_path)
    assert target.lbs == cluster.lbs_url
    assert get(f"{cluster.lbs_url}/healthz")[0] == 200
    def both() -> dict[str, Any] | None:
        found = {n["id"]: n for n in route(cluster) if n["id"] in ("n1", "n2")}
        return found if len(found) == 2 else None

    nodes = wait_for(both, "n1 and n2")
    for name in ("n1", "n2"):
        assert nodes[name]["url"] == target.node(name).url  # the Toxiproxy proxy
        assert 0 <= nodes[name]["load"] < 1
    assert get(f"{cluster.lbs_url}/v1/route?user=bad%20name&device=d")[0] == 400
    assert get(f"{cluster.lbs_url}/nope")[0] == 404


@pytest.mark.integration
def test_full_nodes_are_left_out_and_stopped_ones_drop_out(cluster: LocalCluster,
                                                          tmp_path: Path) -> None:
    with own_node(cluster, tmp_path, "--max-conns", "2",
                  "--public-url", "ws://public.example:1/ws") as node, \
            contextlib.ExitStack() as st:
        def listed() -> dict[str, Any] | None:
            return next((n for n in route(cluster) if n["id"] == node.node_id), None)

        row = wait_for(listed, "the new node")
        assert row["url"] == "ws://public.example:1/ws"
        node.client(st)
        assert wait_for(lambda: (r := listed()) and r["load"] == 0.5, "load 0.5")
        node.client(st)
        wait_for(lambda: listed() is None, "the full node to leave the list")
        st.close()
        wait_for(listed, "the node to come back once connections closed")
    wait_for(lambda: all(n["id"] != node.node_id for n in route(cluster)),
             "a stopped node to drop out")


@pytest.mark.integration
def test_a_killed_node_drops_out_when_its_report_expires(tmp_path: Path) -> None:
    c = LocalCluster(tmp_path, nodes=2)
    c.start()
    try:
        wait_for(lambda: {n["id"] for n in route(c)} == {"n1", "n2"}, "both nodes")
        c.kill_node("n2")
        wait_for(lambda: {n["id"] for n in route(c)} == {"n1"}, "n2 to expire")
        c.restart_node("n2")
        wait_for(lambda: {n["id"] for n in route(c)} == {"n1", "n2"}, "n2 back")
        c.kill_part("lbs")
        c.restart_part("lbs")
        assert {n["id"] for n in route(c)} == {"n1", "n2"}
    finally:
        c.stop()


def test_the_lbs_names_no_versions(cluster: LocalCluster) -> None:
    with urllib.request.urlopen(f"{cluster.lbs_url}/healthz", timeout=5) as r:
        assert r.headers["Server"] == "imload-lbs"



@contextlib.contextmanager
def own_lbs(cluster: LocalCluster, tmp_path: Path, *args: str) -> Any:
    """An LBS of its own on the session's store, with ``args``; yields (port, log path)."""
    import socket
    import subprocess
    import sys

    from imload.cluster.processes import free_ports
    port = free_ports("127.0.0.1", 1)[0]
    log = tmp_path / "lbs.log"
    proc = subprocess.Popen([sys.executable, "-m", "reference_server.lbs", "--port", str(port),
                             "--redis", cluster.redis_url, "--log", str(log), *args])
    try:
        def up() -> bool:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port),
                                                                        timeout=0.5):
                return True
            return False
        wait_for(up, "the LBS to listen")
        yield port, log
    finally:
        proc.terminate()
        proc.wait(10)


def test_slow_idle_and_resetting_clients_cost_the_lbs_a_socket_not_a_thread_or_a_log(
        cluster: LocalCluster, tmp_path: Path) -> None:
    import socket
    import struct

    with own_lbs(cluster, tmp_path, "--request-timeout-s", "0.5", "--max-conns", "3") as (
            port, log):
        half = socket.create_connection(("127.0.0.1", port), timeout=5)
        half.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
        t = time.monotonic()
        assert half.recv(100) == b""  # closed by the LBS
        assert 0.3 < time.monotonic() - t < 3
        half.close()
        for _ in range(5):  # resets mid-request: no traceback, no answer owed
            rst = socket.create_connection(("127.0.0.1", port), timeout=5)
            rst.sendall(b"GET /v1/ro")
            rst.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            rst.close()
        held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(3)]
        time.sleep(0.1)
        extra = socket.create_connection(("127.0.0.1", port), timeout=5)
        with contextlib.suppress(ConnectionResetError):  # over the cap: closed at once
            assert extra.recv(100) == b""
        extra.close()
        for s in held:
            s.close()
        time.sleep(0.2)
        status, body = get(f"http://127.0.0.1:{port}/healthz")
        assert status == 200 and body == {"ok": True}
        bad = socket.create_connection(("127.0.0.1", port), timeout=5)
        bad.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        assert bad.recv(200).startswith(b"HTTP/1.1 400")
        bad.close()
    text = log.read_text()
    assert "Traceback" not in text and "closing new ones" in text
