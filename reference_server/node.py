"""The node: the WebSocket server, its sessions, and the fan-in of pushes from the store.

Sessions are indexed by user. A ``msg`` or ``receipt`` published on ``push:<user>`` goes to
every local session of that user (every device, the sending one included); a
``read_sync`` to every device but the one that read; a ``kick`` (a newer login of a
device, on any node) closes older sessions of that device with 4001.

Handshakes pass admission control first (admission.py: HTTP 503 with ``Retry-After``);
the node reports its URL and load to the store every second (presence.py) for the LBS,
and serves ``wss://`` when given a certificate.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
import random
from collections.abc import Awaitable
from typing import Any

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from reference_server import presence
from reference_server.admission import Admission
from reference_server.config import Config
from reference_server.fanout import GroupRules
from reference_server.member_cache import MemberCache
from reference_server.pubsub import Fanin
from reference_server.requests import NodeClock
from reference_server.session import Session
from reference_server.store import Store, StoreError, mid_key, push_channel
from reference_server.tls import server_context
from reference_server.wsconn import CoalescingConnection

_PUSH_PREFIX = "push:"
_TO_ALL_DEVICES = frozenset({"msg", "receipt"})
_MSG_PREFIX = b'{"t":"msg",'  # how the send script starts every msg push


class Node:
    """One reference node; ``start`` serves, ``stop`` closes every connection and the store."""

    def __init__(self, config: Config, log: logging.Logger | None = None) -> None:
        self.config = config
        self.log = log or logging.getLogger("reference_server")
        self.clock = NodeClock(config.clock_skew_ms)
        self.store = Store(config.redis_url, config.redis_timeout_s,
                           "" if config.bugs.has("sequential-mids") else mid_key(config.secret))
        self.fanin = Fanin(config.redis_url, self._on_channel_message, self.log)
        self.sessions: dict[str, set[Session]] = {}
        self._kick_gens: dict[tuple[str, str], int] = {}  # newest login generation seen
        self._server: Server | None = None
        self._fanin_task: asyncio.Task[None] | None = None
        self._presence_task: asyncio.Task[None] | None = None
        self.admission = Admission(config.max_conns, config.login_rate, config.login_burst)
        self.bug_rng = random.Random(config.seed)  # the random choices of bug modes
        self.member_cache = MemberCache() if config.bugs.has("stale-members") else None
        self.group_rules = GroupRules.of(config)  # the same for every session: built once

    # -- life ------------------------------------------------------------------------------

    async def start(self) -> None:
        # Bind first (a port in use fails at once), accept once the fan-in is connected.
        self._server = await serve(
            self._handle, self.config.host, self.config.port,
            process_request=self._process_request, max_size=self.config.max_frame,
            ping_interval=None, close_timeout=2, compression=None, start_serving=False,
            # a handshake sent byte by byte (slowloris) is dropped at the login deadline
            open_timeout=self.config.login_timeout_s, max_queue=64,
            create_connection=CoalescingConnection,
            # no Server header: versions help only an attacker (the bug mode names them)
            **({} if self.config.bugs.has("server-header") else {"server_header": None}),
            ssl=server_context(self.config.cert, self.config.key) if self.config.cert
            and self.config.key else None,
            logger=logging.getLogger("websockets.server"))
        self._fanin_task = asyncio.create_task(self.fanin.run())
        if not await self.fanin.wait_connected(2.0):
            self.log.warning("store at %s not reachable yet; serving anyway, will retry",
                             self.config.redis_url)
        await self._server.start_serving()
        self._presence_task = asyncio.create_task(presence.report_forever(
            self.store.redis, self.config.node_id, self.presence_facts, self.log,
            self.config.presence_s))
        scheme = "wss" if self.config.tls else "ws"
        self.log.info("node %s serving on %s://%s:%d/ws (public %s), store %s, hb_ms %d, "
                      "max_conns %d, bugs %s", self.config.node_id, scheme, self.config.host,
                      self.config.port, self.config.url, self.config.redis_url,
                      self.config.hb_ms, self.config.max_conns,
                      ",".join(sorted(self.config.bugs.names)) or "none")

    def presence_facts(self) -> dict[str, Any]:
        a = self.admission
        return {"url": self.config.url, "load": round(a.load, 4), "conns": a.conns,
                "limit": a.max_conns}

    async def stop(self) -> None:
        if self._presence_task is not None:
            self._presence_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._presence_task
            await presence.withdraw(self.store.redis, self.config.node_id)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await self.fanin.close()
        if self._fanin_task is not None:
            self._fanin_task.cancel()
            try:
                await self._fanin_task
            except asyncio.CancelledError:
                pass
        await self.store.aclose()
        self.log.info("node %s stopped", self.config.node_id)

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == "/healthz":
            return connection.respond(http.HTTPStatus.OK, f"ok {self.config.node_id}\n")
        if path != "/ws":
            return connection.respond(http.HTTPStatus.NOT_FOUND,
                                      "not found: the WebSocket endpoint is /ws\n")
        refused = self.admission.check_handshake()
        if refused is not None:
            retry_s, why = refused
            response = connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE,
                                          f"try again later: {why}\n")
            response.headers["Retry-After"] = str(retry_s)
            if self.admission.refused % 100 == 1:
                self.log.info("handshake refused (503, %d so far): %s",
                              self.admission.refused, why)
            return response
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        self.admission.conns += 1
        try:
            await Session(self, ws).run()
        except Exception:
            self.log.exception("session failed")
        finally:
            self.admission.conns -= 1

    # -- the session index -----------------------------------------------------------------

    def register(self, session: Session) -> None:
        """Index a session that holds a subscription to its user's channel."""
        assert session.user is not None
        self.sessions.setdefault(session.user, set()).add(session)

    def unregister(self, session: Session) -> None:
        """Forget a session and drop its hold on the user's channel (no-op if not indexed)."""
        user = session.user
        group = self.sessions.get(user) if user is not None else None
        if user is None or group is None or session not in group:
            return
        group.discard(session)
        if not group:
            del self.sessions[user]
            for key in [k for k in self._kick_gens if k[0] == user]:
                del self._kick_gens[key]
        self.fanin.release(push_channel(user))

    def login_done(self, session: Session) -> None:
        """The store gave ``session`` its generation: close older sessions of that device."""
        assert session.user is not None and session.device is not None
        assert session.gen is not None
        key = (session.user, session.device)
        newest = self._kick_gens.get(key, 0)
        if newest > session.gen:
            session.replace(newest)  # a newer login already happened elsewhere
            return
        self._kick(session.user, session.device, session.gen)

    def _kick(self, user: str, device: str, gen: int) -> None:
        key = (user, device)
        self._kick_gens[key] = max(self._kick_gens.get(key, 0), gen)
        for s in list(self.sessions.get(user, ())):
            if s.device == device:
                s.replace(gen)

    # -- the fan-in ------------------------------------------------------------------------

    def _on_channel_message(self, channel: str, data: bytes) -> Awaitable[None] | None:
        if not channel.startswith(_PUSH_PREFIX):
            return None
        user = channel[len(_PUSH_PREFIX):]
        sessions = self.sessions.get(user)
        if not sessions:
            return None
        if data.startswith(_MSG_PREFIX) and not self.config.bugs:
            for s in list(sessions):  # the hot path: no decoding, no coroutine
                s.push(data)
            return None
        return self._on_push(user, data)

    async def _on_push(self, user: str, data: bytes) -> None:
        frame: dict[str, Any] = orjson.loads(data)
        t = frame.get("t")
        if t in _TO_ALL_DEVICES:
            if t == "msg" and self.config.bugs.has("lose-offline"):
                try:
                    await self.store.drop_entry(user, int(frame["useq"]))
                except StoreError as e:
                    self.log.warning("lose-offline: %s", e)
            for s in list(self.sessions.get(user, ())):
                s.push(data)
        elif t == "read_sync":
            for s in list(self.sessions.get(user, ())):
                if s.device != frame.get("device"):
                    s.push(data)
        elif t == "kick":
            self._kick(user, str(frame["device"]), int(frame["gen"]))
