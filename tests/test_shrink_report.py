"""The report (the shrink folder's README.md): before -> after, why the search stopped,
the tries, the minimal trace."""

from __future__ import annotations

from pathlib import Path

from imload.shrink.report import SHOWN_LINES, render_report
from imload.shrink.search import Settings

COUNTS = {"devices": 100, "messages": 181, "ops": 40, "reads": 9, "faults": 1}
SMALL = {"devices": 2, "messages": 1, "ops": 0, "reads": 0, "faults": 0}


def figures(stopped: str = "") -> dict:
    return {"kind": "lost", "before": COUNTS, "after": SMALL, "duration_before_s": 9.0,
            "duration_after_s": 4.0, "tries": 2, "wall_s": 20.5, "stopped": stopped,
            "settings": Settings(tries=2, min_fails=1, budget_s=300)}


LOG = [{"try": "try-001", "step": "full trace", **COUNTS, "lost": 12, "seconds": 9.1},
       {"try": "try-002", "step": "people", **SMALL, "lost": 1, "seconds": 4.2}]


def test_the_report_says_before_after_and_every_try() -> None:
    text = render_report(Path("runs/x"), figures(), LOG, ['{"t": 1.0}'])
    assert "| devices | 100 | 2 |" in text
    assert "| messages (sends) | 181 | 1 |" in text
    assert "| faults ([[chaos]] steps) | 1 | 0 |" in text
    assert "| load (s) | 9 | 4 |" in text
    assert "2 tries in 20.5 s; the search ran to its end" in text
    assert "imload run runs/x/shrink/minimal.toml" in text
    assert '{"t": 1.0}' in text
    assert "| try-002 | people | 2 | 1 | 0 | 1 | 4.2 |" in text


def test_a_search_stopped_early_says_why_and_a_long_trace_is_not_shown() -> None:
    text = render_report(Path("r"), figures("the budget (300 s) is spent"), LOG,
                         ["{}"] * (SHOWN_LINES + 1))
    assert "stopped early: the budget (300 s) is spent." in text
    assert "The minimal trace" not in text
