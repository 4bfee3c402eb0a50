"""One timeline across machines: shift every journal event's ``at`` onto the master's clock.

Each Locust process stamps its events with its own host's ``time.monotonic()``;
between machines those clocks can be hours apart. The journal carries what
relates them (``imload/users/clocksync.py`` writes it):

- ``clock`` (the first event of a Locust process's journal): the process's clock
  ``source`` (``<hostname>-<pid>``), its ``host``, and ``wall`` (``time.time()``)
  read with ``at``: an anchor;
- ``clock_offset`` (journaled by the master): ``offset_s`` = the worker ``source``'s
  monotonic clock minus the master's, measured over Locust's messages, true
  within ``rtt_s`` / 2.

``align`` takes the events of each journal file (one list per file, in file
order), shifts every ``at`` in place and returns a JSON-ready summary. The
rules:

- the reference is the master's clock: the source that wrote the
  ``clock_offset`` events (none written: the source whose anchor says
  ``role: "master"``). Files without a ``clock`` event (``run.jsonl``, the
  ``imload run`` process on the master's machine; older journals) are on it;
- a source with estimates is shifted by minus the offset of its least-RTT
  estimate (``measured``; its bound is that sample's rtt / 2). An estimate
  within its own bound of zero from a process on the reference's host is the
  same clock: it is not shifted at all (``offset_s`` 0);
- a source without estimates, when both it and the reference have a ``clock``
  anchor, is shifted by the anchors' difference (``wall``: offset =
  (mono_src - wall_src) - (mono_ref - wall_ref)); its bound is unknown (None):
  it is as good as the hosts' wall clocks agree (NTP: milliseconds, else anything);
- a source that can be related to nothing (no estimate, no reference anchor)
  is left as it is (``none``);
- one source in all (a standalone run, a journal from before clock anchors):
  nothing is shifted (``single``).

An event belongs to the source of the latest ``clock`` event before it in its
file (the file's first one for events before it). Apply ``align`` once per
read, before sorting by ``at``: it shifts, it does not remember having shifted.
One offset per source: a drift of the clocks during the run is not modelled
(``spread_s`` shows how much a source's estimates moved).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

REFERENCE, MEASURED, WALL, NONE, SINGLE = "reference", "measured", "wall", "none", "single"
_RANK = {MEASURED: 0, WALL: 1, NONE: 2}  # the run's method is its worst source's


def _num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _anchor(e: dict[str, Any]) -> str | None:
    """The source of a well-formed ``clock`` event, else None."""
    source = e.get("source")
    return source if isinstance(source, str) and _num(e.get("wall")) else None


def sources_of(events: Sequence[dict[str, Any]]) -> list[tuple[str | None, dict[str, Any]]]:
    """Each event of one file with its clock source (None: the file has no anchor); the
    DuckDB checker asks it of a file's clock rows alone (``checkdb.clocks``)."""
    current = next((s for e in events if e.get("ev") == "clock"
                    if (s := _anchor(e)) is not None), None)
    out: list[tuple[str | None, dict[str, Any]]] = []
    for e in events:
        if e.get("ev") == "clock":
            current = _anchor(e) or current
        out.append((current, e))
    return out


def _estimate(e: dict[str, Any]) -> tuple[float, float] | None:
    """(offset_s, rtt_s) of a well-formed ``clock_offset`` event, else None."""
    offset, rtt = e.get("offset_s"), e.get("rtt_s")
    if not isinstance(e.get("source"), str) or not _num(offset) or not _num(rtt) or rtt < 0:
        return None
    return float(offset), float(rtt)


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


def align(files: Sequence[Sequence[dict[str, Any]]]) -> dict[str, Any]:
    """Shift every event's ``at`` (of every file's events, in file order) onto the reference
    clock, in place; return the summary::

        {"sources": n, "reference": source | None, "method": "single" | "measured" | "wall"
         | "none", "bound_s": seconds | None, "aligned": [{"source", "host", "method",
         "offset_s", "bound_s", "rtt_s", "estimates", "spread_s", "events"}, ...]}

    ``bound_s`` is the largest uncertainty of a shifted source (rtt / 2 of its chosen
    estimate), 0 when nothing needed shifting, None when some source's is unknown.
    """
    segmented = [sources_of(events) for events in files]
    shifts, summary = _plan(segmented, None)
    if shifts:
        for segments in segmented:
            for source, e in segments:
                shift = shifts.get(source)
                if shift is not None and _num(e.get("at")):
                    e["at"] += shift
    return summary


def plan(clocks: Sequence[Sequence[dict[str, Any]]], events: dict[str | None, int]
         ) -> tuple[dict[str | None, float], dict[str, Any]]:
    """What ``align`` would do, from each file's ``clock`` and ``clock_offset`` events
    alone (in file order) and the number of events of each source (``segments`` counts
    them): (the shift to add to each source's ``at``, the summary). For a reader that
    shifts the times itself (the DuckDB checker, column by column)."""
    return _plan([sources_of(found) for found in clocks], events)


def _plan(segmented: list[list[tuple[str | None, dict[str, Any]]]],
          events: dict[str | None, int] | None
          ) -> tuple[dict[str | None, float], dict[str, Any]]:
    anchors: dict[str, dict[str, Any]] = {}
    estimates: dict[str, list[tuple[float, float]]] = {}
    writers: dict[str | None, int] = {}
    counts: dict[str | None, int] = {} if events is None else events
    for segments in segmented:
        for source, e in segments:
            if events is None:
                counts[source] = counts.get(source, 0) + 1
            kind = e.get("ev")
            if kind == "clock" and (s := _anchor(e)) is not None:
                anchors.setdefault(s, e)
            elif kind == "clock_offset" and (est := _estimate(e)) is not None:
                estimates.setdefault(e["source"], []).append(est)
                writers[source] = writers.get(source, 0) + 1
    # the master: the writer of the most estimates (first in file order on a tie); None
    # when it wrote them without an anchor: then the files without a clock event are it
    has_ref = bool(writers)
    ref = max(writers, key=lambda s: writers[s]) if writers else None
    if not has_ref:  # no estimate at all: the master's anchor, if any, says which it is
        ref = next((s for s, a in anchors.items() if a.get("role") == "master"), None)
        has_ref = ref is not None
    others = [s for s in anchors if not (has_ref and s == ref)]
    sources = len(others) + has_ref
    if sources <= 1:
        return {}, {"sources": sources, "reference": ref, "method": SINGLE, "bound_s": 0.0,
                    "aligned": []}
    ref_anchor = anchors.get(ref) if ref is not None else None
    shifts: dict[str | None, float] = {}
    aligned = []
    for source in others:
        entry = _place(source, anchors[source], estimates.get(source, []), ref_anchor)
        entry["events"] = counts.get(source, 0)
        if entry["offset_s"]:
            shifts[source] = -entry["offset_s"]
        aligned.append(entry)
    worst = max((a["method"] for a in aligned), key=_RANK.__getitem__)
    bounds = [a["bound_s"] for a in aligned]
    for a in aligned:
        for k in ("offset_s", "bound_s", "rtt_s", "spread_s"):
            a[k] = _r(a[k])
    return shifts, {"sources": sources, "reference": ref, "method": worst,
                    "bound_s": None if None in bounds else _r(max(bounds)),
                    "aligned": aligned}


def _place(source: str, anchor: dict[str, Any], samples: list[tuple[float, float]],
           ref_anchor: dict[str, Any] | None) -> dict[str, Any]:
    """How one source goes onto the reference clock: its offset (to subtract) and bound."""
    entry: dict[str, Any] = {"source": source, "host": anchor.get("host"), "method": NONE,
                             "offset_s": None, "bound_s": None, "rtt_s": None,
                             "estimates": len(samples), "spread_s": None}
    if samples:  # measured by the reference (the only writer of estimates)
        offset, rtt = min(samples, key=lambda x: x[1])  # the least RTT; the first on a tie
        same_host = ref_anchor is not None and anchor.get("host") == ref_anchor.get("host")
        if same_host and abs(offset) <= rtt / 2:
            offset = 0.0  # one clock, as far as can be measured
        offsets = [o for o, _ in samples]
        entry.update(method=MEASURED, offset_s=offset, bound_s=rtt / 2, rtt_s=rtt,
                     spread_s=max(offsets) - min(offsets))
    elif ref_anchor is not None and _num(anchor.get("at")) and _num(ref_anchor.get("at")):
        offset = (anchor["at"] - anchor["wall"]) - (ref_anchor["at"] - ref_anchor["wall"])
        entry.update(method=WALL, offset_s=offset)
    return entry


def describe(summary: Any) -> tuple[str, bool] | None:
    """One line on a summary of ``align`` for the reports, and whether it is sound (False:
    times were not all put on one clock with a known bound); None when there is nothing to
    say (no summary, or one clock)."""
    if not isinstance(summary, dict) or summary.get("method") in (None, SINGLE):
        return None
    n, method, bound = summary.get("sources"), summary.get("method"), summary.get("bound_s")
    if method == MEASURED and _num(bound):
        return f"clocks: {n} put on the master's, within ±{bound * 1000:.3g} ms (measured)", True
    if method == WALL:
        return (f"clocks: {n} put on the master's, some by their wall clocks only: bound "
                "unknown (as good as the hosts' NTP)"), False
    return (f"clocks: {n} NOT put on one timeline (nothing measured, no master anchor): "
            "cross-host latencies and fault windows are not comparable"), False
