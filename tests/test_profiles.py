"""Per-user network profiles: a share of the devices dials each node's profile proxy,
which carries a weak-network preset for the whole run; the others stay healthy."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import orjson
import pytest

from imload.journal import read_journal
from imload.scenario import ScenarioError, parse_scenario
from imload.users.identity import device_profile, parse_profiles

REPO = Path(__file__).resolve().parent.parent


def test_profile_shares_are_seeded_and_close_to_asked() -> None:
    picks = [device_profile(1, i, "3g=0.2,subway=0.05") for i in range(2000)]
    assert picks == [device_profile(1, i, "3g=0.2,subway=0.05") for i in range(2000)]
    assert 300 < picks.count("3g") < 500 and 50 < picks.count("subway") < 150
    assert device_profile(1, 0, "") is None
    for bad in ("3g", "3g=2", "a=0.7,b=0.7", "=0.1"):
        with pytest.raises(ValueError):
            parse_profiles(bad)


def test_scenario_profiles_make_preset_faults_on_profile_proxies() -> None:
    s = parse_scenario({"load": {"duration_s": 30},
                        "profiles": [{"name": "slow", "share": 0.3, "preset": "3g"}]},
                       Path("/tmp/p.toml"))
    plan = s.fault_plan(["n1", "n2"])
    assert {f.target for f in plan} == {"n1.slow", "n2.slow"}
    assert {(f.at_s, f.for_s) for f in plan} == {(0.0, 30.0)}
    for bad, words in (([{"name": "x", "share": 0.3, "preset": "moon"}], "preset must be"),
                       ([{"name": "a.b", "share": 0.3, "preset": "3g"}], "name must"),
                       ([{"name": "x", "share": 0.7, "preset": "3g"},
                         {"name": "y", "share": 0.7, "preset": "3g"}], "more than 1")):
        with pytest.raises(ScenarioError, match=words):
            parse_scenario({"profiles": bad}, Path("/tmp/p.toml"))


@pytest.mark.integration
def test_a_share_of_users_on_3g_while_the_others_stay_healthy(tmp_path: Path) -> None:
    scenario = tmp_path / "profiles.toml"
    scenario.write_text("""
name = "profiles"
seed = 4
[cluster]
nodes = 2
[load]
users = 16
spawn_rate = 16
duration_s = 12
msg_interval_s = 1.0
[audit]
quiet_s = 2
[[profiles]]
name = "slow"
share = 0.4
preset = "3g"
""")
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "imload", "run", str(scenario), "--out",
                           str(out)], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    verdict = orjson.loads((out / "verdict.json").read_bytes())
    assert {f["target"] for f in verdict["faults"]} == {"n1.slow", "n2.slow"}
    target = (out / "cluster" / "target.toml").read_text()
    nodes = tomllib.loads(target)["nodes"]
    slow = {n["profiles"]["slow"]["url"] for n in nodes}
    plain = {n["url"] for n in nodes}
    dialled: dict[tuple[str, str], set[str]] = {}
    for e in read_journal(out / "journal").events:  # columnar or JSON lines
        if e["ev"] == "connect":
            dialled.setdefault((e["user"], e["device"]), set()).add(e["url"])
    on_slow = [d for d, urls in dialled.items() if urls <= slow]
    on_plain = [d for d, urls in dialled.items() if urls <= plain]
    assert on_slow and on_plain and len(on_slow) + len(on_plain) == len(dialled)
    # the slow devices' acks are slower than the healthy ones' (300 ms +- 150 latency)
    assert verdict["latency_ms"]["ack"]["p99"] > 250
