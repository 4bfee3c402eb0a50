"""Limits: what one user, one device and one address may ask of the node. A sound node
limits every request type per user and per device, not per connection (a reconnect
refills nothing), and stops serving logins to an address that keeps failing them.

The checks read nothing of the target's configuration: each sends up to its budget and
passes when the node refuses before the budget is spent.

- ``abuse.flood_<type>`` (ping, op, sync, state): up to the type's budget (``REQUESTS``:
  3,000 pings, 1,000 of the others) on one connection of an account of its own, ``CHUNK``
  at a time without waiting; a pass at the first ``rate_limited`` (or a close), a fail
  when all are served.
- ``abuse.reconnect_resets_limit``: sends (one account, to another of the probe's) up to
  the first ``rate_limited``, at most ``FLOOD_BUDGET``; a new connection of the same
  device, and sends again: a fail when it gets half as many through as the first, or
  when the first never met a limit.
- ``abuse.failed_logins``: up to ``LOGIN_BUDGET`` logins with a wrongly signed token, one
  connection each, then one with a valid token: a pass when that one is refused. The
  check then waits for the refusal to lift (the ``retry_after_ms`` the node gave, at most
  ``RELEASE_WAIT_S``), so it leaves the target serving the probe's address again. Run it
  last: other checks' logins from the same address are refused meanwhile.

Traffic: at most 3,000 small frames per flood (the reference server refuses a ping or a
send after about 1,100, an op, a sync or a state after about 250: ``--device-burst`` 1,000
tokens, a ping or a send weighs 1, the others 5), 2 x 3,000 sends of a few bytes for the
reconnect check, and ``LOGIN_BUDGET`` + 2 connections for the failed logins. The budgets
hold while the node serves a flood at least twice as fast as the device's rate refills.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed

from imload.probe.base import (
    FAIL,
    NA,
    PASS,
    Check,
    Finding,
    Probe,
    ProbeError,
    closed_code,
)
from imload.probe.link import Link
from imload.protocol import direct_conv, mint_token

FLOOD_BUDGET = 3000  # pings, or sends, a flood sends at most
CHUNK = 100  # sent together before their answers are read
LOGIN_BUDGET = 100  # failed logins before the valid one
RELEASE_WAIT_S = 15.0  # the longest the failed-login check waits for its address to be let in


@dataclass
class Flood:
    """What a flood of one request type got: ``served`` answered as asked before the first
    refusal, ``answers`` every answer by type (``error:<code>`` for errors), the first
    refusal (``rate_limited``, unless the flood said otherwise)."""

    served: int = 0
    answers: dict[str, int] = field(default_factory=dict)
    refused: dict[str, Any] | None = None
    closed: int | None = None  # the close code, when the node closed the connection
    seconds: float = 0.0

    def seen(self) -> str:
        return ", ".join(f"{n} {k}" for k, n in sorted(self.answers.items()))


def flood(link: Link, make: Callable[[int, int], dict[str, Any]], reply: str,
          budget: int, *, chunk: int = CHUNK, stop: str | None = "rate_limited") -> Flood:
    """Send ``make(rid, i)`` for i < ``budget``, ``chunk`` at a time, reading the answers of
    each chunk; stop after the chunk with the first refusal: the error ``stop``, or (``stop``
    None) any answer but ``reply``."""
    out, sent, started = Flood(), 0, time.monotonic()
    refusal = None if stop is None else f"error:{stop}"
    try:
        while sent < budget and out.refused is None:
            rids: set[int] = set()
            for i in range(sent, min(budget, sent + chunk)):
                rid = link.next_rid()
                link.send(make(rid, i))
                rids.add(rid)
            sent += len(rids)
            while rids:
                frame = link.recv()
                if frame.get("rid") not in rids:
                    continue  # a push (a flood of sends brings the sender its own messages)
                rids.discard(frame["rid"])
                t = frame.get("t")
                key = f"error:{frame.get('code')}" if t == "error" else str(t)
                out.answers[key] = out.answers.get(key, 0) + 1
                if t == reply and out.refused is None:
                    out.served += 1
                elif out.refused is None and (refusal is None or key == refusal):
                    out.refused = frame
    except ConnectionClosed as e:
        out.closed = closed_code(e)
    out.seconds = time.monotonic() - started
    return out


def _refused(what: str, f: Flood) -> Finding | None:
    """A pass when the flood met a limit (a refusal or a close), else None."""
    if f.refused is not None:
        return Finding(PASS, f"rate_limited after {f.served} {what} served in {f.seconds:.2f} s "
                             f"(retry_after_ms {f.refused.get('retry_after_ms')})")
    if f.closed is not None:
        return Finding(PASS, f"closed the connection ({f.closed}) after {f.served} {what} "
                             f"in {f.seconds:.2f} s")
    return None


Maker = Callable[[str], Callable[[int, int], dict[str, Any]]]  # other -> (rid, i) -> frame
REQUESTS: dict[str, tuple[str, int, Maker]] = {
    # type -> (the reply it asks for, the flood's budget, a maker of its frames)
    "ping": ("pong", FLOOD_BUDGET, lambda other: lambda rid, i: {"t": "ping", "rid": rid}),
    "op": ("op_ok", 1000, lambda other: lambda rid, i: {
        "t": "op", "rid": rid, "opid": f"probe-flood-{i}", "kind": "contact_add",
        "args": {"user": other}}),
    "sync": ("sync_batch", 1000, lambda other: lambda rid, i: {
        "t": "sync", "rid": rid, "after": 0, "limit": 1}),
    "state": ("state_ok", 1000, lambda other: lambda rid, i: {"t": "state", "rid": rid}),
}


def flood_check(t: str) -> Callable[[Probe], Finding]:
    reply, budget, maker = REQUESTS[t]

    def run(p: Probe) -> Finding:
        with p.logged_in(p.name(f"flood_{t}")) as link:
            f = flood(link, maker(p.users[1]), reply, budget)
        found = _refused(f"{t}s", f)
        if found is not None:
            return found
        if f.served < budget:
            return Finding(NA, f"the target did not serve the {t}s as asked: {f.seen()}")
        return Finding(FAIL, f"{f.served} {t}s in {f.seconds:.2f} s on one connection, every "
                             f"one answered {reply}: no limit")
    return run


def _send_flood(p: Probe, me: str, budget: int, n: int) -> Flood:
    conv = direct_conv(me, p.users[1])
    with p.logged_in(me) as link:
        return flood(link, lambda rid, i: {"t": "send", "rid": rid, "cmid": f"probe-rl{n}-{i}",
                                           "conv": conv, "body": "x"}, "send_ack", budget)


def reconnect_resets_limit(p: Probe) -> Finding:
    me = p.name("reconnect")
    first = _send_flood(p, me, FLOOD_BUDGET, 1)
    if first.refused is None:
        if first.served < FLOOD_BUDGET:
            return Finding(NA, f"the target did not store the sends as asked: {first.seen()}")
        return Finding(FAIL, f"{first.served} sends in {first.seconds:.2f} s on one "
                             "connection, never rate_limited: no send limit to reset")
    started = time.monotonic()
    second = _send_flood(p, me, max(first.served, 1), 2)
    again = f"{first.served} sends served before rate_limited; on a new connection of the " \
            f"same device ({time.monotonic() - started:.2f} s later) {second.served} more"
    if second.served * 2 >= first.served:
        return Finding(FAIL, f"{again}: the reconnect refilled the limit")
    return Finding(PASS, again)


def _try_login(p: Probe, token: str) -> dict[str, Any]:
    """The node's answer to one login, ``{"t": "closed", "code": ...}`` when it closed first."""
    with p.link() as link:
        try:
            return link.request("login", token=token)
        except ConnectionClosed as e:
            return {"t": "closed", "code": closed_code(e)}


def failed_logins(p: Probe) -> Finding:
    me = p.name("logins")
    bad = mint_token("not-" + p.secret, me, "probe")
    started, tries, answer = time.monotonic(), 0, {}
    while tries < LOGIN_BUDGET:
        tries += 1
        answer = _try_login(p, bad)
        if answer.get("t") == "login_ok":
            raise ProbeError("the target took a wrongly signed token (see auth.other_secret)")
        if answer.get("code") == "rate_limited":
            break
    spent = time.monotonic() - started
    good = _try_login(p, p.token(me))
    failed = f"{tries} failed logins from this address in {spent:.2f} s"
    if good.get("t") == "login_ok":
        return Finding(FAIL, f"{failed}, then a valid login was served: no limit "
                             f"(the failures were answered {answer.get('code')})")
    wait_ms = good.get("retry_after_ms")
    refused = f"{failed}, then a valid login was refused ({good.get('t')} " \
              f"{good.get('code', '')}, retry_after_ms {wait_ms})"
    if isinstance(wait_ms, int) and not isinstance(wait_ms, bool) and wait_ms > 0:
        time.sleep(min(wait_ms / 1000 + 0.05, RELEASE_WAIT_S))
    lifted = _try_login(p, p.token(me)).get("t") == "login_ok"
    return Finding(PASS, f"{refused}; {'let in' if lifted else 'still refused'} "
                         f"{time.monotonic() - started - spent:.1f} s later")


LIMIT_CHECKS: tuple[Check, ...] = (
    *(Check(f"abuse.flood_{t}", f"serves any number of {t} requests from one device (no "
            "limit per device or user)", flood_check(t)) for t in REQUESTS),
    Check("abuse.reconnect_resets_limit", "limits sends per connection: a reconnect refills "
          "the limit", reconnect_resets_limit),
    Check("abuse.failed_logins", "serves logins from an address that keeps failing them "
          "(tokens tried as fast as the network allows)", failed_logins),
)
