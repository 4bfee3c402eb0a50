"""``imload run`` end to end: real redis-server, toxiproxy-server, nodes and Locust."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis
from process_helpers import like_a_terminal

from imload.journal import read_journal

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.integration


def run(scenario: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "imload", "run", str(scenario), "--out",
                           str(out), *extra], capture_output=True, text=True, cwd=REPO,
                          timeout=400)


def verdict_of(out: Path) -> dict:
    return orjson.loads((out / "verdict.json").read_bytes())


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def cluster_pids(folder: Path) -> list[int]:
    state = orjson.loads((folder / "cluster.json").read_bytes())
    pids = []

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if k == "pid" and isinstance(v, int):
                    pids.append(v)
                else:
                    walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
    walk(state)
    return pids


DRILL = """
name = "{name}"
target = "{target}"
seed = 7
[cluster]
nodes = 2
{bug}
[load]
users = {users}
spawn_rate = {rate}
duration_s = {duration}
msg_interval_s = 1.0
{population}
[audit]
quiet_s = 1
timeout_s = 60
"""

CHAOS = """
[[chaos]]
kind = "latency"
target = "n1"
at_s = 2
for_s = 6
latency = 150
jitter = 30
[[chaos]]
kind = "kill"
target = "n2"
at_s = 7
for_s = 3
"""


def scenario(tmp: Path, *, name: str = "t", target: str = "local", bug: str = "",
             users: int = 16, rate: int = 16, duration: int = 16, population: str = "",
             chaos: str = CHAOS) -> Path:
    f = tmp / f"{name}.toml"
    f.write_text(DRILL.format(name=name, target=target, bug=bug, users=users, rate=rate,
                              duration=duration, population=population) + chaos)
    return f


USERS_REDIS_PORT = 6379  # where a machine's own Redis service listens


@pytest.fixture
def users_redis(tmp_path: Path) -> Iterator[redis.Redis]:
    """A Redis on 6379 that imload did not start, as on a laptop or a CI runner with a Redis
    service, holding a key of its owner's. One is started for the test when 6379 is free;
    a Redis already there is used as it is (and left running)."""
    with socket.socket() as s:
        taken = s.connect_ex(("127.0.0.1", USERS_REDIS_PORT)) == 0
    proc = None
    if not taken:
        server = shutil.which("redis-server") or "/usr/bin/redis-server"
        folder = tmp_path / "users-redis"
        folder.mkdir()
        proc = subprocess.Popen([server, "--port", str(USERS_REDIS_PORT), "--bind",
                                 "127.0.0.1", "--save", "", "--appendonly", "no", "--dir",
                                 str(folder)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    client = redis.Redis(port=USERS_REDIS_PORT, socket_timeout=5)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except (redis.ConnectionError, redis.ResponseError):
            if time.monotonic() > deadline:
                if proc is not None:
                    proc.kill()
                    proc.wait()
                pytest.skip("port 6379 holds something that is not a Redis")
            time.sleep(0.1)
    key = f"owner:{os.getpid()}:{time.time_ns()}"
    client.set(key, "mine")
    client.owner_key = key  # type: ignore[attr-defined]
    try:
        yield client
    finally:
        client.delete(key)
        client.close()
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)


def test_drill_with_node_kill_and_toxic_passes(tmp_path: Path,
                                               users_redis: redis.Redis) -> None:
    """The drill passes on a machine with its own Redis service on 6379, set-up included,
    and leaves that Redis running and untouched (the README's promise: set-up never stops
    or changes anything it did not start)."""
    setup = subprocess.run(["bash", "scripts/setup.sh"], capture_output=True, text=True,
                           cwd=REPO, timeout=600)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    out = tmp_path / "out"
    done = run(scenario(tmp_path), out)
    assert done.returncode == 0, done.stdout + done.stderr
    v = verdict_of(out)
    assert v["passed"] is True
    assert v["anomalies"]["lost"] == 0 and v["anomalies"]["duplicated"] == 0
    assert v["counts"]["acked"] > 50 and v["counts"]["delivered"] > 100
    assert sorted(f["kind"] for f in v["faults"]) == ["kill", "latency"]
    assert "PASSED" in done.stdout and str(out) in done.stdout
    journal = read_journal(out / "journal").events  # columnar or JSON lines
    kinds = {e["ev"] for e in journal}
    assert {"device", "connected", "send", "send_ok", "deliver", "fault", "audit"} <= kinds
    # devices on the killed node reconnected: some device has a second session
    assert any(e["ev"] == "connected" and e["session"] >= 2 for e in journal)
    # nothing is left running: every pid the cluster ever had is gone
    assert not [p for p in cluster_pids(out / "cluster") if alive(p)]
    # the machine's own Redis: still up, its owner's key still there, not the cluster's store
    assert users_redis.ping() and users_redis.get(users_redis.owner_key) == b"mine"  # type: ignore[attr-defined]
    state = orjson.loads((out / "cluster" / "cluster.json").read_bytes())
    assert state["parts"]["redis"]["port"] != USERS_REDIS_PORT


def test_run_against_a_running_cluster_through_its_target_file(tmp_path: Path,
                                                               cluster: object) -> None:
    target = cluster.target_path  # type: ignore[attr-defined]
    out = tmp_path / "out"
    chaos = CHAOS.split("[[chaos]]\nkind = \"kill\"")[0]  # the toxic only
    done = run(scenario(tmp_path, target=str(target), users=8, rate=8, duration=8,
                        chaos=chaos), out)
    assert done.returncode == 0, done.stdout + done.stderr
    v = verdict_of(out)
    assert v["passed"] is True and v["counts"]["acked"] > 0
    assert [f["kind"] for f in v["faults"]] == ["latency"]
    assert not (out / "cluster").exists()  # no local cluster was started


def test_a_fault_without_means_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "bare.toml"
    target.write_text('name = "bare"\nsecret = "s"\n[[nodes]]\nname = "n1"\n'
                      'url = "ws://127.0.0.1:9/ws"\n')
    out = tmp_path / "out"
    done = run(scenario(tmp_path, target=str(target)), out, "--target", str(target))
    assert done.returncode == 2
    assert "cannot make the drill's faults" in done.stderr
    assert "[toxiproxy] api" in done.stderr and "not a node of the target" in done.stderr
    assert "Traceback" not in done.stderr


def test_ctrl_c_heals_and_stops_everything(tmp_path: Path) -> None:
    import signal
    import time

    out = tmp_path / "out"
    f = scenario(tmp_path, name="interrupted", duration=60)
    proc = subprocess.Popen([sys.executable, "-m", "imload", "run", str(f), "--out", str(out)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=like_a_terminal)  # Ctrl-C must reach it
    deadline = time.monotonic() + 60
    chaos = out / "journal" / "run.jsonl"
    # wait until the load runs and the latency toxic is on, then press Ctrl-C
    while not (chaos.is_file() and b'"ev":"fault"' in chaos.read_bytes()):
        assert time.monotonic() < deadline and proc.poll() is None, "the run never started"
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert "interrupted" in err and "Traceback" not in err
    assert not [p for p in cluster_pids(out / "cluster") if alive(p)]
    leftover = subprocess.run(["pgrep", "-f", str(out)], capture_output=True, text=True)
    assert leftover.stdout.strip() == "", leftover.stdout


def test_locust_gets_whole_seconds_whatever_the_time_scale(tmp_path: Path) -> None:
    from imload.run import locust_command
    from imload.scenario import load_scenario, rescale

    drill = rescale(load_scenario(REPO / "chaos" / "mqtt-mass-disconnect.toml"), 0.5)
    assert drill.load.duration_s == 22.5
    cmd = locust_command(drill, tmp_path / "t.toml", tmp_path / "j", "r1")
    assert cmd[cmd.index("-t") + 1] == "23s"
