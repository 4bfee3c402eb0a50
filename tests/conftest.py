"""Shared fixtures: a real local cluster (redis-server, toxiproxy-server, 2 nodes) per test
session, and a small WebSocket client that logs in with a token minted from its secret."""

from __future__ import annotations

import contextlib
import itertools
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from imload.cluster import LocalCluster
from imload.protocol import mint_token


class WsClient:
    """A test client over ``websockets.sync``: send frames, read replies, keep pushes aside."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.pushes: list[dict[str, Any]] = []
        self.login_ok: dict[str, Any] | None = None
        self._rids = itertools.count(1)

    def send(self, frame: dict[str, Any] | str | bytes) -> None:
        self.ws.send(json.dumps(frame) if isinstance(frame, dict) else frame)

    def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        frame: dict[str, Any] = json.loads(self.ws.recv(timeout=timeout))
        return frame

    def request(self, t: str, timeout: float = 5.0, **fields: Any) -> dict[str, Any]:
        """Send request ``t`` with a fresh rid; return the reply, keeping pushes in ``pushes``."""
        rid = next(self._rids)
        self.send({"t": t, "rid": rid, **fields})
        while True:
            frame = self.recv(timeout)
            if frame.get("rid") == rid:
                return frame
            self.pushes.append(frame)

    def push(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next ``msg`` push."""
        while not self.pushes:
            frame = self.recv(timeout)
            if frame.get("t") == "msg":
                return frame
            self.pushes.append(frame)
        return self.pushes.pop(0)

    def closed_with(self, timeout: float = 5.0) -> int | None:
        """Read until the server closes; return its close code (frames before it are kept)."""
        try:
            while True:
                self.pushes.append(self.recv(timeout))
        except ConnectionClosed as e:
            return e.rcvd.code if e.rcvd is not None else None

    def login(self, secret: str, user: str, device: str) -> dict[str, Any]:
        self.login_ok = self.request("login", token=mint_token(secret, user, device), ts=1)
        return self.login_ok


Connect = Callable[..., WsClient]


def unique(prefix: str = "u") -> str:
    """A user name no other test uses (the session's cluster is shared)."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A running 2-node local cluster, stopped at the end of the session whatever happens."""
    c = LocalCluster(Path(tmp_path_factory.mktemp("cluster")), nodes=2)
    try:
        c.start()
        yield c
    finally:
        c.stop()


@contextlib.contextmanager
def client_factory(cluster: LocalCluster) -> Iterator[Connect]:
    """``open(user=None, device="d1", node="n1", login=True)`` -> a WsClient; all closed at exit."""
    with contextlib.ExitStack() as stack:
        def open_client(user: str | None = None, device: str = "d1", node: str = "n1",
                        login: bool = True, direct: bool = False) -> WsClient:
            ws = stack.enter_context(connect(cluster.node_url(node, direct=direct),
                                             open_timeout=5, close_timeout=1))
            client = WsClient(ws)
            if login:
                ok = client.login(cluster.secret, user or unique(), device)
                assert ok["t"] == "login_ok", ok
            return client
        yield open_client


@pytest.fixture
def open_client(cluster: LocalCluster) -> Iterator[Connect]:
    """Open clients on the session's cluster (through each node's Toxiproxy proxy)."""
    with client_factory(cluster) as factory:
        yield factory
