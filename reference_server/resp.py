"""A pipelined Redis connection for the hot path (the store's scripts), parsed by hiredis.

Every call writes its command at once and waits for its reply; replies come back in
order on one socket, so concurrent calls from many sessions share one round trip and,
with ``appendfsync always``, one fsync per batch (Redis fsyncs once per event-loop pass,
before it answers). This is the auto-pipelining of Lettuce or ioredis, done by hand:
redis-py takes a pooled connection per call, which costs the node most of its time.

Commands are executed in the order they were written, so a caller that writes several
with ``evalsha_nowait`` (no await in between them) has them applied in that order.
Every new connection loads the pipe's scripts first (``SCRIPT LOAD``, before any other
command), so an ``EVALSHA`` never meets a store that has not seen its script.

When the connection fails or a reply is late, every call waiting on it fails with
``StoreError`` (the caller answers ``internal``; the client retries with the same cmid or
opid) and the next call connects again. ``evalsha`` falls back to ``EVAL`` on
``NOSCRIPT`` (a restarted Redis has forgotten its scripts).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ssl
from collections import deque
from typing import Any
from urllib.parse import unquote, urlsplit

import hiredis

RedisAddress = tuple[str, int, bool, str | None, str | None, int]


def redis_address(url: str) -> RedisAddress:
    """(host, port, tls, user, password, db) of a ``redis://`` or ``rediss://`` URL."""
    parts = urlsplit(url)
    db = parts.path.strip("/")
    return (parts.hostname or "127.0.0.1", parts.port or 6379, parts.scheme == "rediss",
            unquote(parts.username) if parts.username else None,
            unquote(parts.password) if parts.password else None,
            int(db) if db.isdigit() else 0)


class StoreError(RuntimeError):
    """The store could not be reached or refused a request; the client may retry."""


def pack(args: tuple[Any, ...]) -> bytes:
    """One command in RESP (str, bytes, int or float arguments), packed by hiredis in C."""
    packed: bytes = hiredis.pack_command(args)
    return packed


class Script:
    """A Lua script and its SHA1, for ``RespPipe.evalsha``."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.sha = hashlib.sha1(text.encode()).hexdigest()


class RespPipe:
    """One pipelined connection to the Redis at ``url``, opened on first use."""

    def __init__(self, url: str, timeout_s: float = 3.0, connect_timeout_s: float = 2.0,
                 scripts: tuple[Script, ...] = ()) -> None:
        (self._host, self._port, self._ssl, self._user, self._password,
         self._db) = redis_address(url)
        self._timeout_s = timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._writer: asyncio.StreamWriter | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # futures of the calls written, in order, with the loop time each was made
        self._pending: deque[tuple[asyncio.Future[Any], float]] = deque()
        self._reader_task: asyncio.Task[None] | None = None
        self._watchdog_task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._outbox: list[bytes] = []  # commands of this loop pass, written in one go
        self._scripts = scripts  # loaded on every new connection, before anything else

    async def _connect(self) -> None:
        async with self._lock:
            if self._writer is not None:
                return
            ctx = ssl.create_default_context() if self._ssl else None
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self._host, self._port, ssl=ctx),
                    self._connect_timeout_s)
            except (OSError, TimeoutError) as e:
                raise StoreError(f"cannot connect to the store: {type(e).__name__}: {e}"
                                 ) from None
            self._loop = asyncio.get_running_loop()
            self._writer = writer
            self._reader_task = asyncio.create_task(self._read_loop(reader, writer))
            self._watchdog_task = asyncio.create_task(self._watchdog(writer))
            hello: list[tuple[Any, ...]] = []
            if self._password is not None:
                hello.append(("AUTH", self._user, self._password) if self._user
                             else ("AUTH", self._password))
            if self._db:
                hello.append(("SELECT", self._db))
            hello += [("SCRIPT", "LOAD", script.text) for script in self._scripts]
            # written before any other call's command (no await in between)
            answers = [(cmd[0], self._send(cmd)) for cmd in hello]
            try:
                for name, fut in answers:
                    reply = await fut
                    if isinstance(reply, hiredis.ReplyError):
                        self._lost(StoreError(f"store refused {name}: {reply}"))
                        raise StoreError(f"store refused {name}: {reply}")
            finally:  # one failed, so did the rest (_lost): they are not waited for
                for _, fut in answers:
                    if fut.done() and not fut.cancelled():
                        fut.exception()

    async def _read_loop(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        parser = hiredis.Reader(encoding="utf-8", errors="replace")
        error: Exception = StoreError("the store closed the connection")
        try:
            while True:
                data = await reader.read(262144)
                if not data:
                    break
                parser.feed(data)
                while (reply := parser.gets()) is not False:
                    fut = self._pending.popleft()[0]
                    if not fut.done():
                        fut.set_result(reply)
        except (OSError, hiredis.ProtocolError, IndexError) as e:
            error = StoreError(f"store connection failed: {type(e).__name__}: {e}")
        finally:
            if self._writer is writer:
                self._lost(error)

    def _lost(self, error: Exception) -> None:
        self._outbox.clear()
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.transport.abort()
        pending, self._pending = self._pending, deque()
        for fut, _ in pending:
            if not fut.done():
                fut.set_exception(error)

    async def _watchdog(self, writer: asyncio.StreamWriter) -> None:
        """Fail the connection when its oldest call waits longer than the timeout (a store
        that stopped answering without closing): one timer for all calls, not one each."""
        loop = asyncio.get_running_loop()
        while self._writer is writer:
            await asyncio.sleep(self._timeout_s / 4)
            if self._writer is writer and self._pending and \
                    loop.time() - self._pending[0][1] > self._timeout_s:
                self._lost(StoreError(f"the store did not answer in {self._timeout_s:g} s"))

    def _send(self, cmd: tuple[Any, ...]) -> asyncio.Future[Any]:
        assert self._writer is not None and self._loop is not None
        loop = self._loop  # the connection's loop (get_running_loop costs a getpid on 3.11)
        fut: asyncio.Future[Any] = loop.create_future()
        self._pending.append((fut, loop.time()))
        if not self._outbox:
            loop.call_soon(self._flush)
        self._outbox.append(pack(cmd))
        return fut

    def _flush(self) -> None:
        """Write the commands of this loop pass in one system call."""
        if self._outbox and self._writer is not None:
            self._writer.write(b"".join(self._outbox))
        self._outbox.clear()

    async def call(self, *cmd: Any) -> Any:
        """Send one command, return its reply (an error reply as ``hiredis.ReplyError``)."""
        if self._writer is None:
            await self._connect()
        return await self._send(cmd)

    @property
    def connected(self) -> bool:
        return self._writer is not None

    def evalsha_nowait(self, script: Script, keys: list[str], args: list[Any]
                       ) -> asyncio.Future[Any]:
        """Write ``EVALSHA`` now and return the future of its raw reply (an error reply as
        ``hiredis.ReplyError``); only while ``connected`` (else ``evalsha``, which connects)."""
        return self._send(("EVALSHA", script.sha, len(keys), *keys, *args))

    async def evalsha(self, script: Script, keys: list[str], args: list[Any]) -> Any:
        """Run ``script``; StoreError for an error reply."""
        reply = await self.call("EVALSHA", script.sha, len(keys), *keys, *args)
        if isinstance(reply, hiredis.ReplyError) and str(reply).startswith("NOSCRIPT"):
            reply = await self.call("EVAL", script.text, len(keys), *keys, *args)
        if isinstance(reply, hiredis.ReplyError):
            raise StoreError(f"the store refused a script: {reply}")
        return reply

    async def aclose(self) -> None:
        self._lost(StoreError("the store connection was closed"))
        for task in (self._reader_task, self._watchdog_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
