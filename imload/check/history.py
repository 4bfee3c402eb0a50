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
  delivery of every mid it holds (``held``), every delivery in time order
  (``stream``, repeats included), and its last ``audit`` event.
- ``sends[user][cmid]``: one record (a list, indexed by the slot constants
  below) per logical send, whoever mentions it first: the sender's events or a
  delivery naming ``(from, cmid)``.
- ``by_seq[conv][seq]`` and ``by_mid[mid]``: the first event (ack or delivery)
  naming each (conv, seq) and each mid.

Some facts are only visible while walking (which mid a (conv, seq) named
first, which digest was sent before a copy arrived); the walk keeps those
observations as pairs of events (``seq_clashes``, ``mid_clashes``,
``cmid_clashes``, ``digest_mismatches``) and the checks in this package turn
them into explained cases. Everything else is judged afterwards from the maps.

Time and memory are linear in the number of events: every event is a few dict
operations, and the index holds references to the journal's own event dicts,
never copies. The events must be sorted by ``at`` (``read_journal`` sorts
them); an unsorted list is sorted (stably) before the walk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

Event = Mapping[str, Any]

# Slots of a logical send record (``History.sends[user][cmid]``).
ATTEMPTS = 0  # number of ``send`` events (wire attempts)
OUTCOME = 1  # PENDING, OK, FAIL or INFO: ok wins over fail, fail over info
SEND_EV = 2  # the first ``send`` event, or None when the client never recorded one
OK_EV = 3  # the first ``send_ok`` event
END_EV = 4  # the first ``send_fail`` / ``send_info`` event
MID_EV = 5  # the first event (ack or delivery) naming a mid for this send
DELIV_EV = 6  # the first ``deliver`` event of this send, on any device
EARLY = 7  # deliveries seen before any ``send`` (clock skew, or a phantom), else None
RECORD_SLOTS = 8

PENDING, OK, FAIL, INFO = "pending", "ok", "fail", "info"


def new_record() -> list[Any]:
    return [0, PENDING, None, None, None, None, None, None]


@dataclass(slots=True)
class DeviceLog:
    """What one device was and what reached it."""

    declared: Event | None = None  # its first ``device`` / ``connected`` event
    held: dict[str, Event] = field(default_factory=dict)  # mid -> first delivery
    stream: list[Event] = field(default_factory=list)  # every delivery, in time order
    audit: Event | None = None  # its last ``audit`` event


@dataclass(slots=True)
class History:
    """The index of one run's journal; built by ``build_history``, read-only afterwards."""

    events: int = 0
    t0: float = 0.0  # the ``phase load start`` time, else the first event's
    devices: dict[str, dict[str, DeviceLog]] = field(default_factory=dict)
    sends: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    by_seq: dict[str, dict[int, Event]] = field(default_factory=dict)
    by_mid: dict[str, Event] = field(default_factory=dict)
    acked: list[list[Any]] = field(default_factory=list)  # records in the order of their first ack
    wire_duplicates: int = 0  # deliveries of a mid the device already held
    seq_clashes: list[tuple[Event, Event]] = field(default_factory=list)  # one (conv, seq), 2 mids
    mid_clashes: list[tuple[Event, Event]] = field(default_factory=list)  # one mid, 2 (conv, seq)
    cmid_clashes: list[tuple[Event, Event]] = field(default_factory=list)  # (user, cmid), 2 mids
    digest_mismatches: list[tuple[Event, Event]] = field(default_factory=list)  # (send, deliver)
    faults: list[dict[str, Any]] = field(default_factory=list)  # windows, at_s/until_s from t0
    phases: dict[str, dict[str, float | None]] = field(default_factory=dict)
    malformed: list[str] = field(default_factory=list)  # events lacking a field their kind needs
    memo: dict[Any, Any] = field(default_factory=dict)  # caches of derived facts (recipients)

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
    open_faults: dict[Any, dict[str, Any]] = {}
    known: set[tuple[Any, ...]] = set()  # clashes filed already: one bad mid counts once
    load_start: float | None = None
    first_at: float | None = None
    last_at = float("-inf")
    wire_dups = 0
    n = 0

    def name_seq(e: Event, conv: str, seq: int, mid: str) -> None:
        """Check that (conv, seq) names only ``mid``, and that ``mid`` names only (conv, seq)."""
        first = by_mid.get(mid)
        if first is None:
            by_mid[mid] = e
        elif first["seq"] == seq and first["conv"] == conv:
            return
        elif ("mid", id(first), conv, seq) not in known:
            known.add(("mid", id(first), conv, seq))
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

    def name_mid(rec: list[Any], e: Event, mid: str) -> None:
        first = rec[MID_EV]
        if first is None:
            rec[MID_EV] = e
        elif first["mid"] != mid and ("cmid", id(first), mid) not in known:
            known.add(("cmid", id(first), mid))
            cmid_clashes.append((first, e))

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
                digest = e["digest"]
                per_user = devices.get(user)
                log = per_user.get(device) if per_user is not None else None
                if log is None:
                    log = _device_log(h, user, device)
                    log.declared = e
                log.stream.append(e)
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
                    name_mid(rec, e, mid)
                    name_seq(e, conv, seq, mid)
                # else: the same mid and place as the send's first naming event, whose
                # check already stands for this copy too
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
                    early = rec[EARLY]
                    if early is not None:
                        mismatches.extend((e, d) for d in early if d["digest"] != digest)
                        rec[EARLY] = None
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
                rec[OUTCOME] = OK
                name_mid(rec, e, mid)
                name_seq(e, conv, seq, mid)
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


def _file_fault(h: History, open_faults: dict[Any, dict[str, Any]], e: Event) -> None:
    """Pair a fault's start and stop (by its ``fault`` id) into one window."""
    fid, action = e["fault"], e["action"]
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
