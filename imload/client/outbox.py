"""The device's outgoing messages: one ``OutMsg`` per cmid, moved by the state table."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from imload.client.states import FINAL, MsgEvent, MsgState, next_state


@dataclass(slots=True)
class OutMsg:
    cmid: str
    conv: str
    body: str
    digest: str
    created: float          # monotonic seconds when the user hit send
    ts: int                 # the device's local clock then (kept by every attempt)
    seen_seq: int           # the newest seq the display showed in conv then
    state: MsgState = MsgState.NEW
    attempts: int = 0       # attempts put on the wire
    rid: int | None = None  # rid of the current attempt
    first_sent: float | None = None
    ack_due: float = math.inf     # SENDING: when the current attempt times out
    retry_at: float | None = None  # WAITING after an error: not before this


class Outbox:
    """Pending messages in creation order, plus the outcome of finished ones."""

    def __init__(self, cmid_prefix: str) -> None:
        self._prefix = cmid_prefix
        self._n = 0
        self._pending: dict[str, OutMsg] = {}
        self.outcomes: dict[str, MsgState] = {}

    def create(self, conv: str, body: str, digest: str, now: float, ts: int,
               seen_seq: int = 0) -> OutMsg:
        self._n += 1
        cmid = f"{self._prefix}{self._n}"
        msg = OutMsg(cmid, conv, body, digest, now, ts, seen_seq)
        self._pending[cmid] = msg
        return msg

    def get(self, cmid: object) -> OutMsg | None:
        return self._pending.get(cmid) if isinstance(cmid, str) else None

    def move(self, msg: OutMsg, event: MsgEvent) -> MsgState:
        """Apply ``event`` through the table; a final message leaves the pending set."""
        msg.state = next_state(msg.cmid, msg.state, event)
        if msg.state in FINAL:
            self._pending.pop(msg.cmid, None)
            self.outcomes[msg.cmid] = msg.state
        return msg.state

    def pending(self) -> list[OutMsg]:
        """A snapshot of the unfinished messages, oldest first."""
        return list(self._pending.values())

    def __iter__(self) -> Iterator[OutMsg]:
        return iter(self._pending.values())

    def __len__(self) -> int:
        return len(self._pending)

    def state_of(self, cmid: str) -> MsgState | None:
        msg = self._pending.get(cmid)
        return msg.state if msg else self.outcomes.get(cmid)
