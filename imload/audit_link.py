"""The audit's connection to a node: the device's adapter over a WebSocket or a TCP stream.

``dial`` opens what the adapter's ``transport`` asks for (asyncio: the audit syncs
many devices at once in one event loop): a WebSocket (websockets' client, with the
adapter's subprotocols; ``wss://`` trusting ``ca``) or a TCP stream (``tcp://``),
which ``AuditLink`` can upgrade to TLS when the adapter asks (STARTTLS). ``AuditLink``
turns the audit's requests (the engine's intents) into payloads and the server's
bytes into the engine's events, and writes what the adapter says by itself.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import connect

from imload.adapters import Adapter

CHUNK = 65536


def tls_context(ca: str | None) -> ssl.SSLContext:
    """A verifying client context trusting ``ca`` (a PEM file), else the system's CAs."""
    return ssl.create_default_context(cafile=ca)


class TcpStream:
    """A TCP connection with the two calls the audit uses of a WebSocket, and STARTTLS."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 host: str) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    async def send(self, data: bytes | str) -> None:
        self.writer.write(data if isinstance(data, bytes) else data.encode())
        await self.writer.drain()

    async def recv(self) -> bytes:
        data = await self.reader.read(CHUNK)
        if not data:
            raise ConnectionError("the server closed the connection")
        return data

    async def start_tls(self, ca: str | None) -> None:
        await self.writer.start_tls(tls_context(ca), server_hostname=self.host)

    def close(self) -> None:
        self.writer.close()


@asynccontextmanager
async def dial(url: str, adapter: Adapter, ca: str | None,
               timeout_s: float) -> AsyncIterator[Any]:
    """A connection to ``url`` for ``adapter``, closed on the way out."""
    if adapter.transport != "tcp":
        secure = urlsplit(url).scheme == "wss"
        async with connect(url, open_timeout=timeout_s, max_size=None, close_timeout=2,
                           subprotocols=list(adapter.subprotocols) or None,  # type: ignore
                           ssl=tls_context(ca) if secure else None) as ws:
            yield ws
        return
    parts = urlsplit(url)
    if parts.scheme not in ("tcp", "tls") or not parts.hostname or parts.port is None:
        raise ValueError(f"a byte-stream node url is tcp://host:port or tls://host:port, "
                         f"got {url!r}")
    tls = parts.scheme == "tls"  # TLS from the first byte (MQTT's 8883 style)
    reader, writer = await asyncio.wait_for(asyncio.open_connection(
        parts.hostname, parts.port, limit=CHUNK, ssl=tls_context(ca) if tls else None,
        server_hostname=parts.hostname if tls else None), timeout_s)
    stream = TcpStream(reader, writer, parts.hostname)
    try:
        yield stream
    finally:
        stream.close()


class AuditLink:
    """One audit connection: intents out and events in, through the device's adapter."""

    def __init__(self, conn: Any, adapter: Adapter, clock: Callable[[], float],
                 ca: str | None = None) -> None:
        self.conn, self.adapter, self.clock, self.ca = conn, adapter, clock, ca
        self.pending: list[dict[str, Any]] = []
        self._text = adapter.transport != "tcp" and not adapter.binary

    async def _write(self, payloads: Iterable[bytes]) -> None:
        for p in payloads:
            await self.conn.send(p.decode() if self._text else p)

    async def settle(self) -> None:
        """Write what the adapter wrote by itself, upgrade to TLS when it asks, and keep
        the events it made up for ``next_event``."""
        ad = self.adapter
        if ad.has_output:
            await self._write(ad.output())
        if ad.wants_tls:
            await self.conn.start_tls(self.ca)
            ad.tls_started()
            await self._write(ad.output())
        if ad.has_events:
            self.pending.extend(ad.events())

    async def send(self, frame: dict[str, Any]) -> None:
        await self._write(self.adapter.encode(frame, self.clock()))
        await self.settle()

    async def next_event(self) -> dict[str, Any]:
        while not self.pending:
            raw = await self.conn.recv()
            data = raw.encode() if isinstance(raw, str) else raw
            self.pending.extend(self.adapter.decode(data, self.clock()))
            await self.settle()
        return self.pending.pop(0)
