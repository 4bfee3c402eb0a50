"""Authentication: who the node lets in, and whether a frame can claim to be someone else.

Each token check logs in once with a token the node must refuse (answered with an error,
or the connection closed): not a JWT, signed with another key, unsigned (``alg: none``),
expired, or for another service (an ``aud`` claim: protocol v1 tokens carry none, so a
token that names an audience was minted for a service sharing the secret). A request
before login must not be served. A logged-in user whose frames claim another user
(``from``/``user`` fields) must still act as the token's user.
"""

from __future__ import annotations

import time

import jwt

from imload.probe.base import (
    FAIL,
    NA,
    PASS,
    Check,
    Finding,
    Probe,
    answered,
    b64,
    refused_login,
)
from imload.protocol import direct_conv, mint_token


def garbage_token(p: Probe) -> Finding:
    return refused_login(p, "garbage.garbage.garbage")


def other_secret(p: Probe) -> Finding:
    return refused_login(p, mint_token("not-" + p.secret, p.users[0], "probe"))


def alg_none(p: Probe) -> Finding:
    claims = {"sub": p.users[0], "dev": "probe", "exp": int(time.time()) + 600}
    return refused_login(p, f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}.")


def expired(p: Probe) -> Finding:
    return refused_login(p, p.token(p.users[0], ttl_s=-3600))


def wrong_audience(p: Probe) -> Finding:
    claims = {"sub": p.users[0], "dev": "probe", "exp": int(time.time()) + 600,
              "aud": "another-service"}
    return refused_login(p, jwt.encode(claims, p.secret, algorithm="HS256"))


def before_login(p: Probe) -> Finding:
    with p.link() as link:
        reply = link.request("sync", after=0)
    if reply.get("t") == "sync_batch":
        return Finding(FAIL, f"a sync before login answered {len(reply.get('msgs', []))} "
                             "messages")
    return answered(reply)


def impersonation(p: Probe) -> Finding:
    """``a`` claims ``c`` in a conversation of ``b`` and ``c``, then ``b`` in its own
    conversation with ``b``: nothing may be stored as from anyone but ``a``."""
    a, b, c = p.users
    with p.logged_in(a) as link:
        theirs = direct_conv(b, c)
        reply = link.request("send", cmid="probe-imp-1", conv=theirs, body="as c",
                             **{"from": c, "user": c})
        if reply.get("t") == "send_ack":
            return Finding(FAIL, f"{a}'s token with from/user {c}: stored in {theirs} as "
                                 f"{reply.get('mid')}")
        ours = direct_conv(a, b)
        reply = link.request("send", cmid="probe-imp-2", conv=ours, body="as b",
                             **{"from": b, "user": b})
        if reply.get("t") != "send_ack":
            return Finding(PASS, f"refused both ({reply.get('code')})")
        batch = link.request("sync", after=link.login.get("inbox_seq", 0), limit=50)
    stored = [m for m in batch.get("msgs", []) if m.get("mid") == reply.get("mid")]
    if not stored:
        return Finding(NA, f"the acked message {reply.get('mid')} is not in the sender's "
                           "inbox")
    if stored[0].get("from") != a:
        return Finding(FAIL, f"{a}'s token with from/user {b}: {reply.get('mid')} in "
                             f"{ours} is from {stored[0].get('from')!r}")
    return Finding(PASS, f"from/user fields ignored: {theirs} forbidden, {ours} from {a}")


AUTH_CHECKS: tuple[Check, ...] = (
    Check("auth.garbage_token", "logs in with a token that is not a JWT", garbage_token),
    Check("auth.other_secret", "logs in with a token signed by another key", other_secret),
    Check("auth.alg_none", "logs in with an unsigned token (alg none)", alg_none),
    Check("auth.expired", "logs in with an expired token", expired),
    Check("auth.wrong_audience", "logs in with a token minted for another service (aud)",
          wrong_audience),
    Check("auth.before_login", "answers a sync before login", before_login),
    Check("auth.impersonation", "acts as the user a frame's from/user field names, not "
          "the token's", impersonation),
)
