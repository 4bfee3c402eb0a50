"""A Locust master (``imload run --expect-workers 2``) and two workers on loopback: the
workers' journals reach the master through Locust's messages and one verdict covers all."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.integration

SCENARIO = """
name = "distributed"
seed = 9
[cluster]
nodes = 2
[load]
users = 12
spawn_rate = 12
duration_s = 12
msg_interval_s = 1.0
[audit]
quiet_s = 1
[[chaos]]
kind = "latency"
target = "n1"
at_s = 3
for_s = 4
latency = 100
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_master_and_two_workers_make_one_verdict(tmp_path: Path) -> None:
    scenario = tmp_path / "d.toml"
    scenario.write_text(SCENARIO)
    out, port = tmp_path / "out", free_port()
    master = subprocess.Popen(
        [sys.executable, "-m", "imload", "run", str(scenario), "--out", str(out),
         "--expect-workers", "2", "--master-port", str(port)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    workers = []
    try:
        # workers may start before the master listens: Locust workers keep trying
        for i in range(2):
            wdir = tmp_path / f"worker{i}"
            wdir.mkdir()
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "locust", "-f", str(REPO / "locustfiles" / "chat.py"),
                 "--worker", "--master-host", "127.0.0.1", "--master-port", str(port),
                 "--loglevel", "WARNING"],
                cwd=wdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        stdout, stderr = master.communicate(timeout=300)
    finally:
        for p in [master, *workers]:
            if p.poll() is None:
                p.kill()
            p.wait()
    assert master.returncode == 0, stdout + stderr
    assert "waiting for 2 workers" in stderr
    verdict = orjson.loads((out / "verdict.json").read_bytes())
    assert verdict["passed"] is True and verdict["counts"]["acked"] > 20
    journal = [orjson.loads(line) for f in (out / "journal").glob("*.jsonl")
               for line in f.read_bytes().splitlines() if line.strip()]
    devices = {(e["user"], e["device"]) for e in journal if e["ev"] == "device"}
    assert len(devices) == 12  # every worker's devices reached the master's journal
    # no journal was written in the workers' own folders: it was shipped
    assert not list(tmp_path.glob("worker*/imload-journal/*.jsonl"))
