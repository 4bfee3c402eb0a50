"""Logical ops: every ``op`` attempt of one (user, opid) folded with its outcome.

Ops are folded like sends: every ``op`` event is an attempt of the logical op
(user, opid), which ends ``op_ok`` (applied), ``op_fail`` (refused) or
``op_info`` (unknown). ``ops`` judges them (the ``op`` anomaly); ``membership``
reads the group ops among them as the clients' word on who is in a group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from imload.check.index import Event, History

SET_OPS = {"contact_add": ("contacts", True), "contact_remove": ("contacts", False),
           "pin": ("pinned", None)}


@dataclass(slots=True)
class OpRecord:
    user: str
    opid: str
    first: Event | None = None  # the first ``op`` attempt
    last: Event | None = None  # the last ``op`` attempt
    attempts: int = 0
    oks: list[Event] = field(default_factory=list)
    end: Event | None = None  # the first op_fail / op_info

    @property
    def ok(self) -> Event | None:
        return self.oks[0] if self.oks else None

    @property
    def outcome(self) -> str:
        if self.oks:
            return "ok"
        if self.end is not None and self.end["ev"] == "op_fail":
            return "fail"
        return "info"

    def key(self) -> tuple[str, Any, bool] | None:
        """(state key, item, value) of a contact or pin op; None for group ops."""
        if self.first is None:
            return None
        kind, args = self.first["kind"], self.first.get("args") or {}
        if kind not in SET_OPS:
            return None
        where, value = SET_OPS[kind]
        if kind == "pin":
            return where, args.get("conv"), bool(args.get("pinned"))
        return where, args.get("user"), bool(value)


def op_records(h: History) -> dict[tuple[str, str], OpRecord]:
    """Logical ops by (user, opid), in the order of their first event (memoised)."""
    found = h.memo.get("ops")
    if found is not None:
        done: dict[tuple[str, str], OpRecord] = found
        return done
    ops: dict[tuple[str, str], OpRecord] = {}
    events = sorted([e for k in ("op", "op_ok", "op_fail", "op_info") for e in h.kind(k)],
                    key=lambda e: e["at"])
    for e in events:
        key = (e["user"], e["opid"])
        rec = ops.get(key)
        if rec is None:
            rec = ops[key] = OpRecord(*key)
        k = e["ev"]
        if k == "op":
            rec.attempts += 1
            rec.last = e
            if rec.first is None:
                rec.first = e
        elif k == "op_ok":
            rec.oks.append(e)
        elif rec.end is None:
            rec.end = e
    return h.memo.put("ops", ops)
