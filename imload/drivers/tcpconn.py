"""A plain TCP connection shaped like the driver's WebSocket, for byte-stream protocols.

An adapter whose ``transport`` is ``"tcp"`` (XMPP over TCP: ``imload/adapters/xmpp/
tcp.py``, MQTT) has its node urls as ``tcp://host:port``, or ``tls://host:port`` for TLS
from the first byte (MQTT's 8883 style). ``open_tcp`` dials one with
gevent's socket and returns a ``TcpConnection``, which offers the few things the
driver (``gevent_ws.py``) uses of a WebSocket: ``sock`` (a reader whose ``fill``
blocks for the next chunk and whose ``next_message`` hands each chunk out once, as a
"text message": the adapter frames the stream itself), ``shutdown``, and no-op
``send_close`` / ``pong`` (a stream has no close frame; the adapter writes its own
end of stream). ``start_tls`` upgrades the socket in place (STARTTLS), trusting
``ca`` (the target's) or the system's CAs.
"""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit

import gevent.socket

from imload.drivers.buffered import OP_TEXT, SocketReader
from imload.drivers.wsopen import client_context


class StreamReader(SocketReader):
    """``fill`` / ``fill_ready`` (``buffered.SocketReader``) and ``next_message`` over a
    plain socket: every chunk is one message."""

    __slots__ = ("_chunk",)

    def __init__(self, sock: Any) -> None:
        self._chunk: bytes | None = None
        self.rewrap(sock)

    @property
    def pending(self) -> int:
        return len(self._chunk or b"")

    def _keep(self, data: bytes) -> None:
        self._chunk = data if self._chunk is None else self._chunk + data

    def next_message(self) -> tuple[int, bytes] | None:
        chunk, self._chunk = self._chunk, None
        return None if chunk is None else (OP_TEXT, chunk)


class TcpConnection:
    """One TCP connection to a node; see the module docstring."""

    def __init__(self, sock: Any, host: str) -> None:
        self.sock = StreamReader(sock)
        self.host = host

    def start_tls(self, ca: str | None, timeout_s: float) -> None:
        """Upgrade to TLS (the handshake happens here, within ``timeout_s``)."""
        ctx = client_context(ca)
        raw = self.sock.wrapped
        raw.settimeout(timeout_s)
        self.sock.rewrap(ctx.wrap_socket(raw, server_hostname=self.host))

    def send_close(self, *args: Any) -> None:
        """A stream has no close frame: the adapter wrote its end of stream already."""

    def pong(self, data: bytes) -> None:
        """No ping frames on a plain stream."""

    def shutdown(self) -> None:
        try:
            self.sock.wrapped.close()
        except OSError:
            pass


def open_tcp(url: str, *, connect_timeout_s: float = 5.0, io_timeout_s: float = 10.0,
             ca: str | None = None) -> TcpConnection:
    """A connected ``TcpConnection`` to ``tcp://host:port``, or over TLS from the first
    byte to ``tls://host:port`` (MQTT's 8883 style), trusting ``ca`` (else the system's
    CAs)."""
    parts = urlsplit(url)
    if parts.scheme not in ("tcp", "tls") or not parts.hostname or parts.port is None:
        raise ValueError(f"a byte-stream node url is tcp://host:port or tls://host:port, "
                         f"got {url!r}")
    sock = gevent.socket.create_connection((parts.hostname, parts.port),
                                           timeout=connect_timeout_s)
    sock.settimeout(io_timeout_s)  # bounds writes; the driver bounds reads itself
    # a chat client writes small packets and waits for their answers: no Nagle delay
    # (with the peer's delayed ACK it costs ~40 ms per round trip), as websocket-client
    # does for the WebSocket adapters
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn = TcpConnection(sock, parts.hostname)
    if parts.scheme == "tls":
        try:
            conn.start_tls(ca, connect_timeout_s)
        except BaseException:
            conn.shutdown()
            raise
        conn.sock.wrapped.settimeout(io_timeout_s)
    return conn


def raw_payload(payload: bytes) -> bytes:
    """A byte-stream payload goes on the wire as it is (no WebSocket frame)."""
    return payload
