"""The engine's outgoing half: messages through the state table of ``states.py``.

Every attempt of a message keeps its cmid and its local ``ts`` (stamped when the
user hit send, as a phone does). Sends are pipelined: each goes on the wire at
once when the device is online and caught up, without waiting for earlier
acks. One ``sends`` timer is kept at the earliest deadline of all pending
messages (an ack timeout, a retry time, a give-up time), re-armed lazily on the
hot paths (a timer that fires early finds nothing due and re-arms itself).

Each message also keeps ``seen_seq``, what the display showed newest in its
conversation when the user hit send (``display.py``), recorded on every attempt.

Outcomes: ``send_ok`` on ``send_ack``; ``send_fail`` when the server refused
it (``forbidden``, ``bad_frame``) or it never went on the wire; ``send_info``
when it went on the wire and the budget ran out (``max_attempts`` attempts or
``give_up_after_s`` since the user hit send) without an answer.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from imload.client.core import STOPPED, T_SENDS, EngineCore
from imload.client.outbox import Outbox, OutMsg
from imload.client.states import MsgEvent, MsgState
from imload.journal import body_digest

if TYPE_CHECKING:
    from imload.client.inbox import Inbox

# errors a retry cannot cure; ``unsupported`` is an adapter's answer to an intent its
# protocol cannot carry (docs/drivers.md)
DEFINITE_ERRORS = frozenset({"forbidden", "bad_frame", "unsupported"})
# the states and events of the hot paths, as plain names (an Enum member lookup is slow)
_NEW, _SENDING = MsgState.NEW, MsgState.SENDING
_TRANSMIT, _ACK = MsgEvent.TRANSMIT, MsgEvent.ACK


class Sender(EngineCore):
    inbox: Inbox  # set by DeviceEngine
    def _init_sends(self) -> None:
        self._send_rids: dict[int, str] = {}  # rid of an attempt on this connection -> cmid
        self._out = Outbox(f"{self.device[:24]}.{self._rng.getrandbits(32):08x}.")

    @property
    def pending_sends(self) -> int:
        """Messages not yet acked, failed or given up."""
        return len(self._out)

    def send_state(self, cmid: str) -> MsgState | None:
        """Where message ``cmid`` is (None for a cmid this engine never made)."""
        return self._out.state_of(cmid)

    def send_message(self, conv: str, body: str, now: float) -> str:
        """The user hits send: returns the cmid that every attempt will carry."""
        m = self._out.create(conv, body, body_digest(body), now, self.stamp_ms(now),
                             self.inbox.display.seen_seq(conv))
        if self.sealer is not None:  # sealed once: every attempt sends the same envelope
            m.body = self.sealer.seal(conv, m.cmid, body)
        if self._conn is STOPPED:
            self._out.move(m, MsgEvent.STOP)
            self._rec("send_fail", now, cmid=m.cmid, conv=conv, reason="device stopped")
            return m.cmid
        if self._can_send():
            self._transmit(m, now)
        self._rearm_lazily(now, self._due(m))
        return m.cmid

    def _on_send_ack(self, f: dict[str, Any], now: float) -> None:
        m = self._out.get(f.get("cmid"))
        if m is None or m.state is _NEW:
            self.ignored += 1  # a late ack of a message already settled
            return
        self._out.move(m, _ACK)
        self._send_rids.pop(m.rid or -1, None)
        self._record({"ev": "send_ok", "at": now, "user": self.user, "device": self.device,
                      "session": self.session, "cmid": m.cmid, "conv": m.conv,
                      "mid": f.get("mid"), "seq": f.get("seq"), "dup": f.get("dup") is True})
        self._metric("send-ack", now - (m.first_sent or m.created))
        self._rearm_lazily(now)

    def _on_send_error(self, rid: int, code: object, why: str, retry_after: float,
                       now: float) -> bool:
        """An ``error`` answering an attempt of a message; False if it answers another request."""
        m = self._out.get(self._send_rids.get(rid))
        if m is None or m.state not in (MsgState.SENDING, MsgState.WAITING):
            return False
        if code in DEFINITE_ERRORS:
            self._out.move(m, MsgEvent.REFUSED)
            self._send_rids.pop(rid, None)
            self._rec("send_fail", now, cmid=m.cmid, conv=m.conv, reason=why)
            self._metric("send-ack", now - (m.first_sent or m.created), why)
        elif code != "overloaded" and m.state is MsgState.SENDING and m.rid == rid:
            # internal (and codes newer than v1): retry with jitter; rate_limited: when told
            delay = (retry_after if code == "rate_limited" else
                     self.config.retry_delay(m.attempts, self._rng))
            self._attempt_lost(m, now, MsgEvent.RETRYABLE, now + delay, why)
        self._rearm_sends(now)
        return True

    def _budget_left(self, m: OutMsg, now: float) -> bool:
        return (m.attempts < self.config.max_attempts
                and now < m.created + self.config.give_up_after_s)

    def _transmit(self, m: OutMsg, now: float) -> None:
        self._out.move(m, _TRANSMIT)
        if m.rid is not None:
            self._send_rids.pop(m.rid, None)
        m.attempts += 1
        m.rid = self._next_rid()
        m.retry_at = None
        m.ack_due = now + self.config.ack_timeout_s
        if m.first_sent is None:
            m.first_sent = now
        self._send_rids[m.rid] = m.cmid
        self._record({"ev": "send", "at": now, "user": self.user, "device": self.device,
                      "session": self.session, "cmid": m.cmid, "conv": m.conv,
                      "digest": m.digest, "attempt": m.attempts, "ts": m.ts,
                      "seen_seq": m.seen_seq})
        self._send({"t": "send", "rid": m.rid, "cmid": m.cmid, "conv": m.conv,
                    "body": m.body, "ts": m.ts})

    def _attempt_lost(self, m: OutMsg, now: float, ev: MsgEvent, retry_at: float | None,
                      why: str) -> None:
        """The current attempt will get no ack: wait for a retry, or give up."""
        self._out.move(m, ev)
        m.ack_due = math.inf
        m.retry_at = retry_at
        if not self._budget_left(m, now):
            self._give_up(m, now, f"{why} after {m.attempts} attempts")

    def _give_up(self, m: OutMsg, now: float, reason: str) -> None:
        if self._out.move(m, MsgEvent.GIVE_UP) is MsgState.UNKNOWN:
            self._rec("send_info", now, cmid=m.cmid, conv=m.conv, reason=reason)
        else:
            self._rec("send_fail", now, cmid=m.cmid, conv=m.conv, reason=reason)
        if m.rid is not None:
            self._send_rids.pop(m.rid, None)
        self._metric("send-ack", now - (m.first_sent or m.created), reason)

    def _flush_sends(self, now: float) -> None:
        """After the catch-up sync: send what waits, oldest first."""
        for m in self._out.pending():
            if m.state is MsgState.NEW or (m.state is MsgState.WAITING and (
                    m.retry_at is None or m.retry_at <= now)):
                if now < m.created + self.config.give_up_after_s:
                    self._transmit(m, now)
        self._rearm_sends(now)

    def _on_sends_timer(self, now: float) -> None:
        limit = self.config.give_up_after_s
        timed_out = 0
        for m in self._out.pending():
            if m.state is MsgState.SENDING:
                if now < m.ack_due:
                    continue
                timed_out += 1
                if self._budget_left(m, now):
                    self._out.move(m, MsgEvent.TIMEOUT)
                    self._transmit(m, now)
                else:
                    self._give_up(m, now, f"no send_ack after {m.attempts} attempts")
            elif now >= m.created + limit:
                self._give_up(m, now, f"not acked within {limit:g} s after {m.attempts} "
                                      "attempts" if m.attempts else
                                      f"never sent: offline for {limit:g} s")
            elif (m.state is MsgState.WAITING and m.retry_at is not None
                  and now >= m.retry_at and self._can_send()):
                self._transmit(m, now)
        self._rearm_sends(now)
        self._unanswered_request(now, timed_out)

    def _due(self, m: OutMsg) -> float:
        if m.state is _SENDING:
            return m.ack_due
        give_up = m.created + self.config.give_up_after_s
        if m.retry_at is not None and self._can_send():
            return min(give_up, m.retry_at)
        return give_up

    def _rearm_lazily(self, now: float, due: float | None = None) -> None:
        """The hot paths (a new message due at ``due``, an ack): a ``sends`` timer set no
        later than what is due stays as it is; firing early, it only re-arms itself."""
        if not self._out:
            self._cancel(T_SENDS)
            return
        current = self._timers.get(T_SENDS)
        if current is not None and (due is None or current <= due):
            return
        self._rearm_sends(now)

    def _rearm_sends(self, now: float) -> None:
        due = min((self._due(m) for m in self._out), default=math.inf)
        if due == math.inf:
            self._cancel(T_SENDS)
        elif self._timers.get(T_SENDS) != due:
            self._set_timer(T_SENDS, due)
