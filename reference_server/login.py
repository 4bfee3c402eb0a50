"""The ``login`` request: the address's failed-login limit, the token, then the store.

1. An address (the client's, behind a trusted proxy: client_address.py) over its
   failed-login limit (limits.py) is refused before the token is looked at: ``error
   rate_limited`` with ``retry_after_ms``, close 4029.
2. A token that fails verification answers ``unauthenticated``, closes with 4002 and
   counts against the address.
3. Otherwise the node subscribes to the user's pushes (before reading the inbox, so no
   push is missed), the store bumps the device's login generation (older sessions of the
   device get 4001) and ``login_ok`` goes out, followed by the pushes held meanwhile.
"""

from __future__ import annotations

from typing import Any, Protocol

from imload.protocol import (
    CLOSE_AUTH_FAILED,
    CLOSE_LOGIN_LIMITED,
    TokenError,
    verify_token,
)
from imload.protocol.frames import BAD_FRAME, RATE_LIMITED, UNAUTHENTICATED
from reference_server import limits
from reference_server.requests import Host, Requests
from reference_server.store import push_channel


class Login(Requests, Protocol):
    """A connection, as its login sees it (``Session``)."""

    gen: int | None
    node: Host
    peer: str  # host:port
    addr: str  # the client's address, the failed-login limit's key (client_address.py)

    def close_soon(self, code: int, reason: str) -> None: ...

    def bind(self, user: str, device: str) -> None: ...

    def unbind(self) -> None: ...

    def ready(self) -> None: ...


async def handle_login(session: Login, frame: dict[str, Any]) -> None:
    rid = frame["rid"]
    if session.user is not None:
        session.bad(BAD_FRAME, "login: already logged in on this connection", rid)
        return
    node = session.node
    config, store = node.config, node.store
    wait_ms = await limits.login_blocked(config, store, session.addr)
    if wait_ms:
        session.log.info("login refused peer=%s: too many failed logins", session.peer)
        session.error(RATE_LIMITED, f"login: too many failed logins from {session.addr}; "
                      f"retry in {wait_ms} ms", rid, retry_after_ms=wait_ms)
        session.close_soon(CLOSE_LOGIN_LIMITED, "too many failed logins from this address")
        return
    try:
        user, device = verify_token(config.secret, frame["token"],
                                    session.bugs.token_skips(frame["token"]))
    except TokenError as e:
        session.log.info("auth failed peer=%s: %s", session.peer, e)
        await limits.login_failed(config, store, session.addr)
        session.error(UNAUTHENTICATED, str(e), rid)
        session.close_soon(CLOSE_AUTH_FAILED, "authentication failed")
        return
    await node.fanin.acquire(push_channel(user))  # before reading the inbox: no push missed
    session.bind(user, device)
    try:
        state = await store.login(user, device)
    except BaseException:
        session.unbind()
        raise
    session.gen = state.gen
    node.login_done(session)
    session.reply({"t": "login_ok", "rid": rid, "user": user, "device": device,
                   "node": config.node_id, "server_ts": session.now_ms(),
                   "hb_ms": config.hb_ms, "inbox_seq": state.inbox_seq, "acked": state.acked})
    session.ready()
    session.log.info("login peer=%s user=%s device=%s gen=%d inbox_seq=%d acked=%d",
                     session.peer, user, device, state.gen, state.inbox_seq, state.acked)
