"""The DuckDB checker against the reference on every journal the checker's tests build.

With ``IMLOAD_DIFFERENTIAL=<file>`` set, ``conftest`` wraps the reference's
``check`` and ``build_history`` (as the tests see them): each journal a test
judges is judged by the DuckDB checker too (``imload.checkdb``), and the two verdicts must
be byte-identical whenever the DuckDB checker takes the journal (in scope). A line per
journal goes to ``<file>``: in scope or why not, and the first difference.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import orjson

from imload.report.verdict_json import dumps_verdict


def first_difference(a: Any, b: Any, path: str = "") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            return f"{path}: keys {list(a)} vs {list(b)}"
        for k in a:
            found = first_difference(a[k], b[k], f"{path}.{k}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} vs {len(b)} items: {str(a)[:300]} vs {str(b)[:300]}"
        for n, (x, y) in enumerate(zip(a, b, strict=True)):
            found = first_difference(x, y, f"{path}[{n}]")
            if found:
                return found
        return None
    if a != b or type(a) is not type(b):
        return f"{path}: {a!r:.300} vs {b!r:.300}"
    return None


def judged_alike(events: Sequence[Any], **kw: Any) -> dict[str, Any]:
    """The DuckDB checker's verdict on ``events`` (``kw`` to both checkers), after asserting
    that it judged them itself and gave the reference's verdict byte for byte."""
    from imload.check import check
    from imload.checkdb.verdict import duckdb_check
    reference = check(list(events), **kw)
    got, info = duckdb_check(events=list(events), **kw)
    assert info.checker == "duckdb", info.reason
    assert dumps_verdict(got) == dumps_verdict(reference), first_difference(reference, got)
    return got


_seen: dict[str, int] = {}


def compare(events: Sequence[Any], reference: dict[str, Any], max_examples: int = 20,
            timeline: dict[str, Any] | None = None) -> None:
    """Judge ``events`` with the DuckDB checker too and log the comparison (at most
    ``IMLOAD_DIFFERENTIAL_PER_TEST`` journals per test, when set: a property test makes
    hundreds)."""
    from imload.checkdb.verdict import duckdb_check
    log = os.environ["IMLOAD_DIFFERENTIAL"]
    test = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]
    most = int(os.environ.get("IMLOAD_DIFFERENTIAL_PER_TEST", "0") or 0)
    _seen[test] = _seen.get(test, 0) + 1
    if most and _seen[test] > most:
        return
    try:
        got, info = duckdb_check(events=list(events), max_examples=max_examples,
                                 timeline=timeline)
    except Exception as e:  # noqa: BLE001 - a crash is a finding, written down
        line = {"test": test, "scope": "crash", "error": f"{type(e).__name__}: {e}"[:500]}
    else:
        same = dumps_verdict(got) == dumps_verdict(reference)
        line = {"test": test, "scope": info.checker, "reason": info.reason, "same": same,
                "diff": None if same else first_difference(reference, got)}
    with open(log, "ab") as f:
        f.write(orjson.dumps(line) + b"\n")
