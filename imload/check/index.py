"""The index of a run's journal: what ``history.build_history`` fills and the checks read.

A logical send is a ``SendRecord`` in ``History.sends[user][cmid]``; a device is a
``DeviceLog``, with the first copy of every mid it holds (``held``); an acked message's
content is ``Known`` under its mid. Small per-device dicts keep the walk's memory accesses
local, which matters more than anything else once a journal has millions of events.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

Event = Mapping[str, Any]
T = TypeVar("T")

PENDING, OK, FAIL, INFO = "pending", "ok", "fail", "info"


@dataclass(slots=True, eq=False)
class SendRecord:
    """One logical send (``History.sends[user][cmid]``): one sender user and one ``cmid``,
    whatever mentions it first (its sender's events, or a copy naming ``(from, cmid)``)."""

    attempts: int = 0  # number of ``send`` events (wire attempts)
    outcome: str = PENDING  # PENDING, OK, FAIL or INFO: ok wins over fail, fail over info
    send_ev: Event | None = None  # the first ``send`` event; None when no client recorded one
    ok_ev: Event | None = None  # the first ``send_ok`` event
    end_ev: Event | None = None  # the first ``send_fail`` / ``send_info`` event
    mid_ev: Event | None = None  # the first event (ack or copy) naming a mid: its canonical mid
    # the first ``deliver`` event of this send, on any device, that the walk checked (an acked
    # send's copies that match its ack are not: for those it stays None)
    deliv_ev: Event | None = None
    early: list[Event] | None = None  # the copies of a send no client recorded (a phantom)
    last_ev: Event | None = None  # the last ``send`` event (attempt)
    copies: int = 0  # member devices (of a direct chat) holding the canonical mid, in its conv
    done_at: float | None = None  # when the last of those copies arrived


@dataclass(slots=True, eq=False)
class Known:
    """A sent message's content under its mid (``Filing.known``), filed at its ack (or at its
    first copy, when that comes first): a copy with the same content (``sig``) skips every
    content check, and counts towards ``rec.copies`` when its user is one of ``members``."""

    sig: tuple[Any, ...]  # (conv, seq, from, cmid, digest)
    rec: SendRecord
    members: tuple[str, ...]  # the users whose copies count (a direct chat's two)
    sent_at: float | None  # the send's first attempt's at (None: no client recorded one)


@dataclass(slots=True)
class DeviceLog:
    """What one device was and what reached it."""

    declared: Event | None = None  # its first ``device`` / ``connected`` event
    held: dict[str, Event] = field(default_factory=dict)  # mid -> first copy, in time order
    audit: Event | None = None  # its last ``audit`` event
    audit_start: Event | None = None  # its last ``audit`` event with action start
    last_push: dict[str, Event] = field(default_factory=dict)  # conv -> latest pushed copy
    connected: dict[Any, float] = field(default_factory=dict)  # session -> its latest login

    def was_away(self, copy: Event, sent_at: float) -> bool:
        """Was the device away when a message was first sent (at ``sent_at``): did the
        connection that brought ``copy`` log in after that (its latest login so far)?"""
        login = self.connected.get(copy["session"])
        return login is not None and login > sent_at

    def audited(self) -> Event | None:
        """The device's finished audit (its last ``audit`` event, if its action is done)."""
        done = self.audit
        return done if done is not None and done.get("action") == "done" else None


class Memo:
    """What the checks derive from one ``History`` (``History.memo``): each fact made once, by
    the first check that asks, and shared with the others; the index itself stays as the
    walk left it."""

    __slots__ = ("_facts",)

    def __init__(self) -> None:
        self._facts: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        """The fact ``name``, or None while no check has made it."""
        return self._facts.get(name)

    def put(self, name: str, fact: T) -> T:
        """File the fact ``name`` and return it; a fact is made once (ValueError if again)."""
        if name in self._facts:
            raise ValueError(f"the checker's memo has {name!r} already")
        self._facts[name] = fact
        return fact

    def table(self, name: str) -> dict[Any, Any]:
        """The table ``name``: facts made one key at a time (an empty dict at first)."""
        found = self._facts.get(name)
        if found is None:
            found = self._facts[name] = {}
        return found

    def keyed(self, name: str, key: Any, make: Callable[[], T]) -> T:
        """The fact ``key`` of table ``name``, made by ``make()`` the first time it is asked."""
        table = self.table(name)
        found = table.get(key)
        if found is None:
            found = table[key] = make()
        return found  # type: ignore[no-any-return]


@dataclass(slots=True)
class History:
    """The index of one run's journal; built by ``build_history``, read-only afterwards."""

    events: int = 0
    t0: float = 0.0  # the ``phase load start`` time, else the first event's
    t_end: float = 0.0  # the last event's time
    devices: dict[str, dict[str, DeviceLog]] = field(default_factory=dict)
    sends: dict[str, dict[str, SendRecord]] = field(default_factory=dict)
    acked: list[SendRecord] = field(default_factory=list)  # records in the order of their first ack
    # the conv and the at of each one's first ack, in the same order (filed while the ack was
    # at hand: the passes over the acked sends need not fetch every ack again)
    acked_conv: list[Any] = field(default_factory=list)
    acked_at: list[Any] = field(default_factory=list)
    by_seq: dict[str, dict[int, Event]] = field(default_factory=dict)
    by_mid: dict[str, Event] = field(default_factory=dict)
    members: dict[str, tuple[str, ...]] = field(default_factory=dict)  # direct conv -> users
    group_events: dict[str, dict[int, Event]] = field(default_factory=dict)  # conv -> seq -> 1st
    event_mids: dict[tuple[str, str], dict[str, Event]] = field(
        default_factory=dict)  # (from, cmid) of event messages -> mid -> first copy
    other: dict[str, list[Event]] = field(default_factory=dict)  # kind -> events, in time order
    wire_duplicates: int = 0  # deliveries of a mid the device already held
    ack_s: array[float] = field(default_factory=lambda: array("d"))  # 1st attempt -> 1st ack
    # 1st attempt -> a member device's first copy of the send's canonical mid (direct chats,
    # any outcome): push_s when the connection that brought it was up by then, away_s when
    # it logged in after (the device was away when the message was sent)
    push_s: array[float] = field(default_factory=lambda: array("d"))
    away_s: array[float] = field(default_factory=lambda: array("d"))
    seq_clashes: list[tuple[Event, Event]] = field(default_factory=list)  # one (conv, seq), 2 mids
    mid_clashes: list[tuple[Event, Event]] = field(default_factory=list)  # one mid, 2 places/msgs
    cmid_clashes: list[tuple[Event, Event]] = field(default_factory=list)  # (user, cmid), 2 mids
    digest_mismatches: list[tuple[Event, Event]] = field(default_factory=list)  # (send, deliver)
    # e2e copies the AEAD refused (``undecryptable``): (their send or None, deliver)
    undecryptable: list[tuple[Event | None, Event]] = field(default_factory=list)
    backwards: list[tuple[Event, Event]] = field(default_factory=list)  # pushes, same session
    # (user, device, session, conv) of sends acked out of order (see session_order)
    fifo_suspects: set[tuple[Any, ...]] = field(default_factory=set)
    seen_after: list[SendRecord] = field(default_factory=list)  # records acked at a seq not
    # above the ``seen_seq`` of their first attempt (causality)
    blind: list[SendRecord] = field(default_factory=list)  # acked records whose first attempt
    # names no ``seen_seq`` (causality cannot judge them; a record may be here twice)
    faults: list[dict[str, Any]] = field(default_factory=list)  # windows, at_s/until_s from t0
    phases: dict[str, dict[str, float | None]] = field(default_factory=dict)
    malformed: list[str] = field(default_factory=list)  # events screen set aside (named)
    dropped: int = 0  # how many events screen set aside (``malformed`` names the first 100)
    memo: Memo = field(default_factory=Memo)  # what the checks derive from it, made once

    def delivered(self) -> int:
        """Unique (device, mid) copies: the messages the devices hold."""
        return sum(len(log.held) for per_user in self.devices.values()
                   for log in per_user.values())

    def log(self, user: str, device: str) -> DeviceLog | None:
        return self.devices.get(user, {}).get(device)

    def copy(self, user: str, device: str, mid: str) -> Event | None:
        """The device's first copy of ``mid``, if it holds it."""
        log = self.devices.get(user, {}).get(device)
        return log.held.get(mid) if log is not None else None

    def record(self, user: str, cmid: str) -> SendRecord | None:
        return self.sends.get(user, {}).get(cmid)

    def kind(self, ev: str) -> list[Event]:
        """The events of a kind the walk did not index (``other``), in time order."""
        return self.other.get(ev, [])

    def rel(self, at: float) -> float:
        """Seconds since t0, rounded to the millisecond."""
        return round(at - self.t0, 3)
