"""Ask the LBS which nodes to dial: ``GET /v1/route?user=U&device=D``, gevent-friendly.

A small HTTP/1.1 client on gevent's own sockets (``Connection: close``, one
request per connection, ``Content-Length`` or chunked bodies, http or https with
an optional CA file), so it cooperates with other greenlets whether or not the
process is monkey-patched, like the WebSocket driver. It answers the nodes'
urls in the LBS's order, or raises ``RouteError`` saying why not.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

import gevent
import gevent.socket
import orjson

from imload.drivers.wsopen import client_context

MAX_BODY = 1 << 20


class RouteError(Exception):
    """The LBS could not be asked, or did not answer a usable route."""


def _read_all(sock: gevent.socket.socket) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        data = sock.recv(65536)
        if not data:
            return b"".join(chunks)
        chunks.append(data)
        size += len(data)
        if size > MAX_BODY:
            raise RouteError(f"answer larger than {MAX_BODY} bytes")


def _dechunk(body: bytes) -> bytes:
    out, rest = [], body
    while rest:
        line, _, rest = rest.partition(b"\r\n")
        n = int(line.split(b";")[0] or b"0", 16)
        if n == 0:
            break
        out.append(rest[:n])
        rest = rest[n + 2:]
    return b"".join(out)


def parse_route(status: int, headers: dict[str, str], body: bytes) -> list[str]:
    """The node urls of an LBS answer (RouteError unless HTTP 200 with ``nodes``)."""
    if status != 200:
        raise RouteError(f"HTTP {status}")
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise RouteError(f"not JSON: {e}") from None
    nodes = data.get("nodes") if isinstance(data, dict) else None
    if not isinstance(nodes, list):
        raise RouteError("no 'nodes' list in the answer")
    return [n["url"] for n in nodes if isinstance(n, dict) and isinstance(n.get("url"), str)]


def fetch_route(lbs: str, user: str, device: str, *, ca: str | None = None,
                timeout: float = 5.0) -> list[str]:
    """Ask the LBS at ``lbs`` (``http(s)://host:port``) for the route of user/device."""
    parts = urlsplit(lbs if "://" in lbs else f"http://{lbs}")
    secure = parts.scheme == "https"
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if secure else 80)
    path = parts.path.rstrip("/") + "/v1/route?" + urlencode({"user": user, "device": device})
    request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: application/json\r\n"
               "Connection: close\r\nUser-Agent: imload\r\n\r\n").encode()
    try:
        with gevent.Timeout(timeout):
            sock = gevent.socket.create_connection((host, port), timeout=timeout)
            try:
                if secure:
                    ctx = client_context(ca)
                    sock = ctx.wrap_socket(sock, server_hostname=host)
                sock.sendall(request)
                raw = _read_all(sock)
            finally:
                sock.close()
    except gevent.Timeout:
        raise RouteError(f"no answer within {timeout:g} s") from None
    except OSError as e:
        raise RouteError(f"{type(e).__name__}: {e}") from None
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise RouteError("the connection closed before the answer's headers")
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split(" ", 2)[1])
    except (IndexError, ValueError):
        raise RouteError(f"not an HTTP answer: {lines[0][:60]!r}") from None
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return parse_route(status, headers, body)
