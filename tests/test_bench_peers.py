"""benchmarks/bench_peers.py in its smallest mode: 2 pairs for 6 s per tool, each in a
real Locust process against a private reference node (integration: redis-server, a node,
Locust). Checks the output's shape, not the figures (a loaded machine moves them)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_peers.py"


@pytest.mark.integration
def test_the_smallest_run_prints_each_tools_cpu_per_1000_messages() -> None:
    p = subprocess.run([sys.executable, str(BENCH), "--quick", "--pairs", "2", "--seconds",
                        "6"], capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr[-3000:]
    lines = [json.loads(ln) for ln in p.stdout.splitlines() if ln.startswith("{")]
    cpu = {ln["tool"]: ln for ln in lines if ln["figure"] == "cpu_ms_per_1k_messages"}
    assert set(cpu) == {"imload", "bare", "tsung"}
    for tool in ("imload", "bare"):
        assert cpu[tool]["value"] > 0 and cpu[tool]["unit"] == "cpu-ms/1000 messages"
        assert cpu[tool]["devices"] == 4 and cpu[tool]["does"]
    assert cpu["imload"]["baseline"] == cpu["bare"]["value"] and cpu["imload"]["ratio"] > 0
    rates = {ln["tool"]: ln for ln in lines if ln["figure"] == "messages_per_s"}
    assert set(rates) == {"imload", "bare"} and all(r["value"] > 0 for r in rates.values())
    assert all(r["asked"] == 8.0 for r in rates.values())
    if shutil.which("tsung") is None:
        assert cpu["tsung"]["skipped"] == "tsung not installed"


def test_bad_arguments_get_a_one_line_error() -> None:
    p = subprocess.run([sys.executable, str(BENCH), "--seconds", "2"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "--seconds >= 6" in p.stderr.strip().splitlines()[-1]
