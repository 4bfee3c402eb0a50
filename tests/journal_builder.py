"""Hand-made journals for the checker's tests: a clock that ticks and a tiny fake server.

``JournalBuilder`` writes events with ``imload.journal.event`` (so every event
has the fields its kind needs) and keeps the bookkeeping a real run would have:
sessions per device, seqs per conversation, mids, useqs per user. Anything can
be overridden per call, which is how a test makes an anomaly on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from imload.check.cases import Case, Cases
from imload.journal import body_digest, event
from imload.protocol import conv_members, direct_conv


@dataclass
class Sent:
    """A message as the fake server stored it."""

    user: str
    device: str
    cmid: str
    conv: str
    digest: str
    mid: str | None = None
    seq: int | None = None
    recipients: tuple[str, ...] | None = None  # group members as of its seq


class JournalBuilder:
    def __init__(self, start: float = 100.0, tick: float = 0.01) -> None:
        self.events: list[dict[str, Any]] = []
        self.t = start
        self.tick = tick
        self.sessions: dict[tuple[str, str], int] = {}
        self.seqs: dict[str, int] = {}
        self.useqs: dict[str, int] = {}
        self.msgs: dict[tuple[str, str], Sent] = {}
        self.devices: dict[str, list[str]] = {}
        self.groups: dict[str, set[str]] = {}  # group conv -> members now
        self.marks: dict[tuple[str, str], int] = {}  # (user, conv) -> stored read marker
        self.inbox: dict[tuple[str, Any], int] = {}  # (user, mid) -> useq
        self._mids = 0

    # -- clock ------------------------------------------------------------------------------
    def at(self, at: float | None = None) -> float:
        """The time of the next event: ``at`` when given, else the clock ticked once."""
        self.t = at if at is not None else round(self.t + self.tick, 6)
        return self.t

    def add(self, ev: str, at: float | None = None, **fields: Any) -> dict[str, Any]:
        e = event(ev, self.at(at), **fields)
        self.events.append(e)
        return e

    # -- devices ----------------------------------------------------------------------------
    def device(self, user: str, device: str, connect: bool = True) -> None:
        """Declare a device and (by default) log it in: session 1."""
        self.devices.setdefault(user, []).append(device)
        self.add("device", user=user, device=device)
        if connect:
            self.connect(user, device)

    def connect(self, user: str, device: str) -> int:
        session = self.sessions.get((user, device), 0) + 1
        self.sessions[(user, device)] = session
        self.add("connected", user=user, device=device, session=session, node="n1",
                 inbox_seq=self.useqs.get(user, 0), acked=0)
        return session

    def reconnect(self, user: str, device: str) -> int:
        self.add("disconnected", user=user, device=device,
                 session=self.sessions[(user, device)], reason="error")
        return self.connect(user, device)

    def session(self, user: str, device: str) -> int:
        return self.sessions.get((user, device), 1)

    # -- sends ------------------------------------------------------------------------------
    def send(self, user: str, device: str, cmid: str, to: str | None = None, *,
             conv: str | None = None, body: str | None = None, attempt: int = 1,
             at: float | None = None, seen_seq: int | None = 0) -> dict[str, Any]:
        """One attempt to send ``cmid`` to user ``to`` (a direct chat) or to ``conv``
        (``seen_seq`` None: the attempt does not record what the device displayed)."""
        if conv is None:
            assert to is not None, "send needs a recipient user or a conv"
            conv = direct_conv(user, to)
        digest = body_digest(body if body is not None else f"body of {cmid}")
        self.msgs.setdefault((user, cmid), Sent(user, device, cmid, conv, digest))
        extra = {} if seen_seq is None else {"seen_seq": seen_seq}
        return self.add("send", at, user=user, device=device, session=self.session(user, device),
                        cmid=cmid, conv=conv, digest=digest, attempt=attempt, ts=0, **extra)

    def _store(self, user: str, cmid: str, mid: str | None, seq: int | None) -> Sent:
        m = self.msgs[(user, cmid)]
        if m.mid is None or mid is not None:
            if mid is None:
                self._mids += 1
                mid = f"m{self._mids}"
            if seq is None:
                seq = self.seqs.get(m.conv, 0) + 1
                self.seqs[m.conv] = max(self.seqs.get(m.conv, 0), seq)
            m.mid, m.seq = mid, seq
            if m.conv in self.groups:
                m.recipients = tuple(sorted(self.groups[m.conv]))
        return m

    def ack(self, user: str, cmid: str, *, mid: str | None = None, seq: int | None = None,
            at: float | None = None, dup: bool = False) -> dict[str, Any]:
        """The server's send_ok: stores the message (a new mid and seq) unless already stored."""
        m = self._store(user, cmid, mid, seq)
        return self.add("send_ok", at, user=user, device=m.device,
                        session=self.session(user, m.device), cmid=cmid, conv=m.conv,
                        mid=mid or m.mid, seq=seq or m.seq, dup=dup)

    def fail(self, user: str, cmid: str, reason: str = "forbidden",
             at: float | None = None) -> dict[str, Any]:
        m = self.msgs[(user, cmid)]
        return self.add("send_fail", at, user=user, device=m.device, cmid=cmid, conv=m.conv,
                        reason=reason)

    def info(self, user: str, cmid: str, reason: str = "timeout",
             at: float | None = None) -> dict[str, Any]:
        m = self.msgs[(user, cmid)]
        return self.add("send_info", at, user=user, device=m.device, cmid=cmid, conv=m.conv,
                        reason=reason)

    def store(self, user: str, cmid: str) -> Sent:
        """Store a message server-side without acking it (for indeterminate sends)."""
        return self._store(user, cmid, None, None)

    # -- deliveries -------------------------------------------------------------------------
    def deliver(self, user: str, device: str, sender: str, cmid: str, *, via: str = "push",
                phase: str = "load", mid: str | None = None, seq: int | None = None,
                digest: str | None = None, at: float | None = None,
                from_device: str | None = None, conv: str | None = None,
                **extra: Any) -> dict[str, Any]:
        """``sender``'s message ``cmid`` reaches ``user/device`` (overrides make anomalies)."""
        m = self.msgs.get((sender, cmid))
        if m is None:  # a message no client sent: a phantom, the caller names it fully
            assert mid is not None and seq is not None, "a phantom needs mid and seq"
            m = Sent(sender, from_device or "d0", cmid, conv or direct_conv(user, sender),
                     body_digest("phantom"))
        elif m.mid is None:
            self._store(sender, cmid, None, None)
        useq = self.inbox.get((user, mid or m.mid))
        if useq is None:  # the user's inbox position of this message, the same on every device
            useq = self.inbox[(user, mid or m.mid)] = self.useqs.get(user, 0) + 1
            self.useqs[user] = useq
        return self.add("deliver", at, user=user, device=device,
                        session=self.session(user, device), mid=mid or m.mid,
                        conv=conv or m.conv, seq=seq or m.seq, useq=useq, cmid=cmid,
                        digest=digest or m.digest, via=via, phase=phase,
                        **{"from": sender, "from_device": from_device or m.device}, **extra)

    def deliver_all(self, sender: str, cmid: str, *, skip: tuple[tuple[str, str], ...] = (),
                    **kw: Any) -> list[dict[str, Any]]:
        """Deliver to every device of every member of the message's conversation (as of its
        seq, for a group)."""
        m = self.msgs[(sender, cmid)]
        if m.mid is None:
            self._store(sender, cmid, None, None)
        members = m.recipients if m.recipients is not None else (conv_members(m.conv) or ())
        return [self.deliver(u, d, sender, cmid, **kw)
                for u in members for d in self.devices.get(u, []) if (u, d) not in skip]

    def message(self, user: str, device: str, to: str, cmid: str,
                **kw: Any) -> list[dict[str, Any]]:
        """send + ack + delivery to every member device: a message that went right."""
        self.send(user, device, cmid, to)
        self.ack(user, cmid)
        return self.deliver_all(user, cmid, **kw)

    # -- groups -----------------------------------------------------------------------------
    def group_op(self, user: str, device: str, opid: str, kind: str, conv: str, *,
                 who: str | None = None, members: tuple[str, ...] = (), deliver: bool = True,
                 skip: tuple[tuple[str, str], ...] = (), invoke: bool = True,
                 role: str = "admin") -> dict[str, Any]:
        """A group op that went right: op (unless ``invoke`` is False: it was journaled
        already), the event message stored and delivered, op_ok (returned). A
        ``group_role`` gives ``who`` the ``role``."""
        args: dict[str, Any] = {"conv": conv}
        if kind == "group_create":
            args["members"] = list(members)
        else:
            args["user"] = who
        if kind == "group_role":
            args["role"] = role
        if invoke:
            self.op(user, device, opid, kind, args)
        before = set(self.groups.get(conv, set()))
        if kind == "group_create":
            after = set(members) | {user}
            body: dict[str, Any] = {"op": kind, "user": user, "members": sorted(after)}
        elif kind == "group_add":
            assert who is not None
            after = before | {who}
            body = {"op": kind, "user": who, "by": user}
        elif kind == "group_role":  # no member changes: the event goes to the members
            after = before
            body = {"op": kind, "user": who, "role": role, "by": user}
        else:
            assert who is not None
            after = before - {who}
            body = {"op": kind, "user": who, "by": user}
        self.groups[conv] = after
        cmid = f"op:{opid}"
        m = Sent(user, device, cmid, conv, body_digest(repr(body)))
        self.msgs[(user, cmid)] = m
        self._store(user, cmid, None, None)
        m.recipients = tuple(sorted(before | after))
        if deliver:
            for u in m.recipients:
                for d in self.devices.get(u, []):
                    if (u, d) not in skip:
                        self.deliver(u, d, user, cmid, kind="event", event=body)
        return self.op_ok(user, device, opid)

    def group_message(self, user: str, device: str, conv: str, cmid: str,
                      **kw: Any) -> list[dict[str, Any]]:
        """send + ack + delivery to every member device of a group as of the message's seq."""
        self.send(user, device, cmid, conv=conv)
        self.ack(user, cmid)
        return self.deliver_all(user, cmid, **kw)

    # -- reads ------------------------------------------------------------------------------
    def read(self, user: str, device: str, conv: str, upto: int, *, stored: int | None = None,
             at: float | None = None) -> dict[str, Any]:
        """read + read_ok (the server keeps the maximum unless ``stored`` says otherwise)."""
        s = self.session(user, device)
        self.add("read", at, user=user, device=device, session=s, conv=conv, upto=upto)
        if stored is None:
            stored = max(self.marks.get((user, conv), 0), upto)
        self.marks[(user, conv)] = stored
        return self.add("read_ok", user=user, device=device, session=s, conv=conv,
                        upto=stored)

    def read_sync(self, user: str, device: str, conv: str, upto: int,
                  from_device: str) -> dict[str, Any]:
        return self.add("read_sync", user=user, device=device, session=self.session(user, device),
                        conv=conv, upto=upto, from_device=from_device)

    def marks_of(self, user: str, device: str, marks: dict[str, int] | None = None,
                 phase: str = "audit") -> dict[str, Any]:
        """A ``marks`` event (reads_ok): the stored markers unless ``marks`` is given."""
        if marks is None:
            marks = {c: v for (u, c), v in self.marks.items() if u == user}
        return self.add("marks", user=user, device=device,
                        session=0 if phase == "audit" else self.session(user, device),
                        marks=marks, phase=phase)

    # -- ops --------------------------------------------------------------------------------
    def op(self, user: str, device: str, opid: str, kind: str, args: dict[str, Any],
           attempt: int = 1, at: float | None = None) -> dict[str, Any]:
        return self.add("op", at, user=user, device=device, session=self.session(user, device),
                        opid=opid, kind=kind, args=args, attempt=attempt)

    def op_ok(self, user: str, device: str, opid: str, dup: bool = False,
              at: float | None = None) -> dict[str, Any]:
        return self.add("op_ok", at, user=user, device=device,
                        session=self.session(user, device), opid=opid, dup=dup)

    def op_info(self, user: str, device: str, opid: str, reason: str = "timeout") -> dict[str, Any]:
        return self.add("op_info", user=user, device=device, opid=opid, reason=reason)

    def op_fail(self, user: str, device: str, opid: str,
                reason: str = "forbidden") -> dict[str, Any]:
        return self.add("op_fail", user=user, device=device, opid=opid, reason=reason)

    def state(self, user: str, device: str, *, contacts: tuple[str, ...] = (),
              pinned: tuple[str, ...] = (), groups: tuple[str, ...] | None = None,
              phase: str = "audit") -> dict[str, Any]:
        """A ``state`` event (state_ok); ``groups`` defaults to the builder's membership."""
        if groups is None:
            groups = tuple(sorted(c for c, m in self.groups.items() if user in m))
        return self.add("state", user=user, device=device,
                        session=0 if phase == "audit" else self.session(user, device),
                        contacts=sorted(contacts), pinned=sorted(pinned), groups=list(groups),
                        phase=phase)

    # -- run ------------------------------------------------------------------------------
    def fault(self, action: str, fault: str, kind: str = "latency", target: str = "n1",
              at: float | None = None, **detail: Any) -> dict[str, Any]:
        return self.add("fault", at, action=action, kind=kind, target=target, fault=fault,
                        detail=detail)

    def phase(self, phase: str, action: str, at: float | None = None) -> dict[str, Any]:
        return self.add("phase", at, phase=phase, action=action)

    def audit(self, user: str, device: str, action: str = "done") -> dict[str, Any]:
        return self.add("audit", user=user, device=device, action=action,
                        inbox_seq=self.useqs.get(user, 0))

    def audit_all(self) -> None:
        """The audit phase: every device starts and ends its audit (nothing new arrives)."""
        self.phase("audit", "start")
        for user, devices in self.devices.items():
            for device in devices:
                self.audit(user, device, "start")
                self.audit(user, device, "done")
        self.phase("audit", "end")


def two_phones(**declared: Any) -> JournalBuilder:
    """alice's and bob's phones logged in, load phase started; after a ``declare`` event of
    the fields in ``declared`` that are not None, when there are any (none: the target
    declares nothing, as a protocol v1 server)."""
    j = JournalBuilder()
    fields = {k: v for k, v in declared.items() if v is not None}
    if fields:
        j.add("declare", **fields)
    j.phase("load", "start")
    j.device("alice", "phone")
    j.device("bob", "phone")
    return j


def two_friends() -> JournalBuilder:
    """alice (phone, laptop) and bob (phone), logged in, load phase started."""
    j = JournalBuilder()
    j.phase("load", "start")
    j.device("alice", "phone")
    j.device("alice", "laptop")
    j.device("bob", "phone")
    return j


def a_chat(messages: int) -> JournalBuilder:
    """a and b (device d0 each) from 0 s, 0.05 s a tick: ``messages`` messages from a to b
    (``c0``, ``c1``, ...) and one more (``late``) sent, not yet acked."""
    j = JournalBuilder(start=0.0, tick=0.05)
    for u in ("a", "b"):
        j.device(u, "d0")
    for i in range(messages):
        j.message("a", "d0", "b", f"c{i}")
    j.send("a", "d0", "late", "b")
    return j


def only_case(cases: Cases) -> Case:
    """The one case in ``cases`` (a check's result), which must hold exactly one."""
    assert cases.count == 1, [c["explain"] for c in cases.examples]
    return cases.examples[0]
