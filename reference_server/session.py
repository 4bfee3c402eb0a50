"""One client connection: the protocol v1 state machine of a device on this node.

Frames are handled one at a time in arrival order (so sends of one connection are
sequenced in frame order); a ``send`` to a direct conversation and an ``ack`` do not
wait for the store's answer before the next frame is handled: their scripts are
pipelined, applied and answered in frame order (inflight.py). Everything the node sends
to the client, replies and pushes alike, goes through one outbound queue drained by a
writer task. Pushes that arrive while the login is being completed are held and sent
right after ``login_ok``.

Bad frames (``bad_frame``, ``unknown_type``, and any request before ``login``) are
answered with an ``error`` and counted; above ``max_bad_frames`` the connection is closed
with 1008. A request over its user's or device's limit (limits.py), or a group message
over its sender's fan-out budget (fanout.py), is answered ``rate_limited`` and not applied.
A client that stops reading while frames pile up for it (``--max-outbound``) is shed:
what was queued is dropped, ``error overloaded`` and a close with 4003 follow.
``login`` lives in login.py, ``sync`` in sync.py, ``read``/``reads`` in reads.py,
``op``/``state`` in ops.py and groups.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from imload.protocol import (
    CLOSE_OVERLOADED,
    CLOSE_REPLACED,
    CLOSE_TOO_MANY_BAD,
    FrameError,
    decode_frame,
    is_valid_conv,
    is_valid_name,
    validate_request,
)
from imload.protocol.frames import (
    BAD_FRAME,
    FORBIDDEN,
    INTERNAL,
    OVERLOADED,
    RATE_LIMITED,
    UNAUTHENTICATED,
)
from reference_server import inflight
from reference_server.bugs import tampered
from reference_server.client_address import forwarded_for, name_peer
from reference_server.deadline import Deadline
from reference_server.groups import MAX_STALE, members_of
from reference_server.limits import Limiter, refusal
from reference_server.login import handle_login
from reference_server.opbatch import OpBatch
from reference_server.ops import handle_op, handle_state
from reference_server.outbox import Outbox
from reference_server.reads import handle_read, handle_reads
from reference_server.store import RateLimited, SendResult, StaleMembers, StoreError
from reference_server.sync import handle_sync
from reference_server.wsconn import send_texts

if TYPE_CHECKING:
    from reference_server.bugs import BugSet
    from reference_server.requests import Host
    from reference_server.store import Store

WRITE_BATCH = 64  # frames written to the socket together, at most
DRAWN_IN_HANDLER = frozenset({"login", "sync"})  # limited per address; drawn while read
WRITE_BATCH_BYTES = 256 * 1024  # and no frame past this many bytes (at least one)


class Session:
    """The handling of one WebSocket connection, from connect to close."""

    def __init__(self, node: Host, ws: ServerConnection) -> None:
        self.node = node
        self.ws = ws
        self.log: logging.Logger = node.log
        # "host:port", or "client via host:port" behind a trusted proxy (client_address.py)
        proxies = node.config.trusted_proxies
        self.peer, self.addr = name_peer(ws.remote_address, forwarded_for(ws.request, proxies),
                                         proxies)
        self.user: str | None = None
        self.device: str | None = None
        self.gen: int | None = None  # login generation; None until the store answered
        self.bad_frames = 0
        self._ready = False  # login_ok sent: pushes go straight to the queue
        self._held: list[str | bytes] = []  # pushes that arrived before login_ok
        self._out = Outbox()  # everything sent to the client, drained by _write_loop
        self._closing = False
        config = node.config
        self._deadline = Deadline(self, config)  # the idle close and the login deadline
        self.limits = Limiter(config, node.store)  # per user and device (limits.py)
        self.group_rules = node.group_rules  # consent, owner, size, fan-out budget
        self.inflight = inflight.Inflight(self)  # pipelined store calls
        self._pipelined = not config.bugs  # bug modes keep the one-at-a-time path
        self._depth = inflight.depth(config.max_outbound)
        self.op_batch = OpBatch(self) if config.bugs.has("op-reorder") else None
        self._handlers: dict[str, Callable[[dict[str, Any]], Awaitable[None]]] = {
            "login": lambda f: handle_login(self, f), "send": self._send, "ack": self._ack,
            "sync": lambda f: handle_sync(self, f), "ping": self._ping,
            "read": lambda f: handle_read(self, f), "reads": lambda f: handle_reads(self, f),
            "op": lambda f: handle_op(self, f), "state": lambda f: handle_state(self, f),
        }

    def __repr__(self) -> str:
        return f"<Session {self.user}/{self.device} gen={self.gen} peer={self.peer}>"

    # -- outbound --------------------------------------------------------------------------

    def reply(self, frame: dict[str, Any]) -> None:
        self._enqueue(orjson.dumps(frame))  # UTF-8 JSON, sent as a text frame as it is

    def reply_text(self, text: str) -> None:
        """A reply already encoded (a sync_batch spliced from stored entries)."""
        self._enqueue(text)

    def error(self, code: str, msg: str, rid: int | None = None, **extra: Any) -> None:
        frame: dict[str, Any] = {"t": "error", "code": code, "msg": msg}
        if rid is not None:
            frame["rid"] = rid
        frame.update(extra)
        self.reply(frame)

    def now_ms(self) -> int:
        """The node's clock (``requests.NodeClock``)."""
        return self.node.clock.now_ms()

    @property
    def store(self) -> Store:
        return self.node.store

    @property
    def bugs(self) -> BugSet:
        return self.node.config.bugs

    def push(self, text: str | bytes) -> None:
        """A push (already encoded) for this device."""
        if self._ready:
            self._enqueue(text)
        else:
            self._held.append(text)

    def _enqueue(self, text: str | bytes) -> None:
        if self._closing:
            return
        config = self.node.config
        if (len(self._out) >= config.max_outbound or self._out.size >= config.max_outbound_bytes
                ) and not self.bugs.has("unbounded-outbound"):
            # The writer is stuck on a client that does not read: drop what is queued; the
            # client gets overloaded and 4003 if it ever reads again, else the idle close.
            self.log.warning("%r does not read: %d frames (%d bytes) queued, shedding it "
                             "with 4003", self, len(self._out), self._out.size)
            self._closing = True
            self._out.clear()
            self._out.put(orjson.dumps({
                "t": "error", "code": OVERLOADED,
                "msg": "the node sheds this connection: frames piled up unread"}))
            self._out.put((CLOSE_OVERLOADED, "too many frames queued"))
            return
        self._out.put(text)

    async def _write_loop(self) -> None:
        ws = self.ws
        while True:
            texts, close = await self._out.take(WRITE_BATCH, WRITE_BATCH_BYTES)
            if texts:
                await send_texts(ws, texts)  # together, in one write
            if close is not None:
                await ws.close(*close)
                return

    def close_soon(self, code: int, reason: str) -> None:
        """Close the connection, from any task, once the frames already queued are sent."""
        if self._closing:
            return
        self._closing = True
        self._out.put((code, reason))

    def replace(self, gen: int) -> None:
        """A newer login (generation ``gen``) of this device took over: close with 4001."""
        if self.gen is not None and self.gen < gen and not self.bugs.has("no-takeover"):
            self.close_soon(CLOSE_REPLACED, "replaced by a newer login of this device")

    def bind(self, user: str, device: str) -> None:
        """The login's token named the user and device (login.py): index the session."""
        self.user, self.device = user, device
        self.limits.bind(user, device)
        self.node.register(self)

    def unbind(self) -> None:
        """The store failed the login: undo ``bind``."""
        self.node.unregister(self)
        self.user = self.device = None
        self._held.clear()

    def ready(self) -> None:
        """``login_ok`` is queued: pushes go straight out, those held meanwhile first."""
        self._ready = True
        held, self._held = self._held, []
        for text in held:
            self._enqueue(text)

    # -- the connection's life -------------------------------------------------------------

    async def run(self) -> None:
        self.log.info("connect peer=%s", self.peer)
        writer = asyncio.create_task(self._write_loop())
        try:
            await self._read_loop()
            if self.op_batch is not None:
                await self.op_batch.drain()  # ops read before the close still apply
        finally:
            if self.op_batch is not None:
                self.op_batch.cancel()
            self.node.unregister(self)
            if self._closing and not writer.done():
                # the close this side asked for goes out after the frames queued before it
                with contextlib.suppress(TimeoutError, ConnectionClosed):
                    await asyncio.wait_for(asyncio.shield(writer), 2.0)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await writer
            self.log.info("close peer=%s user=%s device=%s code=%s reason=%r",
                          self.peer, self.user, self.device, self.ws.close_code,
                          self.ws.close_reason or "")

    async def _read_loop(self) -> None:
        self._deadline.start()
        try:
            while not self._closing:
                try:
                    data = await self.ws.recv()
                except ConnectionClosed:
                    return
                if self._closing:
                    return
                self._deadline.busy()
                await self._handle(data)
                self._deadline.waiting()
        finally:
            self._deadline.stop()

    async def _handle(self, data: str | bytes) -> None:
        try:
            frame = decode_frame(data)
            validate_request(frame)
        except FrameError as e:
            if self.inflight:
                await self.inflight.drain()
            self.bad(e.code, e.msg, e.rid)
            return
        t = frame["t"]
        if self._pipelined and self.user is not None and t in inflight.PIPELINED:
            if len(self.inflight) >= self._depth:
                await self.inflight.drain(self._depth - 1)
            if inflight.start(self, frame):
                return  # written to the store; answered in frame order (inflight.py)
        if self.inflight:
            await self.inflight.drain()
        if self.op_batch is not None and await self.op_batch.take(frame):
            return  # the op-reorder bug mode: applied later, newest first (opbatch.py)
        await self.dispatch(frame)

    async def dispatch(self, frame: dict[str, Any]) -> None:
        """Handle a valid frame to the end, answering what goes wrong."""
        t, rid = frame["t"], frame.get("rid")
        if self.user is None and t != "login":
            self.bad(UNAUTHENTICATED, f"{t}: log in first", rid)
            return
        try:
            if t not in DRAWN_IN_HANDLER:
                await self.limits.take(t)  # RateLimited: not applied
            if self.bugs.has("frame-user") and t != "login" and is_valid_name(frame.get("user")):
                await self._as_frame_user(frame)
            else:
                await self._handlers[t](frame)
        except FrameError as e:
            self.bad(e.code, e.msg, e.rid)
        except RateLimited as e:
            self.rate_limited(t, rid, e)
        except StoreError as e:
            self.store_failed(t, rid, e)
        except Exception:
            self.log.exception("internal error handling %s of user=%s", t, self.user)
            self.internal_error(rid)

    async def _as_frame_user(self, frame: dict[str, Any]) -> None:
        """The frame-user bug mode: the frame's ``user`` field acts, not the token's user."""
        own, self.user = self.user, frame["user"]
        try:
            await self._handlers[frame["t"]](frame)
        finally:
            self.user = own

    def rate_limited(self, t: str, rid: int | None, e: RateLimited) -> None:
        """Answer a request over its limit (limits.py): it was not applied."""
        self.error(RATE_LIMITED, refusal(t, e), rid, retry_after_ms=e.wait_ms)

    def store_failed(self, t: str, rid: int | None, e: StoreError) -> None:
        """Answer a request whose store call failed: the client retries it."""
        self.log.warning("store error user=%s t=%s: %s", self.user, t, e)
        self.error(INTERNAL, "the store failed; retry (with the same cmid)", rid)

    def internal_error(self, rid: int | None) -> None:
        self.error(INTERNAL, "internal error", rid)

    def bad(self, code: str, msg: str, rid: int | None) -> None:
        """Answer a bad frame with an error and count it (1008 above the limit)."""
        self.bad_frames += 1
        self.log.info("bad frame peer=%s user=%s: %s: %.200s", self.peer, self.user, code, msg)
        self.error(code, msg, rid)
        if self.bad_frames > self.node.config.max_bad_frames:
            self.close_soon(CLOSE_TOO_MANY_BAD, f"more than {self.node.config.max_bad_frames} "
                            "bad frames")

    # -- requests --------------------------------------------------------------------------

    async def _send(self, frame: dict[str, Any]) -> None:
        rid, conv = frame["rid"], frame["conv"]
        assert self.user is not None and self.device is not None
        if not is_valid_conv(conv):
            self.bad(BAD_FRAME, f"send: {conv!r} is not a conversation (d:a:b or g:name)", rid)
            return
        bugs = self.node.config.bugs
        store = self.node.store
        charged = False
        for _ in range(MAX_STALE):
            members, ver = await members_of(store, conv)
            if self.user not in members and not bugs.has("open-conversations"):
                self.error(FORBIDDEN, f"send: {self.user} is not a member of {conv}", rid)
                return
            seq = None
            if bugs.has("racy-seq"):  # read, await, write: not atomic (the bug)
                seq = await store.conv_seq(conv) + 1
                await asyncio.sleep(0.005)
                await store.set_conv_seq(conv, seq)
            if self.node.member_cache is not None:  # stale-members: recent joins left out
                members = self.node.member_cache.fanout(conv, members)
            if ver and not charged:  # a group message: its fan-out budget (fanout.py)
                if await self._over_fanout(rid, len(members)):
                    return
                charged = True
            try:
                body = tampered(frame["body"]) if bugs.has("tamper-body") else frame["body"]
                res = await store.send(self.user, self.device, frame["cmid"], conv, members,
                                       body, frame.get("ts"), self.now_ms(), ver=ver,
                                       dedup=not bugs.has("no-dedup"), seq=seq)
                break
            except StaleMembers:
                continue
        else:
            raise StoreError(f"the members of {conv} kept changing; retry the send")
        if bugs.has("no-dedup") and self.node.bug_rng.random() < 0.01:
            self.log.info("no-dedup: dropping the send_ack of %s/%s", self.user, frame["cmid"])
            return
        self.send_ack(rid, frame["cmid"], res)

    async def _over_fanout(self, rid: int, writes: int) -> bool:
        """Draw a group message's ``writes`` from the sender's fan-out budget; True when
        over it (answered ``rate_limited``)."""
        assert self.user is not None
        fanout = self.group_rules.fanout
        wait_ms = await fanout.charge(self.node.store, self.user, writes)
        if wait_ms:
            self.error(RATE_LIMITED, f"send: {fanout.refusal(writes)}", rid,
                       retry_after_ms=wait_ms)
        return bool(wait_ms)

    def send_ack(self, rid: int, cmid: str, res: SendResult) -> None:
        self.reply({"t": "send_ack", "rid": rid, "cmid": cmid, "mid": res.mid,
                    "conv": res.conv, "seq": res.seq, "server_ts": res.server_ts,
                    "dup": res.dup})

    async def _ack(self, frame: dict[str, Any]) -> None:
        assert self.user is not None and self.device is not None
        await self.node.store.ack(self.user, self.device, frame["upto"])

    async def _ping(self, frame: dict[str, Any]) -> None:
        self.reply(inflight.pong(frame, self.now_ms()))

