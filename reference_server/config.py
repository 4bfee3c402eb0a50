"""The node's command line: ``python -m reference_server --node-id n1 --port P ...``."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from typing import NoReturn
from urllib.parse import urlsplit

from imload.protocol import MAX_FRAME_BYTES, is_valid_name
from reference_server.bugs import BUGS, BugSet, known_bugs


@dataclass(frozen=True)
class Config:
    node_id: str
    host: str
    port: int
    redis_url: str
    secret: str
    bugs: BugSet = field(default_factory=BugSet)
    hb_ms: int = 10_000
    max_frame: int = MAX_FRAME_BYTES
    log_file: str | None = None
    max_bad_frames: int = 20
    redis_timeout_s: float = 3.0

    @property
    def idle_timeout_s(self) -> float:
        """A connection with no frame for three heartbeat intervals is closed (4004)."""
        return 3 * self.hb_ms / 1000


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line and exits 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        sys.exit(2)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be above 0")
    return value


def _port(text: str) -> int:
    value = _positive(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (1-65535)")
    return value


def _node_id(text: str) -> str:
    if not is_valid_name(text):
        raise argparse.ArgumentTypeError(f"{text!r} must match [A-Za-z0-9_.-]{{1,64}}")
    return text


def _redis_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("redis", "rediss", "unix") or not (parts.hostname or parts.path):
        raise argparse.ArgumentTypeError(f"{text!r} must look like redis://HOST:PORT/DB")
    return text


def _bug(text: str) -> str:
    if text not in BUGS:
        raise argparse.ArgumentTypeError(f"unknown bug mode {text!r}; known: {known_bugs()}")
    return text


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="reference_server",
                description="A node of the imload reference IM cluster (protocol v1).")
    p.add_argument("--node-id", required=True, type=_node_id, help="this node's name, e.g. n1")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", required=True, type=_port, help="port for /ws and /healthz")
    p.add_argument("--redis", required=True, type=_redis_url, dest="redis_url",
                   help="the store, redis://HOST:PORT/DB")
    p.add_argument("--secret", required=True, help="HS256 secret that signs device tokens")
    p.add_argument("--bug", action="append", type=_bug, default=[], metavar="NAME",
                   help=f"run with a deliberate bug (repeatable); known: {known_bugs()}")
    p.add_argument("--hb-ms", type=_positive, default=10_000,
                   help="heartbeat interval announced in login_ok; idle close after 3 of them")
    p.add_argument("--max-frame", type=_positive, default=MAX_FRAME_BYTES,
                   help="largest frame in bytes; larger ones close the connection with 1009")
    p.add_argument("--log", dest="log_file", default=None, metavar="FILE",
                   help="append the log to FILE instead of stderr")
    return p


def parse_args(argv: list[str] | None = None) -> Config:
    """Parse the command line into a Config, or exit 2 with a one-line error."""
    parser = build_parser()
    ns = parser.parse_args(argv)
    if not ns.secret:
        parser.error("argument --secret: must not be empty")
    return Config(node_id=ns.node_id, host=ns.host, port=ns.port, redis_url=ns.redis_url,
                  secret=ns.secret, bugs=BugSet(ns.bug), hb_ms=ns.hb_ms,
                  max_frame=ns.max_frame, log_file=ns.log_file)
