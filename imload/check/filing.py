"""How the history walk files what is off its hot path: devices, phases, faults, acks
beyond the first, copies whose content does not match an ack, membership events.

``Filing`` holds the walk's state; ``history._Walk`` adds the hot loop over the events.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

from imload.check.index import FAIL, INFO, OK, PENDING, DeviceLog, Event, History, Known, SendRecord
from imload.check.recipients import direct_users

_UD = itemgetter("user", "device")
Sig = tuple[Any, ...]  # (conv, seq, from, cmid, digest): a message's content


class Filing:
    """The state of one walk and the helpers of its slow paths."""

    def __init__(self, h: History) -> None:
        self.h = h
        self.logs: dict[tuple[str, str], DeviceLog] = {}  # (user, device) -> its log
        self.known: dict[str, Known] = {}  # mid -> an acked message's content and record
        self.seen: set[tuple[Any, ...]] = set()  # clashes filed already: each counts once
        self.open_faults: dict[Any, dict[str, Any]] = {}
        self.session_last: dict[tuple[Any, ...], tuple[Any, float]] = {}  # fifo: last ack

    # -- devices ----------------------------------------------------------------------------
    def new_log(self, ud: tuple[str, str], e: Event) -> DeviceLog:
        user, device = ud
        if not isinstance(user, str) or not isinstance(device, str):
            raise TypeError(f"user and device must be strings, got {user!r}, {device!r}")
        per_user = self.h.devices.get(user)
        if per_user is None:
            per_user = self.h.devices[user] = {}
        log = per_user.get(device)
        if log is None:
            log = per_user[device] = DeviceLog(declared=e)
        self.logs[ud] = log
        return log

    def own(self, k: str, e: Event) -> None:
        """device, connected, audit, fault, phase."""
        h = self.h
        if k == "device" or k == "connected":
            ud = _UD(e)
            log = self.logs.get(ud) or self.new_log(ud, e)
            if log.declared is None or log.declared["ev"] == "deliver":
                log.declared = e
            if k == "connected":
                log.connected[e["session"]] = e["at"]
        elif k == "audit":
            ud = _UD(e)
            log = self.logs.get(ud) or self.new_log(ud, e)
            log.audit = e
            if e["action"] == "start":
                log.audit_start = e
        elif k == "fault":
            file_fault(h, self.open_faults, e)
        elif k == "phase":
            phase, action = e["phase"], e["action"]
            span = h.phases.setdefault(phase, {"start_s": None, "end_s": None})
            key = "start_s" if action == "start" else "end_s"
            if key == "end_s" or span[key] is None:
                span[key] = e["at"]

    # -- sends ------------------------------------------------------------------------------
    def record_of(self, user: str, cmid: str) -> SendRecord:
        per_sender = self.h.sends.get(user)
        if per_sender is None:
            per_sender = self.h.sends[user] = {}
        rec = per_sender.get(cmid)
        if rec is None:
            rec = per_sender[cmid] = SendRecord()
        return rec

    def members(self, conv: str) -> tuple[str, ...]:
        return direct_users(self.h.members, conv)

    def acked_slow(self, rec: SendRecord, e: Event) -> None:
        """File an ack's mid and (conv, seq), and its content for the deliveries' check.

        Also the cheap half of fifo and causality: per device session and conversation,
        acks whose seq and first attempt both grow need nothing more; a key where either
        goes down is a suspect for ``session_order``. A ``seen_seq`` not below the seq is
        filed. (The walk inlines the common case: the first ack of a sent message.)"""
        user, cmid, conv, mid, seq = e["user"], e["cmid"], e["conv"], e["mid"], e["seq"]
        sent = rec.send_ev
        if rec.ok_ev is None:
            rec.ok_ev = e
            self.h.acked.append(rec)
            self.h.acked_conv.append(conv)
            self.h.acked_at.append(e["at"])
            if sent is not None:
                self.h.ack_s.append(e["at"] - sent["at"])
        elif rec.ok_ev["mid"] == mid and rec.ok_ev["seq"] == seq:
            return  # the same ack again
        canon = self.name_mid(rec, e, mid)
        self.name_seq(e, conv, seq, mid, user, cmid)
        if sent is None:
            return
        if canon["mid"] == mid and mid not in self.known:
            self.known[mid] = Known((conv, seq, user, cmid, sent["digest"]), rec,
                                    self.members(conv), sent["at"])
        seen = sent.get("seen_seq")
        if seen is None:
            self.h.blind.append(rec)
        elif not seq > seen:
            self.h.seen_after.append(rec)
        session = e["session"]
        if sent["session"] == session and rec.last_ev["session"] == session:
            key = (user, e["device"], session, conv)
            prev = self.session_last.get(key)
            first = sent["at"]
            if prev is not None and (prev[0] > seq or prev[1] > first):
                self.h.fifo_suspects.add(key)
            self.session_last[key] = (seq, first)

    def ended(self, k: str, e: Event) -> None:
        rec = self.record_of(e["user"], e["cmid"])
        if rec.end_ev is None:
            rec.end_ev = e
        if k == "send_fail":
            if rec.outcome != OK:
                rec.outcome = FAIL
        elif rec.outcome == PENDING:
            rec.outcome = INFO

    def name_seq(self, e: Event, conv: str, seq: int, mid: str, sender: str, cmid: str) -> None:
        """Check that (conv, seq) names only ``mid``, and ``mid`` only one message and place."""
        h, seen = self.h, self.seen
        first = h.by_mid.get(mid)
        if first is None:
            h.by_mid[mid] = e
        elif (first["seq"] == seq and first["conv"] == conv and first["cmid"] == cmid
              and (first["from"] if first["ev"] == "deliver" else first["user"]) == sender):
            return
        elif ("mid", id(first), conv, seq, sender, cmid) not in seen:
            seen.add(("mid", id(first), conv, seq, sender, cmid))
            h.mid_clashes.append((first, e))
        convs = h.by_seq.get(conv)
        if convs is None:
            convs = h.by_seq[conv] = {}
        named = convs.get(seq)
        if named is None:
            convs[seq] = e
        elif named["mid"] != mid and ("seq", id(named), mid) not in seen:
            seen.add(("seq", id(named), mid))
            h.seq_clashes.append((named, e))

    def name_mid(self, rec: SendRecord, e: Event, mid: str) -> Event:
        """File ``mid`` for the logical send; return the send's canonical (first) mid event."""
        first: Event | None = rec.mid_ev
        if first is None:
            rec.mid_ev = e
            return e
        if first["mid"] != mid and ("cmid", id(first), mid) not in self.seen:
            self.seen.add(("cmid", id(first), mid))
            self.h.cmid_clashes.append((first, e))
        return first

    # -- deliveries whose content is not an acked message's ---------------------------------
    def deliver_slow(self, e: Event, sig: Sig, mid: str, first_copy: bool) -> Known | None:
        """A copy that matches no ack (unacked sends, phantoms, corruption, clashes, events):
        check it against its send and its mid. Returns the entry its copy counts with (as in
        ``known``), None when it is not a send's copy."""
        conv, seq, frm, cmid, digest = sig
        if e.get("kind") == "event":
            self.event_message(e, conv, seq, mid, frm, cmid)
            return None
        rec = self.record_of(frm, cmid)
        if rec.deliv_ev is None:
            rec.deliv_ev = e
        sent = rec.send_ev
        sealed_bad = e.get("undecryptable") is True
        if sealed_bad:  # e2e: the AEAD refused it; not compared as a digest
            self.h.undecryptable.append((sent, e))
        if sent is None:
            if first_copy:
                if rec.early is None:
                    rec.early = [e]
                else:
                    rec.early.append(e)
        elif sent["digest"] != digest and not sealed_bad:
            self.h.digest_mismatches.append((sent, e))
        canon = rec.mid_ev
        if (canon is None or canon["mid"] != mid or canon["seq"] != seq
                or canon["conv"] != conv):
            canon = self.name_mid(rec, e, mid)
            self.name_seq(e, conv, seq, mid, frm, cmid)
        same = canon is e or (canon["mid"] == mid and canon["conv"] == conv)
        ent = Known(sig, rec, self.members(conv) if same else (),
                    sent["at"] if sent is not None else None)
        if sent is not None and mid not in self.known:
            self.known[mid] = ent
        return ent

    def settle_early(self, rec: SendRecord, sent: Event) -> None:
        """The send of copies journaled before it (another host's clock): check them now."""
        h = self.h
        early: list[Event] = rec.early
        rec.early = None
        h.digest_mismatches.extend((sent, d) for d in early if d["digest"] != sent["digest"]
                                   and d.get("undecryptable") is not True)
        canon_mid = rec.mid_ev["mid"]
        for d in early:
            if (h.copy(d["user"], d["device"], d["mid"]) is d and d["mid"] == canon_mid
                    and d["user"] in self.members(d["conv"])):
                log = h.devices[d["user"]][d["device"]]
                samples = h.away_s if log.was_away(d, sent["at"]) else h.push_s
                samples.append(d["at"] - sent["at"])  # negative: counts as 0 in percentiles

    def event_message(self, e: Event, conv: str, seq: int, mid: str, frm: str,
                      cmid: str) -> None:
        """A membership change (``kind`` event): its place in the group and its op."""
        file_event(self.h, e, conv, seq, mid, frm, cmid)
        self.name_seq(e, conv, seq, mid, frm, cmid)


def file_event(h: History, e: Event, conv: str, seq: int, mid: str, frm: str,
               cmid: str) -> None:
    """File a membership event in ``h``: the first copy of each (conv, seq) in
    ``group_events``, of each mid of an op's (from, cmid) in ``event_mids``."""
    per_conv = h.group_events.get(conv)
    if per_conv is None:
        per_conv = h.group_events[conv] = {}
    if seq not in per_conv:
        per_conv[seq] = e
    mids = h.event_mids.setdefault((frm, cmid), {})
    if mid not in mids:
        mids[mid] = e


def finish(h: History, first_at: float | None) -> None:
    """Times relative to t0 (the load start, else the first event)."""
    load = h.phases.get("load", {}).get("start_s")
    h.t0 = load if load is not None else (first_at if first_at is not None else 0.0)
    for w in h.faults:
        for key in ("at_s", "until_s"):
            if w[key] is not None:
                w[key] = h.rel(w[key])
    h.faults.sort(key=lambda w: (w["at_s"] is None, w["at_s"] or 0.0))
    for span in h.phases.values():
        for key, value in span.items():
            if value is not None:
                span[key] = h.rel(value)


def file_fault(h: History, open_faults: dict[Any, dict[str, Any]], e: Event) -> None:
    """Pair a fault's start and stop (by its ``fault`` id) into one window."""
    fid, action = e["fault"], e["action"]
    window: dict[str, Any] | None
    if action == "start":
        window = {"fault": fid, "kind": e["kind"], "target": e["target"], "at_s": e["at"],
                  "until_s": None, "detail": e.get("detail")}
        if e.get("error"):
            window["error"] = e["error"]
        open_faults[fid] = window
        h.faults.append(window)
    elif action == "stop":
        window = open_faults.pop(fid, None)
        if window is None:  # a stop without its start (a torn journal): keep what we know
            h.faults.append({"fault": fid, "kind": e["kind"], "target": e["target"],
                             "at_s": None, "until_s": e["at"], "detail": e.get("detail")})
        else:
            window["until_s"] = e["at"]
