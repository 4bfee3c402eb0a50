"""The LBS: which node a (re)connecting device should dial.

    python -m reference_server.lbs --port P --redis URL [--host H] [--cert PEM --key PEM]
                                   [--max-conns N] [--request-timeout-s S] [--log FILE]

``GET /v1/route?user=U&device=D`` answers ``{"nodes": [{"id", "url", "load"}, ...]}``: the
nodes whose presence report (presence.py) has not expired and whose load (connections
over their limit) is below 1, in a load-weighted random order: a node with load l is
drawn first with a probability proportional to ``1 - l`` (a floor keeps a busy node in
play). A reconnect storm thus spreads over the nodes instead of landing on the least
loaded one. ``GET /healthz`` answers 200. Plain HTTP, or HTTPS with ``--cert/--key``.

The node table is read from the store at most every ``CACHE_S``, so a storm of route
requests costs the store a few reads a second.

It serves on asyncio, one coroutine per connection, with h11 (the sans-I/O HTTP/1.1
parser uvicorn uses) for the protocol: two GET routes need no framework, and the
nodes run on the same event loop library. A connection is bounded in every way a
slow or hostile client could stretch it: a whole request (or, between keep-alive
requests, the next one) must arrive within ``--request-timeout-s``, a TLS handshake
too; a request head is at most h11's 16 KiB; past ``--max-conns`` open connections a
new one is closed at once; a client that resets its connection costs a closed socket,
never a traceback in the log.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import signal
import ssl
import sys
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import h11
import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from imload.protocol import is_valid_name
from reference_server.presence import read_nodes

CACHE_S = 0.25
MIN_WEIGHT = 0.02
MAX_CONNS = 1024  # open connections; one more is closed at once
REQUEST_TIMEOUT_S = 10.0  # for a whole request, a TLS handshake, a keep-alive wait
SERVER = b"imload-lbs"  # the Server header: a name, no versions


def route_order(nodes: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """Nodes below their limit, in a load-weighted random order (Efraimidis-Spirakis)."""
    open_nodes = [n for n in nodes if float(n.get("load", 0.0)) < 1.0]
    keyed = []
    for n in open_nodes:
        weight = max(1.0 - float(n.get("load", 0.0)), MIN_WEIGHT)
        keyed.append((rng.random() ** (1.0 / weight), n))
    keyed.sort(key=lambda kn: kn[0], reverse=True)
    return [{"id": n["id"], "url": n["url"], "load": round(float(n.get("load", 0.0)), 4)}
            for _, n in keyed]


class NodeTable:
    """The live nodes, read from the store at most every ``CACHE_S`` (one read at a time)."""

    def __init__(self, client: aioredis.Redis, cache_s: float = CACHE_S) -> None:
        self._client = client
        self._cache_s = cache_s
        self._lock = asyncio.Lock()
        self._nodes: list[dict[str, Any]] = []
        self._at = -1e9

    async def nodes(self) -> list[dict[str, Any]]:
        async with self._lock:
            if time.monotonic() - self._at >= self._cache_s:
                self._nodes = await read_nodes(self._client)
                self._at = time.monotonic()
            return self._nodes


async def answer(target: str, table: NodeTable, log: logging.Logger
                 ) -> tuple[int, dict[str, Any]]:
    """(status, body) for a GET of ``target`` (the store read only for a valid route)."""
    url = urlsplit(target)
    if url.path == "/healthz":
        return 200, {"ok": True}
    if url.path != "/v1/route":
        return 404, {"error": "not found: GET /v1/route?user=U&device=D"}
    query = parse_qs(url.query)
    user, device = query.get("user", [""])[0], query.get("device", [""])[0]
    if not (is_valid_name(user) and is_valid_name(device)):
        return 400, {"error": "user and device must match [A-Za-z0-9_.-]{1,64}"}
    try:
        nodes = await table.nodes()
    except (RedisError, OSError) as e:
        log.warning("store unreachable: %s", e)
        return 503, {"error": "the store is unreachable"}
    return 200, {"nodes": route_order(nodes, random.Random())}


class Lbs:
    """The LBS's connections: each one a coroutine, bounded (see the module docstring)."""

    def __init__(self, table: NodeTable, log: logging.Logger, max_conns: int = MAX_CONNS,
                 request_timeout_s: float = REQUEST_TIMEOUT_S) -> None:
        self.table = table
        self.log = log
        self.max_conns = max_conns
        self.request_timeout_s = request_timeout_s
        self.open = 0
        self.refused = 0

    async def connection(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        if self.open >= self.max_conns:
            self.refused += 1
            if self.refused == 1 or self.refused % 1000 == 0:
                self.log.warning("%d connections open: closing new ones (%d so far)",
                                 self.open, self.refused)
            writer.transport.abort()
            return
        self.open += 1
        try:
            await self._serve(reader, writer)
        except (ConnectionError, OSError, asyncio.IncompleteReadError, ssl.SSLError):
            pass  # the client went away: nothing to answer, nothing to log
        finally:
            self.open -= 1
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        while True:
            try:
                request = await asyncio.wait_for(self._request(conn, reader),
                                                 self.request_timeout_s)
            except TimeoutError:
                return  # too slow (or idle between requests): close
            except h11.RemoteProtocolError as e:
                if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    await self._respond(conn, writer, e.error_status_hint,
                                        {"error": "bad request"}, close=True)
                return
            if request is None:
                return
            status, body = await answer(request.target.decode("latin-1"), self.table,
                                        self.log)
            await self._respond(conn, writer, status, body)
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                return
            conn.start_next_cycle()

    @staticmethod
    async def _request(conn: h11.Connection, reader: asyncio.StreamReader
                       ) -> h11.Request | None:
        """The next whole request (its body, if any, read and dropped); None at the end."""
        request: h11.Request | None = None
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(65536))
            elif isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.EndOfMessage):
                return request
            elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return None

    @staticmethod
    async def _respond(conn: h11.Connection, writer: asyncio.StreamWriter, status: int,
                       body: dict[str, Any], close: bool = False) -> None:
        data = orjson.dumps(body) + b"\n"
        headers = [(b"Content-Type", b"application/json"),
                   (b"Content-Length", str(len(data)).encode()),
                   (b"Cache-Control", b"no-store"), (b"Server", SERVER)]
        if close:
            headers.append((b"Connection", b"close"))
        writer.write(conn.send(h11.Response(status_code=status, headers=headers)) or b"")
        writer.write(conn.send(h11.Data(data=data)) or b"")
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await writer.drain()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="reference_server.lbs",
                                description="The LBS of the imload reference cluster.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--redis", required=True, dest="redis_url", help="redis://HOST:PORT/DB")
    p.add_argument("--cert", default=None, help="TLS certificate chain: serve https://")
    p.add_argument("--key", default=None, help="TLS private key")
    p.add_argument("--max-conns", type=int, default=MAX_CONNS,
                   help=f"open connections; one more is closed at once (default {MAX_CONNS})")
    p.add_argument("--request-timeout-s", type=float, default=REQUEST_TIMEOUT_S,
                   help="seconds for a whole request, a TLS handshake or a keep-alive wait "
                        f"(default {REQUEST_TIMEOUT_S:g})")
    p.add_argument("--log", dest="log_file", default=None, metavar="FILE")
    return p


async def serve(ns: argparse.Namespace, log: logging.Logger) -> int:
    client = aioredis.Redis.from_url(ns.redis_url, socket_timeout=2, socket_connect_timeout=2)
    lbs = Lbs(NodeTable(client), log, ns.max_conns, ns.request_timeout_s)
    context = None
    if ns.cert and ns.key:
        from reference_server.tls import server_context
        context = server_context(ns.cert, ns.key)
    try:
        server = await asyncio.start_server(
            lbs.connection, ns.host, ns.port, ssl=context, backlog=1024,
            ssl_handshake_timeout=ns.request_timeout_s if context else None)
    except OSError as e:
        log.error("cannot listen on %s:%d: %s", ns.host, ns.port, e.strerror or e)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    scheme = "https" if context else "http"
    log.info("lbs serving on %s://%s:%d, store %s", scheme, ns.host, ns.port, ns.redis_url)
    async with server:
        await stop.wait()
    server.close()
    with contextlib.suppress(RedisError, OSError):
        await client.aclose()
    log.info("lbs stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    if (ns.cert is None) != (ns.key is None):
        print("reference_server.lbs: error: give both --cert and --key, or neither",
              file=sys.stderr)
        return 2
    handler: logging.Handler = (logging.FileHandler(ns.log_file) if ns.log_file
                                else logging.StreamHandler(sys.stderr))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s lbs %(message)s"))
    logging.getLogger().handlers[:] = [handler]
    logging.getLogger().setLevel(logging.INFO)
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # a client's reset is not news
    return asyncio.run(serve(ns, logging.getLogger("reference_server.lbs")))


if __name__ == "__main__":
    sys.exit(main())
