"""An MQTT drill against a real Mosquitto, end to end (``imload run``, Locust, Toxiproxy):
``chaos/mqtt-mass-disconnect.toml`` at half length, with 12 devices chatting one-to-one
and in groups (a topic each). At QoS 1 with persistent sessions, across a dropped
uplink and a mass disconnect, no PUBACKed message is lost, and the verdict lists the
promises it judged. (Not a broker kill: Mosquitto saves its state every autosave
interval, so a kill loses whatever changed since the last save, subscriptions
included, and whether a drill's traffic meets that window is chance:
docs/backends/mosquitto.md.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from imload.journal import read_journal

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.integration


def test_qos1_with_persistent_sessions_loses_nothing_across_a_mass_disconnect(
        tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "imload", "run",
                           "chaos/mqtt-mass-disconnect.toml",
                           "--out", str(out), "--users", "12", "--time-scale", "0.5"],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    v = orjson.loads((out / "verdict.json").read_bytes())
    assert v["outcome"] == "passed" and v["valid"] is True
    assert v["promises"] == ["lost", "partial", "phantom", "aborted", "corrupted",
                            "undecryptable"]
    assert v["counts"]["acked"] > 50 and v["anomalies"]["lost"] == 0
    # a message sent while a member's device subscribed may reach it or not: not owed
    assert v["counts"]["delivered"] >= v["counts"]["expected_deliveries"]
    assert v["coverage"]["lost"]["percent"] == 100.0
    assert v["latency_ms"]["reconnect"]["count"] >= 12  # the cut reached every device
    assert v["counts"]["reads_ok"] > 5  # retained read markers
    events = read_journal(out / "journal").events  # columnar or JSON lines
    group_acks = [e for e in events if e["ev"] == "send_ok" and e["conv"].startswith("g:")]
    joined = {(e["user"], e["device"], e["conv"]) for e in events if e["ev"] == "joined"}
    assert len(group_acks) > 10 and len(joined) >= 6  # groups: topics, subscriptions
    assert v["counts"]["ops_ok"] == v["counts"]["ops"] > 0
    left = subprocess.run(["pgrep", "-f", str(out / "cluster")], capture_output=True, text=True)
    assert left.stdout == "", f"processes left behind: {left.stdout}"
