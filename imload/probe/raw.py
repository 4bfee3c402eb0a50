"""The probe's raw socket to a node: what a WebSocket client library will not do for the
abuse checks. It sends an upgrade request byte by byte (slowloris), keeps a tiny receive
buffer and stops reading (a slow reader), and reads the node's frames only when asked.
TLS (``wss://``) trusts ``ca`` as ``Link`` does.
"""

from __future__ import annotations

import base64
import os
import select
import socket
import struct
import time
from typing import Any
from urllib.parse import urlsplit

import orjson
from websockets.frames import Frame, Opcode

from imload.audit_link import tls_context

CHUNK = 65536


class Closed(Exception):  # noqa: N818 (how a read ended, not an error)
    """The node closed the connection: ``code`` from its close frame, None without one."""

    def __init__(self, code: int | None) -> None:
        super().__init__(f"closed ({code})")
        self.code = code


class FrameReader:
    """Reads a server's WebSocket frames from ``self.sock`` one at a time, only when asked
    (unmasked, as a server sends them). Shared with the tests' own raw client."""

    sock: socket.socket
    _buf: bytes

    def _recv(self) -> bytes:
        data = self.sock.recv(CHUNK)
        if not data:
            raise Closed(None)
        return data

    def _need(self, n: int) -> bytes:
        while len(self._buf) < n:
            self._buf += self._recv()
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def next_frame(self) -> tuple[int, bytes]:
        """(opcode, payload) of the next frame, a close frame too."""
        b0, b1 = self._need(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._need(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._need(8))[0]
        return b0 & 0x0F, self._need(n)


class RawSocket(FrameReader):
    """One TCP (or TLS) connection to the node of ``url``, nothing sent yet."""

    def __init__(self, url: str, ca: str | None = None, rcvbuf: int | None = None,
                 timeout_s: float = 5.0) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        port = parts.port or (443 if parts.scheme == "wss" else 80)
        self.path = parts.path or "/"
        family, kind, proto, _, addr = socket.getaddrinfo(self.host, port,
                                                          type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        if rcvbuf is not None:  # before connect: the window it announces stays small
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(timeout_s)
        try:
            sock.connect(addr)
            if parts.scheme == "wss":
                sock = tls_context(ca).wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self.port = port
        self._buf = b""

    def __enter__(self) -> RawSocket:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.sock.close()

    def upgrade_request(self) -> bytes:
        key = base64.b64encode(os.urandom(16)).decode()
        return (f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()

    def closed_within(self, seconds: float) -> bool:
        """Whether the node ends the connection within ``seconds`` (what it sends before
        the end is read and dropped)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                if select.select([self.sock], [], [], left)[0] and not self.sock.recv(CHUNK):
                    return True
            except OSError:
                return True
        return False

    def upgrade(self) -> None:
        """The WebSocket handshake; ConnectionError unless the node answers 101."""
        self.sock.sendall(self.upgrade_request())
        while b"\r\n\r\n" not in self._buf:
            self._buf += self._recv()
        head, self._buf = self._buf.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(f"the node refused the upgrade: {head[:80]!r}")

    def send_frames(self, frames: list[dict[str, Any]]) -> None:
        """JSON text frames, masked as a client's, in one write."""
        self.sock.sendall(b"".join(Frame(Opcode.TEXT, orjson.dumps(f)).serialize(
            mask=True, extensions=[]) for f in frames))

    def read_frame(self) -> tuple[int, bytes]:
        """(opcode, payload) of the node's next frame; ``Closed`` on a close frame or EOF."""
        opcode, payload = self.next_frame()
        if opcode == Opcode.CLOSE:
            raise Closed(struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None)
        return opcode, payload

    def read_json(self) -> dict[str, Any]:
        while True:
            opcode, payload = self.read_frame()
            if opcode == Opcode.TEXT:
                frame = orjson.loads(payload)
                return frame if isinstance(frame, dict) else {"t": "?"}
