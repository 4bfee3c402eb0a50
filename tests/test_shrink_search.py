"""The search: what it reads of a failed run, and a bug-mode run shrunk end to end."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from imload.shrink.candidate import Candidate
from imload.shrink.search import load_run, write_candidate

REPO = Path(__file__).resolve().parent.parent

# lose-offline (docs/protocol.md, bug modes): 100 devices of 50 people start 50 a second,
# first devices first, and send from 0.5 s on (warmup_s), so each person's second device
# is away (until 1 to 2 s) while the first gets messages. The load lasts 3 s, so a try of
# the whole trace takes about 5 s: the search ends in 14 tries, about 50 s (measured on a
# loaded 2-core machine). The budget only bounds a much slower machine: the search is
# meant to end by itself, so the test does not depend on how fast the tries run.
DRILL = """
name = "shrink-test"
target = "local"
seed = 7

[cluster]
nodes = 2
bug = "lose-offline"

[load]
users = 100
spawn_rate = 50
duration_s = 3
msg_interval_s = 0.7
population = 50

[load.mix]
base = "chat"
warmup_s = 0.5

[audit]
quiet_s = 0.5
timeout_s = 60

[[chaos]]
kind = "latency"
target = "n2"
at_s = 0.5
for_s = 2
latency = 50
"""


def a_run(tmp: Path, anomalies: dict[str, int]) -> Path:
    d = tmp / "run"
    (d / "journal").mkdir(parents=True)
    (d / "verdict.json").write_bytes(orjson.dumps({"anomalies": anomalies}))
    (d / "scenario.toml").write_text('name = "x"\n[[chaos]]\nkind = "pause"\ntarget = "n1"\n'
                                     'at_s = 1\n')
    events = [{"ev": "device", "at": 5.0, "user": "r1u0", "device": "d0"},
              {"ev": "send", "at": 6.0, "user": "r1u0", "device": "d0", "cmid": "c",
               "conv": "d:r1u0:r1u1", "attempt": 1}]
    (d / "journal" / "run.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n"
                                                       for e in events))
    return d


def test_the_kind_is_the_first_the_checker_reports_unless_named(tmp_path: Path) -> None:
    d = a_run(tmp_path, {"lost": 2, "order": 0, "gap": 40})
    run = load_run(d, None)
    assert (run.kind, run.count) == ("lost", 2)
    assert run.original.counts()["messages"] == 1
    assert run.original.faults == ({"kind": "pause", "target": "n1", "at_s": 1},)
    assert load_run(d, "gap").kind == "gap"


def test_a_candidate_is_written_as_a_scenario_and_its_trace(tmp_path: Path) -> None:
    c = Candidate(({"t": 3.0, "user": "u0", "device": "d0", "action": "send",
                    "conv": "d:u0:u1", "size": 32},))
    path = write_candidate(tmp_path, "minimal", {"name": "x", "load": {"users": 9}}, c, "x-min")
    assert path.read_text().count('trace = "minimal-trace.jsonl"') == 1
    lines = (tmp_path / "minimal-trace.jsonl").read_text().splitlines()
    assert orjson.loads(lines[0])["trace"] == "imload" and len(lines) == 2


def _ours(tmp: Path) -> list[str]:
    found = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in found.splitlines() if str(tmp) in line]


@pytest.mark.integration
def test_a_bug_mode_run_shrinks_to_a_handful_that_fails_alike(tmp_path: Path) -> None:
    drill = tmp_path / "drill.toml"
    drill.write_text(DRILL)
    run = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "imload", "run", str(drill), "--out",
                           str(run)], capture_output=True, text=True, cwd=REPO, timeout=120)
    verdict = orjson.loads((run / "verdict.json").read_bytes())
    assert done.returncode == 1 and verdict["anomalies"]["lost"] > 0, done.stdout[-2000:]
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "imload", "shrink", str(run), "--tries", "1",
                           "--budget-s", "400"], capture_output=True, text=True, cwd=REPO,
                          timeout=480)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "stopped early" not in done.stdout, done.stdout  # it ran to its end
    assert time.monotonic() - started < 400 + 60  # the last try ends after the budget
    figures = re.search(r"lost: devices (\d+) -> (\d+), messages (\d+) -> (\d+), "
                        r"faults (\d+) -> (\d+)", done.stdout)
    assert figures, done.stdout
    d0, d1, m0, m1, f0, f1 = map(int, figures.groups())
    assert (d0, f0) == (100, 1) and m0 > 50
    assert d1 <= 3 and m1 <= 2 and f1 == 0, done.stdout  # a handful, no fault
    # the minimal drill is one a try saw fail with the same kind
    assert re.search(rf"devices +{d1} +messages +{m1} +faults {f1} +-> fails \(lost \d+\)",
                     done.stdout), done.stdout
    shrink = run / "shrink"
    assert (shrink / "minimal.toml").is_file() and (shrink / "README.md").is_file()
    assert len((shrink / "minimal-trace.jsonl").read_text().splitlines()) >= 2
    assert _ours(tmp_path) == []  # the tries' Locust, nodes, Redis, Toxiproxy: all gone
