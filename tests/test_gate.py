"""The CI gate: a run that loses a message or misses an SLO exits 1 with JUnit failures;
a clean one exits 0 with every check's coverage complete."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import orjson
import pytest
import xmlschema

REPO = Path(__file__).resolve().parent.parent
SCHEMA = xmlschema.XMLSchema(Path(__file__).parent / "data" / "junit.xsd")
pytestmark = pytest.mark.integration

GATE = """
name = "gate"
seed = 3
[cluster]
nodes = 2
{bug}
[load]
users = 12
spawn_rate = 3
duration_s = 10
msg_interval_s = 1.0
population = 6
[audit]
quiet_s = 1
[[slo]]
figure = "latency_ms.ack.p99"
max = {ack_max}
name = "ack p99"
[[slo]]
figure = "ratios.retry"
max = 1.5
"""


def gate(tmp: Path, bug: str, ack_max: float) -> tuple[int, dict, dict[str, ET.Element]]:
    scenario = tmp / "gate.toml"
    scenario.write_text(GATE.format(bug=bug, ack_max=ack_max))
    out = tmp / "out"
    done = subprocess.run([sys.executable, "-m", "imload", "run", str(scenario), "--out",
                           str(out)], capture_output=True, text=True, cwd=REPO, timeout=300)
    SCHEMA.validate(out / "junit.xml")
    cases = {f"{c.get('classname')}.{c.get('name')}": c
             for c in ET.parse(out / "junit.xml").getroot().iter("testcase")}
    return done.returncode, orjson.loads((out / "verdict.json").read_bytes()), cases


def test_a_run_that_loses_messages_and_misses_an_slo_fails_the_gate(tmp_path: Path) -> None:
    # two devices per person coming online over 4 s under lose-offline: pushes to the first
    # device remove inbox entries the second then never gets (see docs/protocol.md)
    code, verdict, cases = gate(tmp_path, 'bug = "lose-offline"', ack_max=0.001)
    assert code == 1
    assert verdict["passed"] is False and verdict["anomalies"]["lost"] > 0
    assert verdict["outcome"] == "failed"
    lost = cases["anomalies.lost"].find("failure")
    assert lost is not None and f"{verdict['anomalies']['lost']} lost" in lost.get("message", "")
    assert cases["slo.ack p99"].find("failure") is not None
    assert cases["slo.ratios.retry <= 1.5"].find("failure") is None
    assert {s["name"]: s["passed"] for s in verdict["slo"]}["lost = 0"] is False
    # verdict.json keeps the implicit SLO; junit.xml says it once, as anomalies.lost
    assert "slo.lost = 0" not in cases


def test_a_clean_run_passes_the_gate(tmp_path: Path) -> None:
    code, verdict, cases = gate(tmp_path, "", ack_max=5000)
    assert code == 0 and verdict["passed"] is True
    assert all(c.find("failure") is None and c.find("error") is None for c in cases.values())
    # the scenario's SLOs are cases; the implicit ones are the anomaly and coverage cases
    assert {"anomalies.lost", "slo.ack p99", "slo.ratios.retry <= 1.5"} <= set(cases)
    assert [k for k in cases if k.startswith("slo.")] == ["slo.ack p99",
                                                          "slo.ratios.retry <= 1.5"]
    assert {"lost = 0", "lost coverage = 100 %"} <= {s["name"] for s in verdict["slo"]}
    # a clean drill judged everything: every check's coverage case is there and green
    assert verdict["outcome"] == "passed" and verdict["valid"] is True
    assert {f"coverage.{kind}" for kind in verdict["coverage"]} <= set(cases)
