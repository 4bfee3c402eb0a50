"""Every journal the checker's own tests build, judged by the DuckDB checker too
(tests/differential.py).

The reference checker's tests make hundreds of hand-made journals, each with one
anomaly or edge in mind. Run again with ``IMLOAD_DIFFERENTIAL``, every journal they
judge goes through the DuckDB checker as well: where the DuckDB checker takes it (in scope), the two
``verdict.json`` must be byte-identical; elsewhere the DuckDB checker must say why it handed
it over. A crash is a failure. (The whole ``tests/test_check_*.py`` takes ~75 s this
way; the suite runs the files the DuckDB checker's class touches most, at most 2 journals per
test: a property test makes hundreds.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parent.parent
FILES = ["tests/test_check_delivery.py", "tests/test_check_integrity.py",
         "tests/test_check_gaps.py", "tests/test_check_session_order.py",
         "tests/test_check_latency.py", "tests/test_check_figures.py",
         "tests/test_check_reads.py", "tests/test_check_ops.py",
         "tests/test_check_membership.py", "tests/test_check_recipients.py"]


def test_the_engine_agrees_with_the_reference_on_the_checkers_own_journals(
        tmp_path: Path) -> None:
    log = tmp_path / "differential.jsonl"
    env = {**os.environ, "IMLOAD_DIFFERENTIAL": str(log), "IMLOAD_DIFFERENTIAL_PER_TEST": "2"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *FILES], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:]
    rows = [orjson.loads(line) for line in log.read_bytes().splitlines()]
    crashed = [r for r in rows if r["scope"] == "crash"]
    differ = [r for r in rows if r.get("same") is False]
    assert not crashed, crashed[:3]
    assert not differ, differ[:3]
    judged = [r for r in rows if r["scope"] == "duckdb"]
    assert len(judged) >= 70, f"only {len(judged)} of {len(rows)} journals in its class"
    assert all(r["reason"] for r in rows if r["scope"] == "reference")
