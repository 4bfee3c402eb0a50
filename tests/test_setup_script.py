"""scripts/setup.sh on a fresh virtualenv: the install prints progress, not warnings.

The README's promise (docs/tutorial.md): the two commands set everything up by themselves,
quietly. The rest of set-up (packages, toxiproxy-server) is found already there by then; the
drill test in test_run.py checks that set-up leaves a machine's own Redis alone.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.integration

# what pip and setuptools print when something deserves a look: deprecations, warnings, errors
NOISE = re.compile(r"warning|deprecat|error|!!", re.IGNORECASE)


def test_a_fresh_install_prints_progress_and_no_warnings(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    env = {**os.environ, "IMLOAD_VENV": str(venv)}
    done = subprocess.run(["bash", "scripts/setup.sh"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert f"installing imload and its dependencies into {venv}" in out
    assert not [line for line in out.splitlines() if NOISE.search(line)], out
    assert out.rstrip().endswith("[setup] ready"), out
    # the package is importable from the new virtualenv, from this checkout (editable)
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import imload; print(imload.__file__)"],
                           capture_output=True, text=True, timeout=60)
    assert where.returncode == 0 and where.stdout.startswith(str(REPO)), where
    # a second run finds it installed and says so
    again = subprocess.run(["bash", "scripts/setup.sh"], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and f"{venv} is up to date" in again.stdout
