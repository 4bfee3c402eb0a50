"""The states of one outgoing message, as data (the seed's section 8.3).

Theory of operation
-------------------
A logical message is one ``cmid``; every attempt to send it keeps that cmid,
so the server stores it once however often it is retried. Its life:

    NEW ──transmit──► SENDING ──ack──► ACKED
     ▲                 │  ▲
     │   timeout,      │  │ transmit (attempt + 1)
     │   lost, retry   ▼  │
     │              WAITING ─────────────► UNKNOWN   (budget spent after a wire attempt)
     └── give_up / stop ─────────────────► FAILED    (never on the wire, or refused)

- NEW: created, not yet on the wire (offline, or behind the catch-up sync).
- SENDING: an attempt is on the wire, waiting for ``send_ack``.
- WAITING: the last attempt was lost (ack timeout, connection lost, ``internal``
  or ``rate_limited`` error); it is sent again when the connection and the
  retry budget allow.
- ACKED (journal ``send_ok``), FAILED (``send_fail``: definitely not stored:
  the server refused it, or it never went on the wire), UNKNOWN (``send_info``:
  it was on the wire and we gave up without an answer). All three are final.

Every transition is in ``TRANSITIONS``; anything else raises
``IllegalTransition`` naming the message, its state and the event: that is a
bug in the engine, never a network condition.
"""

from __future__ import annotations

from enum import Enum


class MsgState(Enum):
    __hash__ = object.__hash__  # members are singletons; Enum's own hashes the name in Python

    NEW = "new"
    SENDING = "sending"
    WAITING = "waiting"
    ACKED = "acked"
    FAILED = "failed"
    UNKNOWN = "unknown"


class MsgEvent(Enum):
    __hash__ = object.__hash__  # members are singletons; Enum's own hashes the name in Python

    TRANSMIT = "transmit"      # an attempt goes on the wire
    ACK = "ack"                # send_ack for the cmid (any attempt)
    TIMEOUT = "timeout"        # no send_ack within ack_timeout_s
    LOST = "lost"              # the connection ended (or was declared dead)
    RETRYABLE = "retryable"    # error internal / rate_limited for the current attempt
    REFUSED = "refused"        # error forbidden / bad_frame: definite
    GIVE_UP = "give_up"        # the retry budget is spent
    STOP = "stop"              # the device stops


S, E = MsgState, MsgEvent

TRANSITIONS: dict[MsgState, dict[MsgEvent, MsgState]] = {
    S.NEW: {
        E.TRANSMIT: S.SENDING,
        E.LOST: S.NEW,
        E.GIVE_UP: S.FAILED,
        E.STOP: S.FAILED,
    },
    S.SENDING: {
        E.ACK: S.ACKED,
        E.TIMEOUT: S.WAITING,
        E.LOST: S.WAITING,
        E.RETRYABLE: S.WAITING,
        E.REFUSED: S.FAILED,
        E.GIVE_UP: S.UNKNOWN,
        E.STOP: S.UNKNOWN,
    },
    S.WAITING: {
        E.TRANSMIT: S.SENDING,
        E.ACK: S.ACKED,            # a late ack of an earlier attempt
        E.LOST: S.WAITING,
        E.REFUSED: S.FAILED,
        E.GIVE_UP: S.UNKNOWN,
        E.STOP: S.UNKNOWN,
    },
    S.ACKED: {},
    S.FAILED: {},
    S.UNKNOWN: {},
}

FINAL = frozenset({S.ACKED, S.FAILED, S.UNKNOWN})


class IllegalTransition(RuntimeError):
    """The engine tried a transition the table does not allow (an engine bug)."""

    def __init__(self, cmid: str, state: MsgState, event: MsgEvent) -> None:
        allowed = ", ".join(e.value for e in TRANSITIONS[state]) or "nothing (final state)"
        super().__init__(f"message {cmid!r}: event {event.value!r} is illegal in state "
                         f"{state.value!r} (allowed: {allowed}); this is a bug in the "
                         "client engine, not in the server")
        self.cmid = cmid
        self.state = state
        self.event = event


def next_state(cmid: str, state: MsgState, event: MsgEvent) -> MsgState:
    """The state after ``event``, or IllegalTransition."""
    try:
        return TRANSITIONS[state][event]
    except KeyError:
        raise IllegalTransition(cmid, state, event) from None
