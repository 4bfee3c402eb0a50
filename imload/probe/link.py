"""The probe's connection to a protocol-v1 node: a plain synchronous WebSocket client
(python ``websockets``), with the handshake's response headers kept for the leak checks
and no frame size limit (a check measures what the node sends, it does not refuse it).
"""

from __future__ import annotations

import itertools
import json
import ssl
from types import TracebackType
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from imload.audit_link import tls_context


class Link:
    """One connection: send frames, read replies (pushes kept aside), see how it closed."""

    def __init__(self, url: str, ca: str | None = None, timeout_s: float = 5.0) -> None:
        context: ssl.SSLContext | None = tls_context(ca) if url.startswith("wss:") else None
        self.ws: ClientConnection = connect(url, open_timeout=timeout_s, close_timeout=1,
                                            max_size=None, ssl=context).__enter__()
        self.timeout_s = timeout_s
        response = self.ws.response
        self.headers: dict[str, str] = dict(response.headers.raw_items()) if response else {}
        self.pushes: list[dict[str, Any]] = []
        self.sizes: list[int] = []  # the size of every frame read, in bytes
        self.login: dict[str, Any] = {}  # the login_ok, once logged in
        self._rids = itertools.count(1001)

    def __enter__(self) -> Link:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None
                 ) -> None:
        self.ws.close()

    def send(self, frame: dict[str, Any] | str | bytes) -> None:
        self.ws.send(json.dumps(frame) if isinstance(frame, dict) else frame)

    def recv(self, timeout_s: float | None = None) -> dict[str, Any]:
        data = self.ws.recv(timeout=timeout_s or self.timeout_s)
        self.sizes.append(len(data.encode() if isinstance(data, str) else data))
        frame = json.loads(data)
        return frame if isinstance(frame, dict) else {"t": "?", "value": frame}

    def next_rid(self) -> int:
        return next(self._rids)

    def request(self, t: str, **fields: Any) -> dict[str, Any]:
        """Send request ``t`` with a fresh rid; its reply or error (pushes kept aside)."""
        rid = self.next_rid()
        self.send({"t": t, "rid": rid, **fields})
        while True:
            frame = self.recv()
            if frame.get("rid") == rid:
                return frame
            self.pushes.append(frame)

    def closed_with(self, timeout_s: float | None = None) -> int | None:
        """Read until the node closes; its close code (None: it closed without one).
        TimeoutError when it is still open after ``timeout_s``."""
        try:
            while True:
                self.pushes.append(self.recv(timeout_s))
        except ConnectionClosed as e:
            return e.rcvd.code if e.rcvd is not None else None
