"""The probe's checks against a protocol-v1 target, each a small attack with its verdict.

Every check says what a vulnerable server would do (``Check.vulnerable``), sends a
bounded number of frames (the largest: 20 messages of 60 KB), only to the target's first
node, and ends as ``pass``, ``fail`` (with the evidence) or ``n/a`` (it could not be
tried, and why). The accounts are the probe's own, minted with the target's secret.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from websockets.exceptions import ConnectionClosed, InvalidHandshake

from imload.probe.link import Link
from imload.protocol import direct_conv, mint_token

PASS, FAIL, NA = "pass", "fail", "n/a"
MAX_REPLY = 1 << 20  # a reply bigger than this breaks clients that keep the usual limit


@dataclass(frozen=True)
class Finding:
    status: str  # PASS, FAIL or NA
    evidence: str


@dataclass
class Probe:
    """The target and the probe's own accounts."""

    url: str
    secret: str
    ca: str | None = None
    slow_s: float = 15.0  # how long a check waits for the target to close a slow socket

    def __post_init__(self) -> None:
        tag = secrets.token_hex(4)
        self.users = (f"probe_{tag}_a", f"probe_{tag}_b", f"probe_{tag}_c")

    def link(self) -> Link:
        return Link(self.url, self.ca)

    def token(self, user: str, ttl_s: int = 600) -> str:
        return mint_token(self.secret, user, "probe", ttl_s=ttl_s)

    def logged_in(self, user: str) -> Link:
        link = self.link()
        reply = link.request("login", token=self.token(user))
        if reply.get("t") != "login_ok":
            link.ws.close()
            raise ProbeError(f"the target refused the probe's own login: {reply}")
        return link


class ProbeError(RuntimeError):
    """The probe could not do what a check needs (not a finding about the target)."""


@dataclass(frozen=True)
class Check:
    name: str
    vulnerable: str  # what a vulnerable server does
    run: Callable[[Probe], Finding]


def _refused_login(p: Probe, token: object) -> Finding:
    with p.link() as link:
        try:
            reply = link.request("login", token=token)
        except ConnectionClosed as e:
            return Finding(PASS, f"closed the connection ({e.rcvd.code if e.rcvd else None})")
    if reply.get("t") == "login_ok":
        return Finding(FAIL, f"login_ok for user {reply.get('user')!r}")
    return _answered(reply)


def _answered(reply: dict[str, object]) -> Finding:
    """A pass: the node answered ``reply`` (an error, not what the attack asked for)."""
    return Finding(PASS, f"answered {reply.get('t')} {reply.get('code', '')}".strip())


def _b64(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def garbage_token(p: Probe) -> Finding:
    return _refused_login(p, "garbage.garbage.garbage")


def other_secret(p: Probe) -> Finding:
    return _refused_login(p, mint_token("not-" + p.secret, p.users[0], "probe"))


def alg_none(p: Probe) -> Finding:
    claims = {"sub": p.users[0], "dev": "probe", "exp": int(time.time()) + 600}
    return _refused_login(p, f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.")


def expired(p: Probe) -> Finding:
    return _refused_login(p, p.token(p.users[0], ttl_s=-3600))


def before_login(p: Probe) -> Finding:
    with p.link() as link:
        reply = link.request("sync", after=0)
    if reply.get("t") == "sync_batch":
        return Finding(FAIL, f"a sync before login answered {len(reply.get('msgs', []))} "
                             "messages")
    return _answered(reply)


def foreign_send(p: Probe) -> Finding:
    a, b, c = p.users
    with p.logged_in(a) as link:
        reply = link.request("send", cmid="probe-1", conv=direct_conv(b, c), body="not mine")
    if reply.get("t") == "send_ack":
        return Finding(FAIL, f"{a} stored a message in {direct_conv(b, c)}: {reply.get('mid')}")
    return _answered(reply)


def foreign_read(p: Probe) -> Finding:
    a, b, c = p.users
    with p.logged_in(a) as link:
        reply = link.request("read", conv=direct_conv(b, c), upto=1)
    if reply.get("t") == "read_ok":
        return Finding(FAIL, f"{a} moved a read marker of {direct_conv(b, c)}")
    return _answered(reply)


def _serves_on(p: Probe, what: str, attack: Callable[[Link], str]) -> Finding:
    with p.link() as link:
        try:
            seen = attack(link)
        except ConnectionClosed as e:
            seen = f"closed the connection ({e.rcvd.code if e.rcvd else None})"
    try:
        with p.logged_in(p.users[0]) as after:
            assert after.request("ping").get("t") == "pong"
    except (OSError, InvalidHandshake, ConnectionClosed, AssertionError, ProbeError) as e:
        return Finding(FAIL, f"after {what} the node no longer serves: {e}")
    return Finding(PASS, seen)


def oversize(p: Probe) -> Finding:
    def attack(link: Link) -> str:
        link.send({"t": "ping", "rid": 1, "pad": "x" * (2 << 20)})
        return f"answered {link.recv().get('t')}"
    return _serves_on(p, "a 2 MiB frame", attack)


def binary(p: Probe) -> Finding:
    def attack(link: Link) -> str:
        link.send(bytes(range(256)))
        return f"answered {link.recv().get('code')}"
    return _serves_on(p, "a binary frame", attack)


def deep_nesting(p: Probe) -> Finding:
    def attack(link: Link) -> str:
        link.send("[" * 100_000 + "]" * 100_000)
        return f"answered {link.recv().get('code')}"
    return _serves_on(p, "JSON nested 100,000 deep", attack)


VERSION = re.compile(r"\d+\.\d+")


def server_header(p: Probe) -> Finding:
    with p.link() as link:
        named = {k: v for k, v in link.headers.items() if k.lower() in ("server", "x-powered-by")
                 and VERSION.search(v)}
    if named:
        return Finding(FAIL, "; ".join(f"{k}: {v}" for k, v in named.items()))
    return Finding(PASS, "no versions in the handshake's headers")


def sequential_mids(p: Probe) -> Finding:
    a, b, _ = p.users
    with p.logged_in(a) as link:
        mids = [link.request("send", cmid=f"probe-seq-{i}", conv=direct_conv(a, b),
                             body="counting").get("mid") for i in range(2)]
    numbers = [re.fullmatch(r"\D*(\d+)", m) if isinstance(m, str) else None for m in mids]
    if None in numbers:
        return Finding(PASS, f"ids not counter-shaped: {mids}")
    gap = int(numbers[1].group(1)) - int(numbers[0].group(1))  # type: ignore[union-attr]
    if 0 < gap <= 1000:
        return Finding(FAIL, f"two messages in a row got {mids[0]} and {mids[1]}: the gap "
                             "counts the platform's messages in between")
    return Finding(PASS, f"ids {mids}")


def login_deadline(p: Probe) -> Finding:
    started = time.monotonic()
    with p.link() as link:
        try:
            code = link.closed_with(p.slow_s)
        except TimeoutError:
            return Finding(FAIL, f"a socket that never logged in was still open after "
                                 f"{p.slow_s:g} s")
    return Finding(PASS, f"closed ({code}) after {time.monotonic() - started:.1f} s")


def sync_bytes(p: Probe) -> Finding:
    a, b, _ = p.users
    conv = direct_conv(a, b)
    with p.logged_in(a) as link:
        for i in range(20):
            reply = link.request("send", cmid=f"probe-big-{i}", conv=conv, body="x" * 60_000)
            if reply.get("t") != "send_ack":
                return Finding(NA, f"the target did not store a 60 KB message: {reply}")
    with p.logged_in(b) as link:
        link.request("sync", after=0, limit=200)
        biggest = max(link.sizes)
    if biggest > MAX_REPLY:
        return Finding(FAIL, f"one sync reply of {biggest:,} bytes for 20 messages of 60 KB")
    return Finding(PASS, f"largest reply {biggest:,} bytes")


CHECKS: tuple[Check, ...] = (
    Check("auth.garbage_token", "logs in with a token that is not a JWT", garbage_token),
    Check("auth.other_secret", "logs in with a token signed by another key", other_secret),
    Check("auth.alg_none", "logs in with an unsigned token (alg none)", alg_none),
    Check("auth.expired", "logs in with an expired token", expired),
    Check("auth.before_login", "answers a sync before login", before_login),
    Check("authz.foreign_send", "stores a message in a conversation the sender is not in",
          foreign_send),
    Check("authz.foreign_read", "moves a read marker of a conversation the reader is not in",
          foreign_read),
    Check("input.oversize", "stops serving after a 2 MiB frame", oversize),
    Check("input.binary", "stops serving after a binary frame", binary),
    Check("input.deep_nesting", "stops serving after JSON nested 100,000 deep", deep_nesting),
    Check("leaks.server_header", "names its software's versions in the handshake",
          server_header),
    Check("leaks.sequential_mids", "numbers messages from one global counter: any user "
          "measures the platform's traffic", sequential_mids),
    Check("abuse.login_deadline", "holds a socket that never logs in", login_deadline),
    Check("abuse.sync_bytes", "answers a sync with one reply of any size (a big inbox "
          "breaks the client)", sync_bytes),
)
