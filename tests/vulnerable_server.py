"""A deliberately vulnerable protocol-v1 server, for the probe checks a bug mode of the
reference server would be silly for (tests/test_probe_failable.py).

It speaks just enough of v1 for a check to run: ``login`` (the token verified with the
secret), ``ping``, ``sync`` (an empty inbox) and, for anything else, ``forbidden``; a
frame is checked with the protocol's own codec first (``decode_frame``,
``validate_request``) and a bad one answered with its error. Each flaw is one mistake a
real backend makes:

- ``any-token``: auth is off (a dev setting left on): any token logs in, as ``anonymous``;
- ``serve-before-login``: requests before ``login`` are served, as ``anonymous``;
- ``dies``: naive code (``json.loads(raw.decode())``, the handler looked up by type, the
  fields used as they come), and an exception while handling a frame ends the whole
  server, as an uncaught error ends a process (a bad frame, bad UTF-8, deep nesting, a
  frame over its 1 MiB limit);
- ``leaky-errors``: the same naive code, and an exception is answered with an ``error``
  holding its traceback;
- ``no-handshake-timeout``: a socket may take forever to send its handshake.
"""

from __future__ import annotations

import json
import threading
import traceback
from collections.abc import Iterable
from typing import Any

from websockets.exceptions import ConnectionClosed, ConnectionClosedOK
from websockets.sync.server import Server, ServerConnection, serve

from imload.protocol import FrameError, TokenError, decode_frame, validate_request, verify_token

MAX_FRAME = 1 << 20  # the server's frame limit
FLAWS = frozenset({"any-token", "serve-before-login", "dies", "leaky-errors",
                   "no-handshake-timeout"})


class VulnerableServer:
    """``with VulnerableServer(secret, {"dies"}) as s:`` serves on ``s.url`` in a thread."""

    def __init__(self, secret: str, flaws: Iterable[str]) -> None:
        self.secret = secret
        self.flaws = frozenset(flaws)
        assert self.flaws <= FLAWS, self.flaws - FLAWS
        self.died = threading.Event()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}/ws"

    def __enter__(self) -> VulnerableServer:
        # dying code checks the frame limit itself, in the handler: websockets' own check
        # would answer 1009 before the handler fails, and a client could then be served
        # once more before the server is gone
        self._server = serve(self._connection, "127.0.0.1", 0,
                             max_size=None if "dies" in self.flaws else MAX_FRAME,
                             open_timeout=None if "no-handshake-timeout" in self.flaws else 2)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._thread.join(10)
        assert not self._thread.is_alive()

    def _connection(self, ws: ServerConnection) -> None:
        user: list[str] = []
        try:
            while True:
                try:
                    raw = ws.recv(decode=False if self.naive else None)
                except ConnectionClosedOK:
                    return
                except ConnectionClosed:  # 1007, 1009: naive code does not expect them
                    if self.naive:
                        raise
                    return
                if "dies" in self.flaws and len(raw) > MAX_FRAME:
                    raise ValueError(f"a frame of {len(raw)} bytes")  # the naive limit
                try:
                    reply = self._handle(self._decode(raw), user)
                except FrameError as e:
                    reply = e.to_frame()
                except Exception:
                    if "leaky-errors" not in self.flaws:
                        raise
                    reply = {"t": "error", "code": "internal", "msg": traceback.format_exc()}
                if reply is not None:
                    ws.send(json.dumps(reply))
        except Exception:
            if "dies" not in self.flaws:
                raise
            self.died.set()  # the process is gone: nothing is served any more
            assert self._server is not None
            self._server.socket.close()  # refused from now on; the rest from another thread
            threading.Thread(target=self._server.shutdown, daemon=True).start()

    @property
    def naive(self) -> bool:
        return bool(self.flaws & {"dies", "leaky-errors"})

    def _decode(self, raw: str | bytes) -> dict[str, Any]:
        if self.naive:
            frame: dict[str, Any] = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
            return frame
        frame = decode_frame(raw)
        validate_request(frame)
        return frame

    def _handle(self, frame: dict[str, Any], user: list[str]) -> dict[str, Any] | None:
        t, rid = frame["t"], frame.get("rid")
        if t == "login":
            try:
                name = verify_token(self.secret, frame["token"])[0]
            except TokenError as e:
                if "any-token" not in self.flaws:
                    return {"t": "error", "rid": rid, "code": "unauthenticated", "msg": str(e)}
                name = "anonymous"
            user.append(name)
            return {"t": "login_ok", "rid": rid, "user": name, "device": "d", "inbox_seq": 0}
        if not user and "serve-before-login" not in self.flaws:
            return {"t": "error", "rid": rid, "code": "unauthenticated", "msg": "log in first"}
        return HANDLERS[t](frame)


def _ping(frame: dict[str, Any]) -> dict[str, Any]:
    return {"t": "pong", "rid": frame["rid"]}


def _sync(frame: dict[str, Any]) -> dict[str, Any]:
    limit = min(frame.get("limit", 200), 1000)
    if limit < 1:
        return {"t": "error", "rid": frame["rid"], "code": "bad_frame", "msg": "limit < 1"}
    return {"t": "sync_batch", "rid": frame["rid"], "msgs": [][:limit], "upto": frame["after"],
            "more": False}


def _refuse(frame: dict[str, Any]) -> dict[str, Any]:
    return {"t": "error", "rid": frame.get("rid"), "code": "forbidden",
            "msg": f"{frame['t']}: not here"}


HANDLERS = {"ping": _ping, "sync": _sync, "send": _refuse, "read": _refuse,
            "reads": _refuse, "op": _refuse, "state": _refuse, "ack": _refuse}
