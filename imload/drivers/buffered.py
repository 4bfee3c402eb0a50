"""Read WebSocket frames from a socket with one system call per burst, not three per frame.

websocket-client reads a frame in pieces (two header bytes, the length, the
payload), one ``recv`` each, sized to exactly what it still needs, and walks a
dozen Python functions per frame. ``ReadAhead`` replaces the socket under it
(``ws.sock = ReadAhead(ws.sock)``, writes and everything else go to the real
socket) and lets the driver read server frames itself:

- ``fill()`` takes what the kernel has (up to 64 KiB) into a buffer; it is the
  only call that blocks, so a timeout that interrupts it loses nothing; on a plain
  gevent socket ``fill_ready()`` does the same without blocking (False: nothing
  there yet) and ``read_event`` is the watcher to wait on (``readwait.py``);
- ``next_message()`` parses one complete message (a control frame, or a data
  frame with its continuations) out of the buffer, or answers None when it is
  not all here yet: partial frames simply wait in the buffer for the next fill.

Server frames are unmasked (RFC 6455); a masked one is unmasked all the same.
``recv`` still serves websocket-client's own reads (the handshake happens before
the wrapper is put in; nothing else reads) from the same buffer.
"""

from __future__ import annotations

from typing import Any

from imload.drivers.readwait import plain_socket

CHUNK = 65536
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


def recv_ready(raw: Any) -> bytes | None:
    """What a non-blocking OS socket holds now (b"": the peer closed); None: nothing yet."""
    try:
        data: bytes = raw.recv(CHUNK)
    except BlockingIOError:
        return None
    return data


class SocketReader:
    """``fill`` (blocking) and ``fill_ready`` (not) over ``_sock`` and its OS socket
    ``_raw``; a subclass keeps the bytes (``_keep``). ConnectionError when the peer
    closed."""

    __slots__ = ("_raw", "_sock", "read_event")

    def rewrap(self, sock: Any) -> None:
        """Read from ``sock`` from now on; a plain socket: its OS socket (non-blocking)
        and read watcher, else None for both."""
        self._sock = sock
        self._raw, self.read_event = plain_socket(sock) or (None, None)

    @property
    def wrapped(self) -> Any:
        """The socket this reads from (and everything else goes to)."""
        return self._sock

    def fill(self) -> None:
        """Block until the kernel has more bytes."""
        self._take(self._sock.recv(CHUNK))

    def fill_ready(self) -> bool:
        """``fill`` without blocking, on a plain socket: False when the kernel has nothing."""
        data = recv_ready(self._raw)
        if data is None:
            return False
        self._take(data)
        return True

    def _take(self, data: bytes) -> None:
        if not data:
            raise ConnectionError("the connection was closed")
        self._keep(data)

    def _keep(self, data: bytes) -> None:
        raise NotImplementedError


class FrameTooBig(Exception):
    """A frame longer than the reader accepts."""


class ReadAhead(SocketReader):
    __slots__ = ("_buf", "_parts", "_parts_op", "_pos", "max_size")

    def __init__(self, sock: Any, max_size: int = 1 << 24) -> None:
        self.rewrap(sock)
        self._buf = b""
        self._pos = 0
        self._parts: list[bytes] | None = None  # a fragmented message being put together
        self._parts_op = OP_TEXT
        self.max_size = max_size

    @property
    def pending(self) -> int:
        """Bytes read from the kernel and not yet handed out."""
        return len(self._buf) - self._pos

    def _keep(self, data: bytes) -> None:
        rest = self._buf[self._pos:]
        self._buf, self._pos = (rest + data if rest else data), 0

    def next_message(self) -> tuple[int, bytes] | None:
        """(opcode, payload) of the next complete message in the buffer, or None."""
        buf, pos = self._buf, self._pos
        if self._parts is None and len(buf) - pos >= 4 and buf[pos] == 0x81:
            # the usual frame, parsed here: final, text, unmasked, length < 64 KiB
            n = buf[pos + 1]
            if n < 126:
                start = pos + 2
            elif n == 126:
                n, start = (buf[pos + 2] << 8) | buf[pos + 3], pos + 4
            else:
                start = 0
            end = start + n
            if start and n <= self.max_size and end <= len(buf):
                if end == len(buf):
                    self._buf, self._pos = b"", 0  # nothing kept while idle
                else:
                    self._pos = end
                return OP_TEXT, buf[start:end]
        while True:
            frame = self._next_frame()
            if frame is None:
                return None
            fin, op, payload = frame
            if op >= OP_CLOSE:
                return op, payload  # control frames may come between fragments
            if op != OP_CONT and fin and self._parts is None:
                return op, payload
            if op != OP_CONT:
                self._parts, self._parts_op = [payload], op
            elif self._parts is not None:
                self._parts.append(payload)
            if fin and self._parts is not None:
                parts, self._parts = self._parts, None
                return self._parts_op, b"".join(parts)

    def _next_frame(self) -> tuple[bool, int, bytes] | None:
        buf, pos = self._buf, self._pos
        avail = len(buf) - pos
        if avail < 2:
            return None
        b0, b1 = buf[pos], buf[pos + 1]
        n = b1 & 0x7F
        head = 2
        if n == 126:
            if avail < 4:
                return None
            n = int.from_bytes(buf[pos + 2:pos + 4], "big")
            head = 4
        elif n == 127:
            if avail < 10:
                return None
            n = int.from_bytes(buf[pos + 2:pos + 10], "big")
            head = 10
        if n > self.max_size:
            raise FrameTooBig(f"a frame of {n} bytes")
        masked = b1 & 0x80
        start = pos + head + (4 if masked else 0)
        end = start + n
        if len(buf) < end:
            return None
        payload = buf[start:end]
        if masked:
            key = buf[start - 4:start]
            full = (key * (n // 4 + 1))[:n]
            payload = (int.from_bytes(payload, "big") ^ int.from_bytes(full, "big")).to_bytes(
                n, "big")
        if end >= len(buf):
            self._buf, self._pos = b"", 0  # nothing kept while idle
        else:
            self._pos = end
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def recv(self, n: int) -> bytes:
        if self._pos >= len(self._buf):
            data = self._sock.recv(CHUNK)
            if not data:
                return b""
            self._buf, self._pos = data, 0
        end = self._pos + n
        out = self._buf[self._pos:end]
        if end >= len(self._buf):
            self._buf, self._pos = b"", 0
        else:
            self._pos = end
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)
