"""One pass over a run's journal, building the index every check reads.

Theory of operation
-------------------
The journal is a history in the Jepsen sense: each logical send (one sender
user and one ``cmid``) is invoked by one or more ``send`` attempts and ends
``send_ok``, ``send_fail`` or ``send_info``; devices record what reached them
(``deliver``); faults and phases share the same clock. ``build_history`` walks
the events once, in ``at`` order, and files them into plain dicts:

- ``devices[user][device]``: a ``DeviceLog`` per device that was declared
  (``device``), logged in (``connected``) or received anything: the first
  copy of every mid it holds (``held``, a dict, so in the order they came;
  repeats are only counted, as ``wire_duplicates``), its latest push per
  conversation and its last ``audit`` event.
- ``sends[user][cmid]``: one record (a list, indexed by the slot constants
  below) per logical send, whoever mentions it first: the sender's events or a
  delivery naming ``(from, cmid)``.
- ``by_seq[conv][seq]`` and ``by_mid[mid]``: the first event (ack or delivery)
  naming each (conv, seq) and each mid.

Some facts are only visible, or only cheap, while walking: which mid a
(conv, seq) named first, which digest was sent before a copy arrived, which
push came right before this one on the same connection, and the join of a
send with its copies (the record is hot in memory right then). The walk keeps
them as pairs of events (``seq_clashes``, ``mid_clashes``, ``cmid_clashes``,
``digest_mismatches``, ``backwards``), as the latency samples (``ack_s``,
``e2e_s``) and as a per-send count of member devices holding the send's mid
(``COPIES``, which lets ``delivery.fan_out`` skip every fully delivered send).
The checks in this package turn these into explained cases; everything else
is judged afterwards from the maps.

Time and memory are linear in the number of events: every event is a few dict
operations, and the index holds references to the journal's own event dicts,
never copies. The events must be sorted by ``at`` (``read_journal`` sorts
them); an unsorted list is sorted (stably) before the walk.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from imload.check.recipients import conv_users

Event = Mapping[str, Any]

# Slots of a logical send record (``History.sends[user][cmid]``).
ATTEMPTS = 0  # number of ``send`` events (wire attempts)
OUTCOME = 1  # PENDING, OK, FAIL or INFO: ok wins over fail, fail over info
SEND_EV = 2  # the first ``send`` event, or None when the client never recorded one
OK_EV = 3  # the first ``send_ok`` event
END_EV = 4  # the first ``send_fail`` / ``send_info`` event
MID_EV = 5  # the first event (ack or delivery) naming a mid for this send: its canonical mid
DELIV_EV = 6  # the first ``deliver`` event of this send, on any device
EARLY = 7  # deliveries seen before any ``send`` (clock skew, or a phantom), else None
COPIES = 8  # member devices (of a direct chat) holding the canonical mid, in its conv
RECORD_SLOTS = 9

PENDING, OK, FAIL, INFO = "pending", "ok", "fail", "info"


def new_record() -> list[Any]:
    return [0, PENDING, None, None, None, None, None, None, 0]


@dataclass(slots=True)
class DeviceLog:
    """What one device was and what reached it."""

    declared: Event | None = None  # its first ``device`` / ``connected`` event
    held: dict[str, Event] = field(default_factory=dict)  # mid -> first copy, in time order
    audit: Event | None = None  # its last ``audit`` event
    last_push: dict[str, Event] = field(default_factory=dict)  # conv -> latest pushed delivery


@dataclass(slots=True)
class History:
    """The index of one run's journal; built by ``build_history``, read-only afterwards."""

    events: int = 0
    t0: float = 0.0  # the ``phase load start`` time, else the first event's
    devices: dict[str, dict[str, DeviceLog]] = field(default_factory=dict)
    sends: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    acked: list[list[Any]] = field(default_factory=list)  # records in the order of their first ack
    by_seq: dict[str, dict[int, Event]] = field(default_factory=dict)
    by_mid: dict[str, Event] = field(default_factory=dict)
    members: dict[str, tuple[str, ...]] = field(default_factory=dict)  # conv -> users, () unknown
    wire_duplicates: int = 0  # deliveries of a mid the device already held
    ack_s: array[float] = field(default_factory=lambda: array("d"))  # 1st attempt -> 1st ack
    e2e_s: array[float] = field(default_factory=lambda: array("d"))  # 1st attempt -> a member
    # device's first copy of the send's canonical mid (direct chats, any outcome)
    seq_clashes: list[tuple[Event, Event]] = field(default_factory=list)  # one (conv, seq), 2 mids
    mid_clashes: list[tuple[Event, Event]] = field(default_factory=list)  # one mid, 2 places/msgs
    cmid_clashes: list[tuple[Event, Event]] = field(default_factory=list)  # (user, cmid), 2 mids
    digest_mismatches: list[tuple[Event, Event]] = field(default_factory=list)  # (send, deliver)
    backwards: list[tuple[Event, Event]] = field(default_factory=list)  # pushes, same session
    faults: list[dict[str, Any]] = field(default_factory=list)  # windows, at_s/until_s from t0
    phases: dict[str, dict[str, float | None]] = field(default_factory=dict)
    malformed: list[str] = field(default_factory=list)  # events lacking a field their kind needs
    memo: dict[str, Any] = field(default_factory=dict)  # derived facts, computed once

    def log(self, user: str, device: str) -> DeviceLog | None:
        return self.devices.get(user, {}).get(device)

    def record(self, user: str, cmid: str) -> list[Any] | None:
        return self.sends.get(user, {}).get(cmid)

    def rel(self, at: float) -> float:
        """Seconds since t0, rounded to the millisecond."""
        return round(at - self.t0, 3)


def build_history(events: Sequence[Event]) -> History:
    """Index ``events`` (journal event dicts, ideally sorted by ``at``) in one pass."""
    h = History()
    if not _walk(events, h):
        h = History()
        _walk(sorted(events, key=itemgetter("at")), h)
    return h


def _device_log(h: History, user: str, device: str) -> DeviceLog:
    per_user = h.devices.get(user)
    if per_user is None:
        per_user = h.devices[user] = {}
    log = per_user.get(device)
    if log is None:
        log = per_user[device] = DeviceLog()
    return log


def _walk(events: Sequence[Event], h: History) -> bool:  # noqa: C901 - one dispatch table
    """Fill ``h``; False (and stop early) when the events are not sorted by ``at``."""
    sends = h.sends
    devices = h.devices
    by_mid = h.by_mid
    by_seq = h.by_seq
    cmid_clashes = h.cmid_clashes
    acked = h.acked
    mismatches = h.digest_mismatches
    backwards = h.backwards
    ack_sample = h.ack_s.append
    e2e_sample = h.e2e_s.append
    users_of = h.members
    open_faults: dict[Any, dict[str, Any]] = {}
    known: set[tuple[Any, ...]] = set()  # clashes filed already: one bad mid counts once
    load_start: float | None = None
    first_at: float | None = None
    last_at = float("-inf")
    wire_dups = 0
    n = 0

    def name_seq(e: Event, conv: str, seq: int, mid: str, sender: str, cmid: str) -> None:
        """Check that (conv, seq) names only ``mid``, and ``mid`` only one message and place."""
        first = by_mid.get(mid)
        if first is None:
            by_mid[mid] = e
        elif (first["seq"] == seq and first["conv"] == conv and first["cmid"] == cmid
              and (first["from"] if first["ev"] == "deliver" else first["user"]) == sender):
            return
        elif ("mid", id(first), conv, seq, sender, cmid) not in known:
            known.add(("mid", id(first), conv, seq, sender, cmid))
            h.mid_clashes.append((first, e))
        convs = by_seq.get(conv)
        if convs is None:
            convs = by_seq[conv] = {}
        named = convs.get(seq)
        if named is None:
            convs[seq] = e
        elif named["mid"] != mid and ("seq", id(named), mid) not in known:
            known.add(("seq", id(named), mid))
            h.seq_clashes.append((named, e))

    def name_mid(rec: list[Any], e: Event, mid: str) -> Event:
        """File ``mid`` for the logical send; return the send's canonical (first) mid event."""
        first: Event | None = rec[MID_EV]
        if first is None:
            rec[MID_EV] = e
            return e
        if first["mid"] != mid and ("cmid", id(first), mid) not in known:
            known.add(("cmid", id(first), mid))
            cmid_clashes.append((first, e))
        return first

    def members(conv: str) -> tuple[str, ...]:
        found = users_of.get(conv)
        if found is None:
            found = users_of[conv] = conv_users(conv) or ()
        return found

    for e in events:
        at = e["at"]
        if at < last_at:
            return False
        last_at = at
        n += 1
        if first_at is None:
            first_at = at
        try:
            k = e["ev"]
            if k == "deliver":
                user, device, mid = e["user"], e["device"], e["mid"]
                frm, cmid, conv, seq = e["from"], e["cmid"], e["conv"], e["seq"]
                digest, via, session = e["digest"], e["via"], e["session"]
                per_user = devices.get(user)
                log = per_user.get(device) if per_user is not None else None
                if log is None:
                    log = _device_log(h, user, device)
                    log.declared = e
                if via == "push":
                    last = log.last_push
                    prev = last.get(conv)
                    last[conv] = e
                    if prev is not None and seq < prev["seq"] and prev["session"] == session:
                        backwards.append((prev, e))
                held = log.held
                first = held.get(mid)
                if first is None:
                    held[mid] = e
                else:
                    wire_dups += 1
                    if (first["cmid"] == cmid and first["from"] == frm and first["seq"] == seq
                            and first["digest"] == digest and first["conv"] == conv):
                        continue  # the same copy again: everything below was checked already
                per_sender = sends.get(frm)
                if per_sender is None:
                    per_sender = sends[frm] = {}
                rec = per_sender.get(cmid)
                if rec is None:
                    rec = per_sender[cmid] = new_record()
                if rec[DELIV_EV] is None:
                    rec[DELIV_EV] = e
                sent = rec[SEND_EV]
                if sent is None:
                    if rec[EARLY] is None:
                        rec[EARLY] = [e]
                    else:
                        rec[EARLY].append(e)
                elif sent["digest"] != digest:
                    mismatches.append((sent, e))
                canon = rec[MID_EV]
                if (canon is None or canon["mid"] != mid or canon["seq"] != seq
                        or canon["conv"] != conv):
                    canon = name_mid(rec, e, mid)
                    name_seq(e, conv, seq, mid, frm, cmid)
                # (else: the same mid and place as the canonical event, already checked)
                mem = users_of.get(conv)
                if mem is None:
                    mem = members(conv)
                if (first is None and user in mem and (canon is e or (
                        canon["mid"] == mid and canon["conv"] == conv))):
                    rec[COPIES] += 1
                    if sent is not None:
                        e2e_sample(at - sent["at"])
            elif k == "send":
                user, cmid, digest = e["user"], e["cmid"], e["digest"]
                per_sender = sends.get(user)
                if per_sender is None:
                    per_sender = sends[user] = {}
                rec = per_sender.get(cmid)
                if rec is None:
                    rec = per_sender[cmid] = new_record()
                rec[ATTEMPTS] += 1
                if rec[SEND_EV] is None:
                    rec[SEND_EV] = e
                    if rec[EARLY] is not None:
                        _settle_early(h, rec, e, members)
            elif k == "send_ok":
                user, cmid, conv, mid, seq = e["user"], e["cmid"], e["conv"], e["mid"], e["seq"]
                per_sender = sends.get(user)
                if per_sender is None:
                    per_sender = sends[user] = {}
                rec = per_sender.get(cmid)
                if rec is None:
                    rec = per_sender[cmid] = new_record()
                if rec[OK_EV] is None:
                    rec[OK_EV] = e
                    acked.append(rec)
                    sent = rec[SEND_EV]
                    if sent is not None:
                        ack_sample(at - sent["at"])
                rec[OUTCOME] = OK
                name_mid(rec, e, mid)
                name_seq(e, conv, seq, mid, user, cmid)
            elif k == "send_fail" or k == "send_info":
                user, cmid = e["user"], e["cmid"]
                per_sender = sends.get(user)
                if per_sender is None:
                    per_sender = sends[user] = {}
                rec = per_sender.get(cmid)
                if rec is None:
                    rec = per_sender[cmid] = new_record()
                if rec[END_EV] is None:
                    rec[END_EV] = e
                if k == "send_fail":
                    if rec[OUTCOME] != OK:
                        rec[OUTCOME] = FAIL
                elif rec[OUTCOME] == PENDING:
                    rec[OUTCOME] = INFO
            elif k == "device" or k == "connected":
                log = _device_log(h, e["user"], e["device"])
                if log.declared is None or log.declared["ev"] == "deliver":
                    log.declared = e
            elif k == "audit":
                _device_log(h, e["user"], e["device"]).audit = e
            elif k == "fault":
                _file_fault(h, open_faults, e)
            elif k == "phase":
                phase, action = e["phase"], e["action"]
                h.phases.setdefault(phase, {"start_s": None, "end_s": None})[
                    "start_s" if action == "start" else "end_s"] = at
                if phase == "load" and action == "start" and load_start is None:
                    load_start = at
        except (KeyError, TypeError) as err:
            if len(h.malformed) < 100:
                h.malformed.append(f"event #{n} ({e.get('ev')!r} at {at}): "
                                   f"{type(err).__name__} {err}")
            else:
                h.malformed[-1] = f"... and more malformed events (last: #{n})"

    h.events = n
    h.wire_duplicates = wire_dups
    h.t0 = load_start if load_start is not None else (first_at if first_at is not None else 0.0)
    for w in h.faults:
        for key in ("at_s", "until_s"):
            if w[key] is not None:
                w[key] = h.rel(w[key])
    h.faults.sort(key=lambda w: (w["at_s"] is None, w["at_s"] or 0.0))
    for span in h.phases.values():
        for key, value in span.items():
            if value is not None:
                span[key] = h.rel(value)
    return True


def _settle_early(h: History, rec: list[Any], sent: Event,
                  members: Callable[[str], tuple[str, ...]]) -> None:
    """The send of copies journaled before it (another host's clock): check them now."""
    early: list[Event] = rec[EARLY]
    rec[EARLY] = None
    h.digest_mismatches.extend((sent, d) for d in early if d["digest"] != sent["digest"])
    canon_mid = rec[MID_EV]["mid"]
    for d in early:
        log = h.devices[d["user"]][d["device"]]
        if (log.held.get(d["mid"]) is d and d["mid"] == canon_mid
                and d["user"] in members(d["conv"])):
            h.e2e_s.append(d["at"] - sent["at"])  # negative: counts as 0 in the percentiles


def _file_fault(h: History, open_faults: dict[Any, dict[str, Any]], e: Event) -> None:
    """Pair a fault's start and stop (by its ``fault`` id) into one window."""
    fid, action = e["fault"], e["action"]
    window: dict[str, Any] | None
    if action == "start":
        window = {"fault": fid, "kind": e["kind"], "target": e["target"], "at_s": e["at"],
                  "until_s": None, "detail": e.get("detail")}
        open_faults[fid] = window
        h.faults.append(window)
    elif action == "stop":
        window = open_faults.pop(fid, None)
        if window is None:  # a stop without its start (a torn journal): keep what we know
            h.faults.append({"fault": fid, "kind": e["kind"], "target": e["target"],
                             "at_s": None, "until_s": e["at"], "detail": e.get("detail")})
        else:
            window["until_s"] = e["at"]
