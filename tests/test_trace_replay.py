"""Replaying a trace with Locust: every send of the trace is made, at x1 and at x2 alike,
and at x2 the same traffic takes half the time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from imload.journal import read_journal
from imload.traffic import get_mix, read_trace
from imload.traffic.trace import synth_file

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent
LOCUST = str(Path(sys.executable).with_name("locust"))
DURATION = 14.0


def replay(cluster: object, trace: Path, journal: Path, scale: float, run_id: str,
           devices: int) -> subprocess.CompletedProcess[str]:
    seconds = int(DURATION / scale + 8)
    cmd = [LOCUST, "-f", str(REPO / "locustfiles" / "chat.py"), "--headless",
           "-u", str(devices), "-r", str(devices), "-t", f"{seconds}s", "--stop-timeout", "10",
           "--imload-target", str(cluster.target_path), "--imload-journal",  # type: ignore[attr-defined]
           str(journal), "--imload-trace", str(trace), "--imload-time-scale", f"{scale:g}",
           "--imload-run-id", run_id]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=180)


def test_trace_replayed_at_x2_makes_the_same_messages_as_at_x1(cluster: object,
                                                                tmp_path: Path) -> None:
    trace_file = tmp_path / "trace.jsonl"
    summary = synth_file(trace_file, devices=40, mix=get_mix("chat"), seed=11,
                         duration_s=DURATION, msg_interval_s=1.5)
    trace = read_trace(trace_file)
    want = trace.count("send")
    assert want == summary["actions"]["send"] > 50
    spans = {}
    for scale, run_id in ((1.0, "tx1"), (2.0, "tx2")):
        journal = tmp_path / f"journal-{run_id}"
        p = replay(cluster, trace_file, journal, scale, run_id, summary["devices"])
        assert p.returncode == 0, p.stderr[-3000:]
        events = read_journal(journal).events
        sends = {(e["user"], e["cmid"]) for e in events if e["ev"] == "send"}
        acked = {(e["user"], e["cmid"]) for e in events if e["ev"] == "send_ok"}
        assert len(sends) == want, (scale, len(sends), want)
        assert acked == sends
        assert {e["user"] for e in events if e["ev"] == "device"} <= {
            f"{run_id}{u}" for u, _ in trace.devices}
        firsts = sorted(e["at"] for e in events if e["ev"] == "send" and e["attempt"] == 1)
        spans[scale] = firsts[-1] - firsts[0]
    assert spans[2.0] < 0.7 * spans[1.0]
