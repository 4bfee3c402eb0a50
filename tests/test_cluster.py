"""LocalCluster: real redis-server, toxiproxy-server and nodes; start, stop, kill, restart."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import redis
from cluster_helpers import gone, part_pids
from conftest import client_factory, unique
from websockets.exceptions import ConnectionClosed

from imload.cluster import ClusterError, LocalCluster, load_target
from imload.faults.toxiproxy import ToxiproxyAPI
from imload.protocol import direct_conv

pytestmark = pytest.mark.integration


def test_start_writes_the_target_and_stop_leaves_no_process(tmp_path: Path) -> None:
    c = LocalCluster(tmp_path, nodes=2)
    target = c.start()
    try:
        pids = part_pids(tmp_path)
        assert set(pids) == {"redis", "toxiproxy", "lbs", "n1", "n2"}
        assert all(pid and not gone(pid) for pid in pids.values())
        assert all(row["alive"] for row in c.status().values())
        loaded = load_target(tmp_path / "target.toml")
        assert loaded.secret == c.secret == target.secret
        assert [n.name for n in loaded.nodes] == ["n1", "n2"]
        assert loaded.nodes[0].url == c.node_url("n1")
        assert loaded.nodes[0].proxy == "n1"
        assert (loaded.nodes[0].kill or "").startswith("kill -s KILL $(cat ")
        assert "cluster restart --dir" in (loaded.nodes[1].restart or "")
        assert loaded.toxiproxy_api == c.toxiproxy_api
        assert loaded.lbs == c.lbs_url and loaded.lbs.startswith("http://127.0.0.1:")
        assert loaded.ca is None and loaded.nodes[0].url.startswith("ws://")
        assert "--public-url" in c.parts["n1"].cmd  # the LBS hands out the proxy URL
        assert c.parts["n1"].cmd[c.parts["n1"].cmd.index("--public-url") + 1] == \
            c.node_url("n1")
        assert ToxiproxyAPI(c.toxiproxy_api).proxy_names() == ["n1", "n2", "store"]
        assert loaded.store is not None and loaded.store.proxy == "store"
        assert c.parts["n1"].cmd[c.parts["n1"].cmd.index("--redis") + 1] == c.node_redis_url
        assert c.node_redis_url != c.redis_url  # the nodes reach Redis through the proxy
        with pytest.raises(ClusterError, match="already running"):
            LocalCluster(tmp_path, nodes=1).start()
        redis.Redis.from_url(c.redis_url).set("left-over", "1")
        LocalCluster.load(tmp_path).stop()  # as `imload cluster down` would
    finally:
        c.stop()
    assert all(gone(pid) for pid in pids.values() if pid)
    assert all(pid is None for pid in part_pids(tmp_path).values())
    assert not any(row["alive"] for row in c.status().values())
    c.stop()  # idempotent
    assert (tmp_path / "logs" / "n1.log").exists() and (tmp_path / "target.toml").exists()
    again = LocalCluster(tmp_path, nodes=1)
    again.start()
    try:  # a new cluster in the same folder starts with an empty store
        assert redis.Redis.from_url(again.redis_url).get("left-over") is None
    finally:
        again.stop()


def test_kill_and_restart_a_node_on_its_port_and_stop_from_another_instance(
        tmp_path: Path) -> None:
    c = LocalCluster(tmp_path, nodes=1)
    c.start()
    try:
        port = c.parts["n1"].port
        alice, bob = unique("alice"), unique("bob")
        with client_factory(c) as open_client:
            a = open_client(alice)
            first = a.request("send", cmid="c1", conv=direct_conv(alice, bob), body="x")
            other = LocalCluster.load(tmp_path)  # as `imload cluster kill` would
            old_pid = other.parts["n1"].pid
            other.kill_node("n1")
            assert old_pid is not None and gone(old_pid)
            assert other.status()["n1"]["alive"] is False
            with pytest.raises(ConnectionClosed):
                a.request("ping", timeout=3)
            LocalCluster.load(tmp_path).restart_node("n1")
            after = LocalCluster.load(tmp_path)
            assert after.parts["n1"].port == port
            assert after.parts["n1"].pid not in (None, old_pid)
            b = open_client(bob)  # through the same proxy
            assert b.login_ok is not None and b.login_ok["inbox_seq"] == 1
            assert b.request("sync", after=0)["msgs"][0]["mid"] == first["mid"]
            again = open_client(alice)  # the killed client reconnects
            assert again.request("ping")["t"] == "pong"
        pids = part_pids(tmp_path)
        c.stop()  # the first instance also stops the node another one restarted
        assert all(gone(pid) for pid in pids.values() if pid)
    finally:
        c.stop()
    with pytest.raises(ClusterError, match="no node 'n9'"):
        c.kill_node("n9")


def test_a_missing_redis_binary_says_to_run_setup(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(ClusterError, match="redis-server not found.*scripts/setup.sh"):
        LocalCluster(tmp_path / "c", nodes=1).start()


def test_a_part_that_dies_at_start_stops_everything_and_shows_its_log(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "fake-bin"
    fake.mkdir()
    script = fake / "redis-server"
    script.write_text("#!/bin/sh\necho 'FATAL: cannot bind, port in use' >&2\nexit 1\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    directory = tmp_path / "c"
    with pytest.raises(ClusterError, match=r"redis exited(.|\n)*port in use"):
        LocalCluster(directory, nodes=1).start()
    assert all(pid is None for pid in part_pids(directory).values())


def test_a_node_that_will_not_start_stops_the_parts_already_started(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(ClusterError, match=r"n1 exited(.|\n)*unknown bug mode"):
        LocalCluster(tmp_path, nodes=2, bug="no-such-bug").start()
    assert time.monotonic() - started < 15
    state = json.loads((tmp_path / "cluster.json").read_text())
    assert all(p["pid"] is None for p in state["parts"].values())
    # the store and toxiproxy had been started: their logs exist, their processes are gone
    assert (tmp_path / "logs" / "redis.log").read_text().count("Ready to accept") == 1


def test_options_survive_load_and_reach_the_parts(tmp_path: Path) -> None:
    c = LocalCluster(tmp_path, nodes=1, node_args=["--max-conns", "7"], appendfsync="everysec")
    c.start()
    try:
        other = LocalCluster.load(tmp_path)
        assert (other.node_args, other.appendfsync, other.tls) == (
            ["--max-conns", "7"], "everysec", False)
        assert "--max-conns" in other.parts["n1"].cmd
        r = redis.Redis.from_url(c.redis_url, decode_responses=True)
        assert r.config_get("appendfsync") == {"appendfsync": "everysec"}
        other.restart_node("n1")
        assert "--max-conns" in LocalCluster.load(tmp_path).parts["n1"].cmd
    finally:
        c.stop()
    with pytest.raises(ClusterError, match="appendfsync"):
        LocalCluster(tmp_path, appendfsync="sometimes")


def test_load_without_a_cluster_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="no cluster in"):
        LocalCluster.load(tmp_path)


def test_target_commands_kill_pause_and_restart_nodes_and_the_store(tmp_path: Path) -> None:
    import subprocess
    import time

    c = LocalCluster(tmp_path, nodes=1)
    target = c.start()
    try:
        n1, store = target.node("n1"), target.store
        assert store is not None
        for pid_file in ("n1", "redis", "toxiproxy", "lbs"):
            assert (tmp_path / "pids" / f"{pid_file}.pid").read_text().strip().isdigit()

        def sh(cmd: str | None) -> None:
            assert cmd is not None
            subprocess.run(cmd, shell=True, check=True, timeout=60)

        def state(pid: int) -> str:
            stat = Path(f"/proc/{pid}/stat").read_text()
            return stat[stat.rfind(")") + 2]

        pid = c.parts["n1"].pid
        assert pid is not None
        sh(n1.pause)
        deadline = time.monotonic() + 10
        while state(pid) != "T":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        sh(n1.resume)
        sh(n1.kill)
        deadline = time.monotonic() + 10
        while c.status()["n1"]["alive"]:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        sh(n1.restart)
        assert c.status()["n1"]["alive"]
        sh(store.kill)
        sh(store.restart)
        assert c.status()["redis"]["alive"]
        sh(n1.pause)  # stop() must still end a paused node, quickly
    finally:
        c.stop()
    assert not any(row["alive"] for row in c.status().values())
