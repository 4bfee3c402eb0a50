"""benchmarks/bench_peers.py in its smallest mode: 2 pairs for 6 s per tool, each in a
real Locust process against a private reference node (integration: redis-server, a node,
Locust). Checks the output's shape, not the figures (a loaded machine moves them)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_peers.py"


@pytest.mark.integration
def test_the_smallest_run_prints_each_tools_cpu_per_1000_messages() -> None:
    p = subprocess.run([sys.executable, str(BENCH), "--quick", "--pairs", "2", "--seconds",
                        "6"], capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr[-3000:]
    lines = [json.loads(ln) for ln in p.stdout.splitlines() if ln.startswith("{")]
    cpu = {ln["tool"]: ln for ln in lines if ln["figure"] == "cpu_ms_per_1k_messages"}
    ran = ["imload", "bare"]
    if shutil.which("tsung") is None:
        assert set(cpu) == {"imload", "bare", "tsung"}
        assert cpu["tsung"]["skipped"].startswith("tsung not installed")
    else:
        ran += ["tsung", "tsung-no-busy-wait"]
        assert set(cpu) == set(ran) and cpu["imload"]["tsung_ratio"] > 0
    for tool in ran:
        assert cpu[tool]["value"] > 0 and cpu[tool]["unit"] == "cpu-ms/1000 messages"
        assert cpu[tool]["devices"] == 4 and cpu[tool]["does"]
    assert cpu["imload"]["baseline"] == cpu["bare"]["value"] and cpu["imload"]["ratio"] > 0
    rates = {ln["tool"]: ln for ln in lines if ln["figure"] == "messages_per_s"}
    assert set(rates) == set(ran) and all(r["value"] > 0 for r in rates.values())
    assert all(r["asked"] == 8.0 for r in rates.values())


def test_the_tsung_scenario_logs_every_device_in_and_sends_text_frames(tmp_path: Path) -> None:
    sys.path.insert(0, str(BENCH.parent))
    from peers_tsung import devices_csv, tsung_config

    from imload.protocol import verify_token

    rows = [ln.split(";") for ln in devices_csv("r", 2, "s" * 32).splitlines()]
    assert len(rows) == 4 and rows[0][1] == rows[1][1] != rows[2][1]  # pairs share a chat
    assert [verify_token("s" * 32, token)[0] for token, _ in rows] == ["rt0a", "rt0b",
                                                                       "rt1a", "rt1b"]
    xml = ElementTree.fromstring(tsung_config("ws://127.0.0.1:7001/ws", 4, 0.5, 24,
                                              tmp_path / "d.csv", "hi"))
    assert xml.find("servers/server").attrib == {"host": "127.0.0.1", "port": "7001",
                                                 "type": "tcp"}
    assert xml.find("load").attrib["duration"] == "24"
    assert xml.find("load/arrivalphase/users").attrib["maxnumber"] == "4"
    frames = xml.findall(".//websocket[@type='message']")
    assert frames and all(f.attrib["frame"] == "text" for f in frames)
    assert '"t":"login"' in frames[0].text and '"t":"send"' in frames[1].text
    assert xml.find(".//for").attrib["to"] == str(int(24 / 0.5) + 10)


def test_bad_arguments_get_a_one_line_error() -> None:
    p = subprocess.run([sys.executable, str(BENCH), "--seconds", "2"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "--seconds >= 6" in p.stderr.strip().splitlines()[-1]
