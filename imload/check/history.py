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
- ``sends[user][cmid]``: one record (a list, indexed by the slot constants)
  per logical send, whoever mentions it first: the sender's events or a
  delivery naming ``(from, cmid)``. Membership ``event`` messages are not
  sends: they are filed in ``group_events`` and ``event_mids`` (see ``ops``);
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
member device's first copy counts towards the send's ``COPIES`` (and
``DONE_AT``) and gives an e2e sample. Copies that match no ack (unacked sends,
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
from imload.check.index import (
    ATTEMPTS,
    COPIES,
    DONE_AT,
    EARLY,
    LAST_EV,
    MID_EV,
    OK,
    OK_EV,
    OUTCOME,
    PENDING,
    SEND_EV,
    Event,
    History,
    new_record,
)

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
    """One walk: the loop over every event."""

    def run(self, events: Sequence[Event], ordered: bool = True) -> bool:  # noqa: C901
        """Walk ``events``; when ``ordered`` and one is earlier than the one before it, stop
        there and return False (the caller sorts them and walks again). The hot loop, inlined.
        """
        h = self.h
        sends, other = h.sends, h.other
        by_mid, by_seq, members_of = h.by_mid, h.by_seq, h.members
        session_last, acked_append, known = self.session_last, h.acked.append, self.known
        acked_conv_append, acked_at_append = h.acked_conv.append, h.acked_at.append
        logs, new_log = self.logs, self.new_log
        ack_sample = h.ack_s.append
        push_sample, away_sample = h.push_s.append, h.away_s.append
        slow = self.deliver_slow
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
                    if ent is None or ent[0] != sig:
                        ent = slow(e, sig, mid, True)
                    if ent is not None and ud[0] in ent[2]:
                        rec = ent[1]
                        rec[COPIES] += 1
                        rec[DONE_AT] = at
                        sent_at = ent[3]
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
                user, cmid = e["user"], e["cmid"]
                per_sender = sends.get(user)
                if per_sender is None:
                    per_sender = sends[user] = {}
                rec = per_sender.get(cmid)
                if rec is None:
                    rec = per_sender[cmid] = [1, PENDING, e, None, None, None, None, None, e,
                                              0, None]
                else:
                    rec[ATTEMPTS] += 1
                    rec[LAST_EV] = e
                    if rec[SEND_EV] is None:
                        rec[SEND_EV] = e
                        if rec[EARLY] is not None:
                            self.settle_early(rec, e)
            elif k == "send_ok":
                user, cmid, conv, mid, seq, session = _OK(e)
                per_sender = sends.get(user)
                if per_sender is None:
                    per_sender = sends[user] = {}
                rec = per_sender.get(cmid)
                if rec is None:
                    rec = per_sender[cmid] = new_record()
                rec[OUTCOME] = OK
                sent = rec[SEND_EV]
                if (sent is None or rec[OK_EV] is not None or rec[MID_EV] is not None
                        or mid in by_mid):
                    self.acked_slow(rec, e)
                    continue
                # the common case: the first ack of a sent message, naming a new mid
                rec[OK_EV] = rec[MID_EV] = e
                acked_append(rec)
                acked_conv_append(conv)
                acked_at_append(at)
                first_at = sent["at"]
                ack_sample(at - first_at)
                named = by_seq.get(conv)
                if named is None:
                    by_seq[conv] = {seq: e}
                    by_mid[mid] = e
                elif seq in named:
                    self.name_seq(e, conv, seq, mid, user, cmid)  # a clash, maybe
                else:
                    named[seq] = by_mid[mid] = e
                mem = members_of.get(conv)
                if mem is None:
                    mem = self.members(conv)
                known[mid] = [(conv, seq, user, cmid, sent["digest"]), rec, mem, first_at]
                seen = sent.get("seen_seq")
                if seen is None:
                    h.blind.append(rec)
                elif not seq > seen:
                    h.seen_after.append(rec)
                if sent["session"] == session and rec[LAST_EV]["session"] == session:
                    skey = (user, e["device"], session, conv)
                    prev_ack = session_last.get(skey)
                    if prev_ack is not None and (prev_ack[0] > seq or prev_ack[1] > first_at):
                        h.fifo_suspects.add(skey)
                    session_last[skey] = (seq, first_at)
            elif k == "send_fail" or k == "send_info":
                self.ended(k, e)
            elif k in _OWN:
                self.own(k, e)
            else:
                found = other.get(k)
                if found is None:
                    other[k] = [e]
                else:
                    found.append(e)
                if k == "connected":
                    self.own(k, e)
        h.wire_duplicates = wire_dups
        return True
