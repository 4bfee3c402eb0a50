"""Packet-fault drills end to end (chaos/packet-loss.toml): the devices in the run's network
namespace, 10 % bursty loss on every node's link, the reference server still keeping every
promise, TCP's retransmissions counted in the namespace, and nothing left behind, after an
interrupted run too. As root only (namespaces, nft)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import pytest
from process_helpers import imload_in_background

from imload.faults.netns import leftovers, means, names
from imload.run import run_scenario
from imload.scenario import load_scenario

REPO = Path(__file__).resolve().parent.parent
DRILL = REPO / "chaos" / "packet-loss.toml"
DELAY_DRILL = REPO / "chaos" / "packet-delay.toml"
pytestmark = pytest.mark.integration


def needs_packet_faults() -> None:
    m = means()
    if m.refusal() is not None or not m.nft:
        pytest.skip(f"packet faults cannot be made here: {m.refusal() or 'no nft'}")


def left_by(stderr: str) -> list[str]:
    """What the run that printed ``stderr`` left: its namespace, veth and nft table (other
    runs may hold their own at the same time)."""
    found = re.search(r"the devices' network: namespace imload-(\S+) ", stderr)
    assert found, stderr[-2000:]
    ns, host_dev, _, table = names(found.group(1))
    return [x for x in leftovers() if ns in x or host_dev[:-1] in x or table in x]


DRILL_ARGS = [str(DRILL), "--time-scale", "0.5", "--users", "20"]


def imload_run(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "imload", "run", *DRILL_ARGS, "--out", str(out), *extra]


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
    assert left_by(done.stderr) == []


def test_packet_delay_drill_passes_with_the_emulator(tmp_path: Path) -> None:
    needs_packet_faults()
    m = means()
    if not m.netem and m.emulator is not None:
        pytest.skip(f"neither netem nor the userspace emulator here: {m.emulator}")
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "imload", "run", str(DELAY_DRILL),
                           "--time-scale", "0.5", "--users", "20", "--out", str(out)],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    verdict = orjson.loads((out / "verdict.json").read_bytes())
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert verdict["outcome"] == "passed"
    counters = json.loads((out / "network.json").read_text())
    assert counters["RetransSegs"] > 0, counters
    if not m.netem:  # the emulator made it: delayed, duplicated and corrupted packets
        made = counters["emulator"]
        assert made["delayed"] > 0 and made["duplicated"] > 0 and made["corrupted"] > 0, made
        assert "the packet emulator:" in done.stderr
    assert left_by(done.stderr) == []
    ns = re.search(r"the devices' network: namespace (\S+) ", done.stderr)
    ps = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True).stdout
    assert ns and not [line for line in ps.splitlines()
                       if "imload.faults.nfqueue" in line and f"--label {ns.group(1)}/" in line]


def test_packet_presets_shape_their_profiles_pools(tmp_path: Path) -> None:
    """chaos/mobile-packets.toml: a pool on high-speed-rail-packets (handovers: every packet
    lost for under a second, again and again, beside the delay), one on 3g-packets; the
    run passes, and the emulator's held packets outlive every handover's rule change."""
    needs_packet_faults()
    m = means()
    if not m.netem and m.emulator is not None:
        pytest.skip(f"neither netem nor the userspace emulator here: {m.emulator}")
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "imload", "run",
                           str(REPO / "chaos" / "mobile-packets.toml"), "--time-scale", "0.5",
                           "--out", str(out)], capture_output=True, text=True, cwd=REPO,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    verdict = orjson.loads((out / "verdict.json").read_bytes())
    assert verdict["outcome"] == "passed"
    targets = [f["target"] for f in verdict["faults"] if f["kind"] == "netem"]
    assert {"n1.rail", "n2.rail", "n1.3g", "n2.3g"} <= set(targets)
    assert targets.count("n1.rail") + targets.count("n2.rail") >= 4  # handovers too
    counters = json.loads((out / "network.json").read_text())
    if not m.netem:
        assert counters["emulator"]["delayed"] > 0 and counters["emulator"]["errors"] == 0
    assert left_by(done.stderr) == []


def test_ctrl_c_mid_load_removes_the_network(tmp_path: Path) -> None:
    needs_packet_faults()
    out = tmp_path / "run"
    with imload_in_background(DRILL_ARGS, out) as (proc, lines):
        deadline = time.monotonic() + 120
        while not (out / "locust.log").exists():  # the load has started
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        time.sleep(5)  # the fault is on (at_s 2.5 at half time)
        assert len(left_by("".join(lines))) == 3  # its namespace, veth and nft table
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
    assert proc.returncode == 2 and "interrupted" in "".join(lines), "".join(lines)[-2000:]
    assert left_by("".join(lines)) == []


def test_a_staging_target_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "staging.toml"
    target.write_text('name = "staging"\nsecret = "s"\n[[nodes]]\nname = "n1"\n'
                      'url = "ws://10.0.0.5:7201/ws"\n')
    code = run_scenario(load_scenario(DRILL), tmp_path / "out", target_file=str(target))
    assert code == 2
    assert 'netem faults need target = "local"' in capsys.readouterr().err


def test_without_root_the_run_is_refused() -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run imload as another user")
    with tempfile.TemporaryDirectory() as where:  # pytest's own folders are root's only
        Path(where).chmod(0o777)
        done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                               sys.executable, "-m", "imload", "run", str(DRILL), "--out",
                               f"{where}/run"], capture_output=True, text=True, cwd=where,
                              timeout=120)
    assert done.returncode == 2
    assert ("the devices' network namespace could not be made: packet faults need root "
            "(network namespaces, veth pairs, tc and nft): run imload as root") in done.stderr
