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
with 1008. Sends over the connection's rate (admission.py) are answered ``rate_limited``.
A client that stops reading while frames pile up for it (``--max-outbound``) is shed:
what was queued is dropped, ``error overloaded`` and a close with 4003 follow.
``read``/``reads`` live in reads.py, ``op``/``state`` in ops.py and groups.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from imload.protocol import (
    CLOSE_AUTH_FAILED,
    CLOSE_IDLE,
    CLOSE_OVERLOADED,
    CLOSE_REPLACED,
    CLOSE_TOO_MANY_BAD,
    FrameError,
    TokenError,
    decode_frame,
    is_valid_conv,
    validate_request,
    verify_token,
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
from reference_server.admission import TokenBucket
from reference_server.groups import MAX_STALE, members_of
from reference_server.opbatch import OpBatch
from reference_server.ops import handle_op, handle_state
from reference_server.outbox import Outbox
from reference_server.reads import handle_read, handle_reads
from reference_server.store import SendResult, StaleMembers, StoreError, push_channel
from reference_server.wsconn import send_texts

if TYPE_CHECKING:
    from reference_server.bugs import BugSet
    from reference_server.requests import Host
    from reference_server.store import Store

SYNC_DEFAULT_LIMIT = 200
SYNC_MAX_LIMIT = 1000
# a sync_batch's entries stop past this many bytes (at least one entry each): with a
# message at most MAX_FRAME_BYTES, a reply stays under the 1 MiB frame limit that many
# WebSocket clients keep by default (python websockets, browsers' proxies)
SYNC_MAX_BYTES = 512 * 1024
WRITE_BATCH = 64  # frames written to the socket together, at most


class Session:
    """The handling of one WebSocket connection, from connect to close."""

    def __init__(self, node: Host, ws: ServerConnection) -> None:
        self.node = node
        self.ws = ws
        self.log: logging.Logger = node.log
        self.peer = "%s:%s" % (ws.remote_address[:2] if ws.remote_address else ("?", "?"))
        self.user: str | None = None
        self.device: str | None = None
        self.gen: int | None = None  # login generation; None until the store answered
        self.bad_frames = 0
        self._ready = False  # login_ok sent: pushes go straight to the queue
        self._held: list[str | bytes] = []  # pushes that arrived before login_ok
        self._out = Outbox()  # everything sent to the client, drained by _write_loop
        self._closing = False
        self._waiting_since = 0.0  # loop time the read loop began waiting for a frame
        self._opened = 0.0  # loop time the read loop started (the login deadline's start)
        self._idle_timer: asyncio.TimerHandle | None = None
        config = node.config
        self.sends = TokenBucket(config.send_rate, config.send_burst)
        self.inflight = inflight.Inflight(self)  # pipelined store calls
        self._pipelined = not config.bugs  # bug modes keep the one-at-a-time path
        self._depth = inflight.depth(config.max_outbound)
        self.op_batch = OpBatch(self) if config.bugs.has("op-reorder") else None
        self._handlers: dict[str, Callable[[dict[str, Any]], Awaitable[None]]] = {
            "login": self._login, "send": self._send, "ack": self._ack,
            "sync": self._sync, "ping": self._ping,
            "read": lambda f: handle_read(self, f), "reads": lambda f: handle_reads(self, f),
            "op": lambda f: handle_op(self, f), "state": lambda f: handle_state(self, f),
        }

    def __repr__(self) -> str:
        return f"<Session {self.user}/{self.device} gen={self.gen} peer={self.peer}>"

    # -- outbound --------------------------------------------------------------------------

    def reply(self, frame: dict[str, Any]) -> None:
        self._enqueue(orjson.dumps(frame))  # UTF-8 JSON, sent as a text frame as it is

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
        if len(self._out) >= config.max_outbound or self._out.size >= config.max_outbound_bytes:
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
            texts, close = await self._out.take(WRITE_BATCH)
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
        if self.gen is not None and self.gen < gen:
            self.close_soon(CLOSE_REPLACED, "replaced by a newer login of this device")

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
        # The idle close: one timer per connection that re-arms itself while frames come
        # (cheaper than a timeout around every recv); it closes the connection, which ends
        # the recv below.
        loop = asyncio.get_running_loop()
        self._waiting_since = self._opened = loop.time()
        config = self.node.config
        self._idle_timer = loop.call_at(
            self._opened + min(config.idle_timeout_s, config.login_timeout_s),
            self._idle_check)
        try:
            while not self._closing:
                try:
                    data = await self.ws.recv()
                except ConnectionClosed:
                    return
                if self._closing:
                    return
                self._waiting_since = math.inf  # handling: the idle clock stops
                await self._handle(data)
                self._waiting_since = loop.time()
        finally:
            if self._idle_timer is not None:
                self._idle_timer.cancel()
                self._idle_timer = None

    def _idle_check(self) -> None:
        """Close with 4004 after ``idle_timeout_s`` of waiting for a frame, or when the
        connection has not logged in ``login_timeout_s`` after it opened; else re-arm."""
        loop = asyncio.get_running_loop()
        config = self.node.config
        idle_s, login_s = config.idle_timeout_s, config.login_timeout_s
        now = loop.time()
        if self.user is None and not self._closing and not config.bugs.has("no-login-deadline"):
            if self._opened + login_s <= now:
                self.close_soon(CLOSE_IDLE, f"no login within {login_s:g} s")
                return
        due = self._waiting_since + idle_s
        if due <= now:
            self.close_soon(CLOSE_IDLE, f"no frame for {idle_s:g} s")
            return
        if self.user is None:
            due = min(due, self._opened + login_s)
        self._idle_timer = loop.call_at(min(due, now + idle_s), self._idle_check)

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
            await self._handlers[t](frame)
        except FrameError as e:
            self.bad(e.code, e.msg, e.rid)
        except StoreError as e:
            self.store_failed(t, rid, e)
        except Exception:
            self.log.exception("internal error handling %s of user=%s", t, self.user)
            self.internal_error(rid)

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

    async def _login(self, frame: dict[str, Any]) -> None:
        rid = frame["rid"]
        if self.user is not None:
            self.bad(BAD_FRAME, "login: already logged in on this connection", rid)
            return
        try:
            user, device = verify_token(self.node.config.secret, frame["token"]) \
                if not self.node.config.bugs.has("alg-none") else unsigned_or_verified(
                    self.node.config.secret, frame["token"])
        except TokenError as e:
            self.log.info("auth failed peer=%s: %s", self.peer, e)
            self.error(UNAUTHENTICATED, str(e), rid)
            self.close_soon(CLOSE_AUTH_FAILED, "authentication failed")
            return
        channel = push_channel(user)
        await self.node.fanin.acquire(channel)  # before reading the inbox: no push is missed
        self.user, self.device = user, device
        self.node.register(self)
        try:
            state = await self.node.store.login(user, device)
        except BaseException:
            self.node.unregister(self)
            self.user = self.device = None
            self._held.clear()
            raise
        self.gen = state.gen
        self.node.login_done(self)
        self.reply({"t": "login_ok", "rid": rid, "user": user, "device": device,
                    "node": self.node.config.node_id, "server_ts": self.now_ms(),
                    "hb_ms": self.node.config.hb_ms, "inbox_seq": state.inbox_seq,
                    "acked": state.acked})
        self._ready = True
        held, self._held = self._held, []
        for text in held:
            self._enqueue(text)
        self.log.info("login peer=%s user=%s device=%s gen=%d inbox_seq=%d acked=%d",
                      self.peer, user, device, state.gen, state.inbox_seq, state.acked)

    async def _send(self, frame: dict[str, Any]) -> None:
        rid, conv = frame["rid"], frame["conv"]
        assert self.user is not None and self.device is not None
        if not self.sends.take():
            wait_ms = max(1, int(self.sends.wait_s() * 1000 + 0.999))
            self.error(RATE_LIMITED, f"send: over {self.sends.rate:g} sends/s on this "
                       "connection", rid, retry_after_ms=wait_ms)
            return
        if not is_valid_conv(conv):
            self.bad(BAD_FRAME, f"send: {conv!r} is not a conversation (d:a:b or g:name)", rid)
            return
        bugs = self.node.config.bugs
        store = self.node.store
        for _ in range(MAX_STALE):
            members, ver = await members_of(store, conv)
            if self.user not in members:
                self.error(FORBIDDEN, f"send: {self.user} is not a member of {conv}", rid)
                return
            seq = None
            if bugs.has("racy-seq"):  # read, await, write: not atomic (the bug)
                seq = await store.conv_seq(conv) + 1
                await asyncio.sleep(0.005)
                await store.set_conv_seq(conv, seq)
            if self.node.member_cache is not None:  # stale-members: recent joins left out
                members = self.node.member_cache.fanout(conv, members)
            try:
                res = await store.send(self.user, self.device, frame["cmid"], conv, members,
                                       frame["body"], frame.get("ts"), self.now_ms(), ver=ver,
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

    def send_ack(self, rid: int, cmid: str, res: SendResult) -> None:
        self.reply({"t": "send_ack", "rid": rid, "cmid": cmid, "mid": res.mid,
                    "conv": res.conv, "seq": res.seq, "server_ts": res.server_ts,
                    "dup": res.dup})

    async def _ack(self, frame: dict[str, Any]) -> None:
        assert self.user is not None and self.device is not None
        await self.node.store.ack(self.user, self.device, frame["upto"])

    async def _sync(self, frame: dict[str, Any]) -> None:
        assert self.user is not None
        rid = frame["rid"]
        limit = frame.get("limit", SYNC_DEFAULT_LIMIT)
        if limit < 1:
            self.bad(BAD_FRAME, "sync: field 'limit' must be at least 1", rid)
            return
        limit = min(limit, SYNC_MAX_LIMIT)
        after = max(frame["after"], 0)
        batch = await self.node.store.sync(
            self.user, after, limit,
            None if self.node.config.bugs.has("unbounded-sync") else SYNC_MAX_BYTES)
        # The entries are stored JSON: splice them in rather than decode and encode again.
        more = "true" if batch.more else "false"
        self._enqueue(f'{{"t":"sync_batch","rid":{rid},"msgs":[{",".join(batch.entries)}],'
                      f'"upto":{batch.upto},"more":{more}}}')

    async def _ping(self, frame: dict[str, Any]) -> None:
        pong: dict[str, Any] = {"t": "pong", "rid": frame["rid"]}
        if "ts" in frame:
            pong["ts"] = frame["ts"]
        pong["server_ts"] = self.now_ms()
        self.reply(pong)


def unsigned_or_verified(secret: str, token: object) -> tuple[str, str]:
    """The alg-none bug mode's token check: a token whose header says alg none is taken
    without a signature; any other is verified as usual."""
    import jwt
    try:
        if isinstance(token, str) and jwt.get_unverified_header(token).get("alg") == "none":
            claims = jwt.decode(token, options={"verify_signature": False})
            return str(claims["sub"]), str(claims["dev"])
    except (jwt.InvalidTokenError, KeyError) as e:
        raise TokenError(f"invalid token: {e}") from e
    return verify_token(secret, token)

