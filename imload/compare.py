"""``imload compare DIR_A DIR_B``: what changed between two runs' verdicts, and did B regress.

``compare_verdicts(a, b)`` lists rows (passed, valid, outcome, SLOs, anomalies,
coverage, latency percentiles, counts), each with both values, the change, and
whether it is a regression of B against A:

- passed went from true to false; the outcome got worse (passed, unknown,
  failed, error); an SLO that held in A is missed in B;
- an anomaly kind that was 0 in A is above 0 in B;
- a check's coverage (percent of what it had to judge that it judged) dropped;
  a check with nothing to judge counts as 100 %. A verdict without coverage (an
  older imload) shows "not recorded" and is not judged;
- a latency percentile more than 10 % above A's (``latency_tolerance``) and,
  when ``latency_floor_ms`` is set, also more than that many ms above it.

Counts are shown with their change but never judged: a different load
makes different counts. ``main_compare`` returns 0 when B is no worse than
A, 1 when it regressed, 2 when a folder has no readable verdict.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from imload.report.verdict_json import read_verdict
from imload.slo import EXIT_ERROR, EXIT_FAILED, EXIT_PASSED

EXIT_SAME, EXIT_REGRESSED, EXIT_NO_VERDICT = EXIT_PASSED, EXIT_FAILED, EXIT_ERROR
OUTCOME_RANK = {"passed": 0, "unknown": 1, "failed": 2, "error": 3}
NOT_RECORDED = "not recorded"
LATENCY_KEYS = ("p50", "p90", "p99", "p999", "max")
LATENCY_TOLERANCE = 0.10


@dataclass(frozen=True)
class Row:
    section: str  # "verdict", "slo", "anomalies", "coverage", "latency_ms", "counts"
    name: str
    a: Any
    b: Any
    delta: str  # the change as text ("+3", "+12.5 %", "true → false", "")
    regressed: bool = False
    improved: bool = False


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _delta(a: Any, b: Any, relative: bool = False) -> str:
    if not (_number(a) and _number(b)):
        return "" if a == b else f"{_show(a)} → {_show(b)}"
    d = b - a
    if d == 0:
        return "="
    text = f"{d:+,}" if isinstance(d, int) else f"{d:+,.3g}"
    if relative and a:
        text += f" ({d / a * 100:+.1f} %)"
    return text


def _show(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:,.3f}".rstrip("0").rstrip(".")
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _verdict_rows(a: dict[str, Any], b: dict[str, Any]) -> list[Row]:
    pa, pb = bool(a.get("passed")), bool(b.get("passed"))
    rows = [Row("verdict", "passed", pa, pb, _delta(pa, pb), regressed=pa and not pb,
                improved=pb and not pa)]
    if "valid" in a or "valid" in b:
        va, vb = a.get("valid"), b.get("valid")
        rows.append(Row("verdict", "valid", va, vb, _delta(va, vb),
                        regressed=va is True and vb is not True,
                        improved=vb is True and va is not True))
    if "outcome" in a or "outcome" in b:
        oa, ob = a.get("outcome"), b.get("outcome")
        ra, rb = OUTCOME_RANK.get(str(oa)), OUTCOME_RANK.get(str(ob))
        known = ra is not None and rb is not None
        rows.append(Row("verdict", "outcome", oa, ob, _delta(oa, ob),
                        regressed=known and rb > ra, improved=known and rb < ra))
    return rows


def _percent_judged(entry: Any) -> float | None:
    """A coverage line's percent; 100 when nothing was due (nothing left unjudged)."""
    if not isinstance(entry, dict):
        return None
    value = entry.get("percent")
    if value is None and entry.get("due") == 0:
        return 100.0
    return float(value) if _number(value) else None


def _coverage_rows(a: dict[str, Any], b: dict[str, Any]) -> list[Row]:
    ca, cb = a.get("coverage"), b.get("coverage")
    if not isinstance(ca, dict) and not isinstance(cb, dict):
        return []
    rows = []
    for kind in dict.fromkeys([*(ca or {}), *(cb or {})]):
        x = _percent_judged(ca.get(kind)) if isinstance(ca, dict) else NOT_RECORDED
        y = _percent_judged(cb.get(kind)) if isinstance(cb, dict) else NOT_RECORDED
        judged = _number(x) and _number(y)
        rows.append(Row("coverage", str(kind), x, y,
                        f"{y - x:+.2f} pts" if judged and y != x else
                        "=" if judged else _delta(x, y),
                        regressed=judged and y < x, improved=judged and y > x))
    return rows


def _slo_rows(a: dict[str, Any], b: dict[str, Any]) -> list[Row]:
    sa = {s.get("name"): s for s in a.get("slo") or []}
    sb = {s.get("name"): s for s in b.get("slo") or []}
    rows = []
    for name in dict.fromkeys([*sa, *sb]):
        x, y = sa.get(name) or {}, sb.get(name) or {}
        held_a, held_b = x.get("passed"), y.get("passed")
        rows.append(Row("slo", str(name), x.get("value"), y.get("value"),
                        _delta(x.get("value"), y.get("value"), relative=True),
                        regressed=held_a is True and held_b is False,
                        improved=held_a is False and held_b is True))
    return rows


def _anomaly_rows(a: dict[str, Any], b: dict[str, Any]) -> list[Row]:
    na, nb = a.get("anomalies") or {}, b.get("anomalies") or {}
    rows = []
    for kind in dict.fromkeys([*na, *nb]):
        x, y = na.get(kind), nb.get(kind)
        rows.append(Row("anomalies", str(kind), x, y, _delta(x, y),
                        regressed=(x or 0) == 0 and (y or 0) > 0,
                        improved=(x or 0) > 0 and (y or 0) == 0))
    return rows


def _latency_rows(a: dict[str, Any], b: dict[str, Any], tolerance: float,
                  floor_ms: float) -> list[Row]:
    la, lb = a.get("latency_ms") or {}, b.get("latency_ms") or {}
    rows = []
    for of in dict.fromkeys([*la, *lb]):
        fa, fb = la.get(of) or {}, lb.get(of) or {}
        for key in LATENCY_KEYS:
            x, y = fa.get(key), fb.get(key)
            if x is None and y is None:
                continue
            worse = better = False
            if isinstance(x, int | float) and isinstance(y, int | float):
                worse = y > x * (1 + tolerance) and y - x > floor_ms
                better = x > y * (1 + tolerance) and x - y > floor_ms
            rows.append(Row("latency_ms", f"{of} {key}", x, y, _delta(x, y, relative=True),
                            regressed=worse, improved=better))
    return rows


def _count_rows(a: dict[str, Any], b: dict[str, Any]) -> list[Row]:
    ca, cb = a.get("counts") or {}, b.get("counts") or {}
    return [Row("counts", str(k), ca.get(k), cb.get(k), _delta(ca.get(k), cb.get(k),
                                                              relative=True))
            for k in dict.fromkeys([*ca, *cb])]


def compare_verdicts(a: dict[str, Any], b: dict[str, Any], *,
                     latency_tolerance: float = LATENCY_TOLERANCE,
                     latency_floor_ms: float = 0.0) -> list[Row]:
    """Rows of what changed from verdict ``a`` to verdict ``b`` (see the module docstring)."""
    return [*_verdict_rows(a, b), *_slo_rows(a, b), *_anomaly_rows(a, b),
            *_coverage_rows(a, b), *_latency_rows(a, b, latency_tolerance, latency_floor_ms),
            *_count_rows(a, b)]


def regressions(rows: list[Row]) -> list[Row]:
    return [r for r in rows if r.regressed]


SECTION_TITLES = {"verdict": "verdict", "slo": "SLOs", "anomalies": "anomalies",
                  "coverage": "coverage (% judged)", "latency_ms": "latency (ms)",
                  "counts": "counts"}


def render_comparison(rows: list[Row], console: Console, name_a: str = "A",
                      name_b: str = "B") -> None:
    """Print the rows as one table per section, regressions in red (▲), gains in green (▼)."""
    for section, title in SECTION_TITLES.items():
        part = [r for r in rows if r.section == section]
        if not part:
            continue
        table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
        table.add_column("", no_wrap=True)
        table.add_column(name_a, justify="right")
        table.add_column(name_b, justify="right")
        table.add_column("change", justify="right")
        table.add_column("", no_wrap=True)
        for r in part:
            style = "red" if r.regressed else "green" if r.improved else ""
            mark = "▲ regression" if r.regressed else "▼ better" if r.improved else ""
            table.add_row(r.name, _show(r.a), _show(r.b), Text(r.delta, style=style),
                          Text(mark, style=style))
        console.print(table)
    worse = regressions(rows)
    if worse:
        console.print(Text(f"B regressed against A in {len(worse)} figure"
                           f"{'s' if len(worse) != 1 else ''}: "
                           + ", ".join(f"{r.section} {r.name}" for r in worse),
                           style="bold red"))
    else:
        console.print(Text("B is no worse than A", style="bold green"))


def load_verdict(folder: Path) -> dict[str, Any]:
    """``folder/verdict.json`` (or ``folder`` itself when it is the file); ValueError with a
    message fit for a person when it is missing or unreadable."""
    path = folder if folder.is_file() else folder / "verdict.json"
    if not path.is_file():
        raise ValueError(f"no verdict.json in {folder}" if folder.exists()
                         else f"no run folder at {folder}")
    try:
        return read_verdict(path)
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable verdict ({e})") from None


def main_compare(dir_a: Path, dir_b: Path, console: Console) -> int:
    """Compare two run folders; 0: B no worse than A, 1: B regressed, 2: a verdict is missing."""
    verdicts = []
    for folder in (Path(dir_a), Path(dir_b)):
        try:
            verdicts.append(load_verdict(folder))
        except ValueError as e:
            console.print(f"[red]imload compare: {escape(str(e))}[/]", highlight=False,
                          soft_wrap=True)  # a path stays whole
            return EXIT_NO_VERDICT
    a, b = verdicts
    for label, folder, v in (("A", dir_a, a), ("B", dir_b, b)):
        what = " · ".join(f"{k} {v[k]}" for k in ("scenario", "target") if v.get(k))
        console.print(f"[bold]{label}[/]: {escape(str(folder))}"
                      + (f"  ({escape(what)})" if what else ""), highlight=False, soft_wrap=True)
    rows = compare_verdicts(a, b)
    render_comparison(rows, console)
    return EXIT_REGRESSED if regressions(rows) else EXIT_SAME
