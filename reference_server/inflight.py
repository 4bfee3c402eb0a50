"""Store calls of one connection written without waiting for the one before (pipelining).

A connection's frames are handled one at a time, in arrival order. Waiting for the
store's answer to one ``send`` before reading the next would cost a device that keeps a
window of sends in flight one store round trip per message. Two requests need nothing
read from the store before their script: a ``send`` to a direct conversation (its members
are in its name) and an ``ack``. For those the session writes the script at once and
goes on with the next frame. The store connection applies scripts in the order written
(resp.py), so a connection's sends are still sequenced in frame order; answers leave in
frame order, each only after the store answered its call (a ``send_ack`` stays durable).
Any other frame first waits until every call in flight is answered (``drain``), so it
sees their effects and its reply follows theirs. The request limit (limits.py) rides in
the script itself: a send or ack over it is answered ``rate_limited``, not applied. A
``ping`` makes no store call but its limit's, so that is pipelined too: its pong (or
``rate_limited``) leaves in frame order once the store drew (a store that fails it lets
the ping through, as the limit does on the other path).

At most ``depth(max_outbound)`` calls are in flight per connection: their answers arrive
together, and a burst of answers must stay well below what sheds a client that does not
read (``--max-outbound``). Nodes running a bug mode never pipeline: the modes keep the
path they were written for.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from imload.protocol import is_valid_conv
from reference_server.store import RateLimited, StoreError, script_reply, send_result

if TYPE_CHECKING:
    from reference_server.requests import Pipeline

OnReply = Callable[[Any], None]  # handles a call's raw reply; may raise StoreError
PIPELINED = frozenset({"send", "ack", "ping"})  # the frame types ``start`` may pipeline
MAX_DEPTH = 64  # store calls in flight per connection, at most


def depth(max_outbound: int) -> int:
    """Calls a connection may have in flight: each answer may come with a push, and both
    together stay under an eighth of the frames that shed a client."""
    return max(1, min(MAX_DEPTH, max_outbound // 16))


class Inflight:
    """The store calls a session has written and not yet answered, in frame order."""

    def __init__(self, session: Pipeline) -> None:
        self._session = session
        self._calls: deque[tuple[asyncio.Future[Any], OnReply, str, int | None]] = deque()
        self.direct: tuple[str, str, str] = ("", "", "")  # last direct conv sent to: c, a, b

    def __len__(self) -> int:
        return len(self._calls)

    def add(self, fut: asyncio.Future[Any], on_reply: OnReply, t: str, rid: int | None
            ) -> None:
        self._calls.append((fut, on_reply, t, rid))
        fut.add_done_callback(self._answer)

    def _answer(self, _: asyncio.Future[Any]) -> None:
        """Answer the calls at the head that are done, oldest first."""
        calls = self._calls
        while calls and calls[0][0].done():
            fut, on_reply, t, rid = calls.popleft()
            try:
                if fut.cancelled():
                    raise StoreError("the store call was cancelled")
                error = fut.exception()
                if error is not None:
                    raise error
                on_reply(fut.result())
            except RateLimited as e:
                self._session.rate_limited(t, rid, e)
            except StoreError as e:
                self._session.store_failed(t, rid, e)
            except Exception:
                self._session.log.exception("internal error answering %s of user=%s", t,
                                    self._session.user)
                self._session.internal_error(rid)

    async def drain(self, keep: int = 0) -> None:
        """Return once at most ``keep`` calls are in flight (0: all answered)."""
        while len(self._calls) > keep:
            # the head's done-callback (_answer) runs before this wait returns
            await asyncio.wait([self._calls[0][0]])


def start(session: Pipeline, frame: dict[str, Any]) -> bool:
    """Write the store call of ``frame`` now if it can be pipelined; False when the frame
    must take the one-at-a-time path (the caller drains first), as when the store
    connection is not up (that path connects)."""
    if not session.store.connected:
        return False
    t = frame["t"]
    if t == "send":
        return _start_send(session, frame)
    if t == "ack":
        return _start_ack(session, frame)
    if t == "ping":
        return _start_ping(session, frame)
    return False


def pong(frame: dict[str, Any], server_ts: int) -> dict[str, Any]:
    """The answer to ``ping`` (its ``ts`` echoed when given), stamped ``server_ts``."""
    answer: dict[str, Any] = {"t": "pong", "rid": frame["rid"]}
    if "ts" in frame:
        answer["ts"] = frame["ts"]
    answer["server_ts"] = server_ts
    return answer


def _start_ping(session: Pipeline, frame: dict[str, Any]) -> bool:
    tail = session.limits.tail("ping")
    if tail is None:
        return False
    drawn = session.store.start_take(tail)
    settled: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def settle(fut: asyncio.Future[Any]) -> None:  # a failed store call: no limit
        settled.set_result(None if fut.cancelled() or fut.exception() else fut.result())

    def on_reply(reply: Any) -> None:
        script_reply("draw a limit", reply)  # RateLimited: answered rate_limited
        session.reply(pong(frame, session.now_ms()))

    drawn.add_done_callback(settle)
    session.inflight.add(settled, on_reply, "ping", frame["rid"])
    return True


def _start_send(session: Pipeline, frame: dict[str, Any]) -> bool:
    conv = frame["conv"]
    user, device = session.user, session.device
    assert user is not None and device is not None
    known, a, b = session.inflight.direct
    if conv != known:
        if not (conv.startswith("d:") and is_valid_conv(conv)):
            return False  # a group (members read first) or a bad name
        _, a, b = conv.split(":")
        session.inflight.direct = (conv, a, b)
    if user != a and user != b:
        return False  # answered forbidden on the other path
    rid, cmid = frame["rid"], frame["cmid"]
    fut = session.store.start_send(user, device, cmid, conv, [a, b], frame["body"],
                                   frame.get("ts"), session.now_ms(), session.limits.tail("send"))

    def on_reply(reply: Any) -> None:
        session.send_ack(rid, cmid, send_result(reply))

    session.inflight.add(fut, on_reply, "send", rid)
    return True


def _start_ack(session: Pipeline, frame: dict[str, Any]) -> bool:
    assert session.user is not None and session.device is not None
    fut = session.store.start_ack(session.user, session.device, frame["upto"],
                                  session.limits.tail("ack"))
    session.inflight.add(fut, lambda reply: script_reply("store an ack", reply), "ack",
                         frame.get("rid"))
    return True
