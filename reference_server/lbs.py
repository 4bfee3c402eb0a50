"""The LBS: which node a (re)connecting device should dial.

    python -m reference_server.lbs --port P --redis URL [--host H] [--cert PEM --key PEM]

``GET /v1/route?user=U&device=D`` answers ``{"nodes": [{"id", "url", "load"}, ...]}``: the
nodes whose presence report (presence.py) has not expired and whose load (connections
over their limit) is below 1, in a load-weighted random order: a node with load l is
drawn first with a probability proportional to ``1 - l`` (a floor keeps a busy node in
play). A reconnect storm thus spreads over the nodes instead of landing on the least
loaded one. ``GET /healthz`` answers 200. Plain HTTP, or HTTPS with ``--cert/--key``.

The node table is read from the store at most every ``CACHE_S``, so a storm of route
requests costs the store a few reads a second.
"""

from __future__ import annotations

import argparse
import logging
import random
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import redis
from redis.exceptions import RedisError

from imload.protocol import is_valid_name
from reference_server.presence import read_nodes

CACHE_S = 0.25
MIN_WEIGHT = 0.02


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
    """The live nodes, read from the store at most every ``CACHE_S``."""

    def __init__(self, client: redis.Redis, cache_s: float = CACHE_S) -> None:
        self._client = client
        self._cache_s = cache_s
        self._lock = threading.Lock()
        self._nodes: list[dict[str, Any]] = []
        self._at = -1e9

    def nodes(self) -> list[dict[str, Any]]:
        with self._lock:
            now = time.monotonic()
            if now - self._at >= self._cache_s:
                self._nodes = read_nodes(self._client)
                self._at = now
            return self._nodes


class LbsServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # a reconnect storm asks for routes all at once
    table: NodeTable
    log: logging.Logger


class Handler(BaseHTTPRequestHandler):
    server: LbsServer
    protocol_version = "HTTP/1.1"

    def version_string(self) -> str:
        """The Server header: a name, no versions (http.server's would name Python's)."""
        return "imload-lbs"

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = orjson.dumps(body) + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        url = urlsplit(self.path)
        if url.path == "/healthz":
            self._answer(200, {"ok": True})
            return
        if url.path != "/v1/route":
            self._answer(404, {"error": "not found: GET /v1/route?user=U&device=D"})
            return
        query = parse_qs(url.query)
        user, device = query.get("user", [""])[0], query.get("device", [""])[0]
        if not (is_valid_name(user) and is_valid_name(device)):
            self._answer(400, {"error": "user and device must match [A-Za-z0-9_.-]{1,64}"})
            return
        try:
            nodes = self.server.table.nodes()
        except (RedisError, OSError) as e:
            self.server.log.warning("store unreachable: %s", e)
            self._answer(503, {"error": "the store is unreachable"})
            return
        self._answer(200, {"nodes": route_order(nodes, random.Random())})

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # one line per request would drown the log


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="reference_server.lbs",
                                description="The LBS of the imload reference cluster.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--redis", required=True, dest="redis_url", help="redis://HOST:PORT/DB")
    p.add_argument("--cert", default=None, help="TLS certificate chain: serve https://")
    p.add_argument("--key", default=None, help="TLS private key")
    p.add_argument("--log", dest="log_file", default=None, metavar="FILE")
    return p


def make_server(host: str, port: int, redis_url: str, cert: str | None = None,
                key: str | None = None, log: logging.Logger | None = None) -> LbsServer:
    server = LbsServer((host, port), Handler)
    server.table = NodeTable(redis.Redis.from_url(redis_url, socket_timeout=2,
                                                  socket_connect_timeout=2))
    server.log = log or logging.getLogger("reference_server.lbs")
    if cert and key:
        from reference_server.tls import server_context

        server.socket = server_context(cert, key).wrap_socket(server.socket, server_side=True)
    return server


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
    log = logging.getLogger("reference_server.lbs")
    try:
        server = make_server(ns.host, ns.port, ns.redis_url, ns.cert, ns.key, log)
    except OSError as e:
        log.error("cannot listen on %s:%d: %s", ns.host, ns.port, e.strerror or e)
        return 1
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    scheme = "https" if ns.cert else "http"
    log.info("lbs serving on %s://%s:%d, store %s", scheme, ns.host, ns.port, ns.redis_url)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    server.server_close()
    log.info("lbs stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
