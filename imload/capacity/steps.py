"""Judge each step of a step-load run on its own window of the journal (pure).

A step's window is ``[start + ramp_s, end)`` on the run's monotonic clock: the
first ``ramp_s`` seconds of a step (users still arriving) are not judged.
A message belongs to the window in which its first attempt was made; its
deliveries and outcome come along wherever they happened (the audit at the end
of the run settles every step). Device, fault, connection and phase events,
group ops and the membership ``event`` messages the server sequenced for them
are shared by every window, so the checker sees the whole population and
knows every group's members in every window.
Anomalies of a device's whole history (``WHOLE_RUN_KINDS``) are left to the
run's own verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from imload.check.verdict import check, validity
from imload.slo import Slo, apply_slos, nothing_checked

MESSAGE_EVENTS = frozenset({"send", "send_ok", "send_fail", "send_info", "deliver"})
# Anomalies about a device's whole history (holes in its inbox, read markers, ops, group
# membership): a window that keeps only some messages would make them up, or repeat them
# in every step, so the run's verdict judges them (and counts their coverage).
WHOLE_RUN_KINDS = frozenset({"gap", "read_sync", "op", "membership"})


@dataclass(frozen=True)
class Step:
    index: int
    users: int
    start: float  # monotonic seconds
    end: float


def step_windows(load_start: float, users: Sequence[int], step_s: float) -> list[Step]:
    return [Step(i, u, load_start + i * step_s, load_start + (i + 1) * step_s)
            for i, u in enumerate(users)]


def _message_key(ev: dict[str, Any]) -> tuple[Any, Any]:
    if ev["ev"] == "deliver":
        return (ev.get("from"), ev.get("cmid"))
    return (ev.get("user"), ev.get("cmid"))


def split_by_step(events: Sequence[dict[str, Any]], steps: Sequence[Step],
                  ramp_s: float) -> list[list[dict[str, Any]]]:
    """The journal of each step: shared events plus the messages first sent in its window."""
    first_sent: dict[tuple[Any, Any], float] = {}
    for ev in events:
        if ev["ev"] == "send":
            first_sent.setdefault((ev.get("user"), ev.get("cmid")), ev["at"])

    def step_of(at: float) -> int | None:
        for s in steps:
            if s.start + ramp_s <= at < s.end:
                return s.index
        return None
    owner = {key: step_of(at) for key, at in first_sent.items()}
    out: list[list[dict[str, Any]]] = [[] for _ in steps]
    for ev in events:
        if ev["ev"] not in MESSAGE_EVENTS or ev.get("kind") == "event":
            for journal in out:
                journal.append(ev)
            continue
        key = _message_key(ev)
        index = owner.get(key) if key in owner else step_of(ev["at"])  # phantoms: by time
        if index is not None:
            out[index].append(ev)
    return out


def judge_steps(events: Sequence[dict[str, Any]], steps: Sequence[Step], ramp_s: float,
                slos: list[Slo]) -> list[dict[str, Any]]:
    """One row per step: users, msgs/s, passed, what broke first, and the step's verdict."""
    rows = []
    for step, journal in zip(steps, split_by_step(events, steps, ramp_s), strict=True):
        verdict = check(journal)
        for kind in WHOLE_RUN_KINDS:
            verdict["anomalies"].pop(kind, None)
            verdict["coverage"].pop(kind, None)
        verdict["valid"], verdict["unknown"] = validity(
            verdict["anomalies"], verdict["coverage"], verdict["counts"],
            [k for k in verdict["promises"] if k not in WHOLE_RUN_KINDS])
        apply_slos(verdict, slos)  # coverage SLOs for the checks a window judges
        judged_s = max(step.end - step.start - ramp_s, 1e-9)
        broke = [line["name"] for line in verdict["slo"] if not line["passed"]]
        if nothing_checked(verdict) or not verdict["counts"]["acked"]:
            broke.insert(0, "nothing acked in the window")  # the shared events prove nothing
        rows.append({"step": step.index + 1, "users": step.users,
                     "msgs_per_s": round(verdict["counts"]["acked"] / judged_s, 1),
                     "passed": bool(verdict["passed"]) and not broke, "broke": broke,
                     "ack_p99_ms": verdict["latency_ms"]["ack"]["p99"],
                     "anomalies": {k: v for k, v in verdict["anomalies"].items() if v},
                     "window_s": [round(step.start + ramp_s, 3), round(step.end, 3)]})
    return rows


def knee(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The highest passing step before the first failing one, and what broke first."""
    best: dict[str, Any] | None = None
    first_bad: dict[str, Any] | None = None
    for row in rows:
        if row["passed"]:
            best = row
        else:
            first_bad = row
            break
    return {"max_users": best["users"] if best else None,
            "max_msgs_per_s": best["msgs_per_s"] if best else None,
            "first_failing_users": first_bad["users"] if first_bad else None,
            "broke_first": first_bad["broke"][0] if first_bad and first_bad["broke"] else None}
