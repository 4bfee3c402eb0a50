"""``imload avalanche`` end to end: the same node kill once per backoff policy, compared."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.integration

DRILL = """
name = "avalanche-small"
seed = 12
[cluster]
nodes = 3
node_args = ["--login-rate", "10", "--login-burst", "10"]
[load]
users = 30
spawn_rate = 10
duration_s = 12
msg_interval_s = 2.0
[audit]
quiet_s = 1
[[chaos]]
kind = "kill"
target = "n1"
at_s = 5
for_s = 6
"""


def test_one_run_per_policy_and_a_comparison(tmp_path: Path) -> None:
    scenario = tmp_path / "av.toml"
    scenario.write_text(DRILL)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "imload", "avalanche", str(scenario), "--out",
                           str(out), "--policies", "none,full_jitter"], capture_output=True,
                          text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = orjson.loads((out / "avalanche.json").read_bytes())
    assert list(rows) == ["none", "full_jitter"]
    for row in rows.values():
        storm = row["storm"]
        assert row["verdict"] == "passed" and storm["killed"] == "n1"
        assert storm["thrown_off"] > 0 and storm["back"] > 0
        assert set(storm["nodes"]) >= {"n2", "n3"}
    assert "reconnect storm after the kill" in done.stdout
    assert (out / "report.html").is_file() and (out / "none" / "verdict.json").is_file()


def test_a_drill_without_a_kill_is_refused(tmp_path: Path) -> None:
    scenario = tmp_path / "nokill.toml"
    scenario.write_text('name = "x"\n')
    done = subprocess.run([sys.executable, "-m", "imload", "avalanche", str(scenario), "--out",
                           str(tmp_path / "o"), "--policies", "none"], capture_output=True,
                          text=True, cwd=REPO, timeout=60)
    assert done.returncode == 2 and "needs a kill fault" in done.stderr
    bad = subprocess.run([sys.executable, "-m", "imload", "avalanche", str(scenario), "--out",
                          str(tmp_path / "o"), "--policies", "sometimes"], capture_output=True,
                         text=True, cwd=REPO, timeout=60)
    assert bad.returncode == 2 and "unknown backoff policy sometimes" in bad.stderr
