"""The node's command line: ``python -m reference_server --node-id n1 --port P ...``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NoReturn, TypeVar
from urllib.parse import urlsplit

from imload.protocol import MAX_FRAME_BYTES, is_valid_name
from reference_server.bugs import BUGS, BugSet, known_bugs
from reference_server.client_address import Network, parse_proxies


@dataclass(frozen=True)
class Config:
    node_id: str
    host: str
    port: int
    redis_url: str
    secret: str
    bugs: BugSet = field(default_factory=BugSet)
    hb_ms: int = 10_000
    login_timeout_s: float = 5.0  # a connection that has not logged in by then: 4004
    max_frame: int = MAX_FRAME_BYTES
    log_file: str | None = None
    max_bad_frames: int = 20
    redis_timeout_s: float = 3.0
    # admission control (admission.py): handshakes over either limit get HTTP 503
    max_conns: int = 20_000
    login_rate: float = 2_000.0  # handshakes per second, token bucket
    login_burst: int = 4_000
    # request limits (limits.py): token buckets in the store, in sends (a send weighs 1)
    device_rate: float = 100.0  # tokens per second per device
    device_burst: int = 1_000
    user_rate: float = 2 * device_rate  # per user, over all its devices
    user_burst: int = 2 * device_burst
    login_fails: int = 20  # failed logins per address and window; then its logins refused
    login_fail_window_s: float = 10.0
    # proxies whose X-Forwarded-For names the client (client_address.py); none by default
    trusted_proxies: tuple[Network, ...] = ()
    max_outbound: int = 10_000  # frames queued for a client that does not read: then 4003
    max_outbound_bytes: int = 8 << 20  # or this many bytes (whichever comes first)
    # groups (groups.py, fanout.py): members at most; inbox writes per second per user
    max_group_size: int = 500
    fanout_rate: float = 1_000.0
    fanout_burst: int = 5_000
    public_url: str | None = None  # what the LBS hands out; default ws(s)://host:port/ws
    cert: str | None = None  # TLS certificate chain (PEM); with ``key``, serve wss://
    key: str | None = None
    seed: int = 1  # seeds the random choices of bug modes
    clock_skew_ms: int = 0  # added to this node's clock (server_ts): nodes that disagree
    presence_s: float = 1.0  # how often the node reports its load to the store

    @property
    def tls(self) -> bool:
        return self.cert is not None

    @property
    def url(self) -> str:
        """The URL clients should dial for this node (reported to the LBS)."""
        if self.public_url:
            return self.public_url
        return f"{'wss' if self.tls else 'ws'}://{self.host}:{self.port}/ws"

    @property
    def idle_timeout_s(self) -> float:
        """A connection with no frame for three heartbeat intervals is closed (4004)."""
        return 3 * self.hb_ms / 1000


_N = TypeVar("_N", int, float)


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line and exits 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        sys.exit(2)


def _above_zero(kind: Callable[[str], _N], what: str) -> Callable[[str], _N]:
    """An argument type: the text read by ``kind`` (``what`` it must be), above 0."""
    def read(text: str) -> _N:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be above 0")
        return value
    return read


_positive = _above_zero(int, "an integer")
_rate = _above_zero(float, "a number")


def _port(text: str) -> int:
    value = _positive(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (1-65535)")
    return value


def _ws_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"{text!r} must look like ws://HOST:PORT/ws")
    return text


def _node_id(text: str) -> str:
    if not is_valid_name(text):
        raise argparse.ArgumentTypeError(f"{text!r} must match [A-Za-z0-9_.-]{{1,64}}")
    return text


def _redis_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("redis", "rediss", "unix") or not (parts.hostname or parts.path):
        raise argparse.ArgumentTypeError(f"{text!r} must look like redis://HOST:PORT/DB")
    return text


def _proxies(text: str) -> tuple[Network, ...]:
    try:
        return parse_proxies(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _bug(text: str) -> list[str]:
    """One or more bug modes, comma-separated (``--bug stale-members,terse-events``)."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names or [text]:
        if name not in BUGS:
            raise argparse.ArgumentTypeError(f"unknown bug mode {name!r}; known: {known_bugs()}")
    return names


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
                   help="run with a deliberate bug (repeatable, or several comma-separated); "
                        f"known: {known_bugs()}")
    p.add_argument("--hb-ms", type=_positive, default=10_000,
                   help="heartbeat interval announced in login_ok; idle close after 3 of them")
    p.add_argument("--login-timeout-s", type=_rate, default=Config.login_timeout_s,
                   help="seconds a socket may take to finish its handshake (else it is "
                        "dropped), then to log in (else 4004) "
                        f"(default {Config.login_timeout_s:g})")
    p.add_argument("--max-frame", type=_positive, default=MAX_FRAME_BYTES,
                   help="largest frame in bytes; larger ones close the connection with 1009")
    p.add_argument("--log", dest="log_file", default=None, metavar="FILE",
                   help="append the log to FILE instead of stderr")
    add_admission_flags(p)
    p.add_argument("--public-url", type=_ws_url, default=None, metavar="URL",
                   help="the URL the LBS hands out for this node (e.g. its Toxiproxy "
                        "proxy); default ws(s)://HOST:PORT/ws")
    p.add_argument("--cert", default=None, metavar="PEM",
                   help="TLS certificate chain: serve wss:// (needs --key)")
    p.add_argument("--key", default=None, metavar="PEM", help="TLS private key")
    p.add_argument("--store-timeout", type=_rate, default=3.0, dest="redis_timeout_s",
                   metavar="SECONDS", help="a store call not answered in this time fails "
                   "with internal (default 3)")
    p.add_argument("--seed", type=int, default=1,
                   help="seed of the random choices of bug modes (no-dedup's dropped acks)")
    p.add_argument("--clock-skew-ms", type=int, default=0, metavar="MS",
                   help="add MS to this node's clock (server_ts, pong): nodes whose clocks "
                   "disagree, as in the seed's section 4 (default 0)")
    return p


# The admission and request-limit flags: (the Config field, what it sets). Each is the
# flag --<field, with dashes>, an integer above 0 or (a float field) a number above 0, its
# default the field's; a field of _TWICE defaults to twice another's.
_LIMIT_FLAGS: tuple[tuple[str, str], ...] = (
    ("max_conns", "connections this node holds; handshakes beyond get HTTP 503"),
    ("login_rate", "handshakes per second (token bucket); beyond: HTTP 503"),
    ("login_burst", "the login bucket's size"),
    ("device_rate", "requests per second per device, in sends (a sync weighs 5: "
                    "reference_server/limits.py); beyond: error rate_limited"),
    ("device_burst", "the device bucket's size, in sends"),
    ("user_rate", "requests per second per user, over all its devices, in sends"),
    ("user_burst", "the user bucket's size, in sends"),
    ("login_fails", "failed logins an address may make per window; then every login from "
                    "it is refused (4029) until the window ends"),
    ("login_fail_window_s", "the failed-login window, from an address's first failure"),
    ("max_bad_frames", "bad frames a connection may send; one more closes it with 1008"),
    ("max_outbound", "frames queued for a client that does not read before the node closes "
                     "it with 4003"),
    ("max_outbound_bytes", "bytes queued for a client that does not read before the node "
                           "closes it with 4003"),
    ("max_group_size", "members a group may have; a group_create or group_add beyond is "
                       "refused with forbidden"),
    ("fanout_rate", "inbox writes per second per user (a group message costs its members); "
                    "beyond: error rate_limited"),
    ("fanout_burst", "the fan-out bucket's size"),
)
_TWICE = {"user_rate": "device_rate", "user_burst": "device_burst"}
_OLD_NAMES = {"device_rate": ["--send-rate"], "device_burst": ["--send-burst"]}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_admission_flags(p: argparse.ArgumentParser) -> None:
    d = Config("n", "h", 1, "redis://x", "s")
    for name, text in _LIMIT_FLAGS:
        default = getattr(d, name)
        said = f"{default:g}" if isinstance(default, float) else str(default)
        if name in _TWICE:
            said = f"twice {_flag(_TWICE[name])}: {said}"
        p.add_argument(_flag(name), *_OLD_NAMES.get(name, []), dest=name,
                       type=_rate if isinstance(default, float) else _positive,
                       default=None if name in _TWICE else default,
                       help=f"{text} (default {said})")
    p.add_argument("--trusted-proxies", type=_proxies, default=(), metavar="ADDRS",
                   help="reverse proxies (addresses or CIDR blocks, comma-separated) whose "
                        "X-Forwarded-For names the client that failed logins count against; "
                        "from any other peer the header is ignored (default none)")


def parse_args(argv: list[str] | None = None) -> Config:
    """Parse the command line into a Config, or exit 2 with a one-line error."""
    parser = build_parser()
    ns = parser.parse_args(argv)
    if not ns.secret:
        parser.error("argument --secret: must not be empty")
    if (ns.cert is None) != (ns.key is None):
        parser.error("arguments --cert and --key: give both or neither")
    limits = {name: getattr(ns, name) for name, _ in _LIMIT_FLAGS}
    for name, base in _TWICE.items():
        if limits[name] is None:
            limits[name] = 2 * limits[base]
    return Config(node_id=ns.node_id, host=ns.host, port=ns.port, redis_url=ns.redis_url,
                  secret=ns.secret, bugs=BugSet(n for names in ns.bug for n in names),
                  hb_ms=ns.hb_ms, login_timeout_s=ns.login_timeout_s,
                  max_frame=ns.max_frame, log_file=ns.log_file,
                  trusted_proxies=ns.trusted_proxies, public_url=ns.public_url, cert=ns.cert,
                  key=ns.key, seed=ns.seed, redis_timeout_s=ns.redis_timeout_s,
                  clock_skew_ms=ns.clock_skew_ms, **limits)
