"""What every probe check shares: its verdicts, the target and the probe's own accounts,
and the small steps several checks take (a login that must be refused, a node that must
serve on after an attack).

A check is a ``Check``: its name (``family.what``), what a vulnerable server does, and a
function of the ``Probe`` that returns a ``Finding``: ``pass``, ``fail`` (with the
evidence) or ``n/a`` (it could not be tried, and why). A check that cannot do what it
needs raises ``ProbeError`` (reported as n/a). Every check is bounded in traffic and time
and sends only to the target's node (docs/security.md, "Against staging").
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake

from imload.probe.link import Link
from imload.protocol import mint_token

PASS, FAIL, NA = "pass", "fail", "n/a"


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
        self.tag = secrets.token_hex(4)
        self.users = (self.name("a"), self.name("b"), self.name("c"))

    def name(self, what: str) -> str:
        """``probe_<tag>_<what>``: a name (a user's, a group's) of this probe run."""
        return f"probe_{self.tag}_{what}"

    def link(self) -> Link:
        return Link(self.url, self.ca)

    def token(self, user: str, ttl_s: int = 600, device: str = "probe") -> str:
        return mint_token(self.secret, user, device, ttl_s=ttl_s)

    def logged_in(self, user: str, device: str = "probe") -> Link:
        """A link logged in as ``user``; ``link.login`` holds the ``login_ok``."""
        link = self.link()
        reply = link.request("login", token=self.token(user, device=device))
        if reply.get("t") != "login_ok":
            link.ws.close()
            raise ProbeError(f"the target refused the probe's own login: {reply}")
        link.login = reply
        return link


class ProbeError(RuntimeError):
    """The probe could not do what a check needs (not a finding about the target)."""


@dataclass(frozen=True)
class Check:
    name: str
    vulnerable: str  # what a vulnerable server does
    run: Callable[[Probe], Finding]


class Verdict(Exception):  # noqa: N818 (a finding carried out of an attack, not an error)
    """Raised inside an attack to end its check with ``finding`` at once."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.evidence)
        self.finding = finding


def closed_code(e: ConnectionClosed) -> int | None:
    return e.rcvd.code if e.rcvd else None


def refused_login(p: Probe, token: object) -> Finding:
    """A pass when the node refuses a login with ``token``; a fail when it logs in."""
    with p.link() as link:
        try:
            reply = link.request("login", token=token)
        except ConnectionClosed as e:
            return Finding(PASS, f"closed the connection ({closed_code(e)})")
    if reply.get("t") == "login_ok":
        return Finding(FAIL, f"login_ok for user {reply.get('user')!r}")
    return answered(reply)


def answered(reply: dict[str, Any]) -> Finding:
    """A pass: the node answered ``reply`` (an error, not what the attack asked for)."""
    return Finding(PASS, f"answered {reply.get('t')} {reply.get('code', '')}".strip())


def serves_on(p: Probe, what: str, attack: Callable[[Link], str], login: bool = False
              ) -> Finding:
    """Run ``attack`` on a fresh link (logged in as the probe's first user if ``login``),
    then a pass if the node still logs in and answers a ping, with what the attack saw (the
    string it returns); a fail, naming ``what``, if it no longer serves. An attack that
    sees enough raises ``Verdict`` with its finding."""
    try:
        with (p.logged_in(p.users[0], "probe-attack") if login else p.link()) as link:
            try:
                seen = attack(link)
            except ConnectionClosed as e:
                seen = f"closed the connection ({closed_code(e)})"
    except Verdict as v:
        return v.finding
    try:
        with p.logged_in(p.users[0]) as after:
            assert after.request("ping").get("t") == "pong"
    except (OSError, InvalidHandshake, ConnectionClosed, AssertionError, ProbeError) as e:
        return Finding(FAIL, f"after {what} the node no longer serves: {e}")
    return Finding(PASS, seen)


def b64(obj: object) -> str:
    """Base64url of ``obj`` as JSON, unpadded: a part of a hand-made JWT."""
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def answers(link: Link, payload: dict[str, Any] | str | bytes, text: bool = False
            ) -> list[dict[str, Any]]:
    """Every frame the node sends after ``payload`` up to its answer to a ping sent right
    behind it (a pong, or an error before login): the node's answer to ``payload`` (empty
    when it ignored it). ``text`` sends bytes as a text frame (invalid UTF-8)."""
    if text and isinstance(payload, bytes):
        link.ws.send(payload, text=True)
    else:
        link.send(payload)
    rid = link.next_rid()
    link.send({"t": "ping", "rid": rid})
    seen = []
    while True:
        frame = link.recv()
        if frame.get("rid") == rid:
            return seen
        seen.append(frame)
