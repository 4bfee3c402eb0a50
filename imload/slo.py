"""Service level objectives: thresholds on verdict figures that gate a run.

A scenario lists them as ``[[slo]]`` tables::

    [[slo]]
    figure = "latency_ms.ack.p99"   # a path into verdict.json (see docs/verdict.md)
    max = 500                       # or min = ...
    name = "ack p99 under 500 ms"   # optional

Every anomaly kind the backend promises (the verdict's ``promises``: all of them
unless the target declares fewer) gets an SLO of its own, ``= 0``, unless the
scenario names that anomaly itself; the others are reported, not gated. Every line
of the verdict's coverage (each promised check, and the journal) gets
``coverage.<kind>.percent >= 100``, unless the scenario names a figure of that
line itself (``coverage.gap.percent``, min = 90: a drill that accepts less); a
check with nothing to judge (percent None) passes, and says so.
Besides the verdict's own figures, ``ratios.retry`` (wire attempts per logical send),
``ratios.failed`` and ``ratios.indeterminate`` (per logical send) can be gated. A
figure the verdict does not have fails its SLO (a typo must not pass a gate); a
figure without samples (a latency nobody measured) passes, and says so.

verdict.json keeps every line, the implicit ones too (``default: true``); the reports'
SLO tables show the scenario's SLOs and one line, ``every anomaly = 0``, for the
implicit anomaly lines (``slo_table``), and the implicit coverage lines in a sentence
(``implicit_coverage``): the anomaly and coverage sections show them one by one.

``outcome`` is the one rule that turns a gated verdict into passed, failed, unknown
or error, and ``EXIT_CODES`` the one place its exit codes are defined:

- ``failed`` (1): an anomaly count of a promised kind above 0, or an SLO missed that
  is not a coverage SLO: the backend broke a promise;
- ``unknown`` (3): not failed, but a coverage SLO missed, or nothing was checked
  (nothing acked, nothing delivered): imload could not judge everything;
- ``error`` (2): the run itself could not be made as planned (``verdict["errors"]``,
  set by ``imload run``: a fault that failed, a device the audit could not sync);
- ``passed`` (0): otherwise. ``valid`` may still say ``"unknown"`` when a scenario's
  SLO accepted less than full coverage.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

Outcome = Literal["passed", "failed", "error", "unknown"]
OUTCOMES: tuple[Outcome, ...] = ("passed", "failed", "error", "unknown")
EXIT_PASSED, EXIT_FAILED, EXIT_ERROR, EXIT_UNKNOWN = 0, 1, 2, 3
EXIT_CODES: dict[str, int] = {"passed": EXIT_PASSED, "failed": EXIT_FAILED,
                              "error": EXIT_ERROR, "unknown": EXIT_UNKNOWN}
# When several runs make one answer (avalanche): the worst first. A broken promise
# outranks a verdict imload could not make; a run that could not be made outranks both.
SEVERITY = (EXIT_ERROR, EXIT_FAILED, EXIT_UNKNOWN, EXIT_PASSED)
COVERAGE_PREFIX = "coverage."


@dataclass(frozen=True)
class Slo:
    figure: str
    max: float | None = None
    min: float | None = None
    name: str | None = None

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        op, limit = ("<=", self.max) if self.max is not None else (">=", self.min)
        return f"{self.figure} {op} {limit:g}"


def parse_slos(raw: object) -> list[Slo]:
    """Validate a scenario's ``slo`` list; ValueError names the entry and the key."""
    if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
        raise ValueError("slo must be a list of tables ([[slo]])")
    out = []
    for i, r in enumerate(raw, 1):
        unknown = sorted(set(r) - {"figure", "max", "min", "name"})
        if unknown:
            raise ValueError(f"slo {i}: unknown key(s) {', '.join(unknown)}; "
                             "known: figure, max, min, name")
        figure = r.get("figure")
        if not isinstance(figure, str) or not figure or any(not p for p in figure.split(".")):
            raise ValueError(f"slo {i}: figure must be a dotted path such as "
                             f"\"latency_ms.ack.p99\", got {figure!r}")
        bounds = [k for k in ("max", "min") if k in r]
        if len(bounds) != 1:
            raise ValueError(f"slo {i} ({figure}): give exactly one of max or min")
        limit = r[bounds[0]]
        if isinstance(limit, bool) or not isinstance(limit, int | float):
            raise ValueError(f"slo {i} ({figure}): {bounds[0]} must be a number")
        name = r.get("name")
        if name is not None and not isinstance(name, str):
            raise ValueError(f"slo {i} ({figure}): name must be a string")
        out.append(Slo(figure=figure, name=name, **{bounds[0]: float(limit)}))
    return out


def derived_figures(verdict: dict[str, Any]) -> dict[str, Any]:
    """Ratios computed from the counts, for SLOs on error and retry rates."""
    c = verdict.get("counts", {})
    logical = c.get("attempted") or 0

    def per(n: object) -> float | None:
        return round(float(n) / logical, 6) if logical and isinstance(n, int | float) else None
    return {"ratios": {"retry": per(c.get("attempts")), "failed": per(c.get("failed")),
                       "indeterminate": per(c.get("info"))}}


_MISSING = object()


def _lookup(tree: dict[str, Any], path: str) -> Any:
    node: Any = tree
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def is_coverage_figure(figure: object) -> bool:
    """Is this SLO about coverage (missing it makes a verdict unknown, not failed)?"""
    return isinstance(figure, str) and figure.startswith(COVERAGE_PREFIX)


def promised_kinds(verdict: dict[str, Any]) -> list[str]:
    """The anomaly kinds the gate holds the backend to: the verdict's ``promises`` (what the
    target declared, imload/check/promises.py) among its ``anomalies``; all of them when the
    verdict names none (an older verdict)."""
    anomalies = verdict.get("anomalies")
    kinds = list(anomalies) if isinstance(anomalies, dict) else []
    promises = verdict.get("promises")
    return kinds if not isinstance(promises, list) else [k for k in kinds if k in promises]


def _gated_coverage(verdict: dict[str, Any]) -> list[str]:
    """The coverage lines that get a default SLO: the journal's and each promised check's
    (not a check the verdict no longer judges: its kind dropped from ``anomalies``, as
    capacity steps do, or one the backend does not promise)."""
    coverage = verdict.get("coverage")
    if not isinstance(coverage, dict):
        return []  # an older verdict: coverage not recorded
    if not isinstance(verdict.get("anomalies"), dict):
        return [k for k, v in coverage.items() if isinstance(v, dict)]
    from imload.check.verdict import CHECKS  # the check kinds (journal is not one)
    kinds = set(promised_kinds(verdict))
    return [k for k, v in coverage.items()
            if isinstance(v, dict) and (k in kinds or k not in CHECKS)]


def default_slos(verdict: dict[str, Any], slos: Iterable[Slo]) -> list[Slo]:
    """``<kind> = 0`` per anomaly kind and ``coverage.<kind>.percent >= 100`` per coverage
    line, each unless the scenario's own SLOs name it."""
    named = {s.figure for s in slos}
    out = [Slo(figure=f"anomalies.{kind}", max=0.0, name=f"{kind} = 0")
           for kind in promised_kinds(verdict) if f"anomalies.{kind}" not in named]
    out += [Slo(figure=f"coverage.{kind}.percent", min=100.0, name=f"{kind} coverage = 100 %")
            for kind in _gated_coverage(verdict)
            if not any(f.startswith(f"coverage.{kind}.") for f in named)]
    return out


def _no_value_note(verdict: dict[str, Any], figure: str) -> str:
    if not is_coverage_figure(figure):
        return "no samples"
    entry = _lookup(verdict, ".".join(figure.split(".")[:2]))
    if isinstance(entry, dict) and entry.get("applicable") is False:
        return f"not applicable: {entry.get('note') or 'the check does not apply'}"
    return "nothing to judge"


def evaluate(verdict: dict[str, Any], slos: list[Slo]) -> list[dict[str, Any]]:
    """One line per SLO: the scenario's, then the defaults it left out (``default_slos``)."""
    defaults = default_slos(verdict, slos)
    derived = derived_figures(verdict)
    lines = []
    for slo in [*slos, *defaults]:
        value = _lookup(verdict, slo.figure)
        if value is _MISSING:
            value = _lookup(derived, slo.figure)
        line: dict[str, Any] = {"name": slo.label, "figure": slo.figure,
                                "limit": slo.max if slo.max is not None else slo.min,
                                "op": "max" if slo.max is not None else "min",
                                "default": slo in defaults}
        if value is _MISSING:
            line.update(value=None, passed=False, note="the verdict has no such figure")
        elif value is None:
            line.update(value=None, passed=True, note=_no_value_note(verdict, slo.figure))
        elif isinstance(value, bool) or not isinstance(value, int | float):
            line.update(value=None, passed=False, note=f"not a number: {value!r}")
        else:
            ok = value <= slo.max if slo.max is not None else value >= (slo.min or 0.0)
            line.update(value=value, passed=bool(ok))
        lines.append(line)
    return lines


def nothing_checked(verdict: dict[str, Any]) -> bool:
    """The checker said unknown because nothing was acked and nothing delivered."""
    counts = verdict.get("counts") or {}
    return verdict.get("valid") == "unknown" and not counts.get("acked") \
        and not counts.get("delivered")


def outcome(verdict: dict[str, Any]) -> Outcome:
    """The one rule: passed, failed, unknown or error (see the module docstring). Reads the
    anomalies, the SLO lines ``apply_slos`` wrote, ``valid`` and the run's errors."""
    if verdict.get("errors"):
        return "error"
    anomalies = verdict.get("anomalies") or {}
    if verdict.get("valid") is False or any(
            isinstance(n, int | float) and not isinstance(n, bool) and n > 0
            for k, n in anomalies.items() if k in promised_kinds(verdict)):
        return "failed"
    missed = [line for line in verdict.get("slo") or [] if not line.get("passed")]
    if any(not is_coverage_figure(line.get("figure")) for line in missed):
        return "failed"
    if missed or nothing_checked(verdict):
        return "unknown"
    return "passed"


def exit_code(verdict: dict[str, Any]) -> int:
    """The exit code of a verdict: its ``outcome`` (``apply_slos`` fills it) mapped by
    ``EXIT_CODES``."""
    found = verdict.get("outcome")
    return EXIT_CODES[found if found in EXIT_CODES else outcome(verdict)]


def worst_exit(codes: Iterable[int]) -> int:
    """One exit code for several runs: the most severe (``SEVERITY``); 0 for none."""
    seen = set(codes)
    return next((c for c in SEVERITY if c in seen), max(seen, default=EXIT_PASSED))


IMPLICIT_ANOMALIES = "every anomaly = 0"


def is_implicit_anomaly(line: dict[str, Any]) -> bool:
    """A default ``<kind> = 0`` line (``default_slos``), not one the scenario wrote."""
    return bool(line.get("default")) and str(line.get("figure", "")).startswith("anomalies.")


def slo_table(lines: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows a report's SLO table shows, from ``verdict["slo"]``: the scenario's own SLO
    lines as they are, then ONE row standing for every implicit ``<kind> = 0``.

    That row has the keys of an SLO line (``name`` ``IMPLICIT_ANOMALIES``, ``figure``
    ``anomalies.*``, ``limit`` 0, ``value`` the sum of the counts, ``passed`` when each held)
    and ``broken``: ``{kind: count}`` of the kinds above 0, and ``kinds``: how many it
    stands for. The implicit coverage lines are left out: the coverage section and
    ``implicit_coverage`` tell them. verdict.json keeps every line (this is presentation).
    """
    rows = [line for line in lines if isinstance(line, dict)]
    own = [line for line in rows if not line.get("default")]
    implicit = [line for line in rows if is_implicit_anomaly(line)]
    if not implicit:
        return own
    broken = {str(line["figure"]).removeprefix("anomalies."): line.get("value")
              for line in implicit if not line.get("passed")}
    values = [line.get("value") for line in implicit]
    total = sum(v for v in values if isinstance(v, int | float) and not isinstance(v, bool))
    note = ("broken by " + ", ".join(f"{k} ({v})" for k, v in broken.items())) if broken \
        else f"each of {len(implicit)} kinds is 0"
    return [*own, {"name": IMPLICIT_ANOMALIES, "figure": "anomalies.*", "limit": 0,
                   "op": "max", "value": total, "passed": not broken, "default": True,
                   "broken": broken, "kinds": len(implicit), "note": note}]


def implicit_coverage(lines: Iterable[dict[str, Any]]) -> tuple[int, list[str]]:
    """The implicit ``<kind> coverage = 100 %`` lines: how many held, and the kinds missed."""
    rows = [line for line in lines if isinstance(line, dict) and line.get("default")
            and is_coverage_figure(line.get("figure"))]
    missed = [str(line["figure"]).split(".")[1] for line in rows if not line.get("passed")]
    return len(rows) - len(missed), missed


def apply_slos(verdict: dict[str, Any], slos: list[Slo]) -> dict[str, Any]:
    """Fill ``verdict["slo"]``, ``verdict["outcome"]`` and ``verdict["passed"]``
    (``outcome == "passed"``)."""
    verdict["slo"] = evaluate(verdict, slos)
    verdict["outcome"] = outcome(verdict)
    verdict["passed"] = verdict["outcome"] == "passed"
    return verdict
