"""The userspace emulator's processes (imload/faults/emulators.py): what it lacks is named,
an emulator that cannot start is a clear error with nothing left running. The emulator at
work across a real namespace: tests/test_faults_nfqueue.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from imload.faults.emulators import Emulators, why_not
from imload.faults.packet_rules import LinkFault, Shape
from imload.faults.shell import NetError


def test_why_not_names_iptables_when_it_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert why_not.__wrapped__() == "iptables on PATH (sudo scripts/install-package.sh iptables)"


def test_a_fault_without_emulated_keys_starts_nothing(tmp_path: Path) -> None:
    emulators = Emulators("imload-nothing", tmp_path / "emulator")
    emulators.start(LinkFault("f1", "198.18.0.1", 7201, "both", Shape(loss=10, rate=64)))
    assert emulators.total() == {} and emulators.close() == []
    assert not (tmp_path / "emulator").exists()


def test_an_emulator_that_cannot_start_is_named_and_gone(tmp_path: Path) -> None:
    emulators = Emulators("imload-no-such-namespace", tmp_path / "emulator")
    fault = LinkFault("f1", "198.18.0.1", 7201, "upstream", Shape(delay=10))
    with pytest.raises(NetError, match="the packet emulator for f1/upstream did not start: "):
        emulators.start(fault)
    assert emulators.close() == [] and not (tmp_path / "emulator").exists()
    ps = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True).stdout
    assert "--label imload-no-such-namespace/" not in ps
