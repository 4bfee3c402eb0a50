"""What may import what (docs/architecture.md): the import contracts in pyproject.toml hold,
they fire when broken, and the pure layers load nothing impure."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LINT = str(Path(sys.executable).with_name("lint-imports"))
IMPURE = ("imload.client", "imload.drivers", "imload.users", "imload.journal.writer",
          "imload.journal.reader", "imload.journal.columnar", "gevent", "locust", "websocket",
          "websockets", "duckdb", "pyarrow", "redis")


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` with the repository's contracts over the packages under ``root``."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([LINT, "--no-cache", "--no-logo", str(REPO / "pyproject.toml")],
                          capture_output=True, text=True, cwd=root, env=env, timeout=300)


def test_the_import_contracts_hold() -> None:
    done = lint(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout and "4 kept" in done.stdout


def test_the_contracts_fire_on_an_impure_import_and_on_a_circle(tmp_path: Path) -> None:
    """A copy of the packages with the checker importing the client engine, and two check
    modules importing each other: both contracts report broken, naming the import."""
    for package in ("imload", "reference_server"):
        shutil.copytree(REPO / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    filing = tmp_path / "imload" / "check" / "filing.py"
    filing.write_text(filing.read_text() + "\nimport imload.client  # noqa\n"
                      "from imload.check import history  # noqa\n")
    done = lint(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "The checker is pure" in out and "BROKEN" in out
    assert "imload.check.filing -> imload.client" in out
    assert "No import circles among the modules of a package BROKEN" in out
    assert "- .history -> .filing" in out  # the import that would break the circle


def test_importing_the_checker_loads_nothing_impure() -> None:
    code = ("import sys, imload.check, imload.check.verdict; "
            "print('\\n'.join(sorted(sys.modules)))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO, check=True, timeout=60).stdout.split()
    assert "imload.check.verdict" in loaded  # it did import the checker
    impure = [m for m in loaded if m.startswith(IMPURE)]
    assert not impure, f"importing the checker loaded {impure}"


def test_the_journal_package_loads_its_reader_and_writer_on_first_use() -> None:
    code = ("import sys, imload.journal as j; before = 'imload.journal.writer' in sys.modules; "
            "j.JournalWriter; print(before, 'imload.journal.writer' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, check=True, timeout=60).stdout.split()
    assert out == ["False", "True"]
