"""A Locust master (``imload run --expect-workers 2``) and two workers on loopback: the
workers' journals reach the master through Locust's messages and one verdict covers all;
with one worker's monotonic clock 10 hours ahead (a Linux time namespace), the master's
clock offset estimates put every event back on one timeline."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import orjson
import pytest

from imload.check import check
from imload.journal import read_journal
from imload.journal.reader import read_file
from imload.journal.timeline import align

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


def run_distributed(tmp_path: Path, scenario_text: str,
                    prefixes: tuple[list[str], list[str]] = ([], [])
                    ) -> tuple[subprocess.Popen[str], str, str, Path]:
    """``imload run`` with two workers (each started behind its prefix command); the
    master process, its stdout and stderr, and the run folder."""
    scenario = tmp_path / "d.toml"
    scenario.write_text(scenario_text)
    out, port = tmp_path / "out", free_port()
    master = subprocess.Popen(
        [sys.executable, "-m", "imload", "run", str(scenario), "--out", str(out),
         "--expect-workers", "2", "--master-port", str(port)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    workers = []
    try:
        # workers may start before the master listens: Locust workers keep trying
        for i, prefix in enumerate(prefixes):
            wdir = tmp_path / f"worker{i}"
            wdir.mkdir()
            workers.append(subprocess.Popen(
                [*prefix, sys.executable, "-m", "locust",
                 "-f", str(REPO / "locustfiles" / "chat.py"),
                 "--worker", "--master-host", "127.0.0.1", "--master-port", str(port),
                 "--loglevel", "WARNING"],
                cwd=wdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True))
        stdout, stderr = master.communicate(timeout=300)
    finally:
        for p in [master, *workers]:
            if p.poll() is None:
                p.kill()
            p.wait()
        for p in workers:  # a worker behind unshare --fork is its child: the whole group
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
    return master, stdout, stderr, out


AHEAD_S = 36000  # the skewed worker's monotonic clock runs 10 hours ahead
AHEAD = ["unshare", "--time", "--monotonic", str(AHEAD_S), "--kill-child"]


def time_namespaces() -> str | None:
    """None when ``unshare --time`` moves a process's monotonic clock here, else why not."""
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    if os.geteuid() != 0:
        return "a time namespace (unshare --time) needs root"
    probe = subprocess.run([*AHEAD, sys.executable, "-c", "import time; print(time.monotonic())"],
                           capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        return f"no time namespaces here: {probe.stderr.strip()[:200]}"
    if float(probe.stdout) < time.monotonic() + AHEAD_S - 60:
        return "unshare --time --monotonic did not move the clock"
    return None


def journal_files(out: Path) -> dict[str, list[dict[str, Any]]]:
    bad: list[str] = []
    files = {f.name: read_file(f, bad) for f in sorted((out / "journal").iterdir())
             if f.is_file()}  # JSON lines or columnar: read_file knows each format
    assert not bad, bad
    return files


def send_to_push_s(events: list[dict[str, Any]]) -> list[float]:
    """For every push of a message in the load phase: its time minus its first send's."""
    sent: dict[tuple[str, str], float] = {}
    for e in events:
        if e["ev"] == "send":
            sent.setdefault((e["user"], e["cmid"]), e["at"])
    return [e["at"] - sent[(e["from"], e["cmid"])] for e in events
            if e["ev"] == "deliver" and e["via"] == "push" and e["phase"] == "load"
            and (e.get("from"), e.get("cmid")) in sent]


def test_master_and_two_workers_one_ten_hours_ahead_make_one_verdict(tmp_path: Path) -> None:
    """One run (a master/worker run is the suite's dearest): the workers ship their
    journals to the master, and one worker's clock runs 10 hours ahead (a time namespace)
    and is put back on the master's timeline."""
    cannot = time_namespaces()
    master, stdout, stderr, out = run_distributed(
        tmp_path, SCENARIO, prefixes=([], AHEAD if cannot is None else []))
    assert master.returncode == 0, stdout + stderr
    assert "waiting for 2 workers" in stderr
    verdict = orjson.loads((out / "verdict.json").read_bytes())
    assert verdict["passed"] is True and verdict["counts"]["acked"] > 20
    journal = read_journal(out / "journal").events
    devices = {(e["user"], e["device"]) for e in journal if e["ev"] == "device"}
    assert len(devices) == 12  # every worker's devices reached the master's journal
    # no journal was written in the workers' own folders: it was shipped
    assert not list(tmp_path.glob("worker*/imload-journal/*"))
    if cannot is not None:
        pytest.skip(f"the clocks part: {cannot}")
    # the run's own verdict: read_journal aligned the clocks, so the run passed and says how
    timeline = json.loads((out / "verdict.json").read_text())["journal"]["timeline"]
    assert timeline["method"] == "measured" and timeline["sources"] == 3, timeline
    files = journal_files(out)
    every = [e for events in files.values() for e in events]
    run = files["run.jsonl"]
    load = {e["action"]: e["at"] for e in run if e["ev"] == "phase" and e["phase"] == "load"}
    anchors = {e["source"]: e for e in every if e["ev"] == "clock"}
    (ref,) = [s for s, a in anchors.items() if a.get("role") == "master"]
    (ahead,) = [s for s, a in anchors.items() if a["at"] > load["start"] + AHEAD_S - 60]
    (level,) = set(anchors) - {ref, ahead}
    estimates = [e for e in every if e["ev"] == "clock_offset"]
    assert {e["source"] for e in estimates} == {ahead, level}
    assert len(estimates) >= 4  # a burst's best at the start, then every 5 s, per worker
    # unaligned, the skewed worker's events are hours away and so are its latencies
    late = [e for e in every if e["at"] > load["end"] + AHEAD_S - 60]
    assert len(late) > 100
    raw_push = send_to_push_s(every)
    assert max(raw_push) > AHEAD_S - 60 and min(raw_push) < -(AHEAD_S - 60)
    raw = check(sorted(every, key=lambda e: e["at"]))
    assert raw["latency_ms"]["e2e"]["max"] >= 3_000_000  # clamped at one hour

    summary = align(list(files.values()))
    assert summary["method"] == "measured" and summary["reference"] == ref
    assert summary["sources"] == 3
    bound = summary["bound_s"]
    assert bound is not None and 0 <= bound < 0.05, summary
    by_source = {a["source"]: a for a in summary["aligned"]}
    assert abs(by_source[ahead]["offset_s"] - AHEAD_S) <= by_source[ahead]["bound_s"] + 1e-5
    assert by_source[level]["offset_s"] == 0.0  # the master's own clock: not moved
    # aligned: every event lies in the run's load window, every push follows its send
    slack = bound + 1e-5
    workers = [e for name, events in files.items() if name != "run.jsonl" for e in events
               if e["ev"] not in ("clock_offset",)]
    outside = [e for e in workers if not load["start"] - slack <= e["at"] <= load["end"] + slack]
    assert not outside, outside[:3]
    push = send_to_push_s(every)
    assert len(push) > 50
    assert min(push) >= -slack and max(push) < 5.0, (min(push), max(push))
    verdict = check(sorted(every, key=lambda e: e["at"]), timeline=summary)
    assert verdict["journal"]["timeline"]["bound_s"] == bound
    assert verdict["latency_ms"]["e2e"]["max"] < 60_000
    assert verdict["anomalies"] == dict.fromkeys(verdict["anomalies"], 0), verdict["examples"]
