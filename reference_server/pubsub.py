"""The node's one Redis pub/sub connection (its fan-in), subscribed to the push channel of
every user with a local session.

It speaks RESP itself over one asyncio stream (parsed by hiredis, a chunk at a time) so
that nothing reconnects behind its back:
when the connection fails, every waiting ``acquire`` fails, and ``run`` reconnects with
backoff and subscribes again to every channel still in use. A ``PING`` every few seconds
finds a store that went away without closing the socket.

``acquire(channel)`` returns once Redis confirmed the subscription, so a caller that
reads the store afterwards misses no publication. Subscribe and unsubscribe commands are
written synchronously (no await between deciding and writing), so Redis sees them in the
order of the reference counts, and confirmations come back in that order per channel.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import hiredis

from reference_server.resp import StoreError, redis_address

# Handles one message at once; returns None, or an awaitable to finish it (the next
# message waits for it): the common case costs no coroutine.
OnMessage = Callable[[str, bytes], Awaitable[None] | None]


@dataclass
class _Channel:
    refs: int = 0  # local sessions that need this channel
    inflight: int = 0  # (un)subscribe commands sent on this connection, not yet confirmed
    waiters: list[asyncio.Future[None]] = field(default_factory=list)


def _encode(*args: str) -> bytes:
    out = [f"*{len(args)}\r\n".encode()]
    for a in args:
        b = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class Fanin:
    """Subscriptions of one node, with reconnection; calls ``on_message(channel, data)``."""

    def __init__(self, url: str, on_message: OnMessage, log: logging.Logger,
                 ping_s: float = 3.0, confirm_timeout_s: float = 3.0) -> None:
        self._host, self._port, self._ssl, self._user, self._password, _ = redis_address(url)
        self._on_message = on_message
        self._log = log
        self._ping_s = ping_s
        self._confirm_timeout_s = confirm_timeout_s
        self._channels: dict[str, _Channel] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._connected = asyncio.Event()
        self._closed = False

    @property
    def connected(self) -> bool:
        return self._writer is not None

    async def wait_connected(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
            return True
        except TimeoutError:
            return False

    # -- subscriptions -------------------------------------------------------------------

    async def acquire(self, channel: str) -> None:
        """Hold a subscription to ``channel``; return once Redis confirmed it."""
        if self._writer is None:
            raise StoreError("store pub/sub is not connected")
        ch = self._channels.setdefault(channel, _Channel())
        ch.refs += 1
        try:
            if ch.refs == 1:
                ch.inflight += 1
                self._writer.write(_encode("SUBSCRIBE", channel))
            if ch.inflight:
                fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                ch.waiters.append(fut)
                try:
                    await asyncio.wait_for(fut, self._confirm_timeout_s)
                except TimeoutError:
                    raise StoreError("store did not confirm a subscription in time") from None
        except BaseException:
            self.release(channel)
            raise

    def release(self, channel: str) -> None:
        """Drop one hold on ``channel``; unsubscribe when nobody holds it."""
        ch = self._channels.get(channel)
        if ch is None or ch.refs <= 0:
            return
        ch.refs -= 1
        if ch.refs == 0:
            if self._writer is not None:
                ch.inflight += 1
                self._writer.write(_encode("UNSUBSCRIBE", channel))
            elif ch.inflight == 0:
                del self._channels[channel]

    def _confirmed(self, channel: str) -> None:
        ch = self._channels.get(channel)
        if ch is None:
            return
        ch.inflight = max(0, ch.inflight - 1)
        if ch.inflight:
            return
        if ch.refs > 0:
            waiters, ch.waiters = ch.waiters, []
            for w in waiters:
                if not w.done():
                    w.set_result(None)
        else:
            del self._channels[channel]

    def _lost(self) -> None:
        self._writer = None
        self._connected.clear()
        for name, ch in list(self._channels.items()):
            ch.inflight = 0
            waiters, ch.waiters = ch.waiters, []
            for w in waiters:
                if not w.done():
                    w.set_exception(StoreError("store pub/sub connection lost"))
            if ch.refs <= 0:
                del self._channels[name]

    # -- the connection ------------------------------------------------------------------

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter,
                                      hiredis.Reader]:
        ctx = ssl.create_default_context() if self._ssl else None
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self._host, self._port, ssl=ctx), 2.0)
        parser = hiredis.Reader()
        if self._password is not None:
            auth = ["AUTH", self._user, self._password] if self._user else \
                ["AUTH", self._password]
            writer.write(_encode(*auth))
            async with asyncio.timeout(2.0):
                while (reply := parser.gets()) is False:
                    data = await reader.read(4096)
                    if not data:
                        raise ConnectionError("the store closed the pub/sub connection")
                    parser.feed(data)
            if isinstance(reply, hiredis.ReplyError):
                raise ConnectionError(f"the store refused AUTH: {reply}")
        return reader, writer, parser

    async def run(self) -> None:
        """Keep the connection up and dispatch messages until ``close``."""
        backoff = 0.05
        down_logged = False
        while not self._closed:
            writer: asyncio.StreamWriter | None = None
            try:
                reader, writer, parser = await self._connect()
                self._writer = writer
                active = [name for name, ch in self._channels.items() if ch.refs > 0]
                for name in active:
                    self._channels[name].inflight = 1
                for i in range(0, len(active), 500):
                    writer.write(_encode("SUBSCRIBE", *active[i:i + 500]))
                self._connected.set()
                if down_logged:
                    self._log.info("store pub/sub reconnected, %d channels", len(active))
                down_logged = False
                backoff = 0.05
                await self._pump(reader, writer, parser)
            except (OSError, ConnectionError, TimeoutError, hiredis.ProtocolError,
                    ValueError) as e:
                if not down_logged and not self._closed:
                    self._log.warning("store pub/sub down: %s: %s", type(e).__name__, e)
                    down_logged = True
            finally:
                self._lost()
                if writer is not None:
                    writer.close()
            if not self._closed:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 0.5)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    parser: hiredis.Reader) -> None:
        heard = asyncio.get_running_loop().time()

        async def pinger() -> None:
            while True:
                await asyncio.sleep(self._ping_s)
                if asyncio.get_running_loop().time() - heard > 2 * self._ping_s:
                    self._log.warning("store pub/sub silent for %.0f s, reconnecting",
                                      2 * self._ping_s)
                    writer.transport.abort()
                    return
                writer.write(_encode("PING"))

        ping_task = asyncio.create_task(pinger())
        try:
            while True:
                data = await reader.read(262144)
                if not data:
                    raise ConnectionError("the store closed the pub/sub connection")
                heard = asyncio.get_running_loop().time()
                parser.feed(data)
                while (reply := parser.gets()) is not False:
                    if isinstance(reply, hiredis.ReplyError):
                        raise ConnectionError(f"the store answered an error: {reply}")
                    if not isinstance(reply, list) or len(reply) < 2:
                        continue
                    kind = reply[0]
                    if kind == b"message" and len(reply) == 3:
                        channel, payload = reply[1], reply[2]
                        if isinstance(channel, bytes) and isinstance(payload, bytes):
                            name = channel.decode()
                            pending = self._dispatch(name, payload)
                            if pending is not None:
                                await self._finish(name, pending)
                    elif kind in (b"subscribe", b"unsubscribe") and isinstance(reply[1],
                                                                                bytes):
                        self._confirmed(reply[1].decode())
        finally:
            ping_task.cancel()

    def _dispatch(self, channel: str, data: bytes) -> Awaitable[None] | None:
        try:
            return self._on_message(channel, data)
        except Exception:
            self._log.exception("failed to dispatch a message of %s", channel)
            return None

    async def _finish(self, channel: str, pending: Awaitable[None]) -> None:
        try:
            await pending
        except Exception:
            self._log.exception("failed to dispatch a message of %s", channel)

    async def close(self) -> None:
        self._closed = True
        if self._writer is not None:
            self._writer.transport.abort()
