"""What ``imload run`` sets up before the load (imload/run_setup.py), without I/O: the
devices' network namespace is made only for packet faults and refused where it cannot
work, SIGTERM runs the Ctrl-C clean-up, and a target without Toxiproxy has no fault API.
(Starting targets and namespaces for real: tests/test_run.py, tests/test_netem_drills.py.)"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from rich.console import Console

from imload.cluster.target import NodeSpec, Target
from imload.run_setup import RunError, open_network, sigterm_as_interrupt, toxiproxy_of
from imload.scenario import parse_scenario

NETEM = {"kind": "netem", "target": "*", "at_s": 1, "for_s": 1, "loss": 10}


def test_no_packet_fault_no_namespace(tmp_path: Path) -> None:
    scenario = parse_scenario({}, tmp_path / "s.toml")
    assert open_network(scenario, None, Console(quiet=True)) is None


@pytest.mark.parametrize(("data", "target", "why"), [
    ({"chaos": [NETEM], "load": {"expect_workers": 1}}, None, "expect_workers = 0"),
    ({"chaos": [NETEM]}, "staging.toml", 'target = "local"'),
    ({"chaos": [NETEM], "cluster": {"backend": "mosquitto"}}, None, "reference backend"),
])
def test_packet_faults_are_refused_where_a_namespace_cannot_carry_the_devices(
        tmp_path: Path, data: dict, target: str | None, why: str) -> None:
    scenario = parse_scenario(data, tmp_path / "s.toml")
    with pytest.raises(RunError, match=why):
        open_network(scenario, target, Console(quiet=True))


def test_sigterm_runs_the_ctrl_c_clean_up() -> None:
    with pytest.raises(KeyboardInterrupt), sigterm_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # given back


def test_a_target_without_toxiproxy_has_no_fault_api() -> None:
    bare = Target(name="t", secret="s", nodes=[NodeSpec("n1", "ws://127.0.0.1:1/ws")])
    assert toxiproxy_of(bare) is None
