"""Ops (docs/protocol.md, promise 8, "ops apply once per opid, in the order one connection sent
them"): the ``op`` anomaly.

Ops are folded like sends: every ``op`` event is an attempt of the logical op
(user, opid), which ends ``op_ok`` (applied), ``op_fail`` (refused) or
``op_info`` (unknown). The final state is what the audit fetched (``state``
events of phase ``audit``). Cases:

- applied twice: two ``op_ok`` with ``dup`` false for one opid, or a group op
  whose membership event was stored under two mids;
- devices disagree: the audit's ``state`` differs between two devices of a
  user (nothing changes during the audit);
- final state vs the fold: per user and key (a contact, a pinned conversation)
  the acked ops are partly ordered: A surely applied before B when A's
  ``op_ok`` came no later than B's first attempt (real time), or when both were
  sent on one connection (one device session: every attempt and the answer of
  each there) and A's last attempt was journaled before B's first (promise 8:
  pipelined ops of a connection, all on the wire at once, apply in the order
  sent). The last op applied is one that no other acked op surely follows; the
  audit's state must hold the value of one of those, or of an op whose outcome
  is unknown. Acked ops of different devices or sessions whose windows overlap
  stay either-order. A miss is explained as *lost* (the last acked op's effect
  is absent), or *out of its device's order* (the state holds the value of an
  earlier op of the same device that was surely applied before the last one);
- groups: a user's final ``groups`` must match the membership that the
  group's events (replayed in seq order, see ``recipients``) end with; when the
  seqs are opaque, the effect of one of the user's ops that may have applied
  last, placed by time (``membership_time``);
- out of order, for group ops: two ops of one device session on one group,
  the first sent (every attempt journaled before the second's first) before the
  second, whose events got seqs in the other order. Opaque seqs have no order:
  those ops are counted as not judged (``seq declared opaque``).

"Journaled before" is the journal's order of ``op`` events (its ``at``, then
the order a device wrote them): a pipelined flush puts several ops on the wire
in one instant, with one ``at``.
"""

from __future__ import annotations

import math
from typing import Any

from imload.check.cases import Cases
from imload.check.index import Event, History
from imload.check.membership import group_ops, what
from imload.check.membership_time import final_ops
from imload.check.numbering import seq_opaque
from imload.check.oplog import OpRecord, op_records
from imload.check.recipients import group_timeline


def final_states(h: History) -> dict[str, dict[str, Event]]:
    """user -> device -> its last ``state`` event of the audit."""
    found: dict[str, dict[str, Event]] = {}
    for e in h.kind("state"):
        if e.get("phase") == "audit":
            found.setdefault(e["user"], {})[e["device"]] = e
    return found


def op_cases(h: History, limit: int = 20) -> Cases:
    out = Cases("op", limit, unit="acked ops")
    ops = op_records(h)
    states = final_states(h)
    acked = [rec for rec in ops.values() if rec.ok is not None]
    out.owe(len(acked))
    blind = [rec for rec in acked if rec.user not in states]
    if blind:
        out.skip("no state fetched in the audit", f"{blind[0].user}: the audit has no state "
                 f"(state_ok), so the effect of op {blind[0].opid} is unknown", len(blind))
    applied_twice(h, ops, out)
    disagreeing_states(states, out)
    set_folds(h, ops, states, out)
    group_folds(h, states, out)
    group_order(h, ops, out)
    return out


def applied_twice(h: History, ops: dict[tuple[str, str], OpRecord], out: Cases) -> None:
    for (user, opid), rec in ops.items():
        fresh = [e for e in rec.oks if not e.get("dup")]
        mids = h.event_mids.get((user, f"op:{opid}"), {})
        if (len(fresh) > 1 or len(mids) > 1) and out.tally():
            how = (f"answered op_ok with dup false {len(fresh)} times" if len(fresh) > 1 else
                   f"stored its membership event under {len(mids)} mids: {', '.join(mids)}")
            out.keep(f"{user}'s op {opid} ({_what(rec)}) was applied twice: the server {how}",
                     [rec.first, *fresh[:2], *list(mids.values())[:2]])


def disagreeing_states(states: dict[str, dict[str, Event]], out: Cases) -> None:
    for user, per_device in sorted(states.items()):
        seen = {_state_of(e) for e in per_device.values()}
        if len(seen) > 1 and out.tally():
            out.keep(f"after the audit the devices of {user} fetched different states "
                     f"({len(seen)} versions)", list(per_device.values()))


class ApplyOrder:
    """Which acked op was surely applied before which (see the module's docstring)."""

    def __init__(self, h: History) -> None:
        self.pos = {id(e): i for i, e in enumerate(h.kind("op"))}  # journal order

    def at(self, e: Event) -> int:
        return self.pos[id(e)]

    def before(self, a: OpRecord, b: OpRecord) -> bool:
        """``a`` surely applied before ``b`` (both acked, with attempts)."""
        assert a.ok is not None and b.first is not None and a.last is not None
        if a.ok["at"] <= b.first["at"]:
            return True
        conn = connection(a)
        return (conn is not None and conn == connection(b)
                and self.at(a.last) < self.at(b.first))

    def tops(self, acked: list[OpRecord]) -> list[OpRecord]:
        """The ops that no other op of ``acked`` surely follows: any may have applied last."""
        firsts = sorted((r.first["at"] for r in acked), reverse=True)  # type: ignore[index]
        latest, runner_up = firsts[0], firsts[1] if len(firsts) > 1 else None
        latest_first: dict[tuple[str, int], int] = {}  # connection -> its last first attempt
        for r in acked:
            conn = connection(r)
            if conn is not None:
                assert r.first is not None
                latest_first[conn] = max(latest_first.get(conn, -1), self.at(r.first))
        found = []
        for r in acked:
            assert r.first is not None and r.last is not None and r.ok is not None
            other = runner_up if r.first["at"] == latest else latest  # the others' latest
            if other is not None and r.ok["at"] <= other:
                continue  # answered before another op was sent
            conn = connection(r)
            if conn is not None and self.at(r.last) < latest_first[conn]:
                continue  # another op of its connection was sent after it
            found.append(r)
        return found


def connection(rec: OpRecord) -> tuple[str, int] | None:
    """(device, session) when every attempt of ``rec`` and its ``op_ok`` were on that one
    connection; None otherwise (or when it has no attempt or no answer)."""
    first, last, ok = rec.first, rec.last, rec.ok
    if first is None or last is None or ok is None:
        return None
    if first["session"] == last["session"] == ok["session"] and (
            first["device"] == last["device"] == ok["device"]):
        return first["device"], first["session"]
    return None


def set_folds(h: History, ops: dict[tuple[str, str], OpRecord],
              states: dict[str, dict[str, Event]], out: Cases) -> None:
    by_key: dict[tuple[str, str, Any], list[OpRecord]] = {}
    for (user, _), rec in ops.items():
        key = rec.key()
        if key is not None and user in states:
            by_key.setdefault((user, key[0], key[1]), []).append(rec)
    order = ApplyOrder(h)
    for (user, where, item), recs in by_key.items():
        final_ev = _last(states[user])
        has = item in (final_ev.get(where) or ())
        acked = [r for r in recs if r.ok is not None and r.first is not None]
        if not acked:
            continue
        tops = order.tops(acked)
        fine = {_value(r) for r in tops}
        fine.update(_value(r) for r in recs if r.outcome == "info" and r.first is not None)
        if has in fine or not out.tally():
            continue
        # every op that may have applied last left the other value: name the latest acked
        last = max(tops or acked, key=lambda r: r.ok["at"])  # type: ignore[index]
        assert last.first is not None and last.ok is not None
        earlier = [r for r in acked if r is not last and _value(r) == has
                   and r.first["device"] == last.first["device"]  # type: ignore[index]
                   and order.before(r, last)]
        if earlier:
            prior = max(earlier, key=lambda r: order.at(r.first))  # type: ignore[arg-type]
            conn = connection(prior)
            how = (f" on the same connection (session {conn[1]}, without waiting for its "
                   "answer)" if conn is not None and conn == connection(last)
                   and prior.ok["at"] > last.first["at"] else "")  # type: ignore[index]
            why = (f"applied out of its device's order: {prior.opid} ({_what(prior)}) was "
                   f"sent before it{how} and its effect is what remains")
            shown = [prior.first, prior.ok]
        else:
            why = "lost: the final state lacks its effect" if _value(last) else \
                  "lost: the final state still has what it removed"
            shown = []
        out.keep(f"{user}'s op {last.opid} ({_what(last)}) was the last acked op on "
                 f"{where} {item} (at {h.rel(last.ok['at'])}s), yet after the audit {where} "
                 f"{'has' if has else 'lacks'} {item}: {why}",
                 [*shown, last.first, last.ok, final_ev])


def group_folds(h: History, states: dict[str, dict[str, Event]], out: Cases) -> None:
    if seq_opaque(h):
        timed_group_folds(h, states, out)
        return
    finals = _finals(states)
    for conv in sorted(h.group_events):
        timeline = group_timeline(conv, h)
        if not timeline.seqs or timeline.after[-1] is None or timeline.unknown is not None:
            continue
        members = timeline.after[-1]
        for user, (final_ev, groups) in finals:
            has = conv in groups
            if has != (user in members) and out.tally():
                change = timeline.events[-1]
                out.keep(f"after the audit {user}'s groups {'include' if has else 'lack'} "
                         f"{conv}, but the group's events end (seq {timeline.seqs[-1]}) with "
                         f"{user} {'out of' if has else 'in'} it: the final state differs "
                         f"from the fold of the ops", [change, final_ev])


def timed_group_folds(h: History, states: dict[str, dict[str, Event]], out: Cases) -> None:
    """``group_folds`` by the time rule: a user's final ``groups`` must hold the effect of one
    of the ops of theirs that may have applied last (not in the group when none)."""
    users = _finals(states)
    for conv in sorted(group_ops(h)):
        finals = final_ops(conv, h)
        if finals is None:
            continue
        for user, (final_ev, groups) in users:
            has = conv in groups
            last = finals.get(user, [])
            if has in {joins for joins, _ in last} or (not last and not has) or not out.tally():
                continue
            if not last:
                out.keep(f"after the audit {user}'s groups include {conv}, but no applied op "
                         f"of the group ever made {user} a member", [final_ev])
                continue
            rec = max((r for _, r in last), key=lambda r: r.ok["at"] if r.ok else math.inf)
            assert rec.first is not None  # group_ops keeps only invoked ops
            out.keep(f"after the audit {user}'s groups {'include' if has else 'lack'} {conv}, "
                     f"but the group's applied ops, placed by time, end with {rec.user}'s "
                     f"{what(rec)} ({rec.opid}, sent at {h.rel(rec.first['at'])}s) leaving "
                     f"{user} {'out of' if has else 'in'} it: the final state differs from "
                     "the fold of the ops", [rec.first, rec.ok, final_ev])


def group_order(h: History, ops: dict[tuple[str, str], OpRecord], out: Cases) -> None:
    order = ApplyOrder(h)
    per_session: dict[tuple[Any, ...], list[tuple[int, OpRecord, Event]]] = {}
    for (user, opid), rec in ops.items():
        mids = h.event_mids.get((user, f"op:{opid}"))
        first, last, ok = rec.first, rec.last, rec.ok
        if not mids or first is None or last is None or ok is None:
            continue
        if not (first["session"] == last["session"] == ok["session"]):
            continue
        event = next(iter(mids.values()))
        key = (user, first["device"], first["session"], event["conv"])
        per_session.setdefault(key, []).append((event["seq"], rec, event))
    if seq_opaque(h):
        paired = [items for items in per_session.values() if len(items) > 1]
        if paired:
            _, a, ev = paired[0][0]
            out.skip("seq declared opaque", f"{a.user}'s ops on {ev['conv']} sent on one "
                     "connection: the target numbers conversations with labels, so the "
                     "order of their events cannot be compared", sum(map(len, paired)))
        return
    for items in per_session.values():
        items.sort(key=lambda item: item[0])
        for i, (seq_a, a, ev_a) in enumerate(items):
            for seq_b, b, ev_b in items[i + 1:]:
                # a has the lower seq; b was sent (every attempt) before a: out of order
                if (b.last is not None and a.first is not None and seq_b != seq_a
                        and order.at(b.last) < order.at(a.first) and out.tally()):
                    out.keep(f"{a.user}'s ops {b.opid} and {a.opid} on {ev_a['conv']} were "
                             f"applied out of their device's order: {b.opid} was sent first "
                             f"but its event got seq {seq_b}, after {a.opid}'s seq {seq_a}",
                             [b.last, a.first, ev_b, ev_a])


def _what(rec: OpRecord) -> str:
    if rec.first is None:
        return "never invoked"
    args = rec.first.get("args") or {}
    shown = " ".join(f"{k}={v}" for k, v in sorted(args.items()))
    return f"{rec.first['kind']} {shown}".strip()


def _value(rec: OpRecord) -> bool:
    key = rec.key()
    return bool(key and key[2])


def _finals(states: dict[str, dict[str, Event]]) -> list[tuple[str, tuple[Event, Any]]]:
    """Per user (sorted), the latest audit state and its groups (looked up once, not per
    group)."""
    found = []
    for user in sorted(states):
        final_ev = _last(states[user])
        found.append((user, (final_ev, final_ev.get("groups") or ())))
    return found


def _last(per_device: dict[str, Event]) -> Event:
    return max(per_device.values(), key=lambda e: e["at"])


def _state_of(e: Event) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(sorted(e.get(k) or ())) for k in ("contacts", "pinned", "groups"))
