"""Packet-fault drills end to end (chaos/packet-loss.toml): the devices in the run's network
namespace, 10 % bursty loss on every node's link, the reference server still keeping every
promise, TCP's retransmissions counted in the namespace, and nothing left behind, after an
interrupted run too. As root only (namespaces, nft)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from imload.faults.netns import leftovers, means
from imload.run import run_scenario
from imload.scenario import load_scenario

REPO = Path(__file__).resolve().parent.parent
DRILL = REPO / "chaos" / "packet-loss.toml"
pytestmark = pytest.mark.integration


def needs_packet_faults() -> None:
    m = means()
    if m.refusal() is not None or not m.nft:
        pytest.skip(f"packet faults cannot be made here: {m.refusal() or 'no nft'}")


def imload_run(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "imload", "run", str(DRILL), "--out", str(out),
            "--time-scale", "0.5", "--users", "20", *extra]


def test_packet_loss_drill_passes_with_retransmissions(tmp_path: Path) -> None:
    needs_packet_faults()
    done = subprocess.run(imload_run(tmp_path / "run"), capture_output=True, text=True,
                          cwd=REPO, timeout=300)
    verdict = orjson.loads((tmp_path / "run" / "verdict.json").read_bytes())
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert verdict["outcome"] == "passed"
    assert {(f["kind"], f["target"]) for f in verdict["faults"]} >= {("netem", "n1"),
                                                                    ("netem", "n2")}
    counters = json.loads((tmp_path / "run" / "network.json").read_text())
    assert counters["RetransSegs"] > 0, counters
    assert "segments sent again" in done.stderr
    assert [x for x in leftovers() if "imload" in x or x.startswith("link im")] == []


def test_ctrl_c_mid_load_removes_the_network(tmp_path: Path) -> None:
    needs_packet_faults()
    before = set(leftovers())
    proc = subprocess.Popen(imload_run(tmp_path / "run"), cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "run" / "locust.log").exists():  # the load has started
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        time.sleep(5)  # the fault is on (at_s 2.5 at half time)
        assert set(leftovers()) - before  # the run's namespace, link and table are there
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 2 and "interrupted" in err, err[-2000:]
    assert set(leftovers()) <= before


def test_a_staging_target_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "staging.toml"
    target.write_text('name = "staging"\nsecret = "s"\n[[nodes]]\nname = "n1"\n'
                      'url = "ws://10.0.0.5:7201/ws"\n')
    code = run_scenario(load_scenario(DRILL), tmp_path / "out", target_file=str(target))
    assert code == 2
