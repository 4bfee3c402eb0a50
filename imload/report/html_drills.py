"""report.html's sections for drills of more than one run: capacity steps (messages per
second against users, the knee) and avalanche reconnect curves (per backoff policy)."""

from __future__ import annotations

from typing import Any

from imload.report.html_kit import esc, num, pill, secs, section, table
from imload.report.svg import capacity_chart, knee_index, reconnect_chart, reconnect_curves


def capacity_html(steps: Any) -> str:
    if not steps:
        return ""
    knee = knee_index(steps)
    rows = [(num(s.get("users")), num(s.get("msgs_per_s")),
             pill(bool(s.get("passed")), "held", "broke"),
             esc(s.get("broke") or "") + (" <b>← knee</b>" if i == knee else ""))
            for i, s in enumerate(steps)]
    note = ("The knee is the last step that held before the first one that broke."
            if knee is not None else "The first step already broke: no knee found.")
    return section("capacity", "Capacity steps", capacity_chart(steps, knee) + table(
        [("users", True), ("msgs / s", True), ("", False), ("what broke", False)], rows), note)


def _first_at(curve: list[tuple[float, float]], fraction: float) -> str:
    return next((secs(t) for t, f in curve if f >= fraction - 1e-9), "never")


def avalanche_html(curves: Any) -> str:
    if not curves:
        return ""
    named = reconnect_curves(curves)
    rows = [(esc(name), _first_at(c, 0.5), _first_at(c, 0.99), _first_at(c, 1.0))
            for name, c in named.items()]
    return section("avalanche", "Avalanche: reconnect curves", reconnect_chart(named) + table(
        [("backoff policy", False), ("50 % back", True), ("99 % back", True),
         ("all back", True)], rows), "Per backoff policy, the fraction of the devices a "
        "node kill threw off that were connected again.")
