"""Every reference-server bug mode is caught end to end, with its own anomaly kind.

Each drill is a scenario in ``chaos/bugs/`` run as ``imload run`` (a real cluster:
redis-server, toxiproxy-server, reference nodes started with ``--bug``, Locust).
It must fail with the bug's anomaly kind, and the very same drill with the bug
line removed (the correct server) must pass: so the check can fire, and fires
only on the bug.

``lww-read`` needs clients that send ``read``: its drill uses the multi-device
people of the ``churn`` mix, whose devices read what they receive and queue reads
while they are away.

``op-reorder`` needs pipelined flushes of ops queued offline: one-device people of the
``churn`` mix (whose clients pipeline their queue) in airplane spells, ops every 2 s.

``stale-members`` needs messages that follow joins: a groups-heavy crowd with many
late joiners. ``stale-members-terse`` is the same drill on nodes that also word
membership events as text without member lists (``terse-events``): the checker
takes who must receive a group message from the clients' acked ops, so it still
finds the losses. Its key here is the drill's file name; ``BUG_LINES`` its modes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

REPO = Path(__file__).resolve().parent.parent
BUGS = REPO / "chaos" / "bugs"
pytestmark = pytest.mark.integration

# drill (its file in chaos/bugs/, named after its bug mode) -> the anomaly kind it must report
DRILLS = {
    "lose-offline": "lost",
    "no-dedup": "duplicated",
    "racy-seq": "order",
    "lww-read": "read_sync",
    "op-reorder": "op",
    "stale-members": "lost",
    "stale-members-terse": "lost",
    "tamper-body": "undecryptable",
}
# drills whose bug line is not just their name (several modes, comma-separated)
BUG_LINES = {"stale-members-terse": "stale-members,terse-events"}


def run_drill(scenario: Path, out: Path) -> tuple[subprocess.CompletedProcess[str],
                                                  dict[str, Any]]:
    done = subprocess.run([sys.executable, "-m", "imload", "run", str(scenario), "--out",
                           str(out)], capture_output=True, text=True, cwd=REPO, timeout=300)
    verdict = orjson.loads((out / "verdict.json").read_bytes()) if (
        out / "verdict.json").is_file() else {}
    return done, verdict


def without_bug(scenario: Path, tmp: Path) -> Path:
    """A copy of the drill with its ``bug = ...`` line (every mode it names) removed: the
    correct server."""
    lines = scenario.read_text().splitlines()
    kept = [line for line in lines if not line.strip().startswith("bug =")]
    assert len(kept) == len(lines) - 1, f"{scenario} should name its bug once"
    copy = tmp / f"correct-{scenario.name}"
    copy.write_text("\n".join(kept) + "\n")
    return copy


@pytest.mark.parametrize("bug", sorted(DRILLS))
def test_the_bug_drill_fails_with_the_bugs_anomaly(bug: str, tmp_path: Path) -> None:
    kind = DRILLS[bug]
    scenario = BUGS / f"{bug}.toml"
    assert f'bug = "{BUG_LINES.get(bug, bug)}"' in scenario.read_text()
    done, v = run_drill(scenario, tmp_path / "out")
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert v["passed"] is False and v["valid"] is False
    assert v["anomalies"][kind] > 0, v["anomalies"]
    example = v["examples"][kind][0]
    assert example["explain"] and example["events"]
    assert "FAILED" in done.stdout and kind in done.stdout


@pytest.mark.parametrize("bug", sorted(DRILLS))
def test_the_same_drill_passes_on_the_correct_server(bug: str, tmp_path: Path) -> None:
    done, v = run_drill(without_bug(BUGS / f"{bug}.toml", tmp_path), tmp_path / "out")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert v["passed"] is True, v["anomalies"]
    assert v["counts"]["acked"] > 50
    assert all(n == 0 for n in v["anomalies"].values())
