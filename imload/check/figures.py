"""Figures of a run (docs/checker.md, "The verdict"): counts, fractions, cost, info causes,
and the acked-but-unseen count over time."""

from __future__ import annotations

import math
from collections import Counter
from itertools import compress, repeat
from operator import ne, sub
from typing import Any

from imload.check.delivery import fan_out
from imload.check.index import OK, History
from imload.check.oplog import op_records
from imload.check.sends import send_tally


def count_figures(h: History) -> dict[str, int]:
    """The ``counts`` of the verdict.

    attempted (= sent): logical sends with at least one ``send`` event;
    attempts: wire attempts (``send`` events); acked / failed / info: logical
    sends by outcome (ok wins over fail, fail over info; ``info`` includes the
    ``pending`` ones, which have no outcome at all); recovered: indeterminate
    sends that were delivered anyway; delivered: unique (device, mid);
    expected_deliveries: acked sends times their expected devices (known
    recipients only); wire_duplicates: repeated (device, mid) deliveries;
    ops / ops_ok / ops_failed / ops_info: logical ops (user, opid) by outcome;
    reads / reads_ok: ``read`` requests and their ``read_ok`` replies.
    """
    t = send_tally(h)
    delivered = h.delivered()
    return {"attempted": t.attempted, "attempts": t.attempts, "sent": t.attempted,
            "acked": t.acked, "failed": t.failed, "info": t.info, "pending": t.pending,
            "recovered": len(t.unsure_delivered), "delivered": delivered,
            "expected_deliveries": fan_out(h).expected, "wire_duplicates": h.wire_duplicates,
            **op_counts(h), "reads": len(h.kind("read")),
            "reads_ok": len(h.kind("read_ok"))}


def op_counts(h: History) -> dict[str, int]:
    """The op part of ``count_figures``: invoked logical ops by outcome."""
    ops = Counter(rec.outcome for rec in op_records(h).values() if rec.first is not None)
    return {"ops": sum(ops.values()), "ops_ok": ops["ok"], "ops_failed": ops["fail"],
            "ops_info": ops["info"]}


def fraction_figures(h: History, counts: dict[str, int],
                     anomalies: dict[str, int]) -> dict[str, float | None]:
    """Each count as a fraction of what it is a part of (None when that is zero)."""
    return fractions(counts, anomalies, sum(len(devices) for _, devices in fan_out(h).missing))


def fractions(counts: dict[str, int], anomalies: dict[str, int],
              missed: int) -> dict[str, float | None]:
    """``fraction_figures`` from the counts, the anomaly counts and ``missed``: the expected
    deliveries that never happened (the query engine counts them its own way)."""
    def part(n: int, of: int) -> float | None:
        return round(n / of, 6) if of else None
    sent, acked = counts["attempted"], counts["acked"]
    expected = counts["expected_deliveries"]
    operations = sent + counts["ops"]
    return {
        "acked": part(acked, sent), "failed": part(counts["failed"], sent),
        "info": part(counts["info"], sent), "recovered": part(counts["recovered"],
                                                              counts["info"]),
        "delivered": part(expected - missed, expected),
        "lost": part(anomalies.get("lost", 0), acked),
        "unexpected": part(anomalies.get("phantom", 0), counts["delivered"]),
        "duplicated": part(anomalies.get("duplicated", 0), acked),
        "wire_duplicates": part(counts["wire_duplicates"],
                                counts["delivered"] + counts["wire_duplicates"]),
        "ok_operations": part(acked + counts["ops_ok"], operations),
    }


def cost_figures(h: History, counts: dict[str, int]) -> dict[str, float | int | None]:
    """Fan-out cost and retries: frames per logical message, attempts per logical send."""
    return cost_of(counts, len(h.acked), sum(rec.attempts for rec in op_records(h).values()))


def cost_of(counts: dict[str, int], acked: int, op_attempts: int
            ) -> dict[str, float | int | None]:
    """``cost_figures`` from the counts, the acked sends and the op attempts."""
    frames = counts["attempts"] + acked + counts["delivered"] + counts["wire_duplicates"]
    sent = counts["attempted"]
    return {
        "frames": frames,
        "frames_per_message": round(frames / sent, 4) if sent else None,
        "retry_ratio": round(counts["attempts"] / sent, 4) if sent else None,
        "retries": counts["attempts"] - sent,
        "op_retry_ratio": round(op_attempts / counts["ops"], 4) if counts["ops"] else None,
    }


def info_reasons(h: History) -> dict[str, dict[str, int]]:
    """Why sends and ops became indeterminate (``send_info`` / ``op_info`` reasons, counted),
    and why they failed for certain."""
    def count(kind: str) -> dict[str, int]:
        found = Counter(str(e.get("reason")) for e in _ends(h, kind))
        return dict(found.most_common())
    return {"send": count("send_info"), "op": count("op_info"),
            "send_fail": count("send_fail"), "op_fail": count("op_fail")}


def _ends(h: History, kind: str) -> list[Any]:
    if kind in ("send_info", "send_fail"):
        return [rec.end_ev for per in h.sends.values() for rec in per.values()
                if rec.end_ev is not None and rec.end_ev["ev"] == kind and rec.outcome != OK]
    return [rec.end for rec in op_records(h).values()
            if rec.end is not None and rec.end["ev"] == kind and not rec.oks]


def unseen_over_time(h: History) -> list[dict[str, float | int]]:
    """Acked messages not yet on every expected device, sampled at every whole second since
    t0 (the load start) until the last event: ``[{"t_s", "unseen"}, ...]``.

    A message counts from the first sample at or after its ack to the first sample at or
    after its last expected device got it (never, when one never did). The seconds are
    binned in C (``map``, ``Counter``): linear, and cheap per message.
    """
    f = fan_out(h)
    if not f.ok_at:
        return []
    t0, end = h.t0, max(0, math.ceil(h.t_end - h.t0))
    starts = list(map(math.ceil, map(sub, f.ok_at, repeat(t0))))
    finite = list(map(ne, f.done_at, repeat(math.inf)))
    stops = map(max, map(math.ceil, map(sub, compress(f.done_at, finite), repeat(t0))),
                compress(starts, finite))  # a copy journaled before its ack: from the ack on
    delta = [0] * (end + 2)
    for sign, found in ((1, Counter(starts)), (-1, Counter(stops))):
        for t, n in found.items():
            delta[min(end + 1, max(0, t))] += sign * n
    out, running = [], 0
    for t in range(end + 1):
        running += delta[t]
        out.append({"t_s": t, "unseen": running})
    return out
