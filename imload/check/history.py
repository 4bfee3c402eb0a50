"""One pass over a run's journal, building the index every check reads.

Theory of operation
-------------------
The journal is a history in the Jepsen sense: each logical send (one sender
user and one ``cmid``) is invoked by one or more ``send`` attempts and ends
``send_ok``, ``send_fail`` or ``send_info``; devices record what reached them
(``deliver``); faults, phases, reads and ops share the same clock.
``build_history`` walks the events once, in ``at`` order, and files them
(``index`` describes the result):

- ``devices[user][device]``: a ``DeviceLog`` per device that was declared
  (``device``), logged in (``connected``) or received anything, with its last
  ``audit`` events;
- ``sends[user][cmid]``: one ``SendRecord`` per logical send, whoever mentions
  it first: the sender's events or a delivery naming ``(from, cmid)``. Membership
  ``event`` messages are not sends: they are filed in ``group_events`` and
  ``event_mids`` (see ``ops``);
- ``by_seq[conv][seq]`` and ``by_mid[mid]``: the first event (ack or
  delivery) naming each (conv, seq) and each mid;
- ``other[kind]``: every event of the kinds the walk does not index itself
  (read, read_ok, read_sync, receipt, marks, op, op_ok, op_fail, op_info,
  state, connected, disconnected, connect_failed), in time order, for the
  check modules that read them (``reads``, ``ops``, ``latency``).

Most of a journal is deliveries, and most deliveries are a copy of an acked
message that matches its ack exactly. The ack files the message's content
(conv, seq, sender, cmid, digest) under its mid (``known``); a copy whose
content equals it skips every content check (they were made once, on the
ack) and costs a few dict operations: its first copy per (user, device, mid)
goes into the device's ``held`` (repeats are ``wire_duplicates``), and a
member device's first copy counts towards the send's ``copies`` (and
``done_at``) and gives an e2e sample. Copies that match no ack (unacked sends,
phantoms, corruption, clashes, membership events) take the slow path. A
connection's pushes of a conversation are compared with the previous one
(``backwards``).

Other facts are only cheap while walking: which mid a (conv, seq) named first,
which acks of one device session came back out of order (``fifo_suspects``).
The walk keeps them as pairs of events (``seq_clashes``, ``mid_clashes``,
``cmid_clashes``, ``digest_mismatches``, ``backwards``) and as the latency
samples (``ack_s``; ``push_s`` and ``away_s``, the e2e ones split by whether the device's
connection was up when the message was sent).

Time and memory are linear in the number of events; the index holds
references to the journal's own event dicts, never copies.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from imload.check.filing import Filing, finish
from imload.check.index import OK, Event, History, Known, SendRecord

__all__ = ["build_history"]  # the records it files are imload.check.index's

_AT = itemgetter("at")
_UD = itemgetter("user", "device")
_SIG = itemgetter("conv", "seq", "from", "cmid", "digest")  # a copy's content
_OK = itemgetter("user", "cmid", "conv", "mid", "seq", "session")
_OWN = ("device", "audit", "fault", "phase")  # kinds filed by ``own`` alone


class _Start:
    """Stands for the ``at`` before the first event's: every ``at`` may follow it."""

    def __le__(self, other: object) -> bool:
        return True


def build_history(events: Sequence[Event]) -> History:
    """Index ``events`` (journal event dicts, ideally sorted by ``at``) in one pass.

    The walk checks the order as it goes (each event is at hand then, where a pass
    of its own would fetch every event once more); events out of order are sorted
    by ``at`` and walked again from the start. It trusts each event's fields: a
    malformed one raises (KeyError, TypeError, ...); ``check`` then screens them."""
    h = History()
    if not _Walk(h).run(events):
        events = sorted(events, key=_AT)
        h = History()
        _Walk(h).run(events, ordered=False)
    h.events = len(events)
    h.t_end = events[-1]["at"] if events else 0.0
    finish(h, events[0]["at"] if events else None)
    return h


class _Walk(Filing):
    """One walk: the loop over every event (``run``), with a send's two steps (``sent``,
    ``acked``) beside it; the slow paths are ``Filing``'s."""

    def run(self, events: Sequence[Event], ordered: bool = True) -> bool:
        """Walk ``events``; when ``ordered`` and one is earlier than the one before it, stop
        there and return False (the caller sorts them and walks again). The hot loop: a
        delivery, most of a journal, is filed inline.
        """
        h = self.h
        other, known, logs, new_log = h.other, self.known, self.logs, self.new_log
        sent, acked, ended, own = self.sent, self.acked, self.ended, self.own
        slow = self.deliver_slow
        push_sample, away_sample = h.push_s.append, h.away_s.append
        wire_dups = 0
        last_at: Any = _Start()
        for e in events:
            at = e["at"]
            if ordered and not last_at <= at:
                return False
            last_at = at
            k = e["ev"]
            if k == "deliver":
                ud = _UD(e)
                mid = e["mid"]
                log = logs.get(ud)
                if log is None:
                    log = new_log(ud, e)
                first = log.held.setdefault(mid, e)
                sig = _SIG(e)
                if first is e:  # the device's first copy of this mid
                    ent = known.get(mid)
                    if ent is None or ent.sig != sig:
                        ent = slow(e, sig, mid, True)
                    if ent is not None and ud[0] in ent.members:
                        rec = ent.rec
                        rec.copies += 1
                        rec.done_at = at
                        sent_at = ent.sent_at
                        if sent_at is not None:
                            login = log.connected.get(e["session"])
                            if login is not None and login > sent_at:  # DeviceLog.was_away
                                away_sample(at - sent_at)
                            else:
                                push_sample(at - sent_at)
                else:
                    wire_dups += 1
                    if _SIG(first) != sig:  # another content under a mid it holds
                        slow(e, sig, mid, False)
                if e["via"] == "push":
                    last = log.last_push
                    conv = sig[0]
                    prev = last.get(conv)
                    last[conv] = e
                    if (prev is not None and sig[1] < prev["seq"]
                            and prev["session"] == e["session"]):
                        h.backwards.append((prev, e))
            elif k == "send":
                sent(e)
            elif k == "send_ok":
                acked(e, at)
            elif k == "send_fail" or k == "send_info":
                ended(k, e)
            elif k in _OWN:
                own(k, e)
            else:
                found = other.get(k)
                if found is None:
                    other[k] = [e]
                else:
                    found.append(e)
                if k == "connected":
                    own(k, e)
        h.wire_duplicates = wire_dups
        return True

    def sent(self, e: Event) -> None:
        """A ``send`` event: a logical send's first attempt, or one more."""
        user, cmid = e["user"], e["cmid"]
        per_sender = self.h.sends.get(user)
        if per_sender is None:
            per_sender = self.h.sends[user] = {}
        rec = per_sender.get(cmid)
        if rec is None:
            per_sender[cmid] = SendRecord(attempts=1, send_ev=e, last_ev=e)
            return
        rec.attempts += 1
        rec.last_ev = e
        if rec.send_ev is None:
            rec.send_ev = e
            if rec.early is not None:
                self.settle_early(rec, e)

    def acked(self, e: Event, at: float) -> None:
        """A ``send_ok`` event. The common case inline: the first ack of a sent message,
        naming a new mid; any other goes to ``acked_slow``."""
        h = self.h
        user, cmid, conv, mid, seq, session = _OK(e)
        per_sender = h.sends.get(user)
        if per_sender is None:
            per_sender = h.sends[user] = {}
        rec = per_sender.get(cmid)
        if rec is None:
            rec = per_sender[cmid] = SendRecord()
        rec.outcome = OK
        sent = rec.send_ev
        if sent is None or rec.ok_ev is not None or rec.mid_ev is not None or mid in h.by_mid:
            self.acked_slow(rec, e)
            return
        rec.ok_ev = rec.mid_ev = e
        h.acked.append(rec)
        h.acked_conv.append(conv)
        h.acked_at.append(at)
        first_at = sent["at"]
        h.ack_s.append(at - first_at)
        named = h.by_seq.get(conv)
        if named is None:
            h.by_seq[conv] = {seq: e}
            h.by_mid[mid] = e
        elif seq in named:
            self.name_seq(e, conv, seq, mid, user, cmid)  # a clash, maybe
        else:
            named[seq] = h.by_mid[mid] = e
        mem = h.members.get(conv)
        if mem is None:
            mem = self.members(conv)
        self.known[mid] = Known((conv, seq, user, cmid, sent["digest"]), rec, mem, first_at)
        seen = sent.get("seen_seq")
        if seen is None:
            h.blind.append(rec)
        elif not seq > seen:
            h.seen_after.append(rec)
        if sent["session"] == session and rec.last_ev["session"] == session:
            skey = (user, e["device"], session, conv)
            prev_ack = self.session_last.get(skey)
            if prev_ack is not None and (prev_ack[0] > seq or prev_ack[1] > first_at):
                h.fifo_suspects.add(skey)
            self.session_last[skey] = (seq, first_at)
