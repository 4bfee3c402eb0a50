"""Ops (PROTOCOL.md promise 8, "ops apply once per opid, in the order one device sent
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
  the acked ops, folded in ``op_ok`` order, give the final value; the audit's
  state must hold it. Ops whose outcome is unknown, and acked ops whose
  windows overlap the last one (they may have applied in either order), add
  acceptable values. A miss is explained as *lost* (the last acked op's effect
  is absent), or *out of its device's order* (the state holds the value of an
  earlier op of the same device that was sent before the last one);
- groups: a user's final ``groups`` must match the membership that the
  group's events (replayed in seq order, see ``recipients``) end with;
- out of order, for group ops: two ops of one device session on one group,
  the first sent (every attempt) before the second, whose events got seqs in
  the other order.
"""

from __future__ import annotations

from typing import Any

from imload.check.cases import Cases
from imload.check.history import Event, History
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


def set_folds(h: History, ops: dict[tuple[str, str], OpRecord],
              states: dict[str, dict[str, Event]], out: Cases) -> None:
    by_key: dict[tuple[str, str, Any], list[OpRecord]] = {}
    for (user, _), rec in ops.items():
        key = rec.key()
        if key is not None and user in states:
            by_key.setdefault((user, key[0], key[1]), []).append(rec)
    for (user, where, item), recs in by_key.items():
        final_ev = _last(states[user])
        has = item in (final_ev.get(where) or ())
        acked = sorted((r for r in recs if r.ok is not None), key=lambda r: r.ok["at"])  # type: ignore[index]
        if not acked:
            continue
        last = acked[-1]
        assert last.first is not None and last.ok is not None
        fine = {_value(last)}
        fine.update(_value(r) for r in acked[:-1]
                    if r.ok["at"] > last.first["at"])  # type: ignore[index]
        fine.update(_value(r) for r in recs if r.outcome == "info" and r.first is not None)
        if has in fine or not out.tally():
            continue
        earlier = [r for r in acked[:-1] if _value(r) == has and r.first is not None
                   and r.first["device"] == last.first["device"]
                   and r.last is not None and r.last["at"] < last.first["at"]]
        if earlier:
            why = (f"applied out of its device's order: {earlier[-1].opid} "
                   f"({_what(earlier[-1])}) was sent before it and its effect is what remains")
            shown = [earlier[-1].first, earlier[-1].ok]
        else:
            why = "lost: the final state lacks its effect" if _value(last) else \
                  "lost: the final state still has what it removed"
            shown = []
        out.keep(f"{user}'s op {last.opid} ({_what(last)}) was the last acked op on "
                 f"{where} {item} (at {h.rel(last.ok['at'])}s), yet after the audit {where} "
                 f"{'has' if has else 'lacks'} {item}: {why}",
                 [*shown, last.first, last.ok, final_ev])


def group_folds(h: History, states: dict[str, dict[str, Event]], out: Cases) -> None:
    for conv in sorted(h.group_events):
        timeline = group_timeline(conv, h)
        if not timeline.seqs or timeline.after[-1] is None or timeline.unknown is not None:
            continue
        members = timeline.after[-1]
        for user in sorted(states):
            final_ev = _last(states[user])
            has = conv in (final_ev.get("groups") or ())
            if has != (user in members) and out.tally():
                change = timeline.events[-1]
                out.keep(f"after the audit {user}'s groups {'include' if has else 'lack'} "
                         f"{conv}, but the group's events end (seq {timeline.seqs[-1]}) with "
                         f"{user} {'out of' if has else 'in'} it: the final state differs "
                         f"from the fold of the ops", [change, final_ev])


def group_order(h: History, ops: dict[tuple[str, str], OpRecord], out: Cases) -> None:
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
    for items in per_session.values():
        items.sort(key=lambda item: item[0])
        for i, (seq_a, a, ev_a) in enumerate(items):
            for seq_b, b, ev_b in items[i + 1:]:
                # a has the lower seq; b was sent (every attempt) before a: out of order
                if (b.last is not None and a.first is not None and seq_b != seq_a
                        and b.last["at"] < a.first["at"] and out.tally()):
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


def _last(per_device: dict[str, Event]) -> Event:
    return max(per_device.values(), key=lambda e: e["at"])


def _state_of(e: Event) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(sorted(e.get(k) or ())) for k in ("contacts", "pinned", "groups"))
