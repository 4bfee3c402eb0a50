"""What the DuckDB checker keeps in Python: per device (thousands, not millions), the run's clock,
and the journal events a verdict shows (fetched by number, once)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import duckdb

from imload.check.index import History
from imload.check.membership_time import Span
from imload.check.recipients import Recipients, expected_devices
from imload.checkdb.db import Dicts, code, fetch, names_of


@dataclass(slots=True)
class Device:
    l_i: int  # the event that made the walk file it
    declared: int | None = None  # its ``declared`` event (see ``DeviceLog``)
    audit: int | None = None  # its last ``audit`` event
    audit_start: int | None = None  # its last ``audit`` start
    audit_done: bool = False  # its last ``audit`` event says done
    inbox_top: int = 0  # the inbox_seq its audit logged in with (gap)


@dataclass
class Index:
    con: duckdb.DuckDBPyConnection
    t0: float = 0.0
    t_end: float = 0.0
    events: int = 0
    devices: dict[str, dict[str, Device]] = field(default_factory=dict)  # walk order
    small: History = field(default_factory=History)  # the walk of the non-message events
    kinds: set[str] = field(default_factory=set)  # the kinds of the events in ``other``
    groups: bool = False  # any group conversation (``groups.build``)
    dicts: Dicts = field(default_factory=lambda: Dicts({}))  # ids to names and back
    _cache: dict[int, dict[str, Any]] = field(default_factory=dict)

    def name(self, family: str, i: int | None) -> Any:
        return self.dicts.name(family, i)

    def id(self, family: str, name: Any) -> int | None:
        return self.dicts.id(family, name)

    def rel(self, at: float) -> float:
        return round(at - self.t0, 3)

    def get(self, indices: Iterable[int | None]) -> list[dict[str, Any] | None]:
        """The events numbered ``indices`` (None stays None)."""
        wanted = [i for i in indices if i is not None]
        missing = [i for i in wanted if i not in self._cache]
        if missing:
            self._cache.update(fetch(self.con, missing))
        return [self._cache[i] if i is not None else None for i in indices]  # type: ignore[union-attr]

    def one(self, i: int | None) -> dict[str, Any] | None:
        return self.get([i])[0]

    def recipients(self, conv: str, seq: int, span: Span | None = None) -> Recipients | None:
        """``recipients.expected_devices`` over ``small``, with this index's devices."""
        return expected_devices(conv, seq, self.small, span=span, devices=self.devices)


def build_index(con: duckdb.DuckDBPyConnection) -> Index:
    t0_row = con.execute(f"""SELECT min_by("at", i) FILTER (WHERE ev = 'phase'
                                   AND phase = {code(con, 'phase', 'load')}
                                   AND action = 'start'), min_by("at", i), max_by("at", i),
                                   count(*) FROM events""").fetchone()
    load, first, last, n = t0_row  # type: ignore[misc]
    ix = Index(con=con, t0=load if load is not None else (first if first is not None else 0.0),
               t_end=last if last is not None else 0.0, events=n)
    ix.kinds = {r[0] for r in con.execute("SELECT DISTINCT ev FROM other").fetchall()}
    dicts = ix.dicts = names_of(con)
    rows = con.execute("SELECT u, d, l_i FROM dev ORDER BY l_i").fetchall()
    for u, d, l_i in dicts.named(rows, "user", "device"):
        ix.devices.setdefault(u, {})[d] = Device(l_i=l_i)
    rows = con.execute("""
        SELECT "user", device,
               min(i) FILTER (WHERE ev IN ('device', 'connected')) AS own_i,
               max(i) FILTER (WHERE ev = 'audit') AS audit_i,
               max(i) FILTER (WHERE ev = 'audit' AND action = 'start') AS start_i,
               max_by(action, i) FILTER (WHERE ev = 'audit') AS last_action,
               max_by(inbox_seq, i) FILTER (WHERE ev = 'audit' AND action = 'start') AS top_s,
               max_by(inbox_seq, i) FILTER (WHERE ev = 'audit') AS top_a,
               min(i) AS first_i, min_by(ev, i) AS first_ev
        FROM other WHERE ev IN ('device', 'connected', 'audit')
        GROUP BY ALL""").fetchall()
    for per in ix.devices.values():
        for dv in per.values():
            dv.declared = dv.l_i  # filed by a copy, and never declared nor logged in
    for u, d, own_i, audit_i, start_i, last_action, top_s, top_a, first_i, ev in dicts.named(
            rows, "user", "device"):
        dv = ix.devices[u][d]
        first_ev = ev if first_i == dv.l_i else "deliver"  # filed by its first copy
        # ``DeviceLog.declared``: the event that filed it, replaced by its first device or
        # connected event only when that was a copy
        dv.declared = own_i if first_ev == "deliver" and own_i is not None else dv.l_i
        if first_ev in ("device", "connected"):
            dv.declared = own_i
        dv.audit, dv.audit_start = audit_i, start_i
        dv.audit_done = last_action == "done"
        top = top_s if start_i is not None else (top_a if dv.audit_done else None)
        dv.inbox_top = top if isinstance(top, int) else 0
    return ix
