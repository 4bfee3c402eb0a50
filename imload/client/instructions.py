"""The offline instruction queue: ops and read markers (the seed's section 8.6).

What the user does besides sending messages (add a contact, pin a chat, create
a group, add or remove a member, read a conversation) is an instruction. It is
queued whether or not the device is online and sent once the device is online
and caught up, strictly in the order made, one at a time: the next goes on the
wire when the previous one is answered (or given up), so a retried op can never
overtake a later one (the server applies ops in the order one device sent them).
While offline they wait, and after the reconnect and the catch-up sync (and the
messages that waited) they go out in order, each op with its ``opid`` on every
attempt, so the server applies it once however often it is retried.

Journal (Jepsen-style, like sends): every attempt of an op is an ``op`` invoke
(``attempt`` counts them; ``queued`` says it was made while it could not go out at
once, ``made_at`` when the user made it); it ends ``op_ok`` (``dup`` for a repeat),
``op_fail`` (refused: ``forbidden``/``bad_frame``, or never sent) or ``op_info``
(on the wire, then the budget ran out: unknown). A read marker is a ``read`` per
attempt and a ``read_ok`` with the marker the server stored; a read given up is
simply dropped (a later read covers it: markers only grow). Reads of one
conversation that wait together are merged into one, at the higher seq.

Also here: ``reads`` after login (the user's markers, journal ``marks``), ``state``
on request (journal ``state``), and the ``read_sync`` / ``receipt`` pushes.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from imload.client.core import T_INSTR, Conn, as_int
from imload.client.sending import DEFINITE_ERRORS, Sender

if TYPE_CHECKING:
    from imload.client.inbox import Inbox


@dataclass(slots=True)
class Instr:
    kind: str                    # "op" or "read"
    made: float                  # monotonic seconds when the user made it
    queued: bool                 # made while it could not go on the wire at once
    opid: str = ""
    op: str = ""
    args: dict[str, Any] = field(default_factory=dict)
    conv: str = ""
    upto: int = 0
    attempts: int = 0
    rid: int | None = None
    on_wire: bool = False        # the current attempt waits for its answer
    due: float = math.inf        # when that attempt times out
    retry_at: float | None = None
    first_sent: float | None = None


class Instructions(Sender):
    inbox: Inbox  # set by DeviceEngine

    def _init_instructions(self) -> None:
        self._instr: deque[Instr] = deque()
        self._instr_n = 0
        self._opid_prefix = f"{self.device[:24]}.{self._rng.getrandbits(32):08x}.o"
        self.marks: dict[str, int] = {}   # the user's read markers as this device knows them
        self.op_outcomes: dict[str, str] = {}  # opid -> op_ok | op_fail | op_info
        self._reads_rid: int | None = None
        self._state_rid: int | None = None

    @property
    def awaiting_state(self) -> bool:
        """A ``state`` request is on the wire, unanswered."""
        return self._state_rid is not None

    @property
    def pending_instructions(self) -> int:
        """Ops and reads not yet answered or given up."""
        return len(self._instr)

    # -------------------------------------------------------------- inputs
    def do_op(self, kind: str, args: dict[str, Any], now: float) -> str:
        """The user does an op (``group_create``, ``pin``, ...): returns its opid."""
        self._instr_n += 1
        opid = f"{self._opid_prefix}{self._instr_n}"
        item = Instr("op", now, queued=not self._can_send() or bool(self._instr), opid=opid,
                     op=kind, args=dict(args))
        if self._conn is Conn.STOPPED:
            self._op_end(item, now, "op_fail", "device stopped")
            return opid
        self._instr.append(item)
        self._pump_instructions(now)
        return opid

    def mark_read(self, conv: str, now: float, upto: int | None = None) -> int | None:
        """The user reads ``conv`` up to ``upto`` (default: the newest seq held).

        Returns the marker queued, or None when it would not move the marker."""
        if upto is None:
            upto = self.inbox.display.top.get(conv, 0)
        if self._conn is Conn.STOPPED or upto <= self.marks.get(conv, 0):
            return None
        for item in self._instr:
            if item.kind == "read" and item.conv == conv and not item.on_wire:
                if upto > item.upto:
                    item.upto = upto
                return upto
        self._instr.append(Instr("read", now, queued=not self._can_send() or bool(self._instr),
                                 conv=conv, upto=upto))
        self._pump_instructions(now)
        return upto

    def request_state(self, now: float) -> bool:
        """Ask for the user's stored state (journal ``state``); False when not online."""
        if self._conn is not Conn.ONLINE:
            return False
        self._state_rid = self._next_rid()
        self._send({"t": "state", "rid": self._state_rid})
        return True

    def _request_marks(self) -> None:
        self._reads_rid = self._next_rid()
        self._send({"t": "reads", "rid": self._reads_rid})

    # ------------------------------------------------------------ the queue
    def _pump_instructions(self, now: float) -> None:
        """Settle what is past its budget, send the head when it may go, re-arm the timer."""
        self._expire_instructions(now)
        if self._instr and self._can_send():
            head = self._instr[0]
            if not head.on_wire and (head.retry_at is None or head.retry_at <= now):
                self._transmit_instr(head, now)
        self._rearm_instr()

    def _expire_instructions(self, now: float) -> None:
        limit = self.config.give_up_after_s
        for item in [i for i in self._instr if not i.on_wire and now >= i.made + limit]:
            self._instr.remove(item)
            self._give_up_instr(item, now, f"not answered within {limit:g} s after "
                                f"{item.attempts} attempts" if item.attempts else
                                f"never sent: offline for {limit:g} s")

    def _transmit_instr(self, item: Instr, now: float) -> None:
        item.attempts += 1
        item.rid = self._next_rid()
        item.on_wire, item.retry_at = True, None
        item.due = now + self.config.ack_timeout_s
        if item.first_sent is None:
            item.first_sent = now
        if item.kind == "op":
            self._rec("op", now, session=self.session, opid=item.opid, kind=item.op,
                      args=item.args, attempt=item.attempts, queued=item.queued,
                      made_at=item.made)
            self._send({"t": "op", "rid": item.rid, "opid": item.opid, "kind": item.op,
                        "args": item.args})
        else:
            self._rec("read", now, session=self.session, conv=item.conv, upto=item.upto,
                      attempt=item.attempts, queued=item.queued)
            self._send({"t": "read", "rid": item.rid, "conv": item.conv, "upto": item.upto})

    def _rearm_instr(self) -> None:
        due = math.inf
        limit = self.config.give_up_after_s
        for item in self._instr:
            if item.on_wire:
                due = min(due, item.due)
            else:
                due = min(due, item.made + limit)
        if self._instr and self._can_send():
            head = self._instr[0]
            if not head.on_wire and head.retry_at is not None:
                due = min(due, head.retry_at)
        if due == math.inf:
            self._cancel(T_INSTR)
        elif self._timers.get(T_INSTR) != due:
            self._set_timer(T_INSTR, due)

    def _on_instr_timer(self, now: float) -> None:
        timed_out = 0
        if self._instr and self._instr[0].on_wire and now >= self._instr[0].due:
            head = self._instr[0]
            timed_out = 1
            head.on_wire = False
            if self._instr_budget_left(head, now):
                self._transmit_instr(head, now)  # again, on the same connection
            else:
                self._instr.popleft()
                self._give_up_instr(head, now, f"no answer after {head.attempts} attempts")
        self._pump_instructions(now)
        if timed_out:
            self._unanswered_request(now)

    def _instr_budget_left(self, item: Instr, now: float) -> bool:
        return (item.attempts < self.config.max_attempts
                and now < item.made + self.config.give_up_after_s)

    def _give_up_instr(self, item: Instr, now: float, reason: str) -> None:
        if item.kind == "op":
            self._op_end(item, now, "op_info" if item.attempts else "op_fail", reason)
        else:
            self._metric("read", now - (item.first_sent or item.made), reason)

    def _op_end(self, item: Instr, now: float, outcome: str, reason: str) -> None:
        self.op_outcomes[item.opid] = outcome
        self._rec(outcome, now, opid=item.opid, reason=reason)
        self._metric("op", now - (item.first_sent or item.made), reason)

    def _instructions_lost(self, now: float) -> None:
        """The connection ended: the attempt on the wire will get no answer."""
        if self._instr and self._instr[0].on_wire:
            head = self._instr[0]
            head.on_wire = False
            if not self._instr_budget_left(head, now):
                self._instr.popleft()
                self._give_up_instr(head, now, f"connection lost after {head.attempts} attempts")
        self._reads_rid = self._state_rid = None
        self._rearm_instr()

    def _stop_instructions(self, now: float) -> None:
        while self._instr:
            item = self._instr.popleft()
            if item.kind == "op":
                self._op_end(item, now, "op_info" if item.attempts else "op_fail",
                             "stopped in flight" if item.attempts
                             else "stopped before it was sent")

    # -------------------------------------------------------------- replies
    def _on_op_ok(self, f: dict[str, Any], now: float) -> None:
        head = self._instr[0] if self._instr else None
        if head is None or head.kind != "op" or f.get("opid") != head.opid or not head.attempts:
            self.ignored += 1  # a late answer of an op already settled
            return
        self._instr.popleft()
        self.op_outcomes[head.opid] = "op_ok"
        self._rec("op_ok", now, session=self.session, opid=head.opid, dup=f.get("dup") is True)
        self._metric("op", now - (head.first_sent or head.made))
        self._pump_instructions(now)

    def _on_read_ok(self, f: dict[str, Any], now: float) -> None:
        head = self._instr[0] if self._instr else None
        rid = as_int(f.get("rid"), -1)
        if head is None or head.kind != "read" or rid != head.rid:
            self.ignored += 1
            return
        self._instr.popleft()
        stored = as_int(f.get("upto"), head.upto)
        self.marks[head.conv] = max(self.marks.get(head.conv, 0), stored)
        self._rec("read_ok", now, session=self.session, conv=head.conv, upto=stored)
        self._metric("read", now - (head.first_sent or head.made))
        self._pump_instructions(now)

    def _on_instr_error(self, rid: int, code: object, why: str, retry_after_s: float,
                        now: float) -> bool:
        """An ``error`` answering the instruction on the wire; False if it answers another."""
        head = self._instr[0] if self._instr else None
        if head is None or not head.on_wire or head.rid != rid:
            return False
        head.on_wire = False
        if code in DEFINITE_ERRORS or not self._instr_budget_left(head, now):
            self._instr.popleft()
            if head.kind == "op":
                self._op_end(head, now, "op_fail" if code in DEFINITE_ERRORS else "op_info",
                             why)
            else:
                self._metric("read", now - (head.first_sent or head.made), why)
        else:  # internal, rate_limited, ...: again later, with the same opid
            head.retry_at = now + (retry_after_s if code == "rate_limited" else
                                   self.config.retry_delay(head.attempts, self._rng))
        self._pump_instructions(now)
        return True

    def _on_reads_ok(self, f: dict[str, Any], now: float) -> None:
        if as_int(f.get("rid"), -1) != self._reads_rid:
            self.ignored += 1
            return
        self._reads_rid = None
        marks = f.get("marks")
        if not isinstance(marks, dict):
            self.bad_frames += 1
            return
        clean = {c: v for c, v in marks.items() if isinstance(v, int) and not isinstance(v, bool)}
        for conv, upto in clean.items():
            self.marks[conv] = max(self.marks.get(conv, 0), upto)
        self._rec("marks", now, session=self.session, marks=clean, phase=self.phase)

    def _on_state_ok(self, f: dict[str, Any], now: float) -> None:
        if as_int(f.get("rid"), -1) != self._state_rid:
            self.ignored += 1
            return
        self._state_rid = None
        self._rec("state", now, session=self.session, contacts=f.get("contacts"),
                  pinned=f.get("pinned"), groups=f.get("groups"), phase=self.phase)

    def _on_read_sync(self, f: dict[str, Any], now: float) -> None:
        conv, upto = f.get("conv"), f.get("upto")
        if not isinstance(conv, str) or not isinstance(upto, int) or isinstance(upto, bool):
            self.bad_frames += 1
            return
        self.marks[conv] = max(self.marks.get(conv, 0), upto)
        self._rec("read_sync", now, session=self.session, conv=conv, upto=upto,
                  from_device=f.get("device"))

    def _on_receipt(self, f: dict[str, Any], now: float) -> None:
        conv, upto = f.get("conv"), f.get("upto")
        if not isinstance(conv, str) or not isinstance(upto, int) or isinstance(upto, bool):
            self.bad_frames += 1
            return
        self._rec("receipt", now, session=self.session, conv=conv, reader=f.get("user"),
                  upto=upto)
