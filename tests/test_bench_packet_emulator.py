"""benchmarks/bench_packet_emulator.py: its figures, one JSON object per line, or one
``skipped`` line where the userspace emulator is not used (not root, netem, no iptables)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIGURES = {"emulator_bytes_per_s", "emulator_segments_per_s", "emulator_packets_per_s",
           "emulator_cpu_share_upstream", "emulator_cpu_share_downstream"}


def test_quick_run_prints_its_figures() -> None:
    done = subprocess.run([sys.executable, "benchmarks/bench_packet_emulator.py", "--quick",
                           "--seconds", "2"], capture_output=True, text=True, cwd=REPO,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    if "skipped" in lines[0]:
        assert len(lines) == 1 and lines[0]["skipped"]
        return
    figures = {line["figure"]: line for line in lines}
    assert set(figures) == FIGURES
    assert figures["emulator_packets_per_s"]["value"] > 0
    assert figures["emulator_bytes_per_s"]["baseline"] > 0
