"""A synthetic journal with what the default ``chat`` mix does besides direct messages: groups
(created by their owner's op, late joiners added by ``group_add``, a quarter of the
messages), reads (``read``, ``read_ok`` and a ``read_sync`` to the reader's other devices
for a third of the direct messages received), contact ops, and the audit's markers and
state. Every event is as a clean run writes it: both checkers must pass it
(``bench_checker.py --traffic chat``).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from imload.journal import body_digest

GROUP_SHARE = 0.25  # of the messages (the chat mix's group_share)
READ_SHARE = 0.35  # of the direct copies a user gets, read on the device that got it
OP_SHARE = 0.03  # a contact op per this many messages
JOIN_SHARE = 0.02  # a group message preceded by a late joiner's group_add


class _Chat:
    def __init__(self, users: int, seed: int) -> None:
        self.rnd = random.Random(seed)
        rnd = self.rnd
        self.names = [f"u{i}" for i in range(users)]
        self.devices = {u: ["phone", "laptop"][: rnd.choice((1, 2))] for u in self.names}
        self.contacts = {u: rnd.sample(self.names, 10) for u in self.names}
        self.groups: dict[str, list[str]] = {}
        self.seqs: dict[str, int] = {}
        self.useqs = dict.fromkeys(self.names, 0)
        self.last_push: dict[str, float] = {}
        self.marks: dict[tuple[str, str], int] = {}
        self.added: dict[str, set[str]] = {}  # contact ops applied
        self.out: list[dict[str, Any]] = []
        self.t = 1000.0
        self.n = 0

    def add(self, **e: Any) -> None:
        self.out.append(e)

    def copy(self, at: float, u: str, d: str, sender: str, dev: str, conv: str, seq: int,
             cmid: str, mid: str, digest: str, **extra: Any) -> None:
        self.add(ev="deliver", at=at, user=u, device=d, session=1, mid=mid, conv=conv,
                 seq=seq, useq=self.useqs[u], **{"from": sender}, from_device=dev,
                 cmid=cmid, digest=digest, via="push", phase="load", **extra)

    def group_op(self, owner: str, conv: str, kind: str, args: dict[str, Any],
                 body: dict[str, Any], members: list[str]) -> None:
        self.n += 1
        opid, t = f"o{self.n}", self.t
        dev = self.devices[owner][0]
        self.add(ev="op", at=t, user=owner, device=dev, session=1, opid=opid, kind=kind,
                 args=args, attempt=1)
        seq = self.seqs[conv] = self.seqs.get(conv, 0) + 1
        at = max(t + 0.002, self.last_push.get(conv, 0.0) + 1e-6)
        self.last_push[conv] = at
        for u in members:
            self.useqs[u] += 1
            for d in self.devices[u]:
                self.copy(at, u, d, owner, dev, conv, seq, f"op:{opid}", f"e{self.n}",
                          body_digest(repr(body)), kind="event", event=body)
        self.add(ev="op_ok", at=at + 0.001, user=owner, device=dev, session=1, opid=opid,
                 dup=False)

    def create_groups(self) -> None:
        for k in range(max(1, len(self.names) // 50)):
            members = self.rnd.sample(self.names, self.rnd.randint(3, 30))
            owner, conv = members[0], f"g:g{k}"
            self.groups[conv] = members
            self.t += 1e-4
            self.group_op(owner, conv, "group_create", {"conv": conv, "members": members[1:]},
                          {"op": "group_create", "user": owner, "members": sorted(members)},
                          members)

    def message(self, i: int, digest: str) -> None:
        rnd = self.rnd
        self.t += 0.0002
        if rnd.random() < GROUP_SHARE:
            conv = f"g:g{rnd.randrange(len(self.groups))}"
            members = self.groups[conv]
            if rnd.random() < JOIN_SHARE:
                new = self.names[rnd.randrange(len(self.names))]
                if new not in members:
                    members.append(new)
                    self.group_op(members[0], conv, "group_add", {"conv": conv, "user": new},
                                  {"op": "group_add", "user": new, "by": members[0]},
                                  members)
                    self.t += 0.0002
            a = members[rnd.randrange(len(members))]
            owed = list(members)
        else:
            a = self.names[rnd.randrange(len(self.names))]
            b = self.contacts[a][rnd.randrange(10)]
            if a == b:
                b = self.names[(self.names.index(a) + 1) % len(self.names)]
            conv = f"d:{a}:{b}" if a < b else f"d:{b}:{a}"
            owed = [a, b]
        self.send(i, a, conv, owed, digest)

    def send(self, i: int, a: str, conv: str, owed: list[str], digest: str) -> None:
        rnd, t = self.rnd, self.t
        dev = self.devices[a][rnd.randrange(len(self.devices[a]))]
        cmid, mid = f"c{i}", f"m{i}"
        seen = self.seqs.get(conv, 0)
        seq = self.seqs[conv] = seen + 1
        self.add(ev="send", at=t, user=a, device=dev, session=1, cmid=cmid, conv=conv,
                 digest=digest, attempt=1, ts=int(t * 1000), seen_seq=seen)
        ack_at = t + rnd.uniform(0.002, 0.030)
        self.add(ev="send_ok", at=ack_at, user=a, device=dev, session=1, cmid=cmid,
                 conv=conv, mid=mid, seq=seq, dup=False)
        at = max(ack_at + rnd.uniform(0.001, 0.020), self.last_push.get(conv, 0.0) + 1e-6)
        self.last_push[conv] = at
        for u in owed:
            self.useqs[u] += 1
            for d in self.devices[u]:
                self.copy(at, u, d, a, dev, conv, seq, cmid, mid, digest, kind="text")
                if u != a and conv[0] == "d" and rnd.random() < READ_SHARE:
                    self.read(at + 0.05, u, d, conv, seq)
        if rnd.random() < OP_SHARE:
            self.contact_op(a)

    def read(self, at: float, u: str, d: str, conv: str, seq: int) -> None:
        stored = self.marks[(u, conv)] = max(self.marks.get((u, conv), 0), seq)
        self.add(ev="read", at=at, user=u, device=d, session=1, conv=conv, upto=seq)
        self.add(ev="read_ok", at=at + 0.003, user=u, device=d, session=1, conv=conv,
                 upto=stored)
        for other in self.devices[u]:
            if other != d:
                self.add(ev="read_sync", at=at + 0.004, user=u, device=other, session=1,
                         conv=conv, upto=stored, from_device=d)

    def contact_op(self, u: str) -> None:
        self.n += 1
        who = self.names[self.rnd.randrange(len(self.names))]
        d = self.devices[u][0]
        self.add(ev="op", at=self.t + 0.001, user=u, device=d, session=1, opid=f"o{self.n}",
                 kind="contact_add", args={"user": who}, attempt=1)
        self.add(ev="op_ok", at=self.t + 0.004, user=u, device=d, session=1,
                 opid=f"o{self.n}", dup=False)
        self.added.setdefault(u, set()).add(who)

    def audit(self) -> None:
        t = self.t + 1
        self.add(ev="phase", at=t, phase="load", action="end")
        self.add(ev="phase", at=t, phase="audit", action="start")
        marks: dict[str, dict[str, int]] = {}
        for (u, conv), v in self.marks.items():
            marks.setdefault(u, {})[conv] = v
        groups: dict[str, list[str]] = {}
        for conv, members in sorted(self.groups.items()):
            for u in members:
                groups.setdefault(u, []).append(conv)
        for u in self.names:
            for d in self.devices[u]:
                t += 1e-5
                self.add(ev="audit", at=t, user=u, device=d, action="start",
                         inbox_seq=self.useqs[u])
                self.add(ev="marks", at=t, user=u, device=d, session=0,
                         marks=marks.get(u, {}), phase="audit")
                self.add(ev="state", at=t, user=u, device=d, session=0,
                         contacts=sorted(self.added.get(u, ())), pinned=[],
                         groups=groups.get(u, []), phase="audit")
                self.add(ev="audit", at=t, user=u, device=d, action="done",
                         inbox_seq=self.useqs[u])
        self.add(ev="phase", at=t, phase="audit", action="end")


def chat_events(messages: int, users: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """The journal's events as they are made (not sorted by ``at``: any reader sorts them)."""
    c = _Chat(users, seed)
    c.add(ev="phase", at=c.t, phase="load", action="start")
    for u in c.names:
        for d in c.devices[u]:
            c.t += 1e-5
            c.add(ev="device", at=c.t, user=u, device=d)
            c.add(ev="connected", at=c.t, user=u, device=d, session=1, node="n1",
                  inbox_seq=0, acked=0)
    c.create_groups()
    digests = [body_digest(f"body {i}") for i in range(1000)]
    for i in range(messages):
        c.message(i, digests[i % 1000])
        if len(c.out) >= 65536:
            yield from c.out
            c.out.clear()
    c.audit()
    yield from c.out
