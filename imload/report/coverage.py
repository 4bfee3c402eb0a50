"""Coverage in the reports: how much each check judged, and why a verdict is UNKNOWN.

One module so the console, junit.xml and report.html say the same thing in the
same words. ``coverage_lines`` reads ``verdict["coverage"]`` (None for a verdict
that did not record it: an older imload) joined with the SLO that gates each line
(``imload.slo``: ``coverage.<kind>.percent >= 100`` unless the scenario set its
own). A line is *short* when something it had to judge was not judged, *missed*
when that makes the verdict unknown (its SLO missed; a verdict never gated: short),
and *accepted* when short but a scenario SLO took it.

``outcome_of`` and ``WORDS`` give the banner (PASSED, FAILED, UNKNOWN, ERROR);
``unknown_sentences`` the checker's sentences, each a check that could not judge
everything and why. ``coverage_html`` and ``unknown_html`` are the report's
coverage section and its UNKNOWN callout.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from imload.check.coverage import sentence
from imload.report.html_kit import esc, num, section, table
from imload.slo import OUTCOMES, is_coverage_figure, outcome

WORDS = {"passed": "PASSED", "failed": "FAILED", "unknown": "UNKNOWN", "error": "ERROR"}
NOT_RECORDED = "coverage not recorded (a verdict from an imload that did not count it)"
NOTHING_CHECKED = "nothing was acked and nothing delivered: the run proves nothing"
REASONS_SHOWN = 5


@dataclass(frozen=True)
class CoverageLine:
    """One check's coverage, with the SLO lines that gate it."""

    kind: str
    unit: str
    due: int
    judged: int
    unjudged: int
    percent: float | None
    reasons: list[dict[str, Any]] = field(default_factory=list)
    applicable: bool = True
    note: str = ""
    sentence: str = ""  # why it is short; "" when it is not
    slos: list[dict[str, Any]] = field(default_factory=list)
    gated: bool = False  # the verdict went through apply_slos
    promised: bool = True  # a check of a promised kind, or the journal (check/promises.py)

    @property
    def short(self) -> bool:
        return self.unjudged > 0

    @property
    def missed(self) -> bool:
        """Does this line make the verdict unknown?"""
        if not self.promised:
            return False
        if self.slos:
            return not all(s.get("passed") for s in self.slos)
        return self.short and not self.gated

    @property
    def accepted(self) -> bool:
        """Short, but a scenario SLO accepts it."""
        return self.short and bool(self.slos) and not self.missed


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def coverage_lines(verdict: Mapping[str, Any]) -> list[CoverageLine] | None:
    """The coverage table; None when the verdict has none (coverage not recorded)."""
    coverage = verdict.get("coverage")
    if not isinstance(coverage, dict):
        return None
    told = [s for s in verdict.get("unknown") or [] if isinstance(s, str)]
    slo_lines = [s for s in verdict.get("slo") or [] if is_coverage_figure(s.get("figure"))]
    gated = "outcome" in verdict
    promises = verdict.get("promises")
    checks = verdict.get("anomalies") if isinstance(verdict.get("anomalies"), dict) else {}
    out = []
    for kind, entry in coverage.items():
        if not isinstance(entry, dict):
            continue
        due, unjudged = _int(entry.get("due")), _int(entry.get("unjudged"))
        percent = entry.get("percent")
        line = CoverageLine(
            kind=str(kind), unit=str(entry.get("unit") or "items"), due=due,
            judged=_int(entry.get("judged")), unjudged=unjudged,
            percent=float(percent) if isinstance(percent, int | float) else None,
            reasons=[r for r in entry.get("reasons") or [] if isinstance(r, dict)],
            applicable=entry.get("applicable", True) is not False,
            note=str(entry.get("note") or ""),
            slos=[s for s in slo_lines if str(s.get("figure")).startswith(f"coverage.{kind}.")],
            gated=gated,
            promised=not isinstance(promises, list) or kind in promises or kind not in checks)
        if line.short:
            said = next((s for s in told if s.startswith(f"{kind}: ")), None)
            try:
                said = said or sentence(str(kind), entry)
            except (KeyError, TypeError, ValueError):
                said = f"{kind}: could not check {unjudged:,} of {due:,} {line.unit}"
            line = replace(line, sentence=said)
        out.append(line)
    return out


def outcome_of(verdict: Mapping[str, Any]) -> str:
    """The verdict's outcome: ``verdict["outcome"]`` (apply_slos fills it); for a verdict
    never gated, the same rule on what it has (an unknown valid is never passed)."""
    found = verdict.get("outcome")
    if found in OUTCOMES:
        return str(found)
    if verdict.get("errors"):
        return "error"
    if verdict.get("passed"):
        return "passed"
    judged = outcome(dict(verdict))
    if judged != "passed":
        return judged
    return "unknown" if verdict.get("valid") == "unknown" else "failed"


def unknown_sentences(verdict: Mapping[str, Any]) -> list[str]:
    """Why the verdict is (or, accepted, would be) unknown: one sentence per short check,
    and the run-wide ones (nothing acked or delivered)."""
    told = [s for s in verdict.get("unknown") or [] if isinstance(s, str)]
    if told:
        return told
    lines = coverage_lines(verdict) or []
    found = [line.sentence for line in lines if line.short and line.promised]
    if verdict.get("valid") == "unknown" and not found:
        found.append(NOTHING_CHECKED)
    return found


def told_lines(verdict: Mapping[str, Any]) -> list[tuple[str, CoverageLine | None]]:
    """Each unknown sentence with the coverage line it is about (None: run-wide)."""
    lines = coverage_lines(verdict) or []
    return [(s, next((line for line in lines if s.startswith(f"{line.kind}: ")), None))
            for s in unknown_sentences(verdict)]


def run_wide_sentences(verdict: Mapping[str, Any]) -> list[str]:
    """The unknown sentences that are not about one check's coverage."""
    kinds = [line.kind for line in coverage_lines(verdict) or []]
    return [s for s in unknown_sentences(verdict)
            if not any(s.startswith(f"{k}: ") for k in kinds)]


def percent_text(line: CoverageLine) -> str:
    if not line.applicable:
        return "n/a"
    if line.percent is None:
        return "–"
    return f"{line.percent:g} %"


def judged_text(line: CoverageLine) -> str:
    """``38 / 40 devices``; ``nothing to judge``; ``not applicable``."""
    if not line.applicable:
        return "not applicable"
    if not line.due:
        return f"nothing to judge ({line.unit})"
    return f"{line.judged:,} / {line.due:,} {line.unit}"


def reason_texts(line: CoverageLine, examples: bool = True) -> list[str]:
    """``members unknown (2,316): e.g. g:ab12: ...`` per reason, biggest first."""
    out = []
    for r in line.reasons[:REASONS_SHOWN]:
        count = r.get("count")
        text = f"{r.get('reason', '?')} ({count:,})" if isinstance(count, int) else \
            str(r.get("reason", "?"))
        out.append(text + (f": e.g. {r['example']}" if examples and r.get("example") else ""))
    if len(line.reasons) > REASONS_SHOWN:
        out.append(f"… {len(line.reasons) - REASONS_SHOWN} more reasons in verdict.json")
    if not line.applicable and line.note:
        out.append(f"not applicable: {line.note}")
    return out


def short_summary(verdict: Mapping[str, Any], accepted: bool = False) -> str:
    """``lost 0 % (0 / 2,316 acked messages), gap 95 %``: the missed lines, or the
    accepted ones; else the run-wide reason."""
    lines = coverage_lines(verdict) or []
    picked = [line for line in lines if (line.accepted if accepted else line.missed)]
    parts = [f"{line.kind} {percent_text(line)} ({line.judged:,} / {line.due:,} {line.unit})"
             for line in picked]
    if not accepted:
        parts += run_wide_sentences(verdict)
    return ", ".join(parts)


def accepted_note(verdict: Mapping[str, Any]) -> str:
    """For a verdict that passed on less than full coverage: which the scenario accepted."""
    lines = [line for line in coverage_lines(verdict) or [] if line.accepted]
    if not lines:
        return ""
    return "valid is unknown: the scenario's SLOs accept " + ", ".join(
        f"{line.kind} coverage {percent_text(line)} "
        f"({', '.join(str(s.get('name')) for s in line.slos)})" for line in lines)


# ---- report.html ----------------------------------------------------------------------

def _reasons_html(line: CoverageLine) -> str:
    texts = reason_texts(line)
    if not texts:
        return ""
    return '<ul class="plain">' + "".join(f"<li>{esc(t)}</li>" for t in texts) + "</ul>"


def _state_html(line: CoverageLine) -> str:
    if line.missed:
        return f'<span class="pill warn">{esc(percent_text(line))} UNKNOWN</span>'
    if line.accepted:
        return f'<span class="pill warn">{esc(percent_text(line))} accepted</span>'
    if not line.applicable or line.percent is None:
        return f'<span class="note">{esc(percent_text(line))}</span>'
    return f'<span class="pill ok">{esc(percent_text(line))}</span>'


def coverage_html(verdict: Mapping[str, Any]) -> str:
    """The coverage section: per check, what it judged of what was due, and why not."""
    lines = coverage_lines(verdict)
    if lines is None:
        return section("coverage", "Coverage", f'<p class="note">{esc(NOT_RECORDED)}</p>')
    rows, classes = [], []
    for line in lines:
        rows.append((esc(line.kind), _state_html(line), num(line.judged) if line.due else "–",
                     num(line.due), esc(line.unit), _reasons_html(line)))
        classes.append("short" if line.missed else "accepted" if line.accepted else "")
    inner = table([("check", False), ("coverage", False), ("judged", True), ("due", True),
                   ("of", False), ("not judged because", False)], rows, classes)
    return section("coverage", "Coverage", inner,
                   "What each check had to judge, and how much of it it judged. A verdict "
                   "never passes what it did not check: a check below 100 % makes it "
                   "UNKNOWN unless a scenario SLO accepts less; – means nothing to judge.")


def unknown_html(verdict: Mapping[str, Any]) -> str:
    """The callout at the top of the page: every reason the verdict is (or, accepted,
    would be) unknown, with the reasons and examples of each check."""
    told = told_lines(verdict)
    if not told:
        return ""
    items = []
    for text, line in told:
        extra = _reasons_html(line) if line is not None and len(line.reasons) > 1 else ""
        mark = ('<span class="pill ok">accepted</span> ' if line is not None and line.accepted
                else '<span class="pill warn">UNKNOWN</span> ')
        items.append(f"<li>{mark}{esc(text)}{extra}</li>")
    state = outcome_of(verdict)
    title = ("UNKNOWN: not everything could be judged" if state == "unknown" else
             "Accepted: not everything could be judged" if state == "passed" else
             "Not everything could be judged")
    note = {"passed": esc(accepted_note(verdict)),
            "unknown": "The backend may or may not have kept these promises: imload could "
                       "not tell (exit code 3)."}.get(state, "Besides what failed, imload "
                                                  "could not judge these.")
    return section("unknown", title, '<ul class="why-unknown">' + "".join(items) + "</ul>",
                   note, cls="unknown")
