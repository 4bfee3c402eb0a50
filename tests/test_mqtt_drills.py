"""An MQTT drill against a real Mosquitto, end to end (``imload run``, Locust, Toxiproxy):
``chaos/mqtt-default.toml`` at half length, with 12 devices. At QoS 1 with persistent
sessions, across a slow link and a SIGKILL of the broker while every session is
online, no PUBACKed message is lost, and the verdict lists the promises it judged."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.integration


def test_qos1_with_persistent_sessions_loses_nothing_across_a_kill(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "imload", "run", "chaos/mqtt-default.toml",
                           "--out", str(out), "--users", "12", "--time-scale", "0.5"],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    v = orjson.loads((out / "verdict.json").read_bytes())
    assert v["outcome"] == "passed" and v["valid"] is True
    assert v["promises"] == ["lost", "partial", "phantom", "aborted", "corrupted"]
    assert v["counts"]["acked"] > 50 and v["anomalies"]["lost"] == 0
    assert v["counts"]["delivered"] == v["counts"]["expected_deliveries"]
    assert v["coverage"]["lost"]["percent"] == 100.0
    assert v["latency_ms"]["reconnect"]["count"] >= 12  # the kill reached every device
    assert v["counts"]["reads_ok"] > 5  # retained read markers
    left = subprocess.run(["pgrep", "-f", str(out / "cluster")], capture_output=True, text=True)
    assert left.stdout == "", f"processes left behind: {left.stdout}"
