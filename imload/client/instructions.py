"""The offline instruction queue: ops and read markers (the seed's section 8.6).

What the user does besides sending messages (add a contact, pin a chat, create
a group, add or remove a member, read a conversation) is an instruction. It is
queued whether or not the device is online and sent once the device is online
and caught up, in the order made, each op with its ``opid`` on every attempt, so
the server applies it once however often it is retried. While offline they wait,
and after the reconnect and the catch-up sync (and the messages that waited) they
go out in order. Two ways (``EngineConfig.pipeline_ops``):

- one at a time (the default): the next goes on the wire when the previous one is
  answered (or given up), so a retried op can never overtake a later one;
- pipelined, as real SDKs flush an offline queue: every instruction goes on the
  wire at once, in queue order, without waiting for the answer of the one before;
  the server applies one connection's ops in the order sent (promise 8). Answers
  are matched by opid (``op_ok``) or rid (``read_ok``, ``error``), in any order.
  An instruction that waits for its retry time (after ``internal``) holds back
  those queued behind it; one that timed out is sent again on the same connection
  (so it may land after later ones: it was not answered, its place is unknown). A
  dropped connection leaves the unanswered ones in the queue, in their order, and
  the next session sends them again, pipelined, after its catch-up sync.

Journal (Jepsen-style, like sends): every attempt of an op is an ``op`` invoke
(``attempt`` counts them; ``queued`` says it was made while it could not go out at
once, ``made_at`` when the user made it); it ends ``op_ok`` (``dup`` for a repeat),
``op_fail`` (refused: ``forbidden``/``bad_frame``, or never sent) or ``op_info``
(on the wire, then the budget ran out: unknown). A read marker is a ``read`` per
attempt and a ``read_ok`` with the marker the server stored; a read given up is
simply dropped (a later read covers it: markers only grow). Reads of one
conversation that wait together are merged into one, at the higher seq.

Also here: ``reads`` after login (the user's markers, journal ``marks``), ``state``
on request (journal ``state``), each asked again when refused (``rate_limited``: after
its ``retry_after_ms``; ``internal``: after the retry delay), and the ``read_sync`` /
``receipt`` pushes (with the server's ``server_ts`` when the push carries one).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from imload.client.core import T_INSTR, T_READS, T_STATE, Conn, as_int
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
        item = Instr("op", now, queued=self._must_wait(), opid=opid, op=kind,
                     args=dict(args))
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
        self._instr.append(Instr("read", now, queued=self._must_wait(), conv=conv, upto=upto))
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
    def _must_wait(self) -> bool:
        """A new instruction would not go on the wire at once: offline, or behind others."""
        if not self._can_send():
            return True
        if self.config.pipeline_ops:
            return any(not i.on_wire for i in self._instr)
        return bool(self._instr)

    def _next_to_send(self) -> Instr | None:
        """The instruction that goes on the wire next: the head when it is not on the
        wire (one at a time), or the first one not on the wire (pipelined)."""
        if self.config.pipeline_ops:
            return next((i for i in self._instr if not i.on_wire), None)
        if self._instr and not self._instr[0].on_wire:
            return self._instr[0]
        return None

    def _pump_instructions(self, now: float) -> None:
        """Settle what is past its budget, send what may go, re-arm the timer.

        One at a time: the head, once the one before it is answered. Pipelined: every
        one not on the wire, in queue order, up to the first that waits for its retry
        time (nothing overtakes a retry that waits)."""
        self._expire_instructions(now)
        if self._instr and self._can_send():
            if self.config.pipeline_ops:
                for item in self._instr:
                    if item.on_wire:
                        continue
                    if item.retry_at is not None and item.retry_at > now:
                        break
                    self._transmit_instr(item, now)
            else:
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
            nxt = self._next_to_send()
            if nxt is not None and nxt.retry_at is not None:
                due = min(due, nxt.retry_at)
        if due == math.inf:
            self._cancel(T_INSTR)
        elif self._timers.get(T_INSTR) != due:
            self._set_timer(T_INSTR, due)

    def _on_instr_timer(self, now: float) -> None:
        late = [i for i in self._instr if i.on_wire and now >= i.due]  # in queue order
        for item in late:
            item.on_wire = False
            if self._instr_budget_left(item, now):
                self._transmit_instr(item, now)  # again, on the same connection
            else:
                self._instr.remove(item)
                self._give_up_instr(item, now, f"no answer after {item.attempts} attempts")
        self._pump_instructions(now)
        if late:
            self._unanswered_request(now, len(late))

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
        """The connection ended: the attempts on the wire will get no answer. Those with
        budget left stay where they are in the queue, for the next session."""
        for item in [i for i in self._instr if i.on_wire]:
            item.on_wire = False
            if not self._instr_budget_left(item, now):
                self._instr.remove(item)
                self._give_up_instr(item, now, f"connection lost after {item.attempts} attempts")
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
        opid = f.get("opid")
        item = next((i for i in self._instr
                     if i.kind == "op" and i.opid == opid and i.attempts), None)
        if item is None:
            self.ignored += 1  # a late answer of an op already settled
            return
        self._instr.remove(item)
        self.op_outcomes[item.opid] = "op_ok"
        self._rec("op_ok", now, session=self.session, opid=item.opid, dup=f.get("dup") is True)
        self._metric("op", now - (item.first_sent or item.made))
        self._pump_instructions(now)

    def _on_read_ok(self, f: dict[str, Any], now: float) -> None:
        rid = as_int(f.get("rid"), -1)
        item = next((i for i in self._instr if i.kind == "read" and i.rid == rid), None)
        if item is None:
            self.ignored += 1
            return
        self._instr.remove(item)
        stored = as_int(f.get("upto"), item.upto)
        self.marks[item.conv] = max(self.marks.get(item.conv, 0), stored)
        self._rec("read_ok", now, session=self.session, conv=item.conv, upto=stored)
        self._metric("read", now - (item.first_sent or item.made))
        self._pump_instructions(now)

    def _on_instr_error(self, rid: int, code: object, why: str, retry_after_s: float,
                        now: float) -> bool:
        """An ``error`` answering an instruction on the wire; False if it answers another."""
        item = next((i for i in self._instr if i.on_wire and i.rid == rid), None)
        if item is None:
            return False
        item.on_wire = False
        if code in DEFINITE_ERRORS or not self._instr_budget_left(item, now):
            self._instr.remove(item)
            if item.kind == "op":
                self._op_end(item, now, "op_fail" if code in DEFINITE_ERRORS else "op_info",
                             why)
            else:
                self._metric("read", now - (item.first_sent or item.made), why)
        else:  # internal, rate_limited, ...: again later, with the same opid
            item.retry_at = now + (retry_after_s if code == "rate_limited" else
                                   self.config.retry_delay(item.attempts, self._rng))
        self._pump_instructions(now)
        return True

    def _on_query_error(self, rid: int, code: object, retry_after_s: float, now: float
                        ) -> bool:
        """An ``error`` answering the ``reads`` or ``state`` request on the wire; False if it
        answers another. Refused for good (``DEFINITE_ERRORS``): dropped; else asked again
        after ``retry_after_ms`` (``rate_limited``) or the retry delay (``internal``)."""
        if rid not in (self._reads_rid, self._state_rid):
            return False
        name = T_READS if rid == self._reads_rid else T_STATE
        if code in DEFINITE_ERRORS:
            if name == T_READS:
                self._reads_rid = None
            else:
                self._state_rid = None
        else:
            self._set_timer(name, now + (retry_after_s if code == "rate_limited" else
                                         self.config.retry_delay(1, self._rng)))
        return True

    def _on_query_timer(self, name: str, now: float) -> None:
        """Ask again for the markers or the state a refused request did not bring."""
        if name == T_READS and self._reads_rid is not None and self._conn is Conn.ONLINE:
            self._request_marks()
        elif name == T_STATE and self._state_rid is not None:
            self.request_state(now)

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
                  from_device=f.get("device"), **_stamp(f))

    def _on_joined(self, f: dict[str, Any], now: float) -> None:
        """The adapter says this device now receives a group's messages (a subscription
        acknowledged): journal ``joined``, which the checker reads when the target's groups
        are subscriptions."""
        conv = f.get("conv")
        if not isinstance(conv, str):
            self.bad_frames += 1
            return
        self._rec("joined", now, session=self.session, conv=conv)

    def _on_receipt(self, f: dict[str, Any], now: float) -> None:
        conv, upto = f.get("conv"), f.get("upto")
        if not isinstance(conv, str) or not isinstance(upto, int) or isinstance(upto, bool):
            self.bad_frames += 1
            return
        self._rec("receipt", now, session=self.session, conv=conv, reader=f.get("user"),
                  upto=upto, **_stamp(f))


def _stamp(f: dict[str, Any]) -> dict[str, int]:
    """``{"server_ts": ...}`` when a push carries the server's clock (protocol v1 stamps
    ``read_sync`` and ``receipt``), else nothing: its age on arrival is then unknown."""
    ts = f.get("server_ts")
    return {"server_ts": ts} if isinstance(ts, int) and not isinstance(ts, bool) else {}
