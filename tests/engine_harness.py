"""An in-memory peer for the device engine: no sockets, no real clock.

``FakeServer`` is a test double of the *peer* (protocol v1 as docs/protocol.md states
it: messages, inbox, sync, acks, groups and their ``event`` messages, ops, read
markers with ``read_sync`` and receipts, ``reads``, ``state``, and an LBS), and
``Net`` joins it to engines the way h11's tests join a client and a server in
memory (``ConnectionPair``): frames cross with a small latency on a simulated
clock, and ``FakeDriver`` carries out the engine's actions as the gevent driver
would. Knobs make the server misbehave (refuse, 503, swallow, drop pushes...).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from imload.client import (
    Backoff,
    CancelTimer,
    Close,
    Connect,
    DeviceEngine,
    EngineConfig,
    FetchRoute,
    Metric,
    Record,
    SendFrame,
    SetTimer,
)
from imload.client.core import EngineCore
from imload.journal import EVENT_FIELDS
from imload.protocol import conv_members, direct_conv

EngineCore.check_events = True  # every journal event checked against the schema

LAT = 0.001  # one-way latency on the simulated network
URLS = ["ws://n1/ws", "ws://n2/ws"]
AB = direct_conv("alice", "bob")


class Net:
    """A simulated clock and a queue of things to happen at given times."""

    def __init__(self) -> None:
        self.now = 0.0
        self._q: list[tuple[float, int, Callable[[], None]]] = []
        self._n = 0

    def at(self, t: float, fn: Callable[[], None]) -> None:
        self._n += 1
        heapq.heappush(self._q, (max(t, self.now), self._n, fn))

    def run_until(self, t: float) -> None:
        while self._q and self._q[0][0] <= t:
            at, _, fn = heapq.heappop(self._q)
            self.now = at
            fn()
        self.now = max(self.now, t)

    def run_for(self, dt: float) -> None:
        self.run_until(self.now + dt)


@dataclass
class SConn:
    dev: FakeDriver
    url: str
    user: str | None = None
    device: str | None = None
    open: bool = True


@dataclass
class FakeServer:
    """Protocol v1's server side, in memory, with knobs to misbehave."""

    net: Net
    hb_ms: int = 10_000
    clock_offset_ms: int = 0
    down: set[str] = field(default_factory=set)           # urls that refuse connections
    busy: dict[str, int] = field(default_factory=dict)    # url -> Retry-After ms (HTTP 503)
    swallow_sends: int = 0      # the next N sends vanish (never stored, never answered)
    store_no_ack: int = 0       # the next N sends are stored but not answered
    send_errors: list[tuple[str, int | None]] = field(default_factory=list)  # next errors
    swallow_requests: int = 0   # the next N ops / reads vanish unanswered
    request_errors: list[tuple[str, int | None]] = field(default_factory=list)  # or swallow
    cut_after_requests: int | None = None  # after N more ops / reads, reset the connection
    limited: dict[str, int] = field(default_factory=dict)  # type -> next N refused
    limit_ms: int = 500         # their retry_after_ms (rate_limited, as a node over its limits)
    drop_pushes: bool = False
    dup_pushes: bool = False
    mute_pongs: bool = False
    lbs: list[str] | None = None  # the LBS's answer (None: it cannot be reached)
    routes: int = 0               # route requests the LBS served
    inbox: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    convs: dict[str, list[str]] = field(default_factory=dict)
    stored: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    cursors: dict[tuple[str, str], int] = field(default_factory=dict)
    groups: dict[str, set[str]] = field(default_factory=dict)
    opids: dict[tuple[str, str], int] = field(default_factory=dict)   # (user, opid) -> order
    applied: list[tuple[str, str, str]] = field(default_factory=list)  # (user, device, opid)
    sets: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # (user, key) -> set
    marks: dict[tuple[str, str], int] = field(default_factory=dict)    # (user, conv) -> seq
    conns: list[SConn] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    mids: int = 0

    def ms(self) -> int:
        return int(self.net.now * 1000) + self.clock_offset_ms

    # --- transport
    def accept(self, dev: FakeDriver, url: str) -> SConn | tuple[str, int | None]:
        if url in self.down:
            return ("connection refused", None)
        if url in self.busy:
            return ("HTTP 503", self.busy[url])
        c = SConn(dev, url)
        self.conns.append(c)
        return c

    def route(self) -> list[str] | None:
        self.routes += 1
        return None if self.lbs is None else list(self.lbs)

    def close(self, c: SConn, reason: str, notify: bool = True) -> None:
        if not c.open:
            return
        c.open = False
        self.conns.remove(c)
        if notify:
            self.net.at(self.net.now + LAT, lambda: c.dev.server_closed(c, reason))

    def kill(self, url: str | None = None) -> None:
        for c in list(self.conns):
            if url is None or c.url == url:
                self.close(c, "connection reset")

    def reply(self, c: SConn, frame: dict[str, Any]) -> None:
        self.net.at(self.net.now + LAT, lambda: c.dev.deliver(c, frame))

    def push_to(self, user: str, frame: dict[str, Any], but: SConn | None = None) -> None:
        for o in self.conns:
            if o.user == user and o is not but:
                self.reply(o, frame)

    # --- frames
    def receive(self, c: SConn, f: dict[str, Any]) -> None:
        if not c.open:
            return
        self.received.append(f)
        t = f["t"]
        if self.limited.get(t):
            self.limited[t] -= 1
            err = self._error(f.get("rid"), "rate_limited", self.limit_ms)
            if err["rid"] is None:
                del err["rid"]  # an ack's: it has no rid
            self.reply(c, err)
            if t == "login":
                self.close(c, "closed by server 4029")
            return
        if t == "login":
            user, device = f["token"].split("/")
            for old in [o for o in self.conns if (o.user, o.device) == (user, device)]:
                self.close(old, "closed by server 4001")
            c.user, c.device = user, device
            self.reply(c, {"t": "login_ok", "rid": f["rid"], "user": user, "device": device,
                           "node": c.url, "server_ts": self.ms(), "hb_ms": self.hb_ms,
                           "inbox_seq": len(self.inbox.get(user, [])),
                           "acked": self.cursors.get((user, device), 0)})
        elif t == "send":
            self._on_send(c, f)
        elif t == "ack":
            assert c.user and c.device
            key = (c.user, c.device)
            self.cursors[key] = max(self.cursors.get(key, 0), f["upto"])
        elif t == "sync":
            box = self.inbox.get(c.user or "", [])
            limit = f.get("limit", 200)
            msgs = box[f["after"]:f["after"] + limit]
            upto = msgs[-1]["useq"] if msgs else f["after"]
            self.reply(c, {"t": "sync_batch", "rid": f["rid"], "msgs": msgs, "upto": upto,
                           "more": upto < len(box)})
        elif t == "ping":
            if not self.mute_pongs:
                self.reply(c, {"t": "pong", "rid": f["rid"], "ts": f["ts"],
                               "server_ts": self.ms()})
        elif t in ("op", "read"):
            if self.cut_after_requests is not None:
                if self.cut_after_requests == 0:  # this one and what follows are lost
                    self.cut_after_requests = None
                    self.close(c, "connection reset")
                    return
                self.cut_after_requests -= 1
            if self.swallow_requests:
                self.swallow_requests -= 1
            elif self.request_errors:
                code, retry = self.request_errors.pop(0)
                if code != "swallow":  # "swallow": this one vanishes, unanswered
                    self.reply(c, self._error(f["rid"], code, retry))
            elif t == "op":
                self._on_op(c, f)
            else:
                self._on_read(c, f)
        elif t == "reads":
            assert c.user
            marks = {conv: v for (u, conv), v in self.marks.items() if u == c.user}
            self.reply(c, {"t": "reads_ok", "rid": f["rid"], "marks": marks})
        elif t == "state":
            assert c.user
            self.reply(c, {"t": "state_ok", "rid": f["rid"], **{
                k: sorted(self.sets.get((c.user, k), set()))
                for k in ("contacts", "pinned", "groups")}})

    @staticmethod
    def _error(rid: int | None, code: str, retry: int | None) -> dict[str, Any]:
        err: dict[str, Any] = {"t": "error", "rid": rid, "code": code, "msg": "test"}
        if retry is not None:
            err["retry_after_ms"] = retry
        return err

    def members(self, conv: str) -> set[str]:
        direct = conv_members(conv)
        return set(direct) if direct is not None else set(self.groups.get(conv, set()))

    def _on_send(self, c: SConn, f: dict[str, Any]) -> None:
        if self.swallow_sends:
            self.swallow_sends -= 1
            return
        if self.send_errors:
            code, retry = self.send_errors.pop(0)
            self.reply(c, self._error(f["rid"], code, retry))
            return
        assert c.user and c.device
        if c.user not in self.members(f["conv"]):
            self.reply(c, self._error(f["rid"], "forbidden", None))
            return
        key = (c.user, f["cmid"])
        dup = key in self.stored
        if not dup:
            self.stored[key] = self.store(c.user, c.device, f["conv"], f["cmid"], f["body"],
                                          ts=f.get("ts"))
        m = self.stored[key]
        if self.store_no_ack:
            self.store_no_ack -= 1
            return
        self.reply(c, {"t": "send_ack", "rid": f["rid"], "cmid": f["cmid"], "mid": m["mid"],
                       "conv": m["conv"], "seq": m["seq"], "server_ts": m["server_ts"],
                       "dup": dup})

    def store(self, user: str, device: str, conv: str, cmid: str, body: Any,
              kind: str = "text", to: set[str] | None = None,
              ts: int | None = None) -> dict[str, Any]:
        """Store a message and push it to every member's inbox and online devices."""
        self.mids += 1
        mids = self.convs.setdefault(conv, [])
        mids.append(f"m{self.mids}")
        base = {"mid": f"m{self.mids}", "conv": conv, "seq": len(mids), "from": user,
                "from_device": device, "cmid": cmid, "body": body,
                "ts": self.ms() if ts is None else ts, "server_ts": self.ms(), "kind": kind}
        for member in sorted(to if to is not None else self.members(conv)):
            box = self.inbox.setdefault(member, [])
            entry = {**base, "useq": len(box) + 1}
            box.append(entry)
            if self.drop_pushes:
                continue
            for o in self.conns:
                if o.user == member:
                    for _ in range(2 if self.dup_pushes else 1):
                        self.reply(o, {"t": "msg", **entry})
        return base

    def _on_op(self, c: SConn, f: dict[str, Any]) -> None:
        assert c.user and c.device
        user, kind, args, opid = c.user, f["kind"], f["args"], f["opid"]
        if (user, opid) in self.opids:
            self.reply(c, {"t": "op_ok", "rid": f["rid"], "opid": opid, "dup": True})
            return
        conv = args.get("conv", "")
        if kind == "group_create":
            if conv in self.groups:
                self.reply(c, self._error(f["rid"], "forbidden", None))
                return
            members = set(args["members"]) | {user}
            self.groups[conv] = members
            for m in members:
                self.sets.setdefault((m, "groups"), set()).add(conv)
            self.store(user, c.device, conv, f"op:{opid}",
                       {"op": kind, "user": user, "members": sorted(members)}, kind="event")
        elif kind in ("group_add", "group_remove"):
            if user not in self.groups.get(conv, set()):
                self.reply(c, self._error(f["rid"], "forbidden", None))
                return
            target = args["user"]
            to = self.groups[conv] | {target}
            if kind == "group_add":
                self.groups[conv].add(target)
                self.sets.setdefault((target, "groups"), set()).add(conv)
            else:
                self.groups[conv].discard(target)
                self.sets.setdefault((target, "groups"), set()).discard(conv)
            self.store(user, c.device, conv, f"op:{opid}",
                       {"op": kind, "user": target, "by": user}, kind="event", to=to)
        else:
            key, item = {"contact_add": ("contacts", args.get("user")),
                         "contact_remove": ("contacts", args.get("user")),
                         "pin": ("pinned", conv)}[kind]
            s = self.sets.setdefault((user, key), set())
            if kind == "contact_remove" or (kind == "pin" and not args["pinned"]):
                s.discard(item)
            else:
                s.add(item)
        self.opids[(user, opid)] = len(self.opids)
        self.applied.append((user, c.device, opid))
        self.reply(c, {"t": "op_ok", "rid": f["rid"], "opid": opid, "dup": False})

    def _on_read(self, c: SConn, f: dict[str, Any]) -> None:
        assert c.user and c.device
        conv = f["conv"]
        if c.user not in self.members(conv):
            self.reply(c, self._error(f["rid"], "forbidden", None))
            return
        key = (c.user, conv)
        before = self.marks.get(key, 0)
        stored = max(before, min(f["upto"], len(self.convs.get(conv, []))))
        self.marks[key] = stored
        self.reply(c, {"t": "read_ok", "rid": f["rid"], "conv": conv, "upto": stored})
        if stored > before:
            self.push_to(c.user, {"t": "read_sync", "conv": conv, "upto": stored,
                                  "device": c.device}, but=c)
            for other in self.members(conv) - {c.user}:
                self.push_to(other, {"t": "receipt", "conv": conv, "user": c.user,
                                     "upto": stored})


class FakeDriver:
    """Carries out an engine's actions on the simulated network, like the gevent driver."""

    def __init__(self, net: Net, server: FakeServer, engine: DeviceEngine) -> None:
        self.net, self.server, self.engine = net, server, engine
        self.conn: SConn | None = None
        self.timers: dict[str, tuple[float, int]] = {}
        self.records: list[dict[str, Any]] = []
        self.metrics: list[Metric] = []
        self.sent: list[dict[str, Any]] = []
        self.closes: list[str] = []
        self.fired_twice: list[tuple[str, int]] = []
        self._fired: set[int] = set()
        self._token = 0

    def pump(self) -> None:
        for a in self.engine.actions():
            if isinstance(a, Connect):
                self.net.at(self.net.now + LAT, partial(self._connect, a.url))
            elif isinstance(a, FetchRoute):
                self.net.at(self.net.now + LAT, self._route)
            elif isinstance(a, SendFrame):
                self.sent.append(a.frame)
                if self.conn is not None:
                    self.net.at(self.net.now + LAT,
                                partial(self.server.receive, self.conn, a.frame))
            elif isinstance(a, Close):
                self.closes.append(a.reason)
                if self.conn is not None:
                    self.server.close(self.conn, a.reason, notify=False)
                    self.conn = None
            elif isinstance(a, SetTimer):
                self._token += 1
                self.timers[a.name] = (a.at, self._token)
                self.net.at(a.at, partial(self._fire, a.name, self._token))
            elif isinstance(a, CancelTimer):
                self.timers.pop(a.name, None)
            elif isinstance(a, Record):
                ev = a.event
                assert all(k in ev for k in EVENT_FIELDS[ev["ev"]]), ev
                self.records.append(ev)
            elif isinstance(a, Metric):
                self.metrics.append(a)
        # the driver contract: what the engine believes is set is what is set
        assert {k: v[0] for k, v in self.timers.items()} == self.engine.timers

    def _fire(self, name: str, token: int) -> None:
        if self.timers.get(name, (0, -1))[1] != token:
            return  # replaced or cancelled
        if token in self._fired:
            self.fired_twice.append((name, token))
        self._fired.add(token)
        del self.timers[name]
        self.engine.timer_fired(name, self.net.now)
        self.pump()

    def _route(self) -> None:
        urls = self.server.route()
        if urls is None:
            self.engine.route_failed(self.net.now, "connection refused")
        else:
            self.engine.route_received(self.net.now, urls)
        self.pump()

    def _connect(self, url: str) -> None:
        r = self.server.accept(self, url)
        if isinstance(r, SConn):
            self.conn = r
            self.engine.transport_open(self.net.now)
            if self.engine.state.value != "logging_in":  # gave up meanwhile: drop it
                self.server.close(r, "unused", notify=False)
                self.conn = None
        else:
            self.engine.transport_failed(self.net.now, r[0], r[1])
        self.pump()

    def deliver(self, c: SConn, frame: dict[str, Any]) -> None:
        if c is self.conn:
            self.engine.frame_received(dict(frame), self.net.now)
            self.pump()

    def server_closed(self, c: SConn, reason: str) -> None:
        if c is self.conn:
            self.conn = None
            self.engine.transport_closed(self.net.now, reason)
            self.pump()

    # --- conveniences for tests
    def start(self) -> None:
        self.engine.start(self.net.now)
        self.pump()

    def send(self, conv: str, body: str = "hello") -> str:
        cmid = self.engine.send_message(conv, body, self.net.now)
        self.pump()
        return cmid

    def op(self, kind: str, **args: Any) -> str:
        opid = self.engine.do_op(kind, args, self.net.now)
        self.pump()
        return opid

    def read(self, conv: str, upto: int | None = None) -> int | None:
        got = self.engine.mark_read(conv, self.net.now, upto)
        self.pump()
        return got

    def network(self, up: bool) -> None:
        self.engine.network_changed(up, self.net.now)
        self.pump()

    def stop(self) -> None:
        self.engine.stop(self.net.now)
        self.pump()

    def evs(self, kind: str, **match: Any) -> list[dict[str, Any]]:
        return [e for e in self.records
                if e["ev"] == kind and all(e.get(k) == v for k, v in match.items())]

    def frames(self, t: str) -> list[dict[str, Any]]:
        return [f for f in self.sent if f["t"] == t]


class World:
    def __init__(self, seed: int = 1, config: EngineConfig | None = None,
                 backoff: Backoff | None = None, urls: list[str] | None = None,
                 lbs: bool = False) -> None:
        self.net = Net()
        self.server = FakeServer(self.net)
        self.seed, self.config, self.backoff = seed, config, backoff
        self.urls = urls or URLS
        self.lbs = lbs

    def device(self, user: str, device: str = "d0", start: bool = True,
               config: EngineConfig | None = None) -> FakeDriver:
        eng = DeviceEngine(user, device, f"{user}/{device}", self.urls,
                           rng=random.Random(f"{self.seed}/{user}/{device}"),
                           backoff=self.backoff, config=config or self.config, lbs=self.lbs)
        d = FakeDriver(self.net, self.server, eng)
        if start:
            d.start()
        return d

    def run(self, dt: float = 1.0) -> None:
        self.net.run_for(dt)


def alice_online(**world: Any) -> tuple[World, FakeDriver]:
    """A ``World(**world)`` whose one device, alice's d0, has logged in and synced."""
    w = World(**world)
    a = w.device("alice")
    w.run()
    return w, a


def alice_and_bob(**world: Any) -> tuple[World, FakeDriver, FakeDriver]:
    """A ``World(**world)`` where alice's d0 and bob's d0 have logged in and synced."""
    w = World(**world)
    a, b = w.device("alice"), w.device("bob")
    w.run()
    return w, a, b
