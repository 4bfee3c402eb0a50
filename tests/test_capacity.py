"""``imload capacity`` end to end: a step load, each step judged, the knee reported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.integration

CAPACITY = """
name = "cap"
seed = 5
[cluster]
nodes = 2
[load]
msg_interval_s = 0.5
[capacity]
steps = [2, 16, 32]
step_s = 8
ramp_s = 2
spawn_rate = 40
[[slo]]
# about 2 x 2 x 6 = 24 sends in step 1's judged window, about 190 in step 2's: a limit
# far from both, so the knee does not depend on the machine's speed
figure = "counts.attempted"
max = 90
name = "at most 90 sends per step"
"""


def test_capacity_finds_the_knee_and_names_what_broke(tmp_path: Path) -> None:
    scenario = tmp_path / "cap.toml"
    scenario.write_text(CAPACITY)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "imload", "capacity", str(scenario), "--out",
                           str(out)], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    report = orjson.loads((out / "capacity.json").read_bytes())
    rows = report["steps"]
    assert [r["users"] for r in rows][:2] == [2, 16]
    assert [r["passed"] for r in rows][:2] == [True, False]
    assert rows[1]["broke"] == ["at most 90 sends per step"]
    assert report["knee"] == {"max_users": 2, "max_msgs_per_s": rows[0]["msgs_per_s"],
                              "first_failing_users": 16,
                              "broke_first": "at most 90 sends per step"}
    assert "capacity: 2 users" in done.stdout and "◀ knee" in done.stdout
    html = (out / "report.html").read_text()
    assert "← knee" in html and "at most 90 sends per step" in html
    assert (out / "series.csv").read_text().startswith("t_s,")  # beside the report
    verdict = orjson.loads((out / "verdict.json").read_bytes())
    assert verdict["anomalies"]["lost"] == 0  # the run as a whole was checked too


def test_capacity_without_steps_is_refused(tmp_path: Path) -> None:
    scenario = tmp_path / "none.toml"
    scenario.write_text('name = "x"\n')
    done = subprocess.run([sys.executable, "-m", "imload", "capacity", str(scenario), "--out",
                           str(tmp_path / "o")], capture_output=True, text=True, cwd=REPO,
                          timeout=60)
    assert done.returncode == 2 and "needs [capacity] steps" in done.stderr
