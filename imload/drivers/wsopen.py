"""Open a WebSocket the way the driver needs it, and small helpers of the driver.

``open_websocket`` dials with gevent's own socket (TLS with an optional CA),
lets websocket-client do the handshake, and then sets up the connection for
speed under gevent: a read-ahead socket (``buffered.py``, from which the driver
parses server frames itself), no UTF-8 check in Python (the driver's
``bytes.decode`` does it in C), masking keys from a ``random.Random`` instead
of ``os.urandom`` (a system call per frame), and cooperative locks instead of
threading ones (the process may not be patched). ``text_frame`` builds the
driver's outgoing frames in one step (websocket-client's own path: a dozen
calls per frame).
An HTTP 503 refusal raises ``websocket.WebSocketBadStatusException`` with its
headers (``retry_after_ms`` reads its Retry-After).
"""

from __future__ import annotations

import random
import struct
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

import gevent.lock
import gevent.socket
import websocket
from gevent import ssl as gssl

from imload.drivers.buffered import ReadAhead

_MASKS = random.Random()  # WebSocket masking keys: unpredictable enough for a load generator


def measure_wall_offset() -> float:
    """``time.time() - time.monotonic()``: what ``EngineConfig.wall_offset`` wants."""
    return time.time() - time.monotonic()


def retry_after_ms(headers: dict[str, str] | None) -> int | None:
    """The Retry-After of an HTTP answer (seconds) in ms; None if absent or a date."""
    for k, v in (headers or {}).items():
        if k.lower() == "retry-after":
            try:
                return max(0, round(float(v) * 1000))
            except ValueError:
                return None
    return None


def describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def text_frame(payload: bytes, first: int = 0x81) -> bytes:
    """A client text frame (RFC 6455: final, masked) carrying ``payload``; with
    ``first = 0x82`` a binary one (``binary_frame``)."""
    n = len(payload)
    if n < 126:
        head = bytes((first, 0x80 | n))
    elif n < 65536:
        head = bytes((first, 0xFE)) + n.to_bytes(2, "big")
    else:
        head = bytes((first, 0xFF)) + n.to_bytes(8, "big")
    key = _MASKS.getrandbits(32).to_bytes(4, "little")  # randbytes(4), without its call
    stream = (key * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")
    return head + key + masked


def binary_frame(payload: bytes) -> bytes:
    """A client binary frame (final, masked) carrying ``payload``."""
    return text_frame(payload, 0x82)


def client_context(ca: str | None) -> gssl.SSLContext:
    """A TLS client context whose sockets cooperate with gevent, trusting ``ca`` (a PEM
    file) or, without one, the system's CAs. ``gevent.ssl.create_default_context``
    returns the standard library's context on gevent 26, whose sockets block the whole
    process on a read: this builds gevent's own."""
    ctx = gssl.SSLContext(gssl.PROTOCOL_TLS_CLIENT)  # verifies the certificate and the host
    if ca is not None:
        ctx.load_verify_locations(cafile=ca)
    else:
        ctx.load_default_certs()
    return ctx


def open_websocket(url: str, write_lock: gevent.lock.Semaphore, *, ca: str | None = None,
                   connect_timeout_s: float = 5.0, io_timeout_s: float = 10.0,
                   subprotocols: Sequence[str] = ()) -> websocket.WebSocket:
    """A connected WebSocket to ``url`` whose writes take ``write_lock``, asking for
    ``subprotocols`` (RFC 7395's ``xmpp``, say) when there are any."""
    parts = urlsplit(url)
    secure = parts.scheme == "wss"
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if secure else 80)
    sock = gevent.socket.create_connection((host, port), timeout=connect_timeout_s)
    try:
        if secure:
            ctx = client_context(ca)
            sock = ctx.wrap_socket(sock, server_hostname=host)
        ws = websocket.create_connection(url, timeout=connect_timeout_s, socket=sock,
                                         enable_multithread=True, suppress_origin=True,
                                         skip_utf8_validation=True,
                                         subprotocols=list(subprotocols) or None)
    except BaseException:
        sock.close()
        raise
    ws.settimeout(io_timeout_s)  # bounds writes; the driver bounds reads itself
    ws.sock = ReadAhead(ws.sock)
    ws.set_mask_key(_MASKS.randbytes)
    ws.lock = write_lock
    ws.readlock = gevent.lock.Semaphore()
    ws.frame_buffer.lock = gevent.lock.Semaphore()
    return ws


def close_detail(data: bytes) -> str:
    if len(data) >= 2:
        code = struct.unpack("!H", data[:2])[0]
        reason = data[2:].decode("utf-8", "replace")
        return f" {code}" + (f" {reason}" if reason else "")
    return ""


